/* contracts/wire: a small bounded protobuf wire reader for the option bytes (FieldRules,
 * Contract) that protobuf-c hands over as unknown fields, and the nesting pre-check of a
 * descriptor set. Every read checks the remaining length first; nothing recurses deeper than
 * the nesting limit. */
#include <math.h>
#include <string.h>

#include "contracts/internal.h"

/* A varint scalar, plain or packed (then the last element wins, as protobuf merges). Returns
 * false on a malformed encoding or another wire type; *seen tells whether a value was read. */
static bool rd_scalar_varint(rd_t *r, uint32_t wt, uint64_t *out, bool *seen) {
    *seen = false;
    if (wt == WT_VARINT) {
        *seen = true;
        return rd_varint(r, out);
    }
    if (wt != WT_LEN) {
        return false;
    }
    rd_t sub;
    size_t n;
    if (!rd_bytes(r, &sub.p, &n)) {
        return false;
    }
    sub.end = sub.p + n;
    while (sub.p < sub.end) {
        if (!rd_varint(&sub, out)) {
            return false;
        }
        *seen = true;
    }
    return true;
}

static bool rd_scalar_double(rd_t *r, uint32_t wt, double *out, bool *seen) {
    uint64_t bits = 0;
    *seen = false;
    if (wt == WT_FIXED64) {
        if (!rd_fixed64(r, &bits)) {
            return false;
        }
        memcpy(out, &bits, sizeof(*out));
        *seen = true;
        return true;
    }
    if (wt != WT_LEN) {
        return false;
    }
    rd_t sub;
    size_t n;
    if (!rd_bytes(r, &sub.p, &n) || n % 8 != 0) {
        return false;
    }
    sub.end = sub.p + n;
    while (sub.p < sub.end) {
        (void)rd_fixed64(&sub, &bits);
        memcpy(out, &bits, sizeof(*out));
        *seen = true;
    }
    return true;
}

/* RFC 3629 UTF-8: no overlongs, no surrogates, nothing above U+10FFFF; NUL refused too (the
 * registry hands out C strings). */
static bool valid_text(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c == 0) {
            return false;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if ((c & 0xe0u) == 0xc0u) {
            need = 1, cp = c & 0x1fu, min = 0x80;
        } else if ((c & 0xf0u) == 0xe0u) {
            need = 2, cp = c & 0x0fu, min = 0x800;
        } else if ((c & 0xf8u) == 0xf0u) {
            need = 3, cp = c & 0x07u, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < need) {
            return false;
        }
        for (size_t k = 1; k <= need; k++) {
            uint8_t cc = s[i + k];
            if ((cc & 0xc0u) != 0x80u) {
                return false;
            }
            cp = (cp << 6) | (cc & 0x3fu);
        }
        if (cp < min || cp > 0x10ffffu || (cp >= 0xd800u && cp <= 0xdfffu)) {
            return false;
        }
        i += need + 1;
    }
    return true;
}

static sl_status_t bad(sl_error_t *err, const char *what, uint32_t field, const char *why) {
    return sl_error_set(err, SL_REJECT, "contracts_bad_option", "%s field %u: %s", what, field,
                        why);
}

static sl_status_t read_uint32(rd_t *r, uint32_t wt, uint32_t field, uint32_t *into,
                               sl_error_t *err) {
    uint64_t v;
    bool seen;
    if (!rd_scalar_varint(r, wt, &v, &seen)) {
        return bad(err, "FieldRules", field, "malformed or wrong wire type");
    }
    if (seen && v > UINT32_MAX) {
        return bad(err, "FieldRules", field, "value does not fit uint32");
    }
    if (seen) {
        *into = (uint32_t)v;
    }
    return SL_OK;
}

/* An enum member: open enums in proto3, but a value this gateway does not know would be a rule
 * it cannot apply, so it is refused rather than ignored. */
static sl_status_t read_enum(rd_t *r, uint32_t wt, const char *what, uint32_t field, int64_t max,
                             int *into, sl_error_t *err) {
    uint64_t v;
    bool seen;
    if (!rd_scalar_varint(r, wt, &v, &seen)) {
        return bad(err, what, field, "malformed or wrong wire type");
    }
    if (!seen) {
        return SL_OK;
    }
    /* int32 enums: negatives arrive sign-extended to 64 bits. */
    int64_t sv = (int64_t)v;
    if (sv < 0 || sv > max) {
        return sl_error_set(err, SL_REJECT, "contracts_bad_option",
                            "%s field %u: unknown enum value %lld (options newer than sluice?)",
                            what, field, (long long)sv);
    }
    *into = (int)sv;
    return SL_OK;
}

