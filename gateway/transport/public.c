#define _GNU_SOURCE /* accept4 */
#include "transport/public.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timefmt.h"
#include "transport/h2/h2.h"
#include "transport/http1/http1.h"
#include "transport/listen.h"

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN 24

/* A connection not yet told apart. */
typedef struct sniff {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int64_t deadline_ms;
    struct sniff *next;
} sniff_t;

struct sl_public {
    int lfd;
    int tls_fd; /* listen.tls, or -1 */
    char address[128];
    char tls_address[128];
    sl_http1_t *http1;
    sl_h2_t *h2;
    int ep;
    int ev; /* eventfd: stop or quiesce */
    pthread_t thread;
    atomic_bool stop;
    atomic_bool quiesce;
    int64_t sniff_ms;
    sniff_t *sniffing;
};

static int64_t now_ms(void) {
    return (int64_t)(sl_time_mono_ns() / 1000000);
}

static void unlink_sniff(sl_public_t *p, sniff_t *s) {
    for (sniff_t **q = &p->sniffing; *q != NULL; q = &(*q)->next) {
        if (*q == s) {
            *q = s->next;
            return;
        }
    }
}

/* Decides s by its first bytes (peeked, left in the socket): true when decided or closed. */
static bool sniff(sl_public_t *p, sniff_t *s) {
    char buf[PREFACE_LEN];
    ssize_t n = recv(s->fd, buf, sizeof(buf), MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return false;
    }
    if (n <= 0) {
        close(s->fd);
        return true;
    }
    if (memcmp(buf, PREFACE, (size_t)n) != 0) {
        epoll_ctl(p->ep, EPOLL_CTL_DEL, s->fd, NULL);
        sl_http1_adopt(p->http1, s->fd, (struct sockaddr *)&s->addr, s->addrlen);
        return true;
    }
    if (n == PREFACE_LEN) {
        epoll_ctl(p->ep, EPOLL_CTL_DEL, s->fd, NULL);
        sl_h2_adopt(p->h2, s->fd);
        return true;
    }
    return false; /* a prefix of the preface: wait for more (edge-triggered) */
}

/* listen.tls: no sniffing, the TLS handshake and ALPN decide (transport/h2). */
static void accept_tls(sl_public_t *p) {
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof(addr);
        int fd = accept4(p->tls_fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            return;
        }
        sl_h2_adopt_tls(p->h2, fd, (struct sockaddr *)&addr, len);
    }
}

static void accept_all(sl_public_t *p) {
    for (;;) {
        sniff_t *s = calloc(1, sizeof(*s));
        if (s == NULL) {
            abort();
        }
        s->addrlen = sizeof(s->addr);
        s->fd =
            accept4(p->lfd, (struct sockaddr *)&s->addr, &s->addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (s->fd < 0) {
            free(s);
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                SL_WARN("accept on listen.http: %s", strerror(errno));
            }
            return;
        }
        s->deadline_ms = now_ms() + p->sniff_ms;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET | EPOLLRDHUP, .data.ptr = s};
        epoll_ctl(p->ep, EPOLL_CTL_ADD, s->fd, &ev);
        if (sniff(p, s)) {
            free(s);
        } else {
            s->next = p->sniffing;
            p->sniffing = s;
        }
    }
}

static void *acceptor_main(void *arg) {
    sl_public_t *p = arg;
    struct epoll_event evs[64];
    while (!atomic_load(&p->stop)) {
        int n = epoll_wait(p->ep, evs, 64, 200);
        for (int i = 0; i < n; i++) {
            void *ptr = evs[i].data.ptr;
            if (ptr == &p->lfd) {
                accept_all(p);
            } else if (ptr == &p->tls_fd) {
                accept_tls(p);
            } else if (ptr == &p->ev) {
                uint64_t v;
                (void)!read(p->ev, &v, sizeof(v));
            } else if (sniff(p, ptr)) {
                unlink_sniff(p, ptr);
                free(ptr);
            }
        }
        if (atomic_exchange(&p->quiesce, false)) {
            if (p->lfd >= 0) {
                close(p->lfd); /* closing removes it from the epoll set */
                p->lfd = -1;
            }
            if (p->tls_fd >= 0) {
                close(p->tls_fd);
                p->tls_fd = -1;
            }
        }
        int64_t now = now_ms();
        for (sniff_t **q = &p->sniffing; *q != NULL;) {
            sniff_t *s = *q;
            if (now >= s->deadline_ms) {
                *q = s->next;
                close(s->fd); /* closing removes it from the epoll set */
                free(s);
            } else {
                q = &s->next;
            }
        }
    }
    return NULL;
}

