/* transport/public: the public port, listen.http. HTTP/1.1, cleartext HTTP/2 and gRPC share it:
 * an acceptor thread reads nothing, it peeks at each new connection's first bytes: the HTTP/2
 * client preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") hands it to transport/h2, anything else
 * to libmicrohttpd (transport/http1). A connection that sends too little to tell within
 * http.idle_timeout is closed. listen.tls (optional) takes TLS connections: transport/h2 runs
 * the handshake and ALPN picks HTTP/2 or HTTP/1.1. */
#ifndef SL_TRANSPORT_PUBLIC_H
#define SL_TRANSPORT_PUBLIC_H

#include "config/config.h"
#include "core/status.h"
#include "pipeline/pipeline.h"

typedef struct sl_public sl_public_t;

/* Binds listen.http and starts both transports. pipeline is borrowed. */
sl_status_t sl_public_start(const sl_config_t *cfg, sl_pipeline_t *pipeline, sl_public_t **out,
                            sl_error_t *err);
/* The bound address ("127.0.0.1:8080"). Borrowed. */
const char *sl_public_address(const sl_public_t *p);
/* The bound address of listen.tls, or NULL when it is off. Borrowed. */
const char *sl_public_tls_address(const sl_public_t *p);
/* Stops accepting (the socket is closed) and sends HTTP/2 GOAWAY; open connections go on. */
void sl_public_quiesce(sl_public_t *p);
/* Requests handed to the pipeline and not yet answered, over both transports. */
int sl_public_active(const sl_public_t *p);
/* Closes every connection and frees p. */
void sl_public_stop(sl_public_t *p);

#endif
