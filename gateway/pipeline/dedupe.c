#include "pipeline/dedupe.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/siphash.h"
#include "core/timefmt.h"
#include "metrics/metrics.h"

#define MAX_ENTRIES ((size_t)1 << 30)
#define MAX_STRIPES 64
/* Fewer, larger stripes for small tables: "oldest first" is exact within a stripe. */
#define MIN_STRIPE_ENTRIES 1024

/* Indexes are stored plus one, so that 0 (calloc) means "none" and untouched pages stay
 * untouched. */
typedef struct {
    uint64_t h0, h1; /* the 128-bit hash of tenant NUL event_id */
    int64_t at_ms;   /* when it was recorded */
    uint32_t chain;  /* next entry of the same hash slot, plus one; 0: end */
    uint32_t live;   /* 0: a hole left by a re-recorded or forgotten id, skipped when it becomes
                        the oldest; else LIVE_ACCEPTED or LIVE_IN_FLIGHT */
} entry_t;

#define LIVE_ACCEPTED 1u
#define LIVE_IN_FLIGHT 2u

/* A ring of entries in the order they were recorded: head is the oldest, head + count - 1 (mod
 * cap) the newest, and the next one is written after it. */
typedef struct {
    alignas(64) pthread_mutex_t lock;
    entry_t *entries;
    uint32_t *slots; /* first entry of each hash slot, plus one */
    uint32_t cap, head, count, mask;
} stripe_t;

struct sl_dedupe {
    uint64_t key[2]; /* SipHash key */
    stripe_t *stripes;
    uint32_t nstripes;
    atomic_size_t entries;         /* live entries in all stripes */
    atomic_uint_fast64_t evicted;  /* live entries forgotten for room within the window */
    atomic_int_fast64_t window_ms; /* of the latest sl_dedupe_seen; 0: none yet */
};

sl_dedupe_t *sl_dedupe_new(size_t max_entries) {
    if (max_entries == 0) {
        max_entries = 1;
    }
    if (max_entries > MAX_ENTRIES) {
        max_entries = MAX_ENTRIES;
    }
    uint32_t nstripes = 1;
    while (nstripes < MAX_STRIPES && max_entries / (2 * (size_t)nstripes) >= MIN_STRIPE_ENTRIES) {
        nstripes *= 2;
    }
    sl_dedupe_t *d = calloc(1, sizeof(*d));
    stripe_t *stripes = aligned_alloc(alignof(stripe_t), nstripes * sizeof(*stripes));
    if (d == NULL || stripes == NULL) {
        abort();
    }
    memset(stripes, 0, nstripes * sizeof(*stripes));
    for (uint32_t i = 0; i < nstripes; i++) {
        stripe_t *s = &stripes[i];
        /* The remainder goes to the first stripes: max_entries in all, exactly. */
        s->cap = (uint32_t)(max_entries / nstripes + (i < max_entries % nstripes ? 1 : 0));
        /* About two slots per entry keeps chains short. */
        size_t nslots = 1;
        while (nslots < 2 * (size_t)s->cap) {
            nslots <<= 1;
        }
        s->entries = calloc(s->cap, sizeof(*s->entries));
        s->slots = calloc(nslots, sizeof(*s->slots));
        if (s->entries == NULL || s->slots == NULL) {
            abort();
        }
        s->mask = (uint32_t)(nslots - 1);
        pthread_mutex_init(&s->lock, NULL);
    }
    sl_siphash_random_key(d->key);
    d->stripes = stripes;
    d->nstripes = nstripes;
    return d;
}

void sl_dedupe_free(sl_dedupe_t *d) {
    if (d == NULL) {
        return;
    }
    for (uint32_t i = 0; i < d->nstripes; i++) {
        pthread_mutex_destroy(&d->stripes[i].lock);
        free(d->stripes[i].entries);
        free(d->stripes[i].slots);
    }
    free(d->stripes);
    free(d);
}

