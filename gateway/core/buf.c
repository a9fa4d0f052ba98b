#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_buf_init(sl_buf_t *b, sl_arena_t *arena, size_t cap) {
    if (cap < 64) {
        cap = 64;
    }
    b->arena = arena;
    b->len = 0;
    b->cap = cap;
    b->data = arena != NULL ? sl_arena_alloc(arena, cap) : malloc(cap);
    if (b->data == NULL) {
        abort();
    }
}

static void reserve(sl_buf_t *b, size_t extra) {
    if (b->cap - b->len > extra) {
        return;
    }
    size_t cap = b->cap * 2;
    while (cap - b->len <= extra) {
        cap *= 2;
    }
    char *p;
    if (b->arena != NULL) {
        p = sl_arena_alloc(b->arena, cap);
        memcpy(p, b->data, b->len);
    } else {
        p = realloc(b->data, cap);
        if (p == NULL) {
            abort();
        }
    }
    b->data = p;
    b->cap = cap;
}

void sl_buf_append(sl_buf_t *b, const void *p, size_t n) {
    reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void sl_buf_puts(sl_buf_t *b, const char *s) {
    sl_buf_append(b, s, strlen(s));
}

void sl_buf_printf(sl_buf_t *b, const char *fmt, ...) {
    /* Formatted once into the room there is; a second time only when it did not fit. */
    size_t room = b->cap - b->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room > 0 ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n <= 0) {
        return;
    }
    if ((size_t)n >= room) {
        reserve(b, (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void sl_buf_put_uint(sl_buf_t *b, uint64_t v) {
    char tmp[20];
    size_t n = 0;
    do {
        tmp[sizeof(tmp) - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    sl_buf_append(b, tmp + sizeof(tmp) - n, n);
}

/* The length of the prefix of s (n bytes) with nothing to escape in JSON: no byte < 0x20, '"'
 * or '\\'. Eight bytes at a time (SWAR): a byte's high bit in the mask is set when that byte is
 * below 0x20 or equal to one of the two; bytes >= 0x80 never set it. */
static size_t clean_prefix(const char *s, size_t n) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        uint64_t quote = x ^ (ones * '"'), slash = x ^ (ones * '\\');
        uint64_t hit = ((x - ones * 0x20) | (quote - ones) | (slash - ones)) & ~x & highs;
        if (hit != 0) {
            break; /* the exact byte is found below */
        }
    }
    while (i < n && (unsigned char)s[i] >= 0x20 && s[i] != '"' && s[i] != '\\') {
        i++;
    }
    return i;
}

void sl_buf_json_string(sl_buf_t *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    reserve(b, n + 2);
    size_t clean = n > 0 ? clean_prefix(s, n) : 0; /* the common case: one copy */
    b->data[b->len++] = '"';
    memcpy(b->data + b->len, s, clean);
    b->len += clean;
    if (clean == n) {
        b->data[b->len++] = '"';
        return;
    }
    size_t run = clean; /* start of the bytes not yet copied: copied in runs, not one by one */
    for (size_t i = clean; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '"' && c != '\\' && c >= 0x20) {
            continue;
        }
        sl_buf_append(b, s + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sl_buf_append(b, esc, 2);
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sl_buf_append(b, esc, 6);
        }
    }
    sl_buf_append(b, s + run, n - run);
    sl_buf_append(b, "\"", 1);
}

const char *sl_buf_cstr(sl_buf_t *b) {
    reserve(b, 1);
    b->data[b->len] = '\0';
    return b->data;
}

void sl_buf_free(sl_buf_t *b) {
    if (b->arena == NULL) {
        free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}
