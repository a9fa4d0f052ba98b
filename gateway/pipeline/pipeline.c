#include "pipeline/pipeline.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/cache.h"
#include "auth/ratelimit.h"
#include "contracts/contracts.h"
#include "core/timefmt.h"
#include "metrics/metrics.h"
#include "pipeline/dedupe.h"
#include "pipeline/hotkeys.h"
#include "policy/policy.h"
#include "sink/suppression.h"

struct sl_pipeline {
    sl_sink_t *sink;
    atomic_bool draining;
    pthread_mutex_t lock; /* guards contracts and policy */
    sl_contracts_t *contracts;
    sl_policy_t *policy;
    sl_policy_t *shadow;
    sl_ratelimit_t *limiter;       /* limits.tenant_rate and limits.subject_rate */
    sl_token_cache_t *tokens;      /* verified tokens (auth.token_cache_entries) */
    sl_suppression_t *suppression; /* borrowed from the server; NULL: none */
    sl_dedupe_t *dedupe;           /* ids accepted lately (dedupe.max_entries) */
    sl_hotkeys_t *hot;             /* keys' event rates (keys.hot_rate) */
    atomic_int_fast64_t inflight;  /* bytes of requests admitted, not yet completed */

    /* Requests with events in flight, answered by the watch thread at kafka.delivery_timeout
     * if their delivery reports are not all in by then. */
    pthread_mutex_t watch_lock;
    pthread_cond_t watch_wake;
    sl_request_t *watching; /* a list through watch_prev/watch_next, in no order */
    bool watch_stop;
    pthread_t watch_thread;
};

static void *watch_main(void *arg);

/* The default of limits.rate_limit_keys, for a pipeline made before any config is published. */
#define RATE_LIMIT_KEYS_DEFAULT 100000

sl_pipeline_t *sl_pipeline_new(sl_sink_t *sink) {
    sl_pipeline_t *pl = calloc(1, sizeof(*pl));
    if (pl == NULL) {
        abort();
    }
    pl->sink = sink;
    pthread_mutex_init(&pl->lock, NULL);
    /* limits.rate_limit_keys is a restart key: the snapshot at start sizes the table for good. */
    sl_config_t *cfg = sl_config_acquire();
    pl->limiter = sl_ratelimit_new(cfg != NULL ? (size_t)cfg->limits.rate_limit_keys
                                               : RATE_LIMIT_KEYS_DEFAULT);
    pl->tokens = sl_token_cache_new(cfg != NULL ? (size_t)cfg->auth.token_cache_entries : 0);
    /* dedupe.max_entries, a restart key, likewise (its default when no config is published). */
    pl->dedupe = sl_dedupe_new(cfg != NULL ? (size_t)cfg->dedupe.max_entries : 1000000);
    pl->hot = sl_hotkeys_new(4096);
    sl_config_unref(cfg);
    pthread_mutex_init(&pl->watch_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pl->watch_wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&pl->watch_thread, NULL, watch_main, pl) != 0) {
        abort();
    }
    return pl;
}

void sl_pipeline_free(sl_pipeline_t *pl) {
    if (pl == NULL) {
        return;
    }
    pthread_mutex_lock(&pl->watch_lock);
    pl->watch_stop = true;
    pthread_cond_signal(&pl->watch_wake);
    pthread_mutex_unlock(&pl->watch_lock);
    pthread_join(pl->watch_thread, NULL);
    pthread_cond_destroy(&pl->watch_wake);
    pthread_mutex_destroy(&pl->watch_lock);
    sl_contracts_unref(pl->contracts);
    sl_policy_unref(pl->policy);
    sl_policy_unref(pl->shadow);
    sl_ratelimit_free(pl->limiter);
    sl_token_cache_free(pl->tokens);
    sl_dedupe_free(pl->dedupe);
    sl_hotkeys_free(pl->hot);
    pthread_mutex_destroy(&pl->lock);
    free(pl);
}

void sl_pipeline_set_contracts(sl_pipeline_t *pl, sl_contracts_t *contracts) {
    if (contracts != NULL) {
        sl_contracts_ref(contracts);
    }
    pthread_mutex_lock(&pl->lock);
    sl_contracts_t *old = pl->contracts;
    pl->contracts = contracts;
    pthread_mutex_unlock(&pl->lock);
    sl_contracts_unref(old);
}

sl_contracts_t *sl_pipeline_contracts(sl_pipeline_t *pl) {
    pthread_mutex_lock(&pl->lock);
    sl_contracts_t *c = pl->contracts != NULL ? sl_contracts_ref(pl->contracts) : NULL;
    pthread_mutex_unlock(&pl->lock);
    return c;
}

