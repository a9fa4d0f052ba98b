/* sink: the producer against the embedded mock cluster, with injected faults. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "sink/embedded.h"
#include "sink/sink.h"
#include "support.h"

#define PRODUCE_API 0 /* Kafka protocol ApiKey of Produce */
#define BROKER 1      /* the mock cluster numbers its brokers from 1 */

typedef struct {
    int calls;
    sl_status_t status;
    const char *code;
    const char *detail;
    int64_t at_ms;
    pthread_t thread;
} report_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int total_reports;

static void on_report(void *opaque, sl_status_t status, const char *code, const char *detail) {
    report_t *r = opaque;
    pthread_mutex_lock(&mu);
    r->calls++;
    r->status = status;
    r->code = code;
    r->detail = detail;
    r->at_ms = t_mono_ms();
    r->thread = pthread_self();
    total_reports++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Waits until at least n reports arrived in total; returns the count. */
static int wait_reports(int n, int timeout_ms) {
    int64_t until = t_mono_ms() + timeout_ms;
    pthread_mutex_lock(&mu);
    while (total_reports < n && t_mono_ms() < until) {
        pthread_mutex_unlock(&mu);
        t_sleep_ms(5);
        pthread_mutex_lock(&mu);
    }
    int got = total_reports;
    pthread_mutex_unlock(&mu);
    return got;
}

static report_t snapshot(const report_t *r) {
    pthread_mutex_lock(&mu);
    report_t copy = *r;
    pthread_mutex_unlock(&mu);
    return copy;
}

static sl_config_t *cfg;
static sl_sink_t *sink;
static rd_kafka_mock_cluster_t *mc;

/* Starts an embedded sink with small timeouts plus extra settings, and waits until ready. */
static void start(const char *const *extra) {
    const char *sets[16] = {"kafka.brokers=embedded",
                            "kafka.delivery_timeout=2s",
                            "kafka.message_timeout=2s",
                            "kafka.health_interval=100ms",
                            "kafka.embedded_partitions=1",
                            "kafka.linger=0ms",
                            "log.level=error"};
    size_t n = 7;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        sets[n++] = extra[i];
    }
    sets[n] = NULL;
    cfg = t_config(NULL, sets);
    sl_error_t err = {0};
    sl_status_t st = sl_sink_new(cfg, on_report, &sink, &err);
    cr_assert(eq(int, st, SL_OK), "sl_sink_new: %s: %s", err.code ? err.code : "?", err.message);
    cr_assert(sl_sink_embedded(sink) != NULL);
    mc = sl_embedded_cluster(sl_sink_embedded(sink));
    cr_assert(mc != NULL);
    cr_assert(strncmp(sl_sink_bootstrap(sink), "127.0.0.1:", 10) == 0, "%s",
              sl_sink_bootstrap(sink));
    char why[256] = "";
    cr_assert(t_wait_until(t_sink_ready, sink, 10000), "not ready: %s",
              (sl_sink_ready(sink, why, sizeof(why)), why));
}

static void stop(void) {
    if (sink != NULL) {
        sl_sink_destroy(sink);
        sink = NULL;
    }
    sl_config_unref(cfg);
    cfg = NULL;
}

TestSuite(sink, .fini = stop, .timeout = 40);

static sl_status_t produce(report_t *r, sl_error_t *err) {
    char value[] = "{\"event_id\":\"e1\",\"type\":\"t\"}";
    sl_header_t h[] = {{"event_id", "e1", 2}, {"type", "t", 1}};
    sl_msg_t m = {
        .topic = cfg->topics.raw,
        .key = "user-1",
        .key_len = 6,
        .value = value,
        .value_len = strlen(value),
        .headers = h,
        .n_headers = 2,
        .timestamp_ms = 0,
    };
    memset(err, 0, sizeof(*err));
    sl_status_t st = sl_sink_produce(sink, &m, r, err);
    memset(value, 'X', sizeof(value) - 1); /* the producer copied the value */
    return st;
}

static void produce_ok(report_t *r) {
    sl_error_t err;
    sl_status_t st = produce(r, &err);
    cr_assert(eq(int, st, SL_OK), "produce: %s: %s", err.code ? err.code : "?", err.message);
}

Test(sink, ready_without_reason) {
    start(NULL);
    char why[64] = "stale";
    cr_assert(sl_sink_ready(sink, why, sizeof(why)));
    cr_assert(eq(str, why, ""));
}

