#include "transport/http1/http1.h"

#include <ctype.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/log.h"
#include "metrics/metrics.h"
#include "transport/status_map.h"

struct sl_http1 {
    struct MHD_Daemon *daemon;
    sl_pipeline_t *pipeline;
    atomic_int active;
};

typedef enum { ST_READING, ST_DISCARDING, ST_SUBMITTED, ST_ANSWERED } state_t;

typedef struct {
    sl_http1_t *srv;
    struct MHD_Connection *conn;
    sl_request_t *req;
    state_t state;
    bool submitted;
    char *body;
    size_t len;
    size_t cap;
    int64_t max_body;
    const char *limit_key; /* the config key max_body comes from */
    uint64_t discarded;
    atomic_bool complete;
    atomic_int refs; /* libmicrohttpd's, plus the pipeline's while submitted */
} ctx_t;

static void ctx_unref(ctx_t *c) {
    if (atomic_fetch_sub(&c->refs, 1) == 1) {
        if (c->submitted) {
            if (c->state != ST_ANSWERED) {
                sl_answer_unsent(c->req);
            }
            atomic_fetch_sub(&c->srv->active, 1);
        }
        sl_request_free(c->req);
        free(c);
    }
}

static enum MHD_Result send_answer(ctx_t *c, sl_answer_t *a, const char *allow) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(a->body.len, a->body.data, MHD_RESPMEM_PERSISTENT);
    if (a->http_status != 204) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    }
    if (c->req->allowed_origin != NULL) {
        /* Never Access-Control-Allow-Credentials: the token authenticates, not cookies. */
        MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN,
                                c->req->allowed_origin);
        MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Origin");
    }
    if (a->retry_after) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", a->retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (allow != NULL) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    }
    if (sl_pipeline_draining(c->srv->pipeline)) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    enum MHD_Result ret = MHD_queue_response(c->conn, (unsigned)a->http_status, r);
    MHD_destroy_response(r);
    c->state = ST_ANSWERED;
    return ret;
}

static enum MHD_Result fail_early(ctx_t *c, sl_fault_t fault, const char *code, const char *msg,
                                  const char *allow) {
    sl_answer_t a;
    sl_answer_fault(c->req, fault, code, msg, &a);
    return send_answer(c, &a, allow);
}

static void on_complete(sl_request_t *req, void *arg) {
    (void)req;
    ctx_t *c = arg;
    atomic_store(&c->complete, true);
    sl_metrics_inflight_add(-1);
    MHD_resume_connection(c->conn);
    ctx_unref(c);
}

typedef struct {
    int count;
    const char *first;
    bool conflict;
} cl_scan_t;

static enum MHD_Result scan_cl(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value) {
    (void)kind;
    cl_scan_t *s = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (s->count > 0 && strcmp(s->first, value) != 0) {
            s->conflict = true;
        }
        if (s->count == 0) {
            s->first = value;
        }
        s->count++;
    }
    return MHD_YES;
}

/* First call for a request: the head is complete, nothing of the body has been read. */
/* A lower-case copy of header name's value in the request's arena, or NULL. */
static const char *header_lower(ctx_t *c, const char *name) {
    const char *v = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, name);
    if (v == NULL) {
        return NULL;
    }
    size_t n = strlen(v);
    char *out = sl_arena_strndup(c->req->arena, v, n);
    for (size_t i = 0; i < n; i++) {
        out[i] = (char)tolower((unsigned char)out[i]);
    }
    return out;
}

