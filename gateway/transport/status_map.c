#include "transport/status_map.h"

#include <string.h>

#include "core/timefmt.h"
#include "metrics/metrics.h"
#include "pipeline/pipeline.h"

void sl_answer_unsent(sl_request_t *req) {
    sl_metrics_request(SL_STATUS_CLIENT_GONE, sl_time_mono_ns() - req->start_ns);
}

/* gRPC status numbers (grpc/status.h) */
enum {
    GRPC_OK = 0,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_NOT_FOUND = 5,
    GRPC_PERMISSION_DENIED = 7,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
    GRPC_UNAUTHENTICATED = 16,
};

static const struct {
    int http;
    int grpc;
} faults[SL_FAULT__COUNT] = {
    [SL_FAULT_NONE] = {200, GRPC_OK},
    [SL_FAULT_BAD_REQUEST] = {400, GRPC_INVALID_ARGUMENT},
    [SL_FAULT_UNAUTHENTICATED] = {401, GRPC_UNAUTHENTICATED},
    [SL_FAULT_FORBIDDEN] = {403, GRPC_PERMISSION_DENIED},
    [SL_FAULT_NOT_FOUND] = {404, GRPC_NOT_FOUND},
    [SL_FAULT_METHOD_NOT_ALLOWED] = {405, GRPC_UNIMPLEMENTED},
    [SL_FAULT_TOO_LARGE] = {413, GRPC_RESOURCE_EXHAUSTED},
    [SL_FAULT_HEADERS_TOO_LARGE] = {431, GRPC_RESOURCE_EXHAUSTED},
    [SL_FAULT_UNSUPPORTED_MEDIA_TYPE] = {415, GRPC_INVALID_ARGUMENT},
    [SL_FAULT_RATE_LIMITED] = {429, GRPC_RESOURCE_EXHAUSTED},
    [SL_FAULT_UNAVAILABLE] = {503, GRPC_UNAVAILABLE},
    [SL_FAULT_NOT_IMPLEMENTED] = {501, GRPC_UNIMPLEMENTED},
    [SL_FAULT_INTERNAL] = {500, GRPC_INTERNAL},
    [SL_FAULT_DEADLINE_EXCEEDED] = {504, GRPC_DEADLINE_EXCEEDED},
};

int sl_fault_http_status(sl_fault_t fault) {
    return faults[fault].http;
}

int sl_fault_grpc_status(sl_fault_t fault) {
    return faults[fault].grpc;
}

void sl_answer_build(sl_request_t *req, sl_answer_t *out) {
    sl_tally_t t;
    sl_request_tally(req, &t);
    if (req->fault != SL_FAULT_NONE) {
        out->http_status = faults[req->fault].http;
        out->grpc_status = faults[req->fault].grpc;
    } else if (t.by_outcome[SL_OUT_RETRYABLE] > 0 &&
               t.by_outcome[SL_OUT_RETRYABLE] == req->n_events) {
        /* Nothing was taken: the same as a batch refused whole. */
        out->http_status = 503;
        out->grpc_status = GRPC_UNAVAILABLE;
    } else if (t.by_outcome[SL_OUT_RETRYABLE] > 0) {
        out->http_status = 207;
        out->grpc_status = GRPC_OK;
    } else if (req->route == SL_ROUTE_BEACON) {
        out->http_status = 204; /* processed; the page cannot read an answer */
        out->grpc_status = GRPC_OK;
    } else if (req->route == SL_ROUTE_ERASURE) {
        out->http_status = 202; /* recorded and acknowledged; the deletion runs downstream */
        out->grpc_status = GRPC_OK;
    } else {
        out->http_status = 200;
        out->grpc_status = GRPC_OK;
    }
    out->retry_after =
        out->http_status == 503 || out->http_status == 207 || out->http_status == 429;
    out->retry_after_s = req->retry_after_s > 0
                             ? req->retry_after_s
                             : (int)((req->cfg->http.retry_after_ms + 999) / 1000);
    sl_buf_init(&out->body, req->arena, 256 + req->n_events * 16);
    if (out->http_status != 204) {
        sl_response_render(req, &out->body);
    }
    sl_metrics_request(out->http_status, sl_time_mono_ns() - req->start_ns);
}

void sl_answer_fault(sl_request_t *req, sl_fault_t fault, const char *code, const char *message,
                     sl_answer_t *out) {
    sl_request_fail(req, fault, code, "%s", message);
    req->n_events = 0;
    sl_answer_build(req, out);
}
