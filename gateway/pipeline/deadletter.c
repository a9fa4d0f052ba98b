/* pipeline/deadletter: invalid events to topics.dead_letter, redacted like every other topic,
 * with the reason in headers. Fire and forget: the client's answer already says what was wrong,
 * so the request does not wait for these delivery reports (sluice_dead_letter_events_total
 * counts them). */
#include <string.h>

#include "contracts/contracts.h"
#include "core/timefmt.h"
#include "metrics/metrics.h"
#include "pipeline/pipeline.h"
#include "policy/policy.h"
#include "policy/scrub.h"

/* The message for the reason header. With a policy, value excerpts are taken out: messages
 * quote what was wrong ("got \"a@b.example\""), which may be the very data the policy redacts;
 * quoted text becomes "…" and the rest is scrubbed of e-mail addresses, phone and card numbers
 * and IP addresses. */
static void reason_message(const sl_request_t *req, const char *msg, sl_buf_t *out) {
    if (req->policy == NULL) {
        sl_buf_puts(out, msg);
        return;
    }
    sl_buf_t plain;
    sl_buf_init(&plain, req->arena, strlen(msg) + 8);
    for (const char *p = msg; *p != '\0';) {
        const char *close = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (close != NULL) {
            sl_buf_puts(&plain, "\"\xE2\x80\xA6\"");
            p = close + 1;
        } else {
            sl_buf_append(&plain, p, 1);
            p++;
        }
    }
    (void)sl_scrub(plain.data, plain.len, SL_SCRUB_ALL, out);
}

static void scrubbed(const sl_request_t *req, const char *s, size_t n, sl_buf_t *out) {
    if (n == 0) {
        return;
    }
    if (req->policy == NULL) {
        sl_buf_append(out, s, n);
    } else {
        (void)sl_scrub(s, n, SL_SCRUB_ALL, out);
    }
}

void sl_dead_letter_produce(sl_request_t *req, sl_sink_t *sink) {
    const sl_config_t *cfg = req->cfg;
    if (cfg->topics.dead_letter[0] == '\0') {
        return;
    }
    char received[25];
    sl_time_format_rfc3339(req->received_at_ms, received);
    const char *tenant = req->principal.tenant != NULL ? req->principal.tenant : "";
    const char *policy = req->policy != NULL ? sl_policy_version(req->policy) : "none";
    const char *topic = NULL;
    sl_buf_t value, message;
    sl_buf_init(&value, req->arena, 512);
    sl_buf_init(&message, req->arena, 256);
    for (size_t i = 0; i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        if (!ev->dead_letter) {
            continue;
        }
        if (topic == NULL && (topic = sl_route_topic(req, cfg->topics.dead_letter)) == NULL) {
            return; /* the tenant cannot be part of a topic name: nowhere to put them */
        }
        value.len = 0;
        message.len = 0;
        sl_privacy_dead_letter(req, ev, &value);
        reason_message(req, ev->message != NULL ? ev->message : "", &message);
        /* An invalid event's id and type may be anything: scrubbed like the reason. */
        sl_buf_t id, type;
        sl_buf_init(&id, req->arena, ev->event_id_len + 1);
        sl_buf_init(&type, req->arena, ev->type_len + 1);
        scrubbed(req, ev->event_id, ev->event_id_len, &id);
        scrubbed(req, ev->type, ev->type_len, &type);
        char index[16];
        int index_len = snprintf(index, sizeof(index), "%zu", i);
        const char *contract = ev->contract != NULL ? ev->contract->full_name : "";
        const char *batch = req->batch_id != NULL ? req->batch_id : "";
        const char *code = ev->code != NULL ? ev->code : "";
        sl_header_t headers[] = {
            {"event_id", id.data, id.len},
            {"type", type.data, type.len},
            {"received_at", received, strlen(received)},
            {"contract", contract, strlen(contract)},
            {"content_type", "application/json", 16},
            {"tenant", tenant, strlen(tenant)},
            {"policy_version", policy, strlen(policy)},
            {"dead_letter_code", code, strlen(code)},
            {"dead_letter_reason", message.data, message.len},
            {"batch_id", batch, strlen(batch)},
            {"batch_index", index, (size_t)index_len},
        };
        sl_msg_t msg = {
            .topic = topic,
            .key = tenant,
            .key_len = strlen(tenant),
            .value = value.data,
            .value_len = value.len,
            .headers = headers,
            .n_headers = sizeof(headers) / sizeof(headers[0]),
            .timestamp_ms = req->received_at_ms,
        };
        sl_error_t err;
        if (sl_sink_produce(sink, &msg, NULL, &err) != SL_OK) {
            sl_metrics_dead_letter(false);
        }
    }
}
