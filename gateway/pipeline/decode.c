/* pipeline/decode: the batch, by media type: JSON here (core/json enforces the nesting and
 * event-count limits and unique keys while it parses, before the nodes for an oversized batch
 * are allocated), protobuf in decode_proto.c. */
#include <string.h>

#include "pipeline/pipeline.h"

/* sluice.v1.EventBatch's members, in their declared and JSON spellings. */
static const char *const batch_fields[] = {"batch_id", "batchId", "sent_at",
                                           "sentAt",   "events",  "token"};

sl_status_t sl_stage_decode(sl_request_t *req) {
    const sl_config_t *cfg = req->cfg;
    if (strcmp(req->media_type, "application/x-protobuf") == 0) {
        return sl_decode_protobuf(req);
    }
    /* navigator.sendBeacon sends a string as text/plain (other types need a preflight). */
    bool beacon_text = req->route == SL_ROUTE_BEACON && strcmp(req->media_type, "text/plain") == 0;
    if (strcmp(req->media_type, "application/json") != 0 && !beacon_text) {
        return sl_request_fail(req, SL_FAULT_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                               "Content-Type must be application/json or "
                               "application/x-protobuf, got \"%s\"",
                               req->media_type[0] != '\0' ? req->media_type : "(none)");
    }
    sl_json_limits_t limits = {(int)cfg->limits.max_json_depth,
                               (size_t)cfg->limits.max_events_per_batch};
    sl_error_t err;
    sl_json_doc_t *doc = &req->doc;
    if (sl_json_parse(req->body, req->body_len, &limits, req->arena, doc, &err) != SL_OK) {
        if (strcmp(err.code, "too_many_elements") == 0) {
            return sl_request_fail(req, SL_FAULT_TOO_LARGE, "too_many_events",
                                   "the batch has more than limits.max_events_per_batch (%lld) "
                                   "events",
                                   (long long)cfg->limits.max_events_per_batch);
        }
        if (strcmp(err.code, "too_deep") == 0) {
            return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "too_deep",
                                   "the JSON body nests deeper than limits.max_json_depth (%lld)",
                                   (long long)cfg->limits.max_json_depth);
        }
        return sl_request_fail(req, SL_FAULT_BAD_REQUEST, err.code,
                               "the body is not valid JSON: %s", err.message);
    }
    const sl_json_node_t *batch = &doc->nodes[0];
    if (batch->type != SL_JSON_OBJECT) {
        return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "not_a_batch",
                               "the body must be a JSON object {\"batch_id\", \"sent_at\", "
                               "\"events\": [...]}");
    }
    uint32_t k = 1;
    for (uint32_t m = 0; m < batch->count; m++) {
        const char *name;
        size_t len;
        sl_json_str(doc, k, req->arena, &name, &len);
        bool known = false;
        for (size_t i = 0; i < sizeof(batch_fields) / sizeof(batch_fields[0]) && !known; i++) {
            known = strlen(batch_fields[i]) == len && memcmp(name, batch_fields[i], len) == 0;
        }
        if (!known) {
            return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "unknown_batch_field",
                                   "unknown batch field \"%.*s\" (expected batch_id, sent_at, "
                                   "events)",
                                   (int)(len > 64 ? 64 : len), name);
        }
        k = doc->nodes[k + 1].end;
    }
    if ((sl_json_get(doc, 0, "batch_id") >= 0 && sl_json_get(doc, 0, "batchId") >= 0) ||
        (sl_json_get(doc, 0, "sent_at") >= 0 && sl_json_get(doc, 0, "sentAt") >= 0)) {
        return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "duplicate_field",
                               "a batch field is given twice (as batch_id and batchId, or sent_at "
                               "and sentAt)");
    }
    int64_t events = sl_json_get(doc, 0, "events");
    if (events < 0 || doc->nodes[events].type != SL_JSON_ARRAY) {
        return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "not_a_batch",
                               "the batch must have an \"events\" array");
    }
    int64_t batch_id = sl_doc_field(doc, 0, "batch_id");
    if (batch_id >= 0) {
        if (doc->nodes[batch_id].type != SL_JSON_STRING) {
            return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "not_a_batch",
                                   "batch_id must be a string");
        }
        const char *s;
        size_t len;
        sl_json_str(doc, (uint32_t)batch_id, req->arena, &s, &len);
        req->batch_id = sl_arena_strndup(req->arena, s, len);
    }
    uint32_t n = doc->nodes[events].count;
    req->n_events = n;
    req->events = sl_arena_calloc(req->arena, (n > 0 ? n : 1) * sizeof(sl_event_t));
    uint32_t e = (uint32_t)events + 1;
    for (uint32_t i = 0; i < n; i++) {
        req->events[i].req = req;
        req->events[i].node = e;
        req->events[i].outcome = SL_OUT_PENDING;
        e = doc->nodes[e].end;
    }
    return SL_OK;
}
