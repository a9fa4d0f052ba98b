/* pipeline/hotkeys over simulated time (now_ms passed in): a key over the rate is hot for
 * hold_ms after the last second it was over; cold keys filling the table do not push a hot one
 * out; sl_hotkeys_list reports the hot keys with the events each had spread. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/hotkeys.h"

#define T0 INT64_C(1000000000) /* a second boundary */
#define RATE 10
#define HOLD INT64_C(5000)

static bool observe(sl_hotkeys_t *h, const char *key, int64_t now) {
    return sl_hotkeys_observe(h, key, strlen(key), RATE, HOLD, false, now);
}

/* n events of key at now (all in one second); returns how many were answered hot. */
static int burst(sl_hotkeys_t *h, const char *key, int n, int64_t now) {
    int hot = 0;
    for (int i = 0; i < n; i++) {
        hot += observe(h, key, now);
    }
    return hot;
}

static const sl_hotkey_stat_t *find(const sl_hotkey_stat_t *list, size_t n, const char *key) {
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].key, key) == 0) {
            return &list[i];
        }
    }
    return NULL;
}

Test(hotkeys, at_or_under_the_rate_is_never_hot) {
    sl_hotkeys_t *h = sl_hotkeys_new(64);
    /* RATE events in every second for a minute: never over it. */
    for (int s = 0; s < 60; s++) {
        cr_assert(eq(int, burst(h, "acme:u1", RATE, T0 + s * 1000 + 500), 0), "second %d", s);
    }
    sl_hotkey_stat_t list[8];
    cr_assert(eq(sz, sl_hotkeys_list(h, T0 + 60000, list, 8), 0));
    sl_hotkeys_free(h);
}

Test(hotkeys, the_count_restarts_every_second) {
    sl_hotkeys_t *h = sl_hotkeys_new(64);
    /* RATE in the last ms of one second and RATE in the first of the next: 2*RATE within
     * 2 ms, but never more than RATE in one second. */
    cr_assert(eq(int, burst(h, "acme:u1", RATE, T0 + 999), 0));
    cr_assert(eq(int, burst(h, "acme:u1", RATE, T0 + 1000), 0));
    sl_hotkeys_free(h);
}

Test(hotkeys, over_the_rate_hot_for_hold_after_the_last_second_over) {
    sl_hotkeys_t *h = sl_hotkeys_new(64);
    int64_t t = T0 + 200;
    /* The (RATE+1)th event of the second is the first one answered hot. */
    for (int i = 0; i < RATE; i++) {
        cr_assert(not(observe(h, "acme:u1", t)), "event %d", i);
    }
    cr_assert(observe(h, "acme:u1", t), "event %d is over the rate", RATE + 1);
    int64_t last_over = t;
    /* Over again two seconds later: the hold counts from then. */
    t = T0 + 2000 + 300;
    cr_assert(eq(int, burst(h, "acme:u1", RATE + 5, t), RATE + 5),
              "hot from the first event: still within the hold");
    last_over = t;
    /* A trickle (one event a second, under the rate) stays hot until the hold is over ... */
    for (int64_t at = t + 1000; at < last_over + HOLD; at += 1000) {
        cr_assert(observe(h, "acme:u1", at), "%lld ms after the last second over",
                  (long long)(at - last_over));
    }
    cr_assert(observe(h, "acme:u1", last_over + HOLD - 1));
    /* ... and not after. */
    cr_assert(not(observe(h, "acme:u1", last_over + HOLD)));
    cr_assert(not(observe(h, "acme:u1", last_over + HOLD + 1000)));
    sl_hotkey_stat_t list[4];
    cr_assert(eq(sz, sl_hotkeys_list(h, last_over + HOLD + 1000, list, 4), 0));
    sl_hotkeys_free(h);
}

Test(hotkeys, keys_are_counted_apart) {
    sl_hotkeys_t *h = sl_hotkeys_new(64);
    cr_assert(eq(int, burst(h, "acme:u1", RATE + 1, T0), 1));
    cr_assert(eq(int, burst(h, "acme:u2", RATE, T0), 0), "u1's events do not count for u2");
    cr_assert(not(observe(h, "acme:u", T0)));
    cr_assert(not(observe(h, "acme:u10", T0)));
    cr_assert(observe(h, "acme:u1", T0 + 1500));
    cr_assert(not(observe(h, "acme:u2", T0 + 1500)));
    sl_hotkeys_free(h);
}

