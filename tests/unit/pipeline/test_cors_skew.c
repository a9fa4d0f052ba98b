/* cors.origins (sl_cors_listed, sl_stage_cors) and clock-skew correction in sl_stage_validate
 * (clock.max_skew, clock.tolerance), on requests built by hand with a fixed receive time. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "core/timefmt.h"
#include "helpers.h"

static sl_config_t *cfg;

static void teardown(void) {
    if (cfg != NULL) {
        t_unpublish(cfg);
        cfg = NULL;
    }
}

TestSuite(cors, .fini = teardown);
TestSuite(skew, .fini = teardown);

/* A config whose cors.origins is origins (built, not published). */
static sl_config_t *origins(const char *origins_value) {
    char set[512];
    snprintf(set, sizeof(set), "cors.origins=%s", origins_value);
    return t_config(NULL, T_SETS(set));
}

#define A "https://a.example"
#define B "https://b.example:8443"
#define C "http://c.example"

Test(cors, listed_per_tenant) {
    sl_config_t *c = origins("t1=" A "," B " t2=" C);
    cr_assert(eq(str, c->cors.origins, "t1=" A "," B " t2=" C));
    cr_assert(sl_cors_listed(c, "t1", A));
    cr_assert(sl_cors_listed(c, "t1", B));
    cr_assert(sl_cors_listed(c, "t2", C));
    cr_assert(not(sl_cors_listed(c, "t1", C)), "c is t2's, not t1's");
    cr_assert(not(sl_cors_listed(c, "t2", A)), "a is t1's, not t2's");
    cr_assert(not(sl_cors_listed(c, "t2", B)));
    cr_assert(not(sl_cors_listed(c, "t3", A)), "a tenant with no entry has no origins");
    cr_assert(not(sl_cors_listed(c, "", A)));
    sl_config_unref(c);
}

Test(cors, any_tenant_for_preflights) {
    sl_config_t *c = origins("t1=" A "," B " t2=" C);
    cr_assert(sl_cors_listed(c, NULL, A));
    cr_assert(sl_cors_listed(c, NULL, B));
    cr_assert(sl_cors_listed(c, NULL, C));
    cr_assert(not(sl_cors_listed(c, NULL, "https://d.example")));
    cr_assert(not(sl_cors_listed(c, NULL, "t1")), "a tenant name is not an origin");
    cr_assert(not(sl_cors_listed(c, NULL, "t1=" A)));
    sl_config_unref(c);
}

Test(cors, whitespace_variants) {
    const char *lists[] = {
        "t1=" A "," B " t2=" C,
        "   t1=" A "," B "    t2=" C "   ",
        "\tt1=" A "," B "\t\tt2=" C "\t",
        "t1=" A "," B "\nt2=" C "\n",
        "\n  t1=" A "," B " \n\t t2=" C,
        "t1=" A "," B ","
        " t2=" C ",", /* trailing commas */
    };
    for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
        sl_config_t *c = origins(lists[k]);
        cr_assert(sl_cors_listed(c, "t1", A), "list %zu: %s", k, lists[k]);
        cr_assert(sl_cors_listed(c, "t1", B), "list %zu", k);
        cr_assert(sl_cors_listed(c, "t2", C), "list %zu", k);
        cr_assert(sl_cors_listed(c, NULL, C), "list %zu", k);
        cr_assert(not(sl_cors_listed(c, "t1", C)), "list %zu", k);
        cr_assert(not(sl_cors_listed(c, "t2", A)), "list %zu", k);
        cr_assert(not(sl_cors_listed(c, "t2", "")), "list %zu: the empty origin", k);
        cr_assert(not(sl_cors_listed(c, NULL, "")), "list %zu: the empty origin", k);
        sl_config_unref(c);
    }
}

