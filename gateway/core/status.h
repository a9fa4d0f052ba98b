/* core/status: the one status set every stage and module returns, and the error out-parameter.
 *
 * Functions return SL_OK (0) or a negative status; SL_DROP is the one positive, non-failure
 * outcome (an event deliberately not produced). The caller decides what to do from the status
 * alone: REJECT is final (the input is wrong), RETRY means the same input may succeed later,
 * ERROR is an internal fault. */
#ifndef SL_CORE_STATUS_H
#define SL_CORE_STATUS_H

#include <stddef.h>

typedef enum {
    SL_DROP = 1,
    SL_OK = 0,
    SL_REJECT = -1,
    SL_RETRY = -2,
    SL_ERROR = -3,
} sl_status_t;

/* A stable machine code (static string, snake_case) and a readable message. */
typedef struct {
    const char *code;
    char message[384];
} sl_error_t;

/* Fill err (may be NULL) and return status. Thread-safe; err is owned by the caller. */
sl_status_t sl_error_set(sl_error_t *err, sl_status_t status, const char *code, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));

const char *sl_status_name(sl_status_t status);

/* The final outcome of one event, the same on every transport (DESIGN.md "per-event contract").
 * ACCEPTED means Kafka acknowledged it; RETRYABLE means the client should send it again. */
typedef enum {
    SL_OUT_PENDING = -1,
    SL_OUT_ACCEPTED = 0,
    SL_OUT_INVALID,
    SL_OUT_CONSENT_DROPPED,
    SL_OUT_DUPLICATE,
    SL_OUT_RETRYABLE,
    SL_OUT_SUPPRESSED, /* its user asked for erasure: not produced (final) */
    SL_OUT__COUNT,
} sl_outcome_t;

/* "accepted", "invalid", "consent_dropped", "duplicate", "retryable", "suppressed". */
const char *sl_outcome_name(sl_outcome_t outcome);

#endif