/* OPTIONS from a browser about to POST with headers (fetch with Authorization or JSON). */
static enum MHD_Result preflight(ctx_t *c) {
    const char *origin = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Origin");
    if (origin == NULL || !sl_cors_listed(c->req->cfg, NULL, origin)) {
        return fail_early(c, SL_FAULT_FORBIDDEN, "origin_not_allowed",
                          "this origin is not in cors.origins", NULL);
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "POST");
    MHD_add_response_header(r, "Access-Control-Allow-Headers",
                            "authorization, content-type, content-encoding");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Origin");
    enum MHD_Result ret = MHD_queue_response(c->conn, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    c->state = ST_ANSWERED;
    return ret;
}

static enum MHD_Result begin(ctx_t *c, const char *url, const char *method) {
    struct MHD_Connection *conn = c->conn;
    const sl_config_t *cfg = c->req->cfg;
    if (strcmp(url, "/v1/privacy/erasure") == 0) {
        c->req->route = SL_ROUTE_ERASURE;
    } else if (strcmp(url, "/v1/beacon") == 0) {
        c->req->route = SL_ROUTE_BEACON;
    } else if (strcmp(url, "/v1/events") != 0) {
        return fail_early(c, SL_FAULT_NOT_FOUND, "not_found", "no such endpoint", NULL);
    }
    if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0 && c->req->route != SL_ROUTE_ERASURE) {
        return preflight(c);
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        return fail_early(c, SL_FAULT_METHOD_NOT_ALLOWED, "method_not_allowed",
                          "use POST for /v1/events, /v1/beacon and /v1/privacy/erasure",
                          c->req->route == SL_ROUTE_ERASURE ? "POST" : "POST, OPTIONS");
    }
    if (sl_pipeline_draining(c->srv->pipeline)) {
        return fail_early(c, SL_FAULT_UNAVAILABLE, "shutting_down",
                          "the gateway is shutting down; retry after Retry-After", NULL);
    }
    cl_scan_t cl = {0, NULL, false};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_cl, &cl);
    const char *te =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (cl.conflict) {
        return fail_early(c, SL_FAULT_BAD_REQUEST, "conflicting_content_length",
                          "the request has conflicting Content-Length headers", NULL);
    }
    if (cl.count > 0 && te != NULL) {
        return fail_early(c, SL_FAULT_BAD_REQUEST, "content_length_with_transfer_encoding",
                          "the request has both Content-Length and Transfer-Encoding", NULL);
    }
    if (te != NULL && strcasecmp(te, "chunked") != 0) {
        /* libmicrohttpd would wait for a body it cannot frame (RFC 9112 6.1: answer 501). */
        return fail_early(c, SL_FAULT_NOT_IMPLEMENTED, "unsupported_transfer_encoding",
                          "only Transfer-Encoding: chunked is supported", NULL);
    }
    c->max_body = cfg->limits.max_body_bytes;
    c->limit_key = "limits.max_body_bytes";
    if (c->req->route == SL_ROUTE_BEACON && cfg->limits.max_beacon_bytes < c->max_body) {
        c->max_body = cfg->limits.max_beacon_bytes;
        c->limit_key = "limits.max_beacon_bytes";
    }
    if (cl.count > 0) {
        char *end;
        unsigned long long n = strtoull(cl.first, &end, 10);
        if (*end != '\0' || end == cl.first) {
            return fail_early(c, SL_FAULT_BAD_REQUEST, "bad_content_length",
                              "Content-Length is not a number", NULL);
        }
        if (n > (unsigned long long)c->max_body) {
            char msg[160];
            snprintf(msg, sizeof(msg), "the body is %llu bytes, over %s (%lld)", n, c->limit_key,
                     (long long)c->max_body);
            return fail_early(c, SL_FAULT_TOO_LARGE, "body_too_large", msg, NULL);
        }
        char why[256];
        if (!sl_pipeline_admits(c->srv->pipeline, cfg, (int64_t)n, why, sizeof(why))) {
            return fail_early(c, SL_FAULT_UNAVAILABLE, "overloaded", why, NULL);
        }
        c->cap = n;
    } else {
        c->cap = 16384 < c->max_body ? 16384 : (size_t)c->max_body;
    }
    c->body = sl_arena_alloc(c->req->arena, c->cap + 1);

    sl_request_t *req = c->req;
    req->media_type =
        sl_media_type(req->arena, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                              MHD_HTTP_HEADER_CONTENT_TYPE));
    const char *enc = header_lower(c, MHD_HTTP_HEADER_CONTENT_ENCODING);
    req->content_encoding = enc != NULL ? enc : "";
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    req->origin = origin != NULL ? sl_arena_strndup(req->arena, origin, strlen(origin)) : NULL;
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        auth += 7;
        while (*auth == ' ') {
            auth++;
        }
        req->bearer = auth;
        req->bearer_len = strlen(auth);
    } else if (req->cfg->auth.query_token[0] != '\0') {
        /* Only where configured (clients that can set no header); URLs are never logged. */
        const char *q =
            MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, req->cfg->auth.query_token);
        if (q != NULL && q[0] != '\0') {
            req->bearer = q;
            req->bearer_len = strlen(q);
        }
    }
    return MHD_YES;
}

