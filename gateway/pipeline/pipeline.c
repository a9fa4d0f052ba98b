#include "pipeline/pipeline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contracts/contracts.h"
#include "core/timefmt.h"
#include "metrics/metrics.h"

struct sl_pipeline {
    sl_sink_t *sink;
    atomic_bool draining;
    pthread_mutex_t lock; /* guards contracts */
    sl_contracts_t *contracts;
};

sl_pipeline_t *sl_pipeline_new(sl_sink_t *sink) {
    sl_pipeline_t *pl = calloc(1, sizeof(*pl));
    if (pl == NULL) {
        abort();
    }
    pl->sink = sink;
    pthread_mutex_init(&pl->lock, NULL);
    return pl;
}

void sl_pipeline_free(sl_pipeline_t *pl) {
    if (pl == NULL) {
        return;
    }
    sl_contracts_unref(pl->contracts);
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

sl_sink_t *sl_pipeline_sink(sl_pipeline_t *pl) {
    return pl->sink;
}

void sl_pipeline_set_draining(sl_pipeline_t *pl) {
    atomic_store(&pl->draining, true);
}

bool sl_pipeline_draining(const sl_pipeline_t *pl) {
    return atomic_load(&pl->draining);
}

sl_status_t sl_stage_auth(sl_request_t *req) {
    if (!req->cfg->auth.required) {
        req->principal.tenant = "default";
        req->principal.subject = "";
        return SL_OK;
    }
    if (req->bearer == NULL) {
        return sl_request_fail(req, SL_FAULT_UNAUTHENTICATED, "token_missing",
                               "send a JWT as Authorization: Bearer <token>");
    }
    sl_error_t err;
    if (sl_auth_verify(req->cfg, req->bearer, req->bearer_len, (int64_t)time(NULL), req->arena,
                       &req->principal, &err) != SL_OK) {
        return sl_request_fail(req, SL_FAULT_UNAUTHENTICATED, err.code, "%s", err.message);
    }
    return SL_OK;
}

/* Placeholder keying until per-stage key templates: user_id, else anonymous_id. */
static sl_status_t stage_key(sl_request_t *req) {
    for (size_t i = 0; i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        if (ev->outcome != SL_OUT_PENDING) {
            continue;
        }
        const char *names[] = {"user_id", "anonymous_id"};
        for (size_t k = 0; k < 2 && ev->key == NULL; k++) {
            int64_t v = sl_doc_field(&req->doc, ev->node, names[k]);
            if (v >= 0 && req->doc.nodes[v].type == SL_JSON_STRING && req->doc.nodes[v].len > 0) {
                sl_json_str(&req->doc, (uint32_t)v, req->arena, &ev->key, &ev->key_len);
            }
        }
    }
    return SL_OK;
}

/* Event type -> stage (declared by its contract) -> the stage's topic. Without contracts every
 * event goes to the raw stage. */
static sl_status_t stage_route(sl_request_t *req) {
    const sl_config_t *cfg = req->cfg;
    for (size_t i = 0; i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        if (ev->outcome != SL_OUT_PENDING) {
            continue;
        }
        const char *encoding;
        switch (ev->contract != NULL ? ev->contract->stage : SL_STAGE_RAW) {
        case SL_STAGE_IDENTITY:
            ev->topic = cfg->topics.identity;
            encoding = cfg->encoding.identity;
            break;
        case SL_STAGE_CONSENT:
            ev->topic = cfg->topics.consent;
            encoding = cfg->encoding.consent;
            break;
        case SL_STAGE_DECISIONS:
            ev->topic = cfg->topics.decisions;
            encoding = cfg->encoding.decisions;
            break;
        case SL_STAGE_OUTCOMES:
            ev->topic = cfg->topics.outcomes;
            encoding = cfg->encoding.outcomes;
            break;
        default:
            ev->topic = cfg->topics.raw;
            encoding = cfg->encoding.raw;
            break;
        }
        ev->protobuf = strcmp(encoding, "protobuf") == 0;
    }
    return SL_OK;
}

static sl_status_t stage_produce(sl_request_t *req) {
    sl_pipeline_t *pl = req->pipeline;
    if (sl_pipeline_draining(pl)) {
        return sl_request_fail(req, SL_FAULT_UNAVAILABLE, "shutting_down",
                               "the gateway is shutting down; retry after Retry-After");
    }
    char why[256];
    if (!sl_sink_ready(pl->sink, why, sizeof(why))) {
        return sl_request_fail(req, SL_FAULT_UNAVAILABLE, "kafka_unavailable",
                               "Kafka is not reachable (%s); retry after Retry-After", why);
    }
    char received[25];
    sl_time_format_rfc3339(req->received_at_ms, received);
    const char *tenant = req->principal.tenant != NULL ? req->principal.tenant : "";
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
        sl_event_encode(req, ev, ev->protobuf, &value);
        const char *contract = ev->contract != NULL ? ev->contract->full_name : "";
        const char *ctype = ev->protobuf ? "application/x-protobuf" : "application/json";
        const char *trace = NULL;
        size_t trace_len = 0;
        int64_t ctx = sl_doc_field(&req->doc, ev->node, "context");
        int64_t tp = ctx >= 0 && req->doc.nodes[ctx].type == SL_JSON_OBJECT
                         ? sl_json_get(&req->doc, (uint32_t)ctx, "traceparent")
                         : -1;
        if (tp >= 0 && req->doc.nodes[tp].type == SL_JSON_STRING && req->doc.nodes[tp].len > 0) {
            sl_json_str(&req->doc, (uint32_t)tp, req->arena, &trace, &trace_len);
        }
        sl_header_t headers[] = {
            {"event_id", ev->event_id, ev->event_id_len},
            {"type", ev->type, ev->type_len},
            {"received_at", received, strlen(received)},
            {"contract", contract, strlen(contract)},
            {"content_type", ctype, strlen(ctype)},
            {"tenant", tenant, strlen(tenant)},
            {"traceparent", trace, trace_len},
        };
        sl_msg_t msg = {
            .topic = ev->topic,
            .key = ev->key,
            .key_len = ev->key_len,
            .value = value.data,
            .value_len = value.len,
            .headers = headers,
            .n_headers = sizeof(headers) / sizeof(headers[0]) - (trace == NULL),
            .timestamp_ms = req->received_at_ms,
        };
        atomic_fetch_add_explicit(&req->pending, 1, memory_order_relaxed);
        sl_error_t err;
        sl_status_t st = sl_sink_produce(pl->sink, &msg, ev, &err);
        if (st != SL_OK) {
            atomic_fetch_sub_explicit(&req->pending, 1, memory_order_relaxed);
            ev->outcome = st == SL_REJECT ? SL_OUT_INVALID : SL_OUT_RETRYABLE;
            ev->code = err.code;
            ev->message = sl_arena_strndup(req->arena, err.message, strlen(err.message));
        }
    }
    return SL_OK;
}

