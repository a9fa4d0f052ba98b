#include "pipeline/hotkeys.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/siphash.h"

#define PROBES 8

typedef struct {
    uint64_t hash; /* 0: empty */
    int64_t second;
    uint32_t count;
    int64_t hot_until_ms;
    uint64_t spread_events;
    uint8_t key_len;
    char key[127];
} slot_t;

struct sl_hotkeys {
    pthread_mutex_t lock;
    uint64_t sipkey[2];
    size_t n; /* a power of two */
    slot_t *slots;
};

sl_hotkeys_t *sl_hotkeys_new(size_t slots) {
    sl_hotkeys_t *h = calloc(1, sizeof(*h));
    size_t n = 64;
    while (n < slots) {
        n *= 2;
    }
    if (h == NULL || (h->slots = calloc(n, sizeof(slot_t))) == NULL) {
        abort();
    }
    h->n = n;
    pthread_mutex_init(&h->lock, NULL);
    sl_siphash_random_key(h->sipkey);
    return h;
}

void sl_hotkeys_free(sl_hotkeys_t *h) {
    if (h == NULL) {
        return;
    }
    pthread_mutex_destroy(&h->lock);
    free(h->slots);
    free(h);
}

static bool is_hot(const slot_t *s, int64_t now_ms) {
    return s->hot_until_ms > now_ms;
}

/* Whether a is a better slot to give a new key than b: an empty one, then a key not hot, then
 * the one counted longest ago, then the one counted least. */
static bool better_victim(const slot_t *a, const slot_t *b, int64_t now_ms) {
    int ra = a->hash == 0 ? 0 : is_hot(a, now_ms) ? 2 : 1;
    int rb = b->hash == 0 ? 0 : is_hot(b, now_ms) ? 2 : 1;
    if (ra != rb) {
        return ra < rb;
    }
    return a->second != b->second ? a->second < b->second : a->count < b->count;
}

bool sl_hotkeys_observe(sl_hotkeys_t *h, const char *key, size_t len, int64_t rate, int64_t hold_ms,
                        bool listed, int64_t now_ms) {
    uint64_t out[2];
    sl_siphash128(h->sipkey, key, len, out);
    uint64_t hash = out[0] | 1;
    int64_t second = now_ms / 1000;
    pthread_mutex_lock(&h->lock);
    slot_t *found = NULL, *victim = NULL;
    for (size_t i = 0; i < PROBES && found == NULL; i++) {
        slot_t *s = &h->slots[(out[1] + i) & (h->n - 1)];
        if (s->hash == hash) {
            found = s;
        } else if (victim == NULL || better_victim(s, victim, now_ms)) {
            victim = s;
        }
    }
    if (found == NULL) {
        if (is_hot(victim, now_ms)) {
            pthread_mutex_unlock(&h->lock);
            return false; /* every probed slot holds a hot key: this one is not tracked */
        }
        found = victim;
        memset(found, 0, sizeof(*found));
        found->hash = hash;
        found->second = second;
        found->key_len = (uint8_t)(len < sizeof(found->key) ? len : sizeof(found->key));
        memcpy(found->key, key, found->key_len);
    }
    if (found->second != second) {
        found->second = second;
        found->count = 0;
    }
    found->count++;
    if (listed || (rate > 0 && (int64_t)found->count > rate)) {
        found->hot_until_ms = now_ms + hold_ms;
    }
    bool hot = is_hot(found, now_ms);
    found->spread_events += hot;
    pthread_mutex_unlock(&h->lock);
    return hot;
}

size_t sl_hotkeys_list(sl_hotkeys_t *h, int64_t now_ms, sl_hotkey_stat_t *out, size_t max) {
    size_t k = 0;
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->n && k < max; i++) {
        const slot_t *s = &h->slots[i];
        if (s->hash != 0 && is_hot(s, now_ms)) {
            memcpy(out[k].key, s->key, s->key_len);
            out[k].key[s->key_len] = '\0';
            out[k].spread_events = s->spread_events;
            k++;
        }
    }
    pthread_mutex_unlock(&h->lock);
    return k;
}
