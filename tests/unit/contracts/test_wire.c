/* contracts/wire: the option-bytes reader on hand-made (and malformed) encodings. The one test
 * file that uses the private header: these parsers are what the fuzz target drives. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/internal.h"

typedef struct {
    uint8_t b[8192];
    size_t n;
} buf_t;

static void put(buf_t *w, const void *p, size_t n) {
    cr_assert_leq(w->n + n, sizeof(w->b));
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void put_varint(buf_t *w, uint64_t v) {
    while (v >= 0x80) {
        uint8_t b = (uint8_t)(v | 0x80);
        put(w, &b, 1);
        v >>= 7;
    }
    uint8_t b = (uint8_t)v;
    put(w, &b, 1);
}

static void put_len(buf_t *w, uint32_t field, const void *p, size_t n) {
    put_varint(w, (uint64_t)field << 3 | 2);
    put_varint(w, n);
    put(w, p, n);
}

static void put_double(buf_t *w, uint32_t field, double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    put_varint(w, (uint64_t)field << 3 | 1);
    for (int i = 0; i < 8; i++) {
        uint8_t b = (uint8_t)(bits >> (8 * i));
        put(w, &b, 1);
    }
}

static sl_arena_t *arena;

static void setup(void) {
    arena = sl_arena_new(1024);
}

static void teardown(void) {
    sl_arena_destroy(arena);
}

static sl_status_t rules(const void *p, size_t n, sl_ct_field_t *f) {
    sl_error_t err;
    memset(f, 0, sizeof(*f));
    return sl_ct_parse_rules(p, n, arena, f, &err);
}

#define RULES_OK(bytes, f) cr_assert_eq(rules(bytes, sizeof(bytes), f), SL_OK, "bytes of " #bytes)
#define RULES_BAD(bytes, f)                                                                        \
    cr_assert_eq(rules(bytes, sizeof(bytes), f), SL_REJECT, "bytes of " #bytes)

TestSuite(contracts_wire, .init = setup, .fini = teardown);

Test(contracts_wire, scalars_plain_and_packed) {
    sl_ct_field_t f;
    static const uint8_t req[] = {0x08, 0x01};
    RULES_OK(req, &f);
    cr_assert(f.required);
    static const uint8_t lens[] = {0x10, 0x05, 0x18, 0xac, 0x02}; /* min_len 5, max_len 300 */
    RULES_OK(lens, &f);
    cr_assert_eq(f.min_len, 5);
    cr_assert_eq(f.max_len, 300);
    static const uint8_t packed[] = {0x12, 0x02, 0x03, 0x07}; /* min_len packed: last wins */
    RULES_OK(packed, &f);
    cr_assert_eq(f.min_len, 7);
    static const uint8_t enums[] = {0x28, 0x07, 0x40, 0x06, 0x38, 0x09};
    RULES_OK(enums, &f);
    cr_assert_eq(f.format, SL_FMT_LOCALE);
    cr_assert_eq(f.pii, SL_PII_USER_ID);
    cr_assert_eq(f.max_items, 9);
    static const uint8_t empty[] = {0};
    cr_assert_eq(rules(empty, 0, &f), SL_OK);
}

Test(contracts_wire, range_doubles) {
    buf_t r = {0}, w = {0};
    put_double(&r, 1, -2.5);
    put_double(&r, 2, INFINITY);
    put_len(&w, 4, r.b, r.n);
    sl_ct_field_t f;
    cr_assert_eq(rules(w.b, w.n, &f), SL_OK);
    cr_assert(f.has_range);
    cr_assert_float_eq(f.min, -2.5, 0);
    cr_assert(isinf(f.max) && f.max > 0);

    /* An empty Range message still sets has_range with both bounds 0. */
    static const uint8_t zero[] = {0x22, 0x00};
    RULES_OK(zero, &f);
    cr_assert(f.has_range);
    cr_assert_eq(sl_ct_check_rules(&f, NULL), SL_OK);

    /* A range with min > max is refused by the check, not the parser. */
    buf_t r2 = {0}, w2 = {0};
    put_double(&r2, 1, 5);
    put_double(&r2, 2, 1);
    put_len(&w2, 4, r2.b, r2.n);
    cr_assert_eq(rules(w2.b, w2.n, &f), SL_OK);
    cr_assert_eq(sl_ct_check_rules(&f, NULL), SL_REJECT);
    buf_t r3 = {0}, w3 = {0};
    put_double(&r3, 1, NAN);
    put_len(&w3, 4, r3.b, r3.n);
    cr_assert_eq(rules(w3.b, w3.n, &f), SL_OK);
    cr_assert_eq(sl_ct_check_rules(&f, NULL), SL_REJECT);
}

