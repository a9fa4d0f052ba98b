/* loadtest/driver: closed-loop HTTP/1.1 load driver for POST /v1/events.
 *
 * N keep-alive connections (spread over T epoll threads; default one thread so the driver takes
 * as little of a small machine as it can), each with one request in flight: a batch of B
 * realistic ~300-byte events with fresh, unique event_ids. Every answer must be 200 with
 * "accepted":B, anything else is an error. Requests completing inside the measured window
 * (after the warm-up) are counted and their latency (write of the request .. last byte of the
 * answer) recorded exactly.
 *
 * With --pid, the gateway's CPU (utime+stime of all its threads, from /proc) is read at the
 * window's edges, with a per-thread-name breakdown; --watch NAME=PID does the same for other
 * processes (the Kafka broker). The driver's own CPU and the machine's busy cores over the
 * window are reported too. Prints a human summary on stderr and, with --json, one JSON object on
 * stdout.
 *
 * libc and pthreads only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lt_common.h"

#define MAX_WATCH 4
#define MAX_ERR_KINDS 16

/* ---- options ---- */
static struct {
    char host[64];
    int port;
    const char *path;
    const char *token;
    int connections;
    int batch;
    double duration;
    double warmup;
    int threads;
    int templates;
    int pid;
    int nwatch;
    const char *watch_name[MAX_WATCH];
    int watch_pid[MAX_WATCH];
    double drain_timeout;
    bool json;
    const char *label;
} opt = {
    .host = "127.0.0.1",
    .port = 0,
    .path = "/v1/events",
    .token = "",
    .connections = 16,
    .batch = 100,
    .duration = 10,
    .warmup = 2,
    .threads = 1,
    .templates = 4,
    .drain_timeout = 40,
    .label = "",
};

static uint32_t run_id;
static uint64_t t0_ns, w0_ns, w1_ns, drain_ns;
static atomic_bool interrupted;

/* ---- error kinds ---- */
typedef struct {
    char kind[16];
    uint64_t count;
} err_kind_t;

typedef struct {
    int n;
    err_kind_t k[MAX_ERR_KINDS];
} err_tab_t;

static void err_add(err_tab_t *t, const char *kind) {
    for (int i = 0; i < t->n; i++) {
        if (strcmp(t->k[i].kind, kind) == 0) {
            t->k[i].count++;
            return;
        }
    }
    if (t->n < MAX_ERR_KINDS) {
        snprintf(t->k[t->n].kind, sizeof(t->k[t->n].kind), "%s", kind);
        t->k[t->n].count = 1;
        t->n++;
    }
}

/* ---- connections ---- */
typedef enum { C_SENDING, C_RECEIVING, C_RETRY, C_DONE } cstate_t;

typedef struct {
    char *buf; /* head + body */
    size_t len;
    size_t batch_id_off;
    size_t *id_off; /* opt.batch offsets of event_id values */
} tpl_t;

struct worker;

typedef struct {
    struct worker *w;
    int id;
    int fd;
    cstate_t state;
    tpl_t *tpl; /* opt.templates of them */
    int cur;
    uint64_t counter;
    size_t sent;
    char *rbuf;
    size_t rlen, rcap;
    uint64_t t_send;
    uint64_t retry_at;
} conn_t;

typedef struct worker {
    int idx;
    int epfd;
    conn_t *conns;
    int nconns;
    /* results */
    uint32_t *lat_us; /* completions inside the window */
    size_t nlat, caplat;
    uint64_t ok_events;     /* in window */
    uint64_t err_window;    /* errors in window */
    uint64_t err_total;     /* errors at any time */
    uint64_t completed_all; /* answers at any time */
    uint64_t events_all;    /* accepted events at any time */
    uint64_t abandoned;     /* requests still open at the drain deadline */
    err_tab_t errs;
    char first_err[3][256];
    int nfirst;
    pthread_t th;
} worker_t;

static char expect_accepted[64];

