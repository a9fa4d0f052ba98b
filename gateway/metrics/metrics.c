#include "metrics/metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static const int codes[] = {200, 202, 204, 207, 400, 401, 403, 404,
                            405, 408, 413, 415, 429, 431, 500, 503};
#define NCODES (sizeof(codes) / sizeof(codes[0]))
/* Upper bounds in microseconds of the latency histogram buckets. */
static const uint64_t bounds_us[] = {1000,   2500,   5000,    10000,   25000,   50000,    100000,
                                     250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000};
#define NBOUNDS (sizeof(bounds_us) / sizeof(bounds_us[0]))

static atomic_uint_fast64_t requests[NCODES + 1]; /* last: any other status */
static atomic_uint_fast64_t events[SL_OUT__COUNT];
static atomic_uint_fast64_t buckets[NBOUNDS + 1];
static atomic_uint_fast64_t latency_sum_us;
static atomic_uint_fast64_t latency_count;
static atomic_uint_fast64_t delivery_errors;
static atomic_int_fast64_t inflight;
static atomic_int ready;
static atomic_uint_fast64_t reloads[2];

/* Fault codes: a small table filled on first use (codes are static strings, compared by
 * content so two copies of one literal share a series). */
#define NFAULTS 64
static _Atomic(const char *) fault_codes[NFAULTS];
static atomic_uint_fast64_t fault_counts[NFAULTS + 1]; /* last: other */

static size_t fault_slot(const char *code, bool claim) {
    for (size_t i = 0; i < NFAULTS; i++) {
        const char *have = atomic_load_explicit(&fault_codes[i], memory_order_acquire);
        if (have == NULL) {
            if (!claim) {
                return NFAULTS;
            }
            if (atomic_compare_exchange_strong(&fault_codes[i], &have, code)) {
                return i;
            }
        }
        if (have != NULL && strcmp(have, code) == 0) {
            return i;
        }
    }
    return NFAULTS;
}

static atomic_uint_fast64_t shadow_compared, shadow_differs;

void sl_metrics_policy_shadow(bool differs) {
    atomic_fetch_add_explicit(&shadow_compared, 1, memory_order_relaxed);
    if (differs) {
        atomic_fetch_add_explicit(&shadow_differs, 1, memory_order_relaxed);
    }
}

static atomic_uint_fast64_t dedupe_entries, dedupe_evictions;

void sl_metrics_dedupe(uint64_t entries, uint64_t evictions) {
    atomic_store_explicit(&dedupe_entries, entries, memory_order_relaxed);
    atomic_store_explicit(&dedupe_evictions, evictions, memory_order_relaxed);
}

void sl_metrics_fault(const char *code) {
    if (code != NULL) {
        atomic_fetch_add_explicit(&fault_counts[fault_slot(code, true)], 1, memory_order_relaxed);
    }
}

uint64_t sl_metrics_fault_value(const char *code) {
    size_t i = fault_slot(code, false);
    return i < NFAULTS ? atomic_load(&fault_counts[i]) : 0;
}

static size_t code_index(int status) {
    for (size_t i = 0; i < NCODES; i++) {
        if (codes[i] == status) {
            return i;
        }
    }
    return NCODES;
}

void sl_metrics_request(int http_status, uint64_t latency_ns) {
    atomic_fetch_add_explicit(&requests[code_index(http_status)], 1, memory_order_relaxed);
    uint64_t us = latency_ns / 1000;
    size_t b = 0;
    while (b < NBOUNDS && us > bounds_us[b]) {
        b++;
    }
    atomic_fetch_add_explicit(&buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&latency_sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&latency_count, 1, memory_order_relaxed);
}

void sl_metrics_events(sl_outcome_t outcome, uint64_t count) {
    if (outcome >= 0 && outcome < SL_OUT__COUNT) {
        atomic_fetch_add_explicit(&events[outcome], count, memory_order_relaxed);
    }
}

void sl_metrics_delivery_error(void) {
    atomic_fetch_add_explicit(&delivery_errors, 1, memory_order_relaxed);
}

void sl_metrics_inflight_add(int delta) {
    atomic_fetch_add_explicit(&inflight, delta, memory_order_relaxed);
}

int64_t sl_metrics_inflight(void) {
    return (int64_t)atomic_load(&inflight);
}

void sl_metrics_set_ready(int r) {
    atomic_store(&ready, r);
}

void sl_metrics_config_reload(int ok) {
    atomic_fetch_add_explicit(&reloads[ok ? 1 : 0], 1, memory_order_relaxed);
}

uint64_t sl_metrics_events_value(sl_outcome_t outcome) {
    return atomic_load(&events[outcome]);
}

uint64_t sl_metrics_requests_value(int http_status) {
    return atomic_load(&requests[code_index(http_status)]);
}

