/* pipeline/decode_proto: the protobuf batch (application/x-protobuf: a sluice.v1.EventBatch).
 *
 * Each event is checked at the wire level against the built-in sluice.v1.Event and its
 * properties against the contract of its type (sl_ct_validate_wire), then written as JSON text
 * (sl_ct_wire_to_json) and the batch parsed like a JSON one, so every later stage sees one
 * document model and the canonical output does not depend on the form the event came in. An
 * event that fails its check is invalid with the path of the field at fault; the batch's other
 * events go on. Limits apply before anything is allocated per event: the event count is known
 * from one scan of the batch's field keys. */
#include <string.h>

#include "contracts/contracts.h"
#include "core/pb.h"
#include "core/utf8.h"
#include "pipeline/pipeline.h"

enum { BATCH_ID = 1, BATCH_SENT_AT = 2, BATCH_EVENTS = 3, BATCH_TOKEN = 4 };
enum { EV_EVENT_ID = 1, EV_TYPE = 2, EV_PROPERTIES = 11 };

static sl_status_t malformed(sl_request_t *req, const char *what) {
    return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "malformed_protobuf",
                           "the body is not a sluice.v1.EventBatch: %s", what);
}

/* The last occurrence of length-delimited field number in an Event's bytes. */
static bool last_len(const uint8_t *p, size_t n, uint32_t number, const uint8_t **v, size_t *vlen) {
    rd_t r = {p, p + n};
    bool found = false;
    while (r.p < r.end) {
        uint32_t f, wt;
        if (!rd_tag(&r, &f, &wt)) {
            return found;
        }
        if (f == number && wt == WT_LEN) {
            if (!rd_bytes(&r, v, vlen)) {
                return found;
            }
            found = true;
        } else if (!rd_skip(&r, wt)) {
            return found;
        }
    }
    return found;
}

static void mark_invalid(sl_event_t *ev, const sl_error_t *err) {
    ev->outcome = SL_OUT_INVALID;
    ev->code = err->code;
    ev->message = sl_arena_strndup(ev->req->arena, err->message, strlen(err->message));
}

/* One event as JSON text into out; decides its outcome when a check fails. */
static void transcode_event(sl_request_t *req, sl_event_t *ev, const uint8_t *p, size_t n,
                            int depth, sl_buf_t *out) {
    const sl_ct_message_t *event = sl_contracts_message(sl_envelope(), "sluice.v1.Event");
    bool strip = strcmp(req->cfg->contracts.unknown_fields, "strip") == 0;
    sl_error_t err;
    bool first = true;
    sl_buf_append(out, "{", 1);
    if (sl_ct_validate_wire(event, p, n, "", depth, strip, &err) != SL_OK) {
        /* Keep what identifies the event for its result, if it is usable. */
        mark_invalid(ev, &err);
        const uint8_t *id = NULL;
        size_t id_len = 0;
        if (last_len(p, n, EV_EVENT_ID, &id, &id_len) && id_len <= 256 &&
            sl_utf8_valid((const char *)id, id_len) && memchr(id, 0, id_len) == NULL) {
            sl_buf_puts(out, "\"event_id\":");
            sl_buf_json_string(out, (const char *)id, id_len);
        }
        sl_buf_append(out, "}", 1);
        return;
    }
    const uint8_t *type = NULL, *props = NULL;
    size_t type_len = 0, props_len = 0;
    (void)last_len(p, n, EV_TYPE, &type, &type_len);
    (void)last_len(p, n, EV_PROPERTIES, &props, &props_len);
    const sl_ct_message_t *m =
        req->contracts == NULL ? NULL
                               : sl_contracts_event(req->contracts, (const char *)type, type_len);
    /* Without a contract (unknown type, or validation off) properties stay bytes: base64 in
     * the document; the contract stage decides what that means. */
    (void)sl_ct_wire_members(event, p, n, depth, m != NULL ? EV_PROPERTIES : 0, out, &first);
    if (m != NULL) {
        bool strip_props =
            m->unknown_fields != SL_UNKNOWN_DEFAULT ? m->unknown_fields == SL_UNKNOWN_STRIP : strip;
        ev->contract = m;
        ev->properties_checked = true;
        if (sl_ct_validate_wire(m, props, props_len, "properties", depth - 4, strip_props, &err) !=
            SL_OK) {
            mark_invalid(ev, &err);
        } else {
            sl_buf_puts(out, first ? "\"properties\":" : ",\"properties\":");
            (void)sl_ct_wire_to_json(m, props, props_len, depth - 4, out);
        }
    }
    sl_buf_append(out, "}", 1);
}

