/* pipeline/dedupe: the id table over simulated time (now_ms passed in), per-tenant separation,
 * the bound, two threads; core/siphash against the reference vectors; the dedupe stage, and the
 * pipeline recording an id from its success delivery report only. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/siphash.h"
#include "metrics/metrics.h"
#include "pipeline/dedupe.h"
#include "pipeline/pipeline.h"
#include "support.h"

#define T0 INT64_C(1000000)
#define HOUR INT64_C(3600000)

static bool seen(sl_dedupe_t *d, const char *tenant, const char *id, int64_t now, int64_t window) {
    return sl_dedupe_seen(d, tenant, id, strlen(id), now, window);
}

static void record(sl_dedupe_t *d, const char *tenant, const char *id, int64_t now) {
    sl_dedupe_record(d, tenant, id, strlen(id), now);
}

/* ------------------------------------------------------------------------- core/siphash -- */

/* vectors_sip128 of github.com/veorq/SipHash (key 00..0f, message 00..len-1), by length. */
static const struct {
    size_t len;
    const char *hex;
} sip128[] = {
    {0, "a3817f04ba25a8e66df67214c7550293"},  {1, "da87c1d86b99af44347659119b22fc45"},
    {7, "a1f1ebbed8dbc153c0b84aa61ff08239"},  {8, "3b62a9ba6258f5610f83e264f31497b4"},
    {15, "5493e99933b0a8117e08ec0f97cfc3d9"}, {16, "6ee2a4ca67b054bbfd3315bf85230577"},
    {63, "5150d1772f50834a503e069a973fbd7c"},
};

static void to_hex(const uint64_t h[2], char out[33]) {
    for (int w = 0; w < 2; w++) {
        for (int b = 0; b < 8; b++) {
            snprintf(out + w * 16 + b * 2, 3, "%02x", (unsigned)((h[w] >> (8 * b)) & 0xff));
        }
    }
}

Test(siphash, reference_vectors_one_shot_and_in_pieces) {
    unsigned char key_bytes[16], msg[64];
    for (int i = 0; i < 16; i++) {
        key_bytes[i] = (unsigned char)i;
    }
    for (int i = 0; i < 64; i++) {
        msg[i] = (unsigned char)i;
    }
    uint64_t key[2] = {0, 0};
    for (int i = 0; i < 8; i++) {
        key[0] |= (uint64_t)key_bytes[i] << (8 * i);
        key[1] |= (uint64_t)key_bytes[8 + i] << (8 * i);
    }
    for (size_t v = 0; v < sizeof(sip128) / sizeof(sip128[0]); v++) {
        uint64_t h[2];
        char hex[33];
        sl_siphash128(key, msg, sip128[v].len, h);
        to_hex(h, hex);
        cr_assert(eq(str, hex, (char *)sip128[v].hex), "length %zu", sip128[v].len);
        /* Every split into three pieces gives the same hash. */
        for (size_t a = 0; a <= sip128[v].len; a++) {
            for (size_t b = a; b <= sip128[v].len; b++) {
                sl_siphash_t s;
                sl_siphash_init(&s, key);
                sl_siphash_update(&s, msg, a);
                sl_siphash_update(&s, msg + a, b - a);
                sl_siphash_update(&s, msg + b, sip128[v].len - b);
                sl_siphash_final(&s, h);
                to_hex(h, hex);
                cr_assert(eq(str, hex, (char *)sip128[v].hex), "length %zu split %zu/%zu",
                          sip128[v].len, a, b);
            }
        }
    }
}

/* ---------------------------------------------------------------------------- the table -- */

