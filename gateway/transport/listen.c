#include "transport/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

sl_status_t sl_listen(const char *addr, const char *key, int *fd, char *bound, size_t bound_len,
                      sl_error_t *err) {
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host)) {
        return sl_error_set(err, SL_REJECT, "config_wrong_value", "%s: \"%s\" is not host:port",
                            key, addr);
    }
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(hl > 0 ? host : NULL, colon + 1, &hints, &res);
    if (gai != 0) {
        return sl_error_set(err, SL_REJECT, "config_wrong_value", "%s: cannot resolve \"%s\": %s",
                            key, addr, gai_strerror(gai));
    }
    int s = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(s, res->ai_addr, res->ai_addrlen) != 0 || listen(s, 1024) != 0) {
        int e = errno;
        if (s >= 0) {
            close(s);
        }
        freeaddrinfo(res);
        return sl_error_set(err, SL_ERROR, "listen_failed", "%s: cannot listen on %s: %s", key,
                            addr, strerror(e));
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(s, (struct sockaddr *)&ss, &sl);
    char ip[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
        snprintf(bound, bound_len, "[%s]:%u", ip, ntohs(a6->sin6_port));
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
        snprintf(bound, bound_len, "%s:%u", ip, ntohs(a4->sin_port));
    }
    *fd = s;
    return SL_OK;
}