static void hash_id(const sl_dedupe_t *d, const char *tenant, const char *id, size_t id_len,
                    uint64_t h[2]) {
    if (tenant == NULL) {
        tenant = "";
    }
    sl_siphash_t s;
    sl_siphash_init(&s, d->key);
    sl_siphash_update(&s, tenant, strlen(tenant) + 1); /* with its NUL: the separator */
    sl_siphash_update(&s, id, id_len);
    sl_siphash_final(&s, h);
}

/* The stripe of a hash: h1's bits pick the stripe, h0's the slot within it. */
static stripe_t *stripe_of(sl_dedupe_t *d, const uint64_t h[2]) {
    return &d->stripes[h[1] & (d->nstripes - 1)];
}

/* The live entry of h, plus one, or 0. Called with the stripe's lock held (as below). */
static uint32_t lookup(const stripe_t *s, const uint64_t h[2]) {
    for (uint32_t i = s->slots[h[0] & s->mask]; i != 0; i = s->entries[i - 1].chain) {
        const entry_t *e = &s->entries[i - 1];
        if (e->h0 == h[0] && e->h1 == h[1]) {
            return i;
        }
    }
    return 0;
}

/* Takes entry i (plus one) out of its hash chain: a hole until it is the oldest. */
static void unlink_entry(sl_dedupe_t *d, stripe_t *s, uint32_t i) {
    entry_t *e = &s->entries[i - 1];
    uint32_t *link = &s->slots[e->h0 & s->mask];
    while (*link != i) {
        link = &s->entries[*link - 1].chain;
    }
    *link = e->chain;
    e->chain = 0;
    e->live = 0;
    atomic_fetch_sub_explicit(&d->entries, 1, memory_order_relaxed);
}

/* Drops the oldest entry of s (s->count > 0). */
static void pop_oldest(sl_dedupe_t *d, stripe_t *s) {
    if (s->entries[s->head].live) {
        unlink_entry(d, s, s->head + 1);
    }
    s->head = s->head + 1 == s->cap ? 0 : s->head + 1;
    s->count--;
}

/* Forgets the oldest entries while they are holes or older than window_ms (> 0). Entries are in
 * the order they were recorded, so the first younger one ends it. */
static void expire(sl_dedupe_t *d, stripe_t *s, int64_t now_ms, int64_t window_ms) {
    while (s->count > 0) {
        const entry_t *e = &s->entries[s->head];
        if (e->live && (window_ms <= 0 || now_ms - e->at_ms < window_ms)) {
            break;
        }
        pop_oldest(d, s);
    }
}

/* The state of h's live entry recorded less than window_ms before now_ms (SL_DEDUPE_NEW when
 * none). Called with the stripe's lock held. */
static sl_dedupe_state_t state_of(const stripe_t *s, const uint64_t h[2], int64_t now_ms,
                                  int64_t window_ms) {
    uint32_t i = lookup(s, h);
    if (i == 0 || now_ms - s->entries[i - 1].at_ms >= window_ms) {
        return SL_DEDUPE_NEW;
    }
    return s->entries[i - 1].live == LIVE_IN_FLIGHT ? SL_DEDUPE_IN_FLIGHT : SL_DEDUPE_ACCEPTED;
}

/* Records h at now_ms as live (LIVE_ACCEPTED or LIVE_IN_FLIGHT), the newest entry of s. Called
 * with the stripe's lock held. */
static void insert(sl_dedupe_t *d, stripe_t *s, const uint64_t h[2], int64_t now_ms,
                   uint32_t live) {
    uint32_t old = lookup(s, h);
    if (old != 0) {
        /* Recorded again (accepted after being in flight, or its window was over): it moves
         * to the newest end, leaving a hole where it was. */
        unlink_entry(d, s, old);
    }
    if (s->count == s->cap) {
        if (s->entries[s->head].live) {
            atomic_fetch_add_explicit(&d->evicted, 1, memory_order_relaxed);
        }
        pop_oldest(d, s);
    }
    uint32_t pos = s->head + s->count;
    if (pos >= s->cap) {
        pos -= s->cap;
    }
    uint32_t *slot = &s->slots[h[0] & s->mask];
    s->entries[pos] =
        (entry_t){.h0 = h[0], .h1 = h[1], .at_ms = now_ms, .chain = *slot, .live = live};
    *slot = pos + 1;
    s->count++;
    atomic_fetch_add_explicit(&d->entries, 1, memory_order_relaxed);
}

