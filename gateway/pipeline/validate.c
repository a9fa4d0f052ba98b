/* pipeline/validate: the envelope every event must carry, whatever its contract. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/timefmt.h"
#include "pipeline/pipeline.h"

static void invalid(sl_event_t *ev, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void invalid(sl_event_t *ev, const char *code, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ev->outcome = SL_OUT_INVALID;
    ev->code = code;
    ev->message = sl_arena_strndup(ev->req->arena, msg,
                                   n < 0                     ? 0
                                   : (size_t)n < sizeof(msg) ? (size_t)n
                                                             : sizeof(msg) - 1);
}

/* A timestamp node: RFC 3339 string or non-negative integer epoch milliseconds. 0 on success. */
static int timestamp(sl_request_t *req, uint32_t node, int64_t *ms) {
    const sl_json_node_t *nd = &req->doc.nodes[node];
    if (nd->type == SL_JSON_STRING) {
        const char *s;
        size_t len;
        sl_json_str(&req->doc, node, req->arena, &s, &len);
        /* An offset can move a four-digit year out of 0000-9999, which RFC 3339 cannot write. */
        return sl_time_parse_rfc3339(s, len, ms) == 0 && *ms >= SL_TIME_MIN_MS &&
                       *ms <= SL_TIME_MAX_MS
                   ? 0
                   : -1;
    }
    if (sl_json_int(&req->doc, node, ms) == 0 && *ms >= 0 && *ms <= SL_TIME_MAX_MS) {
        return 0;
    }
    return -1;
}

/* A string member of at most max bytes. Returns 1 when present and valid, 0 when absent,
 * -1 when invalid (and marks the event). */
static int id_field(sl_event_t *ev, const char *name, bool required, int64_t max, const char **out,
                    size_t *out_len) {
    sl_request_t *req = ev->req;
    int64_t v = sl_doc_field(&req->doc, ev->node, name);
    if (v < 0 || req->doc.nodes[v].type == SL_JSON_NULL) {
        if (required) {
            invalid(ev, "missing_field", "%s: required field is missing", name);
            return -1;
        }
        return 0;
    }
    if (req->doc.nodes[v].type != SL_JSON_STRING) {
        invalid(ev, "wrong_type", "%s: expected a string, got %s", name,
                sl_json_type_phrase((sl_json_type_t)req->doc.nodes[v].type));
        return -1;
    }
    const char *s;
    size_t len;
    sl_json_str(&req->doc, (uint32_t)v, req->arena, &s, &len);
    if (len == 0) {
        if (required) {
            invalid(ev, "missing_field", "%s: must not be empty", name);
            return -1;
        }
        return 0;
    }
    if ((int64_t)len > max) {
        invalid(ev, "too_long", "%s: %zu bytes, over limits.max_id_bytes (%lld)", name, len,
                (long long)max);
        return -1;
    }
    *out = s;
    *out_len = len;
    return 1;
}

static void validate_event(sl_event_t *ev, int64_t max_id) {
    sl_request_t *req = ev->req;
    const sl_json_node_t *nd = &req->doc.nodes[ev->node];
    if (ev->outcome != SL_OUT_PENDING) {
        /* Found invalid by the decoder: only its id, for the result. */
        int64_t id = sl_doc_field(&req->doc, ev->node, "event_id");
        if (id >= 0 && req->doc.nodes[id].type == SL_JSON_STRING) {
            sl_json_str(&req->doc, (uint32_t)id, req->arena, &ev->event_id, &ev->event_id_len);
        }
        return;
    }
    if (nd->type != SL_JSON_OBJECT) {
        invalid(ev, "not_an_object", "an event must be a JSON object, got %s",
                sl_json_type_phrase((sl_json_type_t)nd->type));
        return;
    }
    const char *id;
    size_t id_len;
    if (id_field(ev, "event_id", true, max_id, &ev->event_id, &ev->event_id_len) < 0 ||
        id_field(ev, "type", true, max_id, &ev->type, &ev->type_len) < 0 ||
        id_field(ev, "user_id", false, max_id, &id, &id_len) < 0 ||
        id_field(ev, "anonymous_id", false, max_id, &id, &id_len) < 0) {
        return;
    }
    int64_t occurred = sl_doc_field(&req->doc, ev->node, "occurred_at");
    if (occurred < 0 || req->doc.nodes[occurred].type == SL_JSON_NULL) {
        invalid(ev, "missing_field", "occurred_at: required field is missing");
        return;
    }
    if (timestamp(req, (uint32_t)occurred, &ev->occurred_at_ms) != 0) {
        const sl_json_node_t *o = &req->doc.nodes[occurred];
        if (o->type == SL_JSON_STRING) {
            invalid(ev, "invalid_timestamp",
                    "occurred_at: \"%.*s\" is not an RFC 3339 timestamp or epoch milliseconds",
                    (int)(o->len > 40 ? 40 : o->len), req->doc.src + o->start);
        } else {
            invalid(ev, "invalid_timestamp",
                    "occurred_at: expected an RFC 3339 string or epoch milliseconds, got %s",
                    sl_json_type_phrase((sl_json_type_t)o->type));
        }
    }
}

sl_status_t sl_stage_validate(sl_request_t *req) {
    int64_t sent_at = sl_doc_field(&req->doc, 0, "sent_at");
    int64_t ms = 0;
    if (sent_at >= 0 && timestamp(req, (uint32_t)sent_at, &ms) != 0) {
        return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "invalid_timestamp",
                               "sent_at: expected an RFC 3339 string or epoch milliseconds");
    }
    req->sent_at_ms = sent_at >= 0 ? ms : 0;
    /* A client clock off by more than transit time (and not absurdly): its events' times move
     * by the same amount (clock.max_skew). */
    const sl_config_t *cfg = req->cfg;
    if (sent_at >= 0 && cfg->clock.max_skew_ms > 0) {
        int64_t off = req->received_at_ms - ms;
        int64_t mag = off < 0 ? -off : off;
        if (mag > cfg->clock.tolerance_ms && mag <= cfg->clock.max_skew_ms) {
            req->skew_ms = off;
        }
    }
    int64_t max_id = cfg->limits.max_id_bytes;
    for (size_t i = 0; i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        validate_event(ev, max_id);
        if (req->skew_ms != 0 && ev->outcome == SL_OUT_PENDING) {
            int64_t t = ev->occurred_at_ms + req->skew_ms;
            ev->occurred_at_ms = t < SL_TIME_MIN_MS   ? SL_TIME_MIN_MS
                                 : t > SL_TIME_MAX_MS ? SL_TIME_MAX_MS
                                                      : t;
        }
    }
    return SL_OK;
}
