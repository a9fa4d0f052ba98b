#include "transport/h2/h2.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timefmt.h"
#include "metrics/metrics.h"
#include "transport/h2/reflection.h"
#include "transport/status_map.h"

#define GRPC_PUBLISH "/sluice.v1.Ingest/Publish"
#define GRPC_STREAM "/sluice.v1.Ingest/PublishStream"
#define GRPC_HEALTH "/grpc.health.v1.Health/Check"
#define GRPC_REFLECT_V1 "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define GRPC_REFLECT_V1A "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

typedef struct worker worker_t;
typedef struct conn conn_t;
typedef struct stream stream_t;

typedef enum {
    K_HTTP,       /* /v1/... as over HTTP/1.1 */
    K_PREFLIGHT,  /* OPTIONS /v1/... */
    K_UNARY,      /* gRPC Publish */
    K_STREAM,     /* gRPC PublishStream */
    K_HEALTH,     /* gRPC Health/Check */
    K_REFLECT,    /* gRPC server reflection (a stream of requests) */
    K_GRPC_OTHER, /* gRPC, no such method */
} kind_t;

struct stream {
    conn_t *c;
    int32_t id;
    int refs; /* nghttp2's (until the stream closes) + one per request in the pipeline */
    bool closed;
    bool input_done;
    bool responded; /* response headers (or trailers-only) submitted */
    bool headers_too_large;
    size_t header_bytes;
    sl_arena_t *arena; /* header values; lives as long as the stream */
    const char *method, *path, *ctype, *cenc, *auth, *origin, *grpc_enc, *grpc_timeout, *clen;
    kind_t kind;
    sl_route_t route;
    uint8_t *in; /* the HTTP body, or the gRPC bytes not yet framed into messages */
    size_t in_len, in_cap, max_in;
    const char *limit_key;
    uint64_t unconsumed; /* DATA bytes whose flow-control credit is held back */
    sl_request_t *req;   /* HTTP and unary gRPC: the request (freed with the stream) */
    int in_flight;       /* requests in the pipeline */
    uint8_t *out;        /* response bytes not yet taken by nghttp2 */
    size_t out_len, out_off, out_cap;
    bool out_eof;  /* nothing more will be appended */
    bool trailers; /* gRPC: status trailers after the data */
    bool deferred; /* the data provider is waiting for bytes */
    int grpc_status;
    char grpc_message[512];
    int64_t opened_ms;
    int64_t deadline_ms; /* grpc-timeout as sl_time_now_ms time, 0: none */
    stream_t *next;      /* the connection's streams */
};

typedef enum {
    M_HANDSHAKE, /* TLS: SSL_accept in progress */
    M_H2,        /* an nghttp2 session (cleartext, or TLS with ALPN h2) */
    M_PUMP,      /* TLS with http/1.1: bytes pumped to libmicrohttpd through a socketpair */
} mode_t_;

/* What an epoll event points at: a connection's socket, or the socketpair of a pumped one. */
enum { TAG_CONN = 1, TAG_PAIR = 2 };
struct pair_handle_view {
    uint8_t tag;
    struct conn *c;
};

struct conn {
    uint8_t tag;                         /* TAG_CONN */
    struct pair_handle_view pair_handle; /* TAG_PAIR, this connection */
    worker_t *w;
    int fd;
    SSL *ssl; /* NULL: cleartext */
    mode_t_ mode;
    nghttp2_session *s;
    int refs; /* 1 while open + one per live stream */
    bool closed;
    uint8_t *out; /* bytes for the socket that it did not take yet */
    size_t out_len, out_off, out_cap;
    uint32_t events; /* epoll mask of fd */
    int pending;     /* requests of this connection in the pipeline (reset streams' too) */
    int invalid_frames;
    int64_t last_ms;
    bool held_credit;
    stream_t *streams;
    /* M_PUMP: the socketpair end libmicrohttpd does not own, and what TLS gave for it. */
    int pair;
    uint32_t pair_events;
    uint8_t *pin;
    size_t pin_len, pin_off, pin_cap;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    conn_t *next, *prev;
    bool dirty; /* on its worker's send list for the end of this round */
    conn_t *dirty_next;
};

typedef struct job {
    stream_t *st;
    sl_request_t *req;
    struct job *next;
} job_t;

typedef struct {
    int fd;
    bool tls;
    struct sockaddr_storage addr;
    socklen_t addrlen;
} adopt_t;

struct worker {
    sl_h2_t *h;
    pthread_t thread;
    int ep;
    int ev; /* eventfd: adopted sockets and completed requests */
    pthread_mutex_t mu;
    adopt_t *adopt;
    size_t n_adopt, cap_adopt;
    job_t *done, *done_tail;
    atomic_bool quiesce;
    conn_t *conns;
    conn_t *dead;  /* connections to free at the end of this round */
    conn_t *dirty; /* connections with frames to send at the end of this round */
};

struct sl_h2 {
    sl_pipeline_t *pipeline;
    void (*http1)(void *ctx, int fd, const struct sockaddr *addr, socklen_t len);
    void *http1_ctx;
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    nghttp2_settings_entry settings[4];
    int64_t window;
    int64_t max_pending, max_invalid, idle_ms, request_ms;
    size_t max_header;
    worker_t *w;
    int n;
    atomic_uint next;
    atomic_int active;
    atomic_bool stop;
};

static int64_t now_ms(void) {
    return (int64_t)(sl_time_mono_ns() / 1000000);
}

/* ---- buffers --------------------------------------------------------------------------------- */

static void grow(uint8_t **p, size_t *cap, size_t need) {
    if (need <= *cap) {
        return;
    }
    size_t c = *cap > 0 ? *cap : 4096;
    while (c < need) {
        c *= 2;
    }
    uint8_t *q = realloc(*p, c);
    if (q == NULL) {
        abort();
    }
    *p = q;
    *cap = c;
}

static void out_append(stream_t *st, const void *p, size_t n) {
    if (n == 0) {
        return;
    }
    if (st->out_off > 0 && st->out_off == st->out_len) {
        st->out_off = st->out_len = 0;
    }
    grow(&st->out, &st->out_cap, st->out_len + n);
    memcpy(st->out + st->out_len, p, n);
    st->out_len += n;
}

/* A gRPC message: compressed flag 0, big-endian length, bytes. */
static void out_grpc_message(stream_t *st, const sl_buf_t *msg) {
    uint8_t hdr[5] = {0, (uint8_t)(msg->len >> 24), (uint8_t)(msg->len >> 16),
                      (uint8_t)(msg->len >> 8), (uint8_t)msg->len};
    out_append(st, hdr, 5);
    out_append(st, msg->data, msg->len);
}

/* Calls whose answer is a stream of messages, sent as each is ready (headers already out). */
static bool streaming(const stream_t *st) {
    return st->kind == K_STREAM || st->kind == K_REFLECT;
}

