/* sl_stage_validate: per-event codes; valid events stay pending for the later stages. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "helpers.h"

static sl_config_t *cfg;

static void setup(void) {
    cfg = t_publish(T_SETS("limits.max_id_bytes=8"));
}

static void teardown(void) {
    t_unpublish(cfg);
}

TestSuite(validate, .init = setup, .fini = teardown);

#define OK_EVENT(id)                                                                               \
    "{\"event_id\":\"" id "\",\"type\":\"t\",\"occurred_at\":\"2026-11-27T10:00:00Z\"}"

static sl_request_t *decoded(const char *body) {
    sl_request_t *req = t_request("application/json", body);
    cr_assert(eq(int, sl_stage_decode(req), SL_OK), "%s", req->fault_err.message);
    return req;
}

static void expect_invalid(const sl_event_t *ev, const char *code, const char *in_message) {
    cr_assert(eq(int, (int)ev->outcome, SL_OUT_INVALID));
    cr_assert(ev->code != NULL);
    cr_assert(eq(str, (char *)ev->code, (char *)code), "%s", ev->message);
    cr_assert(ev->message != NULL && ev->message[0] != '\0');
    if (in_message != NULL) {
        cr_assert(strstr(ev->message, in_message) != NULL, "no \"%s\" in \"%s\"", in_message,
                  ev->message);
    }
}

Test(validate, per_event_codes_with_others_pending) {
    sl_request_t *req = decoded("{\"events\":[" OK_EVENT(
        "e0") ","                                                                         /* 0 ok */
              "{\"type\":\"t\",\"occurred_at\":\"2026-11-27T10:00:00Z\"},"                /* 1 */
              "{\"event_id\":7,\"type\":\"t\",\"occurred_at\":\"2026-11-27T10:00:00Z\"}," /* 2 */
              "{\"event_id\":\"e3\",\"type\":\"123456789\",\"occurred_at\":0},"           /* 3 */
              "{\"event_id\":\"e4\",\"type\":\"t\",\"occurred_at\":\"yesterday\"},"       /* 4 */
              "42,"                                                                       /* 5 */
              "{\"event_id\":\"e6\",\"type\":\"t\",\"occurred_at\":1795773600123,\"user_id\":\"u\"}"
              ","                                                                      /* 6 ok */
              "{\"event_id\":\"e7\",\"type\":\"t\"},"                                  /* 7 */
              "{\"event_id\":\"e8\",\"type\":\"t\",\"occurred_at\":-5},"               /* 8 */
              "{\"event_id\":\"\",\"type\":\"t\",\"occurred_at\":0},"                  /* 9 */
              "[],"                                                                    /* 10 */
              "{\"event_id\":\"e11\",\"type\":\"t\",\"occurred_at\":1.5},"             /* 11 */
              "{\"event_id\":\"e12\",\"type\":null,\"occurred_at\":0},"                /* 12 */
              "{\"event_id\":\"e13\",\"type\":\"t\",\"occurred_at\":0,\"user_id\":5}," /* 13 */
              "{\"event_id\":\"e14\",\"type\":\"t\",\"occurred_at\":0,\"anonymous_id\":"
              "\"123456789\"}," /* 14 */
              "{\"event_id\":\"12345678\",\"type\":\"t\",\"occurred_at\":\"2026-11-27T12:00:00.5+"
              "02:00\",\"extra\":{\"x\":[1]}}" /* 15 ok */
              "]}");
    cr_assert(eq(sz, req->n_events, 16));
    cr_assert(eq(int, sl_stage_validate(req), SL_OK));
    cr_assert(eq(int, (int)req->fault, SL_FAULT_NONE));

    cr_assert(eq(int, (int)req->events[0].outcome, SL_OUT_PENDING));
    cr_assert(eq(sz, req->events[0].event_id_len, 2));
    cr_assert(strncmp(req->events[0].event_id, "e0", 2) == 0);
    cr_assert(eq(sz, req->events[0].type_len, 1));
    cr_assert(strncmp(req->events[0].type, "t", 1) == 0);
    cr_assert(eq(i64, req->events[0].occurred_at_ms, INT64_C(1795773600000)));

    expect_invalid(&req->events[1], "missing_field", "event_id");
    expect_invalid(&req->events[2], "wrong_type", "event_id");
    expect_invalid(&req->events[3], "too_long", "type");
    expect_invalid(&req->events[4], "invalid_timestamp", "occurred_at");
    expect_invalid(&req->events[5], "not_an_object", NULL);

    cr_assert(eq(int, (int)req->events[6].outcome, SL_OUT_PENDING));
    cr_assert(eq(i64, req->events[6].occurred_at_ms, INT64_C(1795773600123)));

    expect_invalid(&req->events[7], "missing_field", "occurred_at");
    expect_invalid(&req->events[8], "invalid_timestamp", "occurred_at");
    expect_invalid(&req->events[9], "missing_field", "event_id");
    expect_invalid(&req->events[10], "not_an_object", NULL);
    expect_invalid(&req->events[11], "invalid_timestamp", "occurred_at");
    expect_invalid(&req->events[12], "missing_field", "type");
    expect_invalid(&req->events[13], "wrong_type", "user_id");
    expect_invalid(&req->events[14], "too_long", "anonymous_id");

    cr_assert(eq(int, (int)req->events[15].outcome, SL_OUT_PENDING), "%s",
              req->events[15].message ? req->events[15].message : "");
    cr_assert(eq(i64, req->events[15].occurred_at_ms, INT64_C(1795773600500)));
    cr_assert(eq(sz, req->events[15].event_id_len, 8), "8 bytes is the limit, not over it");

    sl_tally_t t;
    sl_request_tally(req, &t);
    cr_assert(eq(sz, t.by_outcome[SL_OUT_INVALID], 13));
    cr_assert(eq(sz, t.by_outcome[SL_OUT_ACCEPTED], 0), "pending events are not tallied");
    sl_request_free(req);
}

