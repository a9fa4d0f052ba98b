/* config/keyring: auth.keys_file and auth.jwks_file, their errors (file, line, member at fault),
 * and which key sl_keyring_find picks. PEM fixtures are generated per test with the openssl CLI
 * into a temporary directory (Criterion runs every test in its own process). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "config/keyring.h"
#include "support.h"

static char dir[64];
static sl_keyring_t *ring;

static void setup(void) {
    snprintf(dir, sizeof(dir), "/tmp/sluice-keyring-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
}

static void teardown(void) {
    sl_keyring_free(ring);
    ring = NULL;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        cr_log_warn("could not remove %s", dir);
    }
}

TestSuite(keyring, .init = setup, .fini = teardown);

/* dir/name, in a static rotation of buffers (a few may be live at once). */
static const char *at(const char *name) {
    static char bufs[8][160];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
    return b;
}

static void sh(const char *fmt, ...) {
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    cr_assert(eq(int, system(cmd), 0), "failed: %s", cmd);
}

/* name.key (PKCS#8 private) and name.pub (SPKI public). spec: "rsa:2048", "ec:P-256". */
static void gen_key(const char *name, const char *spec) {
    if (strncmp(spec, "rsa:", 4) == 0) {
        sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:%s -out '%s' 2>/dev/null",
           spec + 4, at(name));
    } else {
        sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:%s -out '%s' 2>/dev/null",
           spec + 3, at(name));
    }
    char pub[160];
    snprintf(pub, sizeof(pub), "%s", at(name));
    char *dot = strrchr(pub, '.');
    cr_assert(dot != NULL);
    strcpy(dot, ".pub");
    sh("openssl pkey -in '%s' -pubout -out '%s' 2>/dev/null", at(name), pub);
}

static const char *write_file(const char *name, const char *content) {
    const char *p = at(name);
    FILE *f = fopen(p, "w");
    cr_assert(f != NULL);
    fputs(content, f);
    fclose(f);
    return p;
}

static sl_status_t load(const char *keys_yaml, const char *jwks, sl_error_t *err) {
    const char *kf = keys_yaml != NULL ? write_file("keys.yaml", keys_yaml) : "";
    char kf_copy[160];
    snprintf(kf_copy, sizeof(kf_copy), "%s", kf);
    const char *jf = jwks != NULL ? write_file("jwks.json", jwks) : "";
    return sl_keyring_load(NULL, 0, kf_copy, jf, &ring, err);
}

/* keys_yaml must be refused with code; the message names keys.yaml:line and every needle. */
static void expect_keys_error(const char *keys_yaml, const char *code, int line, ...) {
    sl_error_t err = {0};
    cr_assert(eq(int, load(keys_yaml, NULL, &err), SL_REJECT), "loaded: %s", keys_yaml);
    cr_assert(ring == NULL);
    cr_assert(eq(str, (char *)err.code, (char *)code), "%s", err.message);
    char pos[200];
    snprintf(pos, sizeof(pos), "auth.keys_file: %s:%d", at("keys.yaml"), line);
    cr_assert(strstr(err.message, pos) != NULL, "no \"%s\" in: %s", pos, err.message);
    va_list ap;
    va_start(ap, line);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;) {
        cr_assert(strstr(err.message, needle) != NULL, "no \"%s\" in: %s", needle, err.message);
    }
    va_end(ap);
}

static void expect_jwks_error(const char *jwks, const char *code, const char *needle) {
    sl_error_t err = {0};
    cr_assert(eq(int, load(NULL, jwks, &err), SL_REJECT), "loaded: %s", jwks);
    cr_assert(ring == NULL);
    cr_assert(eq(str, (char *)err.code, (char *)code), "%s", err.message);
    char pos[200];
    snprintf(pos, sizeof(pos), "auth.jwks_file: %s", at("jwks.json"));
    cr_assert(strstr(err.message, pos) != NULL, "no \"%s\" in: %s", pos, err.message);
    cr_assert(strstr(err.message, needle) != NULL, "no \"%s\" in: %s", needle, err.message);
}