/* ---- lifetimes (I/O thread only) ----------------------------------------------------------- */

/* Freed at the end of the worker's loop round, not at once: an event of the same epoll batch
 * may still point at it. */
static void conn_unref(conn_t *c) {
    if (--c->refs == 0) {
        c->next = c->w->dead;
        c->w->dead = c;
    }
}

static void stream_unref(stream_t *st) {
    if (--st->refs > 0) {
        return;
    }
    sl_request_free(st->req);
    free(st->in);
    free(st->out);
    sl_arena_destroy(st->arena);
    conn_t *c = st->c;
    free(st);
    conn_unref(c);
}

static void stream_detach(stream_t *st) {
    conn_t *c = st->c;
    for (stream_t **p = &c->streams; *p != NULL; p = &(*p)->next) {
        if (*p == st) {
            *p = st->next;
            break;
        }
    }
    st->closed = true;
    stream_unref(st); /* nghttp2's */
}

/* ---- responses ----------------------------------------------------------------------------- */

#define NV(n, v)                                                                                   \
    { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }

static ssize_t read_out(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                        uint32_t *flags, nghttp2_data_source *src, void *ud) {
    (void)ud;
    stream_t *st = src->ptr;
    size_t left = st->out_len - st->out_off;
    size_t n = left < length ? left : length;
    if (n > 0) {
        memcpy(buf, st->out + st->out_off, n);
    }
    st->out_off += n;
    if (st->out_off == st->out_len) {
        if (st->out_eof) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            if (st->trailers) {
                char code[16];
                snprintf(code, sizeof(code), "%d", st->grpc_status);
                nghttp2_nv t[2] = {NV("grpc-status", code), NV("grpc-message", st->grpc_message)};
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
                nghttp2_submit_trailer(s, id, t, st->grpc_message[0] != '\0' ? 2 : 1);
            }
        } else if (n == 0) {
            st->deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    return (ssize_t)n;
}

/* grpc-message: percent-encoded (RFC: bytes outside 0x20-0x7e and '%'). */
static void set_grpc_message(stream_t *st, const char *msg) {
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)msg;
         *p != '\0' && o + 4 < sizeof(st->grpc_message); p++) {
        if (*p < 0x20 || *p > 0x7e || *p == '%') {
            o += (size_t)snprintf(st->grpc_message + o, sizeof(st->grpc_message) - o, "%%%02X", *p);
        } else {
            st->grpc_message[o++] = (char)*p;
        }
    }
    st->grpc_message[o] = '\0';
}

/* A gRPC answer with no message: the status in the only HEADERS frame. */
static void grpc_trailers_only(stream_t *st, int status, const char *msg) {
    if (st->responded || st->closed) {
        return;
    }
    set_grpc_message(st, msg);
    char code[16];
    snprintf(code, sizeof(code), "%d", status);
    nghttp2_nv nv[4] = {NV(":status", "200"), NV("content-type", "application/grpc"),
                        NV("grpc-status", code), NV("grpc-message", st->grpc_message)};
    nghttp2_submit_response(st->c->s, st->id, nv, st->grpc_message[0] != '\0' ? 4 : 3, NULL);
    st->responded = true;
}

/* Response headers of a gRPC stream whose messages follow in st->out. */
static void grpc_open(stream_t *st) {
    if (st->responded || st->closed) {
        return;
    }
    nghttp2_nv nv[2] = {NV(":status", "200"), NV("content-type", "application/grpc")};
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_out};
    st->trailers = true;
    nghttp2_submit_response(st->c->s, st->id, nv, 2, &prd);
    st->responded = true;
}

static void resume(stream_t *st) {
    if (st->deferred && !st->closed) {
        st->deferred = false;
        nghttp2_session_resume_data(st->c->s, st->id);
    }
}

/* The HTTP answer a (its body copied), as HTTP/1.1 would send it. */
static void http_respond(stream_t *st, const sl_answer_t *a, const char *allowed_origin,
                         const char *allow) {
    if (st->responded || st->closed) {
        return;
    }
    char status[8], ra[16];
    snprintf(status, sizeof(status), "%d", a->http_status);
    nghttp2_nv nv[8];
    size_t n = 0;
    nv[n++] = (nghttp2_nv)NV(":status", status);
    if (a->http_status != 204) {
        nv[n++] = (nghttp2_nv)NV("content-type", "application/json");
    }
    if (a->retry_after) {
        snprintf(ra, sizeof(ra), "%d", a->retry_after_s);
        nv[n++] = (nghttp2_nv)NV("retry-after", ra);
    }
    if (allowed_origin != NULL) {
        nv[n++] = (nghttp2_nv)NV("access-control-allow-origin", allowed_origin);
        nv[n++] = (nghttp2_nv)NV("vary", "Origin");
    }
    if (allow != NULL) {
        nv[n++] = (nghttp2_nv)NV("allow", allow);
    }
    out_append(st, a->body.data, a->body.len);
    st->out_eof = true;
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_out};
    nghttp2_submit_response(st->c->s, st->id, nv, n, a->body.len > 0 ? &prd : NULL);
    st->responded = true;
}

/* A fault found before the pipeline ran (limits, routes): the same answer body as HTTP/1.1, or
 * the mapped gRPC status. */
