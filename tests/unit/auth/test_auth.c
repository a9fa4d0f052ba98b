/* auth: HS256 verification with crafted tokens (OpenSSL HMAC + base64url), and minting. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "support.h"

#define SECRET "test-secret-test-secret-test-secret-0123"
#define NOW INT64_C(1795773600)

static sl_config_t *cfg;
static sl_arena_t *arena;

static void setup_default(void) {
    cfg = t_config(NULL, T_SETS("auth.secret=" SECRET));
    arena = sl_arena_new(4096);
}

static void teardown(void) {
    sl_arena_destroy(arena);
    sl_config_unref(cfg);
}

TestSuite(auth, .init = setup_default, .fini = teardown);

/* Verifies tok at NOW against cfg; returns the status and fills err/out. */
static sl_status_t verify_at(const char *tok, int64_t now, sl_principal_t *out, sl_error_t *err) {
    memset(err, 0, sizeof(*err));
    return sl_auth_verify(cfg, tok, strlen(tok), now, arena, out, err);
}

static void expect_ok(const char *tok) {
    sl_principal_t p;
    sl_error_t err;
    sl_status_t st = verify_at(tok, NOW, &p, &err);
    cr_assert(eq(int, st, SL_OK), "refused: %s: %s", err.code ? err.code : "?", err.message);
}

static void expect_reject(const char *tok, const char *code) {
    sl_principal_t p;
    sl_error_t err;
    sl_status_t st = verify_at(tok, NOW, &p, &err);
    cr_assert(eq(int, st, SL_REJECT), "accepted, expected %s", code);
    cr_assert(err.code != NULL);
    cr_assert(eq(str, (char *)err.code, (char *)code), "%s", err.message);
}

/* A token with the given claims (a JSON object body without braces). */
static char *claims_token(const char *claims) {
    char payload[2048];
    snprintf(payload, sizeof(payload), "{%s}", claims);
    return t_jwt_hs256(payload, SECRET);
}

#define VALID_CLAIMS "\"tenant\":\"acme\",\"sub\":\"user-1\",\"iat\":1795773500,\"exp\":1795777200"

Test(auth, mint_then_verify_round_trip) {
    sl_error_t err = {0};
    char *tok =
        sl_auth_mint(cfg, &(sl_mint_t){.tenant = "acme", .subject = "user-1", .ttl_s = 3600}, &err);
    cr_assert(tok != NULL, "%s", err.message);
    cr_assert(eq(int, (int)(strchr(strchr(tok, '.') + 1, '.') != NULL), 1));
    sl_principal_t p;
    int64_t now = (int64_t)time(NULL);
    sl_status_t st = sl_auth_verify(cfg, tok, strlen(tok), now, arena, &p, &err);
    cr_assert(eq(int, st, SL_OK), "%s: %s", err.code, err.message);
    cr_assert(eq(str, (char *)p.tenant, "acme"));
    cr_assert(eq(str, (char *)p.subject, "user-1"));
    cr_assert(p.expires_at >= now + 3590 && p.expires_at <= now + 3610, "exp %lld",
              (long long)p.expires_at);
    free(tok);
}

Test(auth, mint_without_subject_gives_empty_subject) {
    sl_error_t err = {0};
    char *tok = sl_auth_mint(cfg, &(sl_mint_t){.tenant = "acme", .ttl_s = 60}, &err);
    cr_assert(tok != NULL);
    sl_principal_t p;
    cr_assert(eq(int, sl_auth_verify(cfg, tok, strlen(tok), time(NULL), arena, &p, &err), SL_OK));
    cr_assert(eq(str, (char *)p.subject, ""));
    free(tok);
}

Test(auth, mint_with_issuer_audience_and_custom_tenant_claim) {
    sl_config_t *c2 = t_config(NULL, T_SETS("auth.secret=" SECRET, "auth.issuer=https://iss",
                                            "auth.audience=sluice", "auth.tenant_claim=org"));
    sl_error_t err = {0};
    char *tok =
        sl_auth_mint(c2, &(sl_mint_t){.tenant = "initech", .subject = "s", .ttl_s = 60}, &err);
    cr_assert(tok != NULL);
    sl_principal_t p;
    sl_status_t st = sl_auth_verify(c2, tok, strlen(tok), time(NULL), arena, &p, &err);
    cr_assert(eq(int, st, SL_OK), "%s: %s", err.code, err.message);
    cr_assert(eq(str, (char *)p.tenant, "initech"));
    /* The same token against the default config: no "tenant" claim. */
    st = sl_auth_verify(cfg, tok, strlen(tok), time(NULL), arena, &p, &err);
    cr_assert(eq(int, st, SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "tenant_missing"));
    free(tok);
    sl_config_unref(c2);
}

