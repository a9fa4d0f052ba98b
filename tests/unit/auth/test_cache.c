/* auth/cache: the verified-token cache through its public header — keying (digest, generation),
 * expiry, the capacity bound and eviction order, string ownership, and concurrent use. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/cache.h"

#define NOW INT64_C(1795773600)

static sl_arena_t *arena;

static void setup(void) {
    arena = sl_arena_new(4096);
}

static void teardown(void) {
    sl_arena_destroy(arena);
}

TestSuite(cache, .init = setup, .fini = teardown);

static sl_principal_t principal(const char *tenant, const char *subject, const char *scope,
                                int64_t valid_until) {
    return (sl_principal_t){.tenant = tenant,
                            .subject = subject,
                            .expires_at = valid_until - 30,
                            .valid_until = valid_until,
                            .scope = scope};
}

static void put(sl_token_cache_t *c, const char *tok, uint64_t gen, const sl_principal_t *p) {
    sl_token_cache_put(c, tok, strlen(tok), gen, p);
}

static bool get_at(sl_token_cache_t *c, const char *tok, uint64_t gen, int64_t now,
                   sl_principal_t *out) {
    return sl_token_cache_get(c, tok, strlen(tok), gen, now, arena, out);
}

static bool get(sl_token_cache_t *c, const char *tok, uint64_t gen) {
    sl_principal_t out;
    return get_at(c, tok, gen, NOW, &out);
}

/* A distinct token for i (JWT-sized, so hashing sees realistic input). */
static void token_for(char *buf, size_t n, int i) {
    snprintf(buf, n, "eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiJhY21lIn0.sig-%08d-abcdefghijklmnop", i);
}

static uint64_t entries_of(sl_token_cache_t *c) {
    uint64_t e = 0;
    sl_token_cache_stats(c, &e, NULL, NULL);
    return e;
}

Test(cache, hit_returns_what_was_put) {
    sl_token_cache_t *c = sl_token_cache_new(64);
    sl_principal_t p = principal("acme", "user-1", "events:write events:read", NOW + 600);
    p.expires_at = NOW + 570;
    p.origins = "https://a.example https://b.example";
    sl_principal_t out;
    cr_assert(not(get_at(c, "tok-a", 1, NOW, &out)));
    put(c, "tok-a", 1, &p);
    cr_assert(get_at(c, "tok-a", 1, NOW, &out));
    cr_assert(eq(str, (char *)out.tenant, "acme"));
    cr_assert(eq(str, (char *)out.subject, "user-1"));
    cr_assert(eq(str, (char *)out.scope, "events:write events:read"));
    cr_assert(eq(str, (char *)out.origins, "https://a.example https://b.example"));
    cr_assert(eq(i64, out.expires_at, NOW + 570));
    cr_assert(eq(i64, out.valid_until, NOW + 600));
    uint64_t e, h, m;
    sl_token_cache_stats(c, &e, &h, &m);
    cr_assert(eq(u64, e, 1));
    cr_assert(eq(u64, h, 1));
    cr_assert(eq(u64, m, 1));
    sl_token_cache_free(c);
}

Test(cache, other_token_misses) {
    sl_token_cache_t *c = sl_token_cache_new(64);
    sl_principal_t p = principal("acme", "", "", NOW + 600);
    put(c, "header.payload.signature", 1, &p);
    cr_assert(get(c, "header.payload.signature", 1));
    cr_assert(not(get(c, "header.payload.signaturf", 1)));
    cr_assert(not(get(c, "header.payload.signatur", 1)));
    cr_assert(not(get(c, "header.payload.signature.", 1)));
    cr_assert(not(get(c, "", 1)));
    sl_token_cache_free(c);
}

Test(cache, only_len_bytes_are_the_token) {
    sl_token_cache_t *c = sl_token_cache_new(64);
    sl_principal_t p = principal("acme", "", "", NOW + 600);
    sl_principal_t out;
    sl_token_cache_put(c, "abc.def.ghiX", 11, 1, &p);
    cr_assert(sl_token_cache_get(c, "abc.def.ghiY", 11, 1, NOW, arena, &out));
    cr_assert(not(sl_token_cache_get(c, "abc.def.ghiX", 12, 1, NOW, arena, &out)));
    sl_token_cache_free(c);
}

