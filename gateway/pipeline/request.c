#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/contracts.h"
#include "core/timefmt.h"
#include "metrics/metrics.h"
#include "pipeline/pipeline.h"
#include "pipeline/request.h"
#include "policy/policy.h"

sl_request_t *sl_request_new(struct sl_pipeline *pipeline) {
    sl_config_t *cfg = sl_config_acquire();
    if (cfg == NULL) {
        return NULL;
    }
    sl_arena_t *arena = sl_arena_new(8192);
    sl_request_t *req = sl_arena_calloc(arena, sizeof(*req));
    req->arena = arena;
    req->cfg = cfg;
    req->pipeline = pipeline;
    req->contracts = pipeline != NULL ? sl_pipeline_contracts(pipeline) : NULL;
    req->policy = pipeline != NULL ? sl_pipeline_policy(pipeline) : NULL;
    req->shadow = pipeline != NULL && req->policy != NULL ? sl_pipeline_shadow(pipeline) : NULL;
    req->media_type = "";
    req->received_at_ms = sl_time_now_ms();
    req->start_ns = sl_time_mono_ns();
    atomic_init(&req->pending, 1);
    atomic_init(&req->refs, 1);
    atomic_init(&req->watched, false);
    pthread_mutex_init(&req->lock, NULL);
    return req;
}

void sl_request_free(sl_request_t *req) {
    if (req == NULL || atomic_fetch_sub_explicit(&req->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    pthread_mutex_destroy(&req->lock);
    sl_config_t *cfg = req->cfg;
    sl_contracts_t *contracts = req->contracts;
    sl_policy_t *policy = req->policy;
    sl_policy_t *shadow = req->shadow; /* req lives in its arena: read everything first */
    sl_arena_destroy(req->arena);
    sl_config_unref(cfg);
    sl_contracts_unref(contracts);
    sl_policy_unref(policy);
    sl_policy_unref(shadow);
}

sl_status_t sl_request_fail(sl_request_t *req, sl_fault_t fault, const char *code, const char *fmt,
                            ...) {
    if (req->fault != SL_FAULT_NONE) {
        return SL_REJECT;
    }
    req->fault = fault;
    req->fault_err.code = code;
    sl_metrics_fault(code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->fault_err.message, sizeof(req->fault_err.message), fmt, ap);
    va_end(ap);
    return SL_REJECT;
}

void sl_request_tally(const sl_request_t *req, sl_tally_t *out) {
    for (int i = 0; i < SL_OUT__COUNT; i++) {
        out->by_outcome[i] = 0;
    }
    for (size_t i = 0; i < req->n_events; i++) {
        sl_outcome_t o = req->events[i].outcome;
        if (o >= 0 && o < SL_OUT__COUNT) {
            out->by_outcome[o]++;
        }
    }
}

int64_t sl_doc_field(const sl_json_doc_t *doc, uint32_t obj, const char *name) {
    int64_t v = sl_json_get(doc, obj, name);
    if (v >= 0 || strchr(name, '_') == NULL) {
        return v;
    }
    char camel[64];
    size_t n = 0;
    for (const char *p = name; *p != '\0' && n + 1 < sizeof(camel); p++) {
        if (*p == '_' && p[1] >= 'a' && p[1] <= 'z') {
            camel[n++] = (char)(p[1] - 'a' + 'A');
            p++;
        } else if (*p != '_') {
            camel[n++] = *p;
        }
    }
    camel[n] = '\0';
    return sl_json_get(doc, obj, camel);
}

const char *sl_media_type(sl_arena_t *arena, const char *content_type) {
    const char *ct = content_type;
    if (ct == NULL) {
        return "";
    }
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    size_t n = strcspn(ct, "; \t");
    char *out = sl_arena_strndup(arena, ct, n);
    for (size_t i = 0; i < n; i++) {
        out[i] = (char)tolower((unsigned char)out[i]);
    }
    return out;
}
