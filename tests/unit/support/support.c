#include "support.h"

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sink/sink.h"

size_t t_count(const char *const *list) {
    size_t n = 0;
    while (list != NULL && list[n] != NULL) {
        n++;
    }
    return n;
}

sl_config_t *t_config(const char *path, const char *const *sets) {
    sl_config_t *cfg = NULL;
    sl_error_t err = {0};
    sl_status_t st = sl_config_build(path, sets, t_count(sets), &cfg, &err);
    cr_assert(st == SL_OK, "sl_config_build failed: %s: %s", err.code ? err.code : "?",
              err.message);
    cr_assert(cfg != NULL);
    return cfg;
}

sl_error_t t_config_fail(const char *path, const char *const *sets) {
    sl_config_t *cfg = NULL;
    sl_error_t err = {0};
    sl_status_t st = sl_config_build(path, sets, t_count(sets), &cfg, &err);
    if (st == SL_OK) {
        sl_config_unref(cfg);
    }
    cr_assert(st == SL_REJECT, "sl_config_build returned %s, expected reject", sl_status_name(st));
    cr_assert(err.code != NULL, "no error code");
    return err;
}

sl_config_t *t_publish(const char *const *sets) {
    sl_config_t *cfg = t_config(NULL, sets);
    sl_config_publish(cfg);
    return cfg;
}

void t_unpublish(sl_config_t *cfg) {
    sl_config_publish(NULL);
    sl_config_unref(cfg);
}

char *t_write_temp(const char *content) {
    char tmpl[] = "/tmp/sluice-unit-XXXXXX";
    int fd = mkstemp(tmpl);
    cr_assert(fd >= 0, "mkstemp failed");
    size_t len = strlen(content);
    cr_assert(write(fd, content, len) == (ssize_t)len, "write failed");
    close(fd);
    return strdup(tmpl);
}

void t_remove_temp(char *path) {
    if (path != NULL) {
        unlink(path);
        free(path);
    }
}

char *t_b64url(const void *data, size_t n) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    char *out = malloc(4 * n / 3 + 4);
    size_t o = 0;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
        out[o++] = a[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

char *t_jwt(const char *header_json, const char *payload_json, const char *md, const char *key) {
    char *h = t_b64url(header_json, strlen(header_json));
    char *p = t_b64url(payload_json, strlen(payload_json));
    size_t signing_len = strlen(h) + 1 + strlen(p);
    char *signing = malloc(signing_len + 1);
    snprintf(signing, signing_len + 1, "%s.%s", h, p);
    const EVP_MD *m = strcmp(md, "SHA384") == 0 ? EVP_sha384() : EVP_sha256();
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    cr_assert(HMAC(m, key, (int)strlen(key), (const unsigned char *)signing, signing_len, mac,
                   &mac_len) != NULL);
    char *s = t_b64url(mac, mac_len);
    size_t total = signing_len + 1 + strlen(s) + 1;
    char *tok = malloc(total);
    snprintf(tok, total, "%s.%s", signing, s);
    free(h);
    free(p);
    free(signing);
    free(s);
    return tok;
}

char *t_jwt_hs256(const char *payload_json, const char *key) {
    return t_jwt("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload_json, "SHA256", key);
}

int64_t t_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void t_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

bool t_wait_until(bool (*pred)(void *), void *arg, int timeout_ms) {
    int64_t until = t_mono_ms() + timeout_ms;
    for (;;) {
        if (pred(arg)) {
            return true;
        }
        if (t_mono_ms() >= until) {
            return pred(arg);
        }
        t_sleep_ms(10);
    }
}

bool t_sink_ready(void *sink) {
    return sl_sink_ready(sink, NULL, 0);
}

bool t_sink_not_ready(void *sink) {
    return !sl_sink_ready(sink, NULL, 0);
}

t_reader_t t_reader_open(const char *bootstrap, const char *topic) {
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    t_reader_t r = {rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)), NULL};
    cr_assert(r.rk != NULL, "%s", errstr);
    r.rkt = rd_kafka_topic_new(r.rk, topic, NULL);
    cr_assert(r.rkt != NULL && rd_kafka_consume_start(r.rkt, 0, RD_KAFKA_OFFSET_BEGINNING) == 0,
              "cannot consume %s", topic);
    return r;
}

void t_reader_close(t_reader_t *r) {
    rd_kafka_consume_stop(r->rkt, 0);
    rd_kafka_topic_destroy(r->rkt);
    rd_kafka_destroy(r->rk);
}
