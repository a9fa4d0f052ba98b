/* The whole pipeline in process: auth -> decode -> validate -> key -> route -> produce, with the
 * embedded Kafka cluster, delivery reports completing the request, and the answer built by
 * transport/status_map. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <pthread.h>
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

static t_stack_t stack; /* stack.cfg, stack.sink, stack.pl (the pipeline), stack.mc (the mock
                           cluster), stack.token */

static void setup(void) {
    t_stack_open(&stack, T_SETS("auth.secret=" SECRET, "kafka.delivery_timeout=2s",
                                "kafka.health_interval=100ms", "kafka.embedded_partitions=1",
                                "kafka.linger=0ms", "log.level=error",
                                /* BATCH3's sent_at is a fixed time: no skew correction here */
                                "clock.max_skew=0"));
}

static void teardown(void) {
    t_stack_close(&stack);
}

TestSuite(pipeline, .init = setup, .fini = teardown, .timeout = 40);

typedef t_done_t done_t;

/* Builds a request for body with bearer, submits it, waits for on_complete. */
static sl_request_t *run(const char *body, const char *bearer, done_t *d) {
    t_submit(stack.pl, body, bearer, d);
    return t_wait_done(d, 15);
}

static json_t *answer_json(sl_answer_t *a) {
    json_error_t jerr;
    json_t *j = json_loadb(a->body.data, a->body.len, 0, &jerr);
    cr_assert(j != NULL, "answer body is not JSON: %s", jerr.text);
    return j;
}

static const char *header(rd_kafka_headers_t *h, const char *name) {
    const void *v;
    size_t n;
    if (h == NULL || rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return NULL;
    }
    static char buf[4][128];
    static int slot;
    char *out = buf[slot++ % 4];
    snprintf(out, 128, "%.*s", (int)n, (const char *)v);
    return out;
}

#define BATCH3                                                                                     \
    "{\"batch_id\":\"b-42\",\"sent_at\":\"2026-11-27T10:00:00Z\",\"events\":["                     \
    "{\"event_id\":\"e1\",\"type\":\"page_view\",\"occurred_at\":\"2026-11-27T09:59:59.5Z\","      \
    "\"user_id\":\"u1\",\"properties\":{\"path\":\"/a\", \"n\": [1, 2]}},"                         \
    "{\"event_id\":\"e2\",\"type\":\"click\"},"                                                    \
    "{\"event_id\":\"e3\",\"type\":\"click\",\"occurred_at\":1795773600000,"                       \
    "\"anonymous_id\":\"anon-3\"}]}"