static sl_status_t parse_range(const uint8_t *data, size_t len, sl_ct_field_t *f, sl_error_t *err) {
    rd_t r = {data, data + len};
    f->has_range = true;
    while (r.p < r.end) {
        uint32_t field, wt;
        if (!rd_tag(&r, &field, &wt)) {
            return bad(err, "Range", 0, "malformed tag");
        }
        bool seen;
        double d;
        if (field == 1 || field == 2) {
            if (!rd_scalar_double(&r, wt, &d, &seen)) {
                return bad(err, "Range", field, "malformed or wrong wire type");
            }
            if (seen) {
                *(field == 1 ? &f->min : &f->max) = d;
            }
        } else if (!rd_skip(&r, wt)) {
            return bad(err, "Range", field, "malformed");
        }
    }
    return SL_OK;
}

static sl_status_t add_allowed(sl_arena_t *arena, sl_ct_field_t *f, const uint8_t *s, size_t n,
                               sl_error_t *err) {
    if (!valid_text(s, n)) {
        return bad(err, "FieldRules", 6, "allowed value is not valid UTF-8 (or holds a NUL)");
    }
    if (f->n_allowed >= SL_CT_MAX_ALLOWED) {
        return sl_error_set(err, SL_REJECT, "contracts_bad_option",
                            "FieldRules field 6: more than %d allowed values", SL_CT_MAX_ALLOWED);
    }
    /* The arena cannot grow an array in place: double it (total waste stays below 2x). */
    size_t n_old = f->n_allowed;
    if ((n_old & (n_old - 1)) == 0) { /* 0, 1, 2, 4, ...: the array is full */
        size_t cap = n_old == 0 ? 1 : n_old * 2;
        const char **grown = sl_arena_alloc(arena, cap * sizeof(*grown));
        if (n_old > 0) {
            memcpy(grown, f->allowed, n_old * sizeof(*grown));
        }
        f->allowed = grown;
    }
    ((const char **)f->allowed)[n_old] = sl_arena_strndup(arena, (const char *)s, n);
    f->n_allowed = n_old + 1;
    return SL_OK;
}

sl_status_t sl_ct_parse_rules(const uint8_t *data, size_t len, sl_arena_t *arena, sl_ct_field_t *f,
                              sl_error_t *err) {
    rd_t r = {data, data + len};
    while (r.p < r.end) {
        uint32_t field, wt;
        if (!rd_tag(&r, &field, &wt)) {
            return bad(err, "FieldRules", 0, "malformed tag");
        }
        sl_status_t rc = SL_OK;
        uint64_t v;
        bool seen;
        const uint8_t *p;
        size_t n;
        int e;
        switch (field) {
        case 1:
            if (!rd_scalar_varint(&r, wt, &v, &seen)) {
                return bad(err, "FieldRules", field, "malformed or wrong wire type");
            }
            if (seen) {
                f->required = v != 0;
            }
            break;
        case 2:
            rc = read_uint32(&r, wt, field, &f->min_len, err);
            break;
        case 3:
            rc = read_uint32(&r, wt, field, &f->max_len, err);
            break;
        case 4:
            if (wt != WT_LEN || !rd_bytes(&r, &p, &n)) {
                return bad(err, "FieldRules", field, "malformed or wrong wire type");
            }
            rc = parse_range(p, n, f, err);
            break;
        case 5:
            e = (int)f->format;
            rc = read_enum(&r, wt, "FieldRules", field, SL_FMT_LOCALE, &e, err);
            f->format = (sl_ct_format_t)e;
            break;
        case 6:
            if (wt != WT_LEN || !rd_bytes(&r, &p, &n)) {
                return bad(err, "FieldRules", field, "malformed or wrong wire type");
            }
            rc = add_allowed(arena, f, p, n, err);
            break;
        case 7:
            rc = read_uint32(&r, wt, field, &f->max_items, err);
            break;
        case 8:
            e = (int)f->pii;
            rc = read_enum(&r, wt, "FieldRules", field, SL_PII_USER_ID, &e, err);
            f->pii = (sl_ct_pii_t)e;
            break;
        default:
            if (!rd_skip(&r, wt)) {
                return bad(err, "FieldRules", field, "malformed");
            }
        }
        if (rc != SL_OK) {
            return rc;
        }
    }
    return SL_OK;
}

