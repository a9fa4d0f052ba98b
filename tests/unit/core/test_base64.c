/* core/base64: its modes, one per kind of caller (proto3 JSON bytes, JWS segments, JWK members,
 * HMAC pseudonyms), and what each refuses. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"

#define URL_NOPAD (SL_BASE64_URL | SL_BASE64_NOPAD)

/* s decoded in mode: its length, and the bytes in out (room for 64). */
static long dec(const char *s, unsigned mode, uint8_t out[64]) {
    return sl_base64_decode_as(s, strlen(s), out, mode);
}

static char *enc(const void *data, size_t n, unsigned mode) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 16);
    sl_base64_encode_as(&b, data, n, mode);
    char *s = strdup(sl_buf_cstr(&b));
    sl_buf_free(&b);
    return s;
}

/* RFC 4648 §10 test vectors. */
static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const padded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                     "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
static const char *const bare[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};

Test(base64, rfc4648_vectors_every_mode) {
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        size_t n = strlen(plain[i]);
        char *s = enc(plain[i], n, SL_BASE64_STD);
        cr_assert(eq(str, s, (char *)padded[i]));
        free(s);
        s = enc(plain[i], n, URL_NOPAD);
        cr_assert(eq(str, s, (char *)bare[i]));
        free(s);
        uint8_t out[64];
        cr_assert(eq(long, dec(padded[i], SL_BASE64_ANY, out), (long)n), "%s", padded[i]);
        cr_assert(memcmp(out, plain[i], n) == 0);
        cr_assert(eq(long, dec(bare[i], SL_BASE64_ANY, out), (long)n), "%s", bare[i]);
        cr_assert(eq(long, dec(bare[i], SL_BASE64_JWS, out), (long)n), "%s", bare[i]);
        cr_assert(memcmp(out, plain[i], n) == 0);
        cr_assert(eq(long, dec(bare[i], URL_NOPAD, out), (long)n), "%s", bare[i]);
    }
}

Test(base64, round_trip_every_length_and_byte) {
    uint8_t data[48], back[64];
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 37 + 0xf0); /* reaches 62 and 63 in both alphabets */
    }
    const unsigned modes[] = {SL_BASE64_STD, SL_BASE64_URL, URL_NOPAD,
                              SL_BASE64_STD | SL_BASE64_NOPAD};
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        for (size_t n = 0; n <= sizeof(data); n++) {
            char *s = enc(data, n, modes[m]);
            cr_assert(eq(long, sl_base64_decode_as(s, strlen(s), back, modes[m]), (long)n),
                      "mode %u: %s", modes[m], s);
            cr_assert(memcmp(back, data, n) == 0);
            /* What the encoder writes is canonical. */
            cr_assert(eq(long,
                         sl_base64_decode_as(s, strlen(s), back, modes[m] | SL_BASE64_CANONICAL),
                         (long)n));
            free(s);
        }
    }
}

Test(base64, alphabets) {
    static const uint8_t fb_ff_bf[] = {0xfb, 0xff, 0xbf};
    uint8_t out[64];
    char *s = enc(fb_ff_bf, 3, SL_BASE64_STD);
    cr_assert(eq(str, s, "+/+/"));
    free(s);
    s = enc(fb_ff_bf, 3, SL_BASE64_URL);
    cr_assert(eq(str, s, "-_-_"));
    free(s);
    /* URL wins when both are asked for: the encoder writes one alphabet. */
    s = enc(fb_ff_bf, 3, SL_BASE64_ANY);
    cr_assert(eq(str, s, "-_-_"));
    free(s);
    cr_assert(eq(long, dec("+/+/", SL_BASE64_STD, out), 3));
    cr_assert(eq(long, dec("-_-_", SL_BASE64_STD, out), -1));
    cr_assert(eq(long, dec("-_-_", SL_BASE64_URL, out), 3));
    cr_assert(eq(long, dec("+/+/", SL_BASE64_URL, out), -1));
    cr_assert(eq(long, dec("+/+/", SL_BASE64_JWS, out), -1));
    /* ANY takes both, even mixed in one string (proto3 JSON readers do). */
    cr_assert(eq(long, dec("-/+_", SL_BASE64_ANY, out), 3));
    cr_assert(memcmp(out, fb_ff_bf, 3) == 0);
    cr_assert(eq(long, sl_base64_decode("-/+_", 4, out), 3), "sl_base64_decode is ANY");
}

