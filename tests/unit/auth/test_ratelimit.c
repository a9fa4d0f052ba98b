/* auth/ratelimit: token buckets over simulated time (now_ms passed in), the key bound, two
 * threads; and the pipeline's limit stage on top of it (429 rate_limited with Retry-After). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "auth/ratelimit.h"
#include "pipeline/pipeline.h"
#include "support.h"
#include "transport/status_map.h"

#define T0 INT64_C(1000000)

static int64_t take(sl_ratelimit_t *rl, const char *key, double rate, double burst, int64_t now) {
    return sl_ratelimit_take(rl, key, strlen(key), rate, burst, now);
}

Test(ratelimit, burst_then_refusal) {
    sl_ratelimit_t *rl = sl_ratelimit_new(16);
    for (int i = 0; i < 3; i++) {
        cr_assert(eq(i64, take(rl, "acme", 2, 3, T0), 0), "request %d of the burst", i + 1);
    }
    int64_t wait = take(rl, "acme", 2, 3, T0);
    cr_assert(gt(i64, wait, 0), "the 4th request at the same instant is refused");
    cr_assert(eq(i64, take(rl, "acme", 2, 3, T0), wait), "a refusal takes nothing");
    sl_ratelimit_free(rl);
}

Test(ratelimit, wait_value) {
    sl_ratelimit_t *rl = sl_ratelimit_new(16);
    /* rate 2/s: a token every 500 ms. */
    cr_assert(eq(i64, take(rl, "a", 2, 1, T0), 0));
    cr_assert(eq(i64, take(rl, "a", 2, 1, T0), 500));
    cr_assert(eq(i64, take(rl, "a", 2, 1, T0 + 100), 400));
    cr_assert(eq(i64, take(rl, "a", 2, 1, T0 + 499), 1));
    /* rate 3/s: 333.3 ms rounds up, and the token is there when the wait is over. */
    cr_assert(eq(i64, take(rl, "b", 3, 1, T0), 0));
    int64_t w = take(rl, "b", 3, 1, T0);
    cr_assert(eq(i64, w, 334));
    cr_assert(gt(i64, take(rl, "b", 3, 1, T0 + w - 1), 0));
    cr_assert(eq(i64, take(rl, "b", 3, 1, T0 + w), 0));
    /* A slow rate: 0.5/s is one token every 2 s. */
    cr_assert(eq(i64, take(rl, "c", 0.5, 1, T0), 0));
    cr_assert(eq(i64, take(rl, "c", 0.5, 1, T0), 2000));
    sl_ratelimit_free(rl);
}

Test(ratelimit, refill_over_time) {
    sl_ratelimit_t *rl = sl_ratelimit_new(16);
    for (int i = 0; i < 5; i++) {
        cr_assert(eq(i64, take(rl, "k", 10, 5, T0), 0));
    }
    cr_assert(gt(i64, take(rl, "k", 10, 5, T0), 0));
    /* 10/s: 250 ms refill 2.5 tokens, so two requests pass and the third waits 50 ms. */
    cr_assert(eq(i64, take(rl, "k", 10, 5, T0 + 250), 0));
    cr_assert(eq(i64, take(rl, "k", 10, 5, T0 + 250), 0));
    cr_assert(eq(i64, take(rl, "k", 10, 5, T0 + 250), 50));
    /* A long idle period refills to burst, not beyond. */
    int passed = 0;
    while (take(rl, "k", 10, 5, T0 + 3600000) == 0 && passed < 100) {
        passed++;
    }
    cr_assert(eq(int, passed, 5));
    /* The clock read out of order (another thread) refills nothing and does not go back. */
    cr_assert(gt(i64, take(rl, "k", 10, 5, T0 + 3600000 - 5000), 0));
    cr_assert(eq(i64, take(rl, "k", 10, 5, T0 + 3600000 + 100), 0));
    sl_ratelimit_free(rl);
}

Test(ratelimit, burst_below_one_is_one) {
    sl_ratelimit_t *rl = sl_ratelimit_new(4);
    cr_assert(eq(i64, take(rl, "k", 1, 0, T0), 0));
    cr_assert(eq(i64, take(rl, "k", 1, 0, T0), 1000));
    sl_ratelimit_free(rl);
}

Test(ratelimit, lower_burst_after_reload) {
    sl_ratelimit_t *rl = sl_ratelimit_new(4);
    cr_assert(eq(i64, take(rl, "k", 1, 100, T0), 0)); /* 99 left */
    cr_assert(eq(i64, take(rl, "k", 1, 2, T0), 0));   /* clamped to 2, one taken */
    cr_assert(eq(i64, take(rl, "k", 1, 2, T0), 0));
    cr_assert(gt(i64, take(rl, "k", 1, 2, T0), 0));
    sl_ratelimit_free(rl);
}

