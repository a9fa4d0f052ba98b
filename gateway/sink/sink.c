#include "sink/sink.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "metrics/metrics.h"
#include "sink/embedded.h"

#define NTOPICS SL_CFG_NTOPICS

struct sl_sink {
    /* The producer and its topic handles: replaced (write lock) when a fatal error killed the
     * producer; every other use holds the read lock. */
    pthread_rwlock_t rk_lock;
    rd_kafka_t *rk;
    rd_kafka_topic_t *topics[NTOPICS]; /* keeps the stage topics "known" for metadata checks */
    sl_config_t *cfg;                  /* the snapshot the producer is configured from */
    atomic_int generation;             /* producers created so far */
    atomic_bool resetting;             /* failing the outstanding messages of a dead producer */
    sl_embedded_t *emb;
    char *bootstrap;
    sl_delivery_cb cb;
    int64_t health_interval_ms;

    pthread_t poll_thread;
    pthread_t health_thread;
    atomic_bool stop;
    pthread_mutex_t lock; /* guards why_not_ready and the health thread's sleep */
    pthread_cond_t wake;
    atomic_bool brokers_up;
    atomic_bool topics_ok;
    /* Topics of per-tenant templates met so far ({tenant} in topics.*): checked one by one. */
    pthread_mutex_t tlock;
    struct tenant_topic {
        char *name;
        bool exists;
    } * tt;
    size_t ntt, cap_tt;
    atomic_bool fatal;
    char why_not_ready[256];
    char why_fatal[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *conf_opaque) {
    sl_sink_t *sink = conf_opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        sink->cb(m->_private, SL_OK, NULL, NULL);
        return;
    }
    sl_metrics_delivery_error();
    sl_status_t st = SL_RETRY;
    const char *code = "kafka_not_acknowledged";
    switch (m->err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP: /* the same bytes would be refused again */
        st = SL_REJECT;
        code = "kafka_rejected";
        break;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        /* A request the brokers may have written before the timeout: a retry can make a
         * second copy (the producer's epoch moved on, so the brokers cannot tell). Still
         * retryable — not retrying could lose it — but said so, for the client and metrics. */
        code = rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED
                   ? "kafka_possibly_persisted"
                   : "kafka_timeout";
        break;
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__FATAL:
        /* The producer's own purge after a fatal error may come before on_error. */
        code = atomic_load(&sink->resetting) || m->err == RD_KAFKA_RESP_ERR__FATAL ||
                       rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR
                   ? "kafka_producer_reset"
                   : "shutting_down";
        break;
    default:
        break;
    }
    sink->cb(m->_private, st, code, rd_kafka_err2name(m->err));
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    sl_sink_t *sink = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[200];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof(why));
        pthread_mutex_lock(&sink->lock);
        snprintf(sink->why_fatal, sizeof(sink->why_fatal), "fatal producer error %s: %s",
                 rd_kafka_err2name(orig), why);
        atomic_store(&sink->fatal, true);
        pthread_mutex_unlock(&sink->lock);
        SL_ERROR("kafka: fatal producer error %s: %s; outstanding events are answered "
                 "retryable and the producer is recreated",
                 rd_kafka_err2name(orig), why);
        pthread_mutex_lock(&sink->lock);
        pthread_cond_signal(&sink->wake); /* the health thread recreates it */
        pthread_mutex_unlock(&sink->lock);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        atomic_store(&sink->brokers_up, false);
        pthread_mutex_lock(&sink->lock);
        snprintf(sink->why_not_ready, sizeof(sink->why_not_ready), "all brokers are down");
        pthread_cond_signal(&sink->wake);
        pthread_mutex_unlock(&sink->lock);
    }
    SL_WARN("kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    sl_log(level <= 3   ? SL_LOG_ERROR
           : level <= 5 ? SL_LOG_WARN
                        : SL_LOG_DEBUG,
           "kafka %s: %s", fac, buf);
}

static void *poll_main(void *arg) {
    sl_sink_t *sink = arg;
    while (!atomic_load(&sink->stop)) {
        pthread_rwlock_rdlock(&sink->rk_lock);
        rd_kafka_poll(sink->rk, 50);
        pthread_rwlock_unlock(&sink->rk_lock);
    }
    return NULL;
}