Test(dedupe, seen_only_after_record) {
    sl_dedupe_t *d = sl_dedupe_new(16);
    cr_assert(not(seen(d, "acme", "e1", T0, HOUR)));
    record(d, "acme", "e1", T0);
    cr_assert(seen(d, "acme", "e1", T0, HOUR));
    cr_assert(seen(d, "acme", "e1", T0 + 1000, HOUR));
    cr_assert(not(seen(d, "acme", "e2", T0, HOUR)), "another id");
    cr_assert(not(seen(d, "acme", "e", T0, HOUR)), "a prefix is another id");
    cr_assert(not(seen(d, "acme", "e10", T0, HOUR)));
    cr_assert(not(seen(d, "acme", "e1", T0, 0)), "window 0: off");
    cr_assert(not(seen(d, "acme", "e1", T0, -5)));
    /* Ids are bytes: an embedded NUL and what follows it count. */
    sl_dedupe_record(d, "acme", "x\0y", 3, T0);
    cr_assert(sl_dedupe_seen(d, "acme", "x\0y", 3, T0, HOUR));
    cr_assert(not(sl_dedupe_seen(d, "acme", "x\0z", 3, T0, HOUR)));
    cr_assert(not(sl_dedupe_seen(d, "acme", "x", 1, T0, HOUR)));
    cr_assert(eq(sz, sl_dedupe_entries(d), 2));
    cr_assert(eq(u64, sl_dedupe_evictions(d), 0));
    sl_dedupe_free(d);
}

Test(dedupe, window_expiry) {
    sl_dedupe_t *d = sl_dedupe_new(16);
    record(d, "acme", "e1", T0);
    cr_assert(seen(d, "acme", "e1", T0 + 1999, 2000));
    cr_assert(not(seen(d, "acme", "e1", T0 + 2000, 2000)), "a window of 2 s is over at 2 s");
    cr_assert(eq(sz, sl_dedupe_entries(d), 0), "an expired id is forgotten in passing");
    /* Recorded again (produced again after its window), it is remembered from then on. */
    record(d, "acme", "e1", T0 + 3000);
    cr_assert(seen(d, "acme", "e1", T0 + 4999, 2000));
    cr_assert(not(seen(d, "acme", "e1", T0 + 5000, 2000)));
    /* The window is the caller's: a longer one (a reload) still knows an id not yet forgotten. */
    record(d, "acme", "e2", T0 + 10000);
    cr_assert(not(seen(d, "acme", "e2", T0 + 15000, 5000)));
    record(d, "acme", "e3", T0 + 20000);
    cr_assert(seen(d, "acme", "e3", T0 + 26000, 10000));
    cr_assert(not(seen(d, "acme", "e3", T0 + 26000, 5000)));
    /* A recording "later" than now (another thread read the clock after this one) is seen. */
    record(d, "acme", "e4", T0 + 30000);
    cr_assert(seen(d, "acme", "e4", T0 + 29990, 5000));
    sl_dedupe_free(d);
}

Test(dedupe, tenants_are_separate) {
    sl_dedupe_t *d = sl_dedupe_new(64);
    record(d, "acme", "e1", T0);
    cr_assert(seen(d, "acme", "e1", T0, HOUR));
    cr_assert(not(seen(d, "globex", "e1", T0, HOUR)), "the same id of another tenant");
    cr_assert(not(seen(d, "", "e1", T0, HOUR)));
    cr_assert(not(seen(d, NULL, "e1", T0, HOUR)));
    record(d, NULL, "e9", T0);
    cr_assert(seen(d, "", "e9", T0, HOUR), "NULL is the tenant \"\"");
    /* Tenant and id are not simply concatenated: "ab"+"c" is not "a"+"bc". */
    record(d, "ab", "c", T0);
    cr_assert(not(seen(d, "a", "bc", T0, HOUR)));
    cr_assert(not(seen(d, "abc", "", T0, HOUR)));
    cr_assert(seen(d, "ab", "c", T0, HOUR));
    sl_dedupe_free(d);
}

Test(dedupe, record_again_moves_to_newest) {
    sl_dedupe_t *d = sl_dedupe_new(3);
    cr_assert(not(seen(d, "t", "-", T0, HOUR))); /* tells the table the window */
    record(d, "t", "a", T0);
    record(d, "t", "b", T0 + 1);
    record(d, "t", "c", T0 + 2);
    record(d, "t", "a", T0 + 3); /* in flight twice: recorded twice */
    cr_assert(eq(sz, sl_dedupe_entries(d), 3));
    record(d, "t", "d", T0 + 4); /* b is now the oldest */
    cr_assert(eq(sz, sl_dedupe_entries(d), 3));
    cr_assert(eq(u64, sl_dedupe_evictions(d), 1));
    cr_assert(not(seen(d, "t", "b", T0 + 5, HOUR)), "b was the oldest");
    cr_assert(seen(d, "t", "a", T0 + 5, HOUR));
    cr_assert(seen(d, "t", "c", T0 + 5, HOUR));
    cr_assert(seen(d, "t", "d", T0 + 5, HOUR));
    sl_dedupe_free(d);
}

