/* pipeline/key: the key stage. Each event's message key from its template (config/keytpl.h:
 * keys.types for its type, else keys.<stage>), each field component redacted by the privacy
 * policy like the field; then hot keys spread over sub-keys. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "config/keytpl.h"
#include "contracts/contracts.h"
#include "core/siphash.h"
#include "core/timefmt.h"
#include "metrics/metrics.h"
#include "pipeline/hotkeys.h"
#include "pipeline/pipeline.h"

/* The JSON node at a component's path in the event, or -1: "user_id" or "properties.a.b". */
static int64_t component_node(const sl_request_t *req, const sl_event_t *ev, const char *path) {
    const char *seg = path;
    int64_t node = ev->node;
    while (node >= 0) {
        size_t n = strcspn(seg, ".");
        char name[128];
        if (n >= sizeof(name) || req->doc.nodes[node].type != SL_JSON_OBJECT) {
            return -1;
        }
        memcpy(name, seg, n);
        name[n] = '\0';
        node = sl_doc_field(&req->doc, (uint32_t)node, name);
        if (seg[n] == '\0') {
            return node;
        }
        seg += n + 1;
    }
    return -1;
}

/* Appends the value of one alternative to key; false when the event does not have it (or the
 * policy drops that field). */
static bool append_alt(const sl_request_t *req, const sl_event_t *ev, const sl_kt_alt_t *alt,
                       sl_buf_t *key) {
    switch (alt->kind) {
    case SL_KT_LITERAL:
        sl_buf_append(key, alt->text, alt->len);
        return true;
    case SL_KT_TENANT: {
        const char *t = req->principal.tenant != NULL ? req->principal.tenant : "";
        sl_buf_puts(key, t);
        return t[0] != '\0';
    }
    case SL_KT_STAGE:
        sl_buf_puts(key,
                    sl_ct_stage_name(ev->contract != NULL ? ev->contract->stage : SL_STAGE_RAW));
        return true;
    case SL_KT_TYPE:
        sl_buf_append(key, ev->type, ev->type_len);
        return true;
    case SL_KT_FIELD:
        break;
    }
    int64_t v = component_node(req, ev, alt->text);
    if (v < 0) {
        return false;
    }
    const sl_json_node_t *nd = &req->doc.nodes[v];
    const char *raw;
    size_t raw_len;
    if (nd->type == SL_JSON_STRING && nd->len > 0) {
        sl_json_str(&req->doc, (uint32_t)v, req->arena, &raw, &raw_len);
    } else if (nd->type == SL_JSON_NUMBER && (nd->flags & SL_JSON_F_INTEGER)) {
        raw = req->doc.src + nd->start;
        raw_len = nd->len;
    } else {
        return false;
    }
    size_t mark = key->len;
    if (!sl_privacy_key(req, ev, alt->text, raw, raw_len, key)) {
        key->len = mark;
        return false;
    }
    return key->len > mark;
}

/* Builds ev's key from t into key; false when a group has no usable alternative (its index in
 * *failed). */
static bool build_key(const sl_request_t *req, const sl_event_t *ev, const sl_keytpl_t *t,
                      sl_buf_t *key, size_t *failed) {
    for (size_t p = 0; p < t->n_parts; p++) {
        bool ok = false;
        for (size_t a = 0; a < t->parts[p].n_alts && !ok; a++) {
            size_t mark = key->len;
            ok = append_alt(req, ev, &t->parts[p].alts[a], key);
            if (!ok) {
                key->len = mark;
            }
        }
        if (!ok) {
            *failed = p;
            return false;
        }
    }
    return true;
}

/* A group of t as written, for messages: "{user_id|anonymous_id|device_id}". */
static void group_text(const sl_kt_part_t *part, char *out, size_t n) {
    size_t o = (size_t)snprintf(out, n, "{");
    for (size_t a = 0; a < part->n_alts && o < n; a++) {
        o += (size_t)snprintf(out + o, n - o, "%s%s", a > 0 ? "|" : "", part->alts[a].text);
    }
    if (o < n) {
        snprintf(out + o, n - o, "}");
    }
}

static uint64_t spread_hash(const sl_event_t *ev) {
    static const uint64_t k[2] = {0x736c756963652d68ULL, 0x6f746b6579737072ULL};
    uint64_t h[2];
    sl_siphash128(k, ev->event_id, ev->event_id_len, h);
    return h[0];
}

