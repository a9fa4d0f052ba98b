/* The pipeline in process with the embedded Kafka cluster, for what commit 8579fe7 added: key
 * templates (keys.types, keys.missing), hot keys (keys.hot, keys.hot_rate), per-tenant topic
 * templates, dead letters, the in-flight byte budget (limits.inflight_bytes) and event-time
 * message timestamps (kafka.timestamp). What landed in Kafka is read back from the mock cluster.
 * No contracts and no policy here: keys and values are built from the events as sent. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "core/timefmt.h"
#include "metrics/metrics.h"
#include "pipeline/pipeline.h"
#include "sink/embedded.h"
#include "sink/sink.h"
#include "stack.h"
#include "support.h"
#include "transport/status_map.h"

#define SECRET "pipeline-secret-pipeline-secret-pipeline"
#define PRODUCE_API 0
#define BROKER 1

static t_stack_t stack; /* stack.cfg, stack.sink, stack.pl (the pipeline), stack.mc (the mock
                           cluster), stack.token */

static void start(const char *const *extra) {
    const char *sets[32] = {
        "auth.secret=" SECRET,         "kafka.delivery_timeout=10s", "kafka.health_interval=100ms",
        "kafka.embedded_partitions=1", "kafka.linger=0ms",           "log.level=error"};
    size_t n = 6;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 31; i++) {
        sets[n++] = extra[i];
    }
    sets[n] = NULL;
    t_stack_open(&stack, sets);
}

static void teardown(void) {
    t_stack_close(&stack);
}

TestSuite(pipeline_keys, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------------------- requests -- */

typedef t_done_t done_t;

static void submit(const char *body, const char *bearer, done_t *d) {
    t_submit(stack.pl, body, bearer, d);
}

static sl_request_t *wait_done(done_t *d) {
    return t_wait_done(d, 20);
}

static sl_request_t *run_as(const char *body, const char *bearer, done_t *d) {
    submit(body, bearer, d);
    return wait_done(d);
}

static sl_request_t *run(const char *body, done_t *d) {
    return run_as(body, stack.token, d);
}

static const char *key_of(sl_request_t *req, size_t i) {
    const sl_event_t *ev = &req->events[i];
    return ev->key == NULL ? NULL : sl_arena_strndup(req->arena, ev->key, ev->key_len);
}

/* --------------------------------------------------------------- reading the topics -- */

#define MAX_HEADERS 20

typedef struct {
    char *key; /* NUL-terminated copy, NULL for a NULL key */
    char *value;
    int64_t ts;
    size_t n_headers;
    char *hname[MAX_HEADERS];
    char *hvalue[MAX_HEADERS];
} msg_t;

static void msg_free(msg_t *m) {
    free(m->key);
    free(m->value);
    for (size_t i = 0; i < m->n_headers; i++) {
        free(m->hname[i]);
        free(m->hvalue[i]);
    }
    memset(m, 0, sizeof(*m));
}

static char *dup_n(const void *p, size_t n) {
    char *s = malloc(n + 1);
    cr_assert(s != NULL);
    if (n > 0) {
        memcpy(s, p, n);
    }
    s[n] = '\0';
    return s;
}

/* The header's value (the last of that name), or NULL. */
static const char *hdr(const msg_t *m, const char *name) {
    const char *v = NULL;
    for (size_t i = 0; i < m->n_headers; i++) {
        if (strcmp(m->hname[i], name) == 0) {
            v = m->hvalue[i];
        }
    }
    return v;
}

/* Reads up to want messages of partition 0 of topic (every topic here has one partition),
 * waiting at most timeout_ms for them, and at most settle_ms once `enough` have come; returns
 * how many were read. */
static size_t consume(const char *topic, msg_t *out, size_t want, size_t enough, int timeout_ms,
                      int settle_ms) {
    t_reader_t reader = t_reader_open(sl_sink_bootstrap(stack.sink), topic);
    rd_kafka_topic_t *rkt = reader.rkt;
    size_t got = 0;
    int64_t until = t_mono_ms() + (enough == 0 ? settle_ms : timeout_ms);
    while (got < want && t_mono_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consume(rkt, 0, 200);
        if (m == NULL) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            msg_t *o = &out[got++];
            if (got == enough && t_mono_ms() + settle_ms < until) {
                until = t_mono_ms() + settle_ms;
            }
            memset(o, 0, sizeof(*o));
            o->key = m->key != NULL ? dup_n(m->key, m->key_len) : NULL;
            o->value = dup_n(m->payload, m->len);
            rd_kafka_timestamp_type_t tstype;
            o->ts = rd_kafka_message_timestamp(m, &tstype);
            rd_kafka_headers_t *h = NULL;
            if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const char *name;
                const void *v;
                size_t vn;
                for (size_t i = 0;
                     o->n_headers < MAX_HEADERS &&
                     rd_kafka_header_get_all(h, i, &name, &v, &vn) == RD_KAFKA_RESP_ERR_NO_ERROR;
                     i++) {
                    o->hname[o->n_headers] = dup_n(name, strlen(name));
                    o->hvalue[o->n_headers] = dup_n(v, vn);
                    o->n_headers++;
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    t_reader_close(&reader);
    return got;
}

/* Exactly n messages of topic: n arrive, and nothing more within a short wait. */
static void consume_exactly(const char *topic, msg_t *out, size_t n) {
    msg_t *all = calloc(n + 1, sizeof(msg_t));
    size_t got = consume(topic, all, n + 1, n, 10000, 1000);
    cr_assert(eq(sz, got, n), "%zu messages in %s, want %zu", got, topic, n);
    for (size_t i = 0; i < got; i++) {
        out[i] = all[i];
    }
    free(all);
}

static bool metrics_have(const char *needle) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 8192);
    sl_metrics_render(&b);
    bool found = strstr(sl_buf_cstr(&b), needle) != NULL;
    sl_buf_free(&b);
    return found;
}

static json_t *answer_json(sl_request_t *req, int want_status) {
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, want_status), "%.*s", (int)a.body.len, a.body.data);
    json_error_t jerr;
    json_t *j = json_loadb(a.body.data, a.body.len, 0, &jerr);
    cr_assert(j != NULL, "answer body is not JSON: %s", jerr.text);
    return j;
}