Test(hotkeys, list_reports_hot_keys_with_their_spread_events) {
    sl_hotkeys_t *h = sl_hotkeys_new(64);
    cr_assert(eq(int, burst(h, "acme:hot-a", RATE + 7, T0), 7));
    cr_assert(eq(int, burst(h, "acme:hot-b", RATE + 2, T0 + 10), 2));
    cr_assert(eq(int, burst(h, "acme:cold", RATE, T0 + 20), 0));
    /* Spread events go on counting while the key is held hot. */
    cr_assert(eq(int, burst(h, "acme:hot-a", 3, T0 + 1500), 3));
    sl_hotkey_stat_t list[8];
    size_t n = sl_hotkeys_list(h, T0 + 2000, list, 8);
    cr_assert(eq(sz, n, 2), "only the hot keys are listed");
    const sl_hotkey_stat_t *a = find(list, n, "acme:hot-a");
    const sl_hotkey_stat_t *b = find(list, n, "acme:hot-b");
    cr_assert(a != NULL && b != NULL);
    cr_assert(eq(u64, a->spread_events, 10));
    cr_assert(eq(u64, b->spread_events, 2));
    /* max bounds what is written. */
    cr_assert(eq(sz, sl_hotkeys_list(h, T0 + 2000, list, 1), 1));
    /* Once the hold is over neither is listed. */
    cr_assert(eq(sz, sl_hotkeys_list(h, T0 + 1500 + HOLD + 1, list, 8), 0));
    sl_hotkeys_free(h);
}

Test(hotkeys, long_keys_listed_truncated_to_127_bytes) {
    sl_hotkeys_t *h = sl_hotkeys_new(64);
    char key[300];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    cr_assert(eq(int, burst(h, key, RATE + 1, T0), 1));
    /* A key sharing the first 127 bytes is another key. */
    key[200] = 'x';
    cr_assert(eq(int, burst(h, key, RATE, T0), 0));
    sl_hotkey_stat_t list[4];
    cr_assert(eq(sz, sl_hotkeys_list(h, T0, list, 4), 1));
    cr_assert(eq(sz, strlen(list[0].key), 127));
    sl_hotkeys_free(h);
}

Test(hotkeys, cold_keys_filling_the_table_do_not_evict_a_hot_key) {
    /* 64 slots (the smallest table); 50000 distinct cold keys, each seen twice, go through it
     * while one key stays over the rate. */
    sl_hotkeys_t *h = sl_hotkeys_new(64);
    int64_t t = T0;
    cr_assert(eq(int, burst(h, "acme:hot", RATE + 1, t), 1));
    char cold[64];
    for (int i = 0; i < 50000; i++) {
        int64_t at = t + (i / 5000) * 1000; /* ten seconds of traffic */
        snprintf(cold, sizeof(cold), "acme:cold-%d", i);
        cr_assert(not(observe(h, cold, at)), "%s", cold);
        cr_assert(not(observe(h, cold, at)), "%s", cold);
        if (i % 5000 == 0) {
            /* The hot key stays over the rate every second. */
            cr_assert(eq(int, burst(h, "acme:hot", RATE + 1, at), RATE + 1),
                      "the hot key lost its slot after %d cold keys", i);
        }
    }
    sl_hotkey_stat_t list[8];
    size_t n = sl_hotkeys_list(h, t + 9000, list, 8);
    cr_assert(eq(sz, n, 1));
    cr_assert(eq(str, list[0].key, "acme:hot"));
    cr_assert(eq(u64, list[0].spread_events, 1 + 10 * (RATE + 1)));
    sl_hotkeys_free(h);
}

Test(hotkeys, a_cold_key_still_becomes_hot_in_a_busy_table) {
    sl_hotkeys_t *h = sl_hotkeys_new(64);
    char key[64];
    /* The table full of keys seen once. */
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "acme:once-%d", i);
        cr_assert(not(observe(h, key, T0)));
    }
    cr_assert(eq(int, burst(h, "acme:late", RATE + 1, T0 + 1000), 1),
              "a new key over the rate is detected whatever the table held");
    sl_hotkeys_free(h);
}

Test(hotkeys, table_of_hot_keys_leaves_new_keys_untracked_not_evicting) {
    /* Every slot hot: a new key is not tracked (never hot) and the hot ones stay hot. */
    sl_hotkeys_t *h = sl_hotkeys_new(64);
    char key[64];
    int hot_keys = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "acme:h-%d", i);
        hot_keys += burst(h, key, RATE + 1, T0) == 1;
    }
    cr_assert(eq(int, hot_keys, 64), "one hot key per slot, the others untracked (%d)", hot_keys);
    sl_hotkey_stat_t list[128];
    size_t n = sl_hotkeys_list(h, T0 + 1, list, 128);
    cr_assert(eq(sz, n, 64), "the table holds 64 keys");
    /* The listed ones are still hot a second later. */
    for (size_t i = 0; i < n; i++) {
        cr_assert(observe(h, list[i].key, T0 + 1000), "%s", list[i].key);
    }
    sl_hotkeys_free(h);
}
