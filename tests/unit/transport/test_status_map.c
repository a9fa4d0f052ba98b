/* transport/status_map: HTTP and gRPC statuses, Retry-After, and the answer body. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <string.h>

#include "metrics/metrics.h"
#include "pipeline/pipeline.h"
#include "support.h"
#include "transport/status_map.h"

static sl_config_t *cfg;

static void setup(void) {
    cfg = t_publish(T_SETS("http.retry_after=1500ms"));
}

static void teardown(void) {
    t_unpublish(cfg);
}

TestSuite(status_map, .init = setup, .fini = teardown);

/* A completed request whose events have the given outcomes. */
static sl_request_t *with_outcomes(const sl_outcome_t *outcomes, size_t n) {
    sl_request_t *req = sl_request_new(NULL);
    cr_assert(req != NULL);
    req->events = sl_arena_calloc(req->arena, (n ? n : 1) * sizeof(sl_event_t));
    req->n_events = n;
    for (size_t i = 0; i < n; i++) {
        sl_event_t *ev = &req->events[i];
        ev->req = req;
        ev->event_id = "e";
        ev->event_id_len = 1;
        ev->outcome = outcomes[i];
        if (outcomes[i] == SL_OUT_RETRYABLE) {
            ev->code = "kafka_timeout";
            ev->message = "Kafka did not acknowledge the event; send it again";
        } else if (outcomes[i] == SL_OUT_INVALID) {
            ev->code = "missing_field";
            ev->message = "type: required field is missing";
        }
    }
    return req;
}

static json_t *body_json(const sl_answer_t *a) {
    json_error_t jerr;
    json_t *j = json_loadb(a->body.data, a->body.len, 0, &jerr);
    cr_assert(j != NULL, "body is not JSON: %s", jerr.text);
    return j;
}

Test(status_map, all_final_is_200) {
    sl_outcome_t o[] = {SL_OUT_ACCEPTED, SL_OUT_INVALID, SL_OUT_ACCEPTED, SL_OUT_DUPLICATE,
                        SL_OUT_CONSENT_DROPPED};
    sl_request_t *req = with_outcomes(o, 5);
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 200));
    cr_assert(eq(int, a.grpc_status, 0));
    cr_assert(true && !a.retry_after);
    json_t *j = body_json(&a);
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "accepted")), 2));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "invalid")), 1));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "duplicate")), 1));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "consent_dropped")), 1));
    json_decref(j);
    cr_assert(eq(u64, sl_metrics_requests_value(200), 1), "the answer is counted");
    sl_request_free(req);
}

Test(status_map, all_invalid_is_200) {
    sl_outcome_t o[] = {SL_OUT_INVALID, SL_OUT_INVALID};
    sl_request_t *req = with_outcomes(o, 2);
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 200));
    cr_assert(true && !a.retry_after);
    sl_request_free(req);
}

Test(status_map, empty_batch_is_200) {
    sl_request_t *req = with_outcomes(NULL, 0);
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 200));
    sl_request_free(req);
}

Test(status_map, some_retryable_is_207) {
    sl_outcome_t o[] = {SL_OUT_ACCEPTED, SL_OUT_RETRYABLE, SL_OUT_INVALID};
    sl_request_t *req = with_outcomes(o, 3);
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 207));
    cr_assert(eq(int, a.grpc_status, 0));
    cr_assert(a.retry_after, "207 carries Retry-After");
    cr_assert(eq(int, a.retry_after_s, 2), "1500 ms rounds up to 2 s");
    json_t *j = body_json(&a);
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "retryable")), 1));
    cr_assert(eq(sz, json_array_size(json_object_get(j, "results")), 2));
    json_decref(j);
    cr_assert(eq(u64, sl_metrics_requests_value(207), 1));
    sl_request_free(req);
}

Test(status_map, retryable_and_invalid_only_is_207) {
    sl_outcome_t o[] = {SL_OUT_RETRYABLE, SL_OUT_INVALID};
    sl_request_t *req = with_outcomes(o, 2);
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 207));
    sl_request_free(req);
}

Test(status_map, all_retryable_is_503) {
    sl_outcome_t o[] = {SL_OUT_RETRYABLE, SL_OUT_RETRYABLE, SL_OUT_RETRYABLE};
    sl_request_t *req = with_outcomes(o, 3);
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 503));
    cr_assert(eq(int, a.grpc_status, 14));
    cr_assert(a.retry_after);
    cr_assert(eq(int, a.retry_after_s, 2));
    json_t *j = body_json(&a);
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "retryable")), 3));
    json_decref(j);
    cr_assert(eq(u64, sl_metrics_requests_value(503), 1));
    sl_request_free(req);
}

Test(status_map, retry_after_whole_seconds) {
    sl_config_t *c = t_publish(T_SETS("http.retry_after=3s"));
    sl_outcome_t o[] = {SL_OUT_RETRYABLE};
    sl_request_t *req = with_outcomes(o, 1);
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.retry_after_s, 3));
    sl_request_free(req);
    sl_config_unref(c);
}

