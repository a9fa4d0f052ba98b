#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/auth.h"

/* base64url without padding (RFC 7515 §2); returns the decoded length or -1. out must hold
 * 3 * n / 4 + 3 bytes. */
static long b64url_decode(const char *in, size_t n, unsigned char *out) {
    /* The base64url alphabet (RFC 4648 §5) as value + 1; 0 for every other byte. */
    static const unsigned char map[256] = {
        ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,
        ['H'] = 8,  ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
        ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
        ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
        ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
        ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
        ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
        ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
        ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63,
        ['_'] = 64};
    if (n % 4 == 1) {
        return -1;
    }
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = map[(unsigned char)in[i]] - 1;
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* Leftover bits must be zero (canonical encoding). */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        return -1;
    }
    return (long)o;
}

static json_t *decode_json_segment(const char *seg, size_t n, sl_arena_t *arena) {
    unsigned char *buf = sl_arena_alloc(arena, 3 * n / 4 + 3);
    long len = b64url_decode(seg, n, buf);
    if (len <= 0) {
        return NULL;
    }
    json_t *j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    if (j == NULL) {
        return NULL;
    }
    sl_arena_on_destroy(arena, (void (*)(void *))json_decref, j);
    return json_is_object(j) ? j : NULL;
}

static int get_time_claim(json_t *claims, const char *name, int64_t *out) {
    json_t *v = json_object_get(claims, name);
    if (v == NULL) {
        return 0;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        *out = (int64_t)json_real_value(v);
        return 1;
    }
    return -1;
}

sl_status_t sl_auth_verify(const sl_config_t *cfg, const char *token, size_t len, int64_t now_s,
                           sl_arena_t *arena, sl_principal_t *out, sl_error_t *err) {
    if (cfg->auth_key == NULL || cfg->auth_key_len == 0) {
        return sl_error_set(err, SL_REJECT, "no_key", "no signing key is configured");
    }
    if ((int64_t)len > cfg->limits.max_token_bytes) {
        return sl_error_set(err, SL_REJECT, "token_too_large",
                            "the token is %zu bytes, over limits.max_token_bytes (%lld)", len,
                            (long long)cfg->limits.max_token_bytes);
    }
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 =
        dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot1 == NULL || dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
        return sl_error_set(err, SL_REJECT, "token_malformed",
                            "a JWT has three base64url parts separated by dots");
    }
    json_t *header = decode_json_segment(token, (size_t)(dot1 - token), arena);
    if (header == NULL) {
        return sl_error_set(err, SL_REJECT, "token_malformed",
                            "the token header is not base64url-encoded JSON");
    }
    const char *alg = json_string_value(json_object_get(header, "alg"));
    if (alg == NULL || strcasecmp(alg, "none") == 0) {
        return sl_error_set(err, SL_REJECT, "alg_none", "unsigned tokens are not accepted");
    }
    if (strcmp(alg, "HS256") != 0) {
        return sl_error_set(err, SL_REJECT, "alg_not_allowed", "the key accepts HS256 tokens only");
    }
    json_t *typ = json_object_get(header, "typ");
    if (typ != NULL && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0)) {
        return sl_error_set(err, SL_REJECT, "bad_typ", "the token typ must be JWT");
    }

    size_t sig_len = len - (size_t)(dot2 + 1 - token);
    unsigned char *sig = sl_arena_alloc(arena, 3 * sig_len / 4 + 3);
    long got = b64url_decode(dot2 + 1, sig_len, sig);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), cfg->auth_key, (int)cfg->auth_key_len, (const unsigned char *)token,
         (size_t)(dot2 - token), mac, &mac_len);
    if (got != (long)mac_len || CRYPTO_memcmp(mac, sig, mac_len) != 0) {
        return sl_error_set(err, SL_REJECT, "bad_signature", "the token signature is not valid");
    }

    json_t *claims = decode_json_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1), arena);
    if (claims == NULL) {
        return sl_error_set(err, SL_REJECT, "token_malformed",
                            "the token payload is not base64url-encoded JSON");
    }
    int64_t leeway = cfg->auth.leeway_ms / 1000;
    int64_t exp = 0, nbf = 0, iat = 0;
    int has = get_time_claim(claims, "exp", &exp);
    if (has <= 0) {
        return sl_error_set(err, SL_REJECT, "token_malformed",
                            "the token has no numeric exp claim");
    }
    /* Claims come from the token: compare without arithmetic on them (no overflow). */
    if (now_s - leeway > exp) {
        return sl_error_set(err, SL_REJECT, "token_expired", "the token has expired");
    }
    has = get_time_claim(claims, "nbf", &nbf);
    if (has < 0) {
        return sl_error_set(err, SL_REJECT, "token_malformed", "the nbf claim is not a number");
    }
    if (has > 0 && now_s + leeway < nbf) {
        return sl_error_set(err, SL_REJECT, "token_not_yet_valid", "the token is not valid yet");
    }
    has = get_time_claim(claims, "iat", &iat);
    if (has < 0) {
        return sl_error_set(err, SL_REJECT, "token_malformed", "the iat claim is not a number");
    }
    if (has > 0 && now_s + leeway < iat) {
        return sl_error_set(err, SL_REJECT, "token_from_future",
                            "the token was issued in the future");
    }
    if (cfg->auth.issuer[0] != '\0') {
        const char *iss = json_string_value(json_object_get(claims, "iss"));
        if (iss == NULL || strcmp(iss, cfg->auth.issuer) != 0) {
            return sl_error_set(err, SL_REJECT, "wrong_issuer", "the token issuer is not allowed");
        }
    }
    if (cfg->auth.audience[0] != '\0') {
        json_t *aud = json_object_get(claims, "aud");
        int ok = 0;
        if (json_is_string(aud)) {
            ok = strcmp(json_string_value(aud), cfg->auth.audience) == 0;
        } else if (json_is_array(aud)) {
            size_t i;
            json_t *a;
            json_array_foreach(aud, i, a) {
                ok |= json_is_string(a) && strcmp(json_string_value(a), cfg->auth.audience) == 0;
            }
        }
        if (!ok) {
            return sl_error_set(err, SL_REJECT, "wrong_audience",
                                "the token audience does not include this gateway");
        }
    }
    const char *tenant = json_string_value(json_object_get(claims, cfg->auth.tenant_claim));
    if (tenant == NULL || tenant[0] == '\0') {
        return sl_error_set(err, SL_REJECT, "tenant_missing", "the token has no %s claim",
                            cfg->auth.tenant_claim);
    }
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    out->tenant = tenant;
    out->subject = sub != NULL ? sub : "";
    out->expires_at = exp;
    return SL_OK;
}