Test(sink, produce_acknowledged) {
    start(NULL);
    static report_t r = {0};
    produce_ok(&r);
    cr_assert(eq(int, wait_reports(1, 10000), 1));
    report_t got = snapshot(&r);
    cr_assert(eq(int, got.calls, 1));
    cr_assert(eq(int, got.status, SL_OK));
    cr_assert(got.code == NULL);
    cr_assert(true && !pthread_equal(got.thread, pthread_self()),
              "reports come on the poll thread");
    cr_assert(eq(int, sl_sink_flush(sink, 1000), 0));
    t_sleep_ms(100);
    cr_assert(eq(int, snapshot(&r).calls, 1), "exactly one report per message");
}

Test(sink, many_messages_each_reported_once) {
    start(NULL);
    enum { N = 200 };
    static report_t r[N];
    for (int i = 0; i < N; i++) {
        produce_ok(&r[i]);
    }
    cr_assert(eq(int, sl_sink_flush(sink, 10000), 0));
    cr_assert(eq(int, wait_reports(N, 5000), N));
    for (int i = 0; i < N; i++) {
        report_t got = snapshot(&r[i]);
        cr_assert(eq(int, got.calls, 1), "message %d", i);
        cr_assert(eq(int, got.status, SL_OK), "message %d: %s", i, got.code);
    }
}