#define S32 "0123456789abcdef0123456789abcdef"
#define S48 S32 "0123456789abcdef"
#define S64 S32 S32

/* --- keys_file: what loads ------------------------------------------------------------------ */

Test(keyring, keys_file_every_alg) {
    gen_key("rsa.key", "rsa:2048");
    gen_key("p256.key", "ec:P-256");
    gen_key("p384.key", "ec:P-384");
    gen_key("p521.key", "ec:P-521");
    write_file("hs512.secret", S64 "\n");
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "keys:\n"
             "  - {kid: a, alg: HS256, secret: \"" S32 "\"}\n"
             "  - {kid: b, alg: HS384, secret: \"" S48 "\"}\n"
             "  - {kid: c, alg: HS512, secret_file: %s}\n"
             "  - {kid: d, alg: RS256, public_key_file: %s}\n"
             "  - {kid: e, alg: RS512, private_key_file: %s}\n"
             "  - {kid: f, alg: ES256, public_key_file: %s, private_key_file: %s}\n"
             "  - {kid: g, alg: ES384, public_key_file: %s}\n"
             "  - {kid: h, alg: ES512, private_key_file: %s}\n",
             at("hs512.secret"), at("rsa.pub"), at("rsa.key"), at("p256.pub"), at("p256.key"),
             at("p384.pub"), at("p521.key"));
    sl_error_t err = {0};
    cr_assert(eq(int, load(yaml, NULL, &err), SL_OK), "%s", err.message);
    cr_assert(eq(sz, ring->n, 8));
    static const sl_jwa_t want[] = {SL_JWA_HS256, SL_JWA_HS384, SL_JWA_HS512, SL_JWA_RS256,
                                    SL_JWA_RS512, SL_JWA_ES256, SL_JWA_ES384, SL_JWA_ES512};
    for (size_t i = 0; i < 8; i++) {
        char kid[2] = {(char)('a' + i), 0};
        const sl_key_t *k = sl_keyring_find(ring, kid, 1);
        cr_assert(k != NULL, "kid %s", kid);
        cr_assert(eq(str, k->kid, kid));
        cr_assert(eq(int, (int)k->alg, (int)want[i]), "kid %s", kid);
        cr_assert(eq(int, k->secret != NULL, i < 3), "kid %s", kid);
        cr_assert(eq(int, k->public_key != NULL, i >= 3), "kid %s", kid);
    }
    /* secret_file: the trailing newline is not part of the secret. */
    cr_assert(eq(sz, sl_keyring_find(ring, "c", 1)->secret_len, 64));
    /* private_key_file kept for minting; a public-only key cannot mint. */
    cr_assert(sl_keyring_find(ring, "d", 1)->private_pem == NULL);
    cr_assert(sl_keyring_find(ring, "e", 1)->private_pem != NULL);
    cr_assert(sl_keyring_find(ring, "f", 1)->private_pem != NULL);
}

Test(keyring, generation_is_unique_per_load) {
    sl_error_t err = {0};
    sl_keyring_t *a = NULL, *b = NULL;
    cr_assert(eq(int, sl_keyring_load(S32, 32, "", "", &a, &err), SL_OK), "%s", err.message);
    cr_assert(eq(int, sl_keyring_load(S32, 32, "", "", &b, &err), SL_OK), "%s", err.message);
    cr_assert(a->generation != b->generation);
    sl_keyring_free(a);
    sl_keyring_free(b);
}

