#include "metrics/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const int codes[] = {200, 202, 204, 207, 400, 401, 403, 404, 405,
                            408, 413, 415, 429, 431, 500, 503, 504};
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

static atomic_uint_fast64_t keys_spread, keys_random, dead_letters[2], late_deliveries[2];
static atomic_int_fast64_t inflight_bytes;
static pthread_mutex_t hot_lock = PTHREAD_MUTEX_INITIALIZER;
static char hot_keys[SL_METRICS_HOT_KEYS][128];
static uint64_t hot_events[SL_METRICS_HOT_KEYS];
static size_t n_hot;

void sl_metrics_keys(uint64_t spread, uint64_t random) {
    atomic_fetch_add_explicit(&keys_spread, spread, memory_order_relaxed);
    atomic_fetch_add_explicit(&keys_random, random, memory_order_relaxed);
}

void sl_metrics_hot_keys(const char *const *keys, const uint64_t *spread_events, size_t n) {
    pthread_mutex_lock(&hot_lock);
    n_hot = n < SL_METRICS_HOT_KEYS ? n : SL_METRICS_HOT_KEYS;
    for (size_t i = 0; i < n_hot; i++) {
        snprintf(hot_keys[i], sizeof(hot_keys[i]), "%s", keys[i]);
        hot_events[i] = spread_events[i];
    }
    pthread_mutex_unlock(&hot_lock);
}

/* Upper bounds in milliseconds of the signal age histogram. */
static const uint64_t age_bounds_ms[] = {100,   250,   500,    1000,   2500,    5000,     10000,
                                         30000, 60000, 300000, 900000, 3600000, 21600000, 86400000};
#define NAGE (sizeof(age_bounds_ms) / sizeof(age_bounds_ms[0]))
static atomic_uint_fast64_t age_buckets[NAGE + 1];
static atomic_uint_fast64_t age_sum_ms, age_count;

void sl_metrics_signal_age(int64_t age_ms) {
    if (age_ms < 0) {
        age_ms = 0;
    }
    size_t b = 0;
    while (b < NAGE && (uint64_t)age_ms > age_bounds_ms[b]) {
        b++;
    }
    atomic_fetch_add_explicit(&age_buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&age_sum_ms, (uint64_t)age_ms, memory_order_relaxed);
    atomic_fetch_add_explicit(&age_count, 1, memory_order_relaxed);
}

void sl_metrics_dead_letter(bool delivered) {
    atomic_fetch_add_explicit(&dead_letters[delivered ? 1 : 0], 1, memory_order_relaxed);
}

uint64_t sl_metrics_dead_letter_value(bool delivered) {
    return atomic_load(&dead_letters[delivered ? 1 : 0]);
}

void sl_metrics_late_delivery(bool delivered) {
    atomic_fetch_add_explicit(&late_deliveries[delivered ? 1 : 0], 1, memory_order_relaxed);
}

uint64_t sl_metrics_late_delivery_value(bool delivered) {
    return atomic_load(&late_deliveries[delivered ? 1 : 0]);
}

void sl_metrics_inflight_bytes(int64_t bytes) {
    atomic_store_explicit(&inflight_bytes, bytes, memory_order_relaxed);
}

/* A label value: backslash, quote and newline escaped. */
static void label_value(sl_buf_t *out, const char *s) {
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"') {
            sl_buf_append(out, "\\", 1);
            sl_buf_append(out, s, 1);
        } else if (*s == '\n') {
            sl_buf_puts(out, "\\n");
        } else {
            sl_buf_append(out, s, 1);
        }
    }
}

/* A Prometheus histogram of cumulative buckets: bounds[i] in units of 1/scale seconds. */
static void render_histogram(sl_buf_t *out, const char *name, const char *help,
                             const atomic_uint_fast64_t *counts, const uint64_t *bounds, size_t n,
                             double scale, double sum, uint64_t count) {
    sl_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t b = 0; b <= n; b++) {
        cum += atomic_load(&counts[b]);
        if (b < n) {
            sl_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, (double)bounds[b] / scale,
                          (unsigned long long)cum);
        } else {
            sl_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
        }
    }
    sl_buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, sum, name, (unsigned long long)count);
}

