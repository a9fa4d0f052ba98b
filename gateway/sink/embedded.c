#include "sink/embedded.h"

#include <stdlib.h>
#include <string.h>

struct sl_embedded {
    rd_kafka_t *rk; /* owns the mock cluster's threads; never produces */
    rd_kafka_mock_cluster_t *mc;
};

sl_status_t sl_embedded_new(const sl_config_t *cfg, sl_embedded_t **out, sl_error_t *err) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The host handle needs no broker of its own. */
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    /* The mock brokers inherit this handle's socket options: with Nagle on, the last of several
     * pipelined produce responses waits for the client's delayed ACK (~40 ms per batch). */
    rd_kafka_conf_set(conf, "socket.nagle.disable", "true", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return sl_error_set(err, SL_ERROR, "embedded_start", "embedded broker: %s", errstr);
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, (int)cfg->kafka.embedded_brokers);
    if (mc == NULL) {
        rd_kafka_destroy(rk);
        return sl_error_set(err, SL_ERROR, "embedded_start",
                            "embedded broker: could not start the mock cluster");
    }
    const char *topics[SL_CFG_NTOPICS], *names[SL_CFG_NTOPICS];
    size_t ntopics = sl_config_topics(cfg, names, topics);
    for (size_t i = 0; i < ntopics; i++) {
        if (strchr(topics[i], '{') != NULL || topics[i][0] == '\0') {
            continue; /* a per-tenant template: the mock cluster creates each on first use */
        }
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(
            mc, topics[i], (int)cfg->kafka.embedded_partitions, (int)cfg->kafka.embedded_brokers);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return sl_error_set(err, SL_ERROR, "embedded_start",
                                "embedded broker: creating topic %s: %s", topics[i],
                                rd_kafka_err2str(e));
        }
    }
    sl_embedded_t *emb = malloc(sizeof(*emb));
    if (emb == NULL) {
        abort();
    }
    emb->rk = rk;
    emb->mc = mc;
    *out = emb;
    return SL_OK;
}

const char *sl_embedded_bootstrap(const sl_embedded_t *emb) {
    return rd_kafka_mock_cluster_bootstraps(emb->mc);
}

rd_kafka_mock_cluster_t *sl_embedded_cluster(sl_embedded_t *emb) {
    return emb->mc;
}

void sl_embedded_destroy(sl_embedded_t *emb) {
    if (emb == NULL) {
        return;
    }
    rd_kafka_mock_cluster_destroy(emb->mc);
    rd_kafka_destroy(emb->rk);
    free(emb);
}
