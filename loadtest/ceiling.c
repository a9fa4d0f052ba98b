/* loadtest/ceiling: the raw librdkafka produce rate the gateway can at best reach.
 *
 * One producer with the gateway's settings (sink/sink.c: enable.idempotence=true, acks=all,
 * linger.ms=5, compression lz4, partitioner murmur2_random, the same queue bounds) produces the
 * same messages the gateway produces for the driver's events: value = the ~300-byte compact
 * event JSON, key = user_id, headers event_id/type/received_at, timestamp = now. It produces as
 * fast as the queue takes them (or with at most --max-inflight outstanding, to mimic the
 * gateway's closed loop) for warm-up + duration, then waits for every delivery report.
 * Throughput = acknowledged deliveries inside the measured window / window.
 *
 * --brokers mock starts a librdkafka mock cluster in this process (like the gateway's embedded
 * broker: 1 broker, --partitions partitions per topic, default 6), so the mock's CPU is in this
 * process as it is in the gateway's. Prints a summary on stderr and, with --json, a JSON object
 * on stdout. */
#define _GNU_SOURCE
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lt_common.h"

static struct {
    const char *brokers;
    const char *topic;
    double duration;
    double warmup;
    int partitions;
    long max_inflight;
    int pool;
    bool json;
    const char *label;
    const char *watch_name;
    int watch_pid;
} opt = {
    .brokers = "mock",
    .topic = "sluice.raw",
    .duration = 10,
    .warmup = 2,
    .partitions = 6,
    .max_inflight = 0,
    .pool = 4096,
    .label = "",
};

static uint64_t w0_ns, w1_ns;
static uint64_t ok_in_window, ok_all, failed_all;
static long outstanding;
static char first_error[256];
static volatile sig_atomic_t interrupted;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    outstanding--;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (failed_all++ == 0) {
            snprintf(first_error, sizeof(first_error), "%s", rd_kafka_err2str(m->err));
        }
        return;
    }
    ok_all++;
    uint64_t now = lt_mono_ns();
    if (now >= w0_ns && now <= w1_ns) {
        ok_in_window++;
    }
}

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

static double rusage_self_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void conf_set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char errstr[256];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "ceiling: %s=%s: %s\n", k, v, errstr);
        exit(2);
    }
}

typedef struct {
    char *value;
    size_t len;
    size_t id_off;
    size_t key_off;
    size_t key_len;
} pooled_t;

