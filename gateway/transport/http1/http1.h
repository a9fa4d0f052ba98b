/* transport/http1: the public HTTP/1.1 listener (libmicrohttpd).
 *
 * Builds an sl_request_t per request, enforces the head and body limits before reading or
 * allocating, submits to the pipeline, and keeps the connection suspended until the request's
 * delivery reports are in. libmicrohttpd accepts Content-Length together with chunked and
 * conflicting Content-Length headers; both are refused here with 400. */
#ifndef SL_TRANSPORT_HTTP1_H
#define SL_TRANSPORT_HTTP1_H

#include "config/config.h"
#include "core/status.h"
#include "pipeline/pipeline.h"

typedef struct sl_http1 sl_http1_t;

/* Listens on cfg->listen.http with cfg->http.threads I/O threads. pipeline is borrowed. */
sl_status_t sl_http1_start(const sl_config_t *cfg, sl_pipeline_t *pipeline, sl_http1_t **out,
                           sl_error_t *err);
/* The bound address ("127.0.0.1:8080"). Borrowed. */
const char *sl_http1_address(const sl_http1_t *h);
/* Stops accepting new connections; existing ones go on. */
void sl_http1_quiesce(sl_http1_t *h);
/* Requests submitted and not yet answered and closed. */
int sl_http1_active(const sl_http1_t *h);
/* Closes every connection and frees h. Call when sl_http1_active is 0. */
void sl_http1_stop(sl_http1_t *h);

#endif