Test(status_map, fault_statuses) {
    struct {
        sl_fault_t fault;
        const char *code;
        int http;
        bool retry_after;
    } cases[] = {
        {SL_FAULT_BAD_REQUEST, "malformed_json", 400, false},
        {SL_FAULT_UNAUTHENTICATED, "bad_signature", 401, false},
        {SL_FAULT_FORBIDDEN, "forbidden", 403, false},
        {SL_FAULT_NOT_FOUND, "not_found", 404, false},
        {SL_FAULT_METHOD_NOT_ALLOWED, "method_not_allowed", 405, false},
        {SL_FAULT_TOO_LARGE, "too_many_events", 413, false},
        {SL_FAULT_HEADERS_TOO_LARGE, "headers_too_large", 431, false},
        {SL_FAULT_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", 415, false},
        {SL_FAULT_RATE_LIMITED, "rate_limited", 429, true},
        {SL_FAULT_UNAVAILABLE, "kafka_unavailable", 503, true},
        {SL_FAULT_INTERNAL, "internal", 500, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert(eq(int, sl_fault_http_status(cases[i].fault), cases[i].http));
        /* A fault wins over the events' outcomes. */
        sl_outcome_t o[] = {SL_OUT_ACCEPTED};
        sl_request_t *req = with_outcomes(o, 1);
        sl_request_fail(req, cases[i].fault, cases[i].code, "because %d", (int)i);
        sl_answer_t a;
        sl_answer_build(req, &a);
        cr_assert(eq(int, a.http_status, cases[i].http), "%s", cases[i].code);
        cr_assert(eq(int, a.grpc_status, sl_fault_grpc_status(cases[i].fault)));
        cr_assert(eq(int, (int)a.retry_after, (int)cases[i].retry_after), "%s", cases[i].code);
        json_t *j = body_json(&a);
        json_t *e = json_object_get(j, "error");
        cr_assert(true && json_is_object(e), "%s", cases[i].code);
        cr_assert(
            eq(str, (char *)json_string_value(json_object_get(e, "code")), (char *)cases[i].code));
        json_decref(j);
        cr_assert(eq(u64, sl_metrics_requests_value(cases[i].http), 1));
        sl_request_free(req);
    }
    cr_assert(eq(int, sl_fault_http_status(SL_FAULT_NONE), 200));
}

Test(status_map, grpc_statuses) {
    cr_assert(eq(int, sl_fault_grpc_status(SL_FAULT_NONE), 0));             /* OK */
    cr_assert(eq(int, sl_fault_grpc_status(SL_FAULT_BAD_REQUEST), 3));      /* INVALID_ARGUMENT */
    cr_assert(eq(int, sl_fault_grpc_status(SL_FAULT_UNAUTHENTICATED), 16)); /* UNAUTHENTICATED */
    cr_assert(eq(int, sl_fault_grpc_status(SL_FAULT_FORBIDDEN), 7));        /* PERMISSION_DENIED */
    cr_assert(eq(int, sl_fault_grpc_status(SL_FAULT_NOT_FOUND), 5));        /* NOT_FOUND */
    cr_assert(eq(int, sl_fault_grpc_status(SL_FAULT_METHOD_NOT_ALLOWED), 12)); /* UNIMPLEMENTED */
    cr_assert(eq(int, sl_fault_grpc_status(SL_FAULT_TOO_LARGE), 8)); /* RESOURCE_EXHAUSTED */
    cr_assert(eq(int, sl_fault_grpc_status(SL_FAULT_HEADERS_TOO_LARGE), 8));
    cr_assert(eq(int, sl_fault_grpc_status(SL_FAULT_UNSUPPORTED_MEDIA_TYPE), 3));
    cr_assert(eq(int, sl_fault_grpc_status(SL_FAULT_RATE_LIMITED), 8));
    cr_assert(eq(int, sl_fault_grpc_status(SL_FAULT_UNAVAILABLE), 14)); /* UNAVAILABLE */
    cr_assert(eq(int, sl_fault_grpc_status(SL_FAULT_INTERNAL), 13));    /* INTERNAL */
}

Test(status_map, answer_fault_from_transport) {
    sl_outcome_t o[] = {SL_OUT_ACCEPTED, SL_OUT_ACCEPTED};
    sl_request_t *req = with_outcomes(o, 2);
    sl_answer_t a;
    sl_answer_fault(req, SL_FAULT_TOO_LARGE, "body_too_large", "the body is over 1 MiB", &a);
    cr_assert(eq(int, a.http_status, 413));
    json_t *j = body_json(&a);
    json_t *e = json_object_get(j, "error");
    cr_assert(eq(str, (char *)json_string_value(json_object_get(e, "code")), "body_too_large"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(e, "message")),
                 "the body is over 1 MiB"));
    json_decref(j);
    cr_assert(eq(u64, sl_metrics_events_value(SL_OUT_ACCEPTED), 0),
              "a refused request counts no events");
    sl_request_free(req);

    req = with_outcomes(NULL, 0);
    sl_answer_fault(req, SL_FAULT_UNAVAILABLE, "shutting_down", "draining", &a);
    cr_assert(eq(int, a.http_status, 503));
    cr_assert(a.retry_after);
    sl_request_free(req);
}

Test(status_map, rate_limit_wait_overrides_retry_after) {
    sl_request_t *req = with_outcomes(NULL, 0);
    sl_request_fail(req, SL_FAULT_RATE_LIMITED, "rate_limited", "over");
    req->retry_after_s = 7;
    sl_answer_t a;
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.http_status, 429));
    cr_assert(eq(int, a.grpc_status, 8));
    cr_assert(a.retry_after);
    cr_assert(eq(int, a.retry_after_s, 7), "the limiter's wait, not http.retry_after");
    sl_request_free(req);

    req = with_outcomes(NULL, 0);
    sl_request_fail(req, SL_FAULT_RATE_LIMITED, "rate_limited", "over");
    sl_answer_build(req, &a);
    cr_assert(eq(int, a.retry_after_s, 2), "unset: http.retry_after (1500 ms)");
    sl_request_free(req);
}