Test(auth, mint_without_key) {
    sl_error_t err = {0};
    sl_config_t *none = t_config(NULL, T_SETS("auth.required=false", "kafka.brokers=embedded"));
    char *tok = sl_auth_mint(none, &(sl_mint_t){.tenant = "acme", .ttl_s = 60}, &err);
    sl_config_unref(none);
    cr_assert(tok == NULL);
    cr_assert(eq(str, (char *)err.code, "no_key"));
}

Test(auth, verify_without_key) {
    sl_config_t *nokey = t_config(NULL, NULL);
    char *tok = claims_token(VALID_CLAIMS);
    sl_principal_t p;
    sl_error_t err = {0};
    cr_assert(eq(int, sl_auth_verify(nokey, tok, strlen(tok), NOW, arena, &p, &err), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "no_key"));
    free(tok);
    sl_config_unref(nokey);
}

Test(auth, crafted_token_accepted) {
    char *tok = claims_token(VALID_CLAIMS);
    sl_principal_t p;
    sl_error_t err;
    cr_assert(eq(int, verify_at(tok, NOW, &p, &err), SL_OK), "%s", err.message);
    cr_assert(eq(str, (char *)p.tenant, "acme"));
    cr_assert(eq(str, (char *)p.subject, "user-1"));
    cr_assert(eq(i64, p.expires_at, INT64_C(1795777200)));
    free(tok);
}

Test(auth, token_not_nul_terminated) {
    char *tok = claims_token(VALID_CLAIMS);
    size_t n = strlen(tok);
    char *exact = malloc(n);
    memcpy(exact, tok, n); /* no NUL: ASan catches a read past n */
    sl_principal_t p;
    sl_error_t err = {0};
    cr_assert(eq(int, sl_auth_verify(cfg, exact, n, NOW, arena, &p, &err), SL_OK), "%s",
              err.message);
    free(exact);
    free(tok);
}

Test(auth, alg_none) {
    const char *none_header = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    char *h = t_b64url(none_header, strlen(none_header));
    const char *claims = "{" VALID_CLAIMS "}";
    char *p = t_b64url(claims, strlen(claims));
    char tok[1024];
    snprintf(tok, sizeof(tok), "%s.%s.", h, p);
    expect_reject(tok, "alg_none");
    /* Also with the case changed, and with a (meaningless) signature. */
    free(h);
    h = t_b64url("{\"alg\":\"None\"}", 14);
    snprintf(tok, sizeof(tok), "%s.%s.", h, p);
    expect_reject(tok, "alg_none");
    snprintf(tok, sizeof(tok), "%s.%s.AAAA", h, p);
    expect_reject(tok, "alg_none");
    free(h);
    free(p);
}

Test(auth, alg_missing_is_refused) {
    char *tok = t_jwt("{\"typ\":\"JWT\"}", "{" VALID_CLAIMS "}", "SHA256", SECRET);
    sl_principal_t p;
    sl_error_t err;
    cr_assert(eq(int, verify_at(tok, NOW, &p, &err), SL_REJECT));
    free(tok);
}

Test(auth, hs384_against_an_hs256_key_is_a_mismatch) {
    char *tok =
        t_jwt("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", "{" VALID_CLAIMS "}", "SHA384", SECRET);
    expect_reject(tok, "alg_mismatch");
    free(tok);
}

