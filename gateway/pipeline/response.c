/* pipeline/response: the per-event contract, rendered once for every transport that speaks
 * JSON. */
#include <string.h>

#include "core/buf.h"
#include "core/pb.h"
#include "pipeline/pipeline.h"

void sl_response_render(const sl_request_t *req, sl_buf_t *out) {
    if (req->fault != SL_FAULT_NONE) {
        sl_buf_puts(out, "{\"error\":{\"code\":");
        sl_buf_json_string(out, req->fault_err.code, strlen(req->fault_err.code));
        sl_buf_puts(out, ",\"message\":");
        sl_buf_json_string(out, req->fault_err.message, strlen(req->fault_err.message));
        sl_buf_puts(out, "}}");
        return;
    }
    sl_tally_t t;
    sl_request_tally(req, &t);
    if (req->route == SL_ROUTE_ERASURE && t.by_outcome[SL_OUT_ACCEPTED] == req->n_events &&
        req->n_events > 0) {
        sl_buf_puts(out, "{\"status\":\"accepted\",\"subject\":");
        sl_buf_json_string(out, req->events[0].event_id, req->events[0].event_id_len);
        sl_buf_puts(out, "}");
        return;
    }
    sl_buf_puts(out, "{");
    if (req->batch_id != NULL) {
        sl_buf_puts(out, "\"batch_id\":");
        sl_buf_json_string(out, req->batch_id, strlen(req->batch_id));
        sl_buf_puts(out, ",");
    }
    const struct {
        const char *name;
        size_t n;
    } counts[] = {
        {"\"received\":", req->n_events},
        {",\"accepted\":", t.by_outcome[SL_OUT_ACCEPTED]},
        {",\"invalid\":", t.by_outcome[SL_OUT_INVALID]},
        {",\"consent_dropped\":", t.by_outcome[SL_OUT_CONSENT_DROPPED]},
        {",\"duplicate\":", t.by_outcome[SL_OUT_DUPLICATE]},
        {",\"retryable\":", t.by_outcome[SL_OUT_RETRYABLE]},
        {",\"suppressed\":", t.by_outcome[SL_OUT_SUPPRESSED]},
    };
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        sl_buf_puts(out, counts[i].name);
        sl_buf_put_uint(out, counts[i].n);
    }
    sl_buf_puts(out, ",\"results\":[");
    bool first = true;
    for (size_t i = 0; i < req->n_events; i++) {
        const sl_event_t *ev = &req->events[i];
        if (ev->outcome == SL_OUT_ACCEPTED) {
            continue;
        }
        sl_buf_puts(out, first ? "{\"index\":" : ",{\"index\":");
        sl_buf_put_uint(out, i);
        sl_buf_puts(out, ",\"event_id\":");
        if (ev->event_id != NULL) {
            sl_buf_json_string(out, ev->event_id, ev->event_id_len);
        } else {
            sl_buf_puts(out, "null");
        }
        const char *status = sl_outcome_name(ev->outcome);
        sl_buf_puts(out, ",\"status\":");
        sl_buf_json_string(out, status, strlen(status));
        const char *code = ev->code != NULL ? ev->code : "internal";
        sl_buf_puts(out, ",\"code\":");
        sl_buf_json_string(out, code, strlen(code));
        sl_buf_puts(out, ",\"message\":");
        const char *msg = ev->message != NULL ? ev->message : "";
        if (ev->detail != NULL) {
            sl_buf_t m;
            sl_buf_init(&m, req->arena, 128);
            sl_buf_printf(&m, "%s (%s)", msg, ev->detail);
            sl_buf_json_string(out, m.data, m.len);
        } else {
            sl_buf_json_string(out, msg, strlen(msg));
        }
        sl_buf_puts(out, "}");
        first = false;
    }
    sl_buf_puts(out, "]}");
}

void sl_response_render_proto(const sl_request_t *req, sl_buf_t *out) {
    /* EventResult.Status numbers, by sl_outcome_t. */
    static const uint32_t status_of[SL_OUT__COUNT] = {
        [SL_OUT_ACCEPTED] = 1,  [SL_OUT_INVALID] = 2,   [SL_OUT_CONSENT_DROPPED] = 3,
        [SL_OUT_DUPLICATE] = 4, [SL_OUT_RETRYABLE] = 5, [SL_OUT_SUPPRESSED] = 6,
    };
    sl_tally_t t;
    sl_request_tally(req, &t);
    if (req->batch_id != NULL) {
        pb_put_bytes(out, 1, req->batch_id, strlen(req->batch_id));
    }
    const uint64_t counts[] = {req->n_events,
                               t.by_outcome[SL_OUT_ACCEPTED],
                               t.by_outcome[SL_OUT_INVALID],
                               t.by_outcome[SL_OUT_CONSENT_DROPPED],
                               t.by_outcome[SL_OUT_DUPLICATE],
                               t.by_outcome[SL_OUT_RETRYABLE]};
    for (uint32_t f = 0; f < 6; f++) {
        if (counts[f] != 0) { /* proto3: defaults are left out */
            pb_put_tag(out, f + 2, 0);
            pb_put_varint(out, counts[f]);
        }
    }
    for (size_t i = 0; i < req->n_events; i++) {
        const sl_event_t *ev = &req->events[i];
        if (ev->outcome == SL_OUT_ACCEPTED || ev->outcome < 0) {
            continue;
        }
        size_t at = pb_open(out, 8);
        if (i != 0) {
            pb_put_tag(out, 1, 0);
            pb_put_varint(out, i);
        }
        if (ev->event_id != NULL && ev->event_id_len > 0) {
            pb_put_bytes(out, 2, ev->event_id, ev->event_id_len);
        }
        pb_put_tag(out, 3, 0);
        pb_put_varint(out, status_of[ev->outcome]);
        const char *code = ev->code != NULL ? ev->code : "internal";
        pb_put_bytes(out, 4, code, strlen(code));
        const char *msg = ev->message != NULL ? ev->message : "";
        if (ev->detail != NULL) {
            sl_buf_t m;
            sl_buf_init(&m, req->arena, 128);
            sl_buf_printf(&m, "%s (%s)", msg, ev->detail);
            pb_put_bytes(out, 5, m.data, m.len);
        } else if (msg[0] != '\0') {
            pb_put_bytes(out, 5, msg, strlen(msg));
        }
        pb_close(out, at);
    }
    if (t.by_outcome[SL_OUT_SUPPRESSED] != 0) {
        pb_put_tag(out, 9, 0);
        pb_put_varint(out, t.by_outcome[SL_OUT_SUPPRESSED]);
    }
}
