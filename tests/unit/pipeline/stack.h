/* The in-process stack the pipeline-with-Kafka suites run on: a published configuration, an
 * embedded Kafka sink, a pipeline producing to it and a token of tenant "acme", subject
 * "tester". Fails the current test when any part does not come up. */
#ifndef SL_UNIT_PIPELINE_STACK_H
#define SL_UNIT_PIPELINE_STACK_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdbool.h>

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

/* A request submitted by t_submit, and its completion. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;                  /* on_complete calls so far */
    pthread_t thread;           /* the thread on_complete ran on */
    size_t pending_at_complete; /* events still without an outcome when on_complete ran */
    sl_request_t *req;
} t_done_t;

/* Submits a JSON request for body to pl, with bearer as its token (NULL: none); d records its
 * completion. Does not wait. */
void t_submit(sl_pipeline_t *pl, const char *body, const char *bearer, t_done_t *d);
/* Waits up to timeout_s for d's on_complete (the test fails otherwise); returns its request. */
sl_request_t *t_wait_done(t_done_t *d, int timeout_s);
/* Whether d's on_complete has run. */
bool t_done_yet(t_done_t *d);

#endif