Test(auth, rs256_against_an_hs256_key_is_a_mismatch) {
    /* The key pins the algorithm: an RS256 header with an HMAC made with the key. */
    char *tok =
        t_jwt("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "{" VALID_CLAIMS "}", "SHA256", SECRET);
    expect_reject(tok, "alg_mismatch");
    free(tok);
    tok = t_jwt("{\"alg\":\"hs256\",\"typ\":\"JWT\"}", "{" VALID_CLAIMS "}", "SHA256", SECRET);
    expect_reject(tok, "alg_not_allowed"); /* algorithm names are case-sensitive */
    free(tok);
    tok = t_jwt("{\"alg\":\"PS256\",\"typ\":\"JWT\"}", "{" VALID_CLAIMS "}", "SHA256", SECRET);
    expect_reject(tok, "alg_not_allowed");
    free(tok);
}

Test(auth, bad_signature_flipped_char) {
    char *tok = claims_token(VALID_CLAIMS);
    char *sig = strrchr(tok, '.') + 1;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    expect_reject(tok, "bad_signature");
    free(tok);
}

Test(auth, bad_signature_flipped_payload) {
    char *tok = claims_token(VALID_CLAIMS);
    char *payload = strchr(tok, '.') + 1;
    payload[2] = payload[2] == 'A' ? 'B' : 'A';
    sl_principal_t p;
    sl_error_t err;
    cr_assert(eq(int, verify_at(tok, NOW, &p, &err), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "bad_signature"), "%s", err.message);
    free(tok);
}

Test(auth, bad_signature_other_key) {
    char *tok = t_jwt_hs256("{" VALID_CLAIMS "}", "another-secret-another-secret-another");
    expect_reject(tok, "bad_signature");
    free(tok);
}

Test(auth, bad_signature_truncated_or_empty) {
    char *tok = claims_token(VALID_CLAIMS);
    size_t n = strlen(tok);
    tok[n - 4] = '\0';
    expect_reject(tok, "bad_signature");
    *(strrchr(tok, '.') + 1) = '\0';
    expect_reject(tok, "bad_signature");
    free(tok);
}

Test(auth, bad_signature_padded_base64) {
    char *tok = claims_token(VALID_CLAIMS);
    char padded[1024];
    snprintf(padded, sizeof(padded), "%s=", tok);
    sl_principal_t p;
    sl_error_t err;
    cr_assert(eq(int, verify_at(padded, NOW, &p, &err), SL_REJECT));
    free(tok);
}

Test(auth, expired_beyond_leeway) {
    /* exp 120 s ago, leeway 30 s */
    char *tok = claims_token("\"tenant\":\"acme\",\"exp\":1795773480");
    expect_reject(tok, "token_expired");
    free(tok);
    /* exp 31 s ago */
    tok = claims_token("\"tenant\":\"acme\",\"exp\":1795773569");
    expect_reject(tok, "token_expired");
    free(tok);
}

Test(auth, expired_within_leeway_accepted) {
    char *tok = claims_token("\"tenant\":\"acme\",\"exp\":1795773580"); /* 20 s ago */
    expect_ok(tok);
    free(tok);
    tok = claims_token("\"tenant\":\"acme\",\"exp\":1795773570"); /* exactly the leeway */
    expect_ok(tok);
    free(tok);
}

Test(auth, leeway_is_configurable) {
    sl_config_unref(cfg);
    cfg = t_config(NULL, T_SETS("auth.secret=" SECRET, "auth.leeway=0s"));
    char *tok = claims_token("\"tenant\":\"acme\",\"exp\":1795773599"); /* 1 s ago */
    expect_reject(tok, "token_expired");
    free(tok);
    tok = claims_token("\"tenant\":\"acme\",\"exp\":1795773600");
    expect_ok(tok);
    free(tok);
}

Test(auth, exp_required_and_numeric) {
    char *tok = claims_token("\"tenant\":\"acme\"");
    expect_reject(tok, "token_malformed");
    free(tok);
    tok = claims_token("\"tenant\":\"acme\",\"exp\":\"1795777200\"");
    expect_reject(tok, "token_malformed");
    free(tok);
}

Test(auth, exp_as_real_number) {
    char *tok = claims_token("\"tenant\":\"acme\",\"exp\":1795777200.5");
    expect_ok(tok);
    free(tok);
}

/* A token that never expires in practice must not be taken for an expired one (nor overflow
 * when the leeway is added). */
Test(auth, exp_far_future) {
    char *tok = claims_token("\"tenant\":\"acme\",\"exp\":9223372036854775807");
    expect_ok(tok);
    free(tok);
    tok = claims_token("\"tenant\":\"acme\",\"exp\":9223372036854775800");
    expect_ok(tok);
    free(tok);
}

Test(auth, nbf_in_the_future) {
    char *tok = claims_token("\"tenant\":\"acme\",\"exp\":1795777200,\"nbf\":1795773720");
    expect_reject(tok, "token_not_yet_valid");
    free(tok);
    tok = claims_token("\"tenant\":\"acme\",\"exp\":1795777200,\"nbf\":1795773620"); /* +20 s */
    expect_ok(tok);
    free(tok);
    tok = claims_token("\"tenant\":\"acme\",\"exp\":1795777200,\"nbf\":\"later\"");
    sl_principal_t p;
    sl_error_t err;
    cr_assert(eq(int, verify_at(tok, NOW, &p, &err), SL_REJECT), "a non-numeric nbf is refused");
    free(tok);
}

Test(auth, iat_in_the_future) {
    char *tok = claims_token("\"tenant\":\"acme\",\"exp\":1795777200,\"iat\":1795773720");
    expect_reject(tok, "token_from_future");
    free(tok);
    tok = claims_token("\"tenant\":\"acme\",\"exp\":1795777200,\"iat\":1795773620");
    expect_ok(tok);
    free(tok);
}

Test(auth, wrong_issuer) {
    sl_config_unref(cfg);
    cfg = t_config(NULL, T_SETS("auth.secret=" SECRET, "auth.issuer=https://issuer.example"));
    char *tok = claims_token(VALID_CLAIMS ",\"iss\":\"https://evil.example\"");
    expect_reject(tok, "wrong_issuer");
    free(tok);
    tok = claims_token(VALID_CLAIMS);
    expect_reject(tok, "wrong_issuer");
    free(tok);
    tok = claims_token(VALID_CLAIMS ",\"iss\":[\"https://issuer.example\"]");
    expect_reject(tok, "wrong_issuer");
    free(tok);
    tok = claims_token(VALID_CLAIMS ",\"iss\":\"https://issuer.example\"");
    expect_ok(tok);
    free(tok);
}

Test(auth, any_issuer_when_not_configured) {
    char *tok = claims_token(VALID_CLAIMS ",\"iss\":\"whoever\",\"aud\":\"whatever\"");
    expect_ok(tok);
    free(tok);
}

Test(auth, wrong_audience_string) {
    sl_config_unref(cfg);
    cfg = t_config(NULL, T_SETS("auth.secret=" SECRET, "auth.audience=sluice"));
    char *tok = claims_token(VALID_CLAIMS ",\"aud\":\"other\"");
    expect_reject(tok, "wrong_audience");
    free(tok);
    tok = claims_token(VALID_CLAIMS);
    expect_reject(tok, "wrong_audience");
    free(tok);
    tok = claims_token(VALID_CLAIMS ",\"aud\":\"sluice2\"");
    expect_reject(tok, "wrong_audience");
    free(tok);
    tok = claims_token(VALID_CLAIMS ",\"aud\":\"sluice\"");
    expect_ok(tok);
    free(tok);
}

Test(auth, wrong_audience_array) {
    sl_config_unref(cfg);
    cfg = t_config(NULL, T_SETS("auth.secret=" SECRET, "auth.audience=sluice"));
    char *tok = claims_token(VALID_CLAIMS ",\"aud\":[\"a\",\"b\"]");
    expect_reject(tok, "wrong_audience");
    free(tok);
    tok = claims_token(VALID_CLAIMS ",\"aud\":[]");
    expect_reject(tok, "wrong_audience");
    free(tok);
    tok = claims_token(VALID_CLAIMS ",\"aud\":[1,\"sluice\"]");
    expect_ok(tok);
    free(tok);
    tok = claims_token(VALID_CLAIMS ",\"aud\":[\"other\",\"sluice\"]");
    expect_ok(tok);
    free(tok);
}

Test(auth, tenant_missing) {
    char *tok = claims_token("\"sub\":\"u\",\"exp\":1795777200");
    expect_reject(tok, "tenant_missing");
    free(tok);
    tok = claims_token("\"tenant\":\"\",\"exp\":1795777200");
    expect_reject(tok, "tenant_missing");
    free(tok);
    tok = claims_token("\"tenant\":42,\"exp\":1795777200");
    expect_reject(tok, "tenant_missing");
    free(tok);
}

Test(auth, typ_other_than_jwt) {
    char *tok =
        t_jwt("{\"alg\":\"HS256\",\"typ\":\"JWS\"}", "{" VALID_CLAIMS "}", "SHA256", SECRET);
    expect_reject(tok, "bad_typ");
    free(tok);
    tok = t_jwt("{\"alg\":\"HS256\",\"typ\":7}", "{" VALID_CLAIMS "}", "SHA256", SECRET);
    expect_reject(tok, "bad_typ");
    free(tok);
    /* typ is optional and case-insensitive. */
    tok = t_jwt("{\"alg\":\"HS256\"}", "{" VALID_CLAIMS "}", "SHA256", SECRET);
    expect_ok(tok);
    free(tok);
    tok = t_jwt("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", "{" VALID_CLAIMS "}", "SHA256", SECRET);
    expect_ok(tok);
    free(tok);
}

Test(auth, malformed_base64) {
    char *tok = claims_token(VALID_CLAIMS);
    tok[3] = '*';
    expect_reject(tok, "token_malformed");
    free(tok);
    tok = claims_token(VALID_CLAIMS);
    tok[0] = '+'; /* base64, not base64url */
    expect_reject(tok, "token_malformed");
    free(tok);
    expect_reject("e.e30.sig", "token_malformed");
}

/* A last character with non-zero unused bits decodes to the same bytes; JWS segments refuse it,
 * so every token has one spelling. */
Test(auth, non_canonical_base64) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *tok = claims_token(VALID_CLAIMS);
    expect_ok(tok);
    /* The signature: 32 bytes in 43 characters, the last one's 2 low bits unused. */
    char *last = tok + strlen(tok) - 1;
    int v = (int)(strchr(a, *last) - a);
    cr_assert(eq(int, v & 3, 0));
    *last = a[v | 1];
    expect_reject(tok, "bad_signature");
    free(tok);
    /* The header: 16 bytes in 22 characters, 4 bits unused. */
    tok = t_jwt("{\"alg\":\"HS256\"} ", "{" VALID_CLAIMS "}", "SHA256", SECRET);
    expect_ok(tok);
    last = strchr(tok, '.') - 1;
    v = (int)(strchr(a, *last) - a);
    cr_assert(eq(int, v & 15, 0));
    *last = a[v | 8];
    expect_reject(tok, "token_malformed");
    free(tok);
}

