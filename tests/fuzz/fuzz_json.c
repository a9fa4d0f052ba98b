/* Fuzz target: core/json against jansson. Both must accept and refuse the same inputs (apart
 * from limits jansson does not have, and numbers jansson cannot represent), and agree on the
 * shape of what they accept. */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t jansson_count(json_t *j) {
    if (json_is_array(j)) {
        return json_array_size(j);
    }
    if (json_is_object(j)) {
        return json_object_size(j);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sl_arena_t *arena = sl_arena_new(4096);
    sl_json_limits_t limits = {.max_depth = 512, .max_top_array = SIZE_MAX};
    sl_json_doc_t doc;
    sl_error_t err;
    sl_status_t rc = sl_json_parse((const char *)data, size, &limits, arena, &doc, &err);
    json_error_t jerr;
    json_t *j =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    bool skip = rc != SL_OK && strcmp(err.code, "too_deep") == 0;
    /* jansson stops reading at a NUL byte; the input is refused here, as it should be. */
    skip |= memchr(data, 0, size) != NULL;
    skip |= j == NULL &&
            (strstr(jerr.text, "too big") != NULL || strstr(jerr.text, "overflow") != NULL ||
             strstr(jerr.text, "maximum parsing depth") != NULL);
    if (!skip) {
        if ((rc == SL_OK) != (j != NULL)) {
            __builtin_trap();
        }
        if (rc == SL_OK) {
            static const int types[] = {JSON_NULL,   JSON_FALSE, JSON_TRUE,  JSON_INTEGER,
                                        JSON_STRING, JSON_ARRAY, JSON_OBJECT};
            int t = types[doc.nodes[0].type];
            int jt = json_typeof(j) == JSON_REAL ? JSON_INTEGER : (int)json_typeof(j);
            if (t != jt || doc.nodes[0].count != jansson_count(j) || doc.nodes[0].end != doc.n) {
                __builtin_trap();
            }
            if (json_is_string(j)) {
                const char *s;
                size_t n;
                sl_json_str(&doc, 0, arena, &s, &n);
                if (n != json_string_length(j) || memcmp(s, json_string_value(j), n) != 0) {
                    __builtin_trap();
                }
            }
        }
    }
    json_decref(j);
    sl_arena_destroy(arena);
    return 0;
}