/* A table under 2048 entries has one stripe: exactly the newest MAX ids are kept. */
Test(dedupe, bound_holds_oldest_forgotten_first) {
    enum { MAX = 1000 };
    sl_dedupe_t *d = sl_dedupe_new(MAX);
    cr_assert(not(seen(d, "t", "-", T0, HOUR)));
    char id[32];
    for (int i = 0; i < 10 * MAX; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        record(d, "t", id, T0 + i);
        cr_assert(le(sz, sl_dedupe_entries(d), MAX));
    }
    cr_assert(eq(sz, sl_dedupe_entries(d), MAX));
    cr_assert(eq(u64, sl_dedupe_evictions(d), 9 * MAX), "every id forgotten was within the hour");
    int64_t now = T0 + 10 * MAX;
    for (int i = 0; i < 10 * MAX; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        cr_assert(eq(int, seen(d, "t", id, now, HOUR), i >= 9 * MAX), "%s", id);
    }
    sl_dedupe_free(d);
}

/* Expired ids make room without counting as evictions. */
Test(dedupe, expired_ids_are_not_evictions) {
    sl_dedupe_t *d = sl_dedupe_new(10);
    cr_assert(not(seen(d, "t", "-", T0, 1000)));
    char id[32];
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 10; i++) {
            snprintf(id, sizeof(id), "r%d-%d", round, i);
            record(d, "t", id, T0 + round * 2000);
        }
    }
    cr_assert(eq(u64, sl_dedupe_evictions(d), 0));
    cr_assert(eq(sz, sl_dedupe_entries(d), 10));
    cr_assert(seen(d, "t", "r4-0", T0 + 8500, 1000));
    cr_assert(not(seen(d, "t", "r3-9", T0 + 8500, 1000)));
    sl_dedupe_free(d);
}

/* A striped table (100000 entries: 32 stripes): the bound holds exactly, and "oldest first"
 * per stripe keeps every recent id and none of the old ones (the margins make a miss
 * astronomically unlikely whatever the random hash key). */
Test(dedupe, striped_bound_under_ten_times_the_entries) {
    enum { MAX = 100000 };
    sl_dedupe_t *d = sl_dedupe_new(MAX);
    cr_assert(not(seen(d, "t", "-", T0, HOUR)));
    char id[32];
    for (int i = 0; i < 10 * MAX; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        record(d, "t", id, T0 + i / 1000);
        if (i % 1000 == 0) {
            cr_assert(le(sz, sl_dedupe_entries(d), MAX));
        }
    }
    cr_assert(eq(sz, sl_dedupe_entries(d), MAX));
    cr_assert(eq(u64, sl_dedupe_evictions(d), 9 * MAX));
    int64_t now = T0 + 10 * MAX / 1000;
    for (int i = 10 * MAX - MAX / 8; i < 10 * MAX; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        cr_assert(seen(d, "t", id, now, HOUR), "recent %s was forgotten", id);
    }
    for (int i = 0; i < 5 * MAX; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        cr_assert(not(seen(d, "t", id, now, HOUR)), "old %s is still there", id);
    }
    sl_dedupe_free(d);
}

typedef struct {
    sl_dedupe_t *d;
    atomic_int *go;
    const char *prefix;
    int n;
    int misses; /* ids of its own not seen right after being recorded */
    size_t max_entries_seen;
} worker_t;

/* Records its own ids, looks each up right after, and looks up the other thread's too. */
static void *worker(void *arg) {
    worker_t *w = arg;
    while (atomic_load(w->go) == 0) {
    }
    char id[32], other[32];
    for (int i = 0; i < w->n; i++) {
        snprintf(id, sizeof(id), "%s-%d", w->prefix, i);
        snprintf(other, sizeof(other), "%s-%d", w->prefix[0] == 'a' ? "b" : "a", i);
        int64_t now = T0 + i;
        record(w->d, "t", id, now);
        if (!seen(w->d, "t", id, now, HOUR)) {
            w->misses++;
        }
        (void)seen(w->d, "t", other, now, HOUR);
        size_t n = sl_dedupe_entries(w->d);
        if (n > w->max_entries_seen) {
            w->max_entries_seen = n;
        }
    }
    return NULL;
}