Test(cache, generation_is_part_of_the_key) {
    sl_token_cache_t *c = sl_token_cache_new(64);
    sl_principal_t p1 = principal("old", "", "", NOW + 600);
    sl_principal_t p2 = principal("new", "", "", NOW + 600);
    sl_principal_t out;
    put(c, "tok", 1, &p1);
    cr_assert(not(get(c, "tok", 2)));
    cr_assert(get(c, "tok", 1));
    /* Verified again after a rotation: the new generation replaces the old entry. */
    put(c, "tok", 2, &p2);
    cr_assert(get_at(c, "tok", 2, NOW, &out));
    cr_assert(eq(str, (char *)out.tenant, "new"));
    cr_assert(not(get(c, "tok", 1)));
    cr_assert(eq(u64, entries_of(c), 1));
    sl_token_cache_free(c);
}

Test(cache, expires_after_valid_until) {
    sl_token_cache_t *c = sl_token_cache_new(64);
    sl_principal_t p = principal("acme", "", "", NOW + 100);
    sl_principal_t out;
    put(c, "tok", 1, &p);
    cr_assert(get_at(c, "tok", 1, NOW + 100, &out));
    cr_assert(eq(i64, out.valid_until, NOW + 100));
    cr_assert(not(get_at(c, "tok", 1, NOW + 101, &out)));
    /* The expired entry was freed on the way. */
    cr_assert(eq(u64, entries_of(c), 0));
    sl_token_cache_free(c);
}

Test(cache, already_expired_principal_is_not_stored) {
    sl_token_cache_t *c = sl_token_cache_new(64);
    sl_principal_t out;
    cr_assert(not(get_at(c, "other", 1, NOW, &out))); /* the cache has seen NOW */
    sl_principal_t p = principal("acme", "", "", NOW - 1);
    put(c, "tok", 1, &p);
    cr_assert(eq(u64, entries_of(c), 0));
    cr_assert(not(get_at(c, "tok", 1, NOW - 5, &out)));
    sl_token_cache_free(c);
}

Test(cache, bounded_by_capacity_recent_entries_stay) {
    enum { CAP = 64, N = 10 * CAP };
    sl_token_cache_t *c = sl_token_cache_new(CAP);
    sl_principal_t p = principal("acme", "", "", NOW + 600);
    char tok[128];
    for (int i = 0; i < N; i++) {
        token_for(tok, sizeof(tok), i);
        put(c, tok, 1, &p);
        cr_assert(le(u64, entries_of(c), CAP));
    }
    cr_assert(eq(u64, entries_of(c), CAP));
    /* Eviction is LRU within an 8-way bucket: the last 8 put are always kept. */
    for (int i = N - 8; i < N; i++) {
        token_for(tok, sizeof(tok), i);
        cr_assert(get(c, tok, 1), "token %d evicted", i);
    }
    int hits = 0;
    for (int i = N - CAP; i < N; i++) {
        token_for(tok, sizeof(tok), i);
        hits += get(c, tok, 1);
    }
    cr_assert(ge(int, hits, CAP / 2), "only %d of the last %d hit", hits, CAP);
    sl_token_cache_free(c);
}

Test(cache, odd_capacity_is_exact) {
    sl_token_cache_t *c = sl_token_cache_new(13);
    sl_principal_t p = principal("acme", "", "", NOW + 600);
    char tok[128];
    for (int i = 0; i < 200; i++) {
        token_for(tok, sizeof(tok), i);
        put(c, tok, 1, &p);
    }
    cr_assert(eq(u64, entries_of(c), 13));
    sl_token_cache_free(c);
}

/* A capacity of 8 is one bucket: the eviction order is fully observable. */
Test(cache, evicts_least_recently_used) {
    sl_token_cache_t *c = sl_token_cache_new(8);
    sl_principal_t p = principal("acme", "", "", NOW + 600);
    char tok[128];
    for (int i = 0; i < 8; i++) {
        token_for(tok, sizeof(tok), i);
        put(c, tok, 1, &p);
    }
    token_for(tok, sizeof(tok), 0);
    cr_assert(get(c, tok, 1)); /* 0 is now the most recently used; 1 the least */
    token_for(tok, sizeof(tok), 8);
    put(c, tok, 1, &p);
    token_for(tok, sizeof(tok), 1);
    cr_assert(not(get(c, tok, 1)));
    for (int i = 0; i <= 8; i++) {
        token_for(tok, sizeof(tok), i);
        cr_assert(eq(int, get(c, tok, 1), i != 1), "token %d", i);
    }
    sl_token_cache_free(c);
}

