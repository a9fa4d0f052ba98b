/* sl_response_render: the per-event body and the fault body, parsed back with jansson. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <string.h>

#include "helpers.h"

static sl_config_t *cfg;

static void setup(void) {
    cfg = t_publish(NULL);
}

static void teardown(void) {
    t_unpublish(cfg);
}

TestSuite(response, .init = setup, .fini = teardown);

static json_t *render(const sl_request_t *req) {
    sl_buf_t out;
    sl_buf_init(&out, req->arena, 64);
    sl_response_render(req, &out);
    json_error_t jerr;
    json_t *j = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &jerr);
    cr_assert(j != NULL, "not JSON (%s): %.*s", jerr.text, (int)out.len, out.data);
    return j;
}

static json_int_t int_field(json_t *o, const char *name) {
    json_t *v = json_object_get(o, name);
    cr_assert(true && json_is_integer(v), "%s is not an integer", name);
    return json_integer_value(v);
}

static const char *str_field(json_t *o, const char *name) {
    json_t *v = json_object_get(o, name);
    cr_assert(true && json_is_string(v), "%s is not a string", name);
    return json_string_value(v);
}

Test(response, per_event_body) {
    sl_request_t *req =
        t_request("application/json", "{\"batch_id\":\"b\\\"1\",\"events\":["
                                      "{\"event_id\":\"e0\",\"type\":\"t\",\"occurred_at\":0},"
                                      "{\"event_id\":\"e1\",\"type\":\"t\"},"
                                      "{\"event_id\":\"e2\",\"type\":\"t\",\"occurred_at\":0},"
                                      "\"nope\","
                                      "{\"event_id\":\"e4\",\"type\":\"t\",\"occurred_at\":0}]}");
    cr_assert(eq(int, sl_stage_decode(req), SL_OK));
    cr_assert(eq(int, sl_stage_validate(req), SL_OK));
    /* What the delivery reports would have done. */
    req->events[0].outcome = SL_OUT_ACCEPTED;
    req->events[2].outcome = SL_OUT_RETRYABLE;
    req->events[2].code = "kafka_timeout";
    req->events[2].message = "Kafka did not acknowledge the event; send it again";
    req->events[2].detail = "Local: Message timed out";
    req->events[4].outcome = SL_OUT_ACCEPTED;

    json_t *j = render(req);
    cr_assert(eq(str, (char *)str_field(j, "batch_id"), "b\"1"));
    cr_assert(eq(i64, int_field(j, "received"), 5));
    cr_assert(eq(i64, int_field(j, "accepted"), 2));
    cr_assert(eq(i64, int_field(j, "invalid"), 2));
    cr_assert(eq(i64, int_field(j, "consent_dropped"), 0));
    cr_assert(eq(i64, int_field(j, "duplicate"), 0));
    cr_assert(eq(i64, int_field(j, "retryable"), 1));

    json_t *results = json_object_get(j, "results");
    cr_assert(true && json_is_array(results));
    cr_assert(eq(sz, json_array_size(results), 3), "results lists only non-accepted events");

    json_t *r1 = json_array_get(results, 0);
    cr_assert(eq(i64, int_field(r1, "index"), 1));
    cr_assert(eq(str, (char *)str_field(r1, "event_id"), "e1"));
    cr_assert(eq(str, (char *)str_field(r1, "status"), "invalid"));
    cr_assert(eq(str, (char *)str_field(r1, "code"), "missing_field"));
    cr_assert(strstr(str_field(r1, "message"), "occurred_at") != NULL);

    json_t *r2 = json_array_get(results, 1);
    cr_assert(eq(i64, int_field(r2, "index"), 2));
    cr_assert(eq(str, (char *)str_field(r2, "status"), "retryable"));
    cr_assert(eq(str, (char *)str_field(r2, "code"), "kafka_timeout"));
    cr_assert(strstr(str_field(r2, "message"), "send it again") != NULL);
    cr_assert(strstr(str_field(r2, "message"), "Local: Message timed out") != NULL,
              "the librdkafka detail is part of the message");

    json_t *r3 = json_array_get(results, 2);
    cr_assert(eq(i64, int_field(r3, "index"), 3));
    cr_assert(true && json_is_null(json_object_get(r3, "event_id")), "no event_id: null");
    cr_assert(eq(str, (char *)str_field(r3, "code"), "not_an_object"));

    json_decref(j);
    sl_request_free(req);
}

Test(response, all_accepted_and_no_batch_id) {
    sl_request_t *req =
        t_request("application/json",
                  "{\"events\":[{\"event_id\":\"e0\",\"type\":\"t\",\"occurred_at\":0}]}");
    cr_assert(eq(int, sl_stage_decode(req), SL_OK));
    cr_assert(eq(int, sl_stage_validate(req), SL_OK));
    req->events[0].outcome = SL_OUT_ACCEPTED;
    json_t *j = render(req);
    cr_assert(json_object_get(j, "batch_id") == NULL);
    cr_assert(eq(i64, int_field(j, "received"), 1));
    cr_assert(eq(i64, int_field(j, "accepted"), 1));
    cr_assert(eq(sz, json_array_size(json_object_get(j, "results")), 0));
    json_decref(j);
    sl_request_free(req);
}

Test(response, fault_body) {
    sl_request_t *req = t_request("application/json", "{\"events\":[],\"x\\n\\\"y\":1}");
    cr_assert(sl_stage_decode(req) != SL_OK);
    json_t *j = render(req);
    json_t *e = json_object_get(j, "error");
    cr_assert(true && json_is_object(e));
    cr_assert(eq(str, (char *)str_field(e, "code"), "unknown_batch_field"));
    cr_assert(strstr(str_field(e, "message"), "x\n\"y") != NULL, "%s", str_field(e, "message"));
    cr_assert(json_object_get(j, "results") == NULL);
    cr_assert(eq(sz, json_object_size(j), 1));
    json_decref(j);
    sl_request_free(req);
}

Test(response, fault_body_with_control_chars_in_message) {
    sl_request_t *req = t_request("application/json", "{}");
    sl_request_fail(req, SL_FAULT_UNAUTHENTICATED, "bad_signature", "tab\there \x01 \"q\" \\");
    json_t *j = render(req);
    json_t *e = json_object_get(j, "error");
    cr_assert(eq(str, (char *)str_field(e, "code"), "bad_signature"));
    cr_assert(eq(str, (char *)str_field(e, "message"), "tab\there \x01 \"q\" \\"));
    json_decref(j);
    sl_request_free(req);
}
