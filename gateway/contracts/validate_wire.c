/* contracts/validate_wire: a protobuf message checked against its contract without decoding it
 * into objects — one pass over the tags, bounded by the bytes and a depth limit. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "contracts/internal.h"
#include "core/utf8.h"

typedef struct {
    char path[256];
    size_t path_len;
    bool strip_unknown;
    sl_error_t *err;
} ctx_t;

static sl_status_t fail(ctx_t *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sl_status_t fail(ctx_t *c, const char *code, const char *fmt, ...) {
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sl_error_set(c->err, SL_REJECT, code, "%.*s: %s", (int)c->path_len, c->path, msg);
}

static size_t push(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t push(ctx_t *c, const char *fmt, ...) {
    size_t saved = c->path_len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->path + saved, sizeof(c->path) - saved, fmt, ap);
    va_end(ap);
    if (n > 0 && saved + (size_t)n < sizeof(c->path)) {
        c->path_len = saved + (size_t)n;
    } else {
        c->path[saved] = '\0';
    }
    return saved;
}

/* The per-field path step, on every field of every event: a plain copy, no printf. */
static size_t push_name(ctx_t *c, const char *name) {
    size_t saved = c->path_len, n = strlen(name), dot = saved > 0;
    if (saved + dot + n < sizeof(c->path)) {
        c->path[saved] = '.';
        memcpy(c->path + saved + dot, name, n);
        c->path_len = saved + dot + n;
    }
    return saved;
}

/* The numeric value of a scalar read as raw bits, as a double, and whether it is the default. */
static sl_status_t check_number(ctx_t *c, const sl_ct_field_t *f, uint64_t raw, bool *nonzero) {
    double v;
    switch (f->type) {
    case SL_CT_DOUBLE: {
        memcpy(&v, &raw, sizeof(v));
        break;
    }
    case SL_CT_FLOAT: {
        uint32_t r32 = (uint32_t)raw;
        float fl;
        memcpy(&fl, &r32, sizeof(fl));
        v = fl;
        break;
    }
    case SL_CT_INT32:
        if ((int64_t)raw < INT32_MIN || (int64_t)raw > INT32_MAX) {
            return fail(c, "out_of_range", "%lld does not fit int32", (long long)(int64_t)raw);
        }
        v = (double)(int64_t)raw;
        break;
    case SL_CT_UINT32:
        if (raw > UINT32_MAX) {
            return fail(c, "out_of_range", "%llu does not fit uint32", (unsigned long long)raw);
        }
        v = (double)raw;
        break;
    case SL_CT_SINT32:
    case SL_CT_SINT64: {
        int64_t z = (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1);
        if (f->type == SL_CT_SINT32 && (z < INT32_MIN || z > INT32_MAX)) {
            return fail(c, "out_of_range", "%lld does not fit sint32", (long long)z);
        }
        v = (double)z;
        break;
    }
    case SL_CT_SFIXED32:
        v = (double)(int32_t)(uint32_t)raw;
        break;
    case SL_CT_FIXED32:
        v = (double)(uint32_t)raw;
        break;
    case SL_CT_UINT64:
    case SL_CT_FIXED64:
        v = (double)raw;
        break;
    case SL_CT_BOOL:
        if (raw > 1) {
            return fail(c, "wrong_type", "a bool must be 0 or 1, got %llu",
                        (unsigned long long)raw);
        }
        *nonzero = raw != 0;
        return SL_OK;
    case SL_CT_ENUM: {
        int64_t e = (int64_t)raw;
        const sl_ct_enum_t *en = f->enumeration;
        bool found = false;
        for (size_t i = 0; i < en->n_values && !found; i++) {
            found = en->numbers[i] == e;
        }
        if (!found) {
            return fail(c, "not_allowed", "%lld is not a value of %s", (long long)e, en->full_name);
        }
        *nonzero = e != 0;
        return SL_OK;
    }
    default: /* int64, sfixed64 */
        v = (double)(int64_t)raw;
        break;
    }
    *nonzero = v != 0;
    if (f->has_range && (isnan(v) || v < f->min || v > f->max)) {
        return fail(c, "out_of_range", "%g is out of range [%g, %g]", v, f->min, f->max);
    }
    return SL_OK;
}

static sl_status_t check_string(ctx_t *c, const sl_ct_field_t *f, const uint8_t *s, size_t n) {
    if (f->type == SL_CT_BYTES) {
        if (f->max_len > 0 && n > f->max_len) {
            return fail(c, "too_long", "%zu bytes, at most %u allowed", n, f->max_len);
        }
        return SL_OK;
    }
    if (!sl_utf8_valid((const char *)s, n)) {
        return fail(c, "wrong_type", "a string must be UTF-8");
    }
    if (memchr(s, 0, n) != NULL) {
        /* As in JSON, where \u0000 is refused: no consumer can carry it safely in a C string. */
        return fail(c, "wrong_type", "a string must not contain U+0000");
    }
    size_t chars = sl_utf8_chars((const char *)s, n);
    if (f->min_len > 0 && chars < f->min_len) {
        return fail(c, "too_short", "%zu characters, at least %u required", chars, f->min_len);
    }
    if (f->max_len > 0 && chars > f->max_len) {
        return fail(c, "too_long", "%zu characters, at most %u allowed", chars, f->max_len);
    }
    /* An empty singular string is the default (absent); an empty list element is a value. */
    bool value = n > 0 || f->repeated;
    if (value && !sl_ct_format_ok(f->format, (const char *)s, n)) {
        return fail(c, "invalid_format", "expected %s, got \"%.*s\"",
                    sl_ct_format_phrase(f->format), (int)(n > 40 ? 40 : n), (const char *)s);
    }
    if (f->n_allowed > 0 && value) {
        for (size_t i = 0; i < f->n_allowed; i++) {
            if (strlen(f->allowed[i]) == n && memcmp(f->allowed[i], s, n) == 0) {
                return SL_OK;
            }
        }
        return fail(c, "not_allowed", "\"%.*s\" is not one of the allowed values",
                    (int)(n > 40 ? 40 : n), (const char *)s);
    }
    return SL_OK;
}

