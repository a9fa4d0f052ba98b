/* loadtest/lt_common: what the load driver and the produce-ceiling tool share: the synthetic
 * event (so both send the same bytes), unique ids, timestamps and CPU accounting from /proc.
 * libc only. */
#ifndef LT_COMMON_H
#define LT_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* ---- time ---- */
uint64_t lt_mono_ns(void);
int64_t lt_now_ms(void);
/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 chars + NUL). */
void lt_rfc3339(int64_t ms, char out[25]);

/* ---- random ---- */
typedef struct {
    uint64_t s;
} lt_rng_t;
uint64_t lt_rand(lt_rng_t *r);
uint32_t lt_rand_below(lt_rng_t *r, uint32_t n);

/* ---- ids ---- */
#define LT_UUID_LEN 36
/* Writes a UUID-shaped id (8-4-4-4-12 lowercase hex, version nibble 4, variant 8) that encodes
 * run (32 bits), stream (16 bits) and counter (60 bits): unique for distinct (stream, counter)
 * within a run. Not NUL-terminated. */
void lt_uuid(char out[LT_UUID_LEN], uint32_t run, uint16_t stream, uint64_t counter);

/* ---- the event ---- */
/* Number of distinct user_ids the events draw from. */
#define LT_USERS 10000

/* Writes one realistic page_view event as compact JSON (the form the gateway re-serialises
 * it to: same key order, no spaces, no floats, no escapes), ~300 bytes:
 *   event_id (UUID-like, written as zeros: patch it at *id_off), type, occurred_at (RFC 3339 ms,
 *   now minus up to 5 s), user_id (pool of LT_USERS), anonymous_id, context {user_agent, page
 *   {url, referrer}, locale}, properties {product_id, price_cents, currency, position}.
 * Returns the length (no NUL), or 0 if cap is too small. *key_off and *key_len locate the
 * user_id value inside out (the gateway's message key). */
size_t lt_event(char *out, size_t cap, lt_rng_t *r, int64_t now_ms, size_t *id_off, size_t *key_off,
                size_t *key_len);

/* ---- CPU accounting ---- */
/* utime+stime of a whole process (all threads, live and exited) in clock ticks; -1 if gone. */
long long lt_proc_ticks(int pid);
double lt_ticks_per_s(void);

/* Per-thread CPU grouped by thread name (comm), e.g. "MHD-worker", "rdk:broker1". */
#define LT_MAX_GROUPS 32
typedef struct {
    int n;
    char name[LT_MAX_GROUPS][20];
    long long ticks[LT_MAX_GROUPS];
} lt_groups_t;
void lt_thread_groups(int pid, lt_groups_t *out); /* pid 0: this process */

/* Machine-wide jiffies from /proc/stat: total and idle(+iowait). */
void lt_machine_ticks(long long *total, long long *idle);

/* Appends (after - before) of each group as a JSON object {"name":seconds,...} to out. */
int lt_groups_json(char *out, size_t cap, const lt_groups_t *before, const lt_groups_t *after);

#endif
