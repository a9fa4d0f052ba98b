/* pipeline/erasure: POST /v1/privacy/erasure — a user's right to be forgotten, at the edge.
 *
 * Body: {"user_id": "...", "reason": "..."} (reason optional). The subject
 * (sink/suppression.h: SHA-256 of tenant and user id, never the id itself) joins the
 * suppression list at once, so the user's next event is already refused, and two records are
 * produced, keyed by the subject: one to topics.privacy for the deletion workflows downstream,
 * one to topics.suppression, the compacted list every replica reloads at start. The record
 * carries the subject, the tenant, the time, the user's pseudonym as the topics carry it (the
 * policy's hmac) and the scrubbed reason — never the raw id. The answer (202) comes once Kafka
 * has acknowledged both. */
#include <string.h>

#include "core/timefmt.h"
#include "pipeline/pipeline.h"
#include "policy/actions.h"
#include "policy/policy.h"
#include "policy/scrub.h"
#include "sink/suppression.h"

static sl_status_t bad(sl_request_t *req, const char *msg) {
    return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "bad_erasure_request",
                           "%s; send {\"user_id\": \"...\", \"reason\": \"...\"}", msg);
}

sl_status_t sl_stage_erasure(sl_request_t *req) {
    const sl_config_t *cfg = req->cfg;
    if (strcmp(req->media_type, "application/json") != 0) {
        return sl_request_fail(req, SL_FAULT_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                               "Content-Type must be application/json");
    }
    sl_json_limits_t limits = {4, 16};
    sl_error_t err;
    if (sl_json_parse(req->body, req->body_len, &limits, req->arena, &req->doc, &err) != SL_OK) {
        return sl_request_fail(req, SL_FAULT_BAD_REQUEST, err.code,
                               "the body is not valid JSON: %s", err.message);
    }
    const sl_json_doc_t *doc = &req->doc;
    if (doc->nodes[0].type != SL_JSON_OBJECT) {
        return bad(req, "the body must be a JSON object");
    }
    const char *id = NULL, *reason = "";
    size_t id_len = 0, reason_len = 0;
    uint32_t k = 1;
    for (uint32_t m = 0; m < doc->nodes[0].count; m++) {
        const char *name;
        size_t len;
        sl_json_str(doc, k, req->arena, &name, &len);
        uint32_t v = k + 1;
        bool is_id = len == 7 && memcmp(name, "user_id", 7) == 0;
        bool is_reason = len == 6 && memcmp(name, "reason", 6) == 0;
        if (!is_id && !is_reason) {
            return bad(req, "unknown member");
        }
        if (doc->nodes[v].type != SL_JSON_STRING) {
            return bad(req, is_id ? "user_id must be a string" : "reason must be a string");
        }
        sl_json_str(doc, v, req->arena, is_id ? &id : &reason, is_id ? &id_len : &reason_len);
        k = doc->nodes[v].end;
    }
    if (id == NULL || id_len == 0) {
        return bad(req, "user_id is required");
    }
    if ((int64_t)id_len > cfg->limits.max_id_bytes || reason_len > 512) {
        return bad(req, "user_id is longer than limits.max_id_bytes, or reason than 512 bytes");
    }
    sl_suppression_t *s = sl_pipeline_suppression(req->pipeline);
    if (s == NULL) {
        return sl_request_fail(req, SL_FAULT_UNAVAILABLE, "suppression_unavailable",
                               "the suppression list is not loaded; retry after Retry-After");
    }
    const char *tenant = req->principal.tenant != NULL ? req->principal.tenant : "";
    uint8_t subject[32];
    sl_suppression_subject(tenant, id, id_len, subject);
    char *hex = sl_arena_alloc(req->arena, 65);
    sl_suppression_hex(subject, hex);
    /* From now on: a failed produce is answered retryable, and the retry is idempotent. */
    sl_suppression_add(s, subject);

    char at[25];
    sl_time_format_rfc3339(req->received_at_ms, at);
    sl_buf_t value;
    sl_buf_init(&value, req->arena, 256);
    sl_buf_puts(&value, "{\"subject\":");
    sl_buf_json_string(&value, hex, 64);
    sl_buf_puts(&value, ",\"tenant\":");
    sl_buf_json_string(&value, tenant, strlen(tenant));
    sl_buf_puts(&value, ",\"requested_at\":");
    sl_buf_json_string(&value, at, strlen(at));
    /* The pseudonym the topics carry for this user (policy hmac), so deletion workflows can find
     * the user's events; the reason is free text: scrubbed like any. */
    sl_buf_t pseudonym;
    sl_buf_init(&pseudonym, req->arena, 64);
    const sl_hmac_t *h = req->policy != NULL ? sl_policy_hmac(req->policy) : NULL;
    if (h != NULL && sl_hmac_redact(h, id, id_len, &pseudonym) == SL_OK) {
        sl_buf_puts(&value, ",\"pseudonym\":");
        sl_buf_json_string(&value, pseudonym.data, pseudonym.len);
    }
    sl_buf_t scrubbed;
    sl_buf_init(&scrubbed, req->arena, reason_len + 16);
    (void)sl_scrub(reason, reason_len, SL_SCRUB_ALL, &scrubbed);
    sl_buf_puts(&value, ",\"reason\":");
    sl_buf_json_string(&value, scrubbed.data, scrubbed.len);
    sl_buf_puts(&value, "}");

    req->n_events = 2;
    req->events = sl_arena_calloc(req->arena, 2 * sizeof(sl_event_t));
    const char *topics[2] = {cfg->topics.privacy, cfg->topics.suppression};
    for (size_t i = 0; i < 2; i++) {
        sl_event_t *ev = &req->events[i];
        ev->req = req;
        ev->outcome = SL_OUT_PENDING;
        ev->event_id = hex;
        ev->event_id_len = 64;
        ev->type = "erasure_request";
        ev->type_len = strlen(ev->type);
        ev->key = hex;
        ev->key_len = 64;
        ev->topic = topics[i];
        ev->value = value.data;
        ev->value_len = value.len;
    }
    return SL_OK;
}