static void answer_fault(stream_t *st, sl_fault_t fault, const char *code, const char *msg,
                         const char *allow) {
    if (st->responded || st->closed) {
        return;
    }
    sl_request_t *req = sl_request_new(st->c->w->h->pipeline);
    if (req == NULL) {
        nghttp2_submit_rst_stream(st->c->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    sl_answer_t a;
    sl_answer_fault(req, fault, code, msg, &a);
    if (st->kind == K_HTTP || st->kind == K_PREFLIGHT) {
        http_respond(st, &a, NULL, allow);
    } else {
        grpc_trailers_only(st, a.grpc_status, req->fault_err.message);
    }
    sl_request_free(req);
}

/* ---- requests into the pipeline ------------------------------------------------------------ */

/* The worker whose thread this is (NULL on other threads). */
static _Thread_local worker_t *this_worker;

static void on_complete(sl_request_t *req, void *ctx) {
    job_t *j = ctx;
    worker_t *w = j->st->c->w;
    bool own = this_worker == w; /* completed inside submit: the loop takes it this round */
    pthread_mutex_lock(&w->mu);
    if (w->done_tail != NULL) {
        w->done_tail->next = j;
    } else {
        w->done = j;
    }
    w->done_tail = j;
    pthread_mutex_unlock(&w->mu);
    if (!own) {
        uint64_t one = 1;
        (void)!write(w->ev, &one, sizeof(one));
    }
    (void)req;
}

static int64_t grpc_timeout_ms(const char *t) {
    if (t == NULL) {
        return 0;
    }
    char *end;
    long long v = strtoll(t, &end, 10);
    if (end == t || v < 0) {
        return 0;
    }
    switch (*end) {
    case 'H':
        return v * 3600000;
    case 'M':
        return v * 60000;
    case 'S':
        return v * 1000;
    case 'm':
        return v;
    case 'u':
        return (v + 999) / 1000;
    case 'n':
        return (v + 999999) / 1000000;
    default:
        return 0;
    }
}

/* A request for st from body (copied into its arena) and st's headers. */
static sl_request_t *new_request(stream_t *st, const uint8_t *body, size_t len) {
    sl_request_t *req = sl_request_new(st->c->w->h->pipeline);
    if (req == NULL) {
        return NULL;
    }
    req->route = st->route;
    char *b = sl_arena_alloc(req->arena, len + 1);
    if (len > 0) {
        memcpy(b, body, len);
    }
    b[len] = '\0';
    req->body = b;
    req->body_len = len;
    req->origin = st->origin;
    if (st->auth != NULL && strncasecmp(st->auth, "Bearer ", 7) == 0) {
        const char *t = st->auth + 7;
        while (*t == ' ') {
            t++;
        }
        req->bearer = t;
        req->bearer_len = strlen(t);
    }
    if (st->kind == K_HTTP) {
        req->media_type = sl_media_type(req->arena, st->ctype);
        req->content_encoding = st->cenc != NULL ? st->cenc : "";
    } else {
        req->media_type = "application/x-protobuf";
        req->content_encoding = "";
        /* The deadline counts from when the stream opened (grpc-timeout), not from now. */
        req->deadline_ms =
            st->deadline_ms != 0 ? req->received_at_ms + (st->deadline_ms - now_ms()) : 0;
    }
    return req;
}

static void submit(stream_t *st, sl_request_t *req) {
    conn_t *c = st->c;
    job_t *j = sl_arena_calloc(req->arena, sizeof(*j));
    j->st = st;
    j->req = req;
    st->refs++;
    st->in_flight++;
    c->pending++;
    atomic_fetch_add(&c->w->h->active, 1);
    sl_metrics_inflight_add(1);
    sl_pipeline_submit(req, on_complete, j);
}

/* A gRPC message of st (flag byte, then its bytes): into the pipeline as a batch. */
static void grpc_message(stream_t *st, uint8_t flag, const uint8_t *msg, size_t len) {
    if (flag > 1) {
        grpc_trailers_only(st, 13, "malformed gRPC message prefix");
        return;
    }
    if (st->deadline_ms != 0 && now_ms() >= st->deadline_ms) {
        /* Arrived (or completed) after its deadline: never produced. */
        if (st->kind == K_STREAM && st->responded) {
            set_grpc_message(st, "deadline exceeded (grpc-timeout)");
            st->grpc_status = 4;
            st->out_eof = true;
            resume(st);
        } else {
            grpc_trailers_only(st, 4, "deadline exceeded (grpc-timeout)");
        }
        return;
    }
    bool gzip = flag == 1;
    if (gzip && (st->grpc_enc == NULL || strcmp(st->grpc_enc, "gzip") != 0)) {
        grpc_trailers_only(st, 12, "compressed message without grpc-encoding: gzip");
        return;
    }
    sl_request_t *req = new_request(st, msg, len);
    if (req == NULL) {
        grpc_trailers_only(st, 14, "not ready");
        return;
    }
    req->content_encoding = gzip ? "gzip" : "";
    if (st->kind == K_STREAM) {
        grpc_open(st);
    } else {
        st->req = req;
    }
    submit(st, req);
}

static void health(stream_t *st) {
    sl_h2_t *h = st->c->w->h;
    bool ready =
        sl_sink_ready(sl_pipeline_sink(h->pipeline), NULL, 0) && !sl_pipeline_draining(h->pipeline);
    /* grpc.health.v1.HealthCheckResponse{status: SERVING (1) | NOT_SERVING (2)} */
    uint8_t msg[2] = {0x08, ready ? 1 : 2};
    sl_buf_t b = {.data = (char *)msg, .len = 2};
    grpc_open(st);
    out_grpc_message(st, &b);
    st->out_eof = true;
}

/* Frames complete gRPC messages out of st->in; dispatches each (streaming) or checks there is
 * exactly one (unary, at the end of input). */
static void grpc_frame(stream_t *st) {
    size_t off = 0;
    while ((!st->responded || streaming(st)) && !st->out_eof) {
        if (st->in_len - off < 5) {
            break;
        }
        const uint8_t *p = st->in + off;
        size_t len = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if ((int64_t)len > (int64_t)st->max_in) {
            char m[160];
            snprintf(m, sizeof(m), "the message is %zu bytes, over %s (%zu)", len, st->limit_key,
                     st->max_in);
            grpc_trailers_only(st, 8, m);
            st->in_len = 0;
            return;
        }
        if (st->in_len - off < 5 + len) {
            break;
        }
        if (st->kind == K_STREAM ||
            (st->kind == K_UNARY && st->input_done && off + 5 + len == st->in_len)) {
            grpc_message(st, p[0], p + 5, len);
        } else if (st->kind == K_REFLECT) {
            sl_buf_t msg;
            sl_buf_init(&msg, NULL, 4096);
            sl_reflection_answer(p + 5, len, &msg);
            grpc_open(st);
            out_grpc_message(st, &msg);
            sl_buf_free(&msg);
            resume(st);
        } else if (st->kind == K_HEALTH && st->input_done) {
            health(st);
        } else if (st->input_done) {
            grpc_trailers_only(st, 13, "a unary call carries exactly one message");
        } else {
            break; /* unary: wait for the end of input */
        }
        off += 5 + len;
    }
    memmove(st->in, st->in + off, st->in_len - off);
    st->in_len -= off;
}

static void input_done(stream_t *st) {
    st->input_done = true;
    if (st->responded && !streaming(st)) {
        return; /* answered early (limits) */
    }
    switch (st->kind) {
    case K_HTTP: {
        sl_request_t *req = new_request(st, st->in, st->in_len);
        if (req == NULL) {
            nghttp2_submit_rst_stream(st->c->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
            return;
        }
        st->req = req;
        submit(st, req);
        return;
    }
    case K_PREFLIGHT: {
        sl_config_t *cfg = sl_config_acquire();
        if (cfg != NULL && st->origin != NULL && sl_cors_listed(cfg, NULL, st->origin)) {
            nghttp2_nv nv[6] = {
                NV(":status", "204"),
                NV("access-control-allow-origin", st->origin),
                NV("access-control-allow-methods", "POST"),
                NV("access-control-allow-headers", "authorization, content-type, content-encoding"),
                NV("access-control-max-age", "600"),
                NV("vary", "Origin")};
            nghttp2_submit_response(st->c->s, st->id, nv, 6, NULL);
            st->responded = true;
        } else {
            answer_fault(st, SL_FAULT_FORBIDDEN, "origin_not_allowed",
                         "this origin is not in cors.origins", NULL);
        }
        sl_config_unref(cfg);
        return;
    }
    case K_GRPC_OTHER:
        grpc_trailers_only(st, 12, "no such method (sluice.v1.Ingest/Publish, PublishStream)");
        return;
    case K_UNARY:
    case K_HEALTH:
        if (st->in_len == 0) {
            grpc_trailers_only(st, 13, "a unary call carries exactly one message");
            return;
        }
        grpc_frame(st);
        if (!st->responded && st->in_flight == 0) {
            grpc_trailers_only(st, 13, "a unary call carries exactly one message");
        }
        return;
    case K_REFLECT:
        grpc_open(st);
        st->out_eof = true;
        st->grpc_status = 0;
        resume(st);
        return;
    case K_STREAM:
        if (st->in_len != 0 && !st->out_eof) {
            grpc_trailers_only(st, 13, "the stream ended inside a message");
            return;
        }
        if (st->in_flight == 0) {
            grpc_open(st);
            st->out_eof = true;
            st->grpc_status = 0;
            resume(st);
        }
        return;
    }
}

/* What a stream asks for, from its headers; answers at once what needs no body. */
static void classify(stream_t *st) {
    const sl_config_t *cfg = NULL;
    sl_config_t *snap = sl_config_acquire();
    cfg = snap;
    bool grpc = st->ctype != NULL && strncmp(st->ctype, "application/grpc", 16) == 0;
    const char *path = st->path != NULL ? st->path : "";
    const char *q = strchr(path, '?');
    size_t plen = q != NULL ? (size_t)(q - path) : strlen(path);
    st->max_in = cfg != NULL ? (size_t)cfg->limits.max_body_bytes : 1 << 20;
    st->limit_key = "limits.max_body_bytes";
    st->opened_ms = now_ms();
    if (grpc) {
        st->kind =
            plen == strlen(GRPC_PUBLISH) && memcmp(path, GRPC_PUBLISH, plen) == 0 ? K_UNARY
            : plen == strlen(GRPC_STREAM) && memcmp(path, GRPC_STREAM, plen) == 0 ? K_STREAM
            : plen == strlen(GRPC_HEALTH) && memcmp(path, GRPC_HEALTH, plen) == 0 ? K_HEALTH
            : (plen == strlen(GRPC_REFLECT_V1) && memcmp(path, GRPC_REFLECT_V1, plen) == 0) ||
                    (plen == strlen(GRPC_REFLECT_V1A) && memcmp(path, GRPC_REFLECT_V1A, plen) == 0)
                ? K_REFLECT
                : K_GRPC_OTHER;
        st->route = SL_ROUTE_EVENTS;
        int64_t t = grpc_timeout_ms(st->grpc_timeout);
        st->deadline_ms = t > 0 ? st->opened_ms + t : 0;
    } else {
        st->kind = K_HTTP;
        bool known = true;
        if (plen == 10 && memcmp(path, "/v1/events", 10) == 0) {
            st->route = SL_ROUTE_EVENTS;
        } else if (plen == 10 && memcmp(path, "/v1/beacon", 10) == 0) {
            st->route = SL_ROUTE_BEACON;
            if (cfg != NULL && cfg->limits.max_beacon_bytes < (int64_t)st->max_in) {
                st->max_in = (size_t)cfg->limits.max_beacon_bytes;
                st->limit_key = "limits.max_beacon_bytes";
            }
        } else if (plen == 19 && memcmp(path, "/v1/privacy/erasure", 19) == 0) {
            st->route = SL_ROUTE_ERASURE;
        } else {
            known = false;
        }
        const char *m = st->method != NULL ? st->method : "";
        if (!known) {
            answer_fault(st, SL_FAULT_NOT_FOUND, "not_found", "no such endpoint", NULL);
        } else if (strcmp(m, "OPTIONS") == 0 && st->route != SL_ROUTE_ERASURE) {
            st->kind = K_PREFLIGHT;
        } else if (strcmp(m, "POST") != 0) {
            answer_fault(st, SL_FAULT_METHOD_NOT_ALLOWED, "method_not_allowed",
                         "use POST for /v1/events, /v1/beacon and /v1/privacy/erasure",
                         st->route == SL_ROUTE_ERASURE ? "POST" : "POST, OPTIONS");
        } else if (sl_pipeline_draining(st->c->w->h->pipeline)) {
            answer_fault(st, SL_FAULT_UNAVAILABLE, "shutting_down",
                         "the gateway is shutting down; retry after Retry-After", NULL);
        } else if (st->clen != NULL && cfg != NULL) {
            /* As over HTTP/1.1: decided from content-length before the body is read. */
            char *end;
            unsigned long long n = strtoull(st->clen, &end, 10);
            char msg[256];
            if (*end != '\0' || end == st->clen) {
                answer_fault(st, SL_FAULT_BAD_REQUEST, "bad_content_length",
                             "Content-Length is not a number", NULL);
            } else if (n > (unsigned long long)st->max_in) {
                snprintf(msg, sizeof(msg), "the body is %llu bytes, over %s (%lld)", n,
                         st->limit_key, (long long)st->max_in);
                answer_fault(st, SL_FAULT_TOO_LARGE, "body_too_large", msg, NULL);
            } else if (!sl_pipeline_admits(st->c->w->h->pipeline, cfg, (int64_t)n, msg,
                                           sizeof(msg))) {
                answer_fault(st, SL_FAULT_UNAVAILABLE, "overloaded", msg, NULL);
            }
        }
    }
    if (st->headers_too_large) {
        char msg[128];
        snprintf(msg, sizeof(msg), "the request headers are over limits.max_header_bytes (%lld)",
                 cfg != NULL ? (long long)cfg->limits.max_header_bytes : 0LL);
        answer_fault(st, SL_FAULT_HEADERS_TOO_LARGE, "headers_too_large", msg, NULL);
    }
    sl_config_unref(snap);
}

/* ---- nghttp2 callbacks ----------------------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
    conn_t *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    if (c->pending >= c->w->h->max_pending) {
        /* Kafka work of this connection (reset streams' included) is at its cap. */
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    stream_t *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        abort();
    }
    st->c = c;
    st->id = f->hd.stream_id;
    st->refs = 1;
    st->arena = sl_arena_new(1024);
    st->opened_ms = now_ms();
    st->next = c->streams;
    c->streams = st;
    c->refs++;
    nghttp2_session_set_stream_user_data(s, st->id, st);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud) {
    (void)flags;
    (void)ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    stream_t *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st == NULL) {
        return 0;
    }
    /* Counted as each header arrives (RFC 9113's size: name + value + 32), so an HPACK bomb
     * costs decoding, never memory. */
    st->header_bytes += namelen + valuelen + 32;
    if (st->header_bytes > st->c->w->h->max_header) {
        st->headers_too_large = true;
        return 0;
    }
    static const struct {
        const char *name;
        size_t off;
    } wanted[] = {
        {":method", offsetof(stream_t, method)},
        {":path", offsetof(stream_t, path)},
        {"content-type", offsetof(stream_t, ctype)},
        {"content-encoding", offsetof(stream_t, cenc)},
        {"authorization", offsetof(stream_t, auth)},
        {"origin", offsetof(stream_t, origin)},
        {"grpc-encoding", offsetof(stream_t, grpc_enc)},
        {"grpc-timeout", offsetof(stream_t, grpc_timeout)},
        {"content-length", offsetof(stream_t, clen)},
    };
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        if (strlen(wanted[i].name) == namelen && memcmp(wanted[i].name, name, namelen) == 0) {
            char *v = sl_arena_strndup(st->arena, (const char *)value, valuelen);
            if (i == 3) { /* content-encoding: compared lower-case */
                for (char *p = v; *p != '\0'; p++) {
                    *p = (char)tolower((unsigned char)*p);
                }
            }
            *(const char **)((char *)st + wanted[i].off) = v;
        }
    }
    return 0;
}

