/* auth/ratelimit: token buckets keyed by a byte string (a tenant, a tenant and a subject).
 *
 * A bucket holds up to `burst` tokens, refills at `rate` tokens per second and gives one token per
 * request. Rate and burst are passed on every call, not stored, so a config reload changes them
 * for buckets already tracked. The table is allocated once, at sl_ratelimit_new, and never grows:
 * at most max_keys buckets are tracked, and when a new key finds the table full the bucket idle
 * longest is forgotten (the key starts again with a full bucket, as if it had been idle long
 * enough to refill). Keys are identified by a 128-bit keyed hash (SipHash-2-4, random key per
 * limiter), not stored: two keys share a bucket only on a 128-bit collision, and a client cannot
 * aim for one because the hash key is secret. Time is passed in by the caller (milliseconds of
 * any clock that does not jump, e.g. CLOCK_MONOTONIC), which keeps the module testable. */
#ifndef SL_AUTH_RATELIMIT_H
#define SL_AUTH_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_ratelimit sl_ratelimit_t;

/* A limiter tracking at most max_keys buckets (0 is taken as 1; capped at 2^30). Free with
 * sl_ratelimit_free. Allocation failure aborts. */
sl_ratelimit_t *sl_ratelimit_new(size_t max_keys);

/* Frees rl (NULL is ignored). No call may be running on rl. */
void sl_ratelimit_free(sl_ratelimit_t *rl);

/* Takes one token from key's bucket (key_len bytes, borrowed for the call, any bytes) at now_ms.
 * The bucket is refilled at rate tokens per second up to burst (burst < 1 is taken as 1); a key
 * seen for the first time starts full. Returns 0 when a token was taken, else the milliseconds
 * until one will be available (> 0); a refused call takes nothing. rate <= 0 means unlimited:
 * returns 0 without tracking the key. now_ms earlier than a bucket's last call (calls from
 * threads that read the clock in another order) refills nothing. Thread-safe; never allocates. */
int64_t sl_ratelimit_take(sl_ratelimit_t *rl, const char *key, size_t key_len, double rate,
                          double burst, int64_t now_ms);

/* Number of buckets tracked now (at most max_keys). Thread-safe. */
size_t sl_ratelimit_size(sl_ratelimit_t *rl);

#endif
