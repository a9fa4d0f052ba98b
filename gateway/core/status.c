#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>

sl_status_t sl_error_set(sl_error_t *err, sl_status_t status, const char *code, const char *fmt,
                         ...) {
    if (err != NULL) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *sl_status_name(sl_status_t status) {
    switch (status) {
    case SL_OK:
        return "ok";
    case SL_DROP:
        return "drop";
    case SL_REJECT:
        return "reject";
    case SL_RETRY:
        return "retry";
    case SL_ERROR:
        return "error";
    }
    return "unknown";
}

const char *sl_outcome_name(sl_outcome_t outcome) {
    static const char *names[] = {"accepted",  "invalid",   "consent_dropped",
                                  "duplicate", "retryable", "suppressed"};
    if (outcome < 0 || outcome >= SL_OUT__COUNT) {
        return "pending";
    }
    return names[outcome];
}
