#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "metrics/metrics.h"

static char *render(sl_arena_t *a) {
    sl_buf_t b;
    sl_buf_init(&b, a, 256);
    sl_metrics_render(&b);
    return (char *)sl_buf_cstr(&b);
}

static void expect_line(const char *text, const char *line) {
    char needle[256];
    snprintf(needle, sizeof(needle), "\n%s\n", line);
    cr_assert(strstr(text, needle) != NULL, "no line \"%s\" in:\n%s", line, text);
}

Test(metrics, request_counters_move) {
    cr_assert(eq(u64, sl_metrics_requests_value(200), 0));
    sl_metrics_request(200, 1000000);
    sl_metrics_request(200, 2000000);
    sl_metrics_request(503, 1000);
    cr_assert(eq(u64, sl_metrics_requests_value(200), 2));
    cr_assert(eq(u64, sl_metrics_requests_value(503), 1));
    cr_assert(eq(u64, sl_metrics_requests_value(207), 0));
    /* Statuses without their own series count as "other". */
    sl_metrics_request(418, 1000);
    sl_metrics_request(599, 1000);
    cr_assert(eq(u64, sl_metrics_requests_value(418), 2));
}

Test(metrics, event_counters_move) {
    sl_metrics_events(SL_OUT_ACCEPTED, 5);
    sl_metrics_events(SL_OUT_ACCEPTED, 2);
    sl_metrics_events(SL_OUT_RETRYABLE, 3);
    sl_metrics_events(SL_OUT_PENDING, 100); /* not an outcome: ignored */
    cr_assert(eq(u64, sl_metrics_events_value(SL_OUT_ACCEPTED), 7));
    cr_assert(eq(u64, sl_metrics_events_value(SL_OUT_RETRYABLE), 3));
    cr_assert(eq(u64, sl_metrics_events_value(SL_OUT_INVALID), 0));
}

Test(metrics, render_contains_every_series) {
    sl_arena_t *a = sl_arena_new(1024);
    const char *text = render(a);
    const char *names[] = {
        "sluice_http_requests_total{code=\"200\"}",
        "sluice_http_requests_total{code=\"207\"}",
        "sluice_http_requests_total{code=\"503\"}",
        "sluice_events_total{outcome=\"accepted\"}",
        "sluice_events_total{outcome=\"invalid\"}",
        "sluice_events_total{outcome=\"consent_dropped\"}",
        "sluice_events_total{outcome=\"duplicate\"}",
        "sluice_events_total{outcome=\"retryable\"}",
        "sluice_request_duration_seconds_bucket{le=\"+Inf\"}",
        "sluice_request_duration_seconds_sum",
        "sluice_request_duration_seconds_count",
        "sluice_inflight_requests",
        "sluice_ready",
        "sluice_kafka_delivery_errors_total",
        "sluice_config_reloads_total{result=\"ok\"}",
        "sluice_config_reloads_total{result=\"error\"}",
        "# TYPE sluice_http_requests_total counter",
        "# TYPE sluice_request_duration_seconds histogram",
        "# TYPE sluice_inflight_requests gauge",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        cr_assert(strstr(text, names[i]) != NULL, "no %s in:\n%s", names[i], text);
    }
    cr_assert(eq(chr, text[strlen(text) - 1], '\n'));
    sl_arena_destroy(a);
}

Test(metrics, render_shows_values) {
    sl_metrics_request(207, 3 * 1000 * 1000);            /* 3 ms: bucket le=0.005 */
    sl_metrics_request(200, 40 * 1000 * 1000ull * 1000); /* 40 s: only +Inf */
    sl_metrics_events(SL_OUT_INVALID, 4);
    sl_metrics_delivery_error();
    sl_metrics_delivery_error();
    sl_metrics_inflight_add(3);
    sl_metrics_inflight_add(-1);
    cr_assert(eq(i64, sl_metrics_inflight(), 2));
    sl_metrics_set_ready(1);
    sl_metrics_config_reload(1);
    sl_metrics_config_reload(0);
    sl_metrics_config_reload(0);

    sl_arena_t *a = sl_arena_new(1024);
    const char *text = render(a);
    expect_line(text, "sluice_http_requests_total{code=\"207\"} 1");
    expect_line(text, "sluice_http_requests_total{code=\"200\"} 1");
    expect_line(text, "sluice_http_requests_total{code=\"503\"} 0");
    expect_line(text, "sluice_events_total{outcome=\"invalid\"} 4");
    expect_line(text, "sluice_events_total{outcome=\"accepted\"} 0");
    expect_line(text, "sluice_request_duration_seconds_bucket{le=\"0.0025\"} 0");
    expect_line(text, "sluice_request_duration_seconds_bucket{le=\"0.005\"} 1");
    expect_line(text, "sluice_request_duration_seconds_bucket{le=\"30\"} 1");
    expect_line(text, "sluice_request_duration_seconds_bucket{le=\"+Inf\"} 2");
    expect_line(text, "sluice_request_duration_seconds_count 2");
    expect_line(text, "sluice_kafka_delivery_errors_total 2");
    expect_line(text, "sluice_inflight_requests 2");
    expect_line(text, "sluice_ready 1");
    expect_line(text, "sluice_config_reloads_total{result=\"ok\"} 1");
    expect_line(text, "sluice_config_reloads_total{result=\"error\"} 2");
    sl_arena_destroy(a);
}

Test(metrics, faults_by_code) {
    char copy[] = "bad_signature"; /* another copy of the literal shares the series */
    sl_metrics_fault("bad_signature");
    sl_metrics_fault(copy);
    sl_metrics_fault("rate_limited");
    cr_assert(eq(u64, sl_metrics_fault_value("bad_signature"), 2));
    cr_assert(eq(u64, sl_metrics_fault_value("rate_limited"), 1));
    cr_assert(eq(u64, sl_metrics_fault_value("never_seen"), 0));
    char name[70][16];
    for (int i = 0; i < 70; i++) { /* more codes than series: the rest count as other */
        snprintf(name[i], sizeof(name[i]), "code_%d", i);
        sl_metrics_fault(name[i]);
    }
    sl_arena_t *a = sl_arena_new(1024);
    const char *text = render(a);
    expect_line(text, "sluice_request_faults_total{code=\"bad_signature\"} 2");
    expect_line(text, "sluice_request_faults_total{code=\"rate_limited\"} 1");
    expect_line(text, "sluice_request_faults_total{code=\"other\"} 8");
    sl_arena_destroy(a);
}
