/* policy/actions: hmac, mask, truncate_ip, coarsen — the field-level redaction actions. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/actions.h"

/* 32 bytes: the shortest key accepted. */
static const uint8_t KEY[] = "0123456789abcdef0123456789abcdef";
static const uint8_t KEY2[] = "fedcba9876543210fedcba9876543210";
#define KEY_LEN 32

/* Known answers, computed once with the OpenSSL CLI:
 *   printf '%s' INPUT | openssl dgst -sha256 -hmac KEY -binary | head -c16 | base64 \
 *     | tr '+/' '-_' | tr -d '='                                                          */
#define MAC_EMAIL_KEY1 "Yof1wWlU6KrOTiwTVvUhtg" /* "jean.dupont@exemple.fr", KEY */
#define MAC_EMPTY_KEY1 "eWzTB4rxRjZ1PSaztVVUIg" /* "", KEY */
#define MAC_CAFE_KEY1 "83hjnGrOo4tDaRw-IzRfPQ"  /* "café" (UTF-8), KEY */
#define MAC_EMAIL_KEY2 "jMeSaPmHjidV_wEjnYxyuQ" /* "jean.dupont@exemple.fr", KEY2 */

static const char EMAIL[] = "jean.dupont@exemple.fr";

/* Runs f's output into a fresh heap buffer and returns it NUL-terminated (static storage). */
static char result[512];

static const char *hmac(const uint8_t *key, size_t key_len, const char *kid, const char *in,
                        size_t n, sl_status_t *st) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 0);
    *st = sl_redact_hmac(key, key_len, kid, in, n, &b);
    snprintf(result, sizeof(result), "%s", b.len ? sl_buf_cstr(&b) : "");
    sl_buf_free(&b);
    return result;
}

static const char *mask(const char *in, size_t keep) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 0);
    sl_redact_mask(in, strlen(in), keep, &b);
    snprintf(result, sizeof(result), "%s", b.len ? sl_buf_cstr(&b) : "");
    sl_buf_free(&b);
    return result;
}

static sl_status_t trunc_ip(const char *in, const char **got) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 0);
    sl_status_t st = sl_redact_truncate_ip(in, strlen(in), &b);
    snprintf(result, sizeof(result), "%s", b.len ? sl_buf_cstr(&b) : "");
    sl_buf_free(&b);
    *got = result;
    return st;
}

/* --- hmac ------------------------------------------------------------------------------------ */

Test(hmac, known_answers) {
    sl_status_t st;
    cr_assert(
        eq(str, (char *)hmac(KEY, KEY_LEN, "k1", EMAIL, strlen(EMAIL), &st), "k1:" MAC_EMAIL_KEY1));
    cr_assert(eq(int, st, SL_OK));
    cr_assert(eq(str, (char *)hmac(KEY, KEY_LEN, "k1", "", 0, &st), "k1:" MAC_EMPTY_KEY1));
    cr_assert(eq(str, (char *)hmac(KEY, KEY_LEN, "k1", NULL, 0, &st), "k1:" MAC_EMPTY_KEY1));
    cr_assert(eq(str, (char *)hmac(KEY, KEY_LEN, "k1", "café", strlen("café"), &st),
                 "k1:" MAC_CAFE_KEY1));
    cr_assert(eq(str, (char *)hmac(KEY2, KEY_LEN, "k2", EMAIL, strlen(EMAIL), &st),
                 "k2:" MAC_EMAIL_KEY2));
}

Test(hmac, stable_and_reads_only_n_bytes) {
    sl_status_t st;
    char a[128];
    snprintf(a, sizeof(a), "%s", hmac(KEY, KEY_LEN, "2026a", EMAIL, strlen(EMAIL), &st));
    /* Same input and key, another call (a restart is just another call: no state). */
    cr_assert(eq(str, (char *)hmac(KEY, KEY_LEN, "2026a", EMAIL, strlen(EMAIL), &st), a));
    /* The input is (ptr, len): bytes past len do not count. */
    char longer[64];
    snprintf(longer, sizeof(longer), "%s-and-more", EMAIL);
    cr_assert(eq(str, (char *)hmac(KEY, KEY_LEN, "2026a", longer, strlen(EMAIL), &st), a));
    cr_assert(eq(sz, strlen(a), strlen("2026a:") + SL_REDACT_HMAC_TOKEN_CHARS));
    for (const char *p = a + strlen("2026a:"); *p; p++) {
        cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p) !=
                  NULL);
    }
}

