/* sink/suppression: the subjects erased through POST /v1/privacy/erasure, whose later events are
 * answered `suppressed` and not produced.
 *
 * A subject is SHA-256(tenant NUL user_id): stable across HMAC key rotations, and never the
 * identifier itself. The list lives in a compacted topic (topics.suppression), one message per
 * subject keyed by its hex digest; at start the whole topic is read back into memory, so a
 * restart or a new replica knows every erasure. Lookups are lock-free for readers in practice
 * (a read-write lock). */
#ifndef SL_SINK_SUPPRESSION_H
#define SL_SINK_SUPPRESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct sl_suppression sl_suppression_t;

sl_suppression_t *sl_suppression_new(void);
void sl_suppression_free(sl_suppression_t *s); /* NULL is ignored */

/* The subject of user id (n bytes) of tenant, as 32 bytes and as 64 lower-case hex + NUL. */
void sl_suppression_subject(const char *tenant, const char *id, size_t n, uint8_t out[32]);
void sl_suppression_hex(const uint8_t subject[32], char hex[65]);

void sl_suppression_add(sl_suppression_t *s, const uint8_t subject[32]);
bool sl_suppression_has(sl_suppression_t *s, const uint8_t subject[32]);
size_t sl_suppression_count(sl_suppression_t *s);

/* Reads topic (on bootstrap) from the beginning to its end at the time of the call and adds
 * every subject it holds (a message with no value removes it). Gives up after timeout_ms.
 * *loaded: subjects added. */
sl_status_t sl_suppression_load(sl_suppression_t *s, const char *bootstrap, const char *topic,
                                int64_t timeout_ms, size_t *loaded, sl_error_t *err);

#endif