Test(ratelimit, independent_keys) {
    sl_ratelimit_t *rl = sl_ratelimit_new(64);
    cr_assert(eq(i64, take(rl, "acme", 1, 1, T0), 0));
    cr_assert(gt(i64, take(rl, "acme", 1, 1, T0), 0));
    cr_assert(eq(i64, take(rl, "globex", 1, 1, T0), 0), "another tenant is unaffected");
    cr_assert(eq(i64, take(rl, "acm", 1, 1, T0), 0), "a prefix is another key");
    cr_assert(eq(i64, take(rl, "acmee", 1, 1, T0), 0));
    /* Keys are bytes: an embedded NUL and what follows it count. */
    cr_assert(eq(i64, sl_ratelimit_take(rl, "acme\0bob", 8, 1, 1, T0), 0));
    cr_assert(eq(i64, sl_ratelimit_take(rl, "acme\0bo", 7, 1, 1, T0), 0));
    cr_assert(gt(i64, sl_ratelimit_take(rl, "acme\0bob", 8, 1, 1, T0), 0));
    /* Long keys (longer than any bound a copy would have) differing in their last byte. */
    char a[1000], b[1000];
    memset(a, 'x', sizeof(a));
    memset(b, 'x', sizeof(b));
    b[sizeof(b) - 1] = 'y';
    cr_assert(eq(i64, sl_ratelimit_take(rl, a, sizeof(a), 1, 1, T0), 0));
    cr_assert(eq(i64, sl_ratelimit_take(rl, b, sizeof(b), 1, 1, T0), 0));
    cr_assert(gt(i64, sl_ratelimit_take(rl, a, sizeof(a), 1, 1, T0), 0));
    cr_assert(eq(sz, sl_ratelimit_size(rl), 8));
    sl_ratelimit_free(rl);
}

Test(ratelimit, many_keys_never_merge) {
    enum { N = 20000 };
    sl_ratelimit_t *rl = sl_ratelimit_new(N);
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "tenant-%d", i);
        cr_assert(eq(i64, take(rl, key, 1, 1, T0), 0), "%s shares a bucket", key);
    }
    cr_assert(eq(sz, sl_ratelimit_size(rl), N));
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "tenant-%d", i);
        cr_assert(gt(i64, take(rl, key, 1, 1, T0), 0), "%s lost its bucket", key);
    }
    sl_ratelimit_free(rl);
}

Test(ratelimit, rate_zero_is_unlimited) {
    sl_ratelimit_t *rl = sl_ratelimit_new(4);
    for (int i = 0; i < 10000; i++) {
        cr_assert(eq(i64, take(rl, "k", 0, 1, T0), 0));
        cr_assert(eq(i64, take(rl, "n", -1, 1, T0), 0));
    }
    cr_assert(eq(sz, sl_ratelimit_size(rl), 0), "an unlimited key is not tracked");
    sl_ratelimit_free(rl);
}

Test(ratelimit, max_keys_bound_evicts_idle_longest) {
    enum { MAX = 100 };
    sl_ratelimit_t *rl = sl_ratelimit_new(MAX);
    char key[32];
    /* 10x more keys than the bound, each emptying its bucket of 1. */
    for (int i = 0; i < 10 * MAX; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        cr_assert(eq(i64, take(rl, key, 1, 1, T0 + i), 0));
        cr_assert(le(sz, sl_ratelimit_size(rl), MAX));
    }
    cr_assert(eq(sz, sl_ratelimit_size(rl), MAX));
    /* The most recent MAX keys are still tracked (and empty)... */
    for (int i = 10 * MAX - 1; i >= 9 * MAX; i--) {
        snprintf(key, sizeof(key), "k%d", i);
        cr_assert(gt(i64, take(rl, key, 1, 1, T0 + 10 * MAX), 0), "%s was forgotten", key);
    }
    /* That loop touched k999 first, so it is now the key idle longest: a new key takes its
     * bucket, and k999 starts again full (taking the bucket of k998, next in line). */
    cr_assert(eq(i64, take(rl, "k0", 1, 1, T0 + 10 * MAX), 0), "k0 was forgotten long ago");
    cr_assert(eq(i64, take(rl, "k999", 1, 1, T0 + 10 * MAX), 0), "k999 was evicted");
    cr_assert(gt(i64, take(rl, "k997", 1, 1, T0 + 10 * MAX), 0), "k997 is still tracked");
    cr_assert(eq(i64, take(rl, "k998", 1, 1, T0 + 10 * MAX), 0), "k998 was evicted");
    cr_assert(gt(i64, take(rl, "k997", 1, 1, T0 + 10 * MAX), 0), "use kept k997");
    cr_assert(eq(sz, sl_ratelimit_size(rl), MAX));
    sl_ratelimit_free(rl);
}

typedef struct {
    sl_ratelimit_t *rl;
    atomic_int *go;
    int64_t end_ms;
    long allowed;
} worker_t;

static void *worker(void *arg) {
    worker_t *w = arg;
    while (atomic_load(w->go) == 0) {
    }
    for (;;) {
        int64_t now = t_mono_ms();
        if (now >= w->end_ms) {
            break;
        }
        if (sl_ratelimit_take(w->rl, "shared", 6, 1000, 5, now) == 0) {
            w->allowed++;
        }
    }
    return NULL;
}

