/* transport/admin: the operator's port — /healthz, /readyz, /metrics, /info, POST /-/reload.
 * Never serves public endpoints. One I/O thread. */
#ifndef SL_TRANSPORT_ADMIN_H
#define SL_TRANSPORT_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/status.h"

typedef struct {
    /* true while the process can still do its work (/healthz); otherwise why holds the reason. */
    bool (*alive)(void *app, char *why, size_t why_len);
    /* true when ready; otherwise why holds the reason. Any thread. */
    bool (*ready)(void *app, char *why, size_t why_len);
    /* Appends the /info JSON object. */
    void (*info)(void *app, sl_buf_t *out);
    /* Reloads the configuration (force: even when the new contracts break the running ones);
     * appends a JSON result; returns the HTTP status. */
    int (*reload)(void *app, bool force, sl_buf_t *out);
    void *app;
} sl_admin_hooks_t;

typedef struct sl_admin sl_admin_t;

sl_status_t sl_admin_start(const char *addr, const sl_admin_hooks_t *hooks, sl_admin_t **out,
                           sl_error_t *err);
const char *sl_admin_address(const sl_admin_t *a);
void sl_admin_stop(sl_admin_t *a);

#endif