Test(cache, expired_entries_are_reused_first) {
    sl_token_cache_t *c = sl_token_cache_new(8);
    sl_principal_t live = principal("acme", "", "", NOW + 600);
    sl_principal_t brief = principal("acme", "", "", NOW + 10);
    char tok[128];
    for (int i = 0; i < 8; i++) {
        token_for(tok, sizeof(tok), i);
        put(c, tok, 1, i == 7 ? &brief : &live); /* the most recent one expires first */
    }
    sl_principal_t out;
    cr_assert(not(get_at(c, "unrelated", 1, NOW + 20, &out))); /* time moves on */
    token_for(tok, sizeof(tok), 8);
    put(c, tok, 1, &live);
    for (int i = 0; i <= 8; i++) {
        token_for(tok, sizeof(tok), i);
        cr_assert(eq(int, get_at(c, tok, 1, NOW + 20, &out), i != 7), "token %d", i);
    }
    sl_token_cache_free(c);
}

Test(cache, other_generation_entries_are_reused_first) {
    sl_token_cache_t *c = sl_token_cache_new(8);
    sl_principal_t p = principal("acme", "", "", NOW + 600);
    char tok[128];
    for (int i = 0; i < 8; i++) {
        token_for(tok, sizeof(tok), i);
        put(c, tok, i == 7 ? 1 : 2, &p);
    }
    token_for(tok, sizeof(tok), 8);
    put(c, tok, 2, &p);
    for (int i = 0; i <= 8; i++) {
        token_for(tok, sizeof(tok), i);
        cr_assert(eq(int, get(c, tok, 2), i != 7), "token %d", i);
    }
    sl_token_cache_free(c);
}

Test(cache, disabled_when_capacity_is_zero) {
    sl_token_cache_t *c = sl_token_cache_new(0);
    cr_assert(not(eq(ptr, c, NULL)));
    sl_principal_t p = principal("acme", "", "", NOW + 600);
    put(c, "tok", 1, &p);
    cr_assert(not(get(c, "tok", 1)));
    uint64_t e = 1, h = 1, m = 1;
    sl_token_cache_stats(c, &e, &h, &m);
    cr_assert(eq(u64, e, 0));
    cr_assert(eq(u64, h, 0));
    cr_assert(eq(u64, m, 0));
    sl_token_cache_free(c);
    /* A missing cache behaves the same. */
    put(NULL, "tok", 1, &p);
    cr_assert(not(get(NULL, "tok", 1)));
    sl_token_cache_stats(NULL, &e, &h, &m);
    cr_assert(eq(u64, e + h + m, 0));
    sl_token_cache_free(NULL);
}

Test(cache, strings_are_copied_both_ways) {
    sl_token_cache_t *c = sl_token_cache_new(64);
    /* The principal put lives in an arena that is gone before the get. */
    sl_arena_t *verify_arena = sl_arena_new(256);
    sl_principal_t p = principal(sl_arena_strndup(verify_arena, "acme", 4),
                                 sl_arena_strndup(verify_arena, "user-1", 6),
                                 sl_arena_strndup(verify_arena, "a b", 3), NOW + 600);
    put(c, "tok", 1, &p);
    sl_arena_destroy(verify_arena);

    sl_principal_t out;
    cr_assert(get_at(c, "tok", 1, NOW, &out));
    /* The entry is overwritten; what the get returned belongs to its arena and is unchanged. */
    sl_principal_t q = principal("zzzzzzzzzzzz", "yyyyyyyyyyyy", "xxxxxxxxxxxx", NOW + 600);
    put(c, "tok", 1, &q);
    cr_assert(eq(str, (char *)out.tenant, "acme"));
    cr_assert(eq(str, (char *)out.subject, "user-1"));
    cr_assert(eq(str, (char *)out.scope, "a b"));
    cr_assert(get_at(c, "tok", 1, NOW, &out));
    cr_assert(eq(str, (char *)out.tenant, "zzzzzzzzzzzz"));
    sl_token_cache_free(c);
}

Test(cache, null_strings_read_back_empty) {
    sl_token_cache_t *c = sl_token_cache_new(64);
    sl_principal_t p = principal("acme", NULL, NULL, NOW + 600);
    sl_principal_t out;
    put(c, "tok", 1, &p);
    cr_assert(get_at(c, "tok", 1, NOW, &out));
    cr_assert(eq(str, (char *)out.subject, ""));
    cr_assert(eq(str, (char *)out.scope, ""));
    sl_token_cache_free(c);
}

