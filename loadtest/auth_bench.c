/* auth_bench: cost per request of the auth stage (sl_stage_auth in pipeline/pipeline.c) for
 * HS256, RS256 and ES256 tokens, in one process:
 *   - without the cache (auth.token_cache_entries=0): every request verifies signature and claims;
 *   - with the cache: the same code, every timed request a hit (the token was put once before);
 *   - the cached path on 2 threads sharing one cache, each thread on its own tokens (the striped
 *     locks should keep them apart) and both on one token (one mutex: the worst case).
 * Each request gets a fresh arena, as sl_request_new gives one; the arena alone is the same-run
 * baseline. Keys are generated at start (HS256 secret, RSA 2048, EC P-256) into a temporary
 * directory named by auth.keys_file and removed at exit; tokens are minted with sl_auth_mint.
 * Prints microseconds per request; exits non-zero if a token is refused or a timed cached
 * request missed.
 *   build-release/loadtest/auth_bench [VERIFY_ROUNDS] [CACHED_ROUNDS]                         */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/cache.h"
#include "config/config.h"
#include "core/arena.h"
#include "core/timefmt.h"

/* Tokens each thread cycles through in the 2-thread run: enough that the two sets spread over
 * the cache's stripes instead of depending on where two single tokens happen to hash. */
#define TOKENS_PER_THREAD 32
#define ARENA_FIRST_BLOCK 8192 /* what sl_request_new asks for */

typedef struct {
    const char *alg;
    const char *kid;
} bench_alg_t;

static const bench_alg_t bench_algs[] = {{"HS256", "hs"}, {"RS256", "rs"}, {"ES256", "es"}};
#define N_ALGS (sizeof(bench_algs) / sizeof(bench_algs[0]))

/* Files written into the temporary directory, removed at exit. */
static char tmp_dir[64];
static char tmp_files[8][128];
static size_t n_tmp_files;

static const char *tmp_path(const char *name) {
    char *p = tmp_files[n_tmp_files++];
    snprintf(p, sizeof(tmp_files[0]), "%s/%s", tmp_dir, name);
    return p;
}

static void remove_tmp(void) {
    for (size_t i = 0; i < n_tmp_files; i++) {
        unlink(tmp_files[i]);
    }
    if (tmp_dir[0] != '\0') {
        rmdir(tmp_dir);
    }
}

/* Writes pk's private key (PKCS#8) and public key as PEM files; returns false on failure. */
static bool write_pems(EVP_PKEY *pk, const char *priv_path, const char *pub_path) {
    bool ok = false;
    FILE *priv = fopen(priv_path, "w");
    FILE *pub = fopen(pub_path, "w");
    if (priv == NULL || pub == NULL) {
        goto done;
    }
    ok = PEM_write_PrivateKey(priv, pk, NULL, NULL, 0, NULL, NULL) == 1 &&
         PEM_write_PUBKEY(pub, pk) == 1;
done:
    if (priv != NULL && fclose(priv) != 0) {
        ok = false;
    }
    if (pub != NULL && fclose(pub) != 0) {
        ok = false;
    }
    return ok;
}

/* A fresh key ring in tmp_dir: keys.yaml with kids hs (HS256), rs (RS256), es (ES256). Returns
 * the path of keys.yaml, or NULL. */
static const char *make_keys(void) {
    const char *result = NULL;
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    unsigned char secret[32];
    char secret_hex[2 * sizeof(secret) + 1];
    if (rsa == NULL || ec == NULL || RAND_bytes(secret, sizeof(secret)) != 1) {
        goto done;
    }
    for (size_t i = 0; i < sizeof(secret); i++) {
        snprintf(secret_hex + 2 * i, 3, "%02x", secret[i]);
    }
    const char *rs_priv = tmp_path("rs.pem"), *rs_pub = tmp_path("rs.pub.pem");
    const char *es_priv = tmp_path("es.pem"), *es_pub = tmp_path("es.pub.pem");
    if (!write_pems(rsa, rs_priv, rs_pub) || !write_pems(ec, es_priv, es_pub)) {
        goto done;
    }
    const char *keys = tmp_path("keys.yaml");
    FILE *f = fopen(keys, "w");
    if (f == NULL) {
        goto done;
    }
    fprintf(f,
            "keys:\n"
            "  - {kid: hs, alg: HS256, secret: \"%s\"}\n"
            "  - {kid: rs, alg: RS256, public_key_file: %s, private_key_file: %s}\n"
            "  - {kid: es, alg: ES256, public_key_file: %s, private_key_file: %s}\n",
            secret_hex, rs_pub, rs_priv, es_pub, es_priv);
    if (fclose(f) == 0) {
        result = keys;
    }
done:
    OPENSSL_cleanse(secret, sizeof(secret));
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    return result;
}

