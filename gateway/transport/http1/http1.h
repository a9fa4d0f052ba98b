/* transport/http1: HTTP/1.1 on the public port (libmicrohttpd).
 *
 * Builds an sl_request_t per request, enforces the head and body limits before reading or
 * allocating, submits to the pipeline, and keeps the connection suspended until the request's
 * delivery reports are in. libmicrohttpd accepts Content-Length together with chunked and
 * conflicting Content-Length headers; both are refused here with 400. */
#ifndef SL_TRANSPORT_HTTP1_H
#define SL_TRANSPORT_HTTP1_H

#include <sys/socket.h>

#include "config/config.h"
#include "core/status.h"
#include "pipeline/pipeline.h"

typedef struct sl_http1 sl_http1_t;

/* Starts cfg->http.threads I/O threads; connections come from sl_http1_adopt (the public
 * listener, transport/public.h). pipeline is borrowed. */
sl_status_t sl_http1_start(const sl_config_t *cfg, sl_pipeline_t *pipeline, sl_http1_t **out,
                           sl_error_t *err);
/* Takes a connected socket (its first bytes still unread). */
void sl_http1_adopt(sl_http1_t *h, int fd, const struct sockaddr *addr, socklen_t addrlen);
/* Requests submitted and not yet answered and closed. */
int sl_http1_active(const sl_http1_t *h);
/* Closes every connection and frees h. Call when sl_http1_active is 0. */
void sl_http1_stop(sl_http1_t *h);

#endif