/* ---------------------------------------------------------------- key templates -- */

Test(pipeline_keys, keys_types_override_keys_by_cart) {
    start(T_SETS("keys.types=add_to_cart={tenant}:{properties.cart_id} "
                 "checkout_step=cart/{properties.cart.id|user_id}"));
    const char *body =
        "{\"batch_id\":\"b-cart\",\"events\":["
        "{\"event_id\":\"e0\",\"type\":\"add_to_cart\",\"occurred_at\":1,\"user_id\":\"u1\","
        "\"properties\":{\"cart_id\":\"c-9\",\"sku\":\"X\"}},"
        "{\"event_id\":\"e1\",\"type\":\"page_view\",\"occurred_at\":1,\"user_id\":\"u1\","
        "\"properties\":{\"cart_id\":\"c-9\"}},"
        "{\"event_id\":\"e2\",\"type\":\"add_to_cart\",\"occurred_at\":1,\"user_id\":\"u1\","
        "\"properties\":{\"cart_id\":42}},"
        "{\"event_id\":\"e3\",\"type\":\"add_to_cart\",\"occurred_at\":1,\"user_id\":\"u1\","
        "\"properties\":{\"cart_id\":\"\"}},"
        "{\"event_id\":\"e4\",\"type\":\"add_to_cart\",\"occurred_at\":1,\"user_id\":\"u1\","
        "\"properties\":{\"cart_id\":4.5}},"
        "{\"event_id\":\"e5\",\"type\":\"checkout_step\",\"occurred_at\":1,\"user_id\":\"u1\","
        "\"properties\":{\"cart\":{\"id\":\"c-7\"}}},"
        "{\"event_id\":\"e6\",\"type\":\"checkout_step\",\"occurred_at\":1,\"user_id\":\"u1\","
        "\"properties\":{\"cart\":{\"id\":null}}}"
        "]}";
    done_t d;
    sl_request_t *req = run(body, &d);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_NONE), "%s", req->fault_err.message);
    static const char *const want[] = {"acme:c-9", "acme:u1",  "acme:42", "acme:~e3",
                                       "acme:~e4", "cart/c-7", "cart/u1"};
    static const bool random_key[] = {false, false, false, true, true, false, false};
    for (size_t i = 0; i < 7; i++) {
        cr_assert(eq(int, (int)req->events[i].outcome, SL_OUT_ACCEPTED), "event %zu", i);
        cr_assert(eq(str, (char *)key_of(req, i), (char *)want[i]), "event %zu", i);
        cr_assert(eq(int, req->events[i].key_random, random_key[i]), "event %zu", i);
    }
    msg_t m[7];
    consume_exactly(stack.cfg->topics.raw, m, 7);
    for (size_t i = 0; i < 7; i++) {
        cr_assert(m[i].key != NULL);
        cr_assert(eq(str, m[i].key, (char *)want[i]), "message %zu", i);
        /* An empty string or a fraction is no key: keys.missing=random draws one from the
         * event_id and says so. */
        if (random_key[i]) {
            cr_assert(eq(str, (char *)hdr(&m[i], "key_source"), "random"), "message %zu", i);
        } else {
            cr_assert(hdr(&m[i], "key_source") == NULL, "message %zu", i);
        }
        cr_assert(hdr(&m[i], "original_key") == NULL, "no hot keys here");
        msg_free(&m[i]);
    }
    cr_assert(metrics_have("sluice_keys_random_events_total 2\n"));
    sl_request_free(req);
}