/* The active policy and the shadow candidate: one swap and one read for both slots. */
static void set_policy_slot(sl_pipeline_t *pl, sl_policy_t **slot, sl_policy_t *policy) {
    if (policy != NULL) {
        sl_policy_ref(policy);
    }
    pthread_mutex_lock(&pl->lock);
    sl_policy_t *old = *slot;
    *slot = policy;
    pthread_mutex_unlock(&pl->lock);
    sl_policy_unref(old);
}

static sl_policy_t *get_policy_slot(sl_pipeline_t *pl, sl_policy_t *const *slot) {
    pthread_mutex_lock(&pl->lock);
    sl_policy_t *p = *slot != NULL ? sl_policy_ref(*slot) : NULL;
    pthread_mutex_unlock(&pl->lock);
    return p;
}

void sl_pipeline_set_policy(sl_pipeline_t *pl, sl_policy_t *policy) {
    set_policy_slot(pl, &pl->policy, policy);
}

sl_policy_t *sl_pipeline_policy(sl_pipeline_t *pl) {
    return get_policy_slot(pl, &pl->policy);
}

void sl_pipeline_set_shadow(sl_pipeline_t *pl, sl_policy_t *policy) {
    set_policy_slot(pl, &pl->shadow, policy);
}

sl_policy_t *sl_pipeline_shadow(sl_pipeline_t *pl) {
    return get_policy_slot(pl, &pl->shadow);
}

void sl_pipeline_set_suppression(sl_pipeline_t *pl, sl_suppression_t *s) {
    pl->suppression = s;
}

sl_suppression_t *sl_pipeline_suppression(sl_pipeline_t *pl) {
    return pl != NULL ? pl->suppression : NULL;
}

sl_sink_t *sl_pipeline_sink(sl_pipeline_t *pl) {
    return pl->sink;
}

void sl_pipeline_set_draining(sl_pipeline_t *pl) {
    atomic_store(&pl->draining, true);
}

bool sl_pipeline_draining(const sl_pipeline_t *pl) {
    return atomic_load(&pl->draining);
}

bool sl_pipeline_admits(sl_pipeline_t *pl, const sl_config_t *cfg, int64_t bytes, char *why,
                        size_t why_len) {
    int64_t held = atomic_load_explicit(&pl->inflight, memory_order_relaxed);
    /* A request alone is always taken, whatever its size (limits.max_body_bytes bounds it). */
    if (held == 0 || held + bytes <= cfg->limits.inflight_bytes) {
        return true;
    }
    snprintf(why, why_len,
             "requests in flight hold %lld bytes; %lld more would go over limits.inflight_bytes "
             "(%lld): retry after Retry-After",
             (long long)held, (long long)bytes, (long long)cfg->limits.inflight_bytes);
    return false;
}

/* The request's body against limits.inflight_bytes: counted until on_complete, or refused. */
static sl_status_t stage_admit(sl_request_t *req) {
    sl_pipeline_t *pl = req->pipeline;
    if (pl == NULL) {
        return SL_OK;
    }
    int64_t need = (int64_t)req->body_len;
    int64_t held = atomic_fetch_add(&pl->inflight, need) + need;
    if (held > req->cfg->limits.inflight_bytes && held != need) {
        atomic_fetch_sub(&pl->inflight, need);
        return sl_request_fail(req, SL_FAULT_UNAVAILABLE, "overloaded",
                               "requests in flight hold %lld bytes; this one (%lld) would go over "
                               "limits.inflight_bytes (%lld): retry after Retry-After",
                               (long long)(held - need), (long long)need,
                               (long long)req->cfg->limits.inflight_bytes);
    }
    req->admitted = need;
    sl_metrics_inflight_bytes(held);
    return SL_OK;
}

/* Authorization: a token that may write nothing is refused as a whole (403). */
static sl_status_t check_can_write(sl_request_t *req) {
    if (req->route == SL_ROUTE_ERASURE) {
        if (!sl_auth_scope_has(req->principal.scope, "privacy:erasure")) {
            return sl_request_fail(req, SL_FAULT_FORBIDDEN, "scope_missing",
                                   "erasure requests need a token with the privacy:erasure "
                                   "scope");
        }
        return SL_OK;
    }
    if (!sl_auth_scope_can_write(req->principal.scope)) {
        return sl_request_fail(req, SL_FAULT_FORBIDDEN, "scope_missing",
                               "the token's scopes (%s claim) grant no write:* / write:<type> / "
                               "write:stage:<stage>",
                               req->cfg->auth.scope_claim);
    }
    return SL_OK;
}

