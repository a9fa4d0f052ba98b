/* pipeline/validate: the envelope every event must carry, whatever its contract. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/timefmt.h"
#include "pipeline/pipeline.h"

static void invalid(sl_event_t *ev, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void invalid(sl_event_t *ev, const char *code, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ev->outcome = SL_OUT_INVALID;
    ev->code = code;
    ev->message = sl_arena_strndup(ev->req->arena, msg,
                                   n < 0                     ? 0
                                   : (size_t)n < sizeof(msg) ? (size_t)n
                                                             : sizeof(msg) - 1);
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

/* A timestamp: RFC 3339 string or integer epoch milliseconds. 0 on success. */
static int timestamp(const json_t *v, int64_t *ms) {
    if (json_is_string(v)) {
        return sl_time_parse_rfc3339(json_string_value(v), json_string_length(v), ms);
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ms = json_integer_value(v);
        return 0;
    }
    return -1;
}

/* A string field of at most max bytes. Returns 1 when present and valid, 0 when absent, -1 when
 * invalid (and marks the event). */
static int id_field(sl_event_t *ev, const char *name, bool required, int64_t max,
                    const char **out) {
    json_t *v = json_object_get(ev->json, name);
    if (v == NULL || json_is_null(v)) {
        if (required) {
            invalid(ev, "missing_field", "%s: required field is missing", name);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        invalid(ev, "wrong_type", "%s: expected a string, got %s", name, type_name(v));
        return -1;
    }
    size_t len = json_string_length(v);
    if (len == 0) {
        if (required) {
            invalid(ev, "missing_field", "%s: must not be empty", name);
            return -1;
        }
        return 0;
    }
    if ((int64_t)len > max) {
        invalid(ev, "too_long", "%s: %zu bytes, over limits.max_id_bytes (%lld)", name, len,
                (long long)max);
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

static void validate_event(sl_event_t *ev, int64_t max_id) {
    if (!json_is_object(ev->json)) {
        invalid(ev, "not_an_object", "an event must be a JSON object, got %s", type_name(ev->json));
        return;
    }
    const char *user_id = NULL, *anonymous_id = NULL;
    if (id_field(ev, "event_id", true, max_id, &ev->event_id) < 0 ||
        id_field(ev, "type", true, max_id, &ev->type) < 0 ||
        id_field(ev, "user_id", false, max_id, &user_id) < 0 ||
        id_field(ev, "anonymous_id", false, max_id, &anonymous_id) < 0) {
        return;
    }
    json_t *occurred = json_object_get(ev->json, "occurred_at");
    if (occurred == NULL || json_is_null(occurred)) {
        invalid(ev, "missing_field", "occurred_at: required field is missing");
        return;
    }
    if (timestamp(occurred, &ev->occurred_at_ms) != 0) {
        if (json_is_string(occurred)) {
            invalid(ev, "invalid_timestamp",
                    "occurred_at: \"%.40s\" is not an RFC 3339 timestamp or epoch milliseconds",
                    json_string_value(occurred));
        } else {
            invalid(ev, "invalid_timestamp",
                    "occurred_at: expected an RFC 3339 string or epoch milliseconds, got %s",
                    type_name(occurred));
        }
        return;
    }
}

sl_status_t sl_stage_validate(sl_request_t *req) {
    json_t *sent_at = json_object_get(req->batch, "sent_at");
    int64_t ms;
    if (sent_at != NULL && timestamp(sent_at, &ms) != 0) {
        return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "invalid_timestamp",
                               "sent_at: expected an RFC 3339 string or epoch milliseconds");
    }
    int64_t max_id = req->cfg->limits.max_id_bytes;
    for (size_t i = 0; i < req->n_events; i++) {
        validate_event(&req->events[i], max_id);
    }
    return SL_OK;
}
