#include "auth/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

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
    uint64_t k0, k1; /* SipHash key */
    bucket_t *buckets;
    uint32_t cap;
    uint32_t used;
    uint32_t *slots; /* head entry per hash slot, NIL when empty */
    uint32_t mask;
    uint32_t oldest, newest;
};

/* ------------------------------------------------------------ SipHash-2-4 (128-bit output) -- */

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static inline void sipround(uint64_t v[4]) {
    v[0] += v[1];
    v[1] = ROTL(v[1], 13);
    v[1] ^= v[0];
    v[0] = ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = ROTL(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = ROTL(v[1], 17);
    v[1] ^= v[2];
    v[2] = ROTL(v[2], 32);
}

static inline uint64_t load_le64(const unsigned char *p) {
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) {
        x = (x << 8) | p[i];
    }
    return x;
}

static void siphash128(uint64_t k0, uint64_t k1, const char *data, size_t len, uint64_t *h0,
                       uint64_t *h1) {
    const unsigned char *in = (const unsigned char *)data;
    uint64_t v[4] = {
        UINT64_C(0x736f6d6570736575) ^ k0,
        UINT64_C(0x646f72616e646f6d) ^ k1 ^ 0xee,
        UINT64_C(0x6c7967656e657261) ^ k0,
        UINT64_C(0x7465646279746573) ^ k1,
    };
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(in + i);
        v[3] ^= m;
        sipround(v);
        sipround(v);
        v[0] ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++) {
        b |= (uint64_t)in[whole + i] << (8 * i);
    }
    v[3] ^= b;
    sipround(v);
    sipround(v);
    v[0] ^= b;
    v[2] ^= 0xee;
    for (int i = 0; i < 4; i++) {
        sipround(v);
    }
    *h0 = v[0] ^ v[1] ^ v[2] ^ v[3];
    v[1] ^= 0xdd;
    for (int i = 0; i < 4; i++) {
        sipround(v);
    }
    *h1 = v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---------------------------------------------------------------------------------- table -- */

static void random_key(uint64_t k[2]) {
    unsigned char *p = (unsigned char *)k;
    size_t got = 0;
    while (got < 2 * sizeof(uint64_t)) {
        ssize_t n = getrandom(p + got, 2 * sizeof(uint64_t) - got, 0);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    if (got < 2 * sizeof(uint64_t)) {
        /* No entropy source: collisions stay improbable, only no longer unpredictable. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        k[0] ^= (uint64_t)ts.tv_nsec * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)ts.tv_sec;
        k[1] ^= (uint64_t)(uintptr_t)k * UINT64_C(0xbf58476d1ce4e5b9);
    }
}

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
    uint64_t k[2] = {0, 0};
    random_key(k);
    rl->k0 = k[0];
    rl->k1 = k[1];
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
    uint64_t h0, h1;
    siphash128(rl->k0, rl->k1, key, key_len, &h0, &h1);

    pthread_mutex_lock(&rl->lock);
    bucket_t *b = &rl->buckets[bucket_get(rl, h0, h1, burst, now_ms)];
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