Test(pipeline, batch_accepted_and_produced) {
    done_t d;
    sl_request_t *req = run(BATCH3, stack.token, &d);
    cr_assert(eq(sz, d.pending_at_complete, 0), "on_complete ran before every delivery report");
    cr_assert(eq(int, (int)req->fault, SL_FAULT_NONE), "%s: %s", req->fault_err.code,
              req->fault_err.message);
    cr_assert(eq(str, (char *)req->principal.tenant, "acme"));
    cr_assert(eq(str, (char *)req->principal.subject, "tester"));
    cr_assert(eq(sz, req->n_events, 3));
    cr_assert(eq(int, (int)req->events[0].outcome, SL_OUT_ACCEPTED));
    cr_assert(eq(int, (int)req->events[1].outcome, SL_OUT_INVALID));
    cr_assert(eq(str, (char *)req->events[1].code, "missing_field"));
    cr_assert(eq(int, (int)req->events[2].outcome, SL_OUT_ACCEPTED));

    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 200));
    cr_assert(true && !a.retry_after);
    cr_assert(eq(u64, sl_metrics_requests_value(200), 1));
    cr_assert(eq(u64, sl_metrics_events_value(SL_OUT_ACCEPTED), 2));
    cr_assert(eq(u64, sl_metrics_events_value(SL_OUT_INVALID), 1));
    json_t *j = answer_json(&a);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "batch_id")), "b-42"));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "received")), 3));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "accepted")), 2));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "invalid")), 1));
    json_t *results = json_object_get(j, "results");
    cr_assert(eq(sz, json_array_size(results), 1));
    json_t *r0 = json_array_get(results, 0);
    cr_assert(eq(i64, json_integer_value(json_object_get(r0, "index")), 1));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(r0, "event_id")), "e2"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(r0, "code")), "missing_field"));
    json_decref(j);

    /* What reached the raw topic: key, headers, compact value, receive timestamp. */
    char received[25];
    sl_time_format_rfc3339(req->received_at_ms, received);
    json_t *batch = json_loads(BATCH3, 0, NULL);
    json_t *events = json_object_get(batch, "events");

    t_reader_t reader = t_reader_open(sl_sink_bootstrap(stack.sink), stack.cfg->topics.raw);
    rd_kafka_topic_t *rkt = reader.rkt;
    int got = 0;
    int64_t until = t_mono_ms() + 10000;
    while (got < 2 && t_mono_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consume(rkt, 0, 200);
        if (m == NULL) {
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_message_destroy(m);
            continue;
        }
        size_t idx = got == 0 ? 0 : 2;
        /* keys.raw's default: {tenant}:{user_id|anonymous_id|device_id}. */
        const char *want_key = got == 0 ? "acme:u1" : "acme:anon-3";
        const char *want_id = got == 0 ? "e1" : "e3";
        const char *want_type = got == 0 ? "page_view" : "click";
        cr_assert(eq(sz, m->key_len, strlen(want_key)));
        cr_assert(memcmp(m->key, want_key, m->key_len) == 0);
        rd_kafka_headers_t *h = NULL;
        rd_kafka_message_headers(m, &h);
        cr_assert(eq(str, (char *)header(h, "event_id"), (char *)want_id));
        cr_assert(eq(str, (char *)header(h, "type"), (char *)want_type));
        cr_assert(eq(str, (char *)header(h, "received_at"), received));
        json_error_t jerr;
        json_t *value = json_loadb(m->payload, m->len, JSON_REJECT_DUPLICATES, &jerr);
        cr_assert(value != NULL, "value is not JSON: %s", jerr.text);
        /* The canonical form: occurred_at normalized, properties as sent (no contracts here). */
        const char *want_value =
            got == 0 ? "{\"event_id\":\"e1\",\"type\":\"page_view\","
                       "\"occurred_at\":\"2026-11-27T09:59:59.500Z\",\"user_id\":\"u1\","
                       "\"properties\":{\"path\":\"/a\", \"n\": [1, 2]}}"
                     : "{\"event_id\":\"e3\",\"type\":\"click\","
                       "\"occurred_at\":\"2026-11-27T10:00:00.000Z\",\"anonymous_id\":\"anon-3\"}";
        cr_assert(eq(str, sl_arena_strndup(req->arena, m->payload, m->len), (char *)want_value));
        cr_assert(eq(str, (char *)header(h, "content_type"), "application/json"));
        cr_assert(eq(str, (char *)header(h, "tenant"), "acme"));
        (void)events;
        (void)idx;
        json_decref(value);
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        cr_assert(eq(i64, ts, req->received_at_ms), "message timestamp is the receive time");
        rd_kafka_message_destroy(m);
        got++;
    }
    cr_assert(eq(int, got, 2), "consumed %d messages", got);
    t_reader_close(&reader);
    json_decref(batch);
    sl_request_free(req);
}

Test(pipeline, event_without_any_id_gets_a_random_key) {
    const char *body = "{\"events\":[{\"event_id\":\"e1\",\"type\":\"t\",\"occurred_at\":0}]}";
    done_t d;
    sl_request_t *req = run(body, stack.token, &d);
    cr_assert(eq(int, (int)req->events[0].outcome, SL_OUT_ACCEPTED));
    /* keys.missing=random: drawn from the event_id, flagged for the key_source header. */
    cr_assert(req->events[0].key_random);
    cr_assert(eq(str, sl_arena_strndup(req->arena, req->events[0].key, req->events[0].key_len),
                 "acme:~e1"));
    sl_request_free(req);
}