static void run_two(sl_dedupe_t *d, int n, worker_t w[2]) {
    atomic_int go = 0;
    w[0] = (worker_t){d, &go, "a", n, 0, 0};
    w[1] = (worker_t){d, &go, "b", n, 0, 0};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        cr_assert(eq(int, pthread_create(&th[i], NULL, worker, &w[i]), 0));
    }
    atomic_store(&go, 1);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
    }
}

/* Room for every id (stripes are filled by hash, so twice what is needed): none is lost,
 * whatever the interleaving. */
Test(dedupe, two_threads_record_and_look_up) {
    enum { N = 50000 };
    sl_dedupe_t *d = sl_dedupe_new(4 * N); /* 64 stripes */
    worker_t w[2];
    run_two(d, N, w);
    for (int i = 0; i < 2; i++) {
        cr_assert(eq(int, w[i].misses, 0), "thread %d lost an id it had just recorded", i);
    }
    cr_assert(eq(sz, sl_dedupe_entries(d), 2 * N));
    cr_assert(eq(u64, sl_dedupe_evictions(d), 0));
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "a-%d", i);
        cr_assert(seen(d, "t", id, T0 + N, HOUR), "%s", id);
        snprintf(id, sizeof(id), "b-%d", i);
        cr_assert(seen(d, "t", id, T0 + N, HOUR), "%s", id);
    }
    sl_dedupe_free(d);
}

/* 25 times more ids than room, from two threads: the bound holds at every moment. (Which ids
 * survive depends on how the threads were scheduled: one preempted between its record and its
 * look-up may find its id already pushed out.) */
Test(dedupe, two_threads_bound_holds) {
    enum { MAX = 4096, N = 50000 };
    sl_dedupe_t *d = sl_dedupe_new(MAX); /* 4 stripes: the threads meet on the same locks */
    worker_t w[2];
    run_two(d, N, w);
    for (int i = 0; i < 2; i++) {
        cr_assert(le(sz, w[i].max_entries_seen, MAX));
    }
    cr_assert(eq(sz, sl_dedupe_entries(d), MAX));
    cr_assert(eq(u64, sl_dedupe_evictions(d), 2 * N - MAX));
    sl_dedupe_free(d);
}

/* ---------------------------------------------------------------------------- the stage -- */

/* A request of tenant with one pending event per id (as the stages before dedupe leave it). */
static sl_request_t *batch(sl_pipeline_t *pl, const char *tenant, const char *const *ids) {
    sl_request_t *req = sl_request_new(pl);
    cr_assert(req != NULL);
    req->route = SL_ROUTE_EVENTS;
    req->principal.tenant = tenant;
    req->n_events = t_count(ids);
    req->events = sl_arena_calloc(req->arena, req->n_events * sizeof(*req->events));
    for (size_t i = 0; i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        ev->req = req;
        ev->event_id = ids[i];
        ev->event_id_len = strlen(ids[i]);
        ev->outcome = SL_OUT_PENDING;
    }
    return req;
}

static void assert_duplicate(const sl_event_t *ev, const char *message_part) {
    cr_assert(eq(int, ev->outcome, SL_OUT_DUPLICATE), "%.*s", (int)ev->event_id_len, ev->event_id);
    cr_assert(eq(str, (char *)ev->code, "duplicate_event_id"));
    cr_assert(strstr(ev->message, message_part) != NULL, "%s", ev->message);
}

