/* core/json: a strict JSON parser (RFC 8259) into a flat node array in an arena.
 *
 * Built for the hot path: one pass, no allocation per value, strings and numbers left in place
 * as spans of the input (which must outlive the document), so an event's bytes can be produced
 * as they came. Enforces, while parsing and before the nodes are allocated: a nesting limit, a
 * limit on the elements of arrays directly inside the top-level value (the batch's events), and
 * unique keys in every object. Validates UTF-8, escapes and surrogate pairs; a NUL escape
 * (\u0000) is refused because no consumer can carry it safely in a C string. Single-threaded
 * per document; documents are immutable after parsing and may be read from any thread. */
#ifndef SL_CORE_JSON_H
#define SL_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/status.h"

typedef enum {
    SL_JSON_NULL,
    SL_JSON_FALSE,
    SL_JSON_TRUE,
    SL_JSON_NUMBER,
    SL_JSON_STRING,
    SL_JSON_ARRAY,
    SL_JSON_OBJECT,
} sl_json_type_t;

enum {
    SL_JSON_F_ESCAPED = 1, /* string: contains backslash escapes */
    SL_JSON_F_INTEGER = 2, /* number: no fraction, no exponent */
};

typedef struct {
    uint8_t type;
    uint8_t flags;
    uint32_t start; /* offset of the value in the input; strings: after the opening quote */
    uint32_t len;   /* bytes; strings: between the quotes (raw, escapes not decoded) */
    uint32_t count; /* arrays: elements; objects: members */
    uint32_t end;   /* index of the first node after this value's subtree */
} sl_json_node_t;

/* Object members are stored as a key node (a string) followed by the value's subtree. */
typedef struct {
    const char *src;
    sl_json_node_t *nodes;
    uint32_t n;
} sl_json_doc_t;

typedef struct {
    int max_depth;        /* containers nested deeper than this are refused */
    size_t max_top_array; /* elements of an array directly inside the top-level value */
} sl_json_limits_t;

/* Parse src[0..len) (whole input, one value, surrounding whitespace allowed) into doc, nodes
 * in arena. On failure returns SL_REJECT and err->code is one of malformed_json, duplicate_key,
 * too_deep, too_many_elements, with the byte offset in the message. len must be < 4 GiB. */
sl_status_t sl_json_parse(const char *src, size_t len, const sl_json_limits_t *limits,
                          sl_arena_t *arena, sl_json_doc_t *doc, sl_error_t *err);

/* The value of member key (NUL-terminated, no escapes) in object node obj, or -1. */
int64_t sl_json_get(const sl_json_doc_t *doc, uint32_t obj, const char *key);

/* A string node's decoded bytes: the span itself when it has no escapes (not NUL-terminated),
 * else a decoded, NUL-terminated copy in arena. */
void sl_json_str(const sl_json_doc_t *doc, uint32_t node, sl_arena_t *arena, const char **s,
                 size_t *len);

/* An integer number node as int64; returns -1 when not an integer or out of range. */
int sl_json_int(const sl_json_doc_t *doc, uint32_t node, int64_t *out);

/* A number node as a double, correctly rounded (the same bits as strtod): short decimals take
 * Clinger's exact fast path, everything else strtod. */
double sl_json_number(const sl_json_doc_t *doc, uint32_t node);

/* "an object", "a string", ... for messages. */
const char *sl_json_type_phrase(sl_json_type_t t);

#endif
