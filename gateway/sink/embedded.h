/* sink/embedded: the in-process Kafka-protocol broker of the embedded default.
 *
 * librdkafka's mock cluster, reachable by any Kafka client (kcat, Java) at its bootstrap address,
 * with every stage topic of the configuration created. For development and fault injection in
 * tests; it keeps nothing on disk. */
#ifndef SL_SINK_EMBEDDED_H
#define SL_SINK_EMBEDDED_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config/config.h"
#include "core/status.h"

typedef struct sl_embedded sl_embedded_t;

/* Starts kafka.embedded_brokers brokers on loopback and creates the six stage topics with
 * kafka.embedded_partitions partitions. Free with sl_embedded_destroy after every client of it
 * has been destroyed. */
sl_status_t sl_embedded_new(const sl_config_t *cfg, sl_embedded_t **out, sl_error_t *err);
/* "127.0.0.1:port,..." ; borrowed, valid until destroy. */
const char *sl_embedded_bootstrap(const sl_embedded_t *emb);
/* The mock cluster, for fault injection in tests. Borrowed. */
rd_kafka_mock_cluster_t *sl_embedded_cluster(sl_embedded_t *emb);
void sl_embedded_destroy(sl_embedded_t *emb);

#endif