Test(pipeline, missing_token_completes_on_the_caller_thread) {
    done_t d;
    sl_request_t *req = run(BATCH3, NULL, &d);
    cr_assert(pthread_equal(d.thread, pthread_self()));
    cr_assert(eq(int, (int)req->fault, SL_FAULT_UNAUTHENTICATED));
    cr_assert(eq(str, (char *)req->fault_err.code, "token_missing"));
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 401));
    sl_request_free(req);
}

Test(pipeline, bad_token) {
    char *bad = strdup(stack.token);
    char *sig = strrchr(bad, '.') + 1;
    sig[1] = sig[1] == 'A' ? 'B' : 'A';
    done_t d;
    sl_request_t *req = run(BATCH3, bad, &d);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_UNAUTHENTICATED));
    cr_assert(eq(str, (char *)req->fault_err.code, "bad_signature"));
    sl_request_free(req);
    free(bad);
}

Test(pipeline, all_invalid_never_reaches_kafka) {
    const char *body = "{\"events\":[{\"event_id\":\"e1\"},{\"type\":\"t\"}]}";
    done_t d;
    sl_request_t *req = run(body, stack.token, &d);
    cr_assert(pthread_equal(d.thread, pthread_self()), "nothing was handed to Kafka");
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 200));
    sl_request_free(req);
}

static void push_persistent_produce_errors(void) {
    rd_kafka_resp_err_t errs[300];
    for (size_t i = 0; i < 300; i++) {
        errs[i] = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
    }
    rd_kafka_mock_push_request_errors_array(stack.mc, PRODUCE_API, 300, errs);
}

Test(pipeline, persistent_produce_errors_all_retryable_is_503) {
    push_persistent_produce_errors();
    const char *body = "{\"events\":[{\"event_id\":\"e1\",\"type\":\"t\",\"occurred_at\":0},"
                       "{\"event_id\":\"e2\",\"type\":\"t\",\"occurred_at\":0}]}";
    done_t d;
    sl_request_t *req = run(body, stack.token, &d);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_NONE));
    cr_assert(eq(sz, d.pending_at_complete, 0));
    for (int i = 0; i < 2; i++) {
        cr_assert(eq(int, (int)req->events[i].outcome, SL_OUT_RETRYABLE));
        cr_assert(req->events[i].code != NULL);
    }
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 503));
    cr_assert(a.retry_after);
    json_t *j = answer_json(&a);
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "retryable")), 2));
    json_t *r0 = json_array_get(json_object_get(j, "results"), 0);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(r0, "status")), "retryable"));
    json_decref(j);
    sl_request_free(req);
}

Test(pipeline, persistent_produce_errors_with_invalid_is_207) {
    push_persistent_produce_errors();
    done_t d;
    sl_request_t *req = run(BATCH3, stack.token, &d);
    cr_assert(eq(int, (int)req->events[0].outcome, SL_OUT_RETRYABLE));
    cr_assert(eq(int, (int)req->events[1].outcome, SL_OUT_INVALID));
    cr_assert(eq(int, (int)req->events[2].outcome, SL_OUT_RETRYABLE));
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 207));
    cr_assert(a.retry_after);
    json_t *j = answer_json(&a);
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "retryable")), 2));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "invalid")), 1));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "accepted")), 0));
    json_decref(j);
    sl_request_free(req);
}

Test(pipeline, draining_refuses_new_batches) {
    sl_pipeline_set_draining(stack.pl);
    cr_assert(sl_pipeline_draining(stack.pl));
    done_t d;
    sl_request_t *req = run(BATCH3, stack.token, &d);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_UNAVAILABLE));
    cr_assert(eq(str, (char *)req->fault_err.code, "shutting_down"));
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 503));
    cr_assert(a.retry_after);
    sl_request_free(req);
}

