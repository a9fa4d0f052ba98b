/* contracts: the protobuf contracts every event is validated against, loaded at run time.
 *
 * The build compiles proto/ into a descriptor set (protoc --descriptor_set_out
 * --include_imports); sluice reads that file at start and on reload (config key `contracts`),
 * so a new contract or version deploys by replacing a file. A registry is an immutable snapshot:
 * build it completely, then share it (refcounted) — requests keep the one they started with.
 *
 * Contract metadata comes from custom options (proto/sluice/options/v1/options.proto):
 *   message option (sluice.options.v1.contract) = {type: "page_view", stage: STAGE_RAW}
 *   field option   (sluice.options.v1.rules)    = {required, min_len, max_len, range,
 *                                                  format, allowed, max_items, pii}
 * protobuf-c delivers them as unknown fields of MessageOptions/FieldOptions; the loader parses
 * those bytes itself. Contracts are non-recursive: a message that contains itself, directly or
 * not, is refused at load. (Checked for every message an event contract reaches: the set always
 * holds google/protobuf/descriptor.proto, imported by the options, which is itself recursive.)
 * The loader keys on the extension numbers (50601, 50602), not on the options' package. */
#ifndef SL_CONTRACTS_CONTRACTS_H
#define SL_CONTRACTS_CONTRACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/status.h"

/* google.protobuf.FieldDescriptorProto.Type numbers. */
typedef enum {
    SL_CT_DOUBLE = 1,
    SL_CT_FLOAT = 2,
    SL_CT_INT64 = 3,
    SL_CT_UINT64 = 4,
    SL_CT_INT32 = 5,
    SL_CT_FIXED64 = 6,
    SL_CT_FIXED32 = 7,
    SL_CT_BOOL = 8,
    SL_CT_STRING = 9,
    SL_CT_MESSAGE = 11,
    SL_CT_BYTES = 12,
    SL_CT_UINT32 = 13,
    SL_CT_ENUM = 14,
    SL_CT_SFIXED32 = 15,
    SL_CT_SFIXED64 = 16,
    SL_CT_SINT32 = 17,
    SL_CT_SINT64 = 18,
} sl_ct_type_t;

/* sluice.options.v1.Format */
typedef enum {
    SL_FMT_NONE = 0,
    SL_FMT_UUID = 1,
    SL_FMT_ISO4217 = 2, /* three upper-case letters */
    SL_FMT_URL = 3,     /* absolute http(s) URL */
    SL_FMT_EMAIL = 4,
    SL_FMT_RFC3339 = 5,
    SL_FMT_COUNTRY = 6, /* ISO 3166-1 alpha-2 */
    SL_FMT_LOCALE = 7,  /* BCP 47 language tag, e.g. en-US */
} sl_ct_format_t;

/* sluice.options.v1.Pii: what the policy engine keys redaction on. */
typedef enum {
    SL_PII_NONE = 0,
    SL_PII_EMAIL = 1,
    SL_PII_PHONE = 2,
    SL_PII_IP = 3,
    SL_PII_PRECISE_LOCATION = 4,
    SL_PII_FREE_TEXT = 5,
    SL_PII_USER_ID = 6,
} sl_ct_pii_t;

/* sluice.options.v1.Stage */
typedef enum {
    SL_STAGE_NONE = 0,
    SL_STAGE_RAW = 1,
    SL_STAGE_IDENTITY = 2,
    SL_STAGE_CONSENT = 3,
    SL_STAGE_DECISIONS = 4,
    SL_STAGE_OUTCOMES = 5,
} sl_ct_stage_t;

/* sluice.options.v1.UnknownFields */
typedef enum {
    SL_UNKNOWN_DEFAULT = 0, /* follow the gateway's contracts.unknown_fields */
    SL_UNKNOWN_REJECT = 1,
    SL_UNKNOWN_STRIP = 2,
} sl_ct_unknown_t;

typedef struct sl_ct_message sl_ct_message_t;

typedef struct {
    const char *full_name;
    size_t n_values;
    const char *const *names; /* value names, as declared */
    const int32_t *numbers;
} sl_ct_enum_t;