static void adopt_http1(void *ctx, int fd, const struct sockaddr *addr, socklen_t len) {
    sl_http1_adopt(ctx, fd, addr, len);
}

sl_status_t sl_public_start(const sl_config_t *cfg, sl_pipeline_t *pipeline, sl_public_t **out,
                            sl_error_t *err) {
    sl_public_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        abort();
    }
    p->sniff_ms = cfg->http.idle_timeout_ms;
    if (sl_listen(cfg->listen.http, "listen.http", &p->lfd, p->address, sizeof(p->address), err) !=
        SL_OK) {
        free(p);
        return SL_ERROR;
    }
    int fl = fcntl(p->lfd, F_GETFL, 0);
    fcntl(p->lfd, F_SETFL, fl | O_NONBLOCK); /* accept_all takes every pending connection */
    if (sl_http1_start(cfg, pipeline, &p->http1, err) != SL_OK) {
        close(p->lfd);
        free(p);
        return SL_ERROR;
    }
    if (sl_h2_start(cfg, pipeline, adopt_http1, p->http1, &p->h2, err) != SL_OK) {
        sl_http1_stop(p->http1);
        close(p->lfd);
        free(p);
        return SL_ERROR;
    }
    p->tls_fd = -1;
    if (cfg->listen.tls[0] != '\0') {
        if (sl_listen(cfg->listen.tls, "listen.tls", &p->tls_fd, p->tls_address,
                      sizeof(p->tls_address), err) != SL_OK) {
            sl_h2_stop(p->h2);
            sl_http1_stop(p->http1);
            close(p->lfd);
            free(p);
            return SL_ERROR;
        }
        int tfl = fcntl(p->tls_fd, F_GETFL, 0);
        fcntl(p->tls_fd, F_SETFL, tfl | O_NONBLOCK);
    }
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    p->ev = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &p->lfd};
    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->lfd, &ev);
    ev.data.ptr = &p->ev;
    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->ev, &ev);
    if (p->tls_fd >= 0) {
        ev.data.ptr = &p->tls_fd;
        epoll_ctl(p->ep, EPOLL_CTL_ADD, p->tls_fd, &ev);
    }
    pthread_create(&p->thread, NULL, acceptor_main, p);
    *out = p;
    return SL_OK;
}

const char *sl_public_address(const sl_public_t *p) {
    return p->address;
}

const char *sl_public_tls_address(const sl_public_t *p) {
    return p->tls_fd >= 0 || p->tls_address[0] != '\0' ? p->tls_address : NULL;
}

void sl_public_quiesce(sl_public_t *p) {
    atomic_store(&p->quiesce, true);
    uint64_t one = 1;
    (void)!write(p->ev, &one, sizeof(one));
    sl_h2_quiesce(p->h2);
}

int sl_public_active(const sl_public_t *p) {
    return sl_http1_active(p->http1) + sl_h2_active(p->h2);
}

void sl_public_stop(sl_public_t *p) {
    if (p == NULL) {
        return;
    }
    atomic_store(&p->stop, true);
    uint64_t one = 1;
    (void)!write(p->ev, &one, sizeof(one));
    pthread_join(p->thread, NULL);
    while (p->sniffing != NULL) {
        sniff_t *s = p->sniffing;
        p->sniffing = s->next;
        close(s->fd);
        free(s);
    }
    if (p->lfd >= 0) {
        close(p->lfd);
    }
    if (p->tls_fd >= 0) {
        close(p->tls_fd);
    }
    close(p->ep);
    close(p->ev);
    sl_h2_stop(p->h2);
    sl_http1_stop(p->http1);
    free(p);
}