char *sl_auth_mint(const char *key, size_t key_len, const char *tenant_claim, const char *tenant,
                   const char *subject, int64_t ttl_s, const char *issuer, const char *audience,
                   sl_error_t *err) {
    jwt_t *jwt = NULL;
    char *out = NULL;
    if (key == NULL || key_len == 0) {
        sl_error_set(err, SL_REJECT, "no_key", "no signing key is configured (auth.secret)");
        goto done;
    }
    if (jwt_new(&jwt) != 0) {
        abort();
    }
    time_t now = time(NULL);
    int bad = jwt_add_grant(jwt, tenant_claim, tenant) ||
              jwt_add_grant_int(jwt, "iat", (long)now) ||
              jwt_add_grant_int(jwt, "exp", (long)(now + ttl_s));
    if (subject != NULL && subject[0] != '\0') {
        bad = bad || jwt_add_grant(jwt, "sub", subject);
    }
    if (issuer != NULL && issuer[0] != '\0') {
        bad = bad || jwt_add_grant(jwt, "iss", issuer);
    }
    if (audience != NULL && audience[0] != '\0') {
        bad = bad || jwt_add_grant(jwt, "aud", audience);
    }
    bad = bad || jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)key, (int)key_len);
    if (bad) {
        sl_error_set(err, SL_ERROR, "mint_failed", "could not build the token");
        goto done;
    }
    out = jwt_encode_str(jwt);
    if (out == NULL) {
        sl_error_set(err, SL_ERROR, "mint_failed", "could not encode the token");
    }
done:
    jwt_free(jwt);
    return out;
}