Test(hmac, different_key_or_key_id_different_token) {
    sl_status_t st;
    char a[128];
    snprintf(a, sizeof(a), "%s", hmac(KEY, KEY_LEN, "k1", EMAIL, strlen(EMAIL), &st));
    cr_assert(ne(str, (char *)hmac(KEY2, KEY_LEN, "k1", EMAIL, strlen(EMAIL), &st), a));
    cr_assert(ne(str, (char *)hmac(KEY, KEY_LEN, "k2", EMAIL, strlen(EMAIL), &st), a));
    cr_assert(
        ne(str, (char *)hmac(KEY, KEY_LEN, "k1", "jean.dupont@exemple.fR", strlen(EMAIL), &st), a));
    /* A longer key is a different key, not the first 32 bytes of it. */
    uint8_t k40[40];
    for (size_t i = 0; i < KEY_LEN; i++) {
        k40[i] = KEY[i];
    }
    memset(k40 + 32, 'x', 8);
    cr_assert(ne(str, (char *)hmac(k40, sizeof(k40), "k1", EMAIL, strlen(EMAIL), &st), a));
    cr_assert(eq(int, st, SL_OK));
}

Test(hmac, short_key_and_bad_key_id_refused) {
    sl_status_t st;
    cr_assert(eq(str, (char *)hmac(KEY, 31, "k1", EMAIL, strlen(EMAIL), &st), ""));
    cr_assert(eq(int, st, SL_REJECT));
    hmac(KEY, 0, "k1", EMAIL, strlen(EMAIL), &st);
    cr_assert(eq(int, st, SL_REJECT));
    hmac(NULL, 32, "k1", EMAIL, strlen(EMAIL), &st);
    cr_assert(eq(int, st, SL_REJECT));
    char id64[SL_REDACT_KEY_ID_MAX + 2];
    memset(id64, 'k', sizeof(id64));
    id64[SL_REDACT_KEY_ID_MAX + 1] = '\0'; /* 65 characters: one too many */
    const char *bad_ids[] = {NULL, "", "a:b", "with space", "é", "k\"1", id64};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        cr_assert(eq(str, (char *)hmac(KEY, KEY_LEN, bad_ids[i], EMAIL, strlen(EMAIL), &st), ""));
        cr_assert(eq(int, st, SL_REJECT), "key id %zu", i);
    }
    /* 64 characters is the limit, and every allowed character passes. */
    id64[SL_REDACT_KEY_ID_MAX] = '\0';
    hmac(KEY, KEY_LEN, id64, EMAIL, strlen(EMAIL), &st);
    cr_assert(eq(int, st, SL_OK));
    hmac(KEY, KEY_LEN, "Key_2026-11.a", EMAIL, strlen(EMAIL), &st);
    cr_assert(eq(int, st, SL_OK));
}

Test(hmac, appends) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 0);
    sl_buf_puts(&b, "x=");
    cr_assert(eq(int, sl_redact_hmac(KEY, KEY_LEN, "k1", EMAIL, strlen(EMAIL), &b), SL_OK));
    cr_assert(eq(str, (char *)sl_buf_cstr(&b), "x=k1:" MAC_EMAIL_KEY1));
    sl_buf_free(&b);
}

/* --- mask ------------------------------------------------------------------------------------ */

Test(mask, ascii) {
    cr_assert(eq(str, (char *)mask("0612345678", 2), "********78"));
    cr_assert(eq(str, (char *)mask("secret", 0), "******"));
    cr_assert(eq(str, (char *)mask("abc", 3), "abc"));
    cr_assert(eq(str, (char *)mask("abc", 10), "abc"));
    cr_assert(eq(str, (char *)mask("", 2), ""));
    cr_assert(eq(str, (char *)mask("", 0), ""));
}

Test(mask, counts_code_points) {
    /* é is 2 bytes, € 3, 😀 4: one '*' each, and kept whole. */
    cr_assert(eq(str, (char *)mask("José", 1), "***é"));
    cr_assert(eq(str, (char *)mask("éé", 0), "**"));
    cr_assert(eq(str, (char *)mask("été", 1), "**é"));
    cr_assert(eq(str, (char *)mask("€100", 2), "**00"));
    cr_assert(eq(str, (char *)mask("a😀b😀", 2), "**b😀"));
    cr_assert(eq(str, (char *)mask("😀😀😀", 1), "**😀"));
    cr_assert(eq(str, (char *)mask("Zoë Müller", 3), "*******ler"));
}