sl_status_t sl_stage_auth(sl_request_t *req) {
    if (!req->cfg->auth.required) {
        req->principal.tenant = "default";
        req->principal.subject = "";
        return SL_OK;
    }
    if (req->bearer == NULL && req->route == SL_ROUTE_BEACON && req->doc.nodes != NULL) {
        /* A page's sendBeacon cannot set headers: the token is in the batch. */
        int64_t t = sl_json_get(&req->doc, 0, "token");
        if (t >= 0 && req->doc.nodes[t].type == SL_JSON_STRING) {
            sl_json_str(&req->doc, (uint32_t)t, req->arena, &req->bearer, &req->bearer_len);
        }
    }
    if (req->bearer == NULL) {
        return sl_request_fail(req, SL_FAULT_UNAUTHENTICATED, "token_missing",
                               req->route == SL_ROUTE_BEACON
                                   ? "send a JWT in the batch's \"token\" member (or as "
                                     "Authorization: Bearer <token>)"
                                   : "send a JWT as Authorization: Bearer <token>");
    }
    /* A token verified before (same bytes, same key ring, still valid) is not verified again:
     * RSA and ECDSA cost tens of microseconds. The ring's generation changes on every reload,
     * so a reload (new keys, other claim rules) starts from a clean slate. */
    int64_t now = (int64_t)time(NULL);
    sl_token_cache_t *cache = req->pipeline != NULL ? req->pipeline->tokens : NULL;
    uint64_t gen = req->cfg->keyring != NULL ? req->cfg->keyring->generation : 0;
    if (sl_token_cache_get(cache, req->bearer, req->bearer_len, gen, now, req->arena,
                           &req->principal)) {
        return check_can_write(req);
    }
    sl_error_t err;
    if (sl_auth_verify(req->cfg, req->bearer, req->bearer_len, now, req->arena, &req->principal,
                       &err) != SL_OK) {
        return sl_request_fail(req, SL_FAULT_UNAUTHENTICATED, err.code, "%s", err.message);
    }
    sl_token_cache_put(cache, req->bearer, req->bearer_len, gen, &req->principal);
    return check_can_write(req);
}

/* Retry-After of a refusal: the limiter's wait rounded up to whole seconds. */
static int wait_seconds(int64_t wait_ms) {
    int64_t s = (wait_ms + 999) / 1000;
    return s < 1 ? 1 : s > INT_MAX ? INT_MAX : (int)s;
}

sl_status_t sl_stage_limit(sl_request_t *req) {
    const sl_config_t *cfg = req->cfg;
    sl_pipeline_t *pl = req->pipeline;
    if (pl == NULL || (cfg->limits.tenant_rate <= 0 && cfg->limits.subject_rate <= 0)) {
        return SL_OK;
    }
    const char *tenant = req->principal.tenant != NULL ? req->principal.tenant : "";
    const char *subject = req->principal.subject != NULL ? req->principal.subject : "";
    size_t tenant_len = strlen(tenant);
    size_t subject_len = strlen(subject);
    int64_t now_ms = (int64_t)(sl_time_mono_ns() / 1000000);
    /* The subject first: a subject over its limit then leaves its tenant's bucket alone, so it
     * cannot starve the tenant's other subjects. */
    if (cfg->limits.subject_rate > 0 && subject_len > 0) {
        /* tenant NUL subject: a tenant (a C string) never contains NUL, so no tenant key and no
         * other tenant's subject key can be the same bytes. */
        size_t key_len = tenant_len + 1 + subject_len;
        char *key = sl_arena_alloc(req->arena, key_len);
        memcpy(key, tenant, tenant_len);
        key[tenant_len] = '\0';
        memcpy(key + tenant_len + 1, subject, subject_len);
        int64_t rate = cfg->limits.subject_rate;
        int64_t burst = cfg->limits.subject_burst > 0 ? cfg->limits.subject_burst : rate;
        int64_t wait =
            sl_ratelimit_take(pl->limiter, key, key_len, (double)rate, (double)burst, now_ms);
        if (wait > 0) {
            req->retry_after_s = wait_seconds(wait);
            return sl_request_fail(req, SL_FAULT_RATE_LIMITED, "rate_limited",
                                   "subject \"%s\" of tenant \"%s\" is over limits.subject_rate "
                                   "(%lld requests/s); retry after %d s",
                                   subject, tenant, (long long)rate, req->retry_after_s);
        }
    }
    if (cfg->limits.tenant_rate > 0) {
        int64_t rate = cfg->limits.tenant_rate;
        int64_t burst = cfg->limits.tenant_burst > 0 ? cfg->limits.tenant_burst : rate;
        int64_t wait =
            sl_ratelimit_take(pl->limiter, tenant, tenant_len, (double)rate, (double)burst, now_ms);
        if (wait > 0) {
            req->retry_after_s = wait_seconds(wait);
            return sl_request_fail(req, SL_FAULT_RATE_LIMITED, "rate_limited",
                                   "tenant \"%s\" is over limits.tenant_rate (%lld requests/s); "
                                   "retry after %d s",
                                   tenant, (long long)rate, req->retry_after_s);
        }
    }
    return SL_OK;
}