Test(ratelimit, two_threads_never_exceed_burst_plus_rate) {
    sl_ratelimit_t *rl = sl_ratelimit_new(8);
    atomic_int go = 0;
    int64_t start = t_mono_ms();
    int64_t end = start + 300;
    worker_t w[2] = {{rl, &go, end, 0}, {rl, &go, end, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        cr_assert(eq(int, pthread_create(&th[i], NULL, worker, &w[i]), 0));
    }
    atomic_store(&go, 1);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
    }
    int64_t elapsed = t_mono_ms() - start;
    long allowed = w[0].allowed + w[1].allowed;
    long bound = (long)floor(5 + 1000.0 * (double)elapsed / 1000.0 + 1e-6);
    cr_assert(le(long, allowed, bound), "%ld allowed in %lld ms (bound %ld)", allowed,
              (long long)elapsed, bound);
    /* And the limiter is not simply refusing everything. */
    cr_assert(ge(long, allowed, 20), "only %ld allowed", allowed);
    sl_ratelimit_free(rl);
}

/* ----------------------------------------------------------- the pipeline's limit stage -- */

static sl_config_t *cfg;
static sl_pipeline_t *pl;

static void stage_setup(void) {
    cfg = t_publish(T_SETS("limits.tenant_rate=2", "limits.tenant_burst=3", "limits.subject_rate=1",
                           "limits.rate_limit_keys=64", "http.retry_after=5s"));
    pl = sl_pipeline_new(NULL);
}

static void stage_teardown(void) {
    sl_pipeline_free(pl);
    t_unpublish(cfg);
}

/* Runs the limit stage for tenant/subject; returns the request (free it). */
static sl_request_t *limit(const char *tenant, const char *subject) {
    sl_request_t *req = sl_request_new(pl);
    cr_assert(req != NULL);
    req->principal.tenant = tenant;
    req->principal.subject = subject;
    sl_status_t st = sl_stage_limit(req);
    cr_assert(eq(int, st == SL_OK, req->fault == SL_FAULT_NONE));
    return req;
}

static bool passes(const char *tenant, const char *subject) {
    sl_request_t *req = limit(tenant, subject);
    bool ok = req->fault == SL_FAULT_NONE;
    sl_request_free(req);
    return ok;
}

TestSuite(limit_stage, .init = stage_setup, .fini = stage_teardown);

Test(limit_stage, tenant_over_limit_is_429_with_retry_after) {
    for (int i = 0; i < 3; i++) {
        cr_assert(passes("acme", ""), "request %d of the burst", i + 1);
    }
    sl_request_t *req = limit("acme", "");
    cr_assert(eq(int, req->fault, SL_FAULT_RATE_LIMITED));
    cr_assert(eq(str, (char *)req->fault_err.code, "rate_limited"));
    cr_assert(eq(int, req->retry_after_s, 1), "a 500 ms wait rounds up to 1 s");
    cr_assert(strstr(req->fault_err.message, "tenant \"acme\" is over limits.tenant_rate "
                                             "(2 requests/s); retry after 1 s") != NULL,
              "%s", req->fault_err.message);
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 429));
    cr_assert(eq(int, a.grpc_status, 8));
    cr_assert(a.retry_after);
    cr_assert(eq(int, a.retry_after_s, 1), "the limiter's wait, not http.retry_after");
    sl_request_free(req);
    cr_assert(passes("globex", ""), "another tenant is unaffected");
}

Test(limit_stage, subject_over_limit) {
    cr_assert(passes("acme", "alice"));
    sl_request_t *req = limit("acme", "alice");
    cr_assert(eq(int, req->fault, SL_FAULT_RATE_LIMITED));
    cr_assert(eq(int, req->retry_after_s, 1));
    cr_assert(strstr(req->fault_err.message,
                     "subject \"alice\" of tenant \"acme\" is over limits.subject_rate") != NULL,
              "%s", req->fault_err.message);
    sl_request_free(req);
    cr_assert(passes("acme", "bob"), "another subject of the tenant is unaffected");
    cr_assert(passes("globex", "alice"), "the same subject in another tenant is unaffected");
    /* The refused request did not count for acme: 2 of its 3 went to alice and bob. */
    cr_assert(passes("acme", ""));
    cr_assert(not(passes("acme", "")));
}

Test(limit_stage, off_by_default_and_without_pipeline) {
    sl_config_t *c = t_publish(T_SETS("http.retry_after=5s"));
    for (int i = 0; i < 100; i++) {
        cr_assert(passes("acme", "alice"));
    }
    sl_request_t *req = sl_request_new(NULL);
    req->principal.tenant = "acme";
    req->principal.subject = "";
    cr_assert(eq(int, sl_stage_limit(req), SL_OK));
    sl_request_free(req);
    sl_config_unref(c);
}