Test(contracts_wire, allowed_grows_and_keeps_order) {
    buf_t w = {0};
    char s[8];
    for (int i = 0; i < 37; i++) {
        int n = snprintf(s, sizeof(s), "v%d", i);
        put_len(&w, 6, s, (size_t)n);
    }
    sl_ct_field_t f;
    cr_assert_eq(rules(w.b, w.n, &f), SL_OK);
    cr_assert_eq(f.n_allowed, 37);
    for (int i = 0; i < 37; i++) {
        snprintf(s, sizeof(s), "v%d", i);
        cr_assert_str_eq(f.allowed[i], s);
    }
    /* A second occurrence merges: appends. */
    buf_t w2 = {0};
    put_len(&w2, 6, "last", 4);
    sl_error_t err;
    cr_assert_eq(sl_ct_parse_rules(w2.b, w2.n, arena, &f, &err), SL_OK);
    cr_assert_eq(f.n_allowed, 38);
    cr_assert_str_eq(f.allowed[36], "v36");
    cr_assert_str_eq(f.allowed[37], "last");
}

Test(contracts_wire, allowed_is_bounded) {
    static uint8_t big[16384]; /* 4097 one-byte strings */
    size_t n = 0;
    for (int i = 0; i < SL_CT_MAX_ALLOWED + 1; i++) {
        big[n++] = 0x32;
        big[n++] = 0x01;
        big[n++] = 'x';
    }
    sl_ct_field_t f;
    sl_error_t err;
    memset(&f, 0, sizeof(f));
    cr_assert_eq(sl_ct_parse_rules(big, n, arena, &f, &err), SL_REJECT);
    cr_assert_str_eq(err.code, "contracts_bad_option");
    cr_assert_eq(sl_ct_parse_rules(big, n - 3, arena, &f, &err), SL_REJECT); /* 4096 + 4096 */
    memset(&f, 0, sizeof(f));
    cr_assert_eq(sl_ct_parse_rules(big, n - 3, arena, &f, &err), SL_OK);
    cr_assert_eq(f.n_allowed, SL_CT_MAX_ALLOWED);
}