/* Each event against the token's scopes: one outside them is invalid (type_not_allowed), the
 * others go on. After the contract stage, which knows the event's stage. */
static sl_status_t stage_scope(sl_request_t *req) {
    const char *scope = req->principal.scope;
    if (scope == NULL) {
        return SL_OK;
    }
    for (size_t i = 0; i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        if (ev->outcome != SL_OUT_PENDING) {
            continue;
        }
        const char *stage =
            sl_ct_stage_name(ev->contract != NULL ? ev->contract->stage : SL_STAGE_RAW);
        if (!sl_auth_scope_allows(scope, ev->type, ev->type_len, stage)) {
            ev->outcome = SL_OUT_INVALID;
            ev->code = "type_not_allowed";
            char msg[256];
            snprintf(msg, sizeof(msg), "type: \"%.*s\" (stage %s) is outside the token's scopes",
                     (int)(ev->type_len > 64 ? 64 : ev->type_len), ev->type, stage);
            ev->message = sl_arena_strndup(req->arena, msg, strlen(msg));
        }
    }
    return SL_OK;
}

/* Events of users who asked for erasure are not taken (suppressed, final). */
static sl_status_t stage_suppress(sl_request_t *req) {
    sl_suppression_t *s = sl_pipeline_suppression(req->pipeline);
    if (s == NULL || sl_suppression_count(s) == 0) {
        return SL_OK;
    }
    const char *tenant = req->principal.tenant != NULL ? req->principal.tenant : "";
    for (size_t i = 0; i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        int64_t v =
            ev->outcome == SL_OUT_PENDING ? sl_doc_field(&req->doc, ev->node, "user_id") : -1;
        if (v < 0 || req->doc.nodes[v].type != SL_JSON_STRING) {
            continue;
        }
        const char *id;
        size_t n;
        sl_json_str(&req->doc, (uint32_t)v, req->arena, &id, &n);
        uint8_t subject[32];
        sl_suppression_subject(tenant, id, n, subject);
        if (sl_suppression_has(s, subject)) {
            ev->outcome = SL_OUT_SUPPRESSED;
            ev->code = "subject_erased";
            ev->message = "the user asked for erasure of their data: their events are no longer "
                          "taken";
        }
    }
    return SL_OK;
}

static sl_status_t stage_key(sl_request_t *req) {
    return sl_key_stage(req->pipeline != NULL ? req->pipeline->hot : NULL, req);
}