/* Locks the stripe of tenant NUL id, forgetting its expired entries in passing (window_ms > 0);
 * h receives the id's hash. */
static stripe_t *lock_stripe(sl_dedupe_t *d, const char *tenant, const char *id, size_t id_len,
                             int64_t now_ms, int64_t window_ms, uint64_t h[2]) {
    hash_id(d, tenant, id, id_len, h);
    stripe_t *s = stripe_of(d, h);
    pthread_mutex_lock(&s->lock);
    if (window_ms > 0) {
        expire(d, s, now_ms, window_ms);
    }
    return s;
}

/* sl_dedupe_seen, and with claim an id found new is recorded in flight in the same step. */
static sl_dedupe_state_t look_up(sl_dedupe_t *d, const char *tenant, const char *id, size_t id_len,
                                 int64_t now_ms, int64_t window_ms, bool claim) {
    if (window_ms <= 0) {
        return SL_DEDUPE_NEW;
    }
    atomic_store_explicit(&d->window_ms, window_ms, memory_order_relaxed);
    uint64_t h[2];
    stripe_t *s = lock_stripe(d, tenant, id, id_len, now_ms, window_ms, h);
    sl_dedupe_state_t st = state_of(s, h, now_ms, window_ms);
    if (claim && st == SL_DEDUPE_NEW) {
        insert(d, s, h, now_ms, LIVE_IN_FLIGHT);
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

sl_dedupe_state_t sl_dedupe_seen(sl_dedupe_t *d, const char *tenant, const char *id, size_t id_len,
                                 int64_t now_ms, int64_t window_ms) {
    return look_up(d, tenant, id, id_len, now_ms, window_ms, false);
}

sl_dedupe_state_t sl_dedupe_claim(sl_dedupe_t *d, const char *tenant, const char *id, size_t id_len,
                                  int64_t now_ms, int64_t window_ms) {
    return look_up(d, tenant, id, id_len, now_ms, window_ms, true);
}

void sl_dedupe_record(sl_dedupe_t *d, const char *tenant, const char *id, size_t id_len,
                      int64_t now_ms) {
    uint64_t h[2];
    int64_t window_ms = atomic_load_explicit(&d->window_ms, memory_order_relaxed);
    stripe_t *s = lock_stripe(d, tenant, id, id_len, now_ms, window_ms, h);
    insert(d, s, h, now_ms, LIVE_ACCEPTED);
    pthread_mutex_unlock(&s->lock);
}

void sl_dedupe_forget(sl_dedupe_t *d, const char *tenant, const char *id, size_t id_len) {
    uint64_t h[2];
    stripe_t *s = lock_stripe(d, tenant, id, id_len, 0, 0, h);
    uint32_t i = lookup(s, h);
    if (i != 0 && s->entries[i - 1].live == LIVE_IN_FLIGHT) {
        unlink_entry(d, s, i);
    }
    pthread_mutex_unlock(&s->lock);
}

size_t sl_dedupe_entries(sl_dedupe_t *d) {
    return atomic_load_explicit(&d->entries, memory_order_relaxed);
}

uint64_t sl_dedupe_evictions(sl_dedupe_t *d) {
    return atomic_load_explicit(&d->evicted, memory_order_relaxed);
}

/* ------------------------------------------------------------------------------ the stage -- */

static int64_t mono_ms(void) {
    return (int64_t)(sl_time_mono_ns() / 1000000);
}

/* FNV-1a: for the batch's own small table, whose keys come from one request. */
static uint32_t fnv1a(const char *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    }
    return h;
}

/* Whether ev's id is already in the batch's table (events[slot - 1]), else adds it. */
static bool repeat_in_batch(sl_request_t *req, uint32_t *slots, uint32_t mask, uint32_t index) {
    const sl_event_t *ev = &req->events[index];
    uint32_t k = fnv1a(ev->event_id, ev->event_id_len) & mask;
    for (; slots[k] != 0; k = (k + 1) & mask) {
        const sl_event_t *o = &req->events[slots[k] - 1];
        if (o->event_id_len == ev->event_id_len &&
            memcmp(o->event_id, ev->event_id, ev->event_id_len) == 0) {
            return true;
        }
    }
    slots[k] = index + 1;
    return false;
}

static void mark_duplicate(sl_event_t *ev, const char *message) {
    ev->outcome = SL_OUT_DUPLICATE;
    ev->code = "duplicate_event_id";
    ev->message = message;
}

/* Whether dedupe applies to req's events: batches (events, beacon) while dedupe.window > 0.
 * Erasure records carry the subject, not an event id. */
static bool applies(const sl_dedupe_t *d, const sl_request_t *req) {
    return d != NULL && req->cfg->dedupe.window_ms > 0 &&
           (req->route == SL_ROUTE_EVENTS || req->route == SL_ROUTE_BEACON);
}

sl_status_t sl_dedupe_stage(sl_dedupe_t *d, sl_request_t *req) {
    if (!applies(d, req) || req->n_events == 0) {
        return SL_OK;
    }
    int64_t window_ms = req->cfg->dedupe.window_ms;
    const char *tenant = req->principal.tenant != NULL ? req->principal.tenant : "";
    int64_t now_ms = mono_ms();
    /* The batch's ids so far, open addressing at most half full (the batch size was checked
     * against limits.max_events_per_batch before the events were allocated). */
    size_t nslots = 1;
    while (nslots < 2 * req->n_events) {
        nslots <<= 1;
    }
    uint32_t *slots = sl_arena_calloc(req->arena, nslots * sizeof(*slots));
    for (size_t i = 0; i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        if (ev->outcome != SL_OUT_PENDING || ev->event_id == NULL) {
            continue;
        }
        if (repeat_in_batch(req, slots, (uint32_t)(nslots - 1), (uint32_t)i)) {
            mark_duplicate(ev, "event_id appears earlier in the same batch; not produced "
                               "twice");
            continue;
        }
        switch (sl_dedupe_claim(d, tenant, ev->event_id, ev->event_id_len, now_ms, window_ms)) {
        case SL_DEDUPE_NEW:
            ev->claimed = true;
            break;
        case SL_DEDUPE_ACCEPTED:
            mark_duplicate(ev, "event_id was already accepted within dedupe.window; not "
                               "produced again");
            break;
        case SL_DEDUPE_IN_FLIGHT:
            ev->outcome = SL_OUT_RETRYABLE;
            ev->code = "in_flight";
            ev->message = "an earlier copy of this event_id is still being delivered to Kafka; "
                          "send it again after Retry-After (it is then answered duplicate once "
                          "that copy is acknowledged)";
            break;
        }
    }
    sl_metrics_dedupe(sl_dedupe_entries(d), sl_dedupe_evictions(d));
    return SL_OK;
}

void sl_dedupe_settled(sl_dedupe_t *d, sl_event_t *ev, bool acknowledged) {
    const sl_request_t *req = ev->req;
    if (!ev->claimed || !applies(d, req)) {
        return;
    }
    ev->claimed = false;
    const char *tenant = req->principal.tenant != NULL ? req->principal.tenant : "";
    if (acknowledged) {
        sl_dedupe_record(d, tenant, ev->event_id, ev->event_id_len, mono_ms());
    } else {
        sl_dedupe_forget(d, tenant, ev->event_id, ev->event_id_len);
    }
    sl_metrics_dedupe(sl_dedupe_entries(d), sl_dedupe_evictions(d));
}
