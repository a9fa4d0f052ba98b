/* Fuzz target: JWT verification (header parsing, base64url, key ring lookup, signature, claims).
 * The first byte selects the mode:
 *   'S' + header JSON + '\n' + claims JSON   encoded and HS256-signed with the kid-less
 *                                           auth.secret key, verified with the plain config;
 *   'K' or 'C', a key digit '0'..'8', then header JSON + '\n' + claims JSON: encoded and signed
 *                                           with that key of the ring (0 HS256, 1 HS384, 2 HS512,
 *                                           3 RS256, 4 RS384, 5 RS512, 6 ES256, 7 ES384, 8 ES512;
 *                                           kids "hs256" ... "es512"); 'K' verifies with the
 *                                           plain config at the current time, 'C' with one
 *                                           that checks issuer, audience, token age (1h, no
 *                                           leeway), tenant claim "org" and scope claim "scp",
 *                                           at the fixed time 2000000000 (so seeds with iat
 *                                           reach the claims behind the age check);
 *   anything else                           the input is the token, verified as is.
 * So the claim checks behind every algorithm's signature are reached too. The ring (a
 * keys_file of all nine algorithms beside the kid-less secret) is generated at the first call,
 * with fresh RSA and EC keys, and loaded through the configuration like sluice does. */
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

enum { NKEYS = 9 };
static const char *const hs_secrets[3] = {
    "fuzz-hs256-secret-0123456789abcdef", "fuzz-hs384-secret-0123456789abcdef0123456789abcdef",
    "fuzz-hs512-secret-0123456789abcdef0123456789abcdef0123456789abcdef"};
static EVP_PKEY *rsa_key, *ec_keys[3];
static sl_config_t *cfg_plain, *cfg_claims;

static const EVP_MD *md_of(int key) {
    int b = key % 3;
    return b == 0 ? EVP_sha256() : b == 1 ? EVP_sha384() : EVP_sha512();
}

static void write_pem(const char *path, EVP_PKEY *k, int private_key) {
    FILE *f = fopen(path, "w");
    if (f == NULL || (private_key ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)
                                  : PEM_write_PUBKEY(f, k)) != 1) {
        __builtin_trap();
    }
    fclose(f);
}

static sl_config_t *build(const char *const *sets, int n) {
    sl_config_t *cfg = NULL;
    sl_error_t err;
    if (sl_config_build(NULL, sets, n, &cfg, &err) != SL_OK) {
        fprintf(stderr, "fuzz_jwt: %s\n", err.message);
        __builtin_trap();
    }
    return cfg;
}

static void init(void) {
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    static const char *const curves[3] = {"P-256", "P-384", "P-521"};
    for (int i = 0; i < 3; i++) {
        ec_keys[i] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i]);
    }
    char dir[] = "/tmp/fuzz-jwt-XXXXXX";
    if (rsa_key == NULL || ec_keys[0] == NULL || ec_keys[1] == NULL || ec_keys[2] == NULL ||
        mkdtemp(dir) == NULL) {
        __builtin_trap();
    }
    char rsa_pub[64], rsa_priv[64], ec_pub[3][64], yaml_path[64], yaml[4096];
    snprintf(rsa_pub, sizeof(rsa_pub), "%s/rsa.pub", dir);
    snprintf(rsa_priv, sizeof(rsa_priv), "%s/rsa.key", dir);
    write_pem(rsa_pub, rsa_key, 0);
    write_pem(rsa_priv, rsa_key, 1);
    for (int i = 0; i < 3; i++) {
        snprintf(ec_pub[i], sizeof(ec_pub[i]), "%s/ec%d.pub", dir, i);
        write_pem(ec_pub[i], ec_keys[i], 0);
    }
    snprintf(yaml, sizeof(yaml),
             "keys:\n"
             "  - {kid: hs256, alg: HS256, secret: \"%s\"}\n"
             "  - {kid: hs384, alg: HS384, secret: \"%s\"}\n"
             "  - {kid: hs512, alg: HS512, secret: \"%s\"}\n"
             "  - {kid: rs256, alg: RS256, public_key_file: %s}\n"
             "  - {kid: rs384, alg: RS384, private_key_file: %s}\n"
             "  - {kid: rs512, alg: RS512, public_key_file: %s, private_key_file: %s}\n"
             "  - {kid: es256, alg: ES256, public_key_file: %s}\n"
             "  - {kid: es384, alg: ES384, public_key_file: %s}\n"
             "  - {kid: es512, alg: ES512, public_key_file: %s}\n",
             hs_secrets[0], hs_secrets[1], hs_secrets[2], rsa_pub, rsa_priv, rsa_pub, rsa_priv,
             ec_pub[0], ec_pub[1], ec_pub[2]);
    snprintf(yaml_path, sizeof(yaml_path), "%s/keys.yaml", dir);
    FILE *f = fopen(yaml_path, "w");
    if (f == NULL) {
        __builtin_trap();
    }
    fputs(yaml, f);
    fclose(f);

    char set_secret[128], set_keys[128];
    snprintf(set_secret, sizeof(set_secret), "auth.secret=%s", secret);
    snprintf(set_keys, sizeof(set_keys), "auth.keys_file=%s", yaml_path);
    const char *plain[] = {set_secret, set_keys};
    cfg_plain = build(plain, 2);
    const char *claims[] = {set_secret,
                            set_keys,
                            "auth.issuer=iss-a, iss-b",
                            "auth.audience=aud",
                            "auth.max_token_age=1h",
                            "auth.leeway=0s",
                            "auth.tenant_claim=org",
                            "auth.scope_claim=scp",
                            "auth.default_scope="};
    cfg_claims = build(claims, 9);

    /* The ring is in memory now: the files are not needed any more. */
    const char *files[] = {rsa_pub, rsa_priv, ec_pub[0], ec_pub[1], ec_pub[2], yaml_path};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        unlink(files[i]);
    }
    rmdir(dir);
}

