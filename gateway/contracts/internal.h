/* contracts/internal.h: what the loader (contracts.c), the diff (diff.c), the option-bytes
 * reader (wire.c) and the message validator (validate_wire.c) share. Not a public header: the rest
 * of the gateway uses contracts.h.
 *
 * The registry keeps more than contracts.h shows: per message the declared labels, reserved
 * numbers and names, and a name index; per set every enum. The diff needs them, validation
 * does not. */
#ifndef SL_CONTRACTS_INTERNAL_H
#define SL_CONTRACTS_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contracts/contracts.h"
#include "core/arena.h"
#include "core/pb.h"

/* Extension numbers of proto/sluice/options/v1/options.proto. The loader keys on these numbers
 * only (never on the options' package), so a copy of the options under another package works. */
#define SL_CT_EXT_RULES 50601u    /* google.protobuf.FieldOptions: FieldRules rules */
#define SL_CT_EXT_CONTRACT 50602u /* google.protobuf.MessageOptions: Contract contract */

/* Bounds on what a descriptor set may hold, checked while reading. */
#define SL_CT_MAX_FILE_BYTES ((size_t)64 << 20)
#define SL_CT_MAX_NESTING 64     /* nested message declarations (message in message in ...) */
#define SL_CT_MAX_ALLOWED 4096   /* entries of FieldRules.allowed */
#define SL_CT_MAX_EVENT_TYPE 128 /* bytes of Contract.type */

/* The wire type a field of type t is written with (packed repeated fields aside). */
static inline int sl_ct_wire_type(sl_ct_type_t t) {
    switch (t) {
    case SL_CT_DOUBLE:
    case SL_CT_FIXED64:
    case SL_CT_SFIXED64:
        return WT_FIXED64;
    case SL_CT_FLOAT:
    case SL_CT_FIXED32:
    case SL_CT_SFIXED32:
        return WT_FIXED32;
    case SL_CT_STRING:
    case SL_CT_BYTES:
    case SL_CT_MESSAGE:
        return WT_LEN;
    default:
        return WT_VARINT;
    }
}

/* FieldDescriptorProto.Label numbers. */
enum { SL_CT_LABEL_OPTIONAL = 1, SL_CT_LABEL_REQUIRED = 2, SL_CT_LABEL_REPEATED = 3 };

typedef struct {
    int32_t start; /* inclusive */
    int32_t end;   /* exclusive */
} sl_ct_range_t;

/* One entry of a message's name index: a declared name or a JSON name. */
typedef struct {
    const char *key;
    size_t len;
    const sl_ct_field_t *field;
} sl_ct_name_t;

/* A message as the registry holds it; pub comes first so a public pointer converts back. */
typedef struct {
    sl_ct_message_t pub;
    size_t index;          /* in sl_contracts.messages */
    const char *file;      /* the .proto that declared it */
    const uint8_t *labels; /* per field (in pub.fields order): SL_CT_LABEL_* */
    size_t n_names;
    const sl_ct_name_t *names; /* sorted by key */
    size_t n_reserved;
    const sl_ct_range_t *reserved;
    size_t n_reserved_names;
    const char *const *reserved_names;
} sl_ct_msg_t;

struct sl_contracts {
    atomic_int refs;
    sl_arena_t *arena; /* everything below lives in it */
    const char *name;  /* the file it came from */
    size_t n_messages;
    sl_ct_msg_t **messages; /* sorted by full name */
    size_t n_enums;
    sl_ct_enum_t **enums; /* sorted by full name */
    size_t n_events;
    const sl_ct_msg_t **events;         /* event contracts by message full name */
    const sl_ct_msg_t **events_by_type; /* the same, by event type */
};

static inline const sl_ct_msg_t *sl_ct_msg(const sl_ct_message_t *m) {
    return (const sl_ct_msg_t *)m;
}

/* An enum by full name (no leading dot), or NULL. */
const sl_ct_enum_t *sl_ct_enum_find(const sl_contracts_t *c, const char *full_name);

/* --- option bytes (wire.c) -----------------------------------------------------------------
 * The payload of an unknown field of FieldOptions / MessageOptions, i.e. the serialized
 * FieldRules / Contract without tag and length. Untrusted bytes: every read is bounded by len,
 * nothing is allocated beyond what the bytes announce and the limits above allow. */

/* Merges one serialized sluice.options.v1.FieldRules into the rule members of field (the other
 * members are left alone), protobuf style: scalars last-wins, `allowed` appends, `range` merges.
 * Call it once per occurrence, then sl_ct_check_rules. Strings are copied into arena. Unknown
 * fields are skipped (newer options); a known field with the wrong wire type, a truncated or
 * malformed encoding, an out-of-range enum or uint32, invalid UTF-8 or a NUL in a string
 * returns SL_REJECT ("contracts_bad_option") with a message that does not name the file. */
sl_status_t sl_ct_parse_rules(const uint8_t *data, size_t len, sl_arena_t *arena,
                              sl_ct_field_t *field, sl_error_t *err);

/* sluice.options.v1.Contract as parsed. */
typedef struct {
    const char *type; /* arena copy; NULL until a type is seen */
    sl_ct_stage_t stage;
    sl_ct_unknown_t unknown_fields;
} sl_ct_contract_opt_t;

/* The same for sluice.options.v1.Contract: fills the members of *out that the bytes set. */
sl_status_t sl_ct_parse_contract(const uint8_t *data, size_t len, sl_arena_t *arena,
                                 sl_ct_contract_opt_t *out, sl_error_t *err);

/* Checks the merged rules of a field: min <= max (and no NaN) for a range, min_len <= max_len
 * when both are set. */
sl_status_t sl_ct_check_rules(const sl_ct_field_t *field, sl_error_t *err);

/* Checks that data is well-formed protobuf along the path FileDescriptorSet.file →
 * FileDescriptorProto.message_type → DescriptorProto.nested_type and that nested message
 * declarations go at most max_depth deep, before protobuf-c (which recurses without a limit)
 * unpacks it. Other fields are skipped unparsed. */
sl_status_t sl_ct_check_nesting(const uint8_t *data, size_t len, int max_depth, sl_error_t *err);

/* For a fuzz target: runs every parser above on data (as FieldRules, as Contract, as a
 * descriptor set prefix) with a fresh arena and frees everything. Returns 0. Never crashes
 * or leaks on any input; that is what the target checks. */
int sl_ct_fuzz_options(const uint8_t *data, size_t len);

#endif
