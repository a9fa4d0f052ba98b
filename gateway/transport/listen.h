/* transport/listen: listening sockets from "host:port" strings. */
#ifndef SL_TRANSPORT_LISTEN_H
#define SL_TRANSPORT_LISTEN_H

#include <stddef.h>

#include "core/status.h"

/* Binds and listens on addr ("127.0.0.1:8080", "[::]:8080", "localhost:0"); key names the config
 * key in errors. On success *fd is the socket and bound holds the actual "host:port" (the port
 * resolved when 0). */
sl_status_t sl_listen(const char *addr, const char *key, int *fd, char *bound, size_t bound_len,
                      sl_error_t *err);

#endif