/* Flow control: a DATA frame's credit goes back at once, unless requests in flight are over
 * limits.inflight_bytes: then it is held until they drain (a slow broker slows the client). */
static void give_credit(conn_t *c, stream_t *st, size_t len) {
    sl_h2_t *h = c->w->h;
    sl_config_t *cfg = sl_config_acquire();
    bool ok = cfg == NULL || sl_pipeline_admits(h->pipeline, cfg, (int64_t)len, NULL, 0);
    sl_config_unref(cfg);
    if (ok || st == NULL || st->closed) {
        if (st != NULL && !st->closed) {
            nghttp2_session_consume(c->s, st->id, len);
        } else {
            nghttp2_session_consume_connection(c->s, len);
        }
        return;
    }
    st->unconsumed += len;
    c->held_credit = true;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud) {
    (void)flags;
    conn_t *c = ud;
    stream_t *st = nghttp2_session_get_stream_user_data(s, id);
    give_credit(c, st, len);
    if (st == NULL || (st->responded && !streaming(st)) || st->out_eof) {
        return 0;
    }
    c->last_ms = now_ms();
    if (st->kind == K_HTTP) {
        if (st->in_len + len > st->max_in) {
            char msg[160];
            snprintf(msg, sizeof(msg), "the body is over %s (%zu)", st->limit_key, st->max_in);
            answer_fault(st, SL_FAULT_TOO_LARGE, "body_too_large", msg, NULL);
            free(st->in);
            st->in = NULL;
            st->in_len = st->in_cap = 0;
            return 0;
        }
    } else if (st->in_len + len > st->max_in + 5 + 65536) {
        /* Framed: a message's own limit is checked on its prefix; this bounds the buffer. */
        grpc_trailers_only(st, 8, "messages arrive faster than they are framed");
        return 0;
    }
    grow(&st->in, &st->in_cap, st->in_len + len);
    memcpy(st->in + st->in_len, data, len);
    st->in_len += len;
    if (st->kind == K_STREAM || st->kind == K_UNARY || st->kind == K_REFLECT) {
        grpc_frame(st);
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
    conn_t *c = ud;
    c->last_ms = now_ms();
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) {
        return 0;
    }
    stream_t *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st == NULL) {
        return 0;
    }
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        classify(st);
    }
    if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && !st->input_done) {
        input_done(st);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud) {
    (void)error_code;
    (void)ud;
    stream_t *st = nghttp2_session_get_stream_user_data(s, id);
    if (st != NULL) {
        nghttp2_session_set_stream_user_data(s, id, NULL);
        stream_detach(st);
    }
    return 0;
}