Test(base64, padding) {
    uint8_t out[64];
    /* Without NOPAD trailing '=' are ignored, however many (the long-standing reading of
     * proto3 JSON bytes). */
    cr_assert(eq(long, dec("Zg==", SL_BASE64_URL, out), 1));
    cr_assert(eq(long, dec("Zg", SL_BASE64_URL, out), 1));
    cr_assert(eq(long, dec("Zg=", SL_BASE64_ANY, out), 1));
    cr_assert(eq(long, dec("Zg=====", SL_BASE64_ANY, out), 1));
    cr_assert(eq(long, dec("====", SL_BASE64_ANY, out), 0));
    /* With NOPAD, '=' anywhere is a character outside the alphabet. */
    cr_assert(eq(long, dec("Zg==", URL_NOPAD, out), -1));
    cr_assert(eq(long, dec("Zm8=", SL_BASE64_JWS, out), -1));
    cr_assert(eq(long, dec("Zm9v=", SL_BASE64_JWS, out), -1));
    /* '=' inside the string is refused in every mode. */
    cr_assert(eq(long, dec("Zg==Zg==", SL_BASE64_ANY, out), -1));
}

Test(base64, refusals_in_every_mode) {
    const unsigned modes[] = {SL_BASE64_ANY, URL_NOPAD, SL_BASE64_JWS};
    uint8_t out[64];
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        /* A lone last character carries 6 bits: no byte. */
        cr_assert(eq(long, dec("a", modes[m], out), -1));
        cr_assert(eq(long, dec("Zm9vY", modes[m], out), -1));
        cr_assert(eq(long, dec("ab!d", modes[m], out), -1));
        cr_assert(eq(long, dec("ab d", modes[m], out), -1));
        cr_assert(eq(long, dec("ab\nd", modes[m], out), -1));
        cr_assert(eq(long, sl_base64_decode_as("ab\0d", 4, out, modes[m]), -1));
        cr_assert(eq(long, dec("\xc3\xa9", modes[m], out), -1));
        cr_assert(eq(long, dec("", modes[m], out), 0));
    }
}

Test(base64, canonical_refuses_unused_bits) {
    uint8_t out[64];
    /* "Zg" is 'f'; "Zh" .. "Zv" carry the same byte with non-zero unused bits. */
    cr_assert(eq(long, dec("Zg", SL_BASE64_JWS, out), 1));
    cr_assert(eq(long, dec("Zh", SL_BASE64_JWS, out), -1));
    cr_assert(eq(long, dec("Zv", SL_BASE64_JWS, out), -1));
    cr_assert(eq(long, dec("Zm8", SL_BASE64_JWS, out), 2));
    cr_assert(eq(long, dec("Zm9", SL_BASE64_JWS, out), -1));
    /* Without CANONICAL the unused bits are dropped: the same byte. */
    cr_assert(eq(long, dec("Zh", URL_NOPAD, out), 1));
    cr_assert(eq(int, out[0], 'f'));
    cr_assert(eq(long, dec("Zm9", SL_BASE64_ANY, out), 2));
    cr_assert(memcmp(out, "fo", 2) == 0);
}

Test(base64, jws_example_header) {
    /* RFC 7515 §3.3: the JOSE header of the example JWS. */
    static const char seg[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
    static const char json[] = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
    uint8_t out[64];
    cr_assert(eq(long, dec(seg, SL_BASE64_JWS, out), (long)strlen(json)));
    cr_assert(memcmp(out, json, strlen(json)) == 0);
}
