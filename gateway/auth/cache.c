#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "auth/cache.h"

/* Ways per bucket: a lookup compares at most this many digests, and LRU is exact within it. */
#define WAYS 8
/* Enough mutexes that the I/O threads rarely meet on one, few enough to stay small. */
#define MAX_STRIPES 64
#define DIGEST_LEN 32

/* What a lookup scans, kept apart from the strings so a bucket's metadata is a few cache lines. */
typedef struct {
    unsigned char digest[DIGEST_LEN]; /* SHA-256 of the token; the token is never stored */
    uint64_t gen;
    int64_t valid_until;
    uint64_t stamp; /* the stripe's tick at the last put or hit; 0 = free slot */
} slot_meta_t;

typedef struct {
    int64_t expires_at;
    uint16_t tenant_len, subject_len, scope_len, origins_len;
    char bytes[SL_TOKEN_CACHE_MAX_STRINGS]; /* tenant, subject, scope, origins back to back */
} slot_data_t;

/* One mutex and the state it guards, on its own cache lines so stripes do not false-share. */
typedef struct {
    _Alignas(64) pthread_mutex_t lock;
    uint64_t tick; /* LRU clock of the buckets of this stripe */
    uint64_t entries;
    uint64_t hits;
    uint64_t misses;
} stripe_t;

struct sl_token_cache {
    size_t capacity;
    size_t nbuckets;
    size_t nstripes;
    slot_meta_t *meta; /* capacity slots; bucket b is a contiguous run of them */
    slot_data_t *data;
    stripe_t *stripes;
    EVP_MD *sha256_fetched; /* fetched once: an implicit fetch per digest costs a lookup */
    const EVP_MD *sha256;
    /* The latest now_s a get has seen: lets put, which has no clock, tell expired entries. */
    _Atomic int64_t latest_now;
};

/* The process allocator failing is not recovered from (STYLE.md). */
static void *xalloc(void *p) {
    if (p == NULL) {
        abort();
    }
    return p;
}

/* The digest an I/O thread computed last, with the token bytes it is of: a connection's
 * requests carry the same token, and comparing the bytes costs far less than SHA-256. */
#define MEMO_MAX 2048
static _Thread_local struct {
    size_t len; /* 0: empty */
    unsigned char digest[DIGEST_LEN];
    char token[MEMO_MAX];
} memo;

static bool token_digest(const sl_token_cache_t *c, const char *token, size_t len,
                         unsigned char out[DIGEST_LEN]) {
    unsigned int n = 0;
    if (token == NULL && len > 0) {
        return false;
    }
    if (len > 0 && len == memo.len && memcmp(token, memo.token, len) == 0) {
        memcpy(out, memo.digest, DIGEST_LEN);
        return true;
    }
    if (EVP_Digest(token, len, out, &n, c->sha256, NULL) != 1 || n != DIGEST_LEN) {
        return false;
    }
    if (len > 0 && len <= MEMO_MAX) {
        memo.len = len;
        memcpy(memo.token, token, len);
        memcpy(memo.digest, out, DIGEST_LEN);
    }
    return true;
}

/* Slots [*first, *end) of the bucket for digest: capacity is spread so bucket sizes differ by at
 * most one. */
static size_t bucket_of(const sl_token_cache_t *c, const unsigned char digest[DIGEST_LEN],
                        size_t *first, size_t *end) {
    uint64_t h;
    memcpy(&h, digest, sizeof(h));
    size_t b = (size_t)(h % c->nbuckets);
    size_t base = c->capacity / c->nbuckets, rem = c->capacity % c->nbuckets;
    *first = b * base + (b < rem ? b : rem);
    *end = *first + base + (b < rem ? 1 : 0);
    return b;
}

