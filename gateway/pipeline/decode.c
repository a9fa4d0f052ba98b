/* pipeline/decode: the JSON batch, bounded before it is parsed. */
#include <string.h>

#include "pipeline/pipeline.h"

int sl_json_prescan(const char *s, size_t n, int max_depth, size_t *max_top_array) {
    /* containers[d] is '[' or '{' for the container at depth d+1; counts[d] its elements. */
    char containers[257];
    size_t counts[257];
    int depth = 0;
    bool in_string = false;
    bool want_value = false; /* the next token starts an element of containers[depth-1] */
    *max_top_array = 0;
    if (max_depth > 256) {
        max_depth = 256;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            continue;
        }
        if (want_value && c != ']' && c != '}') {
            counts[depth - 1]++;
            if (depth == 2 && containers[1] == '[' && counts[1] > *max_top_array) {
                *max_top_array = counts[1];
            }
        }
        want_value = false;
        switch (c) {
        case '"':
            in_string = true;
            break;
        case '{':
        case '[':
            if (depth >= max_depth) {
                return -1;
            }
            containers[depth] = c;
            counts[depth] = 0;
            depth++;
            want_value = c == '[';
            break;
        case '}':
        case ']':
            if (depth > 0) {
                depth--;
            }
            break;
        case ',':
            want_value = depth > 0 && containers[depth - 1] == '[';
            break;
        default:
            break;
        }
    }
    return 0;
}

static const char *const batch_fields[] = {"batch_id", "sent_at", "events", "token"};

sl_status_t sl_stage_decode(sl_request_t *req) {
    const sl_config_t *cfg = req->cfg;
    if (strcmp(req->media_type, "application/json") != 0) {
        return sl_request_fail(req, SL_FAULT_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                               "Content-Type must be application/json, got \"%s\"",
                               req->media_type[0] != '\0' ? req->media_type : "(none)");
    }
    size_t max_array = 0;
    if (sl_json_prescan(req->body, req->body_len, (int)cfg->limits.max_json_depth, &max_array) !=
        0) {
        return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "too_deep",
                               "the JSON body nests deeper than limits.max_json_depth (%lld)",
                               (long long)cfg->limits.max_json_depth);
    }
    if ((int64_t)max_array > cfg->limits.max_events_per_batch) {
        return sl_request_fail(req, SL_FAULT_TOO_LARGE, "too_many_events",
                               "the batch has %zu events, over limits.max_events_per_batch (%lld)",
                               max_array, (long long)cfg->limits.max_events_per_batch);
    }
    json_error_t jerr;
    json_t *batch = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (batch == NULL) {
        bool dup = strstr(jerr.text, "duplicate") != NULL;
        return sl_request_fail(req, SL_FAULT_BAD_REQUEST, dup ? "duplicate_key" : "malformed_json",
                               "the body is not valid JSON: %s at line %d column %d", jerr.text,
                               jerr.line, jerr.column);
    }
    sl_arena_on_destroy(req->arena, (void (*)(void *))json_decref, batch);
    req->batch = batch;
    if (!json_is_object(batch)) {
        return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "not_a_batch",
                               "the body must be a JSON object {\"batch_id\", \"sent_at\", "
                               "\"events\": [...]}");
    }
    const char *name;
    json_t *value;
    json_object_foreach(batch, name, value) {
        bool known = false;
        for (size_t i = 0; i < sizeof(batch_fields) / sizeof(batch_fields[0]); i++) {
            known |= strcmp(name, batch_fields[i]) == 0;
        }
        if (!known) {
            return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "unknown_batch_field",
                                   "unknown batch field \"%.64s\" (expected batch_id, sent_at, "
                                   "events)",
                                   name);
        }
    }
    json_t *events = json_object_get(batch, "events");
    if (!json_is_array(events)) {
        return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "not_a_batch",
                               "the batch must have an \"events\" array");
    }
    json_t *batch_id = json_object_get(batch, "batch_id");
    if (batch_id != NULL && !json_is_string(batch_id)) {
        return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "not_a_batch",
                               "batch_id must be a string");
    }
    req->batch_id = batch_id != NULL ? json_string_value(batch_id) : NULL;
    size_t n = json_array_size(events);
    req->n_events = n;
    req->events = sl_arena_calloc(req->arena, (n > 0 ? n : 1) * sizeof(sl_event_t));
    for (size_t i = 0; i < n; i++) {
        req->events[i].req = req;
        req->events[i].json = json_array_get(events, i);
        req->events[i].outcome = SL_OUT_PENDING;
    }
    return SL_OK;
}
