#include "config/keyring.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/file.h"
#include "config/yamldoc.h"
#include "core/base64.h"

static const char *const jwa_names[SL_JWA__COUNT] = {"HS256", "HS384", "HS512", "RS256", "RS384",
                                                     "RS512", "ES256", "ES384", "ES512"};

const char *sl_jwa_name(sl_jwa_t alg) {
    return alg < SL_JWA__COUNT ? jwa_names[alg] : "?";
}

int sl_jwa_parse(const char *name, size_t len) {
    for (int i = 0; i < SL_JWA__COUNT; i++) {
        if (len == 5 && memcmp(name, jwa_names[i], 5) == 0) {
            return i;
        }
    }
    return -1;
}

static bool is_hmac(sl_jwa_t a) {
    return a <= SL_JWA_HS512;
}

static bool is_ec(sl_jwa_t a) {
    return a >= SL_JWA_ES256;
}

/* The curve an ES* algorithm is defined on (RFC 7518 §3.4). */
static const char *curve_of(sl_jwa_t a) {
    return a == SL_JWA_ES256 ? "prime256v1" : a == SL_JWA_ES384 ? "secp384r1" : "secp521r1";
}

static void key_clear(sl_key_t *k) {
    free(k->kid);
    if (k->secret != NULL) {
        explicit_bzero(k->secret, k->secret_len);
        free(k->secret);
    }
    if (k->private_pem != NULL) {
        explicit_bzero(k->private_pem, k->private_pem_len);
        free(k->private_pem);
    }
    EVP_PKEY_free(k->public_key);
    memset(k, 0, sizeof(*k));
}

void sl_keyring_free(sl_keyring_t *ring) {
    if (ring == NULL) {
        return;
    }
    for (size_t i = 0; i < ring->n; i++) {
        key_clear(&ring->keys[i]);
    }
    free(ring->keys);
    free(ring);
}

const sl_key_t *sl_keyring_find(const sl_keyring_t *ring, const char *kid, size_t kid_len) {
    if (ring == NULL) {
        return NULL;
    }
    if (kid == NULL) {
        for (size_t i = 0; i < ring->n; i++) {
            if (ring->keys[i].kid == NULL) {
                return &ring->keys[i]; /* the kid-less auth.secret key */
            }
        }
        return ring->n == 1 ? &ring->keys[0] : NULL;
    }
    for (size_t i = 0; i < ring->n; i++) {
        const char *k = ring->keys[i].kid;
        if (k != NULL && strlen(k) == kid_len && memcmp(k, kid, kid_len) == 0) {
            return &ring->keys[i];
        }
    }
    return NULL;
}

/* Checks that pkey can verify alg: RSA of at least 2048 bits for RS*, EC on alg's curve for
 * ES*. */
static sl_status_t check_key_type(EVP_PKEY *pkey, sl_jwa_t alg, const char *what, sl_error_t *err) {
    if (!is_ec(alg)) {
        if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
            return sl_error_set(err, SL_REJECT, "config_wrong_value", "%s: %s needs an RSA key",
                                what, sl_jwa_name(alg));
        }
        if (EVP_PKEY_get_bits(pkey) < 2048) {
            return sl_error_set(err, SL_REJECT, "config_wrong_value",
                                "%s: RSA keys must have at least 2048 bits, this one has %d", what,
                                EVP_PKEY_get_bits(pkey));
        }
        return SL_OK;
    }
    char group[64] = "";
    size_t glen = 0;
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen) != 1 ||
        strcmp(group, curve_of(alg)) != 0) {
        return sl_error_set(err, SL_REJECT, "config_wrong_value",
                            "%s: %s needs an EC key on curve %s", what, sl_jwa_name(alg),
                            curve_of(alg));
    }
    return SL_OK;
}

