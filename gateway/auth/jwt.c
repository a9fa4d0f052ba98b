#include <jansson.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/auth.h"
#include "core/base64.h"
#include "core/buf.h"

static json_t *decode_json_segment(const char *seg, size_t n, sl_arena_t *arena) {
    unsigned char *buf = sl_arena_alloc(arena, 3 * n / 4 + 3);
    long len = sl_base64_decode_as(seg, n, buf, SL_BASE64_JWS);
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
        double d = json_real_value(v);
        /* Clamp before converting: a cast of 1e300 is undefined behaviour. */
        *out = d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : (int64_t)d;
        return 1;
    }
    return -1;
}

/* HS*: HMAC over the signing input, compared in constant time. */
static bool verify_hmac(const sl_key_t *key, const EVP_MD *md, const char *input, size_t n,
                        const unsigned char *sig, long sig_len) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (HMAC(md, key->secret, (int)key->secret_len, (const unsigned char *)input, n, mac,
             &mac_len) == NULL) {
        return false;
    }
    return sig_len == (long)mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
}

/* ES*: JOSE signatures are r || s of fixed size (RFC 7518 §3.4); OpenSSL wants DER. */
static bool verify_ecdsa(const sl_key_t *key, const EVP_MD *md, const char *input, size_t n,
                         const unsigned char *sig, long sig_len) {
    long half = key->alg == SL_JWA_ES256 ? 32 : key->alg == SL_JWA_ES384 ? 48 : 66;
    if (sig_len != 2 * half) {
        return false;
    }
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)half, NULL), *s = BN_bin2bn(sig + half, (int)half, NULL);
    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return false;
    }
    unsigned char *der = NULL;
    int der_len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    bool ok = false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (der_len > 0 && ctx != NULL &&
        EVP_DigestVerifyInit(ctx, NULL, md, NULL, key->public_key) == 1) {
        ok = EVP_DigestVerify(ctx, der, (size_t)der_len, (const unsigned char *)input, n) == 1;
    }
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

/* RS*: RSASSA-PKCS1-v1_5. */
static bool verify_rsa(const sl_key_t *key, const EVP_MD *md, const char *input, size_t n,
                       const unsigned char *sig, long sig_len) {
    bool ok = false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key->public_key) == 1) {
        ok = EVP_DigestVerify(ctx, sig, (size_t)sig_len, (const unsigned char *)input, n) == 1;
    }
    EVP_MD_CTX_free(ctx);
    return ok;
}

static bool verify_signature(const sl_key_t *key, const char *input, size_t n,
                             const unsigned char *sig, long sig_len) {
    static const int bits[SL_JWA__COUNT] = {256, 384, 512, 256, 384, 512, 256, 384, 512};
    int b = bits[key->alg];
    const EVP_MD *md = b == 256 ? EVP_sha256() : b == 384 ? EVP_sha384() : EVP_sha512();
    if (sig_len <= 0) {
        return false;
    }
    if (key->alg <= SL_JWA_HS512) {
        return verify_hmac(key, md, input, n, sig, sig_len);
    }
    if (key->alg <= SL_JWA_RS512) {
        return verify_rsa(key, md, input, n, sig, sig_len);
    }
    return verify_ecdsa(key, md, input, n, sig, sig_len);
}

/* Whether s (a comma-separated list) has item (n bytes). */
static bool in_list(const char *list, const char *item) {
    size_t n = strlen(item);
    for (const char *p = list; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ') {
            len--;
        }
        if (len == n && memcmp(p, item, n) == 0) {
            return true;
        }
        p = end != NULL ? end + 1 : p + strlen(p);
    }
    return false;
}

/* A list claim (scopes, origins) as one space-separated string in arena: a string as is, an
 * array of strings joined; absent: dflt; another type: "". */