int main(int argc, char **argv) {
    static const struct option lo[] = {{"brokers", required_argument, NULL, 'b'},
                                       {"topic", required_argument, NULL, 't'},
                                       {"duration", required_argument, NULL, 'd'},
                                       {"warmup", required_argument, NULL, 'w'},
                                       {"partitions", required_argument, NULL, 'p'},
                                       {"max-inflight", required_argument, NULL, 'i'},
                                       {"label", required_argument, NULL, 'l'},
                                       {"watch", required_argument, NULL, 'W'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'b':
            opt.brokers = optarg;
            break;
        case 't':
            opt.topic = optarg;
            break;
        case 'd':
            opt.duration = atof(optarg);
            break;
        case 'w':
            opt.warmup = atof(optarg);
            break;
        case 'p':
            opt.partitions = atoi(optarg);
            break;
        case 'i':
            opt.max_inflight = atol(optarg);
            break;
        case 'l':
            opt.label = optarg;
            break;
        case 'j':
            opt.json = true;
            break;
        case 'W': {
            char *eq = strchr(optarg, '=');
            if (eq == NULL) {
                fprintf(stderr, "ceiling: --watch NAME=PID\n");
                return 2;
            }
            *eq = '\0';
            opt.watch_name = optarg;
            opt.watch_pid = atoi(eq + 1);
            break;
        }
        case 'h':
        default:
            fputs("usage: ceiling [--brokers mock|HOST:PORT] [--topic sluice.raw] [--duration 10]\n"
                  "               [--warmup 2] [--partitions 6 (mock)] [--max-inflight N]\n"
                  "               [--watch NAME=PID] [--label S] [--json]\n",
                  ch == 'h' ? stdout : stderr);
            return ch == 'h' ? 0 : 2;
        }
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    char errstr[512];
    rd_kafka_t *mock_rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    const char *bootstrap = opt.brokers;
    if (strcmp(opt.brokers, "mock") == 0) {
        /* As gateway/sink/embedded.c: a host handle that owns the mock cluster's thread. */
        rd_kafka_conf_t *mconf = rd_kafka_conf_new();
        rd_kafka_conf_set(mconf, "log_level", "3", NULL, 0);
        mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, errstr, sizeof(errstr));
        if (mock_rk == NULL) {
            fprintf(stderr, "ceiling: mock host: %s\n", errstr);
            return 1;
        }
        mc = rd_kafka_mock_cluster_new(mock_rk, 1);
        if (mc == NULL || rd_kafka_mock_topic_create(mc, opt.topic, opt.partitions, 1) != 0) {
            fprintf(stderr, "ceiling: could not start the mock cluster\n");
            return 1;
        }
        bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    }

    /* The gateway's producer configuration (gateway/sink/sink.c with the config defaults). */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", bootstrap);
    conf_set(conf, "enable.idempotence", "true");
    conf_set(conf, "acks", "all");
    conf_set(conf, "client.id", "sluice-ceiling");
    conf_set(conf, "compression.codec", "lz4");
    conf_set(conf, "partitioner", "murmur2_random");
    conf_set(conf, "linger.ms", "5");
    conf_set(conf, "message.timeout.ms", "30000");
    conf_set(conf, "queue.buffering.max.messages", "100000");
    conf_set(conf, "queue.buffering.max.kbytes", "262144");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "ceiling: %s\n", errstr);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, opt.topic, NULL);

    /* Wait until the topic's metadata is there, so the warm-up is not spent connecting. */
    const struct rd_kafka_metadata *md = NULL;
    for (int tries = 0; tries < 50; tries++) {
        if (rd_kafka_metadata(rk, 0, rkt, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            bool ok =
                md->topic_cnt == 1 && md->topics[0].err == 0 && md->topics[0].partition_cnt > 0;
            rd_kafka_metadata_destroy(md);
            if (ok) {
                break;
            }
        }
        usleep(100000);
    }

    /* The message pool: the same generator as the driver's events. */
    lt_rng_t rng = {(uint64_t)lt_now_ms() ^ ((uint64_t)getpid() << 40)};
    uint32_t run = (uint32_t)lt_rand(&rng);
    pooled_t *pool = calloc((size_t)opt.pool, sizeof(pooled_t));
    double bytes = 0;
    for (int i = 0; i < opt.pool; i++) {
        char ev[1024];
        pool[i].len = lt_event(ev, sizeof(ev), &rng, lt_now_ms(), &pool[i].id_off, &pool[i].key_off,
                               &pool[i].key_len);
        pool[i].value = malloc(pool[i].len);
        memcpy(pool[i].value, ev, pool[i].len);
        bytes += (double)pool[i].len;
    }
    bytes /= opt.pool;

    uint64_t t0 = lt_mono_ns();
    w0_ns = t0 + (uint64_t)(opt.warmup * 1e9);
    w1_ns = w0_ns + (uint64_t)(opt.duration * 1e9);
    double cpu_a = -1, cpu_b = -1;
    lt_groups_t ga = {0}, gb = {0};
    long long watch_a = -1, watch_b = -1;
    uint64_t produced = 0, queue_full = 0;
    char received[25];
    int64_t received_ms = 0;
    for (uint64_t seq = 0; !interrupted; seq++) {
        uint64_t now = lt_mono_ns();
        if (cpu_a < 0 && now >= w0_ns) {
            cpu_a = rusage_self_s();
            lt_thread_groups(0, &ga);
            watch_a = opt.watch_pid > 0 ? lt_proc_ticks(opt.watch_pid) : -1;
        }
        if (now >= w1_ns) {
            cpu_b = rusage_self_s();
            lt_thread_groups(0, &gb);
            watch_b = opt.watch_pid > 0 ? lt_proc_ticks(opt.watch_pid) : -1;
            break;
        }
        if (opt.max_inflight > 0 && outstanding >= opt.max_inflight) {
            rd_kafka_poll(rk, 1);
            seq--;
            continue;
        }
        /* The gateway formats received_at once per request (100 events). */
        if (seq % 100 == 0) {
            received_ms = lt_now_ms();
            lt_rfc3339(received_ms, received);
        }
        pooled_t *p = &pool[seq % (uint64_t)opt.pool];
        lt_uuid(p->value + p->id_off, run, 0xffff, seq);
        rd_kafka_headers_t *h = rd_kafka_headers_new(4);
        rd_kafka_header_add(h, "event_id", -1, p->value + p->id_off, LT_UUID_LEN);
        rd_kafka_header_add(h, "type", -1, "product_view", 12);
        rd_kafka_header_add(h, "received_at", -1, received, 24);
        rd_kafka_header_add(h, "contract", -1, "sluice.events.v1.ProductView", 28);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY((p->value + p->key_off), p->key_len), RD_KAFKA_V_VALUE(p->value, p->len),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_TIMESTAMP(received_ms), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            produced++;
            outstanding++;
            if ((produced & 255) == 0) {
                rd_kafka_poll(rk, 0);
            }
            continue;
        }
        rd_kafka_headers_destroy(h);
        seq--;
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            queue_full++;
            rd_kafka_poll(rk, 1);
            continue;
        }
        fprintf(stderr, "ceiling: produce: %s\n", rd_kafka_err2str(e));
        break;
    }
    /* Every delivery report, however long it takes. */
    uint64_t flush_start = lt_mono_ns();
    while (rd_kafka_outq_len(rk) > 0 && !interrupted &&
           lt_mono_ns() - flush_start < 60ull * 1000000000u) {
        rd_kafka_poll(rk, 100);
    }
    int left = rd_kafka_outq_len(rk);
    rd_kafka_poll(rk, 0);
    if (interrupted || cpu_a < 0 || cpu_b < 0) {
        fprintf(stderr, "ceiling: interrupted\n");
        return 130;
    }
    double win = (double)(w1_ns - w0_ns) / 1e9;
    double rate = (double)ok_in_window / win;
    double cpu = cpu_b - cpu_a;
    char groups[2048];
    lt_groups_json(groups, sizeof(groups), &ga, &gb);
    double watch_cpu =
        watch_a >= 0 && watch_b >= 0 ? (double)(watch_b - watch_a) / lt_ticks_per_s() : -1;
    if (opt.watch_pid > 0) {
        fprintf(stderr, "  %s CPU %.2f s over the window = %.2f cores\n", opt.watch_name, watch_cpu,
                watch_cpu / ((double)(w1_ns - w0_ns) / 1e9));
    }
    fprintf(stderr,
            "ceiling%s%s (%s, %s): %.0f msgs/s acknowledged, %.0f B/value; produced %llu, "
            "acked %llu, failed %llu, unfinished %d, queue-full waits %llu%s%s\n"
            "  process CPU %.2f s over the window = %.2f cores, %.2f us/msg; by thread %s\n",
            opt.label[0] ? " " : "", opt.label, opt.brokers, bootstrap, rate, bytes,
            (unsigned long long)produced, (unsigned long long)ok_all,
            (unsigned long long)failed_all, left, (unsigned long long)queue_full,
            failed_all ? "; first error: " : "", first_error, cpu, cpu / win,
            ok_in_window ? cpu / (double)ok_in_window * 1e6 : 0, groups);
    if (opt.json) {
        printf("{\"label\":\"%s\",\"brokers\":\"%s\",\"window_s\":%.4f,\"msgs_per_s\":%.1f,"
               "\"value_bytes\":%.1f,\"produced\":%llu,\"acked\":%llu,\"failed\":%llu,"
               "\"unfinished\":%d,\"max_inflight\":%ld,\"cpu_s\":%.3f,\"threads\":%s,"
               "\"watch_cpu_s\":%.3f}\n",
               opt.label, opt.brokers, win, rate, bytes, (unsigned long long)produced,
               (unsigned long long)ok_all, (unsigned long long)failed_all, left, opt.max_inflight,
               cpu, groups, watch_cpu);
        fflush(stdout);
    }
    for (int i = 0; i < opt.pool; i++) {
        free(pool[i].value);
    }
    free(pool);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    if (mc != NULL) {
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(mock_rk);
    }
    return failed_all || left ? 1 : 0;
}
