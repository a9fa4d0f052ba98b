#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"

static void check_growth(sl_arena_t *arena) {
    sl_buf_t b;
    sl_buf_init(&b, arena, 4);
    char expect[5000];
    size_t n = 0;
    for (int i = 0; i < 400; i++) {
        char chunk[16];
        int w = snprintf(chunk, sizeof(chunk), "%d,", i);
        sl_buf_append(&b, chunk, (size_t)w);
        memcpy(expect + n, chunk, (size_t)w);
        n += (size_t)w;
    }
    expect[n] = '\0';
    cr_assert(eq(sz, b.len, n));
    cr_assert(b.cap > b.len);
    cr_assert(eq(str, (char *)sl_buf_cstr(&b), expect));
    cr_assert(eq(sz, strlen(sl_buf_cstr(&b)), b.len), "cstr adds a NUL not counted in len");
    sl_buf_free(&b);
}

Test(buf, append_grows_in_arena) {
    sl_arena_t *a = sl_arena_new(256);
    check_growth(a);
    sl_arena_destroy(a);
}

Test(buf, append_grows_on_heap) {
    check_growth(NULL);
}

static void check_printf(sl_arena_t *arena) {
    sl_buf_t b;
    sl_buf_init(&b, arena, 0);
    sl_buf_puts(&b, "start:");
    char big[3001];
    memset(big, 'q', 3000);
    big[3000] = '\0';
    sl_buf_printf(&b, "%d-%s-%s", 42, "mid", big);
    cr_assert(eq(sz, b.len, 6 + 7 + 3000));
    const char *s = sl_buf_cstr(&b);
    cr_assert(strncmp(s, "start:42-mid-qqq", 16) == 0);
    cr_assert(eq(chr, s[b.len - 1], 'q'));
    cr_assert(eq(chr, s[b.len], '\0'));
    /* Many small printfs, each exactly filling what is left. */
    sl_buf_t c;
    sl_buf_init(&c, arena, 64);
    for (int i = 0; i < 200; i++) {
        sl_buf_printf(&c, "%07d", i);
    }
    cr_assert(eq(sz, c.len, 1400));
    cr_assert(strncmp(sl_buf_cstr(&c) + 1393, "0000199", 7) == 0);
    sl_buf_free(&b);
    sl_buf_free(&c);
}

Test(buf, printf_grows_in_arena) {
    sl_arena_t *a = sl_arena_new(256);
    check_printf(a);
    sl_arena_destroy(a);
}

Test(buf, printf_grows_on_heap) {
    check_printf(NULL);
}

Test(buf, json_string_escapes_quotes_and_backslashes) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 8);
    const char *in = "say \"hi\" \\ back";
    sl_buf_json_string(&b, in, strlen(in));
    cr_assert(eq(str, (char *)sl_buf_cstr(&b), "\"say \\\"hi\\\" \\\\ back\""));
    sl_buf_free(&b);
}

Test(buf, json_string_escapes_control_chars) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 8);
    const char in[] = "a\nb\tc\x01\x1f\x7f\xc3\xa9 z";
    size_t n = sizeof(in) - 1;
    sl_buf_json_string(&b, in, n);
    const char *out = sl_buf_cstr(&b);
    for (size_t i = 0; i < b.len; i++) {
        cr_assert(true && (unsigned char)out[i] >= 0x20, "raw control byte 0x%02x at %zu in %s",
                  (unsigned char)out[i], i, out);
    }
    /* A JSON parser gets back exactly the input bytes. */
    json_error_t jerr;
    json_t *j = json_loadb(out, b.len, JSON_DECODE_ANY, &jerr);
    cr_assert(j != NULL, "not valid JSON: %s: %s", jerr.text, out);
    cr_assert(true && json_is_string(j));
    cr_assert(eq(sz, json_string_length(j), n));
    cr_assert(memcmp(json_string_value(j), in, n) == 0);
    json_decref(j);
    sl_buf_free(&b);
}

Test(buf, json_string_embedded_nul_and_growth) {
    sl_arena_t *a = sl_arena_new(256);
    sl_buf_t b;
    sl_buf_init(&b, a, 0);
    char in[2000];
    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (char)(i % 64); /* half control bytes: every one grows by 6 */
    }
    sl_buf_json_string(&b, in, sizeof(in));
    json_error_t jerr;
    json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    cr_assert(j != NULL, "not valid JSON: %s", jerr.text);
    cr_assert(eq(sz, json_string_length(j), sizeof(in)));
    cr_assert(memcmp(json_string_value(j), in, sizeof(in)) == 0);
    json_decref(j);
    sl_arena_destroy(a);
}

Test(buf, json_string_empty) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 0);
    sl_buf_json_string(&b, "", 0);
    cr_assert(eq(str, (char *)sl_buf_cstr(&b), "\"\""));
    sl_buf_free(&b);
}

Test(buf, put_uint_matches_printf) {
    const uint64_t values[] = {0, 7, 9, 10, 99, 100, 1234567890, UINT64_MAX};
    sl_buf_t b;
    sl_buf_init(&b, NULL, 4);
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        b.len = 0;
        sl_buf_put_uint(&b, values[i]);
        char want[24];
        snprintf(want, sizeof(want), "%llu", (unsigned long long)values[i]);
        cr_assert(eq(str, (char *)sl_buf_cstr(&b), want));
    }
    sl_buf_free(&b);
}

/* Every byte value at every position of a 17-byte string (two 8-byte words and a tail, so the
 * word-at-a-time scan and the byte loop both meet it), against a byte-by-byte reference. */
Test(buf, json_string_every_byte_at_every_position) {
    sl_buf_t b, want;
    sl_buf_init(&b, NULL, 8);
    sl_buf_init(&want, NULL, 8);
    for (int pos = 0; pos < 17; pos++) {
        for (int v = 0; v < 256; v++) {
            char in[17];
            memset(in, 'a' + (pos % 3), sizeof(in));
            in[pos] = (char)v;
            b.len = want.len = 0;
            sl_buf_json_string(&b, in, sizeof(in));
            sl_buf_puts(&want, "\"");
            for (size_t i = 0; i < sizeof(in); i++) {
                unsigned char c = (unsigned char)in[i];
                if (c == '"' || c == '\\') {
                    char esc[2] = {'\\', (char)c};
                    sl_buf_append(&want, esc, 2);
                } else if (c < 0x20) {
                    sl_buf_printf(&want, "\\u%04x", c);
                } else {
                    sl_buf_append(&want, &in[i], 1);
                }
            }
            sl_buf_puts(&want, "\"");
            cr_assert(eq(sz, b.len, want.len), "byte 0x%02x at %d", v, pos);
            cr_assert(memcmp(b.data, want.data, b.len) == 0, "byte 0x%02x at %d", v, pos);
        }
    }
    sl_buf_free(&b);
    sl_buf_free(&want);
}
