/* config/keyring: the keys tokens are verified with, as the configuration names them.
 *
 * Sources, all optional, merged into one ring (built at validation, so a reload re-reads every
 * file and a bad file refuses the whole snapshot):
 *   auth.secret / auth.secret_file   one HS256 key without a kid (the simple setup);
 *   auth.keys_file                   YAML: keys: [{kid, alg, secret | secret_file |
 *                                    public_key_file, private_key_file}], HS/RS/ES 256/384/512;
 *   auth.jwks_file                   a JWKS (RFC 7517) of RSA and EC public keys.
 * Every key pins its algorithm: a token naming another one is refused, whatever its signature
 * (no alg:none, no HS256 "signed" with a public key). kids are unique across the ring. */
#ifndef SL_CONFIG_KEYRING_H
#define SL_CONFIG_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum {
    SL_JWA_HS256,
    SL_JWA_HS384,
    SL_JWA_HS512,
    SL_JWA_RS256,
    SL_JWA_RS384,
    SL_JWA_RS512,
    SL_JWA_ES256,
    SL_JWA_ES384,
    SL_JWA_ES512,
    SL_JWA__COUNT,
} sl_jwa_t;

typedef struct {
    char *kid;             /* NULL: the kid-less auth.secret key */
    sl_jwa_t alg;          /* pinned */
    unsigned char *secret; /* HS*: the shared secret */
    size_t secret_len;
    void *public_key;  /* RS* / ES*: an EVP_PKEY */
    char *private_pem; /* RS* / ES*: PEM of the private key, for `sluice token`; or NULL */
    size_t private_pem_len;
} sl_key_t;

typedef struct {
    sl_key_t *keys;
    size_t n;
    uint64_t generation; /* unique per loaded ring: cached verifications are tied to it */
} sl_keyring_t;

/* "HS256", ... and back; -1 for a name that is not one of the nine. */
const char *sl_jwa_name(sl_jwa_t alg);
int sl_jwa_parse(const char *name, size_t len);

/* Builds the ring from the kid-less secret (secret/secret_len, may be NULL) and the files named
 * by keys_file and jwks_file ("" for none). Errors name the config key, the file and the entry. */
sl_status_t sl_keyring_load(const char *secret, size_t secret_len, const char *keys_file,
                            const char *jwks_file, sl_keyring_t **out, sl_error_t *err);
/* NULL is ignored. Wipes secrets. */
void sl_keyring_free(sl_keyring_t *ring);

/* The key a token must be verified with: by kid when the token names one (NULL when no key has
 * it); for a token without kid, the kid-less auth.secret key, else the ring's only key (NULL when
 * the ring has several: the token must name one). */
const sl_key_t *sl_keyring_find(const sl_keyring_t *ring, const char *kid, size_t kid_len);

#endif