Test(pipeline_keys, stage_template_without_tenant_and_the_empty_template) {
    start(T_SETS("keys.raw=user/{anonymous_id|user_id}", "keys.types=no_key="));
    const char *body = "{\"events\":["
                       "{\"event_id\":\"e0\",\"type\":\"page_view\",\"occurred_at\":1,"
                       "\"user_id\":\"u1\",\"anonymous_id\":\"a1\"},"
                       "{\"event_id\":\"e1\",\"type\":\"no_key\",\"occurred_at\":1,"
                       "\"user_id\":\"u1\"}]}";
    done_t d;
    sl_request_t *req = run(body, &d);
    cr_assert(eq(str, (char *)key_of(req, 0), "user/a1"), "the first alternative set wins");
    cr_assert(req->events[1].key == NULL, "the empty template: no key");
    cr_assert(not(req->events[1].key_random));
    msg_t m[2];
    consume_exactly(stack.cfg->topics.raw, m, 2);
    cr_assert(eq(str, m[0].key, "user/a1"));
    cr_assert(m[1].key == NULL, "produced with a NULL key");
    cr_assert(hdr(&m[1], "key_source") == NULL);
    msg_free(&m[0]);
    msg_free(&m[1]);
    sl_request_free(req);
}

Test(pipeline_keys, keys_missing_reject_is_invalid_key_missing) {
    start(T_SETS("keys.missing=reject", "keys.types=add_to_cart={tenant}:{properties.cart_id}"));
    const char *body = "{\"batch_id\":\"b-rej\",\"events\":["
                       "{\"event_id\":\"e0\",\"type\":\"page_view\",\"occurred_at\":1,"
                       "\"user_id\":\"u1\"},"
                       "{\"event_id\":\"e1\",\"type\":\"page_view\",\"occurred_at\":1,"
                       "\"session_id\":\"s1\"},"
                       "{\"event_id\":\"e2\",\"type\":\"add_to_cart\",\"occurred_at\":1,"
                       "\"user_id\":\"u1\",\"properties\":{}}]}";
    done_t d;
    sl_request_t *req = run(body, &d);
    cr_assert(eq(int, (int)req->events[0].outcome, SL_OUT_ACCEPTED));
    for (size_t i = 1; i < 3; i++) {
        cr_assert(eq(int, (int)req->events[i].outcome, SL_OUT_INVALID), "event %zu", i);
        cr_assert(eq(str, (char *)req->events[i].code, "key_missing"), "event %zu", i);
        cr_assert(strstr(req->events[i].message, "keys.missing is reject") != NULL, "%s",
                  req->events[i].message);
    }
    /* The message names the group(s) with nothing set, and the template. */
    cr_assert(strstr(req->events[1].message, "{user_id|anonymous_id|device_id}") != NULL, "%s",
              req->events[1].message);
    cr_assert(strstr(req->events[2].message, "{properties.cart_id}") != NULL, "%s",
              req->events[2].message);
    cr_assert(strstr(req->events[2].message, "{tenant}:{properties.cart_id}") != NULL, "%s",
              req->events[2].message);
    json_t *j = answer_json(req, 200);
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "accepted")), 1));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "invalid")), 2));
    json_t *r0 = json_array_get(json_object_get(j, "results"), 0);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(r0, "code")), "key_missing"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(r0, "status")), "invalid"));
    json_decref(j);

    msg_t m[2];
    consume_exactly(stack.cfg->topics.raw, m, 1);
    cr_assert(eq(str, (char *)hdr(&m[0], "event_id"), "e0"));
    msg_free(&m[0]);
    /* Rejected for their key: dead letters like any invalid event. */
    consume_exactly(stack.cfg->topics.dead_letter, m, 2);
    for (size_t i = 0; i < 2; i++) {
        cr_assert(eq(str, (char *)hdr(&m[i], "dead_letter_code"), "key_missing"));
        msg_free(&m[i]);
    }
    sl_request_free(req);
}

/* ----------------------------------------------------------------------- hot keys -- */

#define N_HOT 40