/* One metadata round trip for the stage topics: sets brokers_up, topics_ok and the reason. */
static void check_health(sl_sink_t *sink) {
    const struct rd_kafka_metadata *md = NULL;
    pthread_rwlock_rdlock(&sink->rk_lock);
    rd_kafka_resp_err_t e = rd_kafka_metadata(sink->rk, 0, NULL, &md, 2000);
    char why[256] = "";
    bool up = e == RD_KAFKA_RESP_ERR_NO_ERROR;
    bool topics_ok = up;
    if (!up) {
        snprintf(why, sizeof(why), "brokers unreachable (%s)", rd_kafka_err2name(e));
    } else {
        size_t used = 0;
        for (int i = 0; i < NTOPICS; i++) {
            if (sink->topics[i] == NULL) {
                continue; /* a per-tenant template: checked as events name each */
            }
            const char *name = rd_kafka_topic_name(sink->topics[i]);
            bool found = false;
            for (int t = 0; t < md->topic_cnt && !found; t++) {
                found = strcmp(md->topics[t].topic, name) == 0 &&
                        md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                        md->topics[t].partition_cnt > 0;
            }
            if (!found) {
                if (topics_ok) {
                    used += (size_t)snprintf(why, sizeof(why), "missing topics:");
                }
                topics_ok = false;
                if (used < sizeof(why)) {
                    used += (size_t)snprintf(why + used, sizeof(why) - used, " %s", name);
                }
            }
        }
        rd_kafka_metadata_destroy(md);
    }
    pthread_rwlock_unlock(&sink->rk_lock);
    pthread_mutex_lock(&sink->lock);
    snprintf(sink->why_not_ready, sizeof(sink->why_not_ready), "%s", why);
    atomic_store(&sink->brokers_up, up);
    atomic_store(&sink->topics_ok, topics_ok);
    pthread_mutex_unlock(&sink->lock);
}

#define MAX_TENANT_TOPICS 4096