Test(pipeline, brokers_down_is_503_kafka_unavailable) {
    rd_kafka_mock_broker_set_down(stack.mc, 1);
    cr_assert(t_wait_until(t_sink_not_ready, stack.sink, 10000));
    done_t d;
    sl_request_t *req = run(BATCH3, stack.token, &d);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_UNAVAILABLE));
    cr_assert(eq(str, (char *)req->fault_err.code, "kafka_unavailable"));
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 503));
    cr_assert(a.retry_after);
    sl_request_free(req);
    rd_kafka_mock_broker_set_up(stack.mc, 1);
}

/* Messages of the raw topic (partition 0) whose event_id header is id, read from the start. */
static int count_in_raw(const char *id, int want, int timeout_ms) {
    t_reader_t reader = t_reader_open(sl_sink_bootstrap(stack.sink), stack.cfg->topics.raw);
    rd_kafka_topic_t *rkt = reader.rkt;
    int got = 0;
    int64_t until = t_mono_ms() + timeout_ms;
    while (got <= want && t_mono_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consume(rkt, 0, 200);
        if (m == NULL) {
            continue;
        }
        rd_kafka_headers_t *h = NULL;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && rd_kafka_message_headers(m, &h) == 0) {
            const char *v = header(h, "event_id");
            got += v != NULL && strcmp(v, id) == 0;
        }
        rd_kafka_message_destroy(m);
    }
    t_reader_close(&reader);
    return got;
}

static bool late_delivered(void *arg) {
    return sl_metrics_late_delivery_value(true) > *(uint64_t *)arg;
}

/* The broker takes longer than kafka.delivery_timeout (2 s) to acknowledge: the request is
 * answered retryable delivery_pending at 2 s while librdkafka keeps the event in flight
 * (kafka.message_timeout, 5 m by default); the client's retry meanwhile is answered in_flight
 * and not produced; once the late acknowledgement is in, the next retry is a duplicate. Kafka
 * holds the event once. */
Test(pipeline, answered_at_the_delivery_timeout_while_still_in_flight) {
    const char *body = "{\"events\":[{\"event_id\":\"late-1\",\"type\":\"t\",\"occurred_at\":0}]}";
    rd_kafka_mock_broker_push_request_error_rtts(stack.mc, 1, PRODUCE_API, 1,
                                                 RD_KAFKA_RESP_ERR_NO_ERROR, 5000);
    uint64_t late_before = sl_metrics_late_delivery_value(true);
    int64_t t0 = t_mono_ms();
    done_t d;
    sl_request_t *req = run(body, stack.token, &d);
    int64_t took = t_mono_ms() - t0;
    cr_assert(took >= 1900 && took < 4500, "answered after %lld ms, not at the 2 s deadline",
              (long long)took);
    cr_assert(eq(int, (int)req->events[0].outcome, SL_OUT_RETRYABLE));
    cr_assert(eq(str, (char *)req->events[0].code, "delivery_pending"));
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 503));
    cr_assert(a.retry_after);
    sl_request_free(req); /* the transport's reference: the pipeline keeps its own */

    req = run(body, stack.token, &d);
    cr_assert(eq(int, (int)req->events[0].outcome, SL_OUT_RETRYABLE));
    cr_assert(eq(str, (char *)req->events[0].code, "in_flight"));
    sl_request_free(req);

    cr_assert(t_wait_until(late_delivered, &late_before, 15000), "no late acknowledgement");
    req = run(body, stack.token, &d);
    cr_assert(eq(int, (int)req->events[0].outcome, SL_OUT_DUPLICATE));
    sl_request_free(req);
    cr_assert(eq(int, count_in_raw("late-1", 1, 3000), 1), "Kafka must hold late-1 once");
}
