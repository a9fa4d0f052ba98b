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
 * An id is recorded only once Kafka acknowledged its event (sl_dedupe_accepted, from the delivery
 * report), so an attempt that failed can be sent again; a repeat sent while the first copy still
 * waits for its delivery report is not caught. The table is in memory and per process: a repeat
 * that reaches another replica, or this one after a restart, passes.
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

/* Whether id (id_len bytes) of tenant (a C string; NULL is "") was recorded less than window_ms
 * before now_ms. window_ms <= 0 returns false. An id recorded "after" now_ms (another thread read
 * the clock later) counts as seen. Entries older than window_ms are forgotten in passing, and
 * window_ms is remembered for sl_dedupe_record's eviction count. Borrows its arguments for the
 * call; thread-safe; never allocates. */
bool sl_dedupe_seen(sl_dedupe_t *d, const char *tenant, const char *id, size_t id_len,
                    int64_t now_ms, int64_t window_ms);

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

/* The dedupe stage, for req (route events) with dedupe.window > 0 and d not NULL: each pending
 * event whose event_id is seen within the window, or appears earlier in the same batch, becomes
 * SL_OUT_DUPLICATE (code duplicate_event_id), a final outcome: it is not produced. Runs on the
 * request's thread; allocates from its arena. */
sl_status_t sl_dedupe_stage(sl_dedupe_t *d, sl_request_t *req);

/* From the delivery report of ev, acknowledged by Kafka: records its event_id for its request's
 * tenant when its request (route events) ran with dedupe.window > 0, and updates the metrics.
 * d NULL does nothing. Any thread (the sink's poll thread). */
void sl_dedupe_accepted(sl_dedupe_t *d, const sl_event_t *ev);

#endif