/* The per-tenant topics not seen yet: one metadata request each (a few per round). */
static void check_tenant_topics(sl_sink_t *sink) {
    for (int round = 0; round < 16; round++) {
        char name[256] = "";
        pthread_mutex_lock(&sink->tlock);
        for (size_t i = 0; i < sink->ntt && name[0] == '\0'; i++) {
            if (!sink->tt[(i + (size_t)round) % sink->ntt].exists) {
                snprintf(name, sizeof(name), "%s", sink->tt[(i + (size_t)round) % sink->ntt].name);
            }
        }
        pthread_mutex_unlock(&sink->tlock);
        if (name[0] == '\0') {
            return;
        }
        pthread_rwlock_rdlock(&sink->rk_lock);
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(sink->rk, name, NULL);
        const struct rd_kafka_metadata *md = NULL;
        bool exists =
            rd_kafka_metadata(sink->rk, 0, rkt, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topics[0].partition_cnt > 0;
        if (md != NULL) {
            rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
        pthread_rwlock_unlock(&sink->rk_lock);
        if (!exists) {
            return; /* not there yet: the others wait for the next round */
        }
        pthread_mutex_lock(&sink->tlock);
        for (size_t i = 0; i < sink->ntt; i++) {
            if (strcmp(sink->tt[i].name, name) == 0) {
                sink->tt[i].exists = true;
            }
        }
        pthread_mutex_unlock(&sink->tlock);
    }
}

bool sl_sink_topic_ready(sl_sink_t *sink, const char *topic) {
    bool exists = false;
    pthread_mutex_lock(&sink->tlock);
    size_t i = 0;
    while (i < sink->ntt && strcmp(sink->tt[i].name, topic) != 0) {
        i++;
    }
    if (i < sink->ntt) {
        exists = sink->tt[i].exists;
    } else if (sink->ntt >= MAX_TENANT_TOPICS) {
        exists = true; /* not tracked: librdkafka finds out (or times out) */
    } else {
        if (sink->ntt == sink->cap_tt) {
            sink->cap_tt = sink->cap_tt > 0 ? sink->cap_tt * 2 : 16;
            struct tenant_topic *t = realloc(sink->tt, sink->cap_tt * sizeof(*t));
            if (t == NULL) {
                abort();
            }
            sink->tt = t;
        }
        /* The embedded broker creates it, like the stage topics at start. */
        exists = sink->emb != NULL &&
                 rd_kafka_mock_topic_create(sl_embedded_cluster(sink->emb), topic,
                                            (int)sink->cfg->kafka.embedded_partitions,
                                            (int)sink->cfg->kafka.embedded_brokers) ==
                     RD_KAFKA_RESP_ERR_NO_ERROR;
        sink->tt[sink->ntt++] = (struct tenant_topic){strdup(topic), exists};
    }
    pthread_mutex_unlock(&sink->tlock);
    if (!exists) {
        pthread_mutex_lock(&sink->lock);
        pthread_cond_signal(&sink->wake); /* look it up now */
        pthread_mutex_unlock(&sink->lock);
    }
    return exists;
}

static void recreate(sl_sink_t *sink);

static void *health_main(void *arg) {
    sl_sink_t *sink = arg;
    while (!atomic_load(&sink->stop)) {
        if (atomic_load(&sink->fatal)) {
            recreate(sink);
        }
        check_health(sink);
        check_tenant_topics(sink);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = until.tv_nsec + (sink->health_interval_ms % 1000) * 1000000;
        until.tv_sec += (time_t)(sink->health_interval_ms / 1000 + ns / 1000000000);
        until.tv_nsec = ns % 1000000000;
        pthread_mutex_lock(&sink->lock);
        if (!atomic_load(&sink->stop)) {
            pthread_cond_timedwait(&sink->wake, &sink->lock, &until);
        }
        pthread_mutex_unlock(&sink->lock);
    }
    return NULL;
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, sl_error_t *err) {
    char errstr[256];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        sl_error_set(err, SL_ERROR, "kafka_config", "kafka: %s=%s: %s", k, v, errstr);
        return -1;
    }
    return 0;
}

/* Creates sink->rk and its topic handles from sink->cfg. */
static sl_status_t new_producer(sl_sink_t *sink, sl_error_t *err) {
    const sl_config_t *cfg = sink->cfg;
    char num[32];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* Exactly-once per partition from the producer's side, and acknowledged by every in-sync
     * replica: the two settings an "accepted" answer depends on, set explicitly. */
    int bad = conf_set(conf, "bootstrap.servers", sink->bootstrap, err) ||
              conf_set(conf, "enable.idempotence", "true", err) ||
              conf_set(conf, "acks", "all", err) ||
              conf_set(conf, "client.id", cfg->kafka.client_id, err) ||
              conf_set(conf, "compression.codec", cfg->kafka.compression, err) ||
              /* Java's default partitioner, so Java/Flink/Streams consumers co-partition. */
              conf_set(conf, "partitioner", "murmur2_random", err) ||
              /* Small produce requests must not wait for delayed ACKs. */
              conf_set(conf, "socket.nagle.disable", "true", err);
    snprintf(num, sizeof(num), "%lld", (long long)cfg->kafka.linger_ms);
    bad = bad || conf_set(conf, "linger.ms", num, err);
    snprintf(num, sizeof(num), "%lld", (long long)cfg->kafka.message_timeout_ms);
    bad = bad || conf_set(conf, "message.timeout.ms", num, err);
    snprintf(num, sizeof(num), "%lld", (long long)cfg->kafka.queue_max_messages);
    bad = bad || conf_set(conf, "queue.buffering.max.messages", num, err);
    snprintf(num, sizeof(num), "%lld", (long long)(cfg->kafka.queue_max_bytes / 1024));
    bad = bad || conf_set(conf, "queue.buffering.max.kbytes", num, err);
    if (bad) {
        rd_kafka_conf_destroy(conf);
        return SL_ERROR;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_opaque(conf, sink);

    char errstr[512];
    sink->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (sink->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return sl_error_set(err, SL_ERROR, "kafka_config", "kafka: %s", errstr);
    }
    const char *keys[NTOPICS], *names[NTOPICS];
    (void)sl_config_topics(cfg, keys, names);
    for (int i = 0; i < NTOPICS; i++) {
        sink->topics[i] = strchr(names[i], '{') != NULL || names[i][0] == '\0'
                              ? NULL
                              : rd_kafka_topic_new(sink->rk, names[i], NULL);
    }
    atomic_fetch_add(&sink->generation, 1);
    return SL_OK;
}

static void destroy_producer(sl_sink_t *sink) {
    for (int i = 0; i < NTOPICS; i++) {
        if (sink->topics[i] != NULL) {
            rd_kafka_topic_destroy(sink->topics[i]);
            sink->topics[i] = NULL;
        }
    }
    rd_kafka_destroy(sink->rk);
    sink->rk = NULL;
}

/* After a fatal error (the idempotent producer cannot go on): every outstanding message is
 * failed (its callback reports SL_RETRY kafka_producer_reset, so its request answers
 * retryable), then a new producer takes the old one's place. Health thread. */
static void recreate(sl_sink_t *sink) {
    atomic_store(&sink->resetting, true);
    pthread_rwlock_rdlock(&sink->rk_lock);
    rd_kafka_purge(sink->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    pthread_rwlock_unlock(&sink->rk_lock);
    /* The poll thread serves the reports. rd_kafka_destroy would drop what is left without a
     * report, leaving its requests unanswered: wait for every one (the sink stays unready and
     * /healthz failing meanwhile, so a stuck reset ends in a restart). */
    int left;
    while ((left = sl_sink_flush(sink, 10000)) > 0) {
        SL_ERROR("kafka: %d messages of the dead producer still without a report", left);
    }
    pthread_rwlock_wrlock(&sink->rk_lock);
    destroy_producer(sink);
    sl_error_t err;
    sl_status_t rc = new_producer(sink, &err);
    pthread_rwlock_unlock(&sink->rk_lock);
    atomic_store(&sink->resetting, false);
    if (rc != SL_OK) {
        SL_ERROR("kafka: the producer could not be recreated: %s", err.message);
        abort(); /* nothing can produce; /healthz would fail for good: restart */
    }
    pthread_mutex_lock(&sink->lock);
    atomic_store(&sink->fatal, false);
    sink->why_fatal[0] = '\0';
    pthread_mutex_unlock(&sink->lock);
    SL_WARN("kafka: producer recreated after a fatal error");
}

sl_status_t sl_sink_new(const sl_config_t *cfg, sl_delivery_cb cb, sl_sink_t **out,
                        sl_error_t *err) {
    sl_sink_t *sink = calloc(1, sizeof(*sink));
    if (sink == NULL) {
        abort();
    }
    sink->cb = cb;
    sink->health_interval_ms = cfg->kafka.health_interval_ms;
    pthread_mutex_init(&sink->lock, NULL);
    pthread_mutex_init(&sink->tlock, NULL);
    pthread_cond_init(&sink->wake, NULL);
    snprintf(sink->why_not_ready, sizeof(sink->why_not_ready), "not checked yet");

    if (strcmp(cfg->kafka.brokers, "embedded") == 0) {
        if (sl_embedded_new(cfg, &sink->emb, err) != SL_OK) {
            goto fail;
        }
        sink->bootstrap = strdup(sl_embedded_bootstrap(sink->emb));
    } else {
        sink->bootstrap = strdup(cfg->kafka.brokers);
    }

    sink->cfg = sl_config_ref((sl_config_t *)cfg);
    pthread_rwlock_init(&sink->rk_lock, NULL);
    if (new_producer(sink, err) != SL_OK) {
        sl_config_unref(sink->cfg);
        pthread_rwlock_destroy(&sink->rk_lock);
        goto fail;
    }
    pthread_create(&sink->poll_thread, NULL, poll_main, sink);
    pthread_create(&sink->health_thread, NULL, health_main, sink);
    *out = sink;
    return SL_OK;
fail:
    sl_embedded_destroy(sink->emb);
    free(sink->bootstrap);
    pthread_mutex_destroy(&sink->lock);
    pthread_cond_destroy(&sink->wake);
    free(sink);
    return SL_ERROR;
}

const char *sl_sink_bootstrap(const sl_sink_t *sink) {
    return sink->bootstrap;
}

struct sl_embedded *sl_sink_embedded(sl_sink_t *sink) {
    return sink->emb;
}

sl_status_t sl_sink_produce(sl_sink_t *sink, const sl_msg_t *msg, void *opaque, sl_error_t *err) {
    if (atomic_load_explicit(&sink->fatal, memory_order_relaxed)) {
        return sl_error_set(err, SL_RETRY, "kafka_producer_reset",
                            "the Kafka producer is being recreated after a fatal error; retry "
                            "later");
    }
    if (!atomic_load_explicit(&sink->brokers_up, memory_order_relaxed)) {
        return sl_error_set(err, SL_RETRY, "kafka_unavailable",
                            "the Kafka brokers are unreachable; retry later");
    }
    rd_kafka_headers_t *hdrs = NULL;
    if (msg->n_headers > 0) {
        hdrs = rd_kafka_headers_new(msg->n_headers);
        for (size_t i = 0; i < msg->n_headers; i++) {
            rd_kafka_header_add(hdrs, msg->headers[i].name, -1, msg->headers[i].value,
                                (ssize_t)msg->headers[i].value_len);
        }
    }
    pthread_rwlock_rdlock(&sink->rk_lock);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        sink->rk, RD_KAFKA_V_TOPIC(msg->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(msg->key, msg->key_len),
        RD_KAFKA_V_VALUE((void *)msg->value, msg->value_len), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_TIMESTAMP(msg->timestamp_ms), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    pthread_rwlock_unlock(&sink->rk_lock);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        return SL_OK;
    }
    if (hdrs != NULL) {
        rd_kafka_headers_destroy(hdrs);
    }
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        return sl_error_set(err, SL_RETRY, "queue_full",
                            "the producer queue is full; retry after Retry-After");
    }
    if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        return sl_error_set(err, SL_REJECT, "kafka_rejected",
                            "the event is larger than the producer's message.max.bytes");
    }
    return sl_error_set(err, SL_RETRY, "kafka_unavailable", "produce failed: %s",
                        rd_kafka_err2str(e));
}

bool sl_sink_alive(sl_sink_t *sink, char *why, size_t why_len) {
    pthread_mutex_lock(&sink->lock);
    bool alive = !atomic_load(&sink->fatal);
    if (why != NULL && why_len > 0) {
        snprintf(why, why_len, "%s", alive ? "" : sink->why_fatal);
    }
    pthread_mutex_unlock(&sink->lock);
    return alive;
}

struct rd_kafka_s *sl_sink_handle(sl_sink_t *sink) {
    return sink->rk;
}

bool sl_sink_ready(sl_sink_t *sink, char *why, size_t why_len) {
    pthread_mutex_lock(&sink->lock);
    bool fatal = atomic_load(&sink->fatal);
    bool ready = !fatal && atomic_load(&sink->brokers_up) && atomic_load(&sink->topics_ok);
    if (why != NULL && why_len > 0) {
        snprintf(why, why_len, "%s", ready ? "" : fatal ? sink->why_fatal : sink->why_not_ready);
    }
    pthread_mutex_unlock(&sink->lock);
    return ready;
}

static int outq_len(sl_sink_t *sink) {
    pthread_rwlock_rdlock(&sink->rk_lock);
    int n = rd_kafka_outq_len(sink->rk);
    pthread_rwlock_unlock(&sink->rk_lock);
    return n;
}

int sl_sink_flush(sl_sink_t *sink, int timeout_ms) {
    /* The poll thread serves the delivery reports; here we only wait for them. */
    for (int waited = 0; outq_len(sink) > 0 && waited < timeout_ms; waited += 5) {
        struct timespec ts = {0, 5L * 1000000};
        nanosleep(&ts, NULL);
    }
    return outq_len(sink);
}

void sl_sink_purge(sl_sink_t *sink) {
    pthread_rwlock_rdlock(&sink->rk_lock);
    rd_kafka_purge(sink->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    pthread_rwlock_unlock(&sink->rk_lock);
}

int sl_sink_generation(sl_sink_t *sink) {
    return atomic_load(&sink->generation);
}

void sl_sink_destroy(sl_sink_t *sink) {
    if (sink == NULL) {
        return;
    }
    /* rd_kafka_destroy would drop queued messages silently: purge them so each still gets its
     * callback, and let the poll thread serve those callbacks before it stops. */
    sl_sink_purge(sink);
    int left = sl_sink_flush(sink, 5000);
    if (left > 0) {
        SL_ERROR("kafka: %d messages still without a delivery report at shutdown", left);
    }
    atomic_store(&sink->stop, true);
    pthread_mutex_lock(&sink->lock);
    pthread_cond_broadcast(&sink->wake);
    pthread_mutex_unlock(&sink->lock);
    pthread_join(sink->poll_thread, NULL);
    pthread_join(sink->health_thread, NULL);
    destroy_producer(sink);
    pthread_rwlock_destroy(&sink->rk_lock);
    for (size_t i = 0; i < sink->ntt; i++) {
        free(sink->tt[i].name);
    }
    free(sink->tt);
    pthread_mutex_destroy(&sink->tlock);
    sl_config_unref(sink->cfg);
    sl_embedded_destroy(sink->emb);
    free(sink->bootstrap);
    pthread_mutex_destroy(&sink->lock);
    pthread_cond_destroy(&sink->wake);
    free(sink);
}
