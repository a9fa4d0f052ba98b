/* Fuzz target: JWT verification (header parsing, base64url, signature, claims). The first byte
 * selects whether the input is used as is or re-signed, so the claim checks behind the signature
 * are reached too. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char secret[] = "fuzz-secret-fuzz-secret-fuzz-secret!";

static size_t b64url(const unsigned char *in, size_t n, char *out) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = a[(acc >> bits) & 63];
        }
    }
    if (bits > 0) {
        out[o++] = a[(acc << (6 - bits)) & 63];
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sl_config_t *cfg;
    if (cfg == NULL) {
        char set[128];
        snprintf(set, sizeof(set), "auth.secret=%s", secret);
        const char *sets[] = {set};
        sl_error_t err;
        if (sl_config_build(NULL, sets, 1, &cfg, &err) != SL_OK) {
            __builtin_trap();
        }
    }
    if (size == 0) {
        return 0;
    }
    sl_arena_t *arena = sl_arena_new(1024);
    sl_principal_t p;
    sl_error_t err;
    if (data[0] != 'S') {
        sl_auth_verify(cfg, (const char *)data, size, (int64_t)time(NULL), arena, &p, &err);
    } else {
        /* "S" + header JSON + '\n' + claims JSON: encode and sign them properly. */
        const uint8_t *nl = memchr(data + 1, '\n', size - 1);
        if (nl != NULL) {
            size_t hl = (size_t)(nl - data - 1), cl = size - hl - 2;
            char *tok = sl_arena_alloc(arena, 2 * size + 64);
            size_t n = b64url(data + 1, hl, tok);
            tok[n++] = '.';
            n += b64url(nl + 1, cl, tok + n);
            unsigned char mac[32];
            unsigned int ml = 0;
            HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)tok, n, mac,
                 &ml);
            tok[n++] = '.';
            n += b64url(mac, ml, tok + n);
            sl_auth_verify(cfg, tok, n, (int64_t)time(NULL), arena, &p, &err);
        }
    }
    sl_arena_destroy(arena);
    return 0;
}
