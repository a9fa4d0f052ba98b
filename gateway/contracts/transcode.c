/* contracts/transcode: a protobuf message written as JSON text, field by field from its
 * descriptors, so a protobuf event joins the JSON events' path (one document model downstream).
 *
 * The input has passed sl_ct_validate_wire: wire types match, strings are UTF-8, enum numbers
 * are declared. Members come in field-number order under their declared (snake_case) names;
 * repeated fields gather every occurrence, plain or packed; a singular field given twice keeps
 * its last occurrence. Unknown fields are left out. */
#include <string.h>

#include "contracts/internal.h"
#include "core/base64.h"
#include "core/num.h"

static void put_scalar(const sl_ct_field_t *f, uint64_t raw, sl_buf_t *out) {
    char tmp[40];
    size_t n;
    switch (f->type) {
    case SL_CT_DOUBLE: {
        double d;
        memcpy(&d, &raw, sizeof(d));
        n = sl_num_double(d, tmp);
        break;
    }
    case SL_CT_FLOAT: {
        uint32_t r32 = (uint32_t)raw;
        float fl;
        memcpy(&fl, &r32, sizeof(fl));
        n = sl_num_float(fl, tmp);
        break;
    }
    case SL_CT_BOOL:
        sl_buf_puts(out, raw != 0 ? "true" : "false");
        return;
    case SL_CT_ENUM: {
        const sl_ct_enum_t *e = f->enumeration;
        for (size_t i = 0; i < e->n_values; i++) {
            if (e->numbers[i] == (int32_t)raw) {
                sl_buf_json_string(out, e->names[i], strlen(e->names[i]));
                return;
            }
        }
        n = sl_num_i64((int32_t)raw, tmp);
        break;
    }
    case SL_CT_INT32:
    case SL_CT_INT64:
    case SL_CT_SFIXED64:
        n = sl_num_i64((int64_t)raw, tmp);
        break;
    case SL_CT_SFIXED32:
        n = sl_num_i64((int32_t)(uint32_t)raw, tmp);
        break;
    case SL_CT_SINT32:
    case SL_CT_SINT64:
        n = sl_num_i64((int64_t)(raw >> 1) ^ -(int64_t)(raw & 1), tmp);
        break;
    default: /* uint32, uint64, fixed32, fixed64 */
        n = sl_num_u64(raw, tmp);
        break;
    }
    if (tmp[0] == 'N' || tmp[0] == 'I' || (tmp[0] == '-' && tmp[1] == 'I')) {
        sl_buf_json_string(out, tmp, n); /* NaN, Infinity: strings in proto3 JSON */
    } else {
        sl_buf_append(out, tmp, n);
    }
}

/* One length-delimited value of f (not packed). */
static sl_status_t put_len(const sl_ct_field_t *f, const uint8_t *p, size_t n, int depth,
                           sl_buf_t *out) {
    if (f->type == SL_CT_STRING) {
        sl_buf_json_string(out, (const char *)p, n);
        return SL_OK;
    }
    if (f->type == SL_CT_BYTES) {
        sl_buf_append(out, "\"", 1);
        sl_base64_encode(out, p, n);
        sl_buf_append(out, "\"", 1);
        return SL_OK;
    }
    if (depth <= 0) {
        return SL_REJECT;
    }
    return sl_ct_wire_to_json(f->message, p, n, depth - 1, out);
}

/* Every occurrence of f in [data, data+len) as JSON values, comma-separated; *count is how
 * many were written (for a singular field, only the last occurrence is written). */
/* Every occurrence of the repeated field f in [data, data+len) as JSON values, comma-separated
 * (plain or packed); *count is how many were written. */
static sl_status_t put_field(const sl_ct_field_t *f, const uint8_t *data, size_t len, int depth,
                             sl_buf_t *out, uint32_t *count) {
    int want = sl_ct_wire_type(f->type);
    rd_t r = {data, data + len};
    while (r.p < r.end) {
        uint32_t number, wt;
        if (!rd_tag(&r, &number, &wt)) {
            return SL_REJECT;
        }
        if (number != f->number) {
            if (!rd_skip(&r, wt)) {
                return SL_REJECT;
            }
            continue;
        }
        if (wt == WT_LEN && want != WT_LEN) { /* packed */
            const uint8_t *p;
            size_t n;
            if (!rd_bytes(&r, &p, &n)) {
                return SL_REJECT;
            }
            rd_t q = {p, p + n};
            while (q.p < q.end) {
                uint64_t raw;
                if (!rd_scalar(&q, want, &raw)) {
                    return SL_REJECT;
                }
                sl_buf_append(out, ",", (*count)++ > 0);
                put_scalar(f, raw, out);
            }
            continue;
        }
        sl_buf_append(out, ",", (*count)++ > 0);
        if (want == WT_LEN) {
            const uint8_t *p;
            size_t n;
            if (!rd_bytes(&r, &p, &n) || put_len(f, p, n, depth, out) != SL_OK) {
                return SL_REJECT;
            }
        } else {
            uint64_t raw;
            if ((int)wt != want || !rd_scalar(&r, want, &raw)) {
                return SL_REJECT;
            }
            put_scalar(f, raw, out);
        }
    }
    return SL_OK;
}