Test(mask, long_input) {
    char in[300];
    memset(in, 'a', 299);
    in[299] = '\0';
    const char *got = mask(in, 4);
    cr_assert(eq(sz, strlen(got), 299));
    for (size_t i = 0; i < 295; i++) {
        cr_assert(eq(chr, got[i], '*'));
    }
    cr_assert(eq(str, (char *)got + 295, "aaaa"));
}

Test(mask, reads_only_n_bytes) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 0);
    sl_redact_mask("abcdefXYZ", 6, 2, &b);
    cr_assert(eq(str, (char *)sl_buf_cstr(&b), "****ef"));
    sl_buf_free(&b);
}

/* --- truncate_ip ----------------------------------------------------------------------------- */

static void ip_ok(const char *in, const char *want) {
    const char *got;
    sl_status_t st = trunc_ip(in, &got);
    cr_assert(eq(int, st, SL_OK), "%s refused", in);
    cr_assert(eq(str, (char *)got, (char *)want), "%s", in);
}

static void ip_refused(const char *in) {
    const char *got;
    sl_status_t st = trunc_ip(in, &got);
    cr_assert(eq(int, st, SL_REJECT), "%s accepted as %s", in, got);
    cr_assert(eq(str, (char *)got, ""), "%s appended something", in);
}

Test(truncate_ip, ipv4) {
    ip_ok("203.0.113.77", "203.0.113.0");
    ip_ok("192.168.1.1", "192.168.1.0");
    ip_ok("10.0.0.0", "10.0.0.0");
    ip_ok("255.255.255.255", "255.255.255.0");
    ip_ok("0.0.0.0", "0.0.0.0");
}

Test(truncate_ip, ipv6) {
    /* full, upper case, compressed, loopback, unspecified: /48 in RFC 5952 form */
    ip_ok("2001:0DB8:85A3:0000:0000:8A2E:0370:7334", "2001:db8:85a3::");
    ip_ok("2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3::");
    ip_ok("2001:db8::1", "2001:db8::");
    ip_ok("2001:0:0:1::1", "2001::");
    ip_ok("2a00:1450:4007:80f::200e", "2a00:1450:4007::");
    ip_ok("::1", "::");
    ip_ok("::", "::");
    ip_ok("fe80::1", "fe80::");
    ip_ok("1:2:3:4:5:6:7:8", "1:2:3::");
    ip_ok("0:0:1:2:3:4:5:6", "0:0:1::");
}

Test(truncate_ip, zone_dropped) {
    ip_ok("fe80::1%eth0", "fe80::");
    ip_ok("fe80::abcd:1234%en0", "fe80::");
    ip_ok("2001:db8:1:2::1%25", "2001:db8:1::");
    ip_refused("fe80::1%");
    ip_refused("fe80::1%eth 0");
    ip_refused("fe80::1%eth0%1");
    ip_refused("203.0.113.77%eth0"); /* zones are an IPv6 thing */
}

Test(truncate_ip, ipv4_mapped) {
    ip_ok("::ffff:203.0.113.77", "::ffff:203.0.113.0");
    ip_ok("::FFFF:203.0.113.77", "::ffff:203.0.113.0");
    ip_ok("::ffff:cb00:714d", "::ffff:203.0.113.0"); /* the same address in hex */
    ip_ok("0:0:0:0:0:ffff:192.168.10.20", "::ffff:192.168.10.0");
    ip_ok("::ffff:203.0.113.77%eth0", "::ffff:203.0.113.0");
}

Test(truncate_ip, six_to_four_keeps_only_ipv4_24) {
    /* 2002:cb00:714d::/48 would still name 203.0.113.77. */
    ip_ok("2002:cb00:714d::1", "2002:cb00:7100::");
    ip_ok("2002:cb00:714d:1234:5678::9", "2002:cb00:7100::");
}