Test(cors, whole_origins_only) {
    sl_config_t *c = origins("t1=" A "," B " t2=" C);
    const char *near[] = {
        A ".evil",                /* suffix */
        A "/",                    /* a path is not part of an origin */
        A ":443",                 /* another spelling is another string */
        "https://a.exampl",       /* prefix */
        "https://a",              /* prefix */
        "a.example",              /* no scheme */
        "http://a.example",       /* other scheme */
        "https://evil.a.example", /* subdomain */
        "https://x" A,            /* prefix added */
        A "," B,                  /* two listed origins are not one */
        "https://b.example",      /* B without its port */
        "https://b.example:84",   /* B's port cut short */
        "null",                   /* sandboxed pages */
        "",
    };
    for (size_t k = 0; k < sizeof(near) / sizeof(near[0]); k++) {
        cr_assert(not(sl_cors_listed(c, "t1", near[k])), "t1 lists \"%s\"", near[k]);
        cr_assert(not(sl_cors_listed(c, NULL, near[k])), "some tenant lists \"%s\"", near[k]);
    }
    sl_config_unref(c);
}

Test(cors, whole_tenant_names_only) {
    sl_config_t *c = origins("t1=" A " shop=" C);
    cr_assert(not(sl_cors_listed(c, "t", A)), "t is not t1");
    cr_assert(not(sl_cors_listed(c, "t1x", A)), "t1x is not t1");
    cr_assert(not(sl_cors_listed(c, "sho", C)));
    cr_assert(not(sl_cors_listed(c, "shop=", C)));
    cr_assert(sl_cors_listed(c, "shop", C));
    sl_config_unref(c);
}

Test(cors, a_tenant_listed_twice_has_both_lists) {
    sl_config_t *c = origins("t1=" A " t2=" C " t1=" B);
    cr_assert(sl_cors_listed(c, "t1", A));
    cr_assert(sl_cors_listed(c, "t1", B));
    cr_assert(not(sl_cors_listed(c, "t2", B)));
    sl_config_unref(c);
}

Test(cors, empty_config_lists_nothing) {
    sl_config_t *c = t_config(NULL, NULL);
    cr_assert(eq(str, c->cors.origins, ""), "cors.origins defaults to empty");
    cr_assert(not(sl_cors_listed(c, "t1", A)));
    cr_assert(not(sl_cors_listed(c, NULL, A)));
    cr_assert(not(sl_cors_listed(c, NULL, "")));
    sl_config_unref(c);
    c = origins("   ");
    cr_assert(not(sl_cors_listed(c, NULL, A)));
    sl_config_unref(c);
    /* An entry without '=' names no tenant: nothing is listed by it. */
    c = origins(A);
    cr_assert(not(sl_cors_listed(c, NULL, A)));
    cr_assert(not(sl_cors_listed(c, A, A)));
    sl_config_unref(c);
}

/* The stage: a request with an Origin must come from one its token's tenant lists. */
static sl_request_t *browser_request(const char *tenant, const char *origin) {
    sl_request_t *req = t_request("application/json", "{\"events\":[]}");
    req->principal.tenant = tenant;
    req->principal.subject = "";
    req->origin = origin;
    return req;
}

Test(cors, stage_allows_the_tenants_origins) {
    cfg = t_publish(T_SETS("cors.origins=t1=" A "," B " t2=" C));
    sl_request_t *req = browser_request("t1", B);
    cr_assert(eq(int, sl_stage_cors(req), SL_OK), "%s", req->fault_err.message);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_NONE));
    cr_assert(req->allowed_origin != NULL, "the allowed origin is echoed");
    cr_assert(eq(str, (char *)req->allowed_origin, B));
    sl_request_free(req);
}

Test(cors, stage_refuses_other_origins) {
    cfg = t_publish(T_SETS("cors.origins=t1=" A "," B " t2=" C));
    const struct {
        const char *tenant;
        const char *origin;
    } cases[] = {{"t1", C}, {"t2", A}, {"t3", A}, {"t1", A ".evil"}, {"t1", "null"}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        sl_request_t *req = browser_request(cases[k].tenant, cases[k].origin);
        sl_status_t st = sl_stage_cors(req);
        cr_assert(st != SL_OK, "%s from %s was allowed", cases[k].tenant, cases[k].origin);
        cr_assert(eq(int, (int)req->fault, SL_FAULT_FORBIDDEN));
        cr_assert(eq(str, (char *)req->fault_err.code, "origin_not_allowed"));
        cr_assert(strstr(req->fault_err.message, cases[k].tenant) != NULL, "%s",
                  req->fault_err.message);
        cr_assert(req->allowed_origin == NULL, "a refused origin is not echoed");
        sl_request_free(req);
    }
}