/* Every occurrence of the singular message field f, merged. */
static sl_status_t put_merged(const sl_ct_field_t *f, const uint8_t *data, size_t len, int depth,
                              sl_buf_t *out) {
    sl_buf_t merged;
    sl_buf_init(&merged, NULL, len);
    rd_t r = {data, data + len};
    sl_status_t rc = SL_OK;
    while (r.p < r.end && rc == SL_OK) {
        uint32_t number, wt;
        const uint8_t *p;
        size_t n;
        bool ok = rd_tag(&r, &number, &wt);
        if (ok && number != f->number) {
            ok = rd_skip(&r, wt);
        } else if (ok) {
            ok = wt == WT_LEN && rd_bytes(&r, &p, &n);
            if (ok) {
                sl_buf_append(&merged, p, n);
            }
        }
        rc = ok ? SL_OK : SL_REJECT;
    }
    if (rc == SL_OK) {
        rc = depth <= 0 ? SL_REJECT
                        : sl_ct_wire_to_json(f->message, (const uint8_t *)merged.data, merged.len,
                                             depth - 1, out);
    }
    sl_buf_free(&merged);
    return rc;
}

/* The last occurrence of a singular field: its key starts at data + at. */
static sl_status_t put_last(const sl_ct_field_t *f, const uint8_t *at, const uint8_t *end,
                            int depth, sl_buf_t *out) {
    rd_t r = {at, end};
    uint32_t number = 0, wt = 0;
    (void)rd_tag(&r, &number, &wt);
    int want = sl_ct_wire_type(f->type);
    if ((int)wt != want) {
        return SL_REJECT;
    }
    if (want == WT_LEN) {
        const uint8_t *p;
        size_t n;
        if (!rd_bytes(&r, &p, &n)) {
            return SL_REJECT;
        }
        return put_len(f, p, n, depth, out);
    }
    uint64_t raw;
    if (!rd_scalar(&r, want, &raw)) {
        return SL_REJECT;
    }
    put_scalar(f, raw, out);
    return SL_OK;
}

sl_status_t sl_ct_wire_members(const sl_ct_message_t *m, const uint8_t *data, size_t len, int depth,
                               uint32_t skip_number, sl_buf_t *out, bool *first) {
    /* One pass to find where each field last occurs (most are singular), then the fields in
     * number order; a repeated field gathers its occurrences with a scan of its own. */
    enum { MAX_FIELDS = 64 };
    const uint8_t *last[MAX_FIELDS];
    uint32_t count[MAX_FIELDS];
    if (m->n_fields > MAX_FIELDS) {
        return SL_REJECT; /* sl_ct_validate_wire refuses these too */
    }
    memset(last, 0, m->n_fields * sizeof(last[0]));
    memset(count, 0, m->n_fields * sizeof(count[0]));
    rd_t r = {data, data + len};
    while (r.p < r.end) {
        const uint8_t *at = r.p;
        uint32_t number, wt;
        if (!rd_tag(&r, &number, &wt) || !rd_skip(&r, wt)) {
            return SL_REJECT;
        }
        const sl_ct_field_t *f = sl_ct_field_by_number(m, number);
        if (f != NULL) {
            last[f - m->fields] = at;
            count[f - m->fields]++;
        }
    }
    for (size_t i = 0; i < m->n_fields; i++) {
        const sl_ct_field_t *f = &m->fields[i];
        if (last[i] == NULL || f->number == skip_number) {
            continue;
        }
        if (!*first) {
            sl_buf_append(out, ",", 1);
        }
        *first = false;
        sl_buf_json_string(out, f->name, strlen(f->name));
        if (!f->repeated && f->type == SL_CT_MESSAGE && count[i] > 1) {
            /* A message given twice is merged, as protobuf parsers do: the concatenation of
             * serialized messages is their merge. */
            sl_buf_append(out, ":", 1);
            if (put_merged(f, data, len, depth, out) != SL_OK) {
                return SL_REJECT;
            }
            continue;
        }
        if (!f->repeated) {
            sl_buf_append(out, ":", 1);
            if (put_last(f, last[i], data + len, depth, out) != SL_OK) {
                return SL_REJECT;
            }
            continue;
        }
        sl_buf_append(out, ":[", 2);
        uint32_t written = 0;
        if (put_field(f, data, len, depth, out, &written) != SL_OK) {
            return SL_REJECT;
        }
        sl_buf_append(out, "]", 1);
    }
    return SL_OK;
}

sl_status_t sl_ct_wire_to_json(const sl_ct_message_t *m, const uint8_t *data, size_t len, int depth,
                               sl_buf_t *out) {
    bool first = true;
    sl_buf_append(out, "{", 1);
    if (sl_ct_wire_members(m, data, len, depth, 0, out, &first) != SL_OK) {
        return SL_REJECT;
    }
    sl_buf_append(out, "}", 1);
    return SL_OK;
}