Test(dedupe_stage, seen_and_repeats_within_a_batch) {
    sl_config_t *cfg = t_publish(T_SETS("dedupe.window=1h"));
    sl_dedupe_t *d = sl_dedupe_new(64);
    sl_request_t *req = batch(NULL, "acme", T_SETS("e1", "e2", "e1", "e3", "e2", "e1"));
    req->events[3].outcome = SL_OUT_INVALID; /* not pending: left alone, not remembered */
    cr_assert(eq(int, sl_dedupe_stage(d, req), SL_OK));
    cr_assert(eq(int, req->events[0].outcome, SL_OUT_PENDING));
    cr_assert(eq(int, req->events[1].outcome, SL_OUT_PENDING));
    assert_duplicate(&req->events[2], "earlier in the same batch");
    cr_assert(eq(int, req->events[3].outcome, SL_OUT_INVALID));
    assert_duplicate(&req->events[4], "earlier in the same batch");
    assert_duplicate(&req->events[5], "earlier in the same batch");
    cr_assert(req->events[0].claimed && req->events[1].claimed);
    cr_assert(not(req->events[2].claimed || req->events[3].claimed || req->events[5].claimed));
    cr_assert(eq(sz, sl_dedupe_entries(d), 2), "e1 and e2 are claimed in flight");

    /* e1 acknowledged by Kafka; e2 failed (its claim is forgotten). */
    sl_dedupe_settled(d, &req->events[0], true);
    sl_dedupe_settled(d, &req->events[1], false);
    cr_assert(not(req->events[0].claimed || req->events[1].claimed));
    cr_assert(eq(sz, sl_dedupe_entries(d), 1));
    sl_request_free(req);

    req = batch(NULL, "acme", T_SETS("e1", "e2", "e3"));
    cr_assert(eq(int, sl_dedupe_stage(d, req), SL_OK));
    assert_duplicate(&req->events[0], "already accepted within dedupe.window; not produced again");
    cr_assert(eq(int, req->events[1].outcome, SL_OUT_PENDING), "e2 was never acknowledged");
    cr_assert(eq(int, req->events[2].outcome, SL_OUT_PENDING));
    sl_request_free(req);

    req = batch(NULL, "globex", T_SETS("e1"));
    cr_assert(eq(int, sl_dedupe_stage(d, req), SL_OK));
    cr_assert(eq(int, req->events[0].outcome, SL_OUT_PENDING), "another tenant's e1");
    sl_request_free(req);

    /* Without a table the stage does nothing. */
    req = batch(NULL, "acme", T_SETS("e1", "e1"));
    cr_assert(eq(int, sl_dedupe_stage(NULL, req), SL_OK));
    cr_assert(eq(int, req->events[1].outcome, SL_OUT_PENDING));
    sl_request_free(req);
    sl_dedupe_free(d);
    t_unpublish(cfg);
}

/* A retry that comes while the first copy is still in flight (its request answered at
 * kafka.delivery_timeout) is answered in_flight and not claimed; once the first copy is
 * acknowledged the next retry is a duplicate, and had it failed the retry would be produced. */
Test(dedupe_stage, a_retry_while_in_flight_waits_for_the_first_copy) {
    sl_config_t *cfg = t_publish(T_SETS("dedupe.window=1h"));
    sl_dedupe_t *d = sl_dedupe_new(64);
    sl_request_t *first = batch(NULL, "acme", T_SETS("a", "b"));
    cr_assert(eq(int, sl_dedupe_stage(d, first), SL_OK));

    sl_request_t *retry = batch(NULL, "acme", T_SETS("a", "b", "c"));
    cr_assert(eq(int, sl_dedupe_stage(d, retry), SL_OK));
    for (int i = 0; i < 2; i++) {
        const sl_event_t *ev = &retry->events[i];
        cr_assert(eq(int, ev->outcome, SL_OUT_RETRYABLE));
        cr_assert(eq(str, (char *)ev->code, "in_flight"));
        cr_assert(not(ev->claimed));
    }
    cr_assert(retry->events[2].claimed, "c is new");
    sl_request_free(retry);

    sl_dedupe_settled(d, &first->events[0], true);  /* a: delivered late */
    sl_dedupe_settled(d, &first->events[1], false); /* b: given up (kafka.message_timeout) */
    sl_request_free(first);

    retry = batch(NULL, "acme", T_SETS("a", "b"));
    cr_assert(eq(int, sl_dedupe_stage(d, retry), SL_OK));
    assert_duplicate(&retry->events[0], "already accepted");
    cr_assert(eq(int, retry->events[1].outcome, SL_OUT_PENDING));
    cr_assert(retry->events[1].claimed, "b is produced again");
    sl_request_free(retry);
    sl_dedupe_free(d);
    t_unpublish(cfg);
}