Test(keyring, jwa_names) {
    for (int i = 0; i < SL_JWA__COUNT; i++) {
        const char *n = sl_jwa_name((sl_jwa_t)i);
        cr_assert(eq(int, sl_jwa_parse(n, strlen(n)), i));
    }
    cr_assert(eq(int, sl_jwa_parse("hs256", 5), -1));
    cr_assert(eq(int, sl_jwa_parse("none", 4), -1));
    cr_assert(eq(int, sl_jwa_parse("PS256", 5), -1));
    cr_assert(eq(int, sl_jwa_parse("HS2560", 6), -1));
    cr_assert(eq(int, sl_jwa_parse("HS25", 4), -1));
}

/* --- keys_file: errors name the file, the line and the member ------------------------------ */

Test(keyring, unknown_member) {
    expect_keys_error("keys:\n"
                      "  - kid: a\n"
                      "    alg: HS256\n"
                      "    secret: \"" S32 "\"\n"
                      "  - kid: b\n"
                      "    alg: HS256\n"
                      "    secrett: \"" S32 "\"\n",
                      "config_unknown_key", 5, "unknown member", NULL);
}

/* Was a bug (fixed; gateway/config/keyring.c load_entry): the unknown-member error says "unknown
 * member (expected kid, alg, ...)" but never names the member at fault ("secrett" here), unlike
 * every other error of the file. Enable once the message includes the member's name. */
Test(keyring, unknown_member_is_named) {
    expect_keys_error("keys:\n"
                      "  - kid: b\n"
                      "    alg: HS256\n"
                      "    secrett: \"" S32 "\"\n",
                      "config_unknown_key", 2, "secrett", NULL);
}

Test(keyring, missing_kid) {
    expect_keys_error("keys:\n"
                      "  - {kid: a, alg: HS256, secret: \"" S32 "\"}\n"
                      "  - {alg: HS256, secret: \"" S32 "\"}\n",
                      "config_missing", 3, "kid", NULL);
    sl_keyring_free(ring);
    ring = NULL;
    expect_keys_error("keys:\n  - {kid: \"\", alg: HS256, secret: \"" S32 "\"}\n", "config_missing",
                      2, "kid", NULL);
}

Test(keyring, bad_alg) {
    expect_keys_error("keys:\n  - {kid: a, alg: PS256, secret: \"" S64 "\"}\n",
                      "config_wrong_value", 2, "alg", "PS256", NULL);
}

Test(keyring, alg_is_case_sensitive_and_required) {
    expect_keys_error("keys:\n  - {kid: a, alg: hs256, secret: \"" S64 "\"}\n",
                      "config_wrong_value", 2, "alg", "hs256", NULL);
    expect_keys_error("keys:\n  - {kid: a, secret: \"" S64 "\"}\n", "config_wrong_value", 2, "alg",
                      NULL);
    expect_keys_error("keys:\n  - {kid: a, alg: none, secret: \"" S64 "\"}\n", "config_wrong_value",
                      2, "alg", NULL);
}

Test(keyring, short_hs_secrets) {
    expect_keys_error(
        "keys:\n  - {kid: a, alg: HS256, secret: \"0123456789abcdef0123456789abcde\"}\n",
        "config_out_of_range", 2, "at least 32 bytes", "got 31", NULL);
    expect_keys_error("keys:\n  -\n    kid: b\n    alg: HS384\n    secret: \"" S32 "\"\n",
                      "config_out_of_range", 3, "HS384", "at least 48 bytes", NULL);
    /* 63 bytes and a newline in a secret_file: the newline does not count. */
    write_file("s.txt", S32 "0123456789abcdef0123456789abcde\n");
    char yaml[512];
    snprintf(yaml, sizeof(yaml), "keys:\n  - {kid: c, alg: HS512, secret_file: %s}\n", at("s.txt"));
    expect_keys_error(yaml, "config_out_of_range", 2, "at least 64 bytes", "got 63", NULL);
}

Test(keyring, rsa_1024_refused) {
    gen_key("small.key", "rsa:1024");
    char yaml[512];
    snprintf(yaml, sizeof(yaml), "keys:\n  - {kid: r, alg: RS256, public_key_file: %s}\n",
             at("small.pub"));
    expect_keys_error(yaml, "config_wrong_value", 2, "2048", "1024", NULL);
}