static sl_status_t check_message(ctx_t *c, const sl_ct_message_t *m, const uint8_t *p,
                                 const uint8_t *end, int depth);

/* One occurrence of field f whose key has been read; r is at its payload. */
static sl_status_t check_occurrence(ctx_t *c, const sl_ct_field_t *f, uint32_t wt, rd_t *r,
                                    int depth, uint32_t *count, bool *present) {
    int want = sl_ct_wire_type(f->type);
    bool packed = f->repeated && want != WT_LEN && wt == WT_LEN;
    if (wt != (uint32_t)want && !packed) {
        return fail(c, "wrong_type", "wire type %u where %s needs %d", wt,
                    f->type == SL_CT_MESSAGE ? "a message" : "the field's type", want);
    }
    if (wt == WT_LEN) {
        const uint8_t *v;
        size_t len;
        if (!rd_bytes(r, &v, &len)) {
            return fail(c, "malformed_protobuf", "truncated length-delimited field");
        }
        if (packed) {
            rd_t q = {v, v + len};
            while (q.p < q.end) {
                uint64_t raw = 0;
                if (!rd_scalar(&q, want, &raw)) {
                    return fail(c, "malformed_protobuf", "truncated packed value");
                }
                size_t saved = push(c, "[%u]", (*count)++);
                bool nz;
                sl_status_t rc = check_number(c, f, raw, &nz);
                c->path_len = saved;
                if (rc != SL_OK) {
                    return rc;
                }
                *present = true;
            }
            return SL_OK;
        }
        size_t saved = f->repeated ? push(c, "[%u]", *count) : c->path_len;
        (*count)++;
        sl_status_t rc;
        if (f->type == SL_CT_MESSAGE) {
            if (depth <= 0) {
                rc = fail(c, "malformed_protobuf", "nested deeper than the limit");
            } else {
                rc = check_message(c, f->message, v, v + len, depth - 1);
            }
            *present = true;
        } else {
            rc = check_string(c, f, v, len);
            /* A singular field given twice keeps its last value: that one decides. */
            *present = f->repeated || len > 0;
        }
        c->path_len = saved;
        return rc;
    }
    uint64_t raw = 0;
    if (!rd_scalar(r, (int)wt, &raw)) {
        return fail(c, "malformed_protobuf", "truncated value");
    }
    size_t saved = f->repeated ? push(c, "[%u]", *count) : c->path_len;
    (*count)++;
    bool nz = false;
    sl_status_t rc = check_number(c, f, raw, &nz);
    c->path_len = saved;
    *present = f->repeated || nz;
    return rc;
}

static sl_status_t check_message(ctx_t *c, const sl_ct_message_t *m, const uint8_t *p,
                                 const uint8_t *end, int depth) {
    uint32_t counts[64] = {0};
    bool present[64] = {false};
    if (m->n_fields > 64) {
        return fail(c, "malformed_protobuf", "%s has more fields than the validator supports",
                    m->full_name);
    }
    rd_t r = {p, end};
    while (r.p < r.end) {
        uint32_t number, wt;
        if (!rd_tag(&r, &number, &wt)) {
            return fail(c, "malformed_protobuf", "invalid field key");
        }
        const sl_ct_field_t *f = sl_ct_field_by_number(m, number);
        if (f == NULL && c->strip_unknown) {
            if (!rd_skip(&r, wt)) {
                return fail(c, "malformed_protobuf", "truncated field %u", number);
            }
            continue;
        }
        if (f == NULL) {
            size_t saved = push(c, c->path_len > 0 ? ".#%u" : "#%u", number);
            sl_status_t rc =
                fail(c, "unknown_field", "field number %u is not in %s", number, m->full_name);
            c->path_len = saved;
            return rc;
        }
        size_t idx = (size_t)(f - m->fields);
        size_t saved = push_name(c, f->name);
        sl_status_t rc = check_occurrence(c, f, wt, &r, depth, &counts[idx], &present[idx]);
        if (rc == SL_OK && f->max_items > 0 && counts[idx] > f->max_items) {
            rc = fail(c, "too_many_items", "more than %u items", f->max_items);
        }
        c->path_len = saved;
        if (rc != SL_OK) {
            return rc;
        }
    }
    for (size_t i = 0; i < m->n_fields; i++) {
        if (m->fields[i].required && !present[i]) {
            size_t saved = push_name(c, m->fields[i].name);
            sl_status_t rc = fail(c, "missing_field", "required field is missing");
            c->path_len = saved;
            return rc;
        }
    }
    return SL_OK;
}

sl_status_t sl_ct_validate_wire(const sl_ct_message_t *m, const uint8_t *data, size_t len,
                                const char *path, int max_depth, bool strip_unknown,
                                sl_error_t *err) {
    ctx_t c = {.err = err, .strip_unknown = strip_unknown};
    push(&c, "%s", path);
    return check_message(&c, m, data, data + len, max_depth);
}
