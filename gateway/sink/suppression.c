#include "sink/suppression.h"

#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An open-addressing set of 32-byte subjects; grows at half full. */
struct sl_suppression {
    pthread_rwlock_t lock;
    uint8_t (*slots)[33]; /* [0]: 0 empty, 1 used, 2 removed; [1..32]: subject */
    size_t cap, used;
};

sl_suppression_t *sl_suppression_new(void) {
    sl_suppression_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        abort();
    }
    pthread_rwlock_init(&s->lock, NULL);
    s->cap = 1024;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    if (s->slots == NULL) {
        abort();
    }
    return s;
}

void sl_suppression_free(sl_suppression_t *s) {
    if (s == NULL) {
        return;
    }
    pthread_rwlock_destroy(&s->lock);
    free(s->slots);
    free(s);
}

void sl_suppression_subject(const char *tenant, const char *id, size_t n, uint8_t out[32]) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, tenant, strlen(tenant) + 1); /* with its NUL: tenant|id unambiguous */
    EVP_DigestUpdate(ctx, id, n);
    EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
}

void sl_suppression_hex(const uint8_t subject[32], char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        hex[2 * i] = digits[subject[i] >> 4];
        hex[2 * i + 1] = digits[subject[i] & 15];
    }
    hex[64] = '\0';
}

static size_t slot_of(const sl_suppression_t *s, const uint8_t subject[32]) {
    uint64_t h;
    memcpy(&h, subject, sizeof(h)); /* a SHA-256 is uniform: its first bytes are the hash */
    return (size_t)(h & (s->cap - 1));
}

/* The slot holding subject, or the first free one after its run (when absent). */
static size_t find(const sl_suppression_t *s, const uint8_t subject[32], bool *found) {
    size_t i = slot_of(s, subject), free_slot = SIZE_MAX;
    for (size_t probes = 0; probes < s->cap; probes++, i = (i + 1) & (s->cap - 1)) {
        uint8_t state = s->slots[i][0];
        if (state == 0) {
            *found = false;
            return free_slot != SIZE_MAX ? free_slot : i;
        }
        if (state == 1 && memcmp(s->slots[i] + 1, subject, 32) == 0) {
            *found = true;
            return i;
        }
        if (state == 2 && free_slot == SIZE_MAX) {
            free_slot = i;
        }
    }
    *found = false;
    return free_slot;
}

static void grow(sl_suppression_t *s) {
    uint8_t(*old)[33] = s->slots;
    size_t old_cap = s->cap;
    s->cap *= 2;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    if (s->slots == NULL) {
        abort();
    }
    s->used = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i][0] == 1) {
            bool found;
            size_t j = find(s, old[i] + 1, &found);
            memcpy(s->slots[j], old[i], 33);
            s->used++;
        }
    }
    free(old);
}

void sl_suppression_add(sl_suppression_t *s, const uint8_t subject[32]) {
    pthread_rwlock_wrlock(&s->lock);
    if ((s->used + 1) * 2 > s->cap) {
        grow(s);
    }
    bool found;
    size_t i = find(s, subject, &found);
    if (!found) {
        s->slots[i][0] = 1;
        memcpy(s->slots[i] + 1, subject, 32);
        s->used++;
    }
    pthread_rwlock_unlock(&s->lock);
}

static void remove_subject(sl_suppression_t *s, const uint8_t subject[32]) {
    pthread_rwlock_wrlock(&s->lock);
    bool found;
    size_t i = find(s, subject, &found);
    if (found) {
        s->slots[i][0] = 2;
        s->used--;
    }
    pthread_rwlock_unlock(&s->lock);
}

bool sl_suppression_has(sl_suppression_t *s, const uint8_t subject[32]) {
    if (s == NULL) {
        return false;
    }
    pthread_rwlock_rdlock(&s->lock);
    bool found;
    (void)find(s, subject, &found);
    pthread_rwlock_unlock(&s->lock);
    return found;
}

size_t sl_suppression_count(sl_suppression_t *s) {
    pthread_rwlock_rdlock(&s->lock);
    size_t n = s->used;
    pthread_rwlock_unlock(&s->lock);
    return n;
}

static bool from_hex(const char *hex, size_t n, uint8_t out[32]) {
    if (n != 64) {
        return false;
    }
    for (size_t i = 0; i < 64; i++) {
        char c = hex[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) {
            return false;
        }
        out[i / 2] = (uint8_t)(i % 2 == 0 ? v << 4 : out[i / 2] | v);
    }
    return true;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

sl_status_t sl_suppression_load(sl_suppression_t *s, const char *bootstrap, const char *topic,
                                int64_t timeout_ms, size_t *loaded, sl_error_t *err) {
    char errstr[256];
    *loaded = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", "sluice-suppression-loader", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return sl_error_set(err, SL_ERROR, "kafka_config", "suppression loader: %s", errstr);
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return sl_error_set(err, SL_ERROR, "kafka_config", "suppression loader: %s", errstr);
    }
    int64_t deadline = now_ms() + timeout_ms;
    sl_status_t rc = SL_OK;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e;
    do {
        e = rd_kafka_metadata(rk, 0, rkt, &md, 2000);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err == 0 &&
            md->topics[0].partition_cnt > 0) {
            break;
        }
        if (md != NULL) {
            rd_kafka_metadata_destroy(md);
            md = NULL;
        }
    } while (now_ms() < deadline);
    if (md == NULL) {
        rc = sl_error_set(err, SL_RETRY, "suppression_unavailable",
                          "topics.suppression: topic %s is not readable within %lld ms (%s); "
                          "create it with cleanup.policy=compact",
                          topic, (long long)timeout_ms,
                          e != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2str(e)
                                                          : "unknown topic or no partitions");
        goto done;
    }
    int parts = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(parts);
    int remaining = 0;
    for (int p = 0; p < parts; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000) != 0) {
            hi = -1;
        }
        if (hi > lo) { /* empty partitions have nothing to read */
            rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
            remaining++;
        }
    }
    rd_kafka_metadata_destroy(md);
    if (remaining > 0) {
        rd_kafka_assign(rk, list);
    }
    rd_kafka_topic_partition_list_destroy(list);
    while (remaining > 0 && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            remaining--;
        } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            uint8_t subject[32];
            if (m->key != NULL && from_hex(m->key, m->key_len, subject)) {
                if (m->payload == NULL) {
                    remove_subject(s, subject);
                } else {
                    sl_suppression_add(s, subject);
                    (*loaded)++;
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    if (remaining > 0) {
        rc = sl_error_set(err, SL_RETRY, "suppression_unavailable",
                          "topics.suppression: %s not read to its end within %lld ms", topic,
                          (long long)timeout_ms);
    }
done:
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