/* Publishes the hot keys to metrics at most once a second. */
static void publish_hot(sl_hotkeys_t *hot, int64_t now_ms) {
    static atomic_int_fast64_t last_s;
    int_fast64_t s = now_ms / 1000, prev = atomic_load_explicit(&last_s, memory_order_relaxed);
    if (s == prev || !atomic_compare_exchange_strong(&last_s, &prev, s)) {
        return;
    }
    sl_hotkey_stat_t stats[SL_METRICS_HOT_KEYS];
    size_t n = sl_hotkeys_list(hot, now_ms, stats, SL_METRICS_HOT_KEYS);
    const char *keys[SL_METRICS_HOT_KEYS];
    uint64_t events[SL_METRICS_HOT_KEYS];
    for (size_t i = 0; i < n; i++) {
        keys[i] = stats[i].key;
        events[i] = stats[i].spread_events;
    }
    sl_metrics_hot_keys(keys, events, n);
}

sl_status_t sl_key_stage(struct sl_hotkeys *hot, sl_request_t *req) {
    const sl_config_t *cfg = req->cfg;
    const sl_keying_t *keying = cfg->keying;
    bool reject = strcmp(cfg->keys.missing, "reject") == 0;
    bool detect = hot != NULL && cfg->keys.hot_rate > 0;
    bool listing = hot != NULL && keying->n_hot > 0;
    int64_t now_ms = (int64_t)(sl_time_mono_ns() / 1000000);
    uint64_t n_spread = 0, n_random = 0;
    for (size_t i = 0; i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        if (ev->outcome != SL_OUT_PENDING) {
            continue;
        }
        int stage = ev->contract != NULL ? (int)ev->contract->stage : SL_STAGE_RAW;
        const sl_keytpl_t *t = sl_keying_for(keying, stage, ev->type, ev->type_len);
        if (t->n_parts == 0) {
            continue; /* the empty template: no key */
        }
        sl_buf_t key;
        sl_buf_init(&key, req->arena, 64);
        size_t failed = 0;
        if (!build_key(req, ev, t, &key, &failed)) {
            char groups[200];
            group_text(&t->parts[failed], groups, sizeof(groups));
            if (reject) {
                char msg[320];
                snprintf(msg, sizeof(msg),
                         "none of %s is set, and the message key needs it (%s, keys.missing "
                         "is reject)",
                         groups, t->source);
                ev->outcome = SL_OUT_INVALID;
                ev->code = "key_missing";
                ev->message = sl_arena_strndup(req->arena, msg, strlen(msg));
                continue;
            }
            /* Drawn from the event_id: evenly spread, and a retry lands where the first try
             * did. */
            key.len = 0;
            const char *tenant = req->principal.tenant != NULL ? req->principal.tenant : "";
            sl_buf_puts(&key, tenant);
            sl_buf_puts(&key, ":~");
            sl_buf_append(&key, ev->event_id, ev->event_id_len);
            ev->key_random = true;
            n_random++;
        }
        ev->key = key.data;
        ev->key_len = key.len;
        bool listed = keying->n_hot > 0 && sl_keying_is_hot(keying, key.data, key.len);
        bool spread = listed;
        if (detect || (listed && hot != NULL)) {
            /* Listed keys are counted too, so the metrics show every key spread. */
            spread = sl_hotkeys_observe(hot, key.data, key.len, cfg->keys.hot_rate,
                                        cfg->keys.hot_hold_ms, listed, now_ms) ||
                     listed;
        }
        if (spread) {
            uint32_t n = (uint32_t)cfg->keys.hot_spread;
            uint32_t idx = (uint32_t)(spread_hash(ev) % n);
            sl_buf_t sub;
            sl_buf_init(&sub, req->arena, key.len + 8);
            sl_buf_append(&sub, key.data, key.len);
            sl_buf_printf(&sub, "#%u", idx);
            ev->original_key = key.data;
            ev->original_key_len = key.len;
            ev->key = sub.data;
            ev->key_len = sub.len;
            ev->spread_index = idx;
            ev->spread_n = n;
            n_spread++;
        }
    }
    if (n_spread > 0 || n_random > 0) {
        sl_metrics_keys(n_spread, n_random);
    }
    if (detect || listing) {
        publish_hot(hot, now_ms);
    }
    return SL_OK;
}