Test(auth, segments_not_json) {
    char *h = t_b64url("not json", 8);
    char tok[256];
    snprintf(tok, sizeof(tok), "%s.e30.AAAA", h);
    expect_reject(tok, "token_malformed");
    free(h);
    /* A JSON header that is not an object. */
    h = t_b64url("[\"HS256\"]", 9);
    snprintf(tok, sizeof(tok), "%s.e30.AAAA", h);
    expect_reject(tok, "token_malformed");
    free(h);
    /* A signed payload that is not JSON. */
    char *t2 = t_jwt("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "tenant=acme", "SHA256", SECRET);
    expect_reject(t2, "token_malformed");
    free(t2);
    /* A payload with duplicate claims. */
    t2 = t_jwt_hs256("{\"tenant\":\"acme\",\"tenant\":\"evil\",\"exp\":1795777200}", SECRET);
    expect_reject(t2, "token_malformed");
    free(t2);
}

Test(auth, wrong_number_of_segments) {
    char *tok = claims_token(VALID_CLAIMS);
    char two[1024];
    snprintf(two, sizeof(two), "%.*s", (int)(strrchr(tok, '.') - tok), tok);
    expect_reject(two, "token_malformed");
    char four[1024];
    snprintf(four, sizeof(four), "%s.AAAA", tok);
    expect_reject(four, "token_malformed");
    expect_reject("", "token_malformed");
    expect_reject("abc", "token_malformed");
    expect_reject("..", "token_malformed");
    expect_reject("...", "token_malformed");
    free(tok);
}

Test(auth, token_over_max_token_bytes) {
    sl_config_unref(cfg);
    cfg = t_config(NULL, T_SETS("auth.secret=" SECRET, "limits.max_token_bytes=256"));
    char claims[512];
    char pad[300];
    memset(pad, 'p', 250);
    pad[250] = '\0';
    snprintf(claims, sizeof(claims), VALID_CLAIMS ",\"pad\":\"%s\"", pad);
    char *tok = claims_token(claims);
    cr_assert(strlen(tok) > 256);
    expect_reject(tok, "token_too_large");
    free(tok);
    /* A token of at most the limit is read. */
    tok = claims_token("\"tenant\":\"a\",\"exp\":1795777200");
    cr_assert(strlen(tok) <= 256);
    expect_ok(tok);
    free(tok);
}

Test(auth, oversized_garbage_refused_unread) {
    sl_config_unref(cfg);
    cfg = t_config(NULL, T_SETS("auth.secret=" SECRET, "limits.max_token_bytes=256"));
    char big[300];
    memset(big, '.', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    expect_reject(big, "token_too_large");
}

Test(auth, origins_claim_array_or_string) {
    sl_principal_t p;
    sl_error_t err;
    char *tok = claims_token(
        VALID_CLAIMS ",\"allowed_origins\":[\"https://a.example\",7,\"https://b.example\"]");
    cr_assert(eq(int, verify_at(tok, NOW, &p, &err), SL_OK), "%s", err.message);
    cr_assert(eq(str, (char *)p.origins, "https://a.example https://b.example"),
              "strings of the array joined, others skipped");
    free(tok);
    tok = claims_token(VALID_CLAIMS ",\"allowed_origins\":\"https://c.example\"");
    cr_assert(eq(int, verify_at(tok, NOW, &p, &err), SL_OK), "%s", err.message);
    cr_assert(eq(str, (char *)p.origins, "https://c.example"));
    free(tok);
    tok = claims_token(VALID_CLAIMS);
    cr_assert(eq(int, verify_at(tok, NOW, &p, &err), SL_OK), "%s", err.message);
    cr_assert(eq(str, (char *)p.origins, ""), "no claim: no origins");
    free(tok);
}