static void build_templates(conn_t *c, lt_rng_t *rng, double *ev_bytes, double *body_bytes) {
    c->tpl = calloc((size_t)opt.templates, sizeof(tpl_t));
    size_t body_cap = (size_t)opt.batch * 700 + 256;
    char *body = malloc(body_cap);
    char ev[1024];
    for (int t = 0; t < opt.templates; t++) {
        tpl_t *tp = &c->tpl[t];
        tp->id_off = calloc((size_t)opt.batch, sizeof(size_t));
        int64_t now = lt_now_ms();
        char sent_at[25];
        lt_rfc3339(now, sent_at);
        size_t n = (size_t)snprintf(body, body_cap,
                                    "{\"batch_id\":\"00000000-0000-4000-8000-000000000000\","
                                    "\"sent_at\":\"%s\",\"events\":[",
                                    sent_at);
        size_t batch_id_off = strlen("{\"batch_id\":\"");
        for (int i = 0; i < opt.batch; i++) {
            size_t id_off, key_off, key_len;
            size_t el = lt_event(ev, sizeof(ev), rng, now, &id_off, &key_off, &key_len);
            if (i > 0) {
                body[n++] = ',';
            }
            tp->id_off[i] = n + id_off;
            memcpy(body + n, ev, el);
            n += el;
            *ev_bytes += (double)el;
        }
        body[n++] = ']';
        body[n++] = '}';
        *body_bytes += (double)n;
        char head[4096];
        int hl;
        if (opt.token[0] != '\0') {
            hl = snprintf(head, sizeof(head),
                          "POST %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                          opt.path, opt.host, opt.port, opt.token, n);
        } else {
            hl = snprintf(head, sizeof(head),
                          "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                          opt.path, opt.host, opt.port, n);
        }
        if (hl < 0 || (size_t)hl >= sizeof(head)) {
            fprintf(stderr, "driver: request head too long\n");
            exit(2);
        }
        tp->len = (size_t)hl + n;
        tp->buf = malloc(tp->len);
        memcpy(tp->buf, head, (size_t)hl);
        memcpy(tp->buf + hl, body, n);
        tp->batch_id_off = (size_t)hl + batch_id_off;
        for (int i = 0; i < opt.batch; i++) {
            tp->id_off[i] += (size_t)hl;
        }
    }
    free(body);
}

static int connect_to(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    inet_pton(AF_INET, opt.host, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void record_error(worker_t *w, uint64_t now, const char *kind, const char *detail) {
    w->err_total++;
    if (now >= w0_ns && now <= w1_ns) {
        w->err_window++;
    }
    err_add(&w->errs, kind);
    if (w->nfirst < 3) {
        snprintf(w->first_err[w->nfirst++], sizeof(w->first_err[0]), "%s: %.200s", kind, detail);
    }
}

static void set_events(conn_t *c, uint32_t ev) {
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &e);
}

static void conn_close(conn_t *c) {
    if (c->fd >= 0) {
        epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

static void start_request(conn_t *c);

static bool conn_open(conn_t *c) {
    c->fd = connect_to();
    if (c->fd < 0) {
        return false;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, c->fd, &e);
    return true;
}

/* The connection failed (or the server closed it): count it, reconnect unless the run is
 * over. */
static void conn_fail(conn_t *c, uint64_t now, const char *kind, const char *detail) {
    record_error(c->w, now, kind, detail);
    conn_close(c);
    if (now >= w1_ns || atomic_load(&interrupted)) {
        c->state = C_DONE;
        return;
    }
    c->state = C_RETRY;
    c->retry_at = now + 50 * 1000000ull;
}

static void try_send(conn_t *c) {
    tpl_t *tp = &c->tpl[c->cur];
    while (c->sent < tp->len) {
        ssize_t n = write(c->fd, tp->buf + c->sent, tp->len - c->sent);
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c, EPOLLOUT | EPOLLIN);
            return;
        }
        conn_fail(c, lt_mono_ns(), "send", strerror(errno));
        return;
    }
    c->state = C_RECEIVING;
    set_events(c, EPOLLIN);
}

static void start_request(conn_t *c) {
    if (c->fd < 0 && !conn_open(c)) {
        conn_fail(c, lt_mono_ns(), "connect", strerror(errno));
        return;
    }
    c->cur = (c->cur + 1) % opt.templates;
    tpl_t *tp = &c->tpl[c->cur];
    uint16_t stream = (uint16_t)c->id;
    lt_uuid(tp->buf + tp->batch_id_off, run_id ^ 0xb47c0000u, stream, c->counter);
    for (int i = 0; i < opt.batch; i++) {
        lt_uuid(tp->buf + tp->id_off[i], run_id, stream, c->counter++);
    }
    c->sent = 0;
    c->rlen = 0;
    c->state = C_SENDING;
    c->t_send = lt_mono_ns();
    try_send(c);
}

/* Is the answer in rbuf complete? Returns 1 complete (sets status/head_len/body), 0 need more,
 * -1 malformed. */
static int parse_answer(conn_t *c, int *status, size_t *head_len, size_t *body_len, bool *close) {
    c->rbuf[c->rlen] = '\0';
    char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (end == NULL) {
        return c->rlen > 65536 ? -1 : 0;
    }
    size_t hl = (size_t)(end - c->rbuf) + 4;
    if (c->rlen < 12 || strncmp(c->rbuf, "HTTP/1.", 7) != 0) {
        return -1;
    }
    *status = atoi(c->rbuf + 9);
    char save = c->rbuf[hl];
    c->rbuf[hl] = '\0';
    char *cl = strcasestr(c->rbuf, "\r\ncontent-length:");
    char *conn = strcasestr(c->rbuf, "\r\nconnection: close");
    c->rbuf[hl] = save;
    if (cl == NULL) {
        return -1;
    }
    size_t blen = strtoul(cl + 17, NULL, 10);
    *close = conn != NULL;
    *head_len = hl;
    *body_len = blen;
    return c->rlen >= hl + blen ? 1 : 0;
}

static void on_readable(conn_t *c) {
    worker_t *w = c->w;
    if (c->rcap - c->rlen < 4096) {
        c->rcap *= 2;
        c->rbuf = realloc(c->rbuf, c->rcap + 1);
    }
    /* One read per readiness: the answer is small and epoll is level-triggered, so a partial
     * answer just brings us back here. */
    ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        conn_fail(c, lt_mono_ns(), c->rlen == 0 ? "closed" : "closed_mid_answer",
                  n == 0 ? "server closed the connection" : strerror(errno));
        return;
    }
    c->rlen += (size_t)n;
    int status = 0;
    size_t hl = 0, bl = 0;
    bool close_conn = false;
    int r = parse_answer(c, &status, &hl, &bl, &close_conn);
    if (r == 0) {
        return;
    }
    uint64_t now = lt_mono_ns();
    if (r < 0) {
        conn_fail(c, now, "malformed_answer", c->rbuf);
        return;
    }
    bool in_window = now >= w0_ns && now <= w1_ns;
    w->completed_all++;
    char *body = c->rbuf + hl;
    char save = body[bl];
    body[bl] = '\0';
    bool ok = status == 200 && strstr(body, expect_accepted) != NULL;
    if (ok) {
        w->events_all += (uint64_t)opt.batch;
        if (in_window) {
            w->ok_events += (uint64_t)opt.batch;
        }
    } else {
        char kind[16];
        if (status == 200) {
            snprintf(kind, sizeof(kind), "200_not_all");
        } else {
            snprintf(kind, sizeof(kind), "http_%d", status);
        }
        record_error(w, now, kind, body);
    }
    body[bl] = save;
    if (in_window) {
        if (w->nlat == w->caplat) {
            w->caplat = w->caplat ? w->caplat * 2 : 65536;
            w->lat_us = realloc(w->lat_us, w->caplat * sizeof(uint32_t));
        }
        uint64_t us = (now - c->t_send) / 1000;
        w->lat_us[w->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
    if (close_conn || c->state != C_RECEIVING) {
        conn_close(c);
    }
    if (now >= w1_ns || atomic_load(&interrupted)) {
        conn_close(c);
        c->state = C_DONE;
        return;
    }
    start_request(c);
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    for (int i = 0; i < w->nconns; i++) {
        start_request(&w->conns[i]);
    }
    struct epoll_event evs[64];
    for (;;) {
        uint64_t now = lt_mono_ns();
        int live = 0;
        for (int i = 0; i < w->nconns; i++) {
            conn_t *c = &w->conns[i];
            if (c->state == C_RETRY) {
                if (now >= w1_ns || atomic_load(&interrupted)) {
                    c->state = C_DONE;
                } else if (now >= c->retry_at) {
                    start_request(c);
                }
            }
            if (c->state != C_DONE) {
                live++;
            }
        }
        if (live == 0) {
            break;
        }
        if (now >= drain_ns) {
            for (int i = 0; i < w->nconns; i++) {
                if (w->conns[i].state != C_DONE) {
                    w->abandoned++;
                    conn_close(&w->conns[i]);
                    w->conns[i].state = C_DONE;
                }
            }
            break;
        }
        int n = epoll_wait(w->epfd, evs, 64, 20);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd < 0) {
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(c);
            } else if (c->state == C_SENDING && (evs[i].events & EPOLLOUT)) {
                try_send(c);
            }
        }
    }
    return NULL;
}

/* ---- CPU snapshots at the window's edges ---- */
typedef struct {
    uint64_t mono;
    long long gw;
    lt_groups_t gw_groups;
    long long watch[MAX_WATCH];
    double self_s;
    lt_groups_t self_groups;
    long long mach_total, mach_idle;
} snap_t;

static snap_t snap_a, snap_b;

static double rusage_self_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void take_snap(snap_t *s) {
    s->mono = lt_mono_ns();
    s->gw = opt.pid > 0 ? lt_proc_ticks(opt.pid) : -1;
    if (opt.pid > 0) {
        lt_thread_groups(opt.pid, &s->gw_groups);
    }
    for (int i = 0; i < opt.nwatch; i++) {
        s->watch[i] = lt_proc_ticks(opt.watch_pid[i]);
    }
    s->self_s = rusage_self_s();
    lt_machine_ticks(&s->mach_total, &s->mach_idle);
}

static void sleep_until(uint64_t mono) {
    struct timespec ts = {(time_t)(mono / 1000000000u), (long)(mono % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static void *timer_main(void *arg) {
    (void)arg;
    sleep_until(w0_ns);
    take_snap(&snap_a);
    sleep_until(w1_ns);
    take_snap(&snap_b);
    return NULL;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, size_t n, double p) {
    if (n == 0) {
        return 0;
    }
    size_t rank = (size_t)(p * (double)n + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return (double)v[rank - 1] / 1000.0;
}

static void on_signal(int sig) {
    (void)sig;
    atomic_store(&interrupted, true);
}

static void usage(FILE *f) {
    fputs("usage: driver --port P [--host 127.0.0.1] [--path /v1/events] [--token JWT]\n"
          "              [--connections 16] [--batch 100] [--duration 10] [--warmup 2]\n"
          "              [--threads 1] [--templates 4] [--pid GATEWAY_PID]\n"
          "              [--watch NAME=PID]... [--drain-timeout 40] [--label S] [--json]\n",
          f);
}

int main(int argc, char **argv) {
    static const struct option lo[] = {{"host", required_argument, NULL, 'H'},
                                       {"port", required_argument, NULL, 'p'},
                                       {"path", required_argument, NULL, 'P'},
                                       {"token", required_argument, NULL, 't'},
                                       {"connections", required_argument, NULL, 'c'},
                                       {"batch", required_argument, NULL, 'b'},
                                       {"duration", required_argument, NULL, 'd'},
                                       {"warmup", required_argument, NULL, 'w'},
                                       {"threads", required_argument, NULL, 'T'},
                                       {"templates", required_argument, NULL, 'm'},
                                       {"pid", required_argument, NULL, 'g'},
                                       {"watch", required_argument, NULL, 'W'},
                                       {"drain-timeout", required_argument, NULL, 'D'},
                                       {"label", required_argument, NULL, 'l'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'H':
            snprintf(opt.host, sizeof(opt.host), "%s", optarg);
            break;
        case 'p':
            opt.port = atoi(optarg);
            break;
        case 'P':
            opt.path = optarg;
            break;
        case 't':
            opt.token = optarg;
            break;
        case 'c':
            opt.connections = atoi(optarg);
            break;
        case 'b':
            opt.batch = atoi(optarg);
            break;
        case 'd':
            opt.duration = atof(optarg);
            break;
        case 'w':
            opt.warmup = atof(optarg);
            break;
        case 'T':
            opt.threads = atoi(optarg);
            break;
        case 'm':
            opt.templates = atoi(optarg);
            break;
        case 'g':
            opt.pid = atoi(optarg);
            break;
        case 'W': {
            char *eq = strchr(optarg, '=');
            if (eq == NULL || opt.nwatch == MAX_WATCH) {
                usage(stderr);
                return 2;
            }
            *eq = '\0';
            opt.watch_name[opt.nwatch] = optarg;
            opt.watch_pid[opt.nwatch++] = atoi(eq + 1);
            break;
        }
        case 'D':
            opt.drain_timeout = atof(optarg);
            break;
        case 'l':
            opt.label = optarg;
            break;
        case 'j':
            opt.json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (opt.port <= 0 || opt.connections < 1 || opt.batch < 1 || opt.duration <= 0 ||
        opt.warmup < 0 || opt.threads < 1 || opt.templates < 1) {
        usage(stderr);
        return 2;
    }
    if (opt.threads > opt.connections) {
        opt.threads = opt.connections;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    lt_rng_t seed = {(uint64_t)lt_now_ms() ^ ((uint64_t)getpid() << 32)};
    run_id = (uint32_t)lt_rand(&seed);
    snprintf(expect_accepted, sizeof(expect_accepted), "\"accepted\":%d,", opt.batch);

    worker_t *ws = calloc((size_t)opt.threads, sizeof(worker_t));
    double ev_bytes = 0, body_bytes = 0;
    for (int t = 0; t < opt.threads; t++) {
        ws[t].idx = t;
        ws[t].epfd = epoll_create1(EPOLL_CLOEXEC);
        ws[t].conns = calloc((size_t)opt.connections, sizeof(conn_t));
    }
    for (int i = 0; i < opt.connections; i++) {
        worker_t *w = &ws[i % opt.threads];
        conn_t *c = &w->conns[w->nconns++];
        c->w = w;
        c->id = i;
        c->fd = -1;
        c->rcap = 16384;
        c->rbuf = malloc(c->rcap + 1);
        lt_rng_t rng = {lt_rand(&seed)};
        build_templates(c, &rng, &ev_bytes, &body_bytes);
    }
    ev_bytes /= (double)opt.connections * opt.templates * opt.batch;
    body_bytes /= (double)opt.connections * opt.templates;

    t0_ns = lt_mono_ns();
    w0_ns = t0_ns + (uint64_t)(opt.warmup * 1e9);
    w1_ns = w0_ns + (uint64_t)(opt.duration * 1e9);
    drain_ns = w1_ns + (uint64_t)(opt.drain_timeout * 1e9);
    pthread_t timer;
    pthread_create(&timer, NULL, timer_main, NULL);
    for (int t = 0; t < opt.threads; t++) {
        pthread_create(&ws[t].th, NULL, worker_main, &ws[t]);
    }
    for (int t = 0; t < opt.threads; t++) {
        pthread_join(ws[t].th, NULL);
    }
    bool complete = !atomic_load(&interrupted) && lt_mono_ns() >= w1_ns;
    if (!complete) {
        pthread_cancel(timer);
    }
    pthread_join(timer, NULL);
    if (!complete) {
        fprintf(stderr, "driver: interrupted before the window ended\n");
        return 130;
    }

    /* ---- aggregate ---- */
    size_t nlat = 0;
    uint64_t ok_events = 0, err_window = 0, err_total = 0, completed = 0, abandoned = 0,
             events_all = 0;
    err_tab_t errs = {0};
    for (int t = 0; t < opt.threads; t++) {
        nlat += ws[t].nlat;
        ok_events += ws[t].ok_events;
        err_window += ws[t].err_window;
        err_total += ws[t].err_total;
        completed += ws[t].completed_all;
        abandoned += ws[t].abandoned;
        events_all += ws[t].events_all;
        for (int k = 0; k < ws[t].errs.n; k++) {
            for (uint64_t j = 0; j < ws[t].errs.k[k].count; j++) {
                err_add(&errs, ws[t].errs.k[k].kind);
            }
        }
    }
    uint32_t *lat = malloc((nlat ? nlat : 1) * sizeof(uint32_t));
    size_t off = 0;
    for (int t = 0; t < opt.threads; t++) {
        memcpy(lat + off, ws[t].lat_us, ws[t].nlat * sizeof(uint32_t));
        off += ws[t].nlat;
    }
    qsort(lat, nlat, sizeof(uint32_t), cmp_u32);
    /* Events are counted by completion time in [w0, w1]; CPU between the snapshots, which the
     * timer thread takes as close to w0 and w1 as the scheduler lets it. */
    double win = (double)(w1_ns - w0_ns) / 1e9;
    double snap_win = (double)(snap_b.mono - snap_a.mono) / 1e9;
    double hz = lt_ticks_per_s();
    double eps = (double)ok_events / win;
    double gw_cpu =
        opt.pid > 0 && snap_a.gw >= 0 && snap_b.gw >= 0 ? (double)(snap_b.gw - snap_a.gw) / hz : -1;
    double self_cpu = snap_b.self_s - snap_a.self_s;
    long long mt = snap_b.mach_total - snap_a.mach_total;
    long long mi = snap_b.mach_idle - snap_a.mach_idle;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double busy_cores = mt > 0 ? (double)(mt - mi) / (double)mt * (double)ncpu : -1;
    double p50 = pct(lat, nlat, 0.50), p90 = pct(lat, nlat, 0.90), p99 = pct(lat, nlat, 0.99),
           p999 = pct(lat, nlat, 0.999), pmax = nlat ? (double)lat[nlat - 1] / 1000.0 : 0;

    fprintf(stderr,
            "driver%s%s: %d conns x %d-event batches (%.0f B/event, %.0f B/body), window %.2f s\n"
            "  %.0f events/s (%.1f req/s), latency p50 %.2f ms  p90 %.2f  p99 %.2f  p99.9 %.2f"
            "  max %.2f ms\n"
            "  errors in window %llu (all %llu, answers %llu, abandoned %llu)\n",
            opt.label[0] ? " " : "", opt.label, opt.connections, opt.batch, ev_bytes, body_bytes,
            win, eps, (double)nlat / win, p50, p90, p99, p999, pmax, (unsigned long long)err_window,
            (unsigned long long)err_total, (unsigned long long)completed,
            (unsigned long long)abandoned);
    for (int t = 0; t < opt.threads; t++) {
        for (int k = 0; k < ws[t].nfirst; k++) {
            fprintf(stderr, "  error sample: %s\n", ws[t].first_err[k]);
        }
    }
    char groups[2048] = "{}";
    if (opt.pid > 0) {
        lt_groups_json(groups, sizeof(groups), &snap_a.gw_groups, &snap_b.gw_groups);
        fprintf(stderr,
                "  gateway CPU %.2f s over the window = %.2f cores; %.2f us/event; by "
                "thread %s\n",
                gw_cpu, gw_cpu / snap_win, ok_events ? gw_cpu / (double)ok_events * 1e6 : 0,
                groups);
    }
    fprintf(stderr, "  driver CPU %.2f s (%.2f cores); machine busy %.2f of %ld cores\n", self_cpu,
            self_cpu / snap_win, busy_cores, ncpu);

    if (opt.json) {
        printf("{\"label\":\"%s\",\"connections\":%d,\"batch\":%d,\"event_bytes\":%.1f,"
               "\"body_bytes\":%.1f,\"window_s\":%.4f,\"cpu_window_s\":%.4f,\"events\":%llu,"
               "\"requests\":%zu,"
               "\"events_per_s\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
               "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"errors\":%llu,\"errors_total\":%llu,"
               "\"abandoned\":%llu,\"answers_all\":%llu,\"events_accepted_all\":%llu,"
               "\"error_kinds\":{",
               opt.label, opt.connections, opt.batch, ev_bytes, body_bytes, win, snap_win,
               (unsigned long long)ok_events, nlat, eps, p50, p90, p99, p999, pmax,
               (unsigned long long)err_window, (unsigned long long)err_total,
               (unsigned long long)abandoned, (unsigned long long)completed,
               (unsigned long long)events_all);
        for (int k = 0; k < errs.n; k++) {
            printf("%s\"%s\":%llu", k ? "," : "", errs.k[k].kind,
                   (unsigned long long)errs.k[k].count);
        }
        printf("},\"gateway_cpu_s\":%.3f,\"gateway_threads\":%s,\"watch_cpu_s\":{", gw_cpu, groups);
        for (int i = 0; i < opt.nwatch; i++) {
            double v = snap_a.watch[i] >= 0 && snap_b.watch[i] >= 0
                           ? (double)(snap_b.watch[i] - snap_a.watch[i]) / hz
                           : -1;
            printf("%s\"%s\":%.3f", i ? "," : "", opt.watch_name[i], v);
        }
        printf("},\"driver_cpu_s\":%.3f,\"machine_busy_cores\":%.3f,\"ncpu\":%ld}\n", self_cpu,
               busy_cores, ncpu);
        fflush(stdout);
    }
    for (int t = 0; t < opt.threads; t++) {
        for (int i = 0; i < ws[t].nconns; i++) {
            conn_t *c = &ws[t].conns[i];
            for (int k = 0; k < opt.templates; k++) {
                free(c->tpl[k].buf);
                free(c->tpl[k].id_off);
            }
            free(c->tpl);
            free(c->rbuf);
        }
        free(ws[t].conns);
        free(ws[t].lat_us);
        close(ws[t].epfd);
    }
    free(ws);
    free(lat);
    return 0;
}