Test(keyring, ec_key_on_wrong_curve) {
    gen_key("p256.key", "ec:P-256");
    char yaml[512];
    snprintf(yaml, sizeof(yaml), "keys:\n  - {kid: e, alg: ES384, public_key_file: %s}\n",
             at("p256.pub"));
    expect_keys_error(yaml, "config_wrong_value", 2, "ES384", "secp384r1", NULL);
}

Test(keyring, key_type_must_match_alg) {
    gen_key("rsa.key", "rsa:2048");
    gen_key("p256.key", "ec:P-256");
    char yaml[512];
    snprintf(yaml, sizeof(yaml), "keys:\n  - {kid: e, alg: ES256, public_key_file: %s}\n",
             at("rsa.pub"));
    expect_keys_error(yaml, "config_wrong_value", 2, "ES256", "EC key", NULL);
    snprintf(yaml, sizeof(yaml), "keys:\n  - {kid: r, alg: RS256, private_key_file: %s}\n",
             at("p256.key"));
    expect_keys_error(yaml, "config_wrong_value", 2, "RS256", "RSA key", NULL);
}

Test(keyring, duplicate_kid) {
    expect_keys_error("keys:\n"
                      "  - {kid: same, alg: HS256, secret: \"" S32 "\"}\n"
                      "  - {kid: other, alg: HS256, secret: \"" S32 "\"}\n"
                      "  - {kid: same, alg: HS512, secret: \"" S64 "\"}\n",
                      "config_conflict", 4, "\"same\"", "twice", NULL);
}

Test(keyring, duplicate_kid_across_keys_file_and_jwks) {
    static const char jwks[] = "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k1\",\"crv\":\"P-256\","
                               "\"x\":\"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY\","
                               "\"y\":\"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU\"}]}";
    sl_error_t err = {0};
    cr_assert(eq(int, load("keys:\n  - {kid: k1, alg: HS256, secret: \"" S32 "\"}\n", jwks, &err),
                 SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "config_conflict"), "%s", err.message);
    cr_assert(strstr(err.message, "auth.jwks_file") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "\"k1\"") != NULL, "%s", err.message);
}

Test(keyring, secret_and_public_key_file_together) {
    gen_key("rsa.key", "rsa:2048");
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "keys:\n  - {kid: r, alg: RS256, secret: \"" S32 "\", public_key_file: %s}\n",
             at("rsa.pub"));
    expect_keys_error(yaml, "config_conflict", 2, "RS256", "no secret", NULL);
    snprintf(yaml, sizeof(yaml),
             "keys:\n  - {kid: h, alg: HS256, secret: \"" S32 "\", public_key_file: %s}\n",
             at("rsa.pub"));
    expect_keys_error(yaml, "config_conflict", 2, "HS256", "secret", NULL);
}

Test(keyring, hs_needs_exactly_one_secret) {
    write_file("s.txt", S32);
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "keys:\n  - {kid: h, alg: HS256, secret: \"" S32 "\", secret_file: %s}\n",
             at("s.txt"));
    expect_keys_error(yaml, "config_conflict", 2, "secret_file", NULL);
    expect_keys_error("keys:\n  - {kid: h, alg: HS256}\n", "config_conflict", 2, "secret", NULL);
    expect_keys_error("keys:\n  - {kid: r, alg: ES256}\n", "config_conflict", 2, "public_key_file",
                      NULL);
}