Test(cors, stage_ignores_requests_without_origin) {
    cfg = t_publish(T_SETS("log.level=error"));
    sl_request_t *req = browser_request("t1", NULL);
    cr_assert(eq(int, sl_stage_cors(req), SL_OK), "servers and apps send no Origin");
    cr_assert(eq(int, (int)req->fault, SL_FAULT_NONE));
    cr_assert(req->allowed_origin == NULL);
    sl_request_free(req);
    /* With nothing configured, a browser is refused. */
    req = browser_request("t1", A);
    cr_assert(sl_stage_cors(req) != SL_OK);
    cr_assert(eq(str, (char *)req->fault_err.code, "origin_not_allowed"));
    sl_request_free(req);
}

Test(cors, stage_allows_the_origins_of_the_token_claim) {
    cfg = t_publish(T_SETS("cors.origins=t1=" A));
    /* The token (cors.origins_claim) names C: allowed beside the tenant's list, for it alone. */
    sl_request_t *req = browser_request("t1", C);
    req->principal.origins = B " " C;
    cr_assert(eq(int, sl_stage_cors(req), SL_OK), "%s", req->fault_err.message);
    cr_assert(eq(str, (char *)req->allowed_origin, C));
    sl_request_free(req);
    req = browser_request("t1", A);
    req->principal.origins = B " " C;
    cr_assert(eq(int, sl_stage_cors(req), SL_OK), "the tenant's own list still holds");
    sl_request_free(req);
    req = browser_request("t1", C ".evil");
    req->principal.origins = B " " C;
    cr_assert(sl_stage_cors(req) != SL_OK, "whole origins only");
    sl_request_free(req);
    req = browser_request("t1", C);
    req->principal.origins = "";
    cr_assert(sl_stage_cors(req) != SL_OK, "another token without the claim is refused");
    sl_request_free(req);
}

/* ------------------------------------------------------------------ clock skew ---- */

/* Receive time of every skew request: 2026-11-27T12:00:00Z. */
#define RECEIVED INT64_C(1795780800000)
#define HOUR INT64_C(3600000)
#define OCC0 INT64_C(1795773600000) /* 2026-11-27T10:00:00Z */
#define OCC1 INT64_C(1795777200500) /* 2026-11-27T11:00:00.5Z */

/* Decodes and validates a batch of three events (two valid, one without occurred_at) whose
 * sent_at is received + off ms (no sent_at when omit), received at RECEIVED. */
static sl_request_t *skewed(int64_t off, bool omit, bool epoch) {
    char sent[64] = "";
    if (!omit) {
        char ts[25];
        sl_time_format_rfc3339(RECEIVED + off, ts);
        if (epoch) {
            snprintf(sent, sizeof(sent), "\"sent_at\":%lld,", (long long)(RECEIVED + off));
        } else {
            snprintf(sent, sizeof(sent), "\"sent_at\":\"%s\",", ts);
        }
    }
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"batch_id\":\"b\",%s\"events\":["
             "{\"event_id\":\"e0\",\"type\":\"t\",\"occurred_at\":\"2026-11-27T10:00:00Z\"},"
             "{\"event_id\":\"e1\",\"type\":\"t\",\"occurred_at\":1795777200500},"
             "{\"event_id\":\"e2\",\"type\":\"t\"}]}",
             sent);
    sl_request_t *req = t_request("application/json", body);
    req->received_at_ms = RECEIVED;
    cr_assert(eq(int, sl_stage_decode(req), SL_OK), "%s", req->fault_err.message);
    cr_assert(eq(int, sl_stage_validate(req), SL_OK), "%s", req->fault_err.message);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_NONE));
    cr_assert(eq(int, (int)req->events[0].outcome, SL_OUT_PENDING));
    cr_assert(eq(int, (int)req->events[1].outcome, SL_OUT_PENDING));
    cr_assert(eq(int, (int)req->events[2].outcome, SL_OUT_INVALID));
    if (!omit) {
        cr_assert(eq(i64, req->sent_at_ms, RECEIVED + off),
                  "sent_at is kept as the client sent it");
    }
    return req;
}