/* One request's auth as sl_stage_auth does it: cache get, else verify and put, then the
 * can-write scope check; in a fresh arena destroyed at the end. False when refused. */
static bool auth_request(const sl_config_t *cfg, sl_token_cache_t *cache, const char *token,
                         size_t len) {
    sl_arena_t *arena = sl_arena_new(ARENA_FIRST_BLOCK);
    sl_principal_t principal = {0};
    bool ok = false;
    int64_t now = (int64_t)time(NULL);
    uint64_t gen = cfg->keyring != NULL ? cfg->keyring->generation : 0;
    if (!sl_token_cache_get(cache, token, len, gen, now, arena, &principal)) {
        sl_error_t err;
        if (sl_auth_verify(cfg, token, len, now, arena, &principal, &err) != SL_OK) {
            fprintf(stderr, "auth_bench: token refused: %s: %s\n", err.code, err.message);
            goto done;
        }
        sl_token_cache_put(cache, token, len, gen, &principal);
    }
    ok = sl_auth_scope_can_write(principal.scope);
done:
    sl_arena_destroy(arena);
    return ok;
}

/* Nanoseconds per request: elapsed, and the calling thread's CPU time (on a shared machine the
 * difference is time spent descheduled or waiting for a lock). */
typedef struct {
    double wall;
    double cpu;
} cost_t;

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* n requests cycling over tokens[0..ntok) into *c; false if one was refused. */
static bool run(const sl_config_t *cfg, sl_token_cache_t *cache, char *const *tokens,
                const size_t *lens, size_t ntok, long n, cost_t *c) {
    uint64_t w0 = sl_time_mono_ns(), c0 = thread_cpu_ns();
    for (long i = 0; i < n; i++) {
        size_t k = (size_t)i % ntok;
        if (!auth_request(cfg, cache, tokens[k], lens[k])) {
            return false;
        }
    }
    c->cpu = (double)(thread_cpu_ns() - c0) / (double)n;
    c->wall = (double)(sl_time_mono_ns() - w0) / (double)n;
    return true;
}

/* The baseline: what a request costs before any auth, its arena. */
static cost_t run_arena_only(long n) {
    uint64_t w0 = sl_time_mono_ns(), c0 = thread_cpu_ns();
    for (long i = 0; i < n; i++) {
        sl_arena_t *arena = sl_arena_new(ARENA_FIRST_BLOCK);
        sl_arena_alloc(arena, sizeof(sl_principal_t));
        sl_arena_destroy(arena);
    }
    return (cost_t){(double)(sl_time_mono_ns() - w0) / (double)n,
                    (double)(thread_cpu_ns() - c0) / (double)n};
}

/* A cache sized like the pipeline's, with each of tokens put by a first (verifying) request. */
static sl_token_cache_t *warm_cache(const sl_config_t *cfg, char *const *tokens, const size_t *lens,
                                    size_t ntok) {
    sl_token_cache_t *cache = sl_token_cache_new((size_t)cfg->auth.token_cache_entries);
    for (size_t i = 0; i < ntok; i++) {
        if (!auth_request(cfg, cache, tokens[i], lens[i])) {
            sl_token_cache_free(cache);
            return NULL;
        }
    }
    return cache;
}

/* Whether, after warm_cache(ntok tokens) and `hits` timed requests, every timed one was a hit. */
static bool all_hits(sl_token_cache_t *cache, size_t ntok, long hits) {
    uint64_t h = 0, m = 0;
    sl_token_cache_stats(cache, NULL, &h, &m);
    if (h != (uint64_t)hits || m != ntok) {
        fprintf(stderr, "auth_bench: expected %ld hits and %zu misses, got %llu and %llu\n", hits,
                ntok, (unsigned long long)h, (unsigned long long)m);
        return false;
    }
    return true;
}

typedef struct {
    const sl_config_t *cfg;
    sl_token_cache_t *cache;
    char *const *tokens;
    const size_t *lens;
    size_t ntok;
    long n;
    pthread_barrier_t *start;
    cost_t cost;
    bool ok;
} worker_t;

static void *worker(void *arg) {
    worker_t *w = arg;
    pthread_barrier_wait(w->start);
    w->ok = run(w->cfg, w->cache, w->tokens, w->lens, w->ntok, w->n, &w->cost);
    return NULL;
}

/* Two threads on one warm cache, thread t on tokens[t] (ntok each), n requests each; fills
 * cost[2] with each thread's cost per request. False on a refusal or a miss. */