const char *sl_route_topic(sl_request_t *req, const char *tpl) {
    const char *at = strstr(tpl, "{tenant}");
    if (at == NULL) {
        return tpl;
    }
    const char *tenant = req->principal.tenant != NULL ? req->principal.tenant : "";
    size_t tl = strlen(tenant);
    if (tl == 0 ||
        strspn(tenant, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != tl) {
        return NULL;
    }
    sl_buf_t t;
    sl_buf_init(&t, req->arena, strlen(tpl) + tl);
    for (const char *p = tpl; *p != '\0';) {
        if (strncmp(p, "{tenant}", 8) == 0) {
            sl_buf_append(&t, tenant, tl);
            p += 8;
        } else {
            sl_buf_append(&t, p++, 1);
        }
    }
    return t.len <= 249 ? sl_buf_cstr(&t) : NULL;
}

/* Event type -> stage (declared by its contract) -> the stage's topic (filled with the tenant
 * when it is a template). Without contracts every event goes to the raw stage. */
static sl_status_t stage_route(sl_request_t *req) {
    const sl_config_t *cfg = req->cfg;
    for (size_t i = 0; i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        if (ev->outcome != SL_OUT_PENDING) {
            continue;
        }
        const char *topic, *encoding;
        switch (ev->contract != NULL ? ev->contract->stage : SL_STAGE_RAW) {
        case SL_STAGE_IDENTITY:
            topic = cfg->topics.identity;
            encoding = cfg->encoding.identity;
            break;
        case SL_STAGE_CONSENT:
            topic = cfg->topics.consent;
            encoding = cfg->encoding.consent;
            break;
        case SL_STAGE_DECISIONS:
            topic = cfg->topics.decisions;
            encoding = cfg->encoding.decisions;
            break;
        case SL_STAGE_OUTCOMES:
            topic = cfg->topics.outcomes;
            encoding = cfg->encoding.outcomes;
            break;
        default:
            topic = cfg->topics.raw;
            encoding = cfg->encoding.raw;
            break;
        }
        ev->topic = sl_route_topic(req, topic);
        ev->protobuf = strcmp(encoding, "protobuf") == 0;
        if (ev->topic == NULL) {
            ev->outcome = SL_OUT_INVALID;
            ev->code = "topic_invalid";
            ev->message = "the tenant's name cannot be part of a Kafka topic name (topics.* "
                          "holds {tenant}); only letters, digits, '.', '_' and '-' can";
        } else if (ev->topic != topic && req->pipeline != NULL &&
                   !sl_sink_topic_ready(req->pipeline->sink, ev->topic)) {
            char msg[400];
            snprintf(msg, sizeof(msg),
                     "topic %s (the tenant's, from topics.*) does not exist yet: create it; "
                     "retry after Retry-After",
                     ev->topic);
            ev->outcome = SL_OUT_RETRYABLE;
            ev->code = "topic_missing";
            ev->message = sl_arena_strndup(req->arena, msg, strlen(msg));
        }
    }
    return SL_OK;
}

/* Events whose event_id was accepted within dedupe.window are not produced again. */
static sl_status_t stage_dedupe(sl_request_t *req) {
    return sl_dedupe_stage(req->pipeline != NULL ? req->pipeline->dedupe : NULL, req);
}

/* Settles the dedupe claims of the events of req that were not handed to the sink. */
static void settle_unsent(sl_request_t *req) {
    for (size_t i = 0; i < req->n_events; i++) {
        sl_dedupe_settled(req->pipeline->dedupe, &req->events[i], false);
    }
}

static sl_status_t produce_events(sl_request_t *req);

static sl_status_t stage_produce(sl_request_t *req) {
    sl_status_t st = produce_events(req);
    if (req->fault != SL_FAULT_NONE) {
        settle_unsent(req);
    }
    return st;
}

static sl_status_t produce_events(sl_request_t *req) {
    sl_pipeline_t *pl = req->pipeline;
    if (sl_pipeline_draining(pl)) {
        return sl_request_fail(req, SL_FAULT_UNAVAILABLE, "shutting_down",
                               "the gateway is shutting down; retry after Retry-After");
    }
    if (req->deadline_ms != 0 && sl_time_now_ms() >= req->deadline_ms) {
        /* The client has given up (grpc-timeout): nothing of it is produced late. */
        return sl_request_fail(req, SL_FAULT_DEADLINE_EXCEEDED, "deadline_exceeded",
                               "the request's deadline (grpc-timeout) passed before its events "
                               "could be produced; nothing was produced");
    }
    char why[256];
    if (!sl_sink_ready(pl->sink, why, sizeof(why))) {
        return sl_request_fail(req, SL_FAULT_UNAVAILABLE, "kafka_unavailable",
                               "Kafka is not reachable (%s); retry after Retry-After", why);
    }
    /* The events the stages rejected, for the dead-letter topic once the others are queued
     * (they come first for the producer queue's room). */
    for (size_t i = 0; i < req->n_events; i++) {
        req->events[i].dead_letter = req->events[i].outcome == SL_OUT_INVALID;
    }
    const sl_config_t *cfg = req->cfg;
    bool event_time = strcmp(cfg->kafka.timestamp, "event") == 0;
    char received[25], sent[25];
    sl_time_format_rfc3339(req->received_at_ms, received);
    if (req->sent_at_ms != 0) {
        sl_time_format_rfc3339(req->sent_at_ms, sent);
    }
    const char *tenant = req->principal.tenant != NULL ? req->principal.tenant : "";
    const char *policy = req->policy != NULL ? sl_policy_version(req->policy) : "none";
    /* librdkafka copies the value (RD_KAFKA_MSG_F_COPY): one buffer serves every event. */
    sl_buf_t value;
    sl_buf_init(&value, req->arena, 1024);
    for (size_t i = 0; i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        if (ev->outcome != SL_OUT_PENDING) {
            continue;
        }
        /* The canonical form: the same bytes whichever form the client sent. */
        value.len = 0;
        if (ev->value != NULL) {
            sl_buf_append(&value, ev->value, ev->value_len);
        } else {
            sl_privacy_encode(req, ev, ev->protobuf, &value);
            sl_privacy_shadow(req, ev, ev->protobuf, value.data, value.len);
        }
        const char *contract = ev->contract != NULL ? ev->contract->full_name : "";
        const char *ctype = ev->protobuf ? "application/x-protobuf" : "application/json";
        const char *trace = NULL;
        size_t trace_len = 0;
        int64_t ctx = ev->value == NULL ? sl_doc_field(&req->doc, ev->node, "context") : -1;
        int64_t tp = ctx >= 0 && req->doc.nodes[ctx].type == SL_JSON_OBJECT
                         ? sl_json_get(&req->doc, (uint32_t)ctx, "traceparent")
                         : -1;
        if (tp >= 0 && req->doc.nodes[tp].type == SL_JSON_STRING && req->doc.nodes[tp].len > 0) {
            sl_json_str(&req->doc, (uint32_t)tp, req->arena, &trace, &trace_len);
        }
        char occurred[25], spread[24];
        sl_time_format_rfc3339(ev->occurred_at_ms, occurred);
        sl_header_t headers[16] = {
            {"event_id", ev->event_id, ev->event_id_len}, {"type", ev->type, ev->type_len},
            {"received_at", received, strlen(received)},  {"contract", contract, strlen(contract)},
            {"content_type", ctype, strlen(ctype)},       {"tenant", tenant, strlen(tenant)},
            {"policy_version", policy, strlen(policy)},
        };
        size_t nh = 7;
        if (ev->value == NULL) {
            headers[nh++] = (sl_header_t){"occurred_at", occurred, strlen(occurred)};
        }
        if (req->sent_at_ms != 0) {
            headers[nh++] = (sl_header_t){"sent_at", sent, strlen(sent)};
        }
        if (trace != NULL) {
            headers[nh++] = (sl_header_t){"traceparent", trace, trace_len};
        }
        char client_occurred[25];
        if (req->skew_ms != 0 && ev->value == NULL) {
            /* The client's clock was off (clock.max_skew): what it said, as it said it. */
            sl_time_format_rfc3339(ev->occurred_at_ms - req->skew_ms, client_occurred);
            headers[nh++] =
                (sl_header_t){"client_occurred_at", client_occurred, strlen(client_occurred)};
            headers[nh++] = (sl_header_t){"client_sent_at", sent, strlen(sent)};
        }
        if (ev->key_random) {
            headers[nh++] = (sl_header_t){"key_source", "random", 6};
        }
        if (ev->original_key != NULL) {
            int n = snprintf(spread, sizeof(spread), "%u/%u", ev->spread_index, ev->spread_n);
            headers[nh++] = (sl_header_t){"original_key", ev->original_key, ev->original_key_len};
            headers[nh++] = (sl_header_t){"key_spread", spread, (size_t)n};
        }
        /* Kafka timestamps are milliseconds since the epoch, not before it; and brokers refuse
         * them ahead of their clock (log.message.timestamp.after.max.ms), which would fail the
         * event for good and its partition's batch with it: a client clock ahead of ours gives
         * the receive time. */
        int64_t ts = event_time && ev->value == NULL && ev->occurred_at_ms > 0 &&
                             ev->occurred_at_ms < req->received_at_ms
                         ? ev->occurred_at_ms
                         : req->received_at_ms;
        sl_msg_t msg = {
            .topic = ev->topic,
            .key = ev->key,
            .key_len = ev->key_len,
            .value = value.data,
            .value_len = value.len,
            .headers = headers,
            .n_headers = nh,
            .timestamp_ms = ts,
        };
        atomic_fetch_add_explicit(&req->pending, 1, memory_order_relaxed);
        sl_error_t err;
        sl_status_t st = sl_sink_produce(pl->sink, &msg, ev, &err);
        if (st != SL_OK) {
            atomic_fetch_sub_explicit(&req->pending, 1, memory_order_relaxed);
            sl_dedupe_settled(pl->dedupe, ev, false);
            ev->outcome = st == SL_REJECT ? SL_OUT_INVALID : SL_OUT_RETRYABLE;
            ev->code = err.code;
            ev->message = sl_arena_strndup(req->arena, err.message, strlen(err.message));
        } else if (ev->value == NULL) {
            sl_metrics_signal_age(req->received_at_ms - ev->occurred_at_ms);
        }
    }
    sl_dead_letter_produce(req, pl->sink);
    return SL_OK;
}

/* clang-format off */
typedef struct stage {
    const char *name;
    sl_status_t (*run)(sl_request_t *req);
} stage_t;

static const stage_t stages[] = {
    {"admit", stage_admit},
    {"auth", sl_stage_auth},
    {"cors", sl_stage_cors},
    {"limit", sl_stage_limit},
    {"inflate", sl_stage_inflate},
    {"decode", sl_stage_decode},
    {"validate", sl_stage_validate},
    {"contract", sl_stage_contract},
    {"scope", stage_scope},
    {"consent", sl_stage_consent},
    {"suppress", stage_suppress},
    {"key", stage_key},
    {"route", stage_route},
    {"dedupe", stage_dedupe},
    {"produce", stage_produce},
};

/* A beacon's token is in its body: decoded before auth. */
static const stage_t beacon_stages[] = {
    {"admit", stage_admit},
    {"inflate", sl_stage_inflate},
    {"decode", sl_stage_decode},
    {"auth", sl_stage_auth},
    {"cors", sl_stage_cors},
    {"limit", sl_stage_limit},
    {"validate", sl_stage_validate},
    {"contract", sl_stage_contract},
    {"scope", stage_scope},
    {"consent", sl_stage_consent},
    {"suppress", stage_suppress},
    {"key", stage_key},
    {"route", stage_route},
    {"dedupe", stage_dedupe},
    {"produce", stage_produce},
};

static const stage_t erasure_stages[] = {
    {"admit", stage_admit},
    {"auth", sl_stage_auth},
    {"cors", sl_stage_cors},
    {"limit", sl_stage_limit},
    {"erasure", sl_stage_erasure},
    {"produce", stage_produce},
};
/* clang-format on */

/* ---- answers and delivery reports ----------------------------------------------------------- */

/* Answers req (exactly once: its caller set req->answered): the metrics of its outcomes, then
 * on_complete. Counted here, not when the answer is written: a client that hung up still had
 * its events produced. */
static void answer(sl_request_t *req) {
    sl_tally_t t;
    sl_request_tally(req, &t);
    for (int o = 0; o < SL_OUT__COUNT; o++) {
        if (t.by_outcome[o] > 0) {
            sl_metrics_events((sl_outcome_t)o, t.by_outcome[o]);
        }
    }
    req->on_complete(req, req->ctx);
}

/* Whether this call is the one that answers req; sets req->answered. early: kafka.delivery_timeout
 * passed first, and the events still in flight are answered retryable delivery_pending (they
 * stay in flight, kafka.message_timeout; their dedupe claims make a client's retry wait for them
 * instead of producing a second copy). */
static bool take_answer(sl_request_t *req, bool early) {
    pthread_mutex_lock(&req->lock);
    bool first = !req->answered;
    req->answered = true;
    for (size_t i = 0; early && first && i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        if (ev->outcome == SL_OUT_PENDING) {
            ev->outcome = SL_OUT_RETRYABLE;
            ev->code = "delivery_pending";
            ev->message = "Kafka has not acknowledged the event within kafka.delivery_timeout "
                          "and it is still being delivered; send it again after Retry-After "
                          "(answered in_flight while this copy is under way, duplicate once "
                          "Kafka has it)";
        }
    }
    pthread_mutex_unlock(&req->lock);
    return first;
}

static void unwatch_locked(sl_pipeline_t *pl, sl_request_t *req) {
    if (req->watch_prev != NULL) {
        req->watch_prev->watch_next = req->watch_next;
    } else {
        pl->watching = req->watch_next;
    }
    if (req->watch_next != NULL) {
        req->watch_next->watch_prev = req->watch_prev;
    }
    req->watch_prev = req->watch_next = NULL;
    atomic_store_explicit(&req->watched, false, memory_order_release);
}

/* Drops one hold on req's pending count; the last one answers req unless the watch thread did,
 * and releases the bytes and the reference the pipeline held. */
static void release(sl_request_t *req) {
    if (atomic_fetch_sub_explicit(&req->pending, 1, memory_order_acq_rel) != 1) {
        return;
    }
    sl_pipeline_t *pl = req->pipeline;
    if (atomic_load_explicit(&req->watched, memory_order_acquire)) {
        /* (A request never watched takes no lock: an empty or refused batch.) */
        pthread_mutex_lock(&pl->watch_lock);
        if (atomic_load_explicit(&req->watched, memory_order_relaxed)) {
            unwatch_locked(pl, req);
        }
        pthread_mutex_unlock(&pl->watch_lock);
    }
    if (req->admitted > 0) {
        int64_t held = atomic_fetch_sub(&pl->inflight, req->admitted) - req->admitted;
        sl_metrics_inflight_bytes(held);
        req->admitted = 0;
    }
    if (take_answer(req, false)) {
        answer(req);
    }
    sl_request_free(req); /* the pipeline's reference */
}

/* The watch thread: every WATCH_TICK_MS, answers the requests whose answer_by_ms has passed. */
#define WATCH_TICK_MS 50

static void *watch_main(void *arg) {
    sl_pipeline_t *pl = arg;
    pthread_mutex_lock(&pl->watch_lock);
    while (!pl->watch_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += WATCH_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pl->watch_wake, &pl->watch_lock, &ts);
        int64_t now = (int64_t)(sl_time_mono_ns() / 1000000);
        sl_request_t *due = NULL; /* taken out of the list, each with a reference */
        for (sl_request_t *r = pl->watching, *next; r != NULL; r = next) {
            next = r->watch_next;
            if (r->answer_by_ms <= now) {
                unwatch_locked(pl, r);
                atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
                r->watch_next = due;
                due = r;
            }
        }
        pthread_mutex_unlock(&pl->watch_lock);
        while (due != NULL) {
            sl_request_t *r = due;
            due = r->watch_next;
            r->watch_next = NULL;
            if (take_answer(r, true)) {
                answer(r);
            }
            sl_request_free(r);
        }
        pthread_mutex_lock(&pl->watch_lock);
    }
    pthread_mutex_unlock(&pl->watch_lock);
    return NULL;
}