static const char *words_claim(json_t *claims, const char *name, const char *dflt,
                               sl_arena_t *arena) {
    json_t *sc = name[0] != '\0' ? json_object_get(claims, name) : NULL;
    if (json_is_string(sc)) {
        return json_string_value(sc);
    }
    if (sc == NULL) {
        return dflt;
    }
    if (!json_is_array(sc)) {
        return ""; /* a claim of another type grants nothing */
    }
    sl_buf_t b;
    sl_buf_init(&b, arena, 64);
    size_t i;
    json_t *v;
    json_array_foreach(sc, i, v) {
        if (json_is_string(v)) {
            sl_buf_puts(&b, b.len > 0 ? " " : "");
            sl_buf_puts(&b, json_string_value(v));
        }
    }
    return sl_buf_cstr(&b);
}

sl_status_t sl_auth_verify(const sl_config_t *cfg, const char *token, size_t len, int64_t now_s,
                           sl_arena_t *arena, sl_principal_t *out, sl_error_t *err) {
    if (cfg->keyring == NULL || cfg->keyring->n == 0) {
        return sl_error_set(err, SL_REJECT, "no_key", "no verification key is configured");
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
    json_t *alg_j = json_object_get(header, "alg");
    const char *alg = json_string_value(alg_j);
    if (alg == NULL || strcasecmp(alg, "none") == 0 || alg[0] == '\0') {
        return sl_error_set(err, SL_REJECT, "alg_none", "unsigned tokens are not accepted");
    }
    int token_alg = sl_jwa_parse(alg, json_string_length(alg_j));
    if (token_alg < 0) {
        return sl_error_set(err, SL_REJECT, "alg_not_allowed",
                            "the token algorithm is not one of HS256/384/512, RS256/384/512, "
                            "ES256/384/512");
    }
    json_t *typ = json_object_get(header, "typ");
    if (typ != NULL && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0)) {
        return sl_error_set(err, SL_REJECT, "bad_typ", "the token typ must be JWT");
    }
    if (json_object_get(header, "crit") != NULL) {
        return sl_error_set(err, SL_REJECT, "token_malformed",
                            "the token header has crit extensions this gateway does not know");
    }
    json_t *kid_j = json_object_get(header, "kid");
    if (kid_j != NULL && !json_is_string(kid_j)) {
        return sl_error_set(err, SL_REJECT, "token_malformed", "the token kid is not a string");
    }
    const sl_key_t *key = sl_keyring_find(cfg->keyring, json_string_value(kid_j),
                                          kid_j != NULL ? json_string_length(kid_j) : 0);
    if (key == NULL) {
        return kid_j == NULL ? sl_error_set(err, SL_REJECT, "kid_missing",
                                            "several keys are configured: the token must name "
                                            "its key (kid)")
                             : sl_error_set(err, SL_REJECT, "kid_unknown",
                                            "the token names a key (kid) this gateway does not "
                                            "have");
    }
    /* The key decides the algorithm, never the token: this refuses HS256 "signed" with an RSA
     * or EC public key (algorithm confusion) and any key of the wrong type for the token. */
    if ((sl_jwa_t)token_alg != key->alg) {
        return sl_error_set(err, SL_REJECT, "alg_mismatch",
                            "the token says %s but its key is pinned to %s", sl_jwa_name(token_alg),
                            sl_jwa_name(key->alg));
    }
    size_t sig_len = len - (size_t)(dot2 + 1 - token);
    unsigned char *sig = sl_arena_alloc(arena, 3 * sig_len / 4 + 3);
    long got = sl_base64_decode_as(dot2 + 1, sig_len, sig, SL_BASE64_JWS);
    if (!verify_signature(key, token, (size_t)(dot2 - token), sig, got)) {
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
    int64_t valid_until = exp > INT64_MAX - leeway ? INT64_MAX : exp + leeway;
    int64_t max_age = cfg->auth.max_token_age_ms / 1000;
    if (max_age > 0) {
        if (has == 0) {
            return sl_error_set(err, SL_REJECT, "token_malformed",
                                "the token has no iat claim, required by auth.max_token_age");
        }
        if (iat < now_s - leeway - max_age) {
            return sl_error_set(err, SL_REJECT, "token_too_old",
                                "the token was issued more than auth.max_token_age ago");
        }
        int64_t age_limit = iat + max_age + leeway;
        valid_until = age_limit < valid_until ? age_limit : valid_until;
    }
    if (cfg->auth.issuer[0] != '\0') {
        const char *iss = json_string_value(json_object_get(claims, "iss"));
        if (iss == NULL || !in_list(cfg->auth.issuer, iss)) {
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
    out->valid_until = valid_until;
    /* No scope claim: auth.default_scope. */
    out->scope = words_claim(claims, cfg->auth.scope_claim, cfg->auth.default_scope, arena);
    out->origins = words_claim(claims, cfg->cors.origins_claim, "", arena);
    return SL_OK;
}

char *sl_auth_mint(const sl_config_t *cfg, const sl_mint_t *m, sl_error_t *err) {
    jwt_t *jwt = NULL;
    char *out = NULL;
    const sl_key_t *key =
        sl_keyring_find(cfg->keyring, m->kid, m->kid != NULL ? strlen(m->kid) : 0);
    if (key == NULL) {
        sl_error_set(err, SL_REJECT, m->kid != NULL ? "kid_unknown" : "no_key",
                     m->kid != NULL ? "no key with that kid in the key ring"
                     : cfg->keyring != NULL && cfg->keyring->n > 1
                         ? "several keys are configured: choose one with --kid"
                         : "no signing key is configured (auth.secret or auth.keys_file)");
        goto done;
    }
    const unsigned char *k = key->secret;
    size_t k_len = key->secret_len;
    if (key->alg > SL_JWA_HS512) {
        k = (const unsigned char *)key->private_pem;
        k_len = key->private_pem_len;
    }
    if (k == NULL || k_len == 0) {
        sl_error_set(err, SL_REJECT, "no_key",
                     "key \"%s\" has no private_key_file: it can verify tokens, not mint them",
                     key->kid != NULL ? key->kid : "");
        goto done;
    }
    if (jwt_new(&jwt) != 0) {
        abort();
    }
    time_t now = time(NULL);
    int bad = jwt_add_grant(jwt, cfg->auth.tenant_claim, m->tenant) ||
              jwt_add_grant_int(jwt, "iat", (long)now) ||
              jwt_add_grant_int(jwt, "exp", (long)(now + m->ttl_s));
    if (m->subject != NULL && m->subject[0] != '\0') {
        bad = bad || jwt_add_grant(jwt, "sub", m->subject);
    }
    if (m->scope != NULL && m->scope[0] != '\0') {
        bad = bad || jwt_add_grant(jwt, cfg->auth.scope_claim, m->scope);
    }
    if (cfg->auth.issuer[0] != '\0') { /* the first allowed issuer */
        size_t n = strcspn(cfg->auth.issuer, ",");
        char iss[512];
        snprintf(iss, sizeof(iss), "%.*s", (int)n, cfg->auth.issuer);
        bad = bad || jwt_add_grant(jwt, "iss", iss);
    }
    if (cfg->auth.audience[0] != '\0') {
        bad = bad || jwt_add_grant(jwt, "aud", cfg->auth.audience);
    }
    if (key->kid != NULL) {
        bad = bad || jwt_add_header(jwt, "kid", key->kid);
    }
    static const jwt_alg_t algs[SL_JWA__COUNT] = {JWT_ALG_HS256, JWT_ALG_HS384, JWT_ALG_HS512,
                                                  JWT_ALG_RS256, JWT_ALG_RS384, JWT_ALG_RS512,
                                                  JWT_ALG_ES256, JWT_ALG_ES384, JWT_ALG_ES512};
    bad = bad || jwt_set_alg(jwt, algs[key->alg], k, (int)k_len);
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