static bool run_2_threads(const sl_config_t *cfg, char *const *tokens[2], const size_t *lens[2],
                          size_t ntok, long n, cost_t cost[2]) {
    bool ok = false;
    size_t n_warm = tokens[0] == tokens[1] ? ntok : 2 * ntok;
    sl_token_cache_t *cache = sl_token_cache_new((size_t)cfg->auth.token_cache_entries);
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < ntok && (t == 0 || tokens[1] != tokens[0]); i++) {
            if (!auth_request(cfg, cache, tokens[t][i], lens[t][i])) {
                goto done;
            }
        }
    }
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    worker_t w[2];
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        w[t] = (worker_t){cfg, cache, tokens[t], lens[t], ntok, n, &start, {0, 0}, false};
        if (pthread_create(&th[t], NULL, worker, &w[t]) != 0) {
            abort();
        }
    }
    for (int t = 0; t < 2; t++) {
        pthread_join(th[t], NULL);
    }
    pthread_barrier_destroy(&start);
    cost[0] = w[0].cost;
    cost[1] = w[1].cost;
    ok = w[0].ok && w[1].ok && all_hits(cache, n_warm, 2 * n);
done:
    sl_token_cache_free(cache);
    return ok;
}

static char *mint(const sl_config_t *cfg, const char *kid, const char *subject) {
    sl_error_t err;
    char *t = sl_auth_mint(
        cfg,
        &(sl_mint_t){
            .tenant = "acme", .subject = subject, .ttl_s = 3600, .kid = kid, .scope = "write:*"},
        &err);
    if (t == NULL) {
        fprintf(stderr, "auth_bench: cannot mint a %s token: %s\n", kid, err.message);
    }
    return t;
}

typedef struct {
    size_t token_bytes;
    cost_t verify, cached, one_thread, own[2], shared[2];
} result_t;

/* Every measurement for one algorithm. */
static bool bench_alg(const sl_config_t *cfg, const bench_alg_t *a, long verify_rounds,
                      long cached_rounds, result_t *r) {
    bool ok = false;
    char *token = NULL;
    char *own[2][TOKENS_PER_THREAD] = {{NULL}};
    size_t own_len[2][TOKENS_PER_THREAD];
    sl_token_cache_t *off = sl_token_cache_new(0); /* auth.token_cache_entries=0 */
    sl_token_cache_t *cache = NULL;
    token = mint(cfg, a->kid, "bench");
    if (token == NULL) {
        goto done;
    }
    size_t len = strlen(token);
    r->token_bytes = len;
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < TOKENS_PER_THREAD; i++) {
            char subject[32];
            snprintf(subject, sizeof(subject), "bench-%d-%d", t, i);
            if ((own[t][i] = mint(cfg, a->kid, subject)) == NULL) {
                goto done;
            }
            own_len[t][i] = strlen(own[t][i]);
        }
    }

    /* Without the cache; a few untimed requests first so OpenSSL's lazy set-up is not timed. */
    cost_t warm;
    if (!run(cfg, off, &token, &len, 1, 50, &warm) ||
        !run(cfg, off, &token, &len, 1, verify_rounds, &r->verify)) {
        goto done;
    }

    /* With the cache: one put, then every request a hit. */
    if ((cache = warm_cache(cfg, &token, &len, 1)) == NULL ||
        !run(cfg, cache, &token, &len, 1, cached_rounds, &r->cached) ||
        !all_hits(cache, 1, cached_rounds)) {
        goto done;
    }
    sl_token_cache_free(cache);

    /* 1 thread on thread 0's tokens, for comparison with the 2-thread runs. */
    if ((cache = warm_cache(cfg, own[0], own_len[0], TOKENS_PER_THREAD)) == NULL ||
        !run(cfg, cache, own[0], own_len[0], TOKENS_PER_THREAD, cached_rounds, &r->one_thread) ||
        !all_hits(cache, TOKENS_PER_THREAD, cached_rounds)) {
        goto done;
    }

    char *const *own_tokens[2] = {own[0], own[1]};
    const size_t *own_lens[2] = {own_len[0], own_len[1]};
    char *const *one_token[2] = {&token, &token};
    const size_t *one_len[2] = {&len, &len};
    ok = run_2_threads(cfg, own_tokens, own_lens, TOKENS_PER_THREAD, cached_rounds, r->own) &&
         run_2_threads(cfg, one_token, one_len, 1, cached_rounds, r->shared);
done:
    sl_token_cache_free(cache);
    sl_token_cache_free(off);
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < TOKENS_PER_THREAD; i++) {
            free(own[t][i]);
        }
    }
    free(token);
    return ok;
}

/* A positive count, whole string. */
static bool parse_rounds(const char *text, long *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v <= 0) {
        return false;
    }
    *out = v;
    return true;
}