static char *hot_batch(const char *prefix, int n_hot, int first_id, const char *extra) {
    sl_buf_t b;
    sl_buf_init(&b, NULL, 4096);
    sl_buf_puts(&b, "{\"events\":[");
    for (int i = 0; i < n_hot; i++) {
        sl_buf_printf(&b,
                      "%s{\"event_id\":\"%s%d\",\"type\":\"page_view\",\"occurred_at\":1,"
                      "\"user_id\":\"hot\"}",
                      i > 0 ? "," : "", prefix, first_id + i);
    }
    sl_buf_puts(&b, extra);
    sl_buf_puts(&b, "]}");
    char *s = strdup(sl_buf_cstr(&b));
    sl_buf_free(&b);
    return s;
}

Test(pipeline_keys, listed_hot_key_spread_over_sub_keys_by_event_id) {
    start(T_SETS("keys.hot=acme:hot acme:other", "keys.hot_spread=4", "dedupe.window=0"));
    char *body = hot_batch("e", N_HOT, 0,
                           ",{\"event_id\":\"c0\",\"type\":\"page_view\",\"occurred_at\":1,"
                           "\"user_id\":\"cool\"}");
    done_t d;
    sl_request_t *req = run(body, &d);
    cr_assert(eq(sz, req->n_events, N_HOT + 1));
    int per_sub[4] = {0};
    char first_keys[N_HOT][32];
    for (int i = 0; i < N_HOT; i++) {
        const sl_event_t *ev = &req->events[i];
        cr_assert(eq(int, (int)ev->outcome, SL_OUT_ACCEPTED));
        const char *k = key_of(req, (size_t)i);
        unsigned n = 99;
        cr_assert(eq(int, sscanf(k, "acme:hot#%u", &n), 1), "%s", k);
        cr_assert(lt(u32, n, 4), "%s", k);
        cr_assert(eq(u32, ev->spread_index, n));
        cr_assert(eq(u32, ev->spread_n, 4));
        cr_assert(eq(str, sl_arena_strndup(req->arena, ev->original_key, ev->original_key_len),
                     "acme:hot"));
        per_sub[n]++;
        snprintf(first_keys[i], sizeof(first_keys[i]), "%s", k);
    }
    for (int s = 0; s < 4; s++) {
        cr_assert(gt(int, per_sub[s], 0), "sub-key %d unused: %d %d %d %d", s, per_sub[0],
                  per_sub[1], per_sub[2], per_sub[3]);
    }
    cr_assert(eq(str, (char *)key_of(req, N_HOT), "acme:cool"), "a key not listed is kept");
    cr_assert(req->events[N_HOT].original_key == NULL);

    msg_t m[N_HOT + 1];
    consume_exactly(stack.cfg->topics.raw, m, N_HOT + 1);
    for (int i = 0; i < N_HOT; i++) {
        cr_assert(eq(str, m[i].key, first_keys[i]));
        cr_assert(eq(str, (char *)hdr(&m[i], "original_key"), "acme:hot"));
        char spread[16];
        snprintf(spread, sizeof(spread), "%u/4", req->events[i].spread_index);
        cr_assert(eq(str, (char *)hdr(&m[i], "key_spread"), spread));
        msg_free(&m[i]);
    }
    cr_assert(eq(str, m[N_HOT].key, "acme:cool"));
    cr_assert(hdr(&m[N_HOT], "original_key") == NULL);
    cr_assert(hdr(&m[N_HOT], "key_spread") == NULL);
    msg_free(&m[N_HOT]);
    sl_request_free(req);
    free(body);
    cr_assert(metrics_have("sluice_keys_spread_events_total 40\n"));

    /* The same event_ids again (a client's retry; dedupe is off to see it produced): each
     * lands on the sub-key it had, so a retry goes to the same partition. */
    body = hot_batch("e", N_HOT, 0, "");
    req = run(body, &d);
    for (int i = 0; i < N_HOT; i++) {
        cr_assert(eq(str, (char *)key_of(req, (size_t)i), first_keys[i]), "event e%d", i);
    }
    sl_request_free(req);
    free(body);
}

