#include "core/base64.h"

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void sl_base64_encode_as(sl_buf_t *out, const uint8_t *data, size_t n, unsigned mode) {
    const char *a = (mode & SL_BASE64_URL) != 0 ? url_alphabet : std_alphabet;
    char quad[4];
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        quad[0] = a[v >> 18];
        quad[1] = a[(v >> 12) & 63];
        quad[2] = a[(v >> 6) & 63];
        quad[3] = a[v & 63];
        sl_buf_append(out, quad, 4);
    }
    if (i < n) {
        int two = i + 1 < n;
        uint32_t v = (uint32_t)data[i] << 16 | (two ? (uint32_t)data[i + 1] << 8 : 0);
        quad[0] = a[v >> 18];
        quad[1] = a[(v >> 12) & 63];
        quad[2] = '=';
        if (two) {
            quad[2] = a[(v >> 6) & 63];
        }
        quad[3] = '=';
        size_t len = (mode & SL_BASE64_NOPAD) != 0 ? (two ? 3 : 2) : 4;
        sl_buf_append(out, quad, len);
    }
}

void sl_base64_encode(sl_buf_t *out, const uint8_t *data, size_t n) {
    sl_base64_encode_as(out, data, n, SL_BASE64_STD);
}

static int value_of(char c, unsigned mode) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if ((mode & SL_BASE64_STD) != 0 && (c == '+' || c == '/')) {
        return c == '+' ? 62 : 63;
    }
    if ((mode & SL_BASE64_URL) != 0 && (c == '-' || c == '_')) {
        return c == '-' ? 62 : 63;
    }
    return -1;
}

long sl_base64_decode_as(const char *s, size_t n, uint8_t *out, unsigned mode) {
    if ((mode & SL_BASE64_NOPAD) == 0) {
        while (n > 0 && s[n - 1] == '=') {
            n--;
        }
    }
    if (n % 4 == 1) {
        return -1;
    }
    long len = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = value_of(s[i], mode);
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (uint8_t)(acc >> bits);
        }
    }
    if ((mode & SL_BASE64_CANONICAL) != 0 && bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        return -1;
    }
    return len;
}

long sl_base64_decode(const char *s, size_t n, uint8_t *out) {
    return sl_base64_decode_as(s, n, out, SL_BASE64_ANY);
}
