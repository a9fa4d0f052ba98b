/* pipeline/contract: `properties` of every event checked against the contract of its `type`.
 *
 * One pass over the event's JSON nodes, no allocation unless a message is written. Field names
 * are accepted in their JSON (lowerCamel) and declared (snake_case) spellings, as proto3 JSON
 * parsers do; giving both spellings of one field is refused. Every failure names the field path,
 * e.g. `properties.items[2].price: expected a number, got "abc"`. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/contracts.h"
#include "core/utf8.h"
#include "pipeline/pipeline.h"

typedef struct {
    sl_request_t *req;
    sl_event_t *ev;
    bool strip_unknown;
    bool envelope; /* the event object itself: members checked elsewhere are skipped */
    char path[256];
    size_t path_len;
} walk_t;

/* Event members another check owns: pipeline/validate.c (ids, with limits.max_id_bytes, and
 * occurred_at, which may also be epoch milliseconds) and the contract of type (properties). */
static bool checked_elsewhere(uint32_t number) {
    return number <= 5 || number == 11;
}

static void fail(walk_t *w, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(walk_t *w, const char *code, const char *fmt, ...) {
    char msg[384];
    int n = snprintf(msg, sizeof(msg), "%.*s: ", (int)w->path_len, w->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    w->ev->outcome = SL_OUT_INVALID;
    w->ev->code = code;
    w->ev->message = sl_arena_strndup(w->req->arena, msg, strlen(msg));
}

/* Runs on every field of every event: plain copies, no printf. A path that would not fit is
 * left as it was (messages then name the deepest field that fit). */
static size_t path_push_field(walk_t *w, const char *name, size_t len) {
    size_t saved = w->path_len, dot = saved > 0;
    if (saved + dot + len < sizeof(w->path)) {
        w->path[saved] = '.';
        memcpy(w->path + saved + dot, name, len);
        w->path_len = saved + dot + len;
    }
    return saved;
}

static size_t path_push_index(walk_t *w, uint32_t i) {
    size_t saved = w->path_len;
    int n = snprintf(w->path + w->path_len, sizeof(w->path) - w->path_len, "[%u]", i);
    if (n > 0 && w->path_len + (size_t)n < sizeof(w->path)) {
        w->path_len += (size_t)n;
    }
    return saved;
}

/* "a number, got \"abc\"" style description of what was found. */
static void describe(walk_t *w, uint32_t node, char *out, size_t n) {
    const sl_json_node_t *nd = &w->req->doc.nodes[node];
    if (nd->type == SL_JSON_STRING) {
        snprintf(out, n, "\"%.*s%s\"", (int)(nd->len > 40 ? 40 : nd->len),
                 w->req->doc.src + nd->start, nd->len > 40 ? "..." : "");
    } else if (nd->type == SL_JSON_NUMBER || nd->type == SL_JSON_TRUE ||
               nd->type == SL_JSON_FALSE) {
        snprintf(out, n, "%.*s", (int)(nd->len > 40 ? 40 : nd->len), w->req->doc.src + nd->start);
    } else {
        snprintf(out, n, "%s", sl_json_type_phrase((sl_json_type_t)nd->type));
    }
}

static bool wrong(walk_t *w, uint32_t node, const char *expected) {
    char got[64];
    describe(w, node, got, sizeof(got));
    fail(w, "wrong_type", "expected %s, got %s", expected, got);
    return false;
}

static bool check_range(walk_t *w, const sl_ct_field_t *f, double v, uint32_t node) {
    if (f->has_range && (v < f->min || v > f->max)) {
        char got[64];
        describe(w, node, got, sizeof(got));
        fail(w, "out_of_range", "%s is out of range [%g, %g]", got, f->min, f->max);
        return false;
    }
    return true;
}

/* Integers: JSON numbers without fraction, or strings holding one (proto3 JSON for 64-bit). */
static bool check_integer(walk_t *w, const sl_ct_field_t *f, uint32_t node) {
    const sl_json_doc_t *doc = &w->req->doc;
    const sl_json_node_t *nd = &doc->nodes[node];
    int64_t v;
    bool ok;
    if (nd->type == SL_JSON_NUMBER && (nd->flags & SL_JSON_F_INTEGER) &&
        (f->type == SL_CT_UINT64 || f->type == SL_CT_FIXED64) && doc->src[nd->start] != '-' &&
        sl_json_int(doc, node, &v) != 0) {
        /* Above INT64_MAX: fits a uint64 up to 18446744073709551615. */
        char tmp[24];
        size_t n = nd->len < sizeof(tmp) - 1 ? nd->len : sizeof(tmp) - 1;
        memcpy(tmp, doc->src + nd->start, n);
        tmp[n] = '\0';
        errno = 0;
        (void)strtoull(tmp, NULL, 10);
        return errno == 0 && nd->len < sizeof(tmp) && !f->has_range ? true
                                                                    : wrong(w, node, "an integer");
    }
    if (nd->type == SL_JSON_NUMBER) {
        ok = sl_json_int(doc, node, &v) == 0;
        if (!ok && !(nd->flags & SL_JSON_F_INTEGER)) {
            /* 1.0 and 1e3 are integers in proto3 JSON; fractions are not. */
            double d = sl_json_number(doc, node);
            ok = d == floor(d) && fabs(d) < 9.2e18;
            v = (int64_t)d;
        }
    } else if (nd->type == SL_JSON_STRING && nd->len > 0 && nd->len < 24) {
        char tmp[24];
        memcpy(tmp, doc->src + nd->start, nd->len);
        tmp[nd->len] = '\0';
        char *end;
        errno = 0;
        v = strtoll(tmp, &end, 10);
        ok = *end == '\0' && errno == 0;
        if (!ok && errno == ERANGE && tmp[0] != '-' &&
            (f->type == SL_CT_UINT64 || f->type == SL_CT_FIXED64)) {
            errno = 0;
            (void)strtoull(tmp, &end, 10); /* above INT64_MAX: only uint64 holds it */
            return *end == '\0' && errno == 0 && !f->has_range ? true
                                                               : wrong(w, node, "an integer");
        }
    } else {
        return wrong(w, node, "an integer");
    }
    if (!ok) {
        return wrong(w, node, "an integer");
    }
    bool is_unsigned = f->type == SL_CT_UINT32 || f->type == SL_CT_FIXED32 ||
                       f->type == SL_CT_UINT64 || f->type == SL_CT_FIXED64;
    bool is_32 = f->type == SL_CT_INT32 || f->type == SL_CT_SINT32 || f->type == SL_CT_SFIXED32 ||
                 f->type == SL_CT_UINT32 || f->type == SL_CT_FIXED32;
    if ((is_unsigned && v < 0) || (is_32 && !is_unsigned && (v < INT32_MIN || v > INT32_MAX)) ||
        (is_32 && is_unsigned && v > (int64_t)UINT32_MAX)) {
        char got[64];
        describe(w, node, got, sizeof(got));
        fail(w, "out_of_range", "%s does not fit the field's %s type", got,
             is_unsigned ? "unsigned" : "32-bit");
        return false;
    }
    return check_range(w, f, (double)v, node);
}

static bool check_message(walk_t *w, const sl_ct_message_t *m, uint32_t obj);

/* One value (not a repeated container) of field f. */
static bool check_value(walk_t *w, const sl_ct_field_t *f, uint32_t node) {
    sl_request_t *req = w->req;
    const sl_json_doc_t *doc = &req->doc;
    const sl_json_node_t *nd = &doc->nodes[node];
    switch (f->type) {
    case SL_CT_MESSAGE:
        if (nd->type != SL_JSON_OBJECT) {
            return wrong(w, node, "an object");
        }
        /* Only the event object itself has members checked elsewhere; context, consent and
         * everything nested are checked here, field by field. */
        bool envelope = w->envelope;
        w->envelope = false;
        bool ok = check_message(w, f->message, node);
        w->envelope = envelope;
        return ok;
    case SL_CT_STRING: {
        if (nd->type != SL_JSON_STRING) {
            return wrong(w, node, "a string");
        }
        const char *s;
        size_t n;
        sl_json_str(doc, node, req->arena, &s, &n);
        size_t chars = sl_utf8_chars(s, n);
        if (f->min_len > 0 && chars < f->min_len) {
            fail(w, "too_short", "%zu characters, at least %u required", chars, f->min_len);
            return false;
        }
        if (f->max_len > 0 && chars > f->max_len) {
            fail(w, "too_long", "%zu characters, at most %u allowed", chars, f->max_len);
            return false;
        }
        if (!sl_ct_format_ok(f->format, s, n)) {
            char got[64];
            describe(w, node, got, sizeof(got));
            fail(w, "invalid_format", "expected %s, got %s", sl_ct_format_phrase(f->format), got);
            return false;
        }
        if (f->n_allowed > 0) {
            bool found = false;
            for (size_t i = 0; i < f->n_allowed && !found; i++) {
                found = strlen(f->allowed[i]) == n && memcmp(f->allowed[i], s, n) == 0;
            }
            if (!found) {
                char got[64];
                describe(w, node, got, sizeof(got));
                fail(w, "not_allowed", "%s is not one of the allowed values", got);
                return false;
            }
        }
        return true;
    }
    case SL_CT_BYTES: {
        if (nd->type != SL_JSON_STRING) {
            return wrong(w, node, "a base64 string");
        }
        const char *s = doc->src + nd->start;
        for (uint32_t i = 0; i < nd->len; i++) {
            char c = s[i];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || c == '-' || c == '_' || c == '=')) {
                return wrong(w, node, "a base64 string");
            }
        }
        if (f->max_len > 0 && nd->len / 4 * 3 > f->max_len + 2) {
            fail(w, "too_long", "more than %u bytes", f->max_len);
            return false;
        }
        return true;
    }
    case SL_CT_BOOL:
        if (nd->type != SL_JSON_TRUE && nd->type != SL_JSON_FALSE) {
            return wrong(w, node, "true or false");
        }
        return true;
    case SL_CT_ENUM: {
        const sl_ct_enum_t *e = f->enumeration;
        if (nd->type == SL_JSON_STRING) {
            const char *s;
            size_t n;
            sl_json_str(doc, node, req->arena, &s, &n);
            for (size_t i = 0; i < e->n_values; i++) {
                if (strlen(e->names[i]) == n && memcmp(e->names[i], s, n) == 0) {
                    return true;
                }
            }
        } else if (nd->type == SL_JSON_NUMBER) {
            int64_t v;
            if (sl_json_int(doc, node, &v) == 0) {
                for (size_t i = 0; i < e->n_values; i++) {
                    if (e->numbers[i] == v) {
                        return true;
                    }
                }
            }
        } else {
            return wrong(w, node, "an enum value name");
        }
        char got[64];
        describe(w, node, got, sizeof(got));
        fail(w, "not_allowed", "%s is not a value of %s", got, e->full_name);
        return false;
    }
    case SL_CT_DOUBLE:
    case SL_CT_FLOAT: {
        if (nd->type == SL_JSON_STRING) {
            const char *s = doc->src + nd->start;
            bool special = (nd->len == 3 && memcmp(s, "NaN", 3) == 0) ||
                           (nd->len == 8 && memcmp(s, "Infinity", 8) == 0) ||
                           (nd->len == 9 && memcmp(s, "-Infinity", 9) == 0);
            if (!special) {
                return wrong(w, node, "a number");
            }
            if (f->has_range) {
                fail(w, "out_of_range", "%.*s is out of range [%g, %g]", (int)nd->len, s, f->min,
                     f->max);
                return false;
            }
            return true;
        }
        if (nd->type != SL_JSON_NUMBER) {
            return wrong(w, node, "a number");
        }
        double v = sl_json_number(doc, node);
        if (f->type == SL_CT_FLOAT && isfinite(v) && isinf((float)v)) {
            fail(w, "out_of_range", "does not fit a float");
            return false;
        }
        return check_range(w, f, v, node);
    }
    default:
        return check_integer(w, f, node);
    }
}