static const struct {
    const char *name;
    sl_status_t (*run)(sl_request_t *req);
} stages[] = {
    {"auth", sl_stage_auth},         {"decode", sl_stage_decode}, {"validate", sl_stage_validate},
    {"contract", sl_stage_contract}, {"key", stage_key},          {"route", stage_route},
    {"produce", stage_produce},
};

static void release(sl_request_t *req) {
    if (atomic_fetch_sub_explicit(&req->pending, 1, memory_order_acq_rel) == 1) {
        /* Counted here, not when the answer is written: a client that hung up still had its
         * events produced. */
        sl_tally_t t;
        sl_request_tally(req, &t);
        for (int o = 0; o < SL_OUT__COUNT; o++) {
            if (t.by_outcome[o] > 0) {
                sl_metrics_events((sl_outcome_t)o, t.by_outcome[o]);
            }
        }
        req->on_complete(req, req->ctx);
    }
}

void sl_pipeline_on_delivery(void *opaque, sl_status_t status, const char *code,
                             const char *detail) {
    sl_event_t *ev = opaque;
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
    release(ev->req);
}

void sl_pipeline_submit(sl_request_t *req, void (*on_complete)(sl_request_t *, void *), void *ctx) {
    req->on_complete = on_complete;
    req->ctx = ctx;
    for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
        if (stages[i].run(req) != SL_OK || req->fault != SL_FAULT_NONE) {
            break;
        }
    }
    release(req);
}