static EVP_PKEY *read_pem(const char *path, bool private_key, char **pem, size_t *pem_len,
                          const char *what, sl_error_t *err) {
    size_t len;
    char *data;
    if (sl_config_read_file(what, path, 1 << 16, &data, &len, err) != SL_OK) {
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *pkey = private_key ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                                 : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (pkey == NULL) {
        explicit_bzero(data, len);
        free(data);
        sl_error_set(err, SL_REJECT, "config_wrong_value", "%s: %s is not a PEM %s key", what, path,
                     private_key ? "private" : "public");
        return NULL;
    }
    if (pem != NULL) {
        *pem = data;
        *pem_len = len;
    } else {
        free(data);
    }
    return pkey;
}

typedef struct {
    sl_key_t *keys;
    size_t n, cap;
} ring_t;

static sl_status_t ring_add(ring_t *r, sl_key_t *k, const char *what, sl_error_t *err) {
    for (size_t i = 0; i < r->n; i++) {
        bool same =
            (k->kid == NULL && r->keys[i].kid == NULL) ||
            (k->kid != NULL && r->keys[i].kid != NULL && strcmp(k->kid, r->keys[i].kid) == 0);
        if (same) {
            sl_error_set(err, SL_REJECT, "config_conflict", "%s: kid \"%s\" is used twice", what,
                         k->kid != NULL ? k->kid : "(none)");
            key_clear(k);
            return SL_REJECT;
        }
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 4;
        r->keys = realloc(r->keys, r->cap * sizeof(*r->keys));
        if (r->keys == NULL) {
            abort();
        }
    }
    r->keys[r->n++] = *k;
    return SL_OK;
}

static size_t hmac_min_len(sl_jwa_t alg) {
    return alg == SL_JWA_HS256 ? 32 : alg == SL_JWA_HS384 ? 48 : 64;
}

/* --- auth.keys_file (YAML) ------------------------------------------------------------------ */

static sl_status_t load_entry(sl_yamldoc_t *y, yaml_node_t *e, ring_t *r, sl_error_t *err) {
    char what[512];
    snprintf(what, sizeof(what), "auth.keys_file: %s:%zu", y->file, e->start_mark.line + 1);
    static const char *const known[] = {
        "kid", "alg", "secret", "secret_file", "public_key_file", "private_key_file"};
    for (yaml_node_pair_t *p = e->data.mapping.pairs.start; p < e->data.mapping.pairs.top; p++) {
        const char *k = sl_yamldoc_scalar(yaml_document_get_node(&y->doc, p->key));
        bool ok = false;
        for (size_t i = 0; k != NULL && i < 6 && !ok; i++) {
            ok = strcmp(k, known[i]) == 0;
        }
        if (!ok) {
            return sl_error_set(err, SL_REJECT, "config_unknown_key",
                                "%s: unknown member \"%.64s\" (expected kid, alg, secret, "
                                "secret_file, public_key_file, private_key_file)",
                                what, k != NULL ? k : "?");
        }
    }
    const char *kid = sl_yamldoc_get_scalar(y, e, "kid"), *alg = sl_yamldoc_get_scalar(y, e, "alg");
    const char *secret = sl_yamldoc_get_scalar(y, e, "secret");
    const char *secret_file = sl_yamldoc_get_scalar(y, e, "secret_file");
    const char *pub = sl_yamldoc_get_scalar(y, e, "public_key_file");
    const char *priv = sl_yamldoc_get_scalar(y, e, "private_key_file");
    if (kid == NULL || kid[0] == '\0') {
        return sl_error_set(err, SL_REJECT, "config_missing", "%s: kid: required", what);
    }
    int a = alg != NULL ? sl_jwa_parse(alg, strlen(alg)) : -1;
    if (a < 0) {
        return sl_error_set(err, SL_REJECT, "config_wrong_value",
                            "%s: alg: one of HS256, HS384, HS512, RS256, RS384, RS512, ES256, "
                            "ES384, ES512, got \"%s\"",
                            what, alg != NULL ? alg : "");
    }
    sl_key_t k = {.kid = strdup(kid), .alg = (sl_jwa_t)a};
    if (is_hmac(k.alg)) {
        if ((secret != NULL) == (secret_file != NULL) || pub != NULL || priv != NULL) {
            key_clear(&k);
            return sl_error_set(err, SL_REJECT, "config_conflict",
                                "%s: an %s key has exactly one of secret, secret_file", what, alg);
        }
        if (secret_file != NULL) {
            size_t n;
            char *s;
            if (sl_config_read_secret(what, secret_file, 4096, &s, &n, err) != SL_OK) {
                key_clear(&k);
                return SL_REJECT;
            }
            k.secret = (unsigned char *)s;
            k.secret_len = n;
        } else {
            k.secret = (unsigned char *)strdup(secret);
            k.secret_len = strlen(secret);
        }
        if (k.secret_len < hmac_min_len(k.alg)) {
            size_t got = k.secret_len;
            key_clear(&k);
            return sl_error_set(err, SL_REJECT, "config_out_of_range",
                                "%s: an %s secret must be at least %zu bytes, got %zu", what, alg,
                                hmac_min_len((sl_jwa_t)a), got);
        }
        return ring_add(r, &k, what, err);
    }
    if (secret != NULL || secret_file != NULL || (pub == NULL && priv == NULL)) {
        key_clear(&k);
        return sl_error_set(err, SL_REJECT, "config_conflict",
                            "%s: an %s key needs public_key_file (and private_key_file to mint "
                            "tokens), no secret",
                            what, alg);
    }
    EVP_PKEY *pk = NULL;
    if (priv != NULL) {
        pk = read_pem(priv, true, &k.private_pem, &k.private_pem_len, what, err);
        if (pk == NULL) {
            key_clear(&k);
            return SL_REJECT;
        }
    }
    if (pub != NULL) {
        EVP_PKEY *pubkey = read_pem(pub, false, NULL, NULL, what, err);
        if (pubkey == NULL) {
            EVP_PKEY_free(pk);
            key_clear(&k);
            return SL_REJECT;
        }
        /* Both given: they must be one pair, or every minted token would fail to verify. */
        if (pk != NULL && EVP_PKEY_eq(pk, pubkey) != 1) {
            EVP_PKEY_free(pk);
            EVP_PKEY_free(pubkey);
            key_clear(&k);
            return sl_error_set(err, SL_REJECT, "config_wrong_value",
                                "%s: public_key_file and private_key_file are not one key pair",
                                what);
        }
        EVP_PKEY_free(pk);
        pk = pubkey;
    }
    k.public_key = pk;
    if (check_key_type(pk, k.alg, what, err) != SL_OK) {
        key_clear(&k);
        return SL_REJECT;
    }
    return ring_add(r, &k, what, err);
}

static sl_status_t load_keys_file(const char *path, ring_t *r, sl_error_t *err) {
    sl_yamldoc_t y = {.key = "auth.keys_file", .file = path, .code = "config_syntax", .err = err};
    sl_status_t rc = sl_yamldoc_load_file(&y);
    if (rc != SL_OK) {
        return rc;
    }
    yaml_node_t *keys = sl_yamldoc_get(&y, sl_yamldoc_root(&y), "keys");
    if (keys == NULL || keys->type != YAML_SEQUENCE_NODE) {
        rc = sl_error_set(err, SL_REJECT, "config_syntax",
                          "auth.keys_file: %s: expected `keys:` with a list of {kid, alg, ...}",
                          path);
        goto done;
    }
    for (yaml_node_item_t *it = keys->data.sequence.items.start;
         it < keys->data.sequence.items.top && rc == SL_OK; it++) {
        yaml_node_t *e = yaml_document_get_node(&y.doc, *it);
        rc = e != NULL && e->type == YAML_MAPPING_NODE
                 ? load_entry(&y, e, r, err)
                 : sl_yamldoc_fail(&y, e, "a key is a mapping {kid, alg, ...}");
    }
done:
    sl_yamldoc_free(&y);
    return rc;
}

/* --- auth.jwks_file -------------------------------------------------------------------------- */

/* A JWK member (RFC 7518 §6: base64url, no padding) as a big-endian number; NULL when it is
 * not base64url or empty. */
static BIGNUM *b64url_bn(const char *s) {
    size_t n = strlen(s);
    uint8_t *buf = malloc(n / 4 * 3 + 3);
    long len = sl_base64_decode_as(s, n, buf, SL_BASE64_URL | SL_BASE64_NOPAD);
    BIGNUM *bn = len > 0 ? BN_bin2bn(buf, (int)len, NULL) : NULL;
    free(buf);
    return bn;
}

static EVP_PKEY *jwk_to_pkey(json_t *jwk, sl_jwa_t *alg, const char *what, sl_error_t *err) {
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *a = json_string_value(json_object_get(jwk, "alg"));
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    BIGNUM *n = NULL, *e = NULL, *x = NULL, *y = NULL;
    unsigned char point[1 + 2 * 66];
    const char *type = NULL;
    if (kty != NULL && strcmp(kty, "RSA") == 0) {
        int parsed = a != NULL ? sl_jwa_parse(a, strlen(a)) : (int)SL_JWA_RS256;
        if (parsed < SL_JWA_RS256 || parsed > SL_JWA_RS512) {
            sl_error_set(err, SL_REJECT, "config_wrong_value",
                         "%s: alg \"%s\" is not RS256/384/512", what, a);
            goto done;
        }
        *alg = (sl_jwa_t)parsed;
        n = b64url_bn(json_string_value(json_object_get(jwk, "n")) ?: "");
        e = b64url_bn(json_string_value(json_object_get(jwk, "e")) ?: "");
        if (n == NULL || e == NULL) {
            sl_error_set(err, SL_REJECT, "config_wrong_value", "%s: n and e: base64url required",
                         what);
            goto done;
        }
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
        type = "RSA";
    } else if (kty != NULL && strcmp(kty, "EC") == 0) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        sl_jwa_t by_crv = crv == NULL                 ? SL_JWA__COUNT
                          : strcmp(crv, "P-256") == 0 ? SL_JWA_ES256
                          : strcmp(crv, "P-384") == 0 ? SL_JWA_ES384
                          : strcmp(crv, "P-521") == 0 ? SL_JWA_ES512
                                                      : SL_JWA__COUNT;
        if (by_crv == SL_JWA__COUNT || (a != NULL && sl_jwa_parse(a, strlen(a)) != (int)by_crv)) {
            sl_error_set(err, SL_REJECT, "config_wrong_value",
                         "%s: crv must be P-256, P-384 or P-521 (and alg, if given, ES256, ES384 "
                         "or ES512 to match)",
                         what);
            goto done;
        }
        *alg = by_crv;
        x = b64url_bn(json_string_value(json_object_get(jwk, "x")) ?: "");
        y = b64url_bn(json_string_value(json_object_get(jwk, "y")) ?: "");
        int size = by_crv == SL_JWA_ES256 ? 32 : by_crv == SL_JWA_ES384 ? 48 : 66;
        if (x == NULL || y == NULL || BN_num_bytes(x) > size || BN_num_bytes(y) > size) {
            sl_error_set(err, SL_REJECT, "config_wrong_value", "%s: x and y: base64url required",
                         what);
            goto done;
        }
        point[0] = 4;
        BN_bn2binpad(x, point + 1, size);
        BN_bn2binpad(y, point + 1 + size, size);
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve_of(by_crv), 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * (size_t)size);
        type = "EC";
    } else {
        sl_error_set(err, SL_REJECT, "config_wrong_value", "%s: kty must be RSA or EC", what);
        goto done;
    }
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
        sl_error_set(err, SL_REJECT, "config_wrong_value", "%s: not a valid %s public key", what,
                     type);
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
done:
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    BN_free(x);
    BN_free(y);
    return pkey;
}