Test(keyring, unreadable_and_non_pem_files) {
    char yaml[512];
    snprintf(yaml, sizeof(yaml), "keys:\n  - {kid: r, alg: RS256, public_key_file: %s}\n",
             at("nope.pub"));
    expect_keys_error(yaml, "config_unreadable", 2, "nope.pub", NULL);
    write_file("junk.pub", "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n");
    snprintf(yaml, sizeof(yaml), "keys:\n  - {kid: r, alg: RS256, public_key_file: %s}\n",
             at("junk.pub"));
    expect_keys_error(yaml, "config_wrong_value", 2, "junk.pub", "PEM", NULL);
    /* A private key where the public one is expected. */
    gen_key("rsa.key", "rsa:2048");
    snprintf(yaml, sizeof(yaml), "keys:\n  - {kid: r, alg: RS256, public_key_file: %s}\n",
             at("rsa.key"));
    expect_keys_error(yaml, "config_wrong_value", 2, "public", NULL);
}

Test(keyring, file_shape_errors) {
    sl_error_t err = {0};
    cr_assert(eq(int, load("keys: {kid: a}\n", NULL, &err), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "config_syntax"), "%s", err.message);
    cr_assert(strstr(err.message, at("keys.yaml")) != NULL, "%s", err.message);
    cr_assert(eq(int, load("keys:\n  - just-a-string\n", NULL, &err), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "config_syntax"), "%s", err.message);
    char pos[200];
    snprintf(pos, sizeof(pos), "%s:2", at("keys.yaml"));
    cr_assert(strstr(err.message, pos) != NULL, "%s", err.message);
    /* A YAML syntax error: line and column. */
    cr_assert(eq(int, load("keys:\n  - {kid: a, alg: HS256\n  - x\n", NULL, &err), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "config_syntax"), "%s", err.message);
    cr_assert(strstr(err.message, at("keys.yaml")) != NULL, "%s", err.message);
    cr_assert(eq(int, sl_keyring_load(NULL, 0, at("missing.yaml"), "", &ring, &err), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "config_unreadable"), "%s", err.message);
    cr_assert(strstr(err.message, "missing.yaml") != NULL, "%s", err.message);
}

/* --- jwks_file ------------------------------------------------------------------------------ */

/* The P-256 base point: a valid public key. */
#define P256_X "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY"
#define P256_Y "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"
#define P256_Y_OFF "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfY" /* not on the curve */

Test(keyring, jwks_valid_ec_and_rsa) {
    gen_key("rsa.key", "rsa:2048");
    /* n and e of the generated key as base64url, through the openssl CLI. */
    sh("openssl rsa -pubin -in '%s' -modulus -noout 2>/dev/null | cut -d= -f2 | "
       "perl -MMIME::Base64 -ne 'chomp; $b = encode_base64(pack(\"H*\", $_), \"\"); "
       "$b =~ tr{+/}{-_}; $b =~ s/=+$//; print $b' > '%s'",
       at("rsa.pub"), at("n.txt"));
    FILE *f = fopen(at("n.txt"), "r");
    char n[600] = "";
    cr_assert(f != NULL && fgets(n, sizeof(n), f) != NULL);
    fclose(f);
    char jwks[2048];
    snprintf(jwks, sizeof(jwks),
             "{\"keys\":["
             "{\"kty\":\"EC\",\"kid\":\"ec1\",\"crv\":\"P-256\",\"x\":\"" P256_X
             "\",\"y\":\"" P256_Y "\"},"
             "{\"kty\":\"RSA\",\"kid\":\"rsa1\",\"n\":\"%s\",\"e\":\"AQAB\",\"alg\":\"RS384\"},"
             "{\"kty\":\"RSA\",\"kid\":\"rsa2\",\"n\":\"%s\",\"e\":\"AQAB\"},"
             "{\"kty\":\"oct\",\"kid\":\"enc\",\"use\":\"enc\"}]}",
             n, n);
    sl_error_t err = {0};
    cr_assert(eq(int, load(NULL, jwks, &err), SL_OK), "%s", err.message);
    cr_assert(eq(sz, ring->n, 3), "the use=enc key is skipped");
    cr_assert(eq(int, (int)sl_keyring_find(ring, "ec1", 3)->alg, SL_JWA_ES256), "from crv");
    cr_assert(eq(int, (int)sl_keyring_find(ring, "rsa1", 4)->alg, SL_JWA_RS384));
    cr_assert(eq(int, (int)sl_keyring_find(ring, "rsa2", 4)->alg, SL_JWA_RS256), "default");
    cr_assert(sl_keyring_find(ring, "enc", 3) == NULL);
}