Test(contracts_wire, malformed_rules_are_refused) {
    sl_ct_field_t f;
    static const uint8_t truncated_varint[] = {0x10, 0x80};
    RULES_BAD(truncated_varint, &f);
    static const uint8_t overlong[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    RULES_BAD(overlong, &f);
    static const uint8_t over_uint32[] = {0x10, 0x80, 0x80, 0x80, 0x80, 0x10};
    RULES_BAD(over_uint32, &f);
    static const uint8_t allowed_as_varint[] = {0x30, 0x01};
    RULES_BAD(allowed_as_varint, &f);
    static const uint8_t range_as_varint[] = {0x20, 0x01};
    RULES_BAD(range_as_varint, &f);
    static const uint8_t bad_utf8[] = {0x32, 0x02, 0xc3, 0x28};
    RULES_BAD(bad_utf8, &f);
    static const uint8_t surrogate[] = {0x32, 0x03, 0xed, 0xa0, 0x80};
    RULES_BAD(surrogate, &f);
    static const uint8_t nul[] = {0x32, 0x01, 0x00};
    RULES_BAD(nul, &f);
    static const uint8_t len_past_end[] = {0x32, 0x05, 'a'};
    RULES_BAD(len_past_end, &f);
    static const uint8_t group[] = {0x4b, 0x4c};
    RULES_BAD(group, &f);
    static const uint8_t field_zero[] = {0x00, 0x01};
    RULES_BAD(field_zero, &f);
    static const uint8_t unknown_format[] = {0x28, 0x08};
    RULES_BAD(unknown_format, &f);
    static const uint8_t negative_pii[] = {0x40, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0x01};
    RULES_BAD(negative_pii, &f);
    static const uint8_t fixed_double_short[] = {0x22, 0x05, 0x09, 0, 0, 0, 0};
    RULES_BAD(fixed_double_short, &f);
    static const uint8_t packed_double_odd[] = {0x22, 0x05, 0x0a, 0x03, 0, 0, 0};
    RULES_BAD(packed_double_odd, &f);
}

Test(contracts_wire, unknown_fields_are_skipped) {
    sl_ct_field_t f;
    /* field 99 varint, field 100 fixed32, field 101 fixed64, field 102 bytes, then required */
    static const uint8_t newer[] = {0x98, 0x06, 0x01, 0xa5, 0x06, 1,    2,   3, 4,
                                    0xa9, 0x06, 1,    2,    3,    4,    5,   6, 7,
                                    8,    0xb2, 0x06, 0x01, 'z',  0x08, 0x01};
    RULES_OK(newer, &f);
    cr_assert(f.required);
}

Test(contracts_wire, contract) {
    sl_ct_contract_opt_t opt = {0};
    sl_error_t err;
    static const uint8_t ok[] = {0x0a, 0x04, 'p', 'i', 'n', 'g', 0x10, 0x05};
    cr_assert_eq(sl_ct_parse_contract(ok, sizeof(ok), arena, &opt, &err), SL_OK);
    cr_assert_str_eq(opt.type, "ping");
    cr_assert_eq(opt.stage, SL_STAGE_OUTCOMES);
    cr_assert_eq(opt.unknown_fields, SL_UNKNOWN_DEFAULT);
    static const uint8_t strip[] = {0x18, 0x02};
    cr_assert_eq(sl_ct_parse_contract(strip, sizeof(strip), arena, &opt, &err), SL_OK);
    cr_assert_eq(opt.unknown_fields, SL_UNKNOWN_STRIP);
    static const uint8_t bad_policy[] = {0x18, 0x03};
    cr_assert_eq(sl_ct_parse_contract(bad_policy, sizeof(bad_policy), arena, &opt, &err),
                 SL_REJECT);

    static const uint8_t space[] = {0x0a, 0x03, 'a', ' ', 'b'};
    cr_assert_eq(sl_ct_parse_contract(space, sizeof(space), arena, &opt, &err), SL_REJECT);
    static const uint8_t bad_stage[] = {0x10, 0x06};
    cr_assert_eq(sl_ct_parse_contract(bad_stage, sizeof(bad_stage), arena, &opt, &err), SL_REJECT);
    static const uint8_t type_varint[] = {0x08, 0x01};
    cr_assert_eq(sl_ct_parse_contract(type_varint, sizeof(type_varint), arena, &opt, &err),
                 SL_REJECT);
    char longest[SL_CT_MAX_EVENT_TYPE + 1];
    memset(longest, 'a', sizeof(longest));
    buf_t w = {0};
    put_len(&w, 1, longest, SL_CT_MAX_EVENT_TYPE);
    cr_assert_eq(sl_ct_parse_contract(w.b, w.n, arena, &opt, &err), SL_OK);
    cr_assert_eq(strlen(opt.type), SL_CT_MAX_EVENT_TYPE);
    w.n = 0;
    put_len(&w, 1, longest, SL_CT_MAX_EVENT_TYPE + 1);
    cr_assert_eq(sl_ct_parse_contract(w.b, w.n, arena, &opt, &err), SL_REJECT);
    opt.type = NULL;
    static const uint8_t empty_type[] = {0x0a, 0x00, 0x10, 0x01};
    cr_assert_eq(sl_ct_parse_contract(empty_type, sizeof(empty_type), arena, &opt, &err), SL_OK);
    cr_assert_null(opt.type);
}

/* A FileDescriptorSet with messages nested depth deep. */
static void nested_set(buf_t *out, int depth) {
    static buf_t a, b;
    a.n = 0;
    put_len(&a, 1, "M", 1); /* DescriptorProto.name */
    for (int i = 1; i < depth; i++) {
        b.n = 0;
        put_len(&b, 1, "M", 1);
        put_len(&b, 3, a.b, a.n); /* nested_type */
        a = b;
    }
    b.n = 0;
    put_len(&b, 1, "n.proto", 7);
    put_len(&b, 4, a.b, a.n); /* FileDescriptorProto.message_type */
    out->n = 0;
    put_len(out, 1, b.b, b.n);
}

Test(contracts_wire, nesting_is_bounded_before_unpacking) {
    static buf_t set;
    sl_error_t err;
    nested_set(&set, SL_CT_MAX_NESTING);
    cr_assert_eq(sl_ct_check_nesting(set.b, set.n, SL_CT_MAX_NESTING, &err), SL_OK, "%s",
                 err.message);
    sl_contracts_t *c = NULL;
    cr_assert_eq(sl_contracts_load_mem(set.b, set.n, "nested", &c, &err), SL_OK, "%s", err.message);
    cr_assert_not_null(sl_contracts_message(c, "M.M.M"));
    sl_contracts_unref(c);

    nested_set(&set, SL_CT_MAX_NESTING + 2);
    cr_assert_eq(sl_ct_check_nesting(set.b, set.n, SL_CT_MAX_NESTING, &err), SL_REJECT);
    cr_assert_eq(sl_contracts_load_mem(set.b, set.n, "nested", &c, &err), SL_REJECT);
    cr_assert_null(c);
    cr_assert_str_eq(err.code, "contracts_format");
    cr_assert_not_null(strstr(err.message, "nested"), "%s", err.message);
}

Test(contracts_wire, fuzz_entry_survives_noise) {
    uint64_t x = 0x9e3779b97f4a7c15u;
    uint8_t data[96];
    for (int round = 0; round < 5000; round++) {
        size_t n = (size_t)(round % (int)sizeof(data));
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data[i] = (uint8_t)x;
        }
        cr_assert_eq(sl_ct_fuzz_options(data, n), 0);
        sl_contracts_t *c = NULL;
        if (sl_contracts_load_mem(data, n, "noise", &c, NULL) == SL_OK) {
            sl_contracts_unref(c);
        }
    }
}

Test(contracts_wire, unpack_is_bounded_by_a_byte_budget) {
    /* One file with 2^20 empty message declarations: 2 bytes each on the wire, ~150 unpacked. */
    size_t n = (size_t)1 << 20;
    size_t body = 3 + 2 * n;
    uint8_t *set = malloc(body + 16);
    cr_assert_not_null(set);
    size_t o = 0;
    set[o++] = 0x0a;
    for (size_t v = body;; v >>= 7) { /* length of the file entry */
        set[o++] = (uint8_t)(v < 0x80 ? v : (v & 0x7f) | 0x80);
        if (v < 0x80) {
            break;
        }
    }
    set[o++] = 0x0a;
    set[o++] = 0x01;
    set[o++] = 'f';
    for (size_t i = 0; i < n; i++) {
        set[o++] = 0x22;
        set[o++] = 0x00;
    }
    sl_contracts_t *c = NULL;
    sl_error_t err;
    cr_assert_eq(sl_contracts_load_mem(set, o, "wide", &c, &err), SL_REJECT);
    cr_assert_null(c);
    cr_assert_str_eq(err.code, "contracts_format");
    cr_assert_not_null(strstr(err.message, "unpacked"), "%s", err.message);
    free(set);
}