static int on_invalid_frame(nghttp2_session *s, const nghttp2_frame *f, int lib_error, void *ud) {
    (void)f;
    (void)lib_error;
    conn_t *c = ud;
    if (++c->invalid_frames > c->w->h->max_invalid) {
        nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
    }
    return 0;
}

/* ---- connections ------------------------------------------------------------------------------
 */

static void conn_close(conn_t *c) {
    if (c->closed) {
        return;
    }
    c->closed = true;
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd); /* closing removes it from the epoll set */
    if (c->mode == M_PUMP) {
        close(c->pair);
    }
    while (c->streams != NULL) {
        stream_t *st = c->streams;
        c->streams = st->next;
        st->closed = true;
        nghttp2_session_set_stream_user_data(c->s, st->id, NULL);
        stream_unref(st);
    }
    nghttp2_session_del(c->s);
    c->s = NULL;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        c->w->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    conn_unref(c);
}

static void arm(conn_t *c, uint32_t events) {
    if (c->closed || c->events == events) {
        return;
    }
    c->events = events;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Socket reads and writes, through TLS when the connection has it: > 0 bytes, 0 end of
 * stream, -1 would block (*want_write: TLS needs the socket writable first), -2 error. */
/* A recv/send result in those terms. */
static ssize_t sock_result(ssize_t r) {
    return r >= 0 ? r : (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : -2;
}

/* An SSL_read/SSL_write result in those terms. */
static ssize_t ssl_result(conn_t *c, int r, bool *want_write) {
    if (r > 0) {
        return r;
    }
    int e = SSL_get_error(c->ssl, r);
    *want_write = e == SSL_ERROR_WANT_WRITE;
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? -1
           : e == SSL_ERROR_ZERO_RETURN                          ? 0
                                                                 : -2;
}

static ssize_t io_read(conn_t *c, void *buf, size_t n, bool *want_write) {
    if (c->ssl != NULL) {
        return ssl_result(c, SSL_read(c->ssl, buf, (int)n), want_write);
    }
    ssize_t r;
    do {
        r = recv(c->fd, buf, n, 0);
    } while (r < 0 && errno == EINTR);
    return sock_result(r);
}

static ssize_t io_write(conn_t *c, const void *buf, size_t n) {
    if (c->ssl != NULL) {
        bool want_write = false;
        ssize_t r = ssl_result(c, SSL_write(c->ssl, buf, (int)n), &want_write);
        return r == 0 ? -2 : r; /* no "end of stream" for a write */
    }
    ssize_t r;
    do {
        r = send(c->fd, buf, n, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    return sock_result(r);
}

/* Gathers what nghttp2 has (up to 64 KiB at a time, so a response's frames leave in one send)
 * and writes it, until nghttp2 has nothing more or the socket is full. */
static void conn_send(conn_t *c) {
    if (c->closed || c->mode != M_H2) {
        return;
    }
    for (;;) {
        while (c->out_off == 0 && c->out_len < 65536) {
            const uint8_t *p;
            ssize_t n = nghttp2_session_mem_send(c->s, &p);
            if (n < 0) {
                conn_close(c);
                return;
            }
            if (n == 0) {
                break;
            }
            grow(&c->out, &c->out_cap, c->out_len + (size_t)n);
            memcpy(c->out + c->out_len, p, (size_t)n);
            c->out_len += (size_t)n;
        }
        if (c->out_off == c->out_len) {
            c->out_off = c->out_len = 0;
            break;
        }
        while (c->out_off < c->out_len) {
            ssize_t n = io_write(c, c->out + c->out_off, c->out_len - c->out_off);
            if (n == -1) {
                arm(c, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
                return;
            }
            if (n <= 0) {
                conn_close(c);
                return;
            }
            c->out_off += (size_t)n;
        }
        c->out_off = c->out_len = 0;
    }
    arm(c, EPOLLIN | EPOLLRDHUP);
    if (!nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s)) {
        conn_close(c);
    }
}

/* conn_send at the end of this round of the worker's loop, once, whatever this round read and
 * completed for c: the answers of many streams leave in one send. */
static void conn_send_later(conn_t *c) {
    if (c->dirty || c->closed) {
        return;
    }
    c->dirty = true;
    c->refs++;
    c->dirty_next = c->w->dirty;
    c->w->dirty = c;
}

static void send_dirty(worker_t *w) {
    while (w->dirty != NULL) {
        conn_t *c = w->dirty;
        w->dirty = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
        if (!c->closed) {
            conn_send(c);
        }
        conn_unref(c);
    }
}

static void conn_read(conn_t *c) {
    uint8_t buf[16384];
    while (!c->closed) {
        bool want_write = false;
        ssize_t n = io_read(c, buf, sizeof(buf), &want_write);
        if (n == -1) {
            if (want_write) {
                arm(c, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
            }
            break;
        }
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->last_ms = now_ms();
        ssize_t r = nghttp2_session_mem_recv(c->s, buf, (size_t)n);
        if (r < 0) {
            /* Bad magic, flood detection, ...: say GOAWAY if we can, then close. */
            SL_DEBUG("h2: closing a connection: %s", nghttp2_strerror((int)r));
            nghttp2_session_terminate_session(c->s, NGHTTP2_PROTOCOL_ERROR);
            conn_send(c);
            conn_close(c);
            return;
        }
    }
    conn_send_later(c);
}

static void start_h2(conn_t *c) {
    sl_h2_t *h = c->w->h;
    if (nghttp2_session_server_new2(&c->s, h->cbs, c, h->opt) != 0) {
        conn_close(c);
        return;
    }
    c->mode = M_H2;
    nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, h->settings, 4);
    /* The connection window: room for a few streams' windows at once. */
    nghttp2_session_set_local_window_size(
        c->s, NGHTTP2_FLAG_NONE, 0,
        (int32_t)(h->window * 4 < 0x7fffffff ? h->window * 4 : 0x7fffffff));
    conn_read(c); /* the preface may already be waiting */
}

/* ---- TLS with http/1.1: a pump between the TLS socket and libmicrohttpd -------------------- */

#define PUMP_CHUNK 16384

static void pump_arm(conn_t *c) {
    /* Read a side only while what it gave has been passed on (backpressure both ways). */
    uint32_t tcp = EPOLLRDHUP, pair = EPOLLRDHUP;
    if (c->pin_off == c->pin_len) {
        tcp |= EPOLLIN;
    } else {
        pair |= EPOLLOUT;
    }
    if (c->out_off == c->out_len) {
        pair |= EPOLLIN;
    } else {
        tcp |= EPOLLOUT;
    }
    arm(c, tcp);
    if (!c->closed && c->pair_events != pair) {
        c->pair_events = pair;
        struct epoll_event ev = {.events = pair, .data.ptr = &c->pair_handle};
        epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->pair, &ev);
    }
}

/* Writes buf[*off, len) to libmicrohttpd's end of the socketpair (to_pair) or to the TLS
 * client, until it is all written or the socket is full; false when that closed the
 * connection. */
static bool pump_out(conn_t *c, bool to_pair, const uint8_t *buf, size_t *off, size_t len,
                     bool *progress) {
    while (*off < len) {
        ssize_t n = to_pair ? sock_result(send(c->pair, buf + *off, len - *off, MSG_NOSIGNAL))
                            : io_write(c, buf + *off, len - *off);
        if (n == -1) {
            return true;
        }
        if (n <= 0) {
            conn_close(c);
            return false;
        }
        *off += (size_t)n;
        *progress = true;
    }
    return true;
}

static void pump(conn_t *c) {
    bool progress = true;
    while (progress && !c->closed) {
        progress = false;
        if (c->pin_off == c->pin_len) {
            c->pin_off = c->pin_len = 0;
            grow(&c->pin, &c->pin_cap, PUMP_CHUNK);
            bool want_write = false;
            ssize_t n = io_read(c, c->pin, PUMP_CHUNK, &want_write);
            if (n == 0 || n == -2) {
                conn_close(c);
                return;
            }
            if (n > 0) {
                c->pin_len = (size_t)n;
                c->last_ms = now_ms();
                progress = true;
            }
        }
        if (!pump_out(c, true, c->pin, &c->pin_off, c->pin_len, &progress)) {
            return;
        }
        if (c->out_off == c->out_len) {
            c->out_off = c->out_len = 0;
            grow(&c->out, &c->out_cap, PUMP_CHUNK);
            ssize_t n = recv(c->pair, c->out, PUMP_CHUNK, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                SSL_shutdown(c->ssl); /* libmicrohttpd closed the connection */
                conn_close(c);
                return;
            }
            if (n > 0) {
                c->out_len = (size_t)n;
                progress = true;
            }
        }
        if (!pump_out(c, false, c->out, &c->out_off, c->out_len, &progress)) {
            return;
        }
    }
    pump_arm(c);
}

static void start_pump(conn_t *c) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        conn_close(c);
        return;
    }
    c->mode = M_PUMP;
    c->pair = sv[0];
    c->pair_handle.tag = TAG_PAIR;
    c->pair_handle.c = c;
    c->pair_events = EPOLLIN | EPOLLRDHUP;
    struct epoll_event ev = {.events = c->pair_events, .data.ptr = &c->pair_handle};
    epoll_ctl(c->w->ep, EPOLL_CTL_ADD, c->pair, &ev);
    sl_h2_t *h = c->w->h;
    h->http1(h->http1_ctx, sv[1], (struct sockaddr *)&c->addr, c->addrlen);
    pump(c);
}

static void handshake(conn_t *c) {
    int r = SSL_accept(c->ssl);
    if (r == 1) {
        const unsigned char *alpn = NULL;
        unsigned int len = 0;
        SSL_get0_alpn_selected(c->ssl, &alpn, &len);
        if (len == 2 && memcmp(alpn, "h2", 2) == 0) {
            arm(c, EPOLLIN | EPOLLRDHUP);
            start_h2(c);
        } else {
            start_pump(c);
        }
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        arm(c, EPOLLIN | EPOLLRDHUP);
    } else if (e == SSL_ERROR_WANT_WRITE) {
        arm(c, EPOLLOUT | EPOLLRDHUP);
    } else {
        SL_DEBUG("tls: handshake failed");
        ERR_clear_error();
        conn_close(c);
    }
}

static void conn_event(conn_t *c, uint32_t events) {
    switch (c->mode) {
    case M_HANDSHAKE:
        handshake(c);
        return;
    case M_PUMP:
        pump(c);
        return;
    case M_H2:
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            conn_read(c);
        } else if (events & EPOLLOUT) {
            conn_send(c);
        }
        return;
    }
}

