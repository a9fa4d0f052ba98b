/* Helpers for the pipeline tests: requests built from a published config. */
#ifndef SL_UNIT_PIPELINE_HELPERS_H
#define SL_UNIT_PIPELINE_HELPERS_H

#include <criterion/criterion.h>
#include <string.h>

#include "pipeline/pipeline.h"
#include "support.h"

/* A request (no pipeline) carrying body with the given media type; the body is copied into the
 * request's arena. A config must be published. */
static inline sl_request_t *t_request(const char *media_type, const char *body) {
    sl_request_t *req = sl_request_new(NULL);
    cr_assert(req != NULL, "sl_request_new needs a published config");
    req->media_type = media_type;
    size_t n = strlen(body);
    req->body = sl_arena_strndup(req->arena, body, n);
    req->body_len = n;
    return req;
}

/* Runs decode and expects a whole-request fault with code. */
static inline void t_expect_decode_fault(const char *media_type, const char *body, sl_fault_t fault,
                                         const char *code) {
    sl_request_t *req = t_request(media_type, body);
    sl_status_t st = sl_stage_decode(req);
    cr_assert(st != SL_OK, "decode accepted: %s", body);
    cr_assert(req->fault == fault, "fault %d, expected %d for %s", (int)req->fault, (int)fault,
              body);
    cr_assert(req->fault_err.code != NULL);
    cr_assert(strcmp(req->fault_err.code, code) == 0, "code %s, expected %s (%s) for %s",
              req->fault_err.code, code, req->fault_err.message, body);
    sl_request_free(req);
}

#endif
