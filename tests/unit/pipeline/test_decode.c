/* sl_stage_decode: the whole-request faults of a JSON batch. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

static sl_config_t *cfg;

static void setup(void) {
    cfg = t_publish(T_SETS("limits.max_events_per_batch=3", "limits.max_json_depth=5"));
}

static void teardown(void) {
    t_unpublish(cfg);
}

TestSuite(decode, .init = setup, .fini = teardown);

#define JSON "application/json"

Test(decode, request_needs_a_published_config) {
    sl_config_publish(NULL);
    cr_assert(sl_request_new(NULL) == NULL);
    sl_config_publish(cfg);
    sl_request_t *req = sl_request_new(NULL);
    cr_assert(req != NULL);
    cr_assert(req->cfg == cfg);
    cr_assert(eq(str, (char *)req->media_type, ""));
    cr_assert(req->received_at_ms > 0);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_NONE));
    sl_request_free(req);
}

Test(decode, request_keeps_its_snapshot) {
    sl_request_t *req = t_request(JSON, "{\"events\":[]}");
    sl_config_t *next = t_config(NULL, T_SETS("limits.max_events_per_batch=99"));
    sl_config_publish(next);
    sl_config_unref(next);
    cr_assert(eq(i64, req->cfg->limits.max_events_per_batch, 3));
    sl_request_free(req);
}

Test(decode, valid_batch) {
    sl_request_t *req =
        t_request(JSON, "{\"batch_id\":\"b-1\",\"sent_at\":\"2026-11-27T10:00:00Z\",\"events\":["
                        "{\"event_id\":\"e1\"},{\"event_id\":\"e2\"},7]}");
    cr_assert(eq(int, sl_stage_decode(req), SL_OK), "%s", req->fault_err.message);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_NONE));
    cr_assert(eq(str, (char *)req->batch_id, "b-1"));
    cr_assert(eq(sz, req->n_events, 3));
    cr_assert(eq(int, req->doc.nodes[0].type, SL_JSON_OBJECT));
    for (size_t i = 0; i < 3; i++) {
        cr_assert(req->events[i].req == req);
        cr_assert(eq(int, (int)req->events[i].outcome, SL_OUT_PENDING));
    }
    const sl_json_node_t *e1 = &req->doc.nodes[req->events[1].node];
    cr_assert(eq(int, e1->type, SL_JSON_OBJECT));
    cr_assert(strncmp(req->doc.src + e1->start, "{\"event_id\":\"e2\"}", e1->len) == 0);
    cr_assert(eq(int, req->doc.nodes[req->events[2].node].type, SL_JSON_NUMBER));
    sl_request_free(req);
}

Test(decode, escaped_batch_id_is_decoded) {
    sl_request_t *req = t_request(JSON, "{\"batch_id\":\"b\\u00e9\\\"x\",\"events\":[]}");
    cr_assert(eq(int, sl_stage_decode(req), SL_OK), "%s", req->fault_err.message);
    cr_assert(eq(str, (char *)req->batch_id, "b\xc3\xa9\"x"));
    sl_request_free(req);
}

Test(decode, batch_id_optional_and_empty_batch) {
    sl_request_t *req = t_request(JSON, "{\"events\":[]}");
    cr_assert(eq(int, sl_stage_decode(req), SL_OK));
    cr_assert(req->batch_id == NULL);
    cr_assert(eq(sz, req->n_events, 0));
    sl_request_free(req);
}

Test(decode, unsupported_media_type) {
    t_expect_decode_fault("", "{\"events\":[]}", SL_FAULT_UNSUPPORTED_MEDIA_TYPE,
                          "unsupported_media_type");
    t_expect_decode_fault("text/plain", "{\"events\":[]}", SL_FAULT_UNSUPPORTED_MEDIA_TYPE,
                          "unsupported_media_type");
    t_expect_decode_fault("application/x-www-form-urlencoded", "{\"events\":[]}",
                          SL_FAULT_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    t_expect_decode_fault("application/jsonx", "{\"events\":[]}", SL_FAULT_UNSUPPORTED_MEDIA_TYPE,
                          "unsupported_media_type");
}

Test(decode, too_deep) {
    /* depth 5 is the limit: the batch is 1, events 2, an event 3 */
    sl_request_t *ok = t_request(JSON, "{\"events\":[{\"a\":{\"b\":[]}}]}");
    cr_assert(eq(int, sl_stage_decode(ok), SL_OK), "%s", ok->fault_err.message);
    sl_request_free(ok);
    t_expect_decode_fault(JSON, "{\"events\":[{\"a\":{\"b\":[{}]}}]}", SL_FAULT_BAD_REQUEST,
                          "too_deep");
    t_expect_decode_fault(JSON, "[[[[[[[[[[[[[[[[[[[[[[[[", SL_FAULT_BAD_REQUEST, "too_deep");
}