static void conn_new(worker_t *w, const adopt_t *a) {
    conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        abort();
    }
    c->tag = TAG_CONN;
    c->w = w;
    c->fd = a->fd;
    c->pair = -1;
    c->refs = 1;
    c->last_ms = now_ms();
    c->addr = a->addr;
    c->addrlen = a->addrlen;
    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->prev = c;
    }
    w->conns = c;
    c->events = EPOLLIN | EPOLLRDHUP;
    struct epoll_event ev = {.events = c->events, .data.ptr = c};
    epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev);
    /* Small responses must not wait for the client's delayed ACK (Nagle): conn_send writes a
     * whole response's frames at once. */
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!a->tls) {
        start_h2(c);
        return;
    }
    /* The certificate of the snapshot current now (it reloads with the configuration). */
    sl_config_t *cfg = sl_config_acquire();
    c->ssl = cfg != NULL && cfg->tls_ctx != NULL ? SSL_new(cfg->tls_ctx) : NULL;
    sl_config_unref(cfg);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        conn_close(c);
        return;
    }
    c->mode = M_HANDSHAKE;
    handshake(c);
}

/* ---- completions ----------------------------------------------------------------------------- */

static void complete(job_t *j) {
    stream_t *st = j->st;
    sl_request_t *req = j->req;
    conn_t *c = st->c;
    st->in_flight--;
    c->pending--;
    atomic_fetch_sub(&c->w->h->active, 1);
    sl_metrics_inflight_add(-1);
    bool gone = st->closed || c->closed || (st->responded && st->kind != K_STREAM);
    if (gone || (st->kind == K_STREAM && st->out_eof)) {
        sl_answer_unsent(req);
    } else if (st->kind == K_HTTP) {
        sl_answer_t a;
        sl_answer_build(req, &a);
        const char *origin =
            req->allowed_origin != NULL
                ? sl_arena_strndup(st->arena, req->allowed_origin, strlen(req->allowed_origin))
                : NULL;
        http_respond(st, &a, origin, NULL);
    } else {
        sl_answer_t a;
        sl_answer_build(req, &a);
        if (a.grpc_status != 0) {
            /* A whole-batch fault (or every event retryable): the call's status. */
            char every[160];
            if (req->fault == SL_FAULT_NONE) {
                /* The first event's code says why (delivery_pending, in_flight, queue_full...). */
                const char *code = req->n_events > 0 && req->events[0].code != NULL
                                       ? req->events[0].code
                                       : "retryable";
                snprintf(every, sizeof(every),
                         "no event was taken (every one is retryable: %s); send the batch again",
                         code);
            }
            const char *msg = req->fault != SL_FAULT_NONE ? req->fault_err.message : every;
            if (st->kind == K_STREAM && st->responded) {
                set_grpc_message(st, msg);
                st->grpc_status = a.grpc_status;
                st->out_eof = true;
            } else {
                grpc_trailers_only(st, a.grpc_status, msg);
            }
        } else {
            sl_buf_t msg;
            sl_buf_init(&msg, req->arena, 64 + req->n_events * 32);
            sl_response_render_proto(req, &msg);
            grpc_open(st);
            out_grpc_message(st, &msg);
            if (st->kind == K_UNARY || (st->input_done && st->in_flight == 0)) {
                st->out_eof = true;
                st->grpc_status = 0;
            }
        }
        resume(st);
    }
    if (st->req == req) {
        st->req = NULL;
    }
    sl_request_free(req);
    conn_send_later(c);
    stream_unref(st);
}

