/* auth: JWT verification and minting.
 *
 * libjwt 1.10 lets a token's own `alg` pick the check and validates no claim (DESIGN.md), so
 * verification does not go through it: the header is parsed here, the algorithm is pinned to the
 * configured key (HS256), the HMAC is computed with OpenSSL and compared in constant time, and
 * every time claim is checked with the configured leeway. libjwt mints development tokens.
 * Tokens are never logged. */
#ifndef SL_AUTH_AUTH_H
#define SL_AUTH_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/arena.h"
#include "core/status.h"

typedef struct {
    const char *tenant;  /* from the configured tenant claim; in the arena */
    const char *subject; /* `sub`, or "" */
    int64_t expires_at;  /* `exp`, seconds */
} sl_principal_t;

/* Verify token (len bytes, not NUL-terminated) against cfg's key and claims rules at time
 * now_s. On success fills *out with strings allocated in arena. On failure returns SL_REJECT
 * with a stable reason code (token_too_large, token_malformed, alg_none, alg_not_allowed,
 * bad_typ, bad_signature, token_expired, token_not_yet_valid, token_from_future, wrong_issuer,
 * wrong_audience, tenant_missing, no_key). Thread-safe. */
sl_status_t sl_auth_verify(const sl_config_t *cfg, const char *token, size_t len, int64_t now_s,
                           sl_arena_t *arena, sl_principal_t *out, sl_error_t *err);

/* Mint an HS256 token with key for tenant (in claim tenant_claim), subject (may be NULL) and a
 * lifetime of ttl_s seconds, plus iss/aud when non-empty. Returns a malloc'd string the caller
 * frees, or NULL with err filled. */
char *sl_auth_mint(const char *key, size_t key_len, const char *tenant_claim, const char *tenant,
                   const char *subject, int64_t ttl_s, const char *issuer, const char *audience,
                   sl_error_t *err);

#endif
