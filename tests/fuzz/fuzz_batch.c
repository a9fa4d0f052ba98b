/* Fuzz target: the JSON batch parser — prescan, decode and envelope validation, then the
 * response renderer, exactly as a request body goes through them. */
#include <stdint.h>
#include <string.h>

#include "pipeline/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sl_config_t *cfg;
    if (cfg == NULL) {
        const char *sets[] = {"limits.max_events_per_batch=50", "limits.max_json_depth=8"};
        sl_error_t err;
        if (sl_config_build(NULL, sets, 2, &cfg, &err) != SL_OK) {
            __builtin_trap();
        }
        sl_config_publish(cfg);
    }
    sl_request_t *req = sl_request_new(NULL);
    req->media_type = "application/json";
    req->body = (const char *)data;
    req->body_len = size;
    if (sl_stage_decode(req) == SL_OK) {
        sl_stage_validate(req);
    }
    sl_buf_t out;
    sl_buf_init(&out, req->arena, 256);
    sl_response_render(req, &out);
    sl_request_free(req);
    return 0;
}