/* ---- timers: deadlines, slow requests, idle connections, held credit ------------------------ */

static void tick(worker_t *w) {
    sl_h2_t *h = w->h;
    int64_t now = now_ms();
    bool quiesce = atomic_exchange(&w->quiesce, false);
    for (conn_t *c = w->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->mode != M_H2) {
            if (c->mode == M_HANDSHAKE && now - c->last_ms > h->idle_ms) {
                conn_close(c); /* a handshake that does not finish */
            }
            continue;
        }
        if (quiesce) {
            nghttp2_submit_goaway(c->s, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(c->s), NGHTTP2_NO_ERROR,
                                  NULL, 0);
        }
        bool held = false;
        for (stream_t *st = c->streams; st != NULL; st = st->next) {
            if (st->deadline_ms != 0 && now >= st->deadline_ms && !st->out_eof &&
                (!st->responded || streaming(st))) {
                if (streaming(st) && st->responded) {
                    set_grpc_message(st, "deadline exceeded (grpc-timeout)");
                    st->grpc_status = 4;
                    st->out_eof = true;
                    resume(st);
                } else {
                    grpc_trailers_only(st, 4, "deadline exceeded (grpc-timeout)");
                }
            }
            if (!st->input_done && !st->responded && now - st->opened_ms > h->request_ms) {
                nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
            }
            if (st->unconsumed > 0) {
                sl_config_t *cfg = sl_config_acquire();
                if (cfg == NULL || sl_pipeline_admits(h->pipeline, cfg, 0, NULL, 0)) {
                    nghttp2_session_consume(c->s, st->id, st->unconsumed);
                    st->unconsumed = 0;
                } else {
                    held = true;
                }
                sl_config_unref(cfg);
            }
        }
        c->held_credit = held;
        if (c->streams == NULL && c->pending == 0 && now - c->last_ms > h->idle_ms) {
            nghttp2_session_terminate_session(c->s, NGHTTP2_NO_ERROR);
        }
        conn_send(c);
    }
}