Test(decode, too_many_events) {
    sl_request_t *ok = t_request(JSON, "{\"events\":[{},{},{}]}");
    cr_assert(eq(int, sl_stage_decode(ok), SL_OK));
    sl_request_free(ok);
    t_expect_decode_fault(JSON, "{\"events\":[{},{},{},{}]}", SL_FAULT_TOO_LARGE,
                          "too_many_events");
    t_expect_decode_fault(JSON, "{\"events\":[1,2,3,4,5,6,7,8,9]}", SL_FAULT_TOO_LARGE,
                          "too_many_events");
}

Test(decode, too_many_events_counted_before_parsing) {
    /* Invalid JSON after the fourth element: the count is decided first. */
    t_expect_decode_fault(JSON, "{\"events\":[{},{},{},{},", SL_FAULT_TOO_LARGE, "too_many_events");
}

Test(decode, malformed_json) {
    const char *bodies[] = {
        "",
        "{\"events\":[",
        "{\"events\":[]",
        "{events:[]}",
        "{\"events\":[],}",
        "{\"events\":[]} trailing",
        "{\"events\":[{\"a\":'x'}]}",
        "{\"events\":[\"\xff\xfe\"]}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        t_expect_decode_fault(JSON, bodies[i], SL_FAULT_BAD_REQUEST, "malformed_json");
    }
}

Test(decode, duplicate_key) {
    t_expect_decode_fault(JSON, "{\"events\":[],\"events\":[]}", SL_FAULT_BAD_REQUEST,
                          "duplicate_key");
    t_expect_decode_fault(JSON, "{\"events\":[{\"event_id\":\"a\",\"event_id\":\"b\"}]}",
                          SL_FAULT_BAD_REQUEST, "duplicate_key");
}

Test(decode, not_a_batch) {
    const char *bodies[] = {
        "[{},{}]",
        "[]",
        "{}",
        "{\"batch_id\":\"b\"}",
        "{\"events\":{}}",
        "{\"events\":\"e1\"}",
        "{\"events\":null}",
        "{\"batch_id\":5,\"events\":[]}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        t_expect_decode_fault(JSON, bodies[i], SL_FAULT_BAD_REQUEST, "not_a_batch");
    }
}

Test(decode, scalar_bodies_are_bad_requests) {
    const char *bodies[] = {"\"events\"", "42", "null", "true"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        sl_request_t *req = t_request(JSON, bodies[i]);
        cr_assert(sl_stage_decode(req) != SL_OK);
        cr_assert(eq(int, (int)req->fault, SL_FAULT_BAD_REQUEST));
        cr_assert(strcmp(req->fault_err.code, "not_a_batch") == 0 ||
                      strcmp(req->fault_err.code, "malformed_json") == 0,
                  "%s", req->fault_err.code);
        sl_request_free(req);
    }
}

Test(decode, unknown_batch_field) {
    sl_request_t *req = t_request(JSON, "{\"batch_id\":\"b\",\"events\":[],\"extra\":1}");
    cr_assert(sl_stage_decode(req) != SL_OK);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_BAD_REQUEST));
    cr_assert(eq(str, (char *)req->fault_err.code, "unknown_batch_field"));
    cr_assert(strstr(req->fault_err.message, "extra") != NULL, "%s", req->fault_err.message);
    sl_request_free(req);
    t_expect_decode_fault(JSON, "{\"Events\":[]}", SL_FAULT_BAD_REQUEST, "unknown_batch_field");
}

Test(decode, first_fault_wins) {
    sl_request_t *req = t_request(JSON, "{\"events\":[],\"x\":1}");
    sl_request_fail(req, SL_FAULT_UNAUTHENTICATED, "token_missing", "no token");
    sl_stage_decode(req);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_UNAUTHENTICATED));
    cr_assert(eq(str, (char *)req->fault_err.code, "token_missing"));
    sl_request_free(req);
}
