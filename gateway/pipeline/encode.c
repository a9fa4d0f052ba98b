/* pipeline/encode: the value of a produced event, in its stage's encoding. */
#include <string.h>

#include "contracts/contracts.h"
#include "core/base64.h"
#include "core/pb.h"
#include "core/timefmt.h"
#include "pipeline/pipeline.h"

enum { EV_OCCURRED_AT = 3, EV_PROPERTIES = 11 };

typedef struct {
    const sl_request_t *req;
    const sl_event_t *ev;
    const sl_ct_visitor_t *visitor;
} event_arg_t;

static void json_key(sl_buf_t *out, const char *name, bool *first) {
    if (!*first) {
        sl_buf_append(out, ",", 1);
    }
    *first = false;
    sl_buf_json_string(out, name, strlen(name));
    sl_buf_append(out, ":", 1);
}

/* properties of an event without a contract (validation off): as received. */
static void raw_properties(const sl_request_t *req, uint32_t node, bool proto, sl_buf_t *out,
                           bool *first) {
    const sl_json_node_t *nd = &req->doc.nodes[node];
    if (nd->type == SL_JSON_NULL) {
        return;
    }
    const char *span = req->doc.src + nd->start;
    if (!proto) {
        json_key(out, "properties", first);
        bool quoted = nd->type == SL_JSON_STRING;
        sl_buf_append(out, span - quoted, nd->len + 2 * quoted);
        return;
    }
    if (nd->type == SL_JSON_STRING) { /* protobuf bytes, base64 in the document */
        uint8_t *raw = sl_arena_alloc(req->arena, nd->len / 4 * 3 + 4);
        long n = sl_base64_decode(span, nd->len, raw);
        if (n > 0) {
            pb_put_bytes(out, EV_PROPERTIES, raw, (size_t)n);
        }
        return;
    }
    pb_put_bytes(out, EV_PROPERTIES, span, nd->len); /* JSON text */
}

static bool event_field(void *arg, const sl_ct_field_t *f, bool proto, sl_buf_t *out, bool *first) {
    const event_arg_t *a = arg;
    const sl_request_t *req = a->req;
    const sl_event_t *ev = a->ev;
    if (f->number == EV_OCCURRED_AT) {
        char ts[25];
        sl_time_format_rfc3339(ev->occurred_at_ms, ts);
        if (proto) {
            pb_put_bytes(out, EV_OCCURRED_AT, ts, strlen(ts));
        } else {
            json_key(out, f->name, first);
            sl_buf_json_string(out, ts, strlen(ts));
        }
        return true;
    }
    if (f->number != EV_PROPERTIES) {
        return false;
    }
    int64_t props = sl_doc_field(&req->doc, ev->node, "properties");
    if (ev->contract == NULL) {
        if (props >= 0) {
            raw_properties(req, (uint32_t)props, proto, out, first);
        }
        return true;
    }
    const sl_json_doc_t *doc =
        props >= 0 && req->doc.nodes[props].type == SL_JSON_OBJECT ? &req->doc : NULL;
    if (proto) {
        size_t mark = out->len;
        size_t at = pb_open(out, EV_PROPERTIES);
        sl_ct_encode(ev->contract, doc, (uint32_t)props, true, NULL, a->visitor, "properties",
                     req->arena, out);
        if (out->len == at) {
            out->len = mark; /* empty bytes: the default, left out */
        } else {
            pb_close(out, at);
        }
    } else {
        /* Always present in JSON, {} when empty: the event's type says what it holds. */
        json_key(out, f->name, first);
        sl_ct_encode(ev->contract, doc, (uint32_t)props, false, NULL, a->visitor, "properties",
                     req->arena, out);
    }
    return true;
}

void sl_event_encode(const sl_request_t *req, const sl_event_t *ev, bool proto,
                     const sl_ct_visitor_t *visitor, sl_buf_t *out) {
    event_arg_t arg = {req, ev, visitor};
    sl_ct_override_t ovr = {event_field, &arg};
    const sl_ct_message_t *event = sl_contracts_message(sl_envelope(), "sluice.v1.Event");
    sl_ct_encode(event, &req->doc, ev->node, proto, &ovr, visitor, NULL, req->arena, out);
}
