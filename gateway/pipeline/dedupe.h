/* pipeline/dedupe: event ids accepted lately, per tenant, so that a repeat is answered
 * `duplicate` instead of being produced again (dedupe.window, dedupe.max_entries).
 *
 * The table is allocated once, at sl_dedupe_new, and never grows: it holds at most max_entries
 * ids, and when it is full the oldest recorded ids are forgotten first. A repeat of an id
 * forgotten that way, or older than the window, is not caught: it passes (and is produced) again.
 * Ids are not stored: each is identified by a 128-bit keyed hash (SipHash-2-4, random key per
 * table) of tenant NUL event_id, so two ids are confused only on a 128-bit collision a client
 * cannot aim for, and the tenants' id spaces are separate (a tenant, a C string, has no NUL).
 *
 * An id is claimed "in flight" when its event is about to be produced, and settled by its
 * delivery report (sl_dedupe_settled): acknowledged, it is recorded as accepted; failed, it is
 * forgotten, so the attempt can be sent again. A repeat that comes while the first copy is in
 * flight -- a client retrying a request that was answered at kafka.delivery_timeout while
 * librdkafka still delivers it -- is answered retryable `in_flight` and not produced: that is
 * what keeps a stalled broker from getting two copies. The table is in memory and per process:
 * a repeat that reaches another replica, or this one after a restart, passes.
 *
 * Threads: the I/O threads look ids up while the sink's poll thread records them. The table is
 * split into up to 64 stripes by hash, each with its own lock and an equal share of max_entries,
 * so they rarely wait for each other. "Oldest first" holds within a stripe (exactly, for the whole
 * table, below 2048 entries, where there is a single stripe); and as stripes fill unevenly, one
 * may start forgetting a little (a few percent) before the table as a whole holds max_entries. Time
 * is passed in by the caller (milliseconds of a clock that does not jump, e.g. CLOCK_MONOTONIC),
 * which keeps the module testable. */
#ifndef SL_PIPELINE_DEDUPE_H
#define SL_PIPELINE_DEDUPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/request.h"

typedef struct sl_dedupe sl_dedupe_t;

/* A table of at most max_entries ids (0 is taken as 1; capped at 2^30), about 40 bytes each (at
 * most 48), reserved now and touched as it fills. Free with sl_dedupe_free. Allocation failure
 * aborts. */
sl_dedupe_t *sl_dedupe_new(size_t max_entries);

/* Frees d (NULL is ignored). No call may be running on d. */
void sl_dedupe_free(sl_dedupe_t *d);

/* What the table holds for an id. */
typedef enum {
    SL_DEDUPE_NEW = 0,   /* nothing within the window */
    SL_DEDUPE_ACCEPTED,  /* acknowledged by Kafka */
    SL_DEDUPE_IN_FLIGHT, /* claimed, its delivery report not in yet */
} sl_dedupe_state_t;

/* What is recorded for id (id_len bytes) of tenant (a C string; NULL is "") less than window_ms
 * before now_ms. window_ms <= 0 gives SL_DEDUPE_NEW. An id recorded "after" now_ms (another
 * thread read the clock later) counts. Entries older than window_ms are forgotten in passing,
 * and window_ms is remembered for sl_dedupe_record's eviction count. Borrows its arguments for
 * the call; thread-safe; never allocates. */
sl_dedupe_state_t sl_dedupe_seen(sl_dedupe_t *d, const char *tenant, const char *id, size_t id_len,
                                 int64_t now_ms, int64_t window_ms);

/* As sl_dedupe_seen, and when it would give SL_DEDUPE_NEW records the id in flight at now_ms,
 * in the same step: of two requests claiming one id at once, exactly one gets SL_DEDUPE_NEW. */
sl_dedupe_state_t sl_dedupe_claim(sl_dedupe_t *d, const char *tenant, const char *id, size_t id_len,
                                  int64_t now_ms, int64_t window_ms);

/* Forgets id of tenant if it is in flight (an accepted one stays). Thread-safe. */
void sl_dedupe_forget(sl_dedupe_t *d, const char *tenant, const char *id, size_t id_len);

/* Records id of tenant as accepted at now_ms. An id already there is moved to now_ms (it is then
 * the newest). When the table is full the oldest entry is forgotten (and counted as an eviction
 * when it was younger than the window of the latest sl_dedupe_seen). Thread-safe; never
 * allocates. */
void sl_dedupe_record(sl_dedupe_t *d, const char *tenant, const char *id, size_t id_len,
                      int64_t now_ms);

/* Ids held now (at most max_entries; expired ones count until they are forgotten in passing), and
 * ids forgotten for room while still within the window since d was made. Thread-safe, lock-free:
 * for metrics. */
size_t sl_dedupe_entries(sl_dedupe_t *d);
uint64_t sl_dedupe_evictions(sl_dedupe_t *d);

/* The dedupe stage, for req (route events or beacon) with dedupe.window > 0 and d not NULL: each
 * pending event whose event_id was accepted within the window, or appears earlier in the same
 * batch, becomes SL_OUT_DUPLICATE (code duplicate_event_id), a final outcome: it is not
 * produced; one whose id is in flight becomes SL_OUT_RETRYABLE `in_flight`; the others are
 * claimed (ev->claimed), and the produce stage must settle each claimed event it does not hand
 * to the sink. Runs on the request's thread; allocates from its arena. */
sl_status_t sl_dedupe_stage(sl_dedupe_t *d, sl_request_t *req);

/* Settles ev's claim: acknowledged by Kafka, its id is recorded as accepted; else it is
 * forgotten. An event that holds no claim is left alone. d NULL does nothing. Any thread (the
 * sink's poll thread, or the request's when the event was never handed to the sink). */
void sl_dedupe_settled(sl_dedupe_t *d, sl_event_t *ev, bool acknowledged);

#endif
