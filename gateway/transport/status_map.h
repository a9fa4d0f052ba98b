/* transport/status_map: the only place that turns pipeline outcomes into protocol codes.
 *
 * Both the HTTP/1.1 and (later) HTTP/2 and gRPC transports answer through sl_answer_build, so a
 * request gets the same status and the same body bytes whichever transport carried it. */
#ifndef SL_TRANSPORT_STATUS_MAP_H
#define SL_TRANSPORT_STATUS_MAP_H

#include <stdbool.h>

#include "core/buf.h"
#include "pipeline/request.h"

typedef struct {
    int http_status;
    int grpc_status;
    bool retry_after; /* add Retry-After (seconds in retry_after_s) */
    int retry_after_s;
    sl_buf_t body; /* JSON, in the request's arena */
} sl_answer_t;

/* HTTP and gRPC codes of a whole-request fault. */
int sl_fault_http_status(sl_fault_t fault);
int sl_fault_grpc_status(sl_fault_t fault);

/* The answer for a completed request: status from the fault or the per-event tally (200 when
 * every event has a final outcome, 207 when some are retryable, 503 when all are), the body from
 * sl_response_render. Records the request metrics (the pipeline records the events). Call once
 * per request, on the transport's thread, after on_complete. */
void sl_answer_build(sl_request_t *req, sl_answer_t *out);

/* Status recorded for a request whose client left before its answer could be written. */
#define SL_STATUS_CLIENT_GONE 499

/* Records a submitted request that was never answered because its client went away. */
void sl_answer_unsent(sl_request_t *req);

/* An answer for a fault found by the transport itself before a request could be built (e.g.
 * 413 from Content-Length, 503 while draining): same body shape, same metrics. */
void sl_answer_fault(sl_request_t *req, sl_fault_t fault, const char *code, const char *message,
                     sl_answer_t *out);

#endif