/* Puts req (events handed to the sink, the pipeline's hold still on) on the watch list. */
static void watch(sl_request_t *req) {
    sl_pipeline_t *pl = req->pipeline;
    req->answer_by_ms =
        (int64_t)(sl_time_mono_ns() / 1000000) + req->cfg->kafka.delivery_timeout_ms;
    pthread_mutex_lock(&pl->watch_lock);
    req->watch_prev = NULL;
    req->watch_next = pl->watching;
    if (pl->watching != NULL) {
        pl->watching->watch_prev = req;
    }
    pl->watching = req;
    atomic_store_explicit(&req->watched, true, memory_order_release);
    pthread_mutex_unlock(&pl->watch_lock);
}

void sl_pipeline_on_delivery(void *opaque, sl_status_t status, const char *code,
                             const char *detail) {
    if (opaque == NULL) {
        sl_metrics_dead_letter(status == SL_OK); /* a dead letter: nobody waits for it */
        return;
    }
    sl_event_t *ev = opaque;
    sl_request_t *req = ev->req;
    sl_dedupe_settled(req->pipeline != NULL ? req->pipeline->dedupe : NULL, ev, status == SL_OK);
    pthread_mutex_lock(&req->lock);
    bool late = req->answered; /* answered delivery_pending: the outcome is not read again */
    if (!late) {
        switch (status) {
        case SL_OK:
            ev->outcome = SL_OUT_ACCEPTED;
            break;
        case SL_REJECT:
            ev->outcome = SL_OUT_INVALID;
            ev->code = code;
            ev->message = "Kafka refused the event";
            ev->detail = detail;
            break;
        default:
            ev->outcome = SL_OUT_RETRYABLE;
            ev->code = code;
            ev->message = "Kafka did not acknowledge the event; send it again";
            ev->detail = detail;
            break;
        }
    }
    pthread_mutex_unlock(&req->lock);
    if (late) {
        sl_metrics_late_delivery(status == SL_OK);
    }
    release(req);
}