/* One 2-thread row; "cores used" is both threads' CPU over the longer one's elapsed time: about 2
 * when the threads really ran side by side, about 1 when the machine had one core to spare. */
static void print_2_threads(const char *alg, const char *what, const cost_t c[2]) {
    double wall = c[0].wall > c[1].wall ? c[0].wall : c[1].wall;
    printf("%-6s %-27s %8.3f (%6.3f) %8.3f (%6.3f) %10.2f\n", alg, what, c[0].wall / 1e3,
           c[0].cpu / 1e3, c[1].wall / 1e3, c[1].cpu / 1e3, (c[0].cpu + c[1].cpu) / wall);
}

int main(int argc, char **argv) {
    long verify_rounds = 10000, cached_rounds = 300000;
    if ((argc > 1 && !parse_rounds(argv[1], &verify_rounds)) ||
        (argc > 2 && !parse_rounds(argv[2], &cached_rounds)) || argc > 3) {
        fprintf(stderr, "usage: auth_bench [VERIFY_ROUNDS (10000)] [CACHED_ROUNDS (300000)]\n");
        return 2;
    }
    int rc = 1;
    sl_config_t *cfg = NULL;
    sl_error_t err;
    result_t res[N_ALGS];
    uint64_t t_start = sl_time_mono_ns();
    char loadavg[64] = "?";
    FILE *la = fopen("/proc/loadavg", "r");
    if (la != NULL) {
        if (fgets(loadavg, sizeof(loadavg), la) != NULL) {
            loadavg[strcspn(loadavg, "\n")] = '\0';
        }
        fclose(la);
    }
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/auth_bench.XXXXXX");
    if (mkdtemp(tmp_dir) == NULL) {
        tmp_dir[0] = '\0';
        perror("auth_bench: mkdtemp");
        goto done;
    }
    const char *keys = make_keys();
    if (keys == NULL) {
        fprintf(stderr, "auth_bench: cannot generate the keys in %s\n", tmp_dir);
        goto done;
    }
    char keys_set[256];
    snprintf(keys_set, sizeof(keys_set), "auth.keys_file=%s", keys);
    const char *sets[] = {keys_set, "auth.required=true"};
    if (sl_config_build(NULL, sets, 2, &cfg, &err) != SL_OK) {
        fprintf(stderr, "auth_bench: %s\n", err.message);
        goto done;
    }
    cost_t arena = run_arena_only(cached_rounds);
    for (size_t i = 0; i < N_ALGS; i++) {
        if (!bench_alg(cfg, &bench_algs[i], verify_rounds, cached_rounds, &res[i])) {
            fprintf(stderr, "auth_bench: %s failed\n", bench_algs[i].alg);
            goto done;
        }
    }

    printf("auth stage per request: cache get, else verify + put; scope check; in a fresh arena\n");
    printf("tokens: tenant acme, scope write:*; cache of %lld entries (auth.token_cache_entries)\n",
           (long long)cfg->auth.token_cache_entries);
    printf("%ld requests per alg without cache, %ld per measurement with cache\n", verify_rounds,
           cached_rounds);
    printf("load average before the run: %s\n", loadavg);
    printf("baseline: arena new+destroy alone %.3f us/request\n\n", arena.wall / 1e3);
    printf("%-6s %11s %16s %17s %8s\n", "alg", "token bytes", "no cache us/req", "cache hit us/req",
           "speedup");
    for (size_t i = 0; i < N_ALGS; i++) {
        const result_t *r = &res[i];
        printf("%-6s %11zu %16.3f %17.3f %7.1fx\n", bench_algs[i].alg, r->token_bytes,
               r->verify.wall / 1e3, r->cached.wall / 1e3, r->verify.wall / r->cached.wall);
    }
    printf("\ncache hits, 2 threads sharing one cache: us/request per thread, wall (cpu)\n");
    printf("%-6s %-27s %17s %17s %10s\n", "alg", "run", "thread 1", "thread 2", "cores used");
    for (size_t i = 0; i < N_ALGS; i++) {
        const result_t *r = &res[i];
        printf("%-6s %-27s %8.3f (%6.3f)\n", bench_algs[i].alg, "1 thread, 32 tokens",
               r->one_thread.wall / 1e3, r->one_thread.cpu / 1e3);
        print_2_threads(bench_algs[i].alg, "2 threads, own 32 tokens", r->own);
        print_2_threads(bench_algs[i].alg, "2 threads, the same token", r->shared);
    }
    printf("\nwhole run: %.1f s\n", (double)(sl_time_mono_ns() - t_start) / 1e9);
    rc = 0;
done:
    sl_config_unref(cfg);
    remove_tmp();
    return rc;
}