sl_status_t sl_decode_protobuf(sl_request_t *req) {
    const sl_config_t *cfg = req->cfg;
    const uint8_t *body = (const uint8_t *)req->body;
    /* Pass 1: the batch's own fields, and how many events. */
    const uint8_t *batch_id = NULL, *sent_at = NULL, *token = NULL;
    size_t batch_id_len = 0, sent_at_len = 0, token_len = 0, n = 0;
    rd_t r = {body, body + req->body_len};
    while (r.p < r.end) {
        uint32_t f, wt;
        const uint8_t *v;
        size_t len;
        if (!rd_tag(&r, &f, &wt)) {
            return malformed(req, "invalid field key");
        }
        if (f < BATCH_ID || f > BATCH_TOKEN) {
            return sl_request_fail(req, SL_FAULT_BAD_REQUEST, "unknown_batch_field",
                                   "unknown EventBatch field number %u (expected 1 batch_id, "
                                   "2 sent_at, 3 events, 4 token)",
                                   f);
        }
        if (wt != WT_LEN || !rd_bytes(&r, &v, &len)) {
            return malformed(req, "a field that is not length-delimited, or truncated");
        }
        if (f != BATCH_EVENTS && !sl_utf8_valid((const char *)v, len)) {
            return malformed(req, "a string field that is not UTF-8");
        }
        switch (f) {
        case BATCH_ID:
            batch_id = v, batch_id_len = len;
            break;
        case BATCH_SENT_AT:
            sent_at = v, sent_at_len = len;
            break;
        case BATCH_TOKEN:
            token = v, token_len = len;
            break;
        default:
            if (++n > (size_t)cfg->limits.max_events_per_batch) {
                return sl_request_fail(req, SL_FAULT_TOO_LARGE, "too_many_events",
                                       "the batch has more than limits.max_events_per_batch "
                                       "(%lld) events",
                                       (long long)cfg->limits.max_events_per_batch);
            }
            break;
        }
    }
    req->n_events = n;
    req->events = sl_arena_calloc(req->arena, (n > 0 ? n : 1) * sizeof(sl_event_t));
    for (size_t i = 0; i < n; i++) {
        req->events[i].req = req;
        req->events[i].outcome = SL_OUT_PENDING;
    }

    /* Pass 2: the batch as JSON text. */
    int depth = (int)cfg->limits.max_json_depth;
    sl_buf_t text;
    sl_buf_init(&text, req->arena, req->body_len * 2 + 64);
    sl_buf_append(&text, "{", 1);
    if (batch_id != NULL) {
        sl_buf_puts(&text, "\"batch_id\":");
        sl_buf_json_string(&text, (const char *)batch_id, batch_id_len);
        sl_buf_append(&text, ",", 1);
    }
    if (sent_at != NULL) {
        sl_buf_puts(&text, "\"sent_at\":");
        sl_buf_json_string(&text, (const char *)sent_at, sent_at_len);
        sl_buf_append(&text, ",", 1);
    }
    if (token != NULL) {
        sl_buf_puts(&text, "\"token\":");
        sl_buf_json_string(&text, (const char *)token, token_len);
        sl_buf_append(&text, ",", 1);
    }
    sl_buf_puts(&text, "\"events\":[");
    r = (rd_t){body, body + req->body_len};
    for (size_t i = 0; r.p < r.end;) {
        uint32_t f = 0, wt = 0;
        const uint8_t *v = NULL;
        size_t len = 0;
        (void)rd_tag(&r, &f, &wt);
        (void)rd_bytes(&r, &v, &len);
        if (f == BATCH_EVENTS) {
            sl_buf_append(&text, ",", i > 0);
            transcode_event(req, &req->events[i++], v, len, depth, &text);
        }
    }
    sl_buf_puts(&text, "]}");

    sl_json_limits_t limits = {depth + 1, (size_t)cfg->limits.max_events_per_batch};
    sl_error_t err;
    if (sl_json_parse(text.data, text.len, &limits, req->arena, &req->doc, &err) != SL_OK) {
        return sl_request_fail(req, SL_FAULT_BAD_REQUEST, err.code,
                               "the batch could not be decoded: %s", err.message);
    }
    int64_t events = sl_json_get(&req->doc, 0, "events");
    uint32_t e = (uint32_t)events + 1;
    for (size_t i = 0; i < n; i++) {
        req->events[i].node = e;
        e = req->doc.nodes[e].end;
    }
    if (batch_id != NULL) {
        req->batch_id = sl_arena_strndup(req->arena, (const char *)batch_id, batch_id_len);
    }
    return SL_OK;
}