typedef struct {
    const char *name;      /* as declared in the .proto */
    const char *json_name; /* lowerCamelCase JSON name */
    uint32_t number;
    sl_ct_type_t type;
    bool repeated;
    const sl_ct_message_t *message;  /* SL_CT_MESSAGE */
    const sl_ct_enum_t *enumeration; /* SL_CT_ENUM */
    /* Rules from (sluice.options.v1.rules); zero values mean "no rule". */
    bool required;    /* JSON: present and not null; wire: present (scalars: non-default) */
    uint32_t min_len; /* strings: UTF-8 code points; bytes: bytes */
    uint32_t max_len; /* 0: unlimited */
    bool has_range;
    double min; /* numbers, inclusive */
    double max;
    sl_ct_format_t format;
    size_t n_allowed; /* strings: allowed values (enum membership); 0: any */
    const char *const *allowed;
    uint32_t max_items; /* repeated: most elements; 0: unlimited */
    sl_ct_pii_t pii;
} sl_ct_field_t;

struct sl_ct_message {
    const char *full_name; /* e.g. "sluice.events.v1.PageView" */
    size_t n_fields;
    const sl_ct_field_t *fields; /* sorted by number */
    /* From (sluice.options.v1.contract); NULL/SL_STAGE_NONE for messages that are not events. */
    const char *event_type; /* e.g. "page_view" */
    sl_ct_stage_t stage;
    sl_ct_unknown_t unknown_fields;
};

typedef struct sl_contracts sl_contracts_t;

/* Loads a serialized google.protobuf.FileDescriptorSet (with imports) from path. On failure the
 * error names the file and what is wrong (unreadable, not a descriptor set, unresolved type,
 * recursive message, two contracts for one event type, bad option). The result holds one
 * reference. */
sl_status_t sl_contracts_load(const char *path, sl_contracts_t **out, sl_error_t *err);
sl_status_t sl_contracts_load_mem(const uint8_t *data, size_t len, const char *name,
                                  sl_contracts_t **out, sl_error_t *err);
sl_contracts_t *sl_contracts_ref(sl_contracts_t *c);
/* NULL is ignored. */
void sl_contracts_unref(sl_contracts_t *c);

/* The contract (message) of an event type, or NULL when no contract declares it. */
const sl_ct_message_t *sl_contracts_event(const sl_contracts_t *c, const char *type, size_t len);
/* Any message by its full name (no leading dot), or NULL. */
const sl_ct_message_t *sl_contracts_message(const sl_contracts_t *c, const char *full_name);
/* Number of event contracts, and the i-th one (in full-name order). */
size_t sl_contracts_count(const sl_contracts_t *c);
const sl_ct_message_t *sl_contracts_at(const sl_contracts_t *c, size_t i);

/* A field by JSON name or by declared name (both accepted, as proto3 JSON does). */
const sl_ct_field_t *sl_ct_field_by_name(const sl_ct_message_t *m, const char *name, size_t len);
const sl_ct_field_t *sl_ct_field_by_number(const sl_ct_message_t *m, uint32_t number);

/* "raw", "identity", "consent", "decisions", "outcomes"; "none" for SL_STAGE_NONE or an unknown
 * value. A static string; any thread. */
const char *sl_ct_stage_name(sl_ct_stage_t stage);

/* True when s (n bytes of valid UTF-8) has format f; SL_FMT_NONE accepts anything. */
bool sl_ct_format_ok(sl_ct_format_t f, const char *s, size_t n);
/* "an ISO 4217 currency code", ... for messages. */
const char *sl_ct_format_phrase(sl_ct_format_t f);

/* Checks a serialized message of type m at the wire level: wire types against declared types,
 * UTF-8 in strings, unknown field numbers (skipped instead when strip_unknown), and every rule
 * (required = present with a non-default value for scalars, lengths, ranges, formats, allowed
 * values, enum membership, max items), nested messages included, at most max_depth levels deep.
 * Failures return SL_REJECT with the JSON result's codes (plus malformed_protobuf) and a message
 * naming the field path under path, e.g. "properties.items[2].price: ...". Thread-safe; allocates
 * nothing. */
sl_status_t sl_ct_validate_wire(const sl_ct_message_t *m, const uint8_t *data, size_t len,
                                const char *path, int max_depth, bool strip_unknown,
                                sl_error_t *err);