static sl_status_t load_jwks(const char *path, ring_t *r, sl_error_t *err) {
    size_t len;
    char *data;
    if (sl_config_read_file("auth.jwks_file", path, 1 << 20, &data, &len, err) != SL_OK) {
        return SL_REJECT;
    }
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    free(data);
    json_t *keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        json_decref(root);
        return sl_error_set(err, SL_REJECT, "config_syntax",
                            "auth.jwks_file: %s: expected a JWKS {\"keys\": [...]}%s%s", path,
                            root == NULL ? ": " : "", root == NULL ? je.text : "");
    }
    size_t i;
    json_t *jwk;
    sl_status_t rc = SL_OK;
    json_array_foreach(keys, i, jwk) {
        char what[512];
        snprintf(what, sizeof(what), "auth.jwks_file: %s: keys[%zu]", path, i);
        const char *use = json_string_value(json_object_get(jwk, "use"));
        if (use != NULL && strcmp(use, "sig") != 0) {
            continue; /* encryption keys are not for us */
        }
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        if (kid == NULL || kid[0] == '\0') {
            rc = sl_error_set(err, SL_REJECT, "config_missing", "%s: kid: required", what);
            break;
        }
        sl_key_t k = {.kid = strdup(kid)};
        k.public_key = jwk_to_pkey(jwk, &k.alg, what, err);
        if (k.public_key == NULL || check_key_type(k.public_key, k.alg, what, err) != SL_OK ||
            ring_add(r, &k, what, err) != SL_OK) {
            key_clear(&k);
            rc = SL_REJECT;
            break;
        }
    }
    json_decref(root);
    return rc;
}

sl_status_t sl_keyring_load(const char *secret, size_t secret_len, const char *keys_file,
                            const char *jwks_file, sl_keyring_t **out, sl_error_t *err) {
    static atomic_uint_fast64_t generations;
    ring_t r = {0};
    sl_status_t rc = SL_OK;
    if (secret != NULL && secret_len > 0) {
        sl_key_t k = {.alg = SL_JWA_HS256, .secret = malloc(secret_len), .secret_len = secret_len};
        memcpy(k.secret, secret, secret_len);
        rc = ring_add(&r, &k, "auth.secret", err);
    }
    if (rc == SL_OK && keys_file != NULL && keys_file[0] != '\0') {
        rc = load_keys_file(keys_file, &r, err);
    }
    if (rc == SL_OK && jwks_file != NULL && jwks_file[0] != '\0') {
        rc = load_jwks(jwks_file, &r, err);
    }
    sl_keyring_t *ring = calloc(1, sizeof(*ring));
    ring->keys = r.keys;
    ring->n = r.n;
    ring->generation = atomic_fetch_add(&generations, 1) + 1;
    if (rc != SL_OK) {
        sl_keyring_free(ring);
        return rc;
    }
    *out = ring;
    return SL_OK;
}