/* Signs the n bytes of input with ring key `key` into sig (JOSE form); returns its length. */
static size_t sign(int key, const char *input, size_t n, unsigned char *sig) {
    if (key < 3) {
        unsigned int ml = 0;
        HMAC(md_of(key), hs_secrets[key], (int)strlen(hs_secrets[key]),
             (const unsigned char *)input, n, sig, &ml);
        return ml;
    }
    EVP_PKEY *pk = key < 6 ? rsa_key : ec_keys[key - 6];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[1024];
    size_t der_len = sizeof(der);
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, md_of(key), NULL, pk) != 1 ||
        EVP_DigestSign(ctx, der, &der_len, (const unsigned char *)input, n) != 1) {
        __builtin_trap();
    }
    EVP_MD_CTX_free(ctx);
    if (key < 6) {
        memcpy(sig, der, der_len);
        return der_len;
    }
    /* ECDSA: DER -> r || s of the curve's size. */
    int half = key == 6 ? 32 : key == 7 ? 48 : 66;
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (es == NULL) {
        __builtin_trap();
    }
    BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, half);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, half);
    ECDSA_SIG_free(es);
    return (size_t)(2 * half);
}

/* header + '\n' + claims (n bytes at in) -> a token signed with key (-1: the kid-less
 * secret), in arena. Returns its length, 0 if there is no newline. */
static size_t make_token(const uint8_t *in, size_t n, int key, sl_arena_t *arena, char **out) {
    const uint8_t *nl = n > 0 ? memchr(in, '\n', n) : NULL;
    if (nl == NULL) {
        return 0;
    }
    size_t hl = (size_t)(nl - in), cl = n - hl - 1;
    char *tok = sl_arena_alloc(arena, 2 * n + 1024);
    size_t len = b64url(in, hl, tok);
    tok[len++] = '.';
    len += b64url(nl + 1, cl, tok + len);
    unsigned char sig[1024];
    size_t sl;
    if (key < 0) {
        unsigned int ml = 0;
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)tok, len, sig, &ml);
        sl = ml;
    } else {
        sl = sign(key, tok, len, sig);
    }
    tok[len++] = '.';
    len += b64url(sig, sl, tok + len);
    *out = tok;
    return len;
}

static void verify(const sl_config_t *cfg, const char *tok, size_t n, sl_arena_t *arena) {
    sl_principal_t p;
    sl_error_t err;
    int64_t now = cfg == cfg_claims ? 2000000000 : (int64_t)time(NULL);
    if (sl_auth_verify(cfg, tok, n, now, arena, &p, &err) == SL_OK) {
        /* What the pipeline does next with the principal. */
        if (p.tenant == NULL || p.subject == NULL || p.scope == NULL) {
            __builtin_trap();
        }
        (void)sl_auth_scope_can_write(p.scope);
        (void)sl_auth_scope_allows(p.scope, "page_view", 9, "raw");
        (void)sl_auth_scope_allows(p.scope, "recommendation_outcome", 22, "outcomes");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (cfg_plain == NULL) {
        init();
    }
    if (size == 0) {
        return 0;
    }
    sl_arena_t *arena = sl_arena_new(1024);
    char *tok = NULL;
    size_t n;
    if (data[0] == 'S') {
        if ((n = make_token(data + 1, size - 1, -1, arena, &tok)) > 0) {
            verify(cfg_plain, tok, n, arena);
        }
    } else if ((data[0] == 'K' || data[0] == 'C') && size >= 2) {
        int key = (data[1] - '0') % NKEYS;
        key = key < 0 ? key + NKEYS : key;
        if ((n = make_token(data + 2, size - 2, key, arena, &tok)) > 0) {
            verify(data[0] == 'K' ? cfg_plain : cfg_claims, tok, n, arena);
        }
    } else {
        verify(cfg_plain, (const char *)data, size, arena);
    }
    sl_arena_destroy(arena);
    return 0;
}
