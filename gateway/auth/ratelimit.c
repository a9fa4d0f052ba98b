#include "auth/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/siphash.h"

#define NIL UINT32_MAX
#define MAX_KEYS ((size_t)1 << 30)

/* A float error in the refill must not turn an exact wait into one more refusal. */
#define EPSILON 1e-9

typedef struct {
    uint64_t h0, h1; /* the key's 128-bit hash */
    double tokens;
    int64_t last_ms;
    uint32_t chain;        /* next entry of the same hash slot */
    uint32_t older, newer; /* recency list: oldest is evicted first */
} bucket_t;

struct sl_ratelimit {
    pthread_mutex_t lock;
    uint64_t key[2]; /* SipHash key */
    bucket_t *buckets;
    uint32_t cap;
    uint32_t used;
    uint32_t *slots; /* head entry per hash slot, NIL when empty */
    uint32_t mask;
    uint32_t oldest, newest;
};

/* ---------------------------------------------------------------------------------- table -- */

sl_ratelimit_t *sl_ratelimit_new(size_t max_keys) {
    if (max_keys == 0) {
        max_keys = 1;
    }
    if (max_keys > MAX_KEYS) {
        max_keys = MAX_KEYS;
    }
    /* About two slots per bucket keeps chains short; calloc'd pages are only touched as buckets
     * are used. */
    size_t nslots = 1;
    while (nslots < 2 * max_keys) {
        nslots <<= 1;
    }
    sl_ratelimit_t *rl = calloc(1, sizeof(*rl));
    bucket_t *buckets = calloc(max_keys, sizeof(*buckets));
    uint32_t *slots = malloc(nslots * sizeof(*slots));
    if (rl == NULL || buckets == NULL || slots == NULL) {
        abort();
    }
    memset(slots, 0xff, nslots * sizeof(*slots)); /* NIL */
    pthread_mutex_init(&rl->lock, NULL);
    sl_siphash_random_key(rl->key);
    rl->buckets = buckets;
    rl->cap = (uint32_t)max_keys;
    rl->slots = slots;
    rl->mask = (uint32_t)(nslots - 1);
    rl->oldest = NIL;
    rl->newest = NIL;
    return rl;
}

void sl_ratelimit_free(sl_ratelimit_t *rl) {
    if (rl == NULL) {
        return;
    }
    pthread_mutex_destroy(&rl->lock);
    free(rl->buckets);
    free(rl->slots);
    free(rl);
}

static void recency_unlink(sl_ratelimit_t *rl, uint32_t i) {
    bucket_t *b = &rl->buckets[i];
    if (b->older != NIL) {
        rl->buckets[b->older].newer = b->newer;
    } else {
        rl->oldest = b->newer;
    }
    if (b->newer != NIL) {
        rl->buckets[b->newer].older = b->older;
    } else {
        rl->newest = b->older;
    }
}

static void recency_push_newest(sl_ratelimit_t *rl, uint32_t i) {
    bucket_t *b = &rl->buckets[i];
    b->older = rl->newest;
    b->newer = NIL;
    if (rl->newest != NIL) {
        rl->buckets[rl->newest].newer = i;
    } else {
        rl->oldest = i;
    }
    rl->newest = i;
}

static void chain_unlink(sl_ratelimit_t *rl, uint32_t i) {
    uint32_t *link = &rl->slots[rl->buckets[i].h0 & rl->mask];
    while (*link != i) {
        link = &rl->buckets[*link].chain;
    }
    *link = rl->buckets[i].chain;
}

/* The bucket of (h0, h1), made (full) when missing: a fresh one while the table has room, else
 * the one idle longest. Called with the lock held. */
static uint32_t bucket_get(sl_ratelimit_t *rl, uint64_t h0, uint64_t h1, double burst,
                           int64_t now_ms) {
    uint32_t *slot = &rl->slots[h0 & rl->mask];
    for (uint32_t i = *slot; i != NIL; i = rl->buckets[i].chain) {
        if (rl->buckets[i].h0 == h0 && rl->buckets[i].h1 == h1) {
            recency_unlink(rl, i);
            recency_push_newest(rl, i);
            return i;
        }
    }
    uint32_t i;
    if (rl->used < rl->cap) {
        i = rl->used++;
    } else {
        i = rl->oldest;
        recency_unlink(rl, i);
        chain_unlink(rl, i);
    }
    bucket_t *b = &rl->buckets[i];
    b->h0 = h0;
    b->h1 = h1;
    b->tokens = burst;
    b->last_ms = now_ms;
    b->chain = *slot;
    *slot = i;
    recency_push_newest(rl, i);
    return i;
}

int64_t sl_ratelimit_take(sl_ratelimit_t *rl, const char *key, size_t key_len, double rate,
                          double burst, int64_t now_ms) {
    if (!(rate > 0)) {
        return 0;
    }
    if (!(burst >= 1)) {
        burst = 1;
    }
    uint64_t h[2];
    sl_siphash128(rl->key, key, key_len, h);

    pthread_mutex_lock(&rl->lock);
    bucket_t *b = &rl->buckets[bucket_get(rl, h[0], h[1], burst, now_ms)];
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
        b->last_ms = now_ms;
    }
    if (b->tokens > burst) {
        b->tokens = burst; /* also when a reload lowered burst */
    }
    int64_t wait = 0;
    if (b->tokens >= 1.0 - EPSILON) {
        b->tokens -= 1.0;
    } else {
        /* The least whole ms after which the refill above lets a request through, with the
         * same arithmetic (ceil alone can be one off when the quotient has rounding error). */
        double ms = ceil((1.0 - b->tokens) * 1000.0 / rate);
        if (ms > 1.0 && b->tokens + (ms - 1.0) * rate / 1000.0 >= 1.0 - EPSILON) {
            ms -= 1.0;
        } else if (b->tokens + ms * rate / 1000.0 < 1.0 - EPSILON) {
            ms += 1.0;
        }
        wait = ms < 1.0 ? 1 : ms > (double)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)ms;
    }
    pthread_mutex_unlock(&rl->lock);
    return wait;
}

size_t sl_ratelimit_size(sl_ratelimit_t *rl) {
    pthread_mutex_lock(&rl->lock);
    size_t n = rl->used;
    pthread_mutex_unlock(&rl->lock);
    return n;
}