static void note_now(sl_token_cache_t *c, int64_t now_s) {
    int64_t cur = atomic_load_explicit(&c->latest_now, memory_order_relaxed);
    while (now_s > cur &&
           !atomic_compare_exchange_weak_explicit(&c->latest_now, &cur, now_s, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

sl_token_cache_t *sl_token_cache_new(size_t capacity) {
    if (capacity > SIZE_MAX / (sizeof(slot_meta_t) + sizeof(slot_data_t))) {
        return NULL;
    }
    sl_token_cache_t *c = xalloc(calloc(1, sizeof(*c)));
    c->capacity = capacity;
    atomic_init(&c->latest_now, INT64_MIN);
    if (capacity == 0) {
        return c;
    }
    c->nbuckets = (capacity + WAYS - 1) / WAYS;
    c->nstripes = c->nbuckets < MAX_STRIPES ? c->nbuckets : MAX_STRIPES;
    c->meta = xalloc(calloc(capacity, sizeof(slot_meta_t)));
    c->data = xalloc(calloc(capacity, sizeof(slot_data_t)));
    c->stripes = xalloc(aligned_alloc(_Alignof(stripe_t), c->nstripes * sizeof(stripe_t)));
    memset(c->stripes, 0, c->nstripes * sizeof(stripe_t));
    for (size_t i = 0; i < c->nstripes; i++) {
        pthread_mutex_init(&c->stripes[i].lock, NULL);
    }
    c->sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->sha256 = c->sha256_fetched != NULL ? c->sha256_fetched : EVP_sha256();
    return c;
}

void sl_token_cache_free(sl_token_cache_t *c) {
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->nstripes; i++) {
        pthread_mutex_destroy(&c->stripes[i].lock);
    }
    EVP_MD_free(c->sha256_fetched);
    free(c->stripes);
    free(c->data);
    free(c->meta);
    free(c);
}

bool sl_token_cache_get(sl_token_cache_t *c, const char *token, size_t len, uint64_t gen,
                        int64_t now_s, sl_arena_t *arena, sl_principal_t *out) {
    unsigned char digest[DIGEST_LEN];
    if (c == NULL || c->capacity == 0 || !token_digest(c, token, len, digest)) {
        return false;
    }
    note_now(c, now_s);
    size_t first, end;
    stripe_t *s = &c->stripes[bucket_of(c, digest, &first, &end) % c->nstripes];
    /* Copied out under the lock, into the arena after it: the arena may have to malloc. */
    slot_data_t found;
    int64_t valid_until = 0;
    bool hit = false;

    pthread_mutex_lock(&s->lock);
    for (size_t i = first; i < end; i++) {
        slot_meta_t *m = &c->meta[i];
        if (m->stamp == 0 || CRYPTO_memcmp(m->digest, digest, DIGEST_LEN) != 0) {
            continue;
        }
        if (m->gen == gen && now_s <= m->valid_until) {
            const slot_data_t *d = &c->data[i];
            found.expires_at = d->expires_at;
            found.tenant_len = d->tenant_len;
            found.subject_len = d->subject_len;
            found.scope_len = d->scope_len;
            found.origins_len = d->origins_len;
            memcpy(found.bytes, d->bytes,
                   (size_t)d->tenant_len + d->subject_len + (size_t)d->scope_len + d->origins_len);
            valid_until = m->valid_until;
            m->stamp = ++s->tick;
            hit = true;
        } else if (now_s > m->valid_until) {
            m->stamp = 0;
            s->entries--;
        }
        /* A put keeps at most one slot per digest in a bucket. */
        break;
    }
    if (hit) {
        s->hits++;
    } else {
        s->misses++;
    }
    pthread_mutex_unlock(&s->lock);

    if (hit) {
        const char *p = found.bytes;
        out->tenant = sl_arena_strndup(arena, p, found.tenant_len);
        p += found.tenant_len;
        out->subject = sl_arena_strndup(arena, p, found.subject_len);
        p += found.subject_len;
        out->scope = sl_arena_strndup(arena, p, found.scope_len);
        p += found.scope_len;
        out->origins = sl_arena_strndup(arena, p, found.origins_len);
        out->expires_at = found.expires_at;
        out->valid_until = valid_until;
    }
    return hit;
}

/* Lower is a better victim: free, then dead (expired or verified under another key), then live. */
static int victim_rank(const slot_meta_t *m, uint64_t gen, int64_t now_s) {
    if (m->stamp == 0) {
        return 0;
    }
    return m->valid_until < now_s || m->gen != gen ? 1 : 2;
}

void sl_token_cache_put(sl_token_cache_t *c, const char *token, size_t len, uint64_t gen,
                        const sl_principal_t *p) {
    if (c == NULL || c->capacity == 0 || p == NULL) {
        return;
    }
    const char *tenant = p->tenant != NULL ? p->tenant : "";
    const char *subject = p->subject != NULL ? p->subject : "";
    const char *scope = p->scope != NULL ? p->scope : "";
    const char *origins = p->origins != NULL ? p->origins : "";
    /* strnlen: an oversized string is refused without reading all of it. */
    size_t tl = strnlen(tenant, SL_TOKEN_CACHE_MAX_STRINGS + 1);
    size_t sl = strnlen(subject, SL_TOKEN_CACHE_MAX_STRINGS + 1);
    size_t scl = strnlen(scope, SL_TOKEN_CACHE_MAX_STRINGS + 1);
    size_t ol = strnlen(origins, SL_TOKEN_CACHE_MAX_STRINGS + 1);
    if (tl + sl + scl + ol > SL_TOKEN_CACHE_MAX_STRINGS) {
        return;
    }
    int64_t now_s = atomic_load_explicit(&c->latest_now, memory_order_relaxed);
    unsigned char digest[DIGEST_LEN];
    if (p->valid_until < now_s || !token_digest(c, token, len, digest)) {
        return;
    }
    size_t first, end;
    stripe_t *s = &c->stripes[bucket_of(c, digest, &first, &end) % c->nstripes];

    pthread_mutex_lock(&s->lock);
    size_t victim = first;
    int best = 3;
    for (size_t i = first; i < end; i++) {
        const slot_meta_t *m = &c->meta[i];
        if (m->stamp != 0 && CRYPTO_memcmp(m->digest, digest, DIGEST_LEN) == 0) {
            victim = i;
            break;
        }
        int rank = victim_rank(m, gen, now_s);
        if (rank < best || (rank == best && m->stamp < c->meta[victim].stamp)) {
            victim = i;
            best = rank;
        }
    }
    slot_meta_t *m = &c->meta[victim];
    slot_data_t *d = &c->data[victim];
    if (m->stamp == 0) {
        s->entries++;
    }
    memcpy(m->digest, digest, DIGEST_LEN);
    m->gen = gen;
    m->valid_until = p->valid_until;
    m->stamp = ++s->tick;
    d->expires_at = p->expires_at;
    d->tenant_len = (uint16_t)tl;
    d->subject_len = (uint16_t)sl;
    d->scope_len = (uint16_t)scl;
    d->origins_len = (uint16_t)ol;
    memcpy(d->bytes, tenant, tl);
    memcpy(d->bytes + tl, subject, sl);
    memcpy(d->bytes + tl + sl, scope, scl);
    memcpy(d->bytes + tl + sl + scl, origins, ol);
    pthread_mutex_unlock(&s->lock);
}

void sl_token_cache_stats(sl_token_cache_t *c, uint64_t *entries, uint64_t *hits,
                          uint64_t *misses) {
    uint64_t e = 0, h = 0, m = 0;
    for (size_t i = 0; c != NULL && i < c->nstripes; i++) {
        stripe_t *s = &c->stripes[i];
        pthread_mutex_lock(&s->lock);
        e += s->entries;
        h += s->hits;
        m += s->misses;
        pthread_mutex_unlock(&s->lock);
    }
    if (entries != NULL) {
        *entries = e;
    }
    if (hits != NULL) {
        *hits = h;
    }
    if (misses != NULL) {
        *misses = m;
    }
}
