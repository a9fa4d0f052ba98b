/* The in-process stack the pipeline-with-Kafka suites run on: a published configuration, an
 * embedded Kafka sink, a pipeline producing to it and a token of tenant "acme", subject
 * "tester". Fails the current test when any part does not come up. */
#ifndef SL_UNIT_PIPELINE_STACK_H
#define SL_UNIT_PIPELINE_STACK_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config/config.h"
#include "pipeline/pipeline.h"
#include "sink/sink.h"

typedef struct {
    sl_config_t *cfg;
    sl_sink_t *sink;
    sl_pipeline_t *pl;
    rd_kafka_mock_cluster_t *mc; /* the embedded cluster, for fault injection */
    char *token;
} t_stack_t;

/* Publishes sets (auth.secret among them), starts the sink and the pipeline, mints the token
 * and waits until the sink is ready. */
void t_stack_open(t_stack_t *s, const char *const *sets);
/* Stops and frees what t_stack_open started (any part may be missing). */
void t_stack_close(t_stack_t *s);

#endif