static bool append(ctx_t *c, const char *data, size_t n) {
    if ((int64_t)(c->len + n) > c->max_body) {
        return false;
    }
    if (c->len + n > c->cap) {
        size_t cap = c->cap * 2;
        while (cap < c->len + n) {
            cap *= 2;
        }
        if ((int64_t)cap > c->max_body) {
            cap = (size_t)c->max_body;
        }
        char *p = sl_arena_alloc(c->req->arena, cap + 1);
        memcpy(p, c->body, c->len);
        c->body = p;
        c->cap = cap;
    }
    memcpy(c->body + c->len, data, n);
    c->len += n;
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    sl_http1_t *srv = cls;
    ctx_t *c = *con_cls;
    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            abort();
        }
        c->srv = srv;
        c->conn = conn;
        atomic_init(&c->refs, 1);
        *con_cls = c;
        c->req = sl_request_new(srv->pipeline);
        if (c->req == NULL) {
            return MHD_NO;
        }
        return begin(c, url, method);
    }
    switch (c->state) {
    case ST_READING:
        if (*upload_data_size > 0) {
            if (!append(c, upload_data, *upload_data_size)) {
                /* A chunked body went over the limit. libmicrohttpd 0.9 cannot answer in the
                 * middle of a body, so the rest is read and dropped (nothing is kept) and the
                 * 413 goes out when it ends. */
                c->state = ST_DISCARDING;
                c->discarded = c->len + *upload_data_size;
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
        c->req->body = c->body;
        c->req->body_len = c->len;
        c->state = ST_SUBMITTED;
        c->submitted = true;
        atomic_fetch_add(&c->refs, 1);
        atomic_fetch_add(&srv->active, 1);
        sl_metrics_inflight_add(1);
        /* Suspend first: the pipeline may complete on this thread or on the poll thread, and
         * either way resumes the connection exactly once. */
        MHD_suspend_connection(conn);
        sl_pipeline_submit(c->req, on_complete, c);
        return MHD_YES;
    case ST_DISCARDING:
        if (*upload_data_size > 0) {
            c->discarded += *upload_data_size;
            *upload_data_size = 0;
            /* Past this much, stop reading and close: the client is not listening. */
            return c->discarded > 4 * (uint64_t)c->max_body + (1u << 20) ? MHD_NO : MHD_YES;
        }
        {
            char msg[160];
            snprintf(msg, sizeof(msg), "the chunked body is over %s (%lld); %llu bytes were sent",
                     c->limit_key, (long long)c->max_body, (unsigned long long)c->discarded);
            return fail_early(c, SL_FAULT_TOO_LARGE, "body_too_large", msg, NULL);
        }
    case ST_SUBMITTED:
        if (!atomic_load(&c->complete)) {
            return MHD_YES;
        }
        {
            sl_answer_t a;
            sl_answer_build(c->req, &a);
            return send_answer(c, &a, NULL);
        }
    case ST_ANSWERED:
        /* Body bytes after an early answer are discarded. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    ctx_t *c = *con_cls;
    if (c != NULL) {
        *con_cls = NULL;
        ctx_unref(c);
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n') {
        line[--n] = '\0';
    }
    SL_DEBUG("http: %s", line);
}

sl_status_t sl_http1_start(const sl_config_t *cfg, sl_pipeline_t *pipeline, sl_http1_t **out,
                           sl_error_t *err) {
    sl_http1_t *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        abort();
    }
    h->pipeline = pipeline;
    long threads = cfg->http.threads > 0 ? (long)cfg->http.threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) {
        threads = 1;
    }
    /* The connection memory pool holds the request head and the I/O buffers: its size is what
     * bounds the head (libmicrohttpd answers 431 above it). No listening socket: the public
     * listener (transport/public.c) hands over the HTTP/1.x connections. */
    size_t pool = (size_t)cfg->limits.max_header_bytes + 4096;
    h->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
            MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET,
        0, NULL, NULL, on_request, h, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->http.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->http.idle_timeout_ms / 1000),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_END);
    if (h->daemon == NULL) {
        free(h);
        return sl_error_set(err, SL_ERROR, "listen_failed",
                            "listen.http: libmicrohttpd could not start");
    }
    *out = h;
    return SL_OK;
}

void sl_http1_adopt(sl_http1_t *h, int fd, const struct sockaddr *addr, socklen_t addrlen) {
    if (MHD_add_connection(h->daemon, fd, addr, addrlen) != MHD_YES) {
        /* Over http.max_connections (libmicrohttpd closed it) or out of memory. */
        SL_DEBUG("http: a connection was refused by libmicrohttpd");
    }
}

int sl_http1_active(const sl_http1_t *h) {
    return atomic_load(&h->active);
}

void sl_http1_stop(sl_http1_t *h) {
    if (h == NULL) {
        return;
    }
    MHD_stop_daemon(h->daemon);
    free(h);
}