Test(truncate_ip, garbage) {
    const char *bad[] = {"",
                         "localhost",
                         "203.0.113",
                         "203.0.113.256",
                         "203.0.113.77.1",
                         "203.0.113.077",
                         " 203.0.113.77",
                         "203.0.113.77 ",
                         "203.0.113.77:80",
                         "203.0.113.0/24",
                         "[2001:db8::1]",
                         "2001:db8::1::2",
                         "2001:db8:::1",
                         "12345::",
                         "1:2:3:4:5:6:7:8:9",
                         "gggg::1",
                         ":::",
                         "::ffff:203.0.113.256",
                         "0x7f.0.0.1",
                         "2130706433",
                         "jean@exemple.fr",
                         "é"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ip_refused(bad[i]);
    }
    /* an embedded NUL, and a length that cuts the text */
    sl_buf_t b;
    sl_buf_init(&b, NULL, 0);
    cr_assert(eq(int, sl_redact_truncate_ip("1.2.3.4\0.5", 10, &b), SL_REJECT));
    cr_assert(eq(int, sl_redact_truncate_ip("1.2.3.45", 7, &b), SL_OK));
    cr_assert(eq(str, (char *)sl_buf_cstr(&b), "1.2.3.0"));
    sl_buf_free(&b);
    char huge[512];
    memset(huge, '1', sizeof(huge));
    sl_buf_init(&b, NULL, 0);
    cr_assert(eq(int, sl_redact_truncate_ip(huge, sizeof(huge), &b), SL_REJECT));
    cr_assert(eq(int, sl_redact_truncate_ip(NULL, 0, &b), SL_REJECT));
    sl_buf_free(&b);
}

/* --- coarsen --------------------------------------------------------------------------------- */

Test(coarsen, examples) {
    cr_assert(eq(dbl, sl_redact_coarsen(52.520008, 2), 52.52));
    cr_assert(eq(dbl, sl_redact_coarsen(-13.404954, 1), -13.4));
    cr_assert(eq(dbl, sl_redact_coarsen(13.404954, 3), 13.405));
    cr_assert(eq(dbl, sl_redact_coarsen(48.8566, 0), 49.0));
    cr_assert(eq(dbl, sl_redact_coarsen(2.3522, 6), 2.3522)); /* already coarser */
    cr_assert(eq(dbl, sl_redact_coarsen(52.52, 2), 52.52));
}

Test(coarsen, decimal_not_binary_halves) {
    /* The doubles nearest these decimals are just below them: rounding the binary value would
     * go down. */
    cr_assert(eq(dbl, sl_redact_coarsen(1.005, 2), 1.01));
    cr_assert(eq(dbl, sl_redact_coarsen(-1.005, 2), -1.01));
    cr_assert(eq(dbl, sl_redact_coarsen(2.675, 2), 2.68));
    cr_assert(eq(dbl, sl_redact_coarsen(1.0000005, 6), 1.000001));
    cr_assert(eq(dbl, sl_redact_coarsen(0.285, 2), 0.29));
    /* and just below a half stays below */
    cr_assert(eq(dbl, sl_redact_coarsen(1.00499999, 2), 1.0));
    cr_assert(eq(dbl, sl_redact_coarsen(0.49999999999999994, 0), 0.0));
}

Test(coarsen, half_away_from_zero) {
    cr_assert(eq(dbl, sl_redact_coarsen(0.5, 0), 1.0));
    cr_assert(eq(dbl, sl_redact_coarsen(-0.5, 0), -1.0));
    cr_assert(eq(dbl, sl_redact_coarsen(1.5, 0), 2.0));
    cr_assert(eq(dbl, sl_redact_coarsen(2.5, 0), 3.0)); /* not to even */
    cr_assert(eq(dbl, sl_redact_coarsen(-2.5, 0), -3.0));
    cr_assert(eq(dbl, sl_redact_coarsen(0.05, 1), 0.1));
    cr_assert(eq(dbl, sl_redact_coarsen(-0.05, 1), -0.1));
    cr_assert(eq(dbl, sl_redact_coarsen(9.95, 1), 10.0)); /* carry into a new digit */
    cr_assert(eq(dbl, sl_redact_coarsen(-99.9999995, 6), -100.0));
}