Test(sink, transient_produce_errors_are_retried) {
    start(NULL);
    rd_kafka_mock_push_request_errors(mc, PRODUCE_API, 3, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
    static report_t r = {0};
    produce_ok(&r);
    cr_assert(eq(int, wait_reports(1, 10000), 1));
    report_t got = snapshot(&r);
    cr_assert(eq(int, got.status, SL_OK), "idempotent producer retried: got %s (%s)",
              got.code ? got.code : "?", got.detail ? got.detail : "");
    cr_assert(eq(int, got.calls, 1));
    /* The injected errors were really consumed by the produce requests: a second message is
     * acknowledged without delay. */
    static report_t r2 = {0};
    int64_t t0 = t_mono_ms();
    produce_ok(&r2);
    cr_assert(eq(int, wait_reports(2, 10000), 2));
    cr_assert(eq(int, snapshot(&r2).status, SL_OK));
    cr_assert(t_mono_ms() - t0 < 1000);
}

Test(sink, persistent_produce_errors_become_retry) {
    start(NULL);
    rd_kafka_resp_err_t errs[300];
    for (size_t i = 0; i < 300; i++) {
        errs[i] = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
    }
    rd_kafka_mock_push_request_errors_array(mc, PRODUCE_API, 300, errs);
    static report_t r = {0};
    int64_t t0 = t_mono_ms();
    produce_ok(&r);
    cr_assert(eq(int, wait_reports(1, 15000), 1), "no report within 15 s");
    report_t got = snapshot(&r);
    cr_assert(eq(int, got.status, SL_RETRY));
    cr_assert(got.code != NULL);
    cr_assert(strcmp(got.code, "kafka_timeout") == 0 ||
                  strcmp(got.code, "kafka_possibly_persisted") == 0 ||
                  strcmp(got.code, "kafka_not_acknowledged") == 0,
              "code %s", got.code);
    cr_assert(got.detail != NULL);
    int64_t took = got.at_ms - t0;
    cr_assert(took >= 1500, "answered after %lld ms, before the delivery timeout", (long long)took);
    cr_assert(took <= 5000, "answered after %lld ms, long after the 2 s delivery timeout",
              (long long)took);
}

Test(sink, slow_broker_times_out) {
    start(NULL);
    /* One Produce answered after 5 s, beyond the 2 s delivery timeout. */
    rd_kafka_mock_broker_push_request_error_rtts(mc, BROKER, PRODUCE_API, 1,
                                                 RD_KAFKA_RESP_ERR_NO_ERROR, 5000);
    static report_t r = {0};
    int64_t t0 = t_mono_ms();
    produce_ok(&r);
    cr_assert(eq(int, wait_reports(1, 15000), 1), "no report within 15 s");
    report_t got = snapshot(&r);
    cr_assert(eq(int, got.status, SL_RETRY), "status %s", sl_status_name(got.status));
    /* The Produce request was on the wire when the timeout hit: the broker may have written
     * it, and the code says so (a retry can duplicate). */
    cr_assert(eq(str, (char *)got.code, "kafka_possibly_persisted"), "%s (%s)", got.code,
              got.detail ? got.detail : "");
    int64_t took = got.at_ms - t0;
    cr_assert(took <= 4500, "answered after %lld ms", (long long)took);
}

Test(sink, slow_broker_rtt_times_out) {
    start(NULL);
    rd_kafka_mock_broker_set_rtt(mc, BROKER, 4000);
    static report_t r = {0};
    sl_error_t err;
    sl_status_t st = produce(&r, &err);
    if (st != SL_OK) {
        /* The health check may already have seen the slow broker. */
        cr_assert(eq(int, st, SL_RETRY));
        return;
    }
    cr_assert(eq(int, wait_reports(1, 15000), 1), "no report within 15 s");
    report_t got = snapshot(&r);
    cr_assert(eq(int, got.status, SL_RETRY));
    cr_assert(eq(str, (char *)got.code, "kafka_possibly_persisted"), "%s", got.code);
    rd_kafka_mock_broker_set_rtt(mc, BROKER, 0);
}

Test(sink, queue_full_does_not_block) {
    start(T_SETS("kafka.queue_max_messages=1"));
    rd_kafka_mock_broker_push_request_error_rtts(mc, BROKER, PRODUCE_API, 2,
                                                 RD_KAFKA_RESP_ERR_NO_ERROR, 1000,
                                                 RD_KAFKA_RESP_ERR_NO_ERROR, 1000);
    static report_t first = {0};
    produce_ok(&first);
    static report_t second = {0};
    sl_error_t err;
    int64_t t0 = t_mono_ms();
    sl_status_t st = produce(&second, &err);
    int64_t took = t_mono_ms() - t0;
    cr_assert(eq(int, st, SL_RETRY), "a second message fits a queue of one");
    cr_assert(eq(str, (char *)err.code, "queue_full"), "%s", err.message);
    cr_assert(took < 200, "produce blocked for %lld ms", (long long)took);
    /* The refused message gets no report; the queued one is acknowledged. */
    cr_assert(eq(int, wait_reports(1, 10000), 1));
    cr_assert(eq(int, snapshot(&first).status, SL_OK));
    t_sleep_ms(100);
    cr_assert(eq(int, snapshot(&second).calls, 0));
    /* Room again. */
    static report_t third = {0};
    produce_ok(&third);
    cr_assert(eq(int, wait_reports(2, 10000), 2));
    cr_assert(eq(int, snapshot(&third).status, SL_OK));
}

Test(sink, broker_down_then_up) {
    start(NULL);
    rd_kafka_mock_broker_set_down(mc, BROKER);
    cr_assert(t_wait_until(t_sink_not_ready, sink, 10000),
              "still ready 10 s after the broker died");
    char why[256] = "";
    cr_assert(true && !sl_sink_ready(sink, why, sizeof(why)));
    cr_assert(strlen(why) > 0, "not ready without a reason");
    static report_t r = {0};
    sl_error_t err;
    cr_assert(eq(int, produce(&r, &err), SL_RETRY), "produce while the brokers are down");
    cr_assert(eq(str, (char *)err.code, "kafka_unavailable"), "%s", err.code);

    rd_kafka_mock_broker_set_up(mc, BROKER);
    cr_assert(t_wait_until(t_sink_ready, sink, 20000), "not ready 20 s after the broker came back");
    static report_t r2 = {0};
    produce_ok(&r2);
    cr_assert(eq(int, wait_reports(1, 10000), 1));
    cr_assert(eq(int, snapshot(&r2).status, SL_OK));
    cr_assert(eq(int, snapshot(&r).calls, 0), "a refused message gets no report");
}

Test(sink, purge_reports_retry) {
    start(T_SETS("kafka.delivery_timeout=20s", "kafka.message_timeout=20s"));
    rd_kafka_mock_broker_set_rtt(mc, BROKER, 5000);
    static report_t r[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        produce_ok(&r[i]);
    }
    t_sleep_ms(200); /* some in flight */
    int64_t t0 = t_mono_ms();
    sl_sink_purge(sink);
    cr_assert(eq(int, wait_reports(3, 3000), 3), "purged messages were not reported");
    for (int i = 0; i < 3; i++) {
        report_t got = snapshot(&r[i]);
        cr_assert(eq(int, got.calls, 1));
        cr_assert(eq(int, got.status, SL_RETRY));
        cr_assert(eq(str, (char *)got.code, "shutting_down"), "%s", got.code);
        cr_assert(got.at_ms - t0 < 3000);
    }
    cr_assert(eq(int, sl_sink_flush(sink, 1000), 0));
    rd_kafka_mock_broker_set_rtt(mc, BROKER, 0);
}

Test(sink, destroy_reports_every_message) {
    start(T_SETS("kafka.delivery_timeout=20s", "kafka.message_timeout=20s"));
    rd_kafka_mock_broker_set_rtt(mc, BROKER, 5000);
    enum { N = 5 };
    static report_t r[N];
    for (int i = 0; i < N; i++) {
        produce_ok(&r[i]);
    }
    t_sleep_ms(100);
    int64_t t0 = t_mono_ms();
    sl_sink_destroy(sink);
    sink = NULL;
    int64_t took = t_mono_ms() - t0;
    cr_assert(eq(int, total_reports, N), "destroy returned with messages unreported");
    for (int i = 0; i < N; i++) {
        cr_assert(eq(int, r[i].calls, 1), "message %d", i);
        cr_assert(eq(int, r[i].status, SL_RETRY), "message %d", i);
    }
    cr_assert(took < 8000, "destroy took %lld ms", (long long)took);
}

Test(sink, flush_waits_for_reports) {
    start(NULL);
    static report_t r[10] = {{0}};
    for (int i = 0; i < 10; i++) {
        produce_ok(&r[i]);
    }
    cr_assert(eq(int, sl_sink_flush(sink, 10000), 0));
    cr_assert(eq(int, wait_reports(10, 2000), 10));
}

Test(sink, flush_times_out_with_outstanding_count) {
    start(T_SETS("kafka.delivery_timeout=20s", "kafka.message_timeout=20s"));
    rd_kafka_mock_broker_set_rtt(mc, BROKER, 3000);
    static report_t r[2] = {{0}};
    produce_ok(&r[0]);
    produce_ok(&r[1]);
    int64_t t0 = t_mono_ms();
    int left = sl_sink_flush(sink, 300);
    cr_assert(eq(int, left, 2), "outstanding %d", left);
    cr_assert(t_mono_ms() - t0 < 2000);
    rd_kafka_mock_broker_set_rtt(mc, BROKER, 0);
}

/* A configuration that passes validation must start: kafka.linger may be as long as 1 s and
 * kafka.delivery_timeout as short as 1 s. */
Test(sink, longest_linger_with_shortest_delivery_timeout) {
    /* librdkafka refuses message.timeout.ms <= linger.ms: the loader must refuse it first, so
     * that --check never approves a configuration the producer cannot start with. */
    const char *sets[] = {"kafka.linger=1000ms", "kafka.delivery_timeout=1s"};
    sl_config_t *bad = NULL;
    sl_error_t err = {0};
    cr_assert(eq(int, sl_config_build(NULL, sets, 2, &bad, &err), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "config_conflict"));
    cr_assert(not(eq(ptr, strstr(err.message, "kafka.linger"), NULL)), "%s", err.message);
    cfg = t_config(NULL, T_SETS("kafka.linger=999ms", "kafka.delivery_timeout=1s",
                                "kafka.message_timeout=1s", "kafka.health_interval=100ms",
                                "log.level=error"));
    sl_status_t st = sl_sink_new(cfg, on_report, &sink, &err);
    cr_assert(eq(int, st, SL_OK), "a validated config does not start: %s: %s",
              err.code ? err.code : "?", err.message);
}

static bool recreated(void *arg) {
    return sl_sink_generation(arg) == 2 && sl_sink_alive(arg, NULL, 0) &&
           sl_sink_ready(arg, NULL, 0);
}

Test(sink, fatal_error_fails_outstanding_messages_and_recreates_the_producer) {
    start(NULL);
    char why[256] = "stale";
    cr_assert(sl_sink_alive(sink, why, sizeof(why)));
    cr_assert(eq(str, why, ""));
    cr_assert(eq(int, sl_sink_generation(sink), 1));
    /* One message outstanding (the broker answers after 1.5 s) when the producer dies. */
    rd_kafka_mock_broker_set_rtt(mc, BROKER, 1500);
    static report_t held = {0};
    produce_ok(&held);
    /* What librdkafka raises when the idempotent producer's state cannot be recovered. */
    rd_kafka_test_fatal_error(sl_sink_handle(sink), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                              "injected by the test");
    cr_assert(eq(int, wait_reports(1, 10000), 1), "the held message got no report");
    report_t got = snapshot(&held);
    cr_assert(eq(int, got.status, SL_RETRY), "status %s", sl_status_name(got.status));
    cr_assert(eq(str, (char *)got.code, "kafka_producer_reset"), "%s", got.code);
    rd_kafka_mock_broker_set_rtt(mc, BROKER, 0);
    /* A new producer takes its place: alive, ready, and it produces. */
    cr_assert(t_wait_until(recreated, sink, 15000), "no new producer after the fatal error");
    static report_t after = {0};
    produce_ok(&after);
    cr_assert(eq(int, wait_reports(2, 10000), 2), "no report from the new producer");
    cr_assert(eq(int, snapshot(&after).status, SL_OK));
}
