/* config/keytpl: message key templates (keys.<stage>, keys.types), compiled when a config
 * snapshot is validated.
 *
 * A template is literal text and groups in braces; a group lists alternatives separated by `|`,
 * the first usable one is taken:
 *
 *     {tenant}:{user_id|anonymous_id|device_id}
 *     {tenant}:{properties.cart_id}
 *
 * An alternative is `tenant` (the token's tenant), `stage`, `type`, an envelope field
 * (event_id, user_id, anonymous_id, session_id, device_id, account_id) or `properties.<path>`
 * (dotted, into the event's properties). The empty template produces events without a key. */
#ifndef SL_CONFIG_KEYTPL_H
#define SL_CONFIG_KEYTPL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

typedef enum {
    SL_KT_LITERAL = 0,
    SL_KT_TENANT,
    SL_KT_STAGE,
    SL_KT_TYPE,
    SL_KT_FIELD, /* text is the field's path: "user_id" or "properties.cart_id" */
} sl_kt_kind_t;

typedef struct {
    sl_kt_kind_t kind;
    const char *text; /* literal text or field path (NUL-terminated) */
    size_t len;
} sl_kt_alt_t;

/* A literal part has one SL_KT_LITERAL alternative; a group has one or more of the others. */
typedef struct {
    size_t n_alts;
    const sl_kt_alt_t *alts;
} sl_kt_part_t;

typedef struct sl_keytpl {
    const char *source; /* the template as configured */
    size_t n_parts;
    const sl_kt_part_t *parts;
    bool has_group; /* false: the key is the same text for every event (or none) */
} sl_keytpl_t;

/* The templates of one config snapshot. */
typedef struct sl_keying {
    const sl_keytpl_t *stage[6]; /* indexed by sl_ct_stage_t: 1 raw .. 5 outcomes */
    size_t n_types;
    const char *const *type_names; /* keys.types, in the order given */
    const sl_keytpl_t *const *type_tpls;
    size_t n_hot;
    const char *const *hot; /* keys.hot: keys always spread */
} sl_keying_t;

/* Compiles text, the value of config key `key` (named in errors). */
sl_status_t sl_keytpl_compile(const char *key, const char *text, sl_keytpl_t **out,
                              sl_error_t *err);
void sl_keytpl_free(sl_keytpl_t *t);

/* Builds the keying of stage templates (stage[1..5]), keys.types ("type=template ...",
 * whitespace-separated) and keys.hot (whitespace-separated keys). */
sl_status_t sl_keying_build(const char *const stage[6], const char *types, const char *hot,
                            sl_keying_t **out, sl_error_t *err);
void sl_keying_free(sl_keying_t *k);

/* The template for an event of type (type_len bytes) in stage. */
const sl_keytpl_t *sl_keying_for(const sl_keying_t *k, int stage, const char *type,
                                 size_t type_len);

/* True when key (len bytes) is listed in keys.hot. */
bool sl_keying_is_hot(const sl_keying_t *k, const char *key, size_t len);

#endif