Test(coarsen, zero_and_small) {
    cr_assert(eq(dbl, sl_redact_coarsen(0.0, 2), 0.0));
    cr_assert(eq(dbl, sl_redact_coarsen(0.004, 2), 0.0));
    cr_assert(eq(dbl, sl_redact_coarsen(0.005, 2), 0.01));
    cr_assert(eq(dbl, sl_redact_coarsen(1e-7, 6), 0.0));
    cr_assert(eq(dbl, sl_redact_coarsen(5e-7, 6), 1e-6));
    cr_assert(eq(dbl, sl_redact_coarsen(1.5e-5, 6), 1.5e-5));
    /* a result of zero is +0, never -0 */
    double z = sl_redact_coarsen(-0.004, 2);
    cr_assert(eq(dbl, z, 0.0));
    cr_assert(signbit(z) == 0);
    cr_assert(signbit(sl_redact_coarsen(-0.0, 2)) == 0);
}

Test(coarsen, large_and_special) {
    cr_assert(eq(dbl, sl_redact_coarsen(123456789.123456789, 2), 123456789.12));
    cr_assert(eq(dbl, sl_redact_coarsen(-123456789.125, 2), -123456789.13));
    cr_assert(eq(dbl, sl_redact_coarsen(1e15 + 0.5, 0), 1e15 + 1));
    cr_assert(eq(dbl, sl_redact_coarsen(9007199254740993.0, 2), 9007199254740993.0));
    cr_assert(eq(dbl, sl_redact_coarsen(1e300, 6), 1e300));
    cr_assert(eq(dbl, sl_redact_coarsen(-1.7976931348623157e308, 0), -1.7976931348623157e308));
    cr_assert(eq(dbl, sl_redact_coarsen(180.0, 0), 180.0));
    cr_assert(eq(dbl, sl_redact_coarsen(-179.99999, 4), -180.0));
    cr_assert(isnan(sl_redact_coarsen(NAN, 2)));
    cr_assert(eq(dbl, sl_redact_coarsen(INFINITY, 2), INFINITY));
    cr_assert(eq(dbl, sl_redact_coarsen(-INFINITY, 2), -INFINITY));
}

Test(coarsen, decimals_clamped) {
    cr_assert(eq(dbl, sl_redact_coarsen(1.23456789, 9), 1.234568));
    cr_assert(eq(dbl, sl_redact_coarsen(1.6, -3), 2.0));
}

Test(coarsen, result_prints_short) {
    /* The result is the double nearest the rounded decimal, so it prints as that decimal. */
    for (int d = 0; d <= 6; d++) {
        for (int k = 0; k < 2000; k++) {
            double v = -90.0 + k * 0.0901234567;
            double r = sl_redact_coarsen(v, d);
            char s[64];
            snprintf(s, sizeof(s), "%.*f", d, r);
            cr_assert(eq(dbl, strtod(s, NULL), r), "%.17g at %d -> %.17g", v, d, r);
            cr_assert(fabs(r - v) <= 0.5 * pow(10, -d) + 1e-9, "%.17g at %d -> %.17g", v, d, r);
        }
    }
}

Test(actions, prepared_hmac_equals_one_shot) {
    /* Keys of 32 bytes, exactly one block, and longer than a block (hashed first). */
    const char *keys[] = {"0123456789abcdef0123456789abcdef",
                          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                          "a-key-longer-than-the-sha256-block-of-sixty-four-bytes-0123456789-abc"};
    const char *inputs[] = {"", "u-1001", "jane@example.com", "caf\xc3\xa9"};
    for (size_t k = 0; k < 3; k++) {
        sl_hmac_t *h = sl_hmac_new((const uint8_t *)keys[k], strlen(keys[k]), "k9");
        cr_assert(h != NULL);
        for (size_t i = 0; i < 4; i++) {
            sl_buf_t a, b;
            sl_buf_init(&a, NULL, 64);
            sl_buf_init(&b, NULL, 64);
            cr_assert(eq(int, sl_hmac_redact(h, inputs[i], strlen(inputs[i]), &a), SL_OK));
            cr_assert(eq(int,
                         sl_redact_hmac((const uint8_t *)keys[k], strlen(keys[k]), "k9", inputs[i],
                                        strlen(inputs[i]), &b),
                         SL_OK));
            cr_assert(eq(str, (char *)sl_buf_cstr(&a), (char *)sl_buf_cstr(&b)),
                      "key %zu input %zu", k, i);
            sl_buf_free(&a);
            sl_buf_free(&b);
        }
        sl_hmac_free(h);
    }
    cr_assert(sl_hmac_new((const uint8_t *)"short", 5, "k9") == NULL);
    cr_assert(sl_hmac_new((const uint8_t *)keys[0], 32, "bad id") == NULL);
}