static bool valid_event_type(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

sl_status_t sl_ct_parse_contract(const uint8_t *data, size_t len, sl_arena_t *arena,
                                 sl_ct_contract_opt_t *out, sl_error_t *err) {
    rd_t r = {data, data + len};
    while (r.p < r.end) {
        uint32_t field, wt;
        if (!rd_tag(&r, &field, &wt)) {
            return bad(err, "Contract", 0, "malformed tag");
        }
        const uint8_t *p;
        size_t n;
        if (field == 1) {
            if (wt != WT_LEN || !rd_bytes(&r, &p, &n)) {
                return bad(err, "Contract", field, "malformed or wrong wire type");
            }
            if (n > SL_CT_MAX_EVENT_TYPE || !valid_event_type(p, n)) {
                return sl_error_set(err, SL_REJECT, "contracts_bad_option",
                                    "Contract field 1: event type must be 1 to %d characters "
                                    "of [A-Za-z0-9_.-]",
                                    SL_CT_MAX_EVENT_TYPE);
            }
            out->type = n == 0 ? NULL : sl_arena_strndup(arena, (const char *)p, n);
        } else if (field == 2) {
            int e = (int)out->stage;
            sl_status_t rc = read_enum(&r, wt, "Contract", field, SL_STAGE_OUTCOMES, &e, err);
            if (rc != SL_OK) {
                return rc;
            }
            out->stage = (sl_ct_stage_t)e;
        } else if (field == 3) {
            int e = (int)out->unknown_fields;
            sl_status_t rc = read_enum(&r, wt, "Contract", field, SL_UNKNOWN_STRIP, &e, err);
            if (rc != SL_OK) {
                return rc;
            }
            out->unknown_fields = (sl_ct_unknown_t)e;
        } else if (!rd_skip(&r, wt)) {
            return bad(err, "Contract", field, "malformed");
        }
    }
    return SL_OK;
}

sl_status_t sl_ct_check_rules(const sl_ct_field_t *f, sl_error_t *err) {
    if (f->has_range && (isnan(f->min) || isnan(f->max) || f->min > f->max)) {
        return sl_error_set(err, SL_REJECT, "contracts_bad_option",
                            "range {min: %g, max: %g} is empty (min > max or NaN; an open side "
                            "is written inf / -inf)",
                            f->min, f->max);
    }
    if (f->max_len != 0 && f->min_len > f->max_len) {
        return sl_error_set(err, SL_REJECT, "contracts_bad_option",
                            "min_len %u is greater than max_len %u", f->min_len, f->max_len);
    }
    return SL_OK;
}

/* --- nesting pre-check ---------------------------------------------------------------------- */

enum { K_SET, K_FILE, K_MSG };

static sl_status_t malformed(sl_error_t *err, size_t at) {
    return sl_error_set(err, SL_REJECT, "contracts_format",
                        "not a descriptor set (malformed protobuf at byte %zu)", at);
}

static sl_status_t scan(const uint8_t *base, rd_t r, int kind, int depth, int max_depth,
                        sl_error_t *err) {
    while (r.p < r.end) {
        const uint8_t *at = r.p;
        uint32_t field, wt;
        if (!rd_tag(&r, &field, &wt)) {
            return malformed(err, (size_t)(at - base));
        }
        bool sub = (kind == K_SET && field == 1) || (kind == K_FILE && field == 4) ||
                   (kind == K_MSG && field == 3);
        if (!sub) {
            if (!rd_skip(&r, wt)) {
                return malformed(err, (size_t)(at - base));
            }
            continue;
        }
        rd_t inner;
        size_t n;
        if (wt != WT_LEN || !rd_bytes(&r, &inner.p, &n)) {
            return malformed(err, (size_t)(at - base));
        }
        inner.end = inner.p + n;
        int next = kind == K_SET ? K_FILE : K_MSG;
        int d = kind == K_SET ? 0 : depth + 1;
        if (d > max_depth) {
            return sl_error_set(err, SL_REJECT, "contracts_format",
                                "message declarations nested more than %d deep", max_depth);
        }
        sl_status_t rc = scan(base, inner, next, d, max_depth, err);
        if (rc != SL_OK) {
            return rc;
        }
    }
    return SL_OK;
}

sl_status_t sl_ct_check_nesting(const uint8_t *data, size_t len, int max_depth, sl_error_t *err) {
    rd_t r = {data, data + len};
    return scan(data, r, K_SET, 0, max_depth, err);
}

int sl_ct_fuzz_options(const uint8_t *data, size_t len) {
    sl_arena_t *arena = sl_arena_new(1024);
    sl_error_t err;
    sl_ct_field_t f;
    memset(&f, 0, sizeof(f));
    if (sl_ct_parse_rules(data, len, arena, &f, &err) == SL_OK) {
        (void)sl_ct_check_rules(&f, &err);
    }
    sl_ct_contract_opt_t opt = {0};
    (void)sl_ct_parse_contract(data, len, arena, &opt, &err);
    (void)sl_ct_check_nesting(data, len, SL_CT_MAX_NESTING, &err);
    sl_arena_destroy(arena);
    return 0;
}
