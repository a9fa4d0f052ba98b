/* auth/cache: a bounded cache of verified JWTs, so a busy client's token is not re-verified on
 * every request.
 *
 * An entry is keyed by the SHA-256 of the token bytes (the full 32 bytes are compared) and by
 * the key generation it was verified under: bumping the generation on a key rotation makes every
 * older entry miss. The token itself is never stored, only its digest, and nothing here logs.
 * An entry is returned only while now_s <= its principal's valid_until, so the cache never
 * extends what the verification established.
 *
 * All memory is allocated by sl_token_cache_new: capacity slots of about 1.1 KiB each (the
 * principal's strings are stored inline, up to SL_TOKEN_CACHE_MAX_STRINGS bytes). Slots form
 * 8-way set-associative buckets, each evicting its least recently used entry when full; buckets
 * are spread over a fixed set of mutexes, so two threads contend only when their tokens hash to
 * the same stripe. */
#ifndef SL_AUTH_CACHE_H
#define SL_AUTH_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "core/arena.h"

/* A principal whose tenant, subject and scope together (without terminators) exceed this many
 * bytes is not cached. */
#define SL_TOKEN_CACHE_MAX_STRINGS 1024

typedef struct sl_token_cache sl_token_cache_t;

/* A cache of at most capacity entries, all allocated now; free with sl_token_cache_free.
 * capacity 0 gives a disabled cache that never hits and counts nothing. Returns NULL only when
 * capacity is too large for the address space; allocation failure aborts. */
sl_token_cache_t *sl_token_cache_new(size_t capacity);

/* Frees c; no other thread may be using it. NULL is ignored. */
void sl_token_cache_free(sl_token_cache_t *c);

/* True when a previous sl_token_cache_put stored a principal for exactly these len token bytes
 * under generation gen and now_s <= its valid_until: *out is then filled with its strings copied
 * into arena (nothing in *out points into the cache). False otherwise, *out untouched; an expired
 * entry found on the way is freed for reuse. c NULL behaves as a disabled cache. Thread-safe. */
bool sl_token_cache_get(sl_token_cache_t *c, const char *token, size_t len, uint64_t gen,
                        int64_t now_s, sl_arena_t *arena, sl_principal_t *out);

/* Remembers a copy of p (borrowed) for the len token bytes under generation gen, replacing any
 * entry for the same token; the caller has just verified the token under gen. Not cached: a
 * principal whose strings exceed SL_TOKEN_CACHE_MAX_STRINGS, or whose valid_until is already
 * before the latest now_s a get has seen. When the token's bucket is full, an expired or
 * other-generation entry is replaced first, else the least recently used one. NULL strings in p
 * are stored as "". c NULL is ignored. Thread-safe. */
void sl_token_cache_put(sl_token_cache_t *c, const char *token, size_t len, uint64_t gen,
                        const sl_principal_t *p);

/* Occupied slots (at most the capacity; expired entries count until reused), and hits and
 * misses of sl_token_cache_get so far, for /metrics. Any out-parameter may be NULL. Takes each
 * lock in turn, so the three are consistent per stripe, not across the cache. Thread-safe. */
void sl_token_cache_stats(sl_token_cache_t *c, uint64_t *entries, uint64_t *hits, uint64_t *misses);

#endif