static void render_keys(sl_buf_t *out) {
    render_histogram(out, "sluice_signal_age_seconds",
                     "Age of each produced event at ingest: received_at - occurred_at (a client "
                     "clock ahead counts 0).",
                     age_buckets, age_bounds_ms, NAGE, 1e3, (double)atomic_load(&age_sum_ms) / 1e3,
                     atomic_load(&age_count));
    sl_buf_printf(out,
                  "# HELP sluice_keys_spread_events_total Events whose hot key was spread over "
                  "keys.hot_spread sub-keys.\n"
                  "# TYPE sluice_keys_spread_events_total counter\n"
                  "sluice_keys_spread_events_total %llu\n"
                  "# HELP sluice_keys_random_events_total Events produced with a random key: "
                  "none of their key template's components was set (keys.missing).\n"
                  "# TYPE sluice_keys_random_events_total counter\n"
                  "sluice_keys_random_events_total %llu\n",
                  (unsigned long long)atomic_load(&keys_spread),
                  (unsigned long long)atomic_load(&keys_random));
    pthread_mutex_lock(&hot_lock);
    sl_buf_printf(out,
                  "# HELP sluice_hot_keys Keys spread now (keys.hot and those detected over "
                  "keys.hot_rate).\n"
                  "# TYPE sluice_hot_keys gauge\n"
                  "sluice_hot_keys %zu\n"
                  "# HELP sluice_hot_key_spread_events_total Events spread per hot key (the first "
                  "%d), since the key became hot.\n"
                  "# TYPE sluice_hot_key_spread_events_total counter\n",
                  n_hot, SL_METRICS_HOT_KEYS);
    for (size_t i = 0; i < n_hot; i++) {
        sl_buf_puts(out, "sluice_hot_key_spread_events_total{key=\"");
        label_value(out, hot_keys[i]);
        sl_buf_printf(out, "\"} %llu\n", (unsigned long long)hot_events[i]);
    }
    pthread_mutex_unlock(&hot_lock);
    sl_buf_printf(out,
                  "# HELP sluice_dead_letter_events_total Invalid events produced to "
                  "topics.dead_letter, by delivery result.\n"
                  "# TYPE sluice_dead_letter_events_total counter\n"
                  "sluice_dead_letter_events_total{result=\"delivered\"} %llu\n"
                  "sluice_dead_letter_events_total{result=\"failed\"} %llu\n"
                  "# HELP sluice_late_deliveries_total Delivery reports of events answered "
                  "retryable delivery_pending at kafka.delivery_timeout, by result.\n"
                  "# TYPE sluice_late_deliveries_total counter\n"
                  "sluice_late_deliveries_total{result=\"delivered\"} %llu\n"
                  "sluice_late_deliveries_total{result=\"failed\"} %llu\n"
                  "# HELP sluice_inflight_bytes Bytes held by requests in flight "
                  "(limits.inflight_bytes).\n"
                  "# TYPE sluice_inflight_bytes gauge\n"
                  "sluice_inflight_bytes %lld\n",
                  (unsigned long long)atomic_load(&dead_letters[1]),
                  (unsigned long long)atomic_load(&dead_letters[0]),
                  (unsigned long long)atomic_load(&late_deliveries[1]),
                  (unsigned long long)atomic_load(&late_deliveries[0]),
                  (long long)atomic_load(&inflight_bytes));
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
    render_histogram(out, "sluice_request_duration_seconds", "Time from request to response.",
                     buckets, bounds_us, NBOUNDS, 1e6, (double)atomic_load(&latency_sum_us) / 1e6,
                     atomic_load(&latency_count));
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
    render_keys(out);
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