Test(keyring, jwks_bad_kty) {
    expect_jwks_error("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k\",\"k\":\"c2VjcmV0\"}]}",
                      "config_wrong_value", "kty");
    sl_keyring_free(ring);
    ring = NULL;
    expect_jwks_error("{\"keys\":[{\"kid\":\"k\"}]}", "config_wrong_value", "keys[0]");
}

Test(keyring, jwks_missing_kid) {
    expect_jwks_error("{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"P-256\",\"x\":\"" P256_X
                      "\",\"y\":\"" P256_Y "\"},"
                      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y
                      "\"}]}",
                      "config_missing", "keys[1]: kid");
}

Test(keyring, jwks_crv_alg_mismatch) {
    expect_jwks_error(
        "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"P-256\",\"alg\":\"ES384\","
        "\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}]}",
        "config_wrong_value", "crv");
    expect_jwks_error("{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"secp256k1\","
                      "\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}]}",
                      "config_wrong_value", "crv");
    expect_jwks_error("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"alg\":\"ES256\","
                      "\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
                      "config_wrong_value", "RS256");
}

Test(keyring, jwks_bad_key_material) {
    /* A point that is not on the curve, a short RSA modulus, junk base64url. */
    expect_jwks_error("{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"P-256\","
                      "\"x\":\"" P256_X "\",\"y\":\"" P256_Y_OFF "\"}]}",
                      "config_wrong_value", "keys[0]");
    expect_jwks_error("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"" P256_X P256_Y "\","
                      "\"e\":\"AQAB\"}]}",
                      "config_wrong_value", "2048");
    expect_jwks_error("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"!!\",\"e\":\"AQAB\"}]}",
                      "config_wrong_value", "base64url");
    /* Padding is not base64url as JWK writes it; nor is a lone last character. */
    expect_jwks_error("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"" P256_X "=\","
                      "\"e\":\"AQAB\"}]}",
                      "config_wrong_value", "base64url");
    expect_jwks_error("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"" P256_X P256_Y "\","
                      "\"e\":\"AQABA\"}]}",
                      "config_wrong_value", "base64url");
    expect_jwks_error("{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"P-256\"}]}",
                      "config_wrong_value", "x and y");
}

Test(keyring, jwks_shape) {
    expect_jwks_error("[]", "config_syntax", "JWKS");
    expect_jwks_error("{\"keys\":[", "config_syntax", "JWKS");
}

/* --- sl_keyring_find ------------------------------------------------------------------------ */

Test(keyring, find_kidless_key_preferred_without_kid) {
    sl_error_t err = {0};
    write_file("keys.yaml", "keys:\n"
                            "  - {kid: a, alg: HS256, secret: \"" S32 "\"}\n"
                            "  - {kid: b, alg: HS512, secret: \"" S64 "\"}\n");
    cr_assert(eq(int,
                 sl_keyring_load("kidless-secret-0123456789abcdef!", 32, at("keys.yaml"), "", &ring,
                                 &err),
                 SL_OK),
              "%s", err.message);
    cr_assert(eq(sz, ring->n, 3));
    const sl_key_t *k = sl_keyring_find(ring, NULL, 0);
    cr_assert(k != NULL && k->kid == NULL);
    cr_assert(eq(int, (int)k->alg, SL_JWA_HS256));
    cr_assert(eq(sz, k->secret_len, 32));
    cr_assert(eq(str, sl_keyring_find(ring, "b", 1)->kid, "b"));
    cr_assert(sl_keyring_find(ring, "c", 1) == NULL);
    /* By exact length: no prefix match, no empty kid. */
    cr_assert(sl_keyring_find(ring, "bb", 2) == NULL);
    cr_assert(sl_keyring_find(ring, "b", 0) == NULL);
    cr_assert(sl_keyring_find(ring, "a\0", 2) == NULL);
    cr_assert(sl_keyring_find(NULL, "a", 1) == NULL);
    cr_assert(sl_keyring_find(NULL, NULL, 0) == NULL);
}

