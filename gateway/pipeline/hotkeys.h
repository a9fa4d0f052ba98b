/* pipeline/hotkeys: detects message keys produced faster than keys.hot_rate.
 *
 * A fixed table (reserved at creation, never grown) counts each key's events in the current
 * second. A key over the rate is hot until keys.hot_hold after the last second it was over.
 * When the table is full a new key takes the slot of the least busy of the few it may use, so
 * a hot key, counted every second, keeps its slot while cold ones come and go. Thread-safe. */
#ifndef SL_PIPELINE_HOTKEYS_H
#define SL_PIPELINE_HOTKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_hotkeys sl_hotkeys_t;

sl_hotkeys_t *sl_hotkeys_new(size_t slots);
void sl_hotkeys_free(sl_hotkeys_t *h);

/* Counts one event of key at now_ms; true when the key is hot: listed (keys.hot, counted here
 * for the metrics), over rate events in this second (rate 0: never), or within hold_ms of a
 * second it was. */
bool sl_hotkeys_observe(sl_hotkeys_t *h, const char *key, size_t len, int64_t rate, int64_t hold_ms,
                        bool listed, int64_t now_ms);

/* Keys hot at now_ms (at most max, each truncated to 127 bytes), with the events spread since
 * each was first seen hot: for metrics. Returns how many were written. */
typedef struct {
    char key[128];
    uint64_t spread_events;
} sl_hotkey_stat_t;
size_t sl_hotkeys_list(sl_hotkeys_t *h, int64_t now_ms, sl_hotkey_stat_t *out, size_t max);

#endif