void sl_pipeline_submit(sl_request_t *req, void (*on_complete)(sl_request_t *, void *), void *ctx) {
    req->on_complete = on_complete;
    req->ctx = ctx;
    atomic_fetch_add_explicit(&req->refs, 1, memory_order_relaxed); /* the pipeline's */
    const stage_t *table = stages;
    size_t n = sizeof(stages) / sizeof(stages[0]);
    if (req->route == SL_ROUTE_ERASURE) {
        table = erasure_stages;
        n = sizeof(erasure_stages) / sizeof(erasure_stages[0]);
    } else if (req->route == SL_ROUTE_BEACON) {
        table = beacon_stages;
        n = sizeof(beacon_stages) / sizeof(beacon_stages[0]);
    }
    for (size_t i = 0; i < n; i++) {
        sl_status_t st = table[i].run(req);
        if (st != SL_OK || req->fault != SL_FAULT_NONE) {
            break;
        }
    }
    if (req->admitted > 0) {
        /* What decoding took is held as long as the body: counted from here. The pipeline's
         * own hold on pending keeps the request from completing until release below. */
        int64_t used = (int64_t)sl_arena_used(req->arena);
        if (used > req->admitted) {
            int64_t held = atomic_fetch_add(&req->pipeline->inflight, used - req->admitted) +
                           (used - req->admitted);
            req->admitted = used;
            sl_metrics_inflight_bytes(held);
        }
    }
    if (req->pipeline != NULL && atomic_load_explicit(&req->pending, memory_order_acquire) > 1) {
        watch(req); /* events in flight: answered by kafka.delivery_timeout at the latest */
    }
    release(req);
}