Test(dedupe_stage, window_zero_is_off) {
    sl_config_t *cfg = t_publish(T_SETS("dedupe.window=0"));
    sl_dedupe_t *d = sl_dedupe_new(64);
    sl_request_t *req = batch(NULL, "acme", T_SETS("e1", "e1"));
    cr_assert(eq(int, sl_dedupe_stage(d, req), SL_OK));
    cr_assert(eq(int, req->events[1].outcome, SL_OUT_PENDING), "no repeat check either");
    cr_assert(not(req->events[0].claimed));
    sl_dedupe_settled(d, &req->events[0], true);
    cr_assert(eq(sz, sl_dedupe_entries(d), 0), "nothing recorded while off");
    sl_request_free(req);
    sl_dedupe_free(d);
    t_unpublish(cfg);
}

Test(dedupe_stage, erasure_records_are_not_event_ids) {
    sl_config_t *cfg = t_publish(T_SETS("dedupe.window=1h"));
    sl_dedupe_t *d = sl_dedupe_new(64);
    sl_request_t *req = batch(NULL, "acme", T_SETS("user-1"));
    req->route = SL_ROUTE_ERASURE;
    cr_assert(eq(int, sl_dedupe_stage(d, req), SL_OK));
    cr_assert(not(req->events[0].claimed));
    req->events[0].claimed = true; /* even so: an erasure request is never recorded */
    sl_dedupe_settled(d, &req->events[0], true);
    cr_assert(eq(sz, sl_dedupe_entries(d), 0));
    sl_request_free(req);
    sl_dedupe_free(d);
    t_unpublish(cfg);
}

/* ------------------------------------------------------------------------- the pipeline -- */

static void on_complete(sl_request_t *req, void *ctx) {
    (void)req;
    (*(int *)ctx)++;
}

/* Runs every stage of the pipeline on a JSON batch. The pipeline is draining, so the produce
 * stage refuses the batch as a whole (shutting_down) without a sink: what the stages before it
 * decided stays on the events. */
static sl_request_t *submit(sl_pipeline_t *pl, const char *body) {
    sl_request_t *req = sl_request_new(pl);
    cr_assert(req != NULL);
    req->route = SL_ROUTE_EVENTS;
    req->media_type = "application/json";
    req->body = sl_arena_strndup(req->arena, body, strlen(body));
    req->body_len = strlen(body);
    int completed = 0;
    sl_pipeline_submit(req, on_complete, &completed);
    cr_assert(eq(int, completed, 1));
    cr_assert(eq(str, (char *)req->fault_err.code, "shutting_down"));
    return req;
}

#define EV(id) "{\"event_id\":\"" id "\",\"type\":\"t\",\"occurred_at\":0}"

/* A batch the produce stage refuses as a whole hands nothing to Kafka: its claims are settled
 * at once, so the client's retry is produced (not answered in_flight). Acknowledged and late
 * deliveries are in test_pipeline_sink.c, with a broker. */
Test(dedupe_pipeline, claims_of_a_refused_batch_are_released) {
    sl_config_t *cfg =
        t_publish(T_SETS("auth.required=false", "contracts.file=", "dedupe.max_entries=100"));
    sl_pipeline_t *pl = sl_pipeline_new(NULL);
    sl_pipeline_set_draining(pl);

    sl_request_t *req = submit(pl, "{\"events\":[" EV("e1") "," EV("e2") "," EV("e1") "]}");
    cr_assert(eq(int, req->events[0].outcome, SL_OUT_PENDING));
    cr_assert(eq(int, req->events[1].outcome, SL_OUT_PENDING));
    cr_assert(not(req->events[0].claimed || req->events[1].claimed));
    assert_duplicate(&req->events[2], "earlier in the same batch");
    sl_request_free(req);

    req = submit(pl, "{\"events\":[" EV("e1") "," EV("e2") "]}");
    cr_assert(eq(int, req->events[0].outcome, SL_OUT_PENDING), "not in_flight: never produced");
    cr_assert(eq(int, req->events[1].outcome, SL_OUT_PENDING));
    sl_request_free(req);

    sl_pipeline_free(pl);
    t_unpublish(cfg);
}
