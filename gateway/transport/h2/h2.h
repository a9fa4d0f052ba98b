/* transport/h2: HTTP/2 (cleartext prior knowledge, or TLS with ALPN) and gRPC on connections
 * the public listener hands over (transport/public.h sniffs the client preface), and the TLS
 * side of listen.tls connections that chose HTTP/1.1.
 *
 * nghttp2 sessions run on http.threads I/O threads of their own (epoll, non-blocking sockets).
 * Each stream builds the same sl_request_t the HTTP/1.1 transport builds and goes through the
 * same pipeline; its response (or, for gRPC, its PublishResponse message and status trailers)
 * is deferred until the request's delivery reports are in. Routes:
 *
 *   POST /v1/events, /v1/beacon, /v1/privacy/erasure; OPTIONS preflights    (as over HTTP/1.1)
 *   /sluice.v1.Ingest/Publish          unary EventBatch -> PublishResponse
 *   /sluice.v1.Ingest/PublishStream    each EventBatch of the stream -> its PublishResponse
 *   /grpc.health.v1.Health/Check       SERVING while the gateway is ready
 *
 * Hardening: SETTINGS_MAX_CONCURRENT_STREAMS, header list size checked as each header arrives,
 * nghttp2's stream-reset rate limit, CONTINUATION and SETTINGS/PING-ack limits, a count of
 * invalid frames, idle and slow-request timeouts, and a cap on requests per connection still
 * waiting for Kafka. */
#ifndef SL_TRANSPORT_H2_H
#define SL_TRANSPORT_H2_H

#include <sys/socket.h>

#include "config/config.h"
#include "core/status.h"
#include "pipeline/pipeline.h"

typedef struct sl_h2 sl_h2_t;

/* Starts the I/O threads. pipeline is borrowed; http1(ctx, fd, ...) takes the cleartext end of
 * a TLS connection that chose http/1.1 (the HTTP/1.1 transport). */
sl_status_t sl_h2_start(const sl_config_t *cfg, sl_pipeline_t *pipeline,
                        void (*http1)(void *ctx, int fd, const struct sockaddr *addr,
                                      socklen_t len),
                        void *http1_ctx, sl_h2_t **out, sl_error_t *err);
/* Takes a connected socket whose first bytes are the HTTP/2 client preface (still unread). */
void sl_h2_adopt(sl_h2_t *h, int fd);
/* Takes a connection of listen.tls: the TLS handshake (the certificate of the configuration
 * current now), then ALPN h2 -> HTTP/2 and gRPC here; http/1.1 (or none) -> the bytes are
 * pumped through a socketpair to the HTTP/1.1 transport. */
void sl_h2_adopt_tls(sl_h2_t *h, int fd, const struct sockaddr *addr, socklen_t len);
/* Sends GOAWAY on every connection: clients open no new streams; running ones finish. */
void sl_h2_quiesce(sl_h2_t *h);
/* Requests handed to the pipeline and not yet answered. */
int sl_h2_active(const sl_h2_t *h);
/* Closes every connection and frees h. */
void sl_h2_stop(sl_h2_t *h);

#endif
