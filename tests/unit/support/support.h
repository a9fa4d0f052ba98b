/* Helpers shared by the unit tests. Every function fails the current Criterion test (instead of
 * returning an error) when the environment lets it down. */
#ifndef SL_UNIT_SUPPORT_H
#define SL_UNIT_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config/config.h"

/* A NULL-terminated list of "key=value" strings for t_config. */
#define T_SETS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Number of entries of a NULL-terminated list. */
size_t t_count(const char *const *list);

/* sl_config_build(path, sets) that must succeed; the caller unrefs. sets may be NULL. */
sl_config_t *t_config(const char *path, const char *const *sets);
/* sl_config_build(path, sets) that must fail with SL_REJECT; returns the error. */
sl_error_t t_config_fail(const char *path, const char *const *sets);
/* Builds a config from sets and publishes it (for sl_request_new). Returns the caller's
 * reference. */
sl_config_t *t_publish(const char *const *sets);
/* Unpublishes the current config and drops cfg. */
void t_unpublish(sl_config_t *cfg);

/* Writes content to a new temporary file; returns its malloc'd path. */
char *t_write_temp(const char *content);
/* Removes and frees a path from t_write_temp. NULL is ignored. */
void t_remove_temp(char *path);

/* base64url without padding of n bytes; malloc'd. */
char *t_b64url(const void *data, size_t n);
/* header.payload.signature with HMAC over the first two parts using md ("SHA256", "SHA384")
 * and key; malloc'd. */
char *t_jwt(const char *header_json, const char *payload_json, const char *md, const char *key);
/* The same with alg HS256 and typ JWT. */
char *t_jwt_hs256(const char *payload_json, const char *key);

/* Milliseconds of a monotonic clock. */
int64_t t_mono_ms(void);
void t_sleep_ms(int ms);
/* Polls pred(arg) every 10 ms until it is true or timeout_ms passed; returns its last value. */
bool t_wait_until(bool (*pred)(void *), void *arg, int timeout_ms);
/* A consumer of partition 0 of topic, from its beginning, on the brokers of bootstrap: read with
 * rd_kafka_consume(r.rkt, 0, ...), close with t_reader_close. */
typedef struct {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
} t_reader_t;
t_reader_t t_reader_open(const char *bootstrap, const char *topic);
void t_reader_close(t_reader_t *r);

/* Predicates for t_wait_until; arg is the sl_sink_t. */
bool t_sink_ready(void *sink);
bool t_sink_not_ready(void *sink);

#endif