static bool check_field(walk_t *w, const sl_ct_field_t *f, uint32_t node) {
    const sl_json_node_t *nd = &w->req->doc.nodes[node];
    if (!f->repeated) {
        return check_value(w, f, node);
    }
    if (nd->type != SL_JSON_ARRAY) {
        return wrong(w, node, "an array");
    }
    if (f->max_items > 0 && nd->count > f->max_items) {
        fail(w, "too_many_items", "%u items, at most %u allowed", nd->count, f->max_items);
        return false;
    }
    uint32_t e = node + 1;
    for (uint32_t i = 0; i < nd->count; i++) {
        size_t saved = path_push_index(w, i);
        bool ok = check_value(w, f, e);
        w->path_len = saved;
        if (!ok) {
            return false;
        }
        e = w->req->doc.nodes[e].end;
    }
    return true;
}

static bool check_message(walk_t *w, const sl_ct_message_t *m, uint32_t obj) {
    const sl_json_doc_t *doc = &w->req->doc;
    const sl_json_node_t *o = &doc->nodes[obj];
    /* Which fields were given, to find missing required ones and double spellings. */
    uint8_t seen_small[64];
    uint8_t *seen = m->n_fields <= sizeof(seen_small) ? seen_small
                                                      : sl_arena_calloc(w->req->arena, m->n_fields);
    memset(seen, 0, m->n_fields <= sizeof(seen_small) ? m->n_fields : 0);
    uint32_t k = obj + 1;
    for (uint32_t i = 0; i < o->count; i++) {
        const char *name;
        size_t len;
        sl_json_str(doc, k, w->req->arena, &name, &len);
        uint32_t v = k + 1;
        k = doc->nodes[v].end;
        size_t saved = path_push_field(w, name, len);
        const sl_ct_field_t *f = sl_ct_field_by_name(m, name, len);
        if (f == NULL) {
            if (w->strip_unknown) {
                /* Left out by the canonical encoder, which writes declared fields only. */
                w->path_len = saved;
                continue;
            }
            fail(w, "unknown_field", "not a field of %s", m->full_name);
            return false;
        }
        size_t idx = (size_t)(f - m->fields);
        if (seen[idx]) {
            fail(w, "duplicate_field", "given twice (as %s and %s)", f->name, f->json_name);
            return false;
        }
        if (w->envelope && checked_elsewhere(f->number)) {
            seen[idx] = 1;
            w->path_len = saved;
            continue;
        }
        seen[idx] = 1;
        if (doc->nodes[v].type != SL_JSON_NULL && !check_field(w, f, v)) {
            return false;
        }
        if (doc->nodes[v].type == SL_JSON_NULL) {
            seen[idx] = 2; /* null: the field's default, as if absent */
        }
        w->path_len = saved;
    }
    for (size_t i = 0; i < m->n_fields; i++) {
        if (m->fields[i].required && seen[i] != 1 &&
            !(w->envelope && checked_elsewhere(m->fields[i].number))) {
            const char *json_name = m->fields[i].json_name;
            size_t saved = path_push_field(w, json_name, strlen(json_name));
            fail(w, "missing_field", "required field is missing");
            w->path_len = saved;
            return false;
        }
    }
    return true;
}

