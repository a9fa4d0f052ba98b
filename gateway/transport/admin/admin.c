#include "transport/admin/admin.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "transport/listen.h"

struct sl_admin {
    struct MHD_Daemon *daemon;
    sl_admin_hooks_t hooks;
    char address[128];
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             sl_buf_t *body) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body->len, body->data, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    (void)upload_data;
    sl_admin_t *a = cls;
    if (*con_cls == NULL) {
        *con_cls = a; /* answer once the (ignored) body is read */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    sl_buf_t body;
    sl_buf_init(&body, NULL, 1024);
    enum MHD_Result ret;
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    if (get && strcmp(url, "/healthz") == 0) {
        char why[256] = "";
        bool ok = a->hooks.alive(a->hooks.app, why, sizeof(why));
        sl_buf_puts(&body, ok ? "ok" : why);
        sl_buf_puts(&body, "\n");
        ret = reply(conn, ok ? 200 : 503, "text/plain", &body);
    } else if (get && strcmp(url, "/readyz") == 0) {
        char why[256] = "";
        bool ok = a->hooks.ready(a->hooks.app, why, sizeof(why));
        sl_metrics_set_ready(ok);
        sl_buf_puts(&body, "{\"ready\":");
        sl_buf_puts(&body, ok ? "true" : "false");
        if (!ok) {
            sl_buf_puts(&body, ",\"reason\":");
            sl_buf_json_string(&body, why, strlen(why));
        }
        sl_buf_puts(&body, "}\n");
        ret = reply(conn, ok ? 200 : 503, "application/json", &body);
    } else if (get && strcmp(url, "/metrics") == 0) {
        char why[8];
        sl_metrics_set_ready(a->hooks.ready(a->hooks.app, why, sizeof(why)));
        sl_metrics_render(&body);
        ret = reply(conn, 200, "text/plain; version=0.0.4", &body);
    } else if (get && strcmp(url, "/info") == 0) {
        a->hooks.info(a->hooks.app, &body);
        ret = reply(conn, 200, "application/json", &body);
    } else if (strcmp(url, "/-/reload") == 0 && strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
        const char *force = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "force");
        bool forced = force != NULL && (strcmp(force, "true") == 0 || strcmp(force, "1") == 0);
        int status = a->hooks.reload(a->hooks.app, forced, &body);
        ret = reply(conn, (unsigned)status, "application/json", &body);
    } else {
        sl_buf_puts(&body,
                    "{\"error\":{\"code\":\"not_found\",\"message\":\"admin endpoints: "
                    "GET /healthz /readyz /metrics /info, POST /-/reload[?force=true]\"}}\n");
        ret = reply(conn, 404, "application/json", &body);
    }
    sl_buf_free(&body);
    return ret;
}

sl_status_t sl_admin_start(const char *addr, const sl_admin_hooks_t *hooks, sl_admin_t **out,
                           sl_error_t *err) {
    sl_admin_t *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        abort();
    }
    a->hooks = *hooks;
    int fd;
    if (sl_listen(addr, "listen.admin", &fd, a->address, sizeof(a->address), err) != SL_OK) {
        free(a);
        return SL_ERROR;
    }
    a->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
                                 on_request, a, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (a->daemon == NULL) {
        close(fd);
        free(a);
        return sl_error_set(err, SL_ERROR, "listen_failed",
                            "listen.admin: libmicrohttpd could not start on %s", addr);
    }
    *out = a;
    return SL_OK;
}

const char *sl_admin_address(const sl_admin_t *a) {
    return a->address;
}

void sl_admin_stop(sl_admin_t *a) {
    if (a == NULL) {
        return;
    }
    MHD_stop_daemon(a->daemon);
    free(a);
}
