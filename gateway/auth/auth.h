/* auth: JWT verification and minting.
 *
 * libjwt 1.10 lets a token's own `alg` pick the check and validates no claim (DESIGN.md), so
 * verification does not go through it: the header is parsed here, the key is chosen by `kid`
 * from the configured ring (config/keyring.h) and pins the algorithm, the signature is checked
 * with OpenSSL (HMAC compared in constant time; RSA PKCS#1 v1.5; ECDSA with JOSE r||s), and every
 * time claim is checked with the configured leeway. libjwt mints development tokens.
 * Tokens are never logged. */
#ifndef SL_AUTH_AUTH_H
#define SL_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/arena.h"
#include "core/status.h"

typedef struct {
    const char *tenant;  /* from the configured tenant claim; in the arena */
    const char *subject; /* `sub`, or "" */
    int64_t expires_at;  /* `exp`, seconds */
    int64_t valid_until; /* last second (epoch) at which this verification still holds: exp (+
                            leeway), or the max token age */
    const char *scope;   /* the token's scopes, space-separated, "" when none */
    const char *origins; /* cors.origins_claim: browser origins the token may send from,
                            space-separated, "" when none */
} sl_principal_t;

/* Verify token (len bytes, not NUL-terminated) against cfg's key and claims rules at time
 * now_s. On success fills *out with strings allocated in arena. On failure returns SL_REJECT
 * with a stable reason code (token_too_large, token_malformed, alg_none, alg_not_allowed,
 * alg_mismatch, kid_missing, kid_unknown, bad_typ, bad_signature, token_expired,
 * token_not_yet_valid, token_from_future, token_too_old, wrong_issuer, wrong_audience,
 * tenant_missing, no_key). Thread-safe. */
sl_status_t sl_auth_verify(const sl_config_t *cfg, const char *token, size_t len, int64_t now_s,
                           sl_arena_t *arena, sl_principal_t *out, sl_error_t *err);

/* Scopes (auth.scope_claim; see auth/scope.c): whether scope grants any write at all, and
 * whether it allows an event of type (type_len bytes) in stage ("raw", ...; NULL when unknown).
 * A NULL scope (authentication off) allows everything. */
bool sl_auth_scope_can_write(const char *scope);
/* Whether scope has exactly the word `word` (e.g. "privacy:erasure"); NULL scope: true. */
bool sl_auth_scope_has(const char *scope, const char *word);
bool sl_auth_scope_allows(const char *scope, const char *type, size_t type_len, const char *stage);

/* What a minted token says. */
typedef struct {
    const char *tenant;  /* required */
    const char *subject; /* sub, or NULL */
    int64_t ttl_s;
    const char *kid;   /* the key to sign with; NULL: the kid-less or only key */
    const char *scope; /* space-separated scopes (in auth.scope_claim), or NULL for none */
} sl_mint_t;

/* Mint a token signed with a key of cfg's ring (HS* with its secret, RS* and ES* with their
 * private_key_file) naming its kid, with the tenant claim, iat, exp = now + ttl, sub, scope, and
 * the first of auth.issuer and auth.audience when configured. Returns a malloc'd string the
 * caller frees, or NULL with err filled (no_key, kid_unknown, mint_failed). */
char *sl_auth_mint(const sl_config_t *cfg, const sl_mint_t *m, sl_error_t *err);

#endif