static void expect_moved(int64_t off, bool epoch) {
    sl_request_t *req = skewed(off, false, epoch);
    /* The client's clock is off by -off: its times move by receive - sent_at. */
    cr_assert(eq(i64, req->skew_ms, -off), "sent_at %+lld ms from the receive time",
              (long long)off);
    cr_assert(eq(i64, req->events[0].occurred_at_ms, OCC0 - off));
    cr_assert(eq(i64, req->events[1].occurred_at_ms, OCC1 - off));
    sl_request_free(req);
}

static void expect_unchanged(int64_t off, bool omit) {
    sl_request_t *req = skewed(off, omit, false);
    cr_assert(eq(i64, req->skew_ms, 0), "sent_at %+lld ms from the receive time (omitted: %d)",
              (long long)off, omit);
    cr_assert(eq(i64, req->events[0].occurred_at_ms, OCC0));
    cr_assert(eq(i64, req->events[1].occurred_at_ms, OCC1));
    sl_request_free(req);
}

Test(skew, clock_an_hour_behind_moves_occurred_at_forward) {
    cfg = t_publish(T_SETS("log.level=error")); /* 24h, 2s */
    expect_moved(-HOUR, false);
    expect_moved(-HOUR, true); /* sent_at as epoch milliseconds */
    expect_moved(-3 * HOUR - 123, false);
}

Test(skew, clock_ahead_moves_occurred_at_back) {
    cfg = t_publish(T_SETS("log.level=error"));
    expect_moved(HOUR, false);
    expect_moved(23 * HOUR, true);
}

Test(skew, within_tolerance_is_transit_time) {
    cfg = t_publish(T_SETS("log.level=error", "clock.tolerance=2s"));
    expect_unchanged(0, false);
    expect_unchanged(-1500, false);
    expect_unchanged(1500, false);
    expect_unchanged(-2000, false); /* at the tolerance: still transit time */
    expect_unchanged(2000, false);
    expect_moved(-2001, false);
    expect_moved(2001, false);
}

Test(skew, beyond_max_skew_is_left_alone) {
    cfg = t_publish(T_SETS("log.level=error", "clock.max_skew=6h"));
    expect_moved(-6 * HOUR, false); /* at the bound: corrected */
    expect_moved(6 * HOUR, false);
    expect_unchanged(-6 * HOUR - 1, false);
    expect_unchanged(6 * HOUR + 1, false);
    expect_unchanged(-30 * (24 * HOUR), false);
}

Test(skew, max_skew_zero_turns_it_off) {
    cfg = t_publish(T_SETS("log.level=error", "clock.max_skew=0ms"));
    expect_unchanged(-HOUR, false);
    expect_unchanged(HOUR, false);
    expect_unchanged(-5000, false);
}

Test(skew, tolerance_zero_corrects_any_offset) {
    cfg = t_publish(T_SETS("log.level=error", "clock.tolerance=0ms"));
    expect_moved(-1, false);
    expect_moved(1, false);
    expect_unchanged(0, false);
}

Test(skew, no_sent_at_no_correction) {
    cfg = t_publish(T_SETS("log.level=error"));
    expect_unchanged(0, true);
}

Test(skew, corrected_times_stay_writable) {
    /* A year-9999 occurred_at moved forward is clamped to the last writable millisecond. */
    cfg = t_publish(T_SETS("log.level=error"));
    char sent[25];
    sl_time_format_rfc3339(RECEIVED - HOUR, sent);
    char body[512];
    snprintf(body, sizeof(body),
             "{\"sent_at\":\"%s\",\"events\":[{\"event_id\":\"e0\",\"type\":\"t\","
             "\"occurred_at\":\"9999-12-31T23:30:00Z\"}]}",
             sent);
    sl_request_t *req = t_request("application/json", body);
    req->received_at_ms = RECEIVED;
    cr_assert(eq(int, sl_stage_decode(req), SL_OK));
    cr_assert(eq(int, sl_stage_validate(req), SL_OK));
    cr_assert(eq(i64, req->skew_ms, HOUR));
    cr_assert(eq(i64, req->events[0].occurred_at_ms, SL_TIME_MAX_MS));
    sl_request_free(req);
}