Test(pipeline_keys, detected_hot_key_spread_after_the_rate) {
    start(T_SETS("keys.hot_rate=5", "keys.hot_spread=8", "keys.hot_hold=60s"));
    char *body = hot_batch("h", 20, 0,
                           ",{\"event_id\":\"c0\",\"type\":\"page_view\",\"occurred_at\":1,"
                           "\"user_id\":\"calm\"},"
                           "{\"event_id\":\"c1\",\"type\":\"page_view\",\"occurred_at\":1,"
                           "\"user_id\":\"calm\"}");
    done_t d;
    sl_request_t *req = run(body, &d);
    for (int i = 0; i < 20; i++) {
        const sl_event_t *ev = &req->events[i];
        if (i < 5) {
            cr_assert(eq(str, (char *)key_of(req, (size_t)i), "acme:hot"),
                      "event %d: within the rate, not spread", i);
            cr_assert(ev->original_key == NULL);
        } else {
            cr_assert(ev->original_key != NULL, "event %d: over the rate, spread", i);
            cr_assert(eq(u32, ev->spread_n, 8));
            char want[32];
            snprintf(want, sizeof(want), "acme:hot#%u", ev->spread_index);
            cr_assert(eq(str, (char *)key_of(req, (size_t)i), want));
        }
    }
    cr_assert(eq(str, (char *)key_of(req, 20), "acme:calm"));
    cr_assert(eq(str, (char *)key_of(req, 21), "acme:calm"));
    sl_request_free(req);
    free(body);
    cr_assert(metrics_have("sluice_keys_spread_events_total 15\n"));
    cr_assert(metrics_have("sluice_hot_keys 1\n"));
    cr_assert(metrics_have("sluice_hot_key_spread_events_total{key=\"acme:hot\"} 15\n"));

    /* Held hot: the next request's events are all spread, whatever their count. */
    body = hot_batch("i", 2, 0, "");
    req = run(body, &d);
    cr_assert(req->events[0].original_key != NULL);
    cr_assert(req->events[1].original_key != NULL);
    msg_t m[24];
    consume_exactly(stack.cfg->topics.raw, m, 24);
    size_t spread_msgs = 0;
    for (size_t i = 0; i < 24; i++) {
        const char *ok = hdr(&m[i], "original_key");
        if (ok != NULL) {
            cr_assert(eq(str, (char *)ok, "acme:hot"));
            cr_assert(hdr(&m[i], "key_spread") != NULL);
            spread_msgs++;
        }
        msg_free(&m[i]);
    }
    cr_assert(eq(sz, spread_msgs, 17));
    sl_request_free(req);
    free(body);
}

/* ---------------------------------------------------------------- topic templates -- */

Test(pipeline_keys, tenant_topic_templates) {
    start(T_SETS("topics.raw={tenant}.{stage}", "topics.dead_letter={tenant}.dlq"));
    cr_assert(eq(str, stack.cfg->topics.raw, "{tenant}.raw"));
    const char *body = "{\"batch_id\":\"b-t\",\"events\":["
                       "{\"event_id\":\"e0\",\"type\":\"page_view\",\"occurred_at\":1,"
                       "\"user_id\":\"u1\"},"
                       "{\"event_id\":\"e1\",\"type\":\"page_view\",\"user_id\":\"u1\"}]}";
    done_t d;
    sl_request_t *req = run(body, &d);
    cr_assert(eq(int, (int)req->events[0].outcome, SL_OUT_ACCEPTED), "%s",
              req->events[0].message ? req->events[0].message : "");
    cr_assert(eq(str, (char *)req->events[0].topic, "acme.raw"));
    sl_request_free(req);
    msg_t m[1];
    consume_exactly("acme.raw", m, 1);
    cr_assert(eq(str, (char *)hdr(&m[0], "event_id"), "e0"));
    msg_free(&m[0]);
    consume_exactly("acme.dlq", m, 1);
    cr_assert(eq(str, (char *)hdr(&m[0], "event_id"), "e1"));
    cr_assert(eq(str, (char *)hdr(&m[0], "dead_letter_code"), "missing_field"));
    msg_free(&m[0]);

    /* A tenant that cannot be part of a topic name: the event is invalid, not produced. */
    sl_error_t err = {0};
    char *odd = sl_auth_mint(
        stack.cfg, &(sl_mint_t){.tenant = "ac/me", .subject = "tester", .ttl_s = 600}, &err);
    cr_assert(odd != NULL, "%s", err.message);
    req = run_as(body, odd, &d);
    cr_assert(eq(int, (int)req->events[0].outcome, SL_OUT_INVALID));
    cr_assert(eq(str, (char *)req->events[0].code, "topic_invalid"));
    sl_request_free(req);
    free(odd);
}

/* ------------------------------------------------------------------- dead letters -- */

