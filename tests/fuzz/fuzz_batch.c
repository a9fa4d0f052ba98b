/* Fuzz target: the batch path — decode (JSON, or protobuf when size % 4 >= 2), envelope
 * validation, contract validation against the catalog (strip mode when the body's length is
 * odd), the produced values and the response renderer, exactly as a request body goes through
 * them.
 *
 * JSON bodies also check the canonical-output property: every event the JSON path would
 * produce, sent again as a protobuf batch of its canonical protobuf value, must give the same
 * values, JSON and protobuf, byte for byte. (Auth is not run here, so nothing differs between
 * the two requests but their media type.) */
#include <stdint.h>
#include <string.h>

#include "contracts/contracts.h"
#include "core/pb.h"
#include "pipeline/pipeline.h"

#ifndef SL_CONTRACTS_DEFAULT
#define SL_CONTRACTS_DEFAULT ""
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_value(const sl_request_t *a, const sl_event_t *ea, const sl_request_t *b,
                       const sl_event_t *eb, bool proto) {
    sl_buf_t va, vb;
    sl_buf_init(&va, a->arena, 256);
    sl_buf_init(&vb, b->arena, 256);
    sl_event_encode(a, ea, proto, NULL, &va);
    sl_event_encode(b, eb, proto, NULL, &vb);
    return va.len == vb.len && memcmp(va.data, vb.data, va.len) == 0;
}

/* Event ev of req (JSON in, pending) as a one-event protobuf batch of its canonical protobuf
 * value, through the same stages under the same config: the values must be the same. The one
 * difference allowed is documented: a required field given its default in JSON (present) is
 * absent on the protobuf wire, which has no presence, so that event is missing_field there. */
static void check_round_trip(const sl_request_t *req, const sl_event_t *ev,
                             sl_contracts_t *contracts) {
    sl_buf_t value, batch;
    sl_buf_init(&value, req->arena, 256);
    sl_event_encode(req, ev, true, NULL, &value);
    sl_buf_init(&batch, req->arena, value.len + 16);
    pb_put_bytes(&batch, 3, value.data, value.len);

    sl_request_t *again = sl_request_new(NULL);
    again->contracts = sl_contracts_ref(contracts);
    again->media_type = "application/x-protobuf";
    again->body = batch.data;
    again->body_len = batch.len;
    if (sl_stage_decode(again) != SL_OK || sl_stage_validate(again) != SL_OK ||
        sl_stage_contract(again) != SL_OK || again->n_events != 1) {
        __builtin_trap(); /* a canonical value is always one well-formed event */
    }
    const sl_event_t *back = &again->events[0];
    if (back->outcome != SL_OUT_PENDING) {
        if (back->outcome != SL_OUT_INVALID || back->code == NULL ||
            strcmp(back->code, "missing_field") != 0) {
            __builtin_trap(); /* accepted as JSON, refused as protobuf */
        }
    } else if (!same_value(req, ev, again, back, false) ||
               !same_value(req, ev, again, back, true)) {
        __builtin_trap(); /* the same event, two different values */
    }
    sl_request_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sl_config_t *reject, *strip;
    static sl_contracts_t *contracts;
    if (reject == NULL) {
        const char *sets[] = {"limits.max_events_per_batch=50", "limits.max_json_depth=8",
                              "contracts.unknown_fields=strip"};
        sl_error_t err;
        if (sl_config_build(NULL, sets, 2, &reject, &err) != SL_OK ||
            sl_config_build(NULL, sets, 3, &strip, &err) != SL_OK ||
            sl_contracts_load(SL_CONTRACTS_DEFAULT, &contracts, &err) != SL_OK) {
            __builtin_trap();
        }
    }
    sl_config_publish(size % 2 ? strip : reject);
    bool json = size % 4 < 2;
    sl_request_t *req = sl_request_new(NULL);
    req->contracts = sl_contracts_ref(contracts);
    req->media_type = json ? "application/json" : "application/x-protobuf";
    req->body = (const char *)data;
    req->body_len = size;
    if (sl_stage_decode(req) == SL_OK && sl_stage_validate(req) == SL_OK &&
        sl_stage_contract(req) == SL_OK) {
        sl_buf_t value;
        sl_buf_init(&value, req->arena, 256);
        for (size_t i = 0; i < req->n_events; i++) {
            if (req->events[i].outcome == SL_OUT_PENDING) {
                sl_event_encode(req, &req->events[i], false, NULL, &value);
                sl_event_encode(req, &req->events[i], true, NULL, &value);
                if (json) {
                    check_round_trip(req, &req->events[i], contracts);
                }
            }
        }
    }
    sl_buf_t out;
    sl_buf_init(&out, req->arena, 256);
    sl_response_render(req, &out);
    sl_request_free(req);
    return 0;
}
