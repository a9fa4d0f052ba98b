/* metrics: process-wide counters and histograms, rendered as Prometheus text.
 *
 * Every function is thread-safe and lock-free (relaxed atomics); the hot path only increments. */
#ifndef SL_METRICS_METRICS_H
#define SL_METRICS_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/status.h"

/* One finished public request: its HTTP status and the time from first byte to response. */
void sl_metrics_request(int http_status, uint64_t latency_ns);
/* count events that reached outcome. */
void sl_metrics_events(sl_outcome_t outcome, uint64_t count);
/* One whole-request fault by its stable code (a static string: "bad_signature",
 * "rate_limited", ...). The first 64 distinct codes get their own series, later ones "other". */
void sl_metrics_fault(const char *code);
uint64_t sl_metrics_fault_value(const char *code);

/* One event compared against the shadow policy (policies.shadow_dir): whether its output (or
 * its consent verdict) would differ. */
void sl_metrics_policy_shadow(bool differs);

/* The dedupe table (pipeline/dedupe.h): ids held now, and ids forgotten for room before their
 * dedupe.window was over (a total since start). */
void sl_metrics_dedupe(uint64_t entries, uint64_t evictions);

/* One delivery report with an error, by librdkafka error name. */
void sl_metrics_delivery_error(void);
/* Requests waiting for delivery reports. */
void sl_metrics_inflight_add(int delta);
int64_t sl_metrics_inflight(void);
void sl_metrics_set_ready(int ready);
void sl_metrics_config_reload(int ok);

/* Keys (pipeline/hotkeys.h): events whose key was spread (keys.hot, keys.hot_rate), events
 * given a random key (keys.missing=random), and the keys hot now with the events each had
 * spread (replaces the previous list; at most SL_METRICS_HOT_KEYS are kept). */
#define SL_METRICS_HOT_KEYS 32
void sl_metrics_keys(uint64_t spread, uint64_t random);
void sl_metrics_hot_keys(const char *const *keys, const uint64_t *spread_events, size_t n);

/* Signal age at ingest: received_at - occurred_at of a produced event (negative: 0). */
void sl_metrics_signal_age(int64_t age_ms);

/* Dead-letter records (pipeline/deadletter.c) by delivery result. */
void sl_metrics_dead_letter(bool delivered);
uint64_t sl_metrics_dead_letter_value(bool delivered);

/* Delivery reports of events whose request was answered at kafka.delivery_timeout before them
 * (still in flight then), by result. */
void sl_metrics_late_delivery(bool delivered);
uint64_t sl_metrics_late_delivery_value(bool delivered);

/* Bytes held by requests in flight (limits.inflight_bytes). */
void sl_metrics_inflight_bytes(int64_t bytes);

/* Appends the whole exposition to out. */
void sl_metrics_render(sl_buf_t *out);

/* Test support: the current value of the events counter for outcome, and of requests by status. */
uint64_t sl_metrics_events_value(sl_outcome_t outcome);
uint64_t sl_metrics_requests_value(int http_status);

#endif