#define DL_BATCH                                                                                   \
    "{\"batch_id\":\"b-dl\",\"events\":["                                                          \
    "{\"event_id\":\"e0\",\"type\":\"page_view\",\"occurred_at\":1,\"user_id\":\"u1\"},"           \
    "{\"event_id\":\"e1\",  \"type\":\"click\", \"user_id\":\"u2\",\"extra\":[1,{}]},"             \
    "{\"event_id\":\"e2\",\"type\":\"page_view\",\"occurred_at\":1,\"user_id\":\"u3\"}]}"

Test(pipeline_keys, invalid_event_goes_to_the_dead_letter_topic) {
    start(NULL);
    cr_assert(eq(str, stack.cfg->topics.dead_letter, "sluice.dead-letter"), "on by default");
    done_t d;
    sl_request_t *req = run(DL_BATCH, &d);
    cr_assert(eq(int, (int)req->events[1].outcome, SL_OUT_INVALID));
    const char *code = req->events[1].code;
    const char *message = req->events[1].message;
    cr_assert(eq(str, (char *)code, "missing_field"));
    json_t *j = answer_json(req, 200);
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "invalid")), 1));
    json_decref(j);

    msg_t m[2];
    consume_exactly(stack.cfg->topics.dead_letter, m, 1);
    cr_assert(eq(str, m[0].key, "acme"), "keyed by tenant");
    /* No policy: the event exactly as it came. */
    cr_assert(eq(str, m[0].value,
                 "{\"event_id\":\"e1\",  \"type\":\"click\", \"user_id\":\"u2\","
                 "\"extra\":[1,{}]}"));
    cr_assert(eq(str, (char *)hdr(&m[0], "dead_letter_code"), "missing_field"));
    cr_assert(eq(str, (char *)hdr(&m[0], "dead_letter_reason"), (char *)message));
    cr_assert(strstr(hdr(&m[0], "dead_letter_reason"), "occurred_at") != NULL);
    cr_assert(eq(str, (char *)hdr(&m[0], "batch_index"), "1"));
    cr_assert(eq(str, (char *)hdr(&m[0], "batch_id"), "b-dl"));
    cr_assert(eq(str, (char *)hdr(&m[0], "event_id"), "e1"));
    cr_assert(eq(str, (char *)hdr(&m[0], "type"), "click"));
    cr_assert(eq(str, (char *)hdr(&m[0], "tenant"), "acme"));
    cr_assert(eq(str, (char *)hdr(&m[0], "policy_version"), "none"));
    char received[25];
    sl_time_format_rfc3339(req->received_at_ms, received);
    cr_assert(eq(str, (char *)hdr(&m[0], "received_at"), received));
    cr_assert(eq(i64, m[0].ts, req->received_at_ms));
    msg_free(&m[0]);
    /* Only the valid ones in the stage topic. */
    consume_exactly(stack.cfg->topics.raw, m, 2);
    cr_assert(eq(str, (char *)hdr(&m[0], "event_id"), "e0"));
    cr_assert(eq(str, (char *)hdr(&m[1], "event_id"), "e2"));
    msg_free(&m[0]);
    msg_free(&m[1]);
    /* Its delivery report is counted (nobody waits for it). */
    for (int i = 0; i < 100 && sl_metrics_dead_letter_value(true) == 0; i++) {
        t_sleep_ms(50);
    }
    cr_assert(eq(u64, sl_metrics_dead_letter_value(true), 1));
    cr_assert(eq(u64, sl_metrics_dead_letter_value(false), 0));
    sl_request_free(req);
}

Test(pipeline_keys, empty_dead_letter_topic_only_answers) {
    start(T_SETS("topics.dead_letter="));
    done_t d;
    sl_request_t *req = run(DL_BATCH, &d);
    cr_assert(eq(int, (int)req->events[1].outcome, SL_OUT_INVALID));
    msg_t m[2];
    consume_exactly(stack.cfg->topics.raw, m, 2);
    msg_free(&m[0]);
    msg_free(&m[1]);
    t_sleep_ms(500);
    cr_assert(eq(u64, sl_metrics_dead_letter_value(true), 0));
    cr_assert(eq(u64, sl_metrics_dead_letter_value(false), 0));
    sl_request_free(req);
}

/* ------------------------------------------------------------- limits.inflight_bytes -- */

/* A batch of one event whose body is about `bytes` long. */
static char *sized_batch(const char *id, size_t bytes) {
    size_t pad = bytes > 200 ? bytes - 200 : 1;
    char *blob = malloc(pad + 1);
    memset(blob, 'x', pad);
    blob[pad] = '\0';
    size_t n = pad + 256;
    char *body = malloc(n);
    snprintf(body, n,
             "{\"events\":[{\"event_id\":\"%s\",\"type\":\"page_view\",\"occurred_at\":1,"
             "\"user_id\":\"u1\",\"properties\":{\"blob\":\"%s\"}}]}",
             id, blob);
    free(blob);
    return body;
}