/* The event's own members (context, consent, the other ids) against sluice.v1.Event. */
static bool check_envelope(sl_request_t *req, sl_event_t *ev, bool strip) {
    walk_t w = {.req = req, .ev = ev, .strip_unknown = strip, .envelope = true};
    const sl_ct_message_t *event = sl_contracts_message(sl_envelope(), "sluice.v1.Event");
    return check_message(&w, event, ev->node);
}

sl_status_t sl_stage_contract(sl_request_t *req) {
    bool strip = strcmp(req->cfg->contracts.unknown_fields, "strip") == 0;
    for (size_t i = 0; i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        if (ev->outcome != SL_OUT_PENDING || ev->properties_checked) {
            continue; /* protobuf events were checked whole by the decoder */
        }
        if (!check_envelope(req, ev, strip) || req->contracts == NULL) {
            continue;
        }
        const sl_ct_message_t *m = sl_contracts_event(req->contracts, ev->type, ev->type_len);
        if (m == NULL) {
            walk_t w = {.req = req, .ev = ev};
            memcpy(w.path, "type", 4);
            w.path_len = 4;
            fail(&w, "unknown_type", "no contract for event type \"%.*s\"",
                 (int)(ev->type_len > 64 ? 64 : ev->type_len), ev->type);
            continue;
        }
        ev->contract = m;
        bool strip_props =
            m->unknown_fields != SL_UNKNOWN_DEFAULT ? m->unknown_fields == SL_UNKNOWN_STRIP : strip;
        walk_t w = {.req = req, .ev = ev, .strip_unknown = strip_props};
        memcpy(w.path, "properties", 10);
        w.path_len = 10;
        int64_t props = sl_doc_field(&req->doc, ev->node, "properties");
        if (props < 0 || req->doc.nodes[props].type == SL_JSON_NULL) {
            /* No properties: only a contract without required fields accepts that. */
            for (size_t f = 0; f < m->n_fields; f++) {
                if (m->fields[f].required) {
                    path_push_field(&w, m->fields[f].json_name, strlen(m->fields[f].json_name));
                    fail(&w, "missing_field", "required field is missing");
                    break;
                }
            }
            continue;
        }
        if (req->doc.nodes[props].type != SL_JSON_OBJECT) {
            wrong(&w, (uint32_t)props, "an object");
            continue;
        }
        check_message(&w, m, (uint32_t)props);
    }
    return SL_OK;
}
