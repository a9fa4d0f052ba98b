/* Fuzz target: the JSON batch path — decode, envelope validation, contract validation against
 * the catalog (strip mode when the body's length is odd), the produced values and the response
 * renderer, exactly as a request body goes through them. */
#include <stdint.h>
#include <string.h>

#include "contracts/contracts.h"
#include "pipeline/pipeline.h"

#ifndef SL_CONTRACTS_DEFAULT
#define SL_CONTRACTS_DEFAULT ""
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    sl_request_t *req = sl_request_new(NULL);
    req->contracts = sl_contracts_ref(contracts);
    req->media_type = size % 4 >= 2 ? "application/x-protobuf" : "application/json";
    req->body = (const char *)data;
    req->body_len = size;
    if (sl_stage_decode(req) == SL_OK && sl_stage_validate(req) == SL_OK &&
        sl_stage_contract(req) == SL_OK) {
        sl_buf_t value;
        sl_buf_init(&value, req->arena, 256);
        for (size_t i = 0; i < req->n_events; i++) {
            if (req->events[i].outcome == SL_OUT_PENDING) {
                sl_event_encode(req, &req->events[i], false, &value);
                sl_event_encode(req, &req->events[i], true, &value);
            }
        }
    }
    sl_buf_t out;
    sl_buf_init(&out, req->arena, 256);
    sl_response_render(req, &out);
    sl_request_free(req);
    return 0;
}