/* The protobuf message m (validated by sl_ct_validate_wire with the same strip choice) as a
 * JSON object appended to out: declared (snake_case) names in field-number order, unknown fields
 * left out, 64-bit integers as numbers. At most depth levels of nesting. SL_REJECT only on bytes
 * that did not pass validation. */
sl_status_t sl_ct_wire_to_json(const sl_ct_message_t *m, const uint8_t *data, size_t len, int depth,
                               sl_buf_t *out);
/* The same without the braces, leaving out field skip_number (0: none); *first says whether no
 * member has been written yet (and is cleared once one is). */
sl_status_t sl_ct_wire_members(const sl_ct_message_t *m, const uint8_t *data, size_t len, int depth,
                               uint32_t skip_number, sl_buf_t *out, bool *first);

/* A caller's hand in sl_ct_encode: write is asked first for every field of the top-level
 * message; when it returns true it has written the field itself (or decided to leave it out).
 * A JSON member is written as `,"name":value` (no comma while *first; then clear *first). */
typedef struct {
    bool (*write)(void *arg, const sl_ct_field_t *f, bool proto, sl_buf_t *out, bool *first);
    void *arg;
} sl_ct_override_t;

/* A caller's say over every field, at any depth, by its path from the event ("context.ip",
 * "properties.items[].sku"): keep it, drop it, or transform its value — strings through string
 * (writing the replacement to out; false drops it), double/float through number. The privacy
 * policy's redaction runs here, while the canonical form is written. */
enum { SL_CT_VISIT_KEEP = 0, SL_CT_VISIT_DROP = 1, SL_CT_VISIT_TRANSFORM = 2 };
typedef struct {
    int (*decide)(void *arg, const sl_ct_field_t *f, const char *path, size_t path_len);
    bool (*string)(void *arg, const sl_ct_field_t *f, const char *path, size_t path_len,
                   const char *in, size_t n, sl_buf_t *out);
    bool (*number)(void *arg, const sl_ct_field_t *f, const char *path, size_t path_len, double in,
                   double *out);
    void *arg;
} sl_ct_visitor_t;

/* The canonical encoding of message m from node obj of doc (a JSON object that passed contract
 * validation against m; doc may be NULL for an empty message): protobuf when proto, else JSON.
 * Both are defined by the descriptors alone (contracts/canonical.c lists the rules), so equal
 * content gives equal bytes whichever form it came in. visitor (may be NULL) sees every field;
 * path is the path of m itself ("" or NULL for the event, "properties" for a contract). Scratch
 * memory from arena. */
void sl_ct_encode(const sl_ct_message_t *m, const sl_json_doc_t *doc, uint32_t obj, bool proto,
                  const sl_ct_override_t *ovr, const sl_ct_visitor_t *visitor, const char *path,
                  sl_arena_t *arena, sl_buf_t *out);

/* The built-in sluice.v1 envelope (Event, Context, Consent, EventBatch, ...), compiled into the
 * binary: always there, whatever contracts file is loaded. Loaded on first use; any thread. */
const sl_contracts_t *sl_envelope(void);

/* One difference between two descriptor sets. */
typedef struct {
    bool breaking;
    char what[384]; /* e.g. "sluice.events.v1.Purchase.currency (3): field removed without reserved"
                     */
} sl_ct_change_t;

/* Compares old and new: calls emit once per change (breaking ones and additions), in a stable
 * order. Returns the number of breaking changes. Breaking: message removed; field removed
 * without its number reserved; field number reused with another name or type; type or label
 * (repeated) changed; required rule added; enum value removed; event type removed or moved to
 * another message.
 * Also breaking: a new field that is required (old producers do not send it) or that takes a
 * number or name reserved in old; an enum value renumbered; an enum removed; an event type's
 * stage changed (its events go to another topic).
 * Order: by message (or enum) full name, then field (or value) number. Both sets are borrowed;
 * emit's change is valid during the call only. Any thread; allocates only temporarily. */
size_t sl_contracts_diff(const sl_contracts_t *old_set, const sl_contracts_t *new_set,
                         void (*emit)(void *arg, const sl_ct_change_t *change), void *arg);

#endif
