/* core/num and core/base64: the number and bytes forms canonical output is built from. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/num.h"

/* The definition: the fewest %g digits that read back. */
static void reference(double v, char *out) {
    for (int p = 1; p <= 17; p++) {
        snprintf(out, 40, "%.*g", p, v);
        if (strtod(out, NULL) == v) {
            return;
        }
    }
}

/* Significant digits of a %g-style number: leading and trailing zeros do not count. */
static size_t sig_digits(const char *s) {
    char d[40];
    size_t n = 0;
    for (const char *p = s; *p && *p != 'e'; p++) {
        if (*p >= '0' && *p <= '9') {
            d[n++] = *p;
        }
    }
    size_t a = 0;
    while (a < n && d[a] == '0') {
        a++;
    }
    while (n > a && d[n - 1] == '0') {
        n--;
    }
    return n - a;
}

Test(num, doubles_known) {
    const struct {
        double v;
        const char *want;
    } cases[] = {{0.1, "0.1"},       {19.99, "19.99"},
                 {-2.5, "-2.5"},     {1e21, "1e+21"},
                 {1e15, "1e+15"},    {123456789012345.0, "123456789012345"},
                 {0.0001, "0.0001"}, {0.00001, "1e-05"},
                 {5e-324, "5e-324"}, {0.1 + 0.2, "0.30000000000000004"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[40];
        sl_num_double(cases[i].v, out);
        cr_assert(eq(str, out, (char *)cases[i].want));
    }
    char out[40];
    sl_num_double(NAN, out);
    cr_assert(eq(str, out, "NaN"));
    sl_num_double(-INFINITY, out);
    cr_assert(eq(str, out, "-Infinity"));
}

Test(num, doubles_read_back_and_are_short) {
    srand(7);
    for (int i = 0; i < 200000; i++) {
        double v;
        if (i % 2 == 0) {
            v = (double)(rand() % 10000000) / pow(10, rand() % 9) * (i % 4 ? 1 : -1);
        } else {
            uint64_t bits = (uint64_t)rand() << 33 ^ (uint64_t)rand() << 11 ^ (uint64_t)rand();
            memcpy(&v, &bits, sizeof(v));
            if (!isfinite(v)) {
                continue;
            }
        }
        char out[40], ref[40];
        sl_num_double(v, out);
        cr_assert(eq(dbl, strtod(out, NULL), v), "%s does not read back", out);
        reference(v, ref);
        /* As few significant digits as the definition (notation may differ: 8136000 is
         * written out where %g would say 8.136e+06). */
        size_t digits = sig_digits(out), ref_digits = sig_digits(ref);
        cr_assert(le(sz, digits, ref_digits), "%s is longer than %s", out, ref);
    }
}

Test(num, floats) {
    char out[40];
    sl_num_float(0.1f, out);
    cr_assert(eq(str, out, "0.1"));
    sl_num_float(FLT_MAX, out);
    cr_assert(eq(str, out, "3.4028235e+38"));
    sl_num_float(1e-45f, out);
    cr_assert(eq(str, out, "1e-45"));
}

Test(num, canonical_decimal_text) {
    const char *yes[] = {"19.99", "0", "-2.5", "0.5", "0.0001", "123456789012345"};
    const char *no[] = {"1e3", "1.0",   "1.",   "00.5", "0.00001", "1234567890123456",
                        "-0",  "0.000", "1.50", ".5"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        cr_assert(sl_num_is_canonical_decimal(yes[i], strlen(yes[i])), "%s", yes[i]);
        char out[40];
        sl_num_double(strtod(yes[i], NULL), out);
        cr_assert(eq(str, out, (char *)yes[i]), "canonical text must be what is written");
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        cr_assert(not(sl_num_is_canonical_decimal(no[i], strlen(no[i]))), "%s", no[i]);
    }
}

Test(num, integers) {
    char out[24];
    sl_num_i64(INT64_MIN, out);
    cr_assert(eq(str, out, "-9223372036854775808"));
    sl_num_u64(UINT64_MAX, out);
    cr_assert(eq(str, out, "18446744073709551615"));
    sl_num_i64(0, out);
    cr_assert(eq(str, out, "0"));
}

Test(base64, round_trip_and_alphabets) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 16);
    const uint8_t data[] = {0xfb, 0xff, 0xbf, 0x01};
    for (size_t n = 0; n <= sizeof(data); n++) {
        b.len = 0;
        sl_base64_encode(&b, data, n);
        uint8_t back[8];
        long len = sl_base64_decode(b.data, b.len, back);
        cr_assert(eq(long, len, (long)n));
        cr_assert(memcmp(back, data, n) == 0);
    }
    cr_assert(eq(str, (char *)sl_buf_cstr(&b), "+/+/AQ=="));
    uint8_t out[8];
    cr_assert(eq(long, sl_base64_decode("-_-_AQ", 6, out), 4), "URL-safe, unpadded");
    cr_assert(memcmp(out, data, 4) == 0);
    cr_assert(eq(long, sl_base64_decode("a", 1, out), -1));
    cr_assert(eq(long, sl_base64_decode("ab!d", 4, out), -1));
    sl_buf_free(&b);
}
