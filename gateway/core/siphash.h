/* core/siphash: SipHash-2-4 with a 128-bit output, and a random key for it.
 *
 * For tables keyed by bytes a client chooses (rate-limit keys, dedupe ids): keyed with a secret
 * random key, a client can neither aim for a collision nor build long hash chains. The output is
 * the reference implementation's (github.com/veorq/SipHash, vectors_sip128): out[0] and out[1]
 * are its first and last 8 bytes read little-endian. */
#ifndef SL_CORE_SIPHASH_H
#define SL_CORE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* An incremental hash: init, any number of updates, final. No allocation; any thread, one
 * state per thread. */
typedef struct {
    uint64_t v[4];
    uint64_t tail; /* the bytes of an unfinished 8-byte word, little-endian */
    size_t len;    /* bytes hashed so far */
} sl_siphash_t;

/* key[0], key[1]: the 16-byte key read as two little-endian words. */
void sl_siphash_init(sl_siphash_t *s, const uint64_t key[2]);
/* Hashes len bytes of data (borrowed for the call). */
void sl_siphash_update(sl_siphash_t *s, const void *data, size_t len);
/* The 128-bit hash of everything updated; s is spent (init it again to reuse). */
void sl_siphash_final(sl_siphash_t *s, uint64_t out[2]);
/* The same in one call. */
void sl_siphash128(const uint64_t key[2], const void *data, size_t len, uint64_t out[2]);

/* A random key (getrandom). Without an entropy source it falls back to the clock and an address:
 * collisions stay improbable, only no longer unpredictable. Never fails. */
void sl_siphash_random_key(uint64_t key[2]);

#endif