Test(pipeline_keys, inflight_budget_refuses_while_held_and_frees_after) {
    start(T_SETS("limits.inflight_bytes=64KiB"));
    char why[512];
    /* Nothing in flight: any size is taken (limits.max_body_bytes bounds it). */
    cr_assert(sl_pipeline_admits(stack.pl, stack.cfg, 10 << 20, why, sizeof(why)));

    /* The first Produce answered after 2 s: request A stays in flight that long. */
    rd_kafka_mock_broker_push_request_error_rtts(stack.mc, BROKER, PRODUCE_API, 1,
                                                 RD_KAFKA_RESP_ERR_NO_ERROR, 2000);
    char *a_body = sized_batch("a", 40000);
    char *b_body = sized_batch("b", 30000);
    done_t da;
    submit(a_body, stack.token, &da);
    cr_assert(not(t_done_yet(&da)), "A must still be waiting for Kafka");

    /* B would take the bytes held over 64 KiB: refused before decoding, 503 overloaded. */
    cr_assert(not(sl_pipeline_admits(stack.pl, stack.cfg, 30000, why, sizeof(why))),
              "the transport's check from Content-Length");
    cr_assert(strstr(why, "limits.inflight_bytes") != NULL, "%s", why);
    done_t db;
    sl_request_t *b = run(b_body, &db);
    cr_assert(pthread_equal(db.thread, pthread_self()), "refused at once, on the caller thread");
    cr_assert(not(t_done_yet(&da)), "A is still in flight: the refusal was the budget's");
    cr_assert(eq(int, (int)b->fault, SL_FAULT_UNAVAILABLE));
    cr_assert(eq(str, (char *)b->fault_err.code, "overloaded"));
    cr_assert(strstr(b->fault_err.message, "limits.inflight_bytes (65536)") != NULL, "%s",
              b->fault_err.message);
    cr_assert(b->n_events == 0, "refused before its body was decoded");
    sl_answer_t ans;
    sl_answer_build(b, &ans);
    cr_assert(eq(int, ans.http_status, 503));
    cr_assert(ans.retry_after);
    cr_assert(strstr(ans.body.data, "\"overloaded\"") != NULL, "%.*s", (int)ans.body.len,
              ans.body.data);
    sl_request_free(b);
    cr_assert(not(metrics_have("sluice_inflight_bytes 0\n")), "A's bytes are held");

    /* A completes, accepted; its bytes are released. */
    sl_request_t *a = wait_done(&da);
    cr_assert(eq(int, (int)a->fault, SL_FAULT_NONE));
    cr_assert(eq(int, (int)a->events[0].outcome, SL_OUT_ACCEPTED));
    sl_request_free(a);
    cr_assert(metrics_have("sluice_inflight_bytes 0\n"));
    cr_assert(sl_pipeline_admits(stack.pl, stack.cfg, 30000, why, sizeof(why)));

    /* The same request as B now passes. */
    done_t dc;
    sl_request_t *c = run(b_body, &dc);
    cr_assert(eq(int, (int)c->fault, SL_FAULT_NONE), "%s", c->fault_err.message);
    cr_assert(eq(int, (int)c->events[0].outcome, SL_OUT_ACCEPTED));
    sl_request_free(c);
    msg_t m[2];
    consume_exactly(stack.cfg->topics.raw, m, 2);
    cr_assert(eq(str, (char *)hdr(&m[0], "event_id"), "a"));
    cr_assert(eq(str, (char *)hdr(&m[1], "event_id"), "b"));
    msg_free(&m[0]);
    msg_free(&m[1]);
    free(a_body);
    free(b_body);
}

/* sluice_inflight_bytes is what limits.inflight_bytes counts: the body and, once decoded, what
 * decoding took (added at the end of sl_pipeline_submit). An operator comparing the gauge with
 * the limit must see the number that refuses requests. */