Test(validate, escaped_ids_are_decoded_and_measured_decoded) {
    /* "\u00e9" is 2 bytes decoded: 4 of them make 8 bytes, at the limit. */
    sl_request_t *req =
        decoded("{\"events\":[{\"event_id\":\"\\u00e9\\u00e9\\u00e9\\u00e9\",\"type\":\"a\\\"b\","
                "\"occurred_at\":\"2026-11-27T10:00:00\\u005a\"}]}");
    sl_stage_validate(req);
    const sl_event_t *ev = &req->events[0];
    cr_assert(eq(int, (int)ev->outcome, SL_OUT_PENDING), "%s", ev->message ? ev->message : "");
    cr_assert(eq(sz, ev->event_id_len, 8));
    cr_assert(memcmp(ev->event_id, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8) == 0);
    cr_assert(eq(sz, ev->type_len, 3));
    cr_assert(memcmp(ev->type, "a\"b", 3) == 0);
    cr_assert(eq(i64, ev->occurred_at_ms, INT64_C(1795773600000)));
    sl_request_free(req);
}

Test(validate, long_timestamp_string_message_is_bounded) {
    char body[4096];
    char junk[2000];
    memset(junk, 'j', sizeof(junk) - 1);
    junk[sizeof(junk) - 1] = '\0';
    snprintf(body, sizeof(body),
             "{\"events\":[{\"event_id\":\"e\",\"type\":\"t\",\"occurred_at\":\"%s\"}]}", junk);
    sl_request_t *req = decoded(body);
    sl_stage_validate(req);
    expect_invalid(&req->events[0], "invalid_timestamp", NULL);
    cr_assert(strlen(req->events[0].message) < 384);
    sl_request_free(req);
}

Test(validate, sent_at_valid_forms) {
    const char *bodies[] = {
        "{\"sent_at\":\"2026-11-27T10:00:00Z\",\"events\":[]}",
        "{\"sent_at\":1795773600000,\"events\":[]}",
        "{\"events\":[]}",
    };
    for (size_t i = 0; i < 3; i++) {
        sl_request_t *req = decoded(bodies[i]);
        cr_assert(eq(int, sl_stage_validate(req), SL_OK), "%s", bodies[i]);
        cr_assert(eq(int, (int)req->fault, SL_FAULT_NONE));
        sl_request_free(req);
    }
}

Test(validate, sent_at_invalid_is_a_request_fault) {
    const char *bodies[] = {
        "{\"sent_at\":\"now\",\"events\":[" OK_EVENT("e") "]}",
        "{\"sent_at\":-1,\"events\":[]}",
        "{\"sent_at\":true,\"events\":[]}",
        "{\"sent_at\":\"2026-02-30T10:00:00Z\",\"events\":[]}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        sl_request_t *req = decoded(bodies[i]);
        cr_assert(sl_stage_validate(req) != SL_OK, "%s", bodies[i]);
        cr_assert(eq(int, (int)req->fault, SL_FAULT_BAD_REQUEST));
        cr_assert(eq(str, (char *)req->fault_err.code, "invalid_timestamp"));
        cr_assert(strstr(req->fault_err.message, "sent_at") != NULL);
        sl_request_free(req);
    }
}