static void free_dead(worker_t *w) {
    while (w->dead != NULL) {
        conn_t *c = w->dead;
        w->dead = c->next;
        free(c->out);
        free(c->pin);
        free(c);
    }
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    this_worker = w;
    sl_h2_t *h = w->h;
    int64_t last_tick = 0;
    struct epoll_event evs[64];
    while (!atomic_load(&h->stop)) {
        /* Completions queued by this thread itself (no eventfd write) are taken at once. */
        pthread_mutex_lock(&w->mu);
        bool queued = w->done != NULL;
        pthread_mutex_unlock(&w->mu);
        int n = epoll_wait(w->ep, evs, 64, queued ? 0 : 100);
        for (int i = 0; i < n; i++) {
            void *ptr = evs[i].data.ptr;
            if (ptr == NULL) {
                uint64_t v;
                (void)!read(w->ev, &v, sizeof(v));
                continue;
            }
            conn_t *c = *(uint8_t *)ptr == TAG_PAIR ? ((struct pair_handle_view *)ptr)->c : ptr;
            if (!c->closed) {
                conn_event(c, evs[i].events);
            }
        }
        pthread_mutex_lock(&w->mu);
        job_t *done = w->done;
        w->done = w->done_tail = NULL;
        adopt_t fds[16];
        size_t nfd = w->n_adopt < 16 ? w->n_adopt : 16;
        if (nfd > 0) {
            memcpy(fds, w->adopt, nfd * sizeof(adopt_t));
            memmove(w->adopt, w->adopt + nfd, (w->n_adopt - nfd) * sizeof(adopt_t));
            w->n_adopt -= nfd;
            if (w->n_adopt > 0) {
                uint64_t one = 1; /* the rest next round */
                (void)!write(w->ev, &one, sizeof(one));
            }
        }
        pthread_mutex_unlock(&w->mu);
        for (size_t i = 0; i < nfd; i++) {
            conn_new(w, &fds[i]);
        }
        while (done != NULL) {
            job_t *next = done->next;
            complete(done);
            done = next;
        }
        send_dirty(w);
        int64_t now = now_ms();
        if (now - last_tick >= 100 || atomic_load(&w->quiesce)) {
            last_tick = now;
            tick(w);
        }
        free_dead(w);
    }
    return NULL;
}

/* ---- the module ------------------------------------------------------------------------------ */

sl_status_t sl_h2_start(const sl_config_t *cfg, sl_pipeline_t *pipeline,
                        void (*http1)(void *ctx, int fd, const struct sockaddr *addr,
                                      socklen_t len),
                        void *http1_ctx, sl_h2_t **out, sl_error_t *err) {
    sl_h2_t *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        abort();
    }
    h->pipeline = pipeline;
    h->http1 = http1;
    h->http1_ctx = http1_ctx;
    h->window = cfg->http2.window_bytes;
    h->max_pending = cfg->http2.max_pending_requests;
    h->max_invalid = cfg->http2.max_invalid_frames;
    h->idle_ms = cfg->http.idle_timeout_ms;
    h->request_ms = cfg->http.request_timeout_ms;
    h->max_header = (size_t)cfg->limits.max_header_bytes; /* a restart key */
    h->settings[0] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                              (uint32_t)cfg->http2.max_concurrent_streams};
    h->settings[1] =
        (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)h->window};
    h->settings[2] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
                                              (uint32_t)cfg->limits.max_header_bytes};
    h->settings[3] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_ENABLE_PUSH, 0};

    nghttp2_session_callbacks_new(&h->cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(h->cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(h->cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(h->cbs, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(h->cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(h->cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(h->cbs, on_invalid_frame);

    nghttp2_option_new(&h->opt);
    nghttp2_option_set_no_auto_window_update(h->opt, 1);
    nghttp2_option_set_max_settings(h->opt, 32);
    nghttp2_option_set_max_outbound_ack(h->opt, 1000); /* SETTINGS / PING flood */
    nghttp2_option_set_stream_reset_rate_limit(h->opt, 1000,
                                               (uint64_t)cfg->http2.max_resets_per_second);
    nghttp2_option_set_max_continuations(h->opt, (size_t)cfg->http2.max_continuations);
    nghttp2_option_set_max_send_header_block_length(h->opt, 65536);

    long threads = cfg->http.threads > 0 ? (long)cfg->http.threads : sysconf(_SC_NPROCESSORS_ONLN);
    h->n = threads < 1 ? 1 : (int)threads;
    h->w = calloc((size_t)h->n, sizeof(worker_t));
    if (h->w == NULL) {
        abort();
    }
    for (int i = 0; i < h->n; i++) {
        worker_t *w = &h->w[i];
        w->h = h;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->ev = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->ep < 0 || w->ev < 0) {
            return sl_error_set(err, SL_ERROR, "listen_failed", "h2: epoll/eventfd: %s",
                                strerror(errno));
        }
        pthread_mutex_init(&w->mu, NULL);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        epoll_ctl(w->ep, EPOLL_CTL_ADD, w->ev, &ev);
        pthread_create(&w->thread, NULL, worker_main, w);
    }
    *out = h;
    return SL_OK;
}

static void adopt(sl_h2_t *h, const adopt_t *a) {
    worker_t *w = &h->w[atomic_fetch_add(&h->next, 1) % (unsigned)h->n];
    pthread_mutex_lock(&w->mu);
    if (w->n_adopt == w->cap_adopt) {
        w->cap_adopt = w->cap_adopt > 0 ? w->cap_adopt * 2 : 16;
        adopt_t *q = realloc(w->adopt, w->cap_adopt * sizeof(adopt_t));
        if (q == NULL) {
            abort();
        }
        w->adopt = q;
    }
    w->adopt[w->n_adopt++] = *a;
    pthread_mutex_unlock(&w->mu);
    uint64_t one = 1;
    (void)!write(w->ev, &one, sizeof(one));
}

void sl_h2_adopt(sl_h2_t *h, int fd) {
    adopt_t a = {.fd = fd};
    adopt(h, &a);
}

void sl_h2_adopt_tls(sl_h2_t *h, int fd, const struct sockaddr *addr, socklen_t len) {
    adopt_t a = {.fd = fd, .tls = true, .addrlen = len};
    memcpy(&a.addr, addr, len < sizeof(a.addr) ? len : sizeof(a.addr));
    adopt(h, &a);
}

void sl_h2_quiesce(sl_h2_t *h) {
    for (int i = 0; i < h->n; i++) {
        atomic_store(&h->w[i].quiesce, true); /* its thread sends the GOAWAYs */
        uint64_t one = 1;
        (void)!write(h->w[i].ev, &one, sizeof(one));
    }
}

int sl_h2_active(const sl_h2_t *h) {
    return atomic_load(&h->active);
}

void sl_h2_stop(sl_h2_t *h) {
    if (h == NULL) {
        return;
    }
    atomic_store(&h->stop, true);
    for (int i = 0; i < h->n; i++) {
        uint64_t one = 1;
        (void)!write(h->w[i].ev, &one, sizeof(one));
        pthread_join(h->w[i].thread, NULL);
    }
    for (int i = 0; i < h->n; i++) {
        worker_t *w = &h->w[i];
        while (w->conns != NULL) {
            conn_close(w->conns);
        }
        free_dead(w);
        for (size_t k = 0; k < w->n_adopt; k++) {
            close(w->adopt[k].fd);
        }
        free(w->adopt);
        /* Requests still in the pipeline would complete into a freed worker: the server stops
         * the transports only once sl_h2_active is 0 (or the sink is destroyed). */
        pthread_mutex_destroy(&w->mu);
        close(w->ep);
        close(w->ev);
    }
    nghttp2_session_callbacks_del(h->cbs);
    nghttp2_option_del(h->opt);
    free(h->w);
    free(h);
}
