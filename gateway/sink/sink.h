/* sink: the Kafka producer and its delivery reports.
 *
 * One idempotent producer (acks=all) per process, recreated after a fatal error.
 * sl_sink_produce never blocks: a full queue or
 * unreachable brokers are answered SL_RETRY at once. Every message accepted by sl_sink_produce
 * gets exactly one call of the delivery callback, on the sink's poll thread, with the opaque
 * given at produce time. A health thread checks the brokers and the stage topics for /readyz. */
#ifndef SL_SINK_SINK_H
#define SL_SINK_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/status.h"

typedef struct sl_sink sl_sink_t;

/* Called once per message on the poll thread. status: SL_OK (acknowledged by the brokers),
 * SL_RETRY (not persisted or possibly persisted: send again), SL_REJECT (the brokers refuse this
 * message for good, e.g. too large). code is a stable reason code and detail librdkafka's error
 * name; both are static strings (NULL on success). Must not block. */
typedef void (*sl_delivery_cb)(void *opaque, sl_status_t status, const char *code,
                               const char *detail);

typedef struct {
    const char *name;
    const char *value;
    size_t value_len;
} sl_header_t;

typedef struct {
    const char *topic;
    const void *key; /* NULL: no key */
    size_t key_len;
    const void *value; /* copied by the producer */
    size_t value_len;
    const sl_header_t *headers;
    size_t n_headers;
    int64_t timestamp_ms; /* 0: now */
} sl_msg_t;

/* Connects the producer to kafka.brokers, starting the embedded broker first when it is
 * "embedded". Starts the poll and health threads. */
sl_status_t sl_sink_new(const sl_config_t *cfg, sl_delivery_cb cb, sl_sink_t **out,
                        sl_error_t *err);

/* The bootstrap address clients can use (the embedded one when embedded). Borrowed. */
const char *sl_sink_bootstrap(const sl_sink_t *sink);
/* The embedded broker, or NULL (tests use it for fault injection). */
struct sl_embedded *sl_sink_embedded(sl_sink_t *sink);

/* Enqueue one message. SL_OK: cb will be called for opaque. SL_RETRY: queue full or brokers
 * unreachable, cb will not be called. SL_ERROR: anything else, cb will not be called.
 * Any thread. */
sl_status_t sl_sink_produce(sl_sink_t *sink, const sl_msg_t *msg, void *opaque, sl_error_t *err);

/* True when the last health check reached the brokers and found every stage topic. When false,
 * why holds the reason. Any thread. */
bool sl_sink_ready(sl_sink_t *sink, char *why, size_t why_len);

/* For a topic made from a per-tenant template ({tenant} in topics.*): true once it is known to
 * exist. A topic not seen before is created at once in the embedded broker; on a real cluster it
 * is looked up by the health thread, and false until found (the caller answers retryable). At
 * most 4096 such topics are tracked; beyond, true. Any thread. */
bool sl_sink_topic_ready(sl_sink_t *sink, const char *topic);

/* False from a fatal producer error (the idempotent producer cannot go on: librdkafka's reason in
 * why) until the health thread has failed every outstanding message (SL_RETRY,
 * kafka_producer_reset) and created a new producer; the sink is not ready meanwhile. Any
 * thread. */
bool sl_sink_alive(sl_sink_t *sink, char *why, size_t why_len);

/* Producers created so far (1, then one more per recovery from a fatal error). */
int sl_sink_generation(sl_sink_t *sink);

/* The librdkafka handle, for fault injection in tests only. Borrowed. */
struct rd_kafka_s *sl_sink_handle(sl_sink_t *sink);

/* Waits until every enqueued message has had its delivery callback, or timeout_ms passed.
 * Returns the number of messages still outstanding. */
int sl_sink_flush(sl_sink_t *sink, int timeout_ms);

/* Fails every outstanding message (queued and in flight): their callbacks report SL_RETRY. */
void sl_sink_purge(sl_sink_t *sink);

/* Stops the threads and destroys the producer (call flush/purge first: whatever is still
 * queued is reported SL_RETRY through the callback), then the embedded broker. */
void sl_sink_destroy(sl_sink_t *sink);

#endif