Test(keyring, find_single_key_without_kid) {
    sl_error_t err = {0};
    cr_assert(eq(int, load("keys:\n  - {kid: only, alg: HS384, secret: \"" S48 "\"}\n", NULL, &err),
                 SL_OK),
              "%s", err.message);
    const sl_key_t *k = sl_keyring_find(ring, NULL, 0);
    cr_assert(k != NULL);
    cr_assert(eq(str, k->kid, "only"));
    cr_assert(k == sl_keyring_find(ring, "only", 4));
}

Test(keyring, find_several_keys_without_kid_is_null) {
    sl_error_t err = {0};
    cr_assert(eq(int,
                 load("keys:\n"
                      "  - {kid: a, alg: HS256, secret: \"" S32 "\"}\n"
                      "  - {kid: b, alg: HS256, secret: \"" S32 "\"}\n",
                      NULL, &err),
                 SL_OK),
              "%s", err.message);
    cr_assert(sl_keyring_find(ring, NULL, 0) == NULL);
    cr_assert(sl_keyring_find(ring, "a", 1) != NULL);
}

Test(keyring, empty_ring) {
    sl_error_t err = {0};
    cr_assert(eq(int, sl_keyring_load(NULL, 0, "", "", &ring, &err), SL_OK), "%s", err.message);
    cr_assert(eq(sz, ring->n, 0));
    cr_assert(sl_keyring_find(ring, NULL, 0) == NULL);
    cr_assert(sl_keyring_find(ring, "a", 1) == NULL);
}

/* --- through the configuration -------------------------------------------------------------- */

Test(keyring, config_refuses_a_bad_keys_file) {
    write_file("keys.yaml", "keys:\n  - {kid: a, alg: HS256, secret: short}\n");
    char set[200];
    snprintf(set, sizeof(set), "auth.keys_file=%s", at("keys.yaml"));
    sl_error_t err = t_config_fail(NULL, T_SETS(set));
    cr_assert(strstr(err.message, "auth.keys_file") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "keys.yaml:2") != NULL, "%s", err.message);

    write_file("keys.yaml", "keys:\n  - {kid: a, alg: HS256, secret: \"" S32 "\"}\n");
    sl_config_t *cfg = t_config(NULL, T_SETS(set, "auth.secret=" S32));
    cr_assert(eq(sz, cfg->keyring->n, 2));
    cr_assert(sl_keyring_find(cfg->keyring, NULL, 0)->kid == NULL, "auth.secret is kid-less");
    sl_config_unref(cfg);
}

/* Was a bug (fixed; gateway/config/keyring.c load_entry): with both public_key_file and
 * private_key_file, the private key is read and then dropped for the public one without checking
 * that they are a pair: a ring whose private_key_file belongs to another key loads, and every
 * token `sluice token` mints with it is refused (bad_signature) by the same ring. Enable once the
 * pair is checked (e.g. EVP_PKEY_eq). */
Test(keyring, private_and_public_key_must_match) {
    gen_key("a.key", "ec:P-256");
    gen_key("b.key", "ec:P-256");
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "keys:\n  - {kid: k, alg: ES256, public_key_file: %s, private_key_file: %s}\n",
             at("a.pub"), at("b.key"));
    expect_keys_error(yaml, "config_wrong_value", 2, "private_key_file", NULL);
}