Test(cache, strings_over_the_bound_are_not_cached) {
    sl_token_cache_t *c = sl_token_cache_new(64);
    char *big = malloc(SL_TOKEN_CACHE_MAX_STRINGS + 2);
    memset(big, 's', SL_TOKEN_CACHE_MAX_STRINGS + 1);
    big[SL_TOKEN_CACHE_MAX_STRINGS - 8] = '\0';
    /* 4 + 1016 + 4 bytes: exactly the bound. */
    sl_principal_t fits = principal("acme", big, "a b ", NOW + 600);
    sl_principal_t out;
    put(c, "fits", 1, &fits);
    cr_assert(get_at(c, "fits", 1, NOW, &out));
    cr_assert(eq(sz, strlen(out.subject), SL_TOKEN_CACHE_MAX_STRINGS - 8));
    cr_assert(eq(str, (char *)out.scope, "a b "));
    sl_principal_t over = principal("acme", big, "a b c", NOW + 600);
    put(c, "over", 1, &over);
    cr_assert(not(get(c, "over", 1)));
    big[SL_TOKEN_CACHE_MAX_STRINGS - 8] = 's';
    big[SL_TOKEN_CACHE_MAX_STRINGS + 1] = '\0'; /* one string alone over the bound */
    sl_principal_t huge = principal(big, "", "", NOW + 600);
    put(c, "huge", 1, &huge);
    cr_assert(not(get(c, "huge", 1)));
    cr_assert(eq(u64, entries_of(c), 1));
    free(big);
    sl_token_cache_free(c);
}

/* Four threads share a cache far smaller than their token set, under two generations: every hit
 * must return exactly what was put for that token and generation. */
enum { THREADS = 4, TOKENS = 512, ROUNDS = 20000, SMALL_CAP = 64 };

typedef struct {
    sl_token_cache_t *cache;
    unsigned seed;
    uint64_t gets;
    int bad;
} worker_t;

static void *worker(void *arg) {
    worker_t *w = arg;
    sl_arena_t *a = sl_arena_new(4096);
    char tok[128], tenant[32], subject[32], scope[64];
    for (int r = 0; r < ROUNDS; r++) {
        if (r % 512 == 0) {
            sl_arena_destroy(a);
            a = sl_arena_new(4096);
        }
        w->seed = w->seed * 1103515245u + 12345u;
        /* Skewed towards a hot set, as busy clients are. */
        int i = (int)((w->seed >> 8) % (w->seed & 1 ? 32u : (unsigned)TOKENS));
        uint64_t gen = 1 + ((w->seed >> 4) & 1);
        token_for(tok, sizeof(tok), i);
        snprintf(tenant, sizeof(tenant), "t%d-g%llu", i, (unsigned long long)gen);
        snprintf(subject, sizeof(subject), "s%d", i);
        snprintf(scope, sizeof(scope), "scope-%d-%llu", i, (unsigned long long)gen);
        sl_principal_t out;
        w->gets++;
        if (sl_token_cache_get(w->cache, tok, strlen(tok), gen, NOW, a, &out)) {
            w->bad += strcmp(out.tenant, tenant) != 0 || strcmp(out.subject, subject) != 0 ||
                      strcmp(out.scope, scope) != 0 || out.valid_until != NOW + 600 + i;
        } else {
            sl_principal_t p = principal(tenant, subject, scope, NOW + 600 + i);
            sl_token_cache_put(w->cache, tok, strlen(tok), gen, &p);
        }
    }
    sl_arena_destroy(a);
    return NULL;
}

Test(cache, concurrent_use_is_consistent, .timeout = 60) {
    sl_token_cache_t *c = sl_token_cache_new(SMALL_CAP);
    pthread_t th[THREADS];
    worker_t w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker_t){.cache = c, .seed = 7919u * (unsigned)(t + 1)};
        cr_assert(eq(int, pthread_create(&th[t], NULL, worker, &w[t]), 0));
    }
    uint64_t gets = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        cr_assert(eq(int, w[t].bad, 0), "thread %d saw %d wrong principals", t, w[t].bad);
        gets += w[t].gets;
    }
    uint64_t e, h, m;
    sl_token_cache_stats(c, &e, &h, &m);
    cr_assert(le(u64, e, SMALL_CAP));
    cr_assert(eq(u64, h + m, gets));
    cr_assert(gt(u64, h, 0));
    cr_assert(gt(u64, m, 0));
    sl_token_cache_free(c);
}