void sl_metrics_render(sl_buf_t *out) {
    sl_buf_puts(out, "# HELP sluice_http_requests_total Public requests answered, by HTTP status.\n"
                     "# TYPE sluice_http_requests_total counter\n");
    for (size_t i = 0; i <= NCODES; i++) {
        uint64_t v = atomic_load(&requests[i]);
        if (i < NCODES) {
            sl_buf_printf(out, "sluice_http_requests_total{code=\"%d\"} %llu\n", codes[i],
                          (unsigned long long)v);
        } else {
            sl_buf_printf(out, "sluice_http_requests_total{code=\"other\"} %llu\n",
                          (unsigned long long)v);
        }
    }
    sl_buf_puts(out, "# HELP sluice_events_total Events by final outcome.\n"
                     "# TYPE sluice_events_total counter\n");
    for (int o = 0; o < SL_OUT__COUNT; o++) {
        sl_buf_printf(out, "sluice_events_total{outcome=\"%s\"} %llu\n",
                      sl_outcome_name((sl_outcome_t)o),
                      (unsigned long long)atomic_load(&events[o]));
    }
    sl_buf_puts(out, "# HELP sluice_request_duration_seconds Time from request to response.\n"
                     "# TYPE sluice_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t b = 0; b <= NBOUNDS; b++) {
        cum += atomic_load(&buckets[b]);
        if (b < NBOUNDS) {
            sl_buf_printf(out, "sluice_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                          (double)bounds_us[b] / 1e6, (unsigned long long)cum);
        } else {
            sl_buf_printf(out, "sluice_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                          (unsigned long long)cum);
        }
    }
    sl_buf_printf(out, "sluice_request_duration_seconds_sum %.6f\n",
                  (double)atomic_load(&latency_sum_us) / 1e6);
    sl_buf_printf(out, "sluice_request_duration_seconds_count %llu\n",
                  (unsigned long long)atomic_load(&latency_count));
    sl_buf_printf(out,
                  "# HELP sluice_policy_shadow_events_total Events compared against the shadow "
                  "policy (policies.shadow_dir).\n"
                  "# TYPE sluice_policy_shadow_events_total counter\n"
                  "sluice_policy_shadow_events_total %llu\n"
                  "# HELP sluice_policy_shadow_differences_total Of those, events the shadow "
                  "policy would have produced differently (or dropped, or let through).\n"
                  "# TYPE sluice_policy_shadow_differences_total counter\n"
                  "sluice_policy_shadow_differences_total %llu\n",
                  (unsigned long long)atomic_load(&shadow_compared),
                  (unsigned long long)atomic_load(&shadow_differs));
    sl_buf_printf(out,
                  "# HELP sluice_dedupe_entries Event ids remembered for dedupe.window "
                  "(dedupe.max_entries at most).\n"
                  "# TYPE sluice_dedupe_entries gauge\n"
                  "sluice_dedupe_entries %llu\n"
                  "# HELP sluice_dedupe_evictions_total Event ids forgotten for room before their "
                  "dedupe.window was over: a repeat of one is produced again.\n"
                  "# TYPE sluice_dedupe_evictions_total counter\n"
                  "sluice_dedupe_evictions_total %llu\n",
                  (unsigned long long)atomic_load(&dedupe_entries),
                  (unsigned long long)atomic_load(&dedupe_evictions));
    sl_buf_puts(out, "# HELP sluice_request_faults_total Requests refused as a whole, by reason "
                     "code (bad_signature, rate_limited, too_many_events, ...).\n"
                     "# TYPE sluice_request_faults_total counter\n");
    for (size_t i = 0; i <= NFAULTS; i++) {
        const char *code = i < NFAULTS ? atomic_load(&fault_codes[i]) : "other";
        uint64_t n = atomic_load(&fault_counts[i]);
        if (code != NULL && n > 0) {
            sl_buf_printf(out, "sluice_request_faults_total{code=\"%s\"} %llu\n", code,
                          (unsigned long long)n);
        }
    }
    sl_buf_printf(out,
                  "# HELP sluice_kafka_delivery_errors_total Delivery reports with an error.\n"
                  "# TYPE sluice_kafka_delivery_errors_total counter\n"
                  "sluice_kafka_delivery_errors_total %llu\n"
                  "# HELP sluice_inflight_requests Requests waiting for delivery reports.\n"
                  "# TYPE sluice_inflight_requests gauge\n"
                  "sluice_inflight_requests %lld\n"
                  "# HELP sluice_ready 1 while the gateway is ready to take traffic.\n"
                  "# TYPE sluice_ready gauge\n"
                  "sluice_ready %d\n"
                  "# HELP sluice_config_reloads_total Configuration reloads by result.\n"
                  "# TYPE sluice_config_reloads_total counter\n"
                  "sluice_config_reloads_total{result=\"ok\"} %llu\n"
                  "sluice_config_reloads_total{result=\"error\"} %llu\n",
                  (unsigned long long)atomic_load(&delivery_errors),
                  (long long)atomic_load(&inflight), atomic_load(&ready),
                  (unsigned long long)atomic_load(&reloads[1]),
                  (unsigned long long)atomic_load(&reloads[0]));
}