Test(pipeline_keys, inflight_gauge_is_what_the_budget_counts) {
    start(T_SETS("limits.inflight_bytes=64KiB"));
    rd_kafka_mock_broker_push_request_error_rtts(stack.mc, BROKER, PRODUCE_API, 1,
                                                 RD_KAFKA_RESP_ERR_NO_ERROR, 2000);
    char *a_body = sized_batch("a", 20000);
    char *b_body = sized_batch("b", 60000);
    done_t da;
    submit(a_body, stack.token, &da);
    done_t db;
    sl_request_t *b = run(b_body, &db);
    cr_assert(eq(str, (char *)b->fault_err.code, "overloaded"));
    long long held = -1;
    cr_assert(eq(int, sscanf(b->fault_err.message, "requests in flight hold %lld bytes", &held), 1),
              "%s", b->fault_err.message);
    cr_assert(gt(i64, (int64_t)held, (int64_t)strlen(a_body)), "decoding counts too: %lld", held);
    char want[64];
    snprintf(want, sizeof(want), "sluice_inflight_bytes %lld\n", held);
    sl_buf_t m;
    sl_buf_init(&m, NULL, 8192);
    sl_metrics_render(&m);
    const char *gauge = strstr(sl_buf_cstr(&m), "\nsluice_inflight_bytes ");
    cr_assert(gauge != NULL);
    gauge++;
    cr_expect(strncmp(gauge, want, strlen(want)) == 0,
              "the gauge says %.*s while the budget holds %lld bytes (A's body is %zu)",
              (int)strcspn(gauge, "\n"), gauge, held, strlen(a_body));
    sl_buf_free(&m);
    sl_request_free(b);
    sl_request_free(wait_done(&da));
    free(a_body);
    free(b_body);
}

Test(pipeline_keys, a_request_alone_is_taken_whatever_its_size) {
    start(T_SETS("limits.inflight_bytes=64KiB"));
    char *body = sized_batch("big", 100000);
    done_t d;
    sl_request_t *req = run(body, &d);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_NONE), "%s", req->fault_err.message);
    cr_assert(eq(int, (int)req->events[0].outcome, SL_OUT_ACCEPTED));
    sl_request_free(req);
    free(body);
    cr_assert(metrics_have("sluice_inflight_bytes 0\n"));
}

/* ------------------------------------------------------------------ kafka.timestamp -- */

/* sent_at is now (as +00:00): a batch whose sent_at is off its receive time by more than
 * clock.tolerance has its events' occurred_at corrected (clock skew), which is not tested here. */
#define TS_BATCH_FMT                                                                               \
    "{\"batch_id\":\"b-ts\",\"sent_at\":\"%.23s+00:00\",\"events\":["                              \
    "{\"event_id\":\"e1\",\"type\":\"page_view\",\"occurred_at\":\"2026-11-26T09:59:59.5Z\","      \
    "\"user_id\":\"u1\"},"                                                                         \
    "{\"event_id\":\"e2\",\"type\":\"click\",\"occurred_at\":1795687200000,\"user_id\":\"u1\"},"   \
    "{\"event_id\":\"e3\",\"type\":\"click\",\"occurred_at\":0,\"user_id\":\"u1\"}]}"

static void check_timestamps(bool event_time) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char sent[25], body[1024];
    sl_time_format_rfc3339((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, sent);
    snprintf(body, sizeof(body), TS_BATCH_FMT, sent);
    done_t d;
    sl_request_t *req = run(body, &d);
    for (size_t i = 0; i < 3; i++) {
        cr_assert(eq(int, (int)req->events[i].outcome, SL_OUT_ACCEPTED), "event %zu", i);
    }
    msg_t m[3];
    consume_exactly(stack.cfg->topics.raw, m, 3);
    /* In the past: an occurred_at ahead of the receive time gives the receive time (brokers
     * refuse timestamps ahead of their clock; test_keys.py checks that on a real one). */
    static const int64_t occurred[] = {INT64_C(1795687199500), INT64_C(1795687200000), 0};
    static const char *const occurred_hdr[] = {
        "2026-11-26T09:59:59.500Z", "2026-11-26T10:00:00.000Z", "1970-01-01T00:00:00.000Z"};
    for (size_t i = 0; i < 3; i++) {
        /* occurred_at 0 cannot be a Kafka timestamp: the receive time stands in. */
        int64_t want = event_time && occurred[i] > 0 ? occurred[i] : req->received_at_ms;
        cr_assert(eq(i64, m[i].ts, want), "message %zu", i);
        cr_assert(eq(str, (char *)hdr(&m[i], "occurred_at"), (char *)occurred_hdr[i]));
        cr_assert(eq(str, (char *)hdr(&m[i], "sent_at"), sent), "the batch's sent_at, in UTC");
        msg_free(&m[i]);
    }
    cr_assert(metrics_have("sluice_signal_age_seconds_count 3\n"));
    sl_request_free(req);
}

Test(pipeline_keys, kafka_timestamp_event_is_occurred_at) {
    start(T_SETS("kafka.timestamp=event"));
    check_timestamps(true);
}

Test(pipeline_keys, kafka_timestamp_received_by_default) {
    start(NULL);
    check_timestamps(false);
}
