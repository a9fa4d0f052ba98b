/* policy: the privacy team's consent gates and redaction rules, loaded from policies/.
 *
 * One YAML file (policies/policy.yaml; docs/policies.md explains it for reviewers) compiles
 * into an immutable, refcounted snapshot that a reload replaces as a whole:
 *
 *   version: 2026-11-27.1
 *   purposes: [analytics, personalization, advertising]
 *   consent:
 *     default: []                        # purposes of an event that carries no consent
 *     tenants: {acme: [analytics]}       # per-tenant default
 *     stages: {raw: [analytics], decisions: [personalization], ...}
 *     events: {location_change: [personalization]}
 *     fields: {context.geo: [personalization]}   # removed when a purpose is missing
 *   redaction:
 *     pii_default: drop                  # a PII-classified field no rule covers
 *     rules:
 *       - {pii: email, action: hmac}
 *       - {path: context.ip, action: truncate_ip}
 *       - {pii: precise_location, action: {coarsen_geo: 2}, stages: [raw]}
 *
 * Decisions are made per field, by its path in the event (`context.ip`,
 * `properties.items[].sku`) and by the PII class its contract gives it. A path rule beats a PII
 * rule; a rule naming stages beats one that does not; two rules of equal rank that disagree are
 * refused at load. Fields without a PII class and without a rule are kept. */
#ifndef SL_POLICY_POLICY_H
#define SL_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "contracts/contracts.h"
#include "core/buf.h"
#include "core/status.h"

typedef enum {
    SL_ACT_KEEP = 0, /* no rule applies (not PII): the field as it came */
    SL_ACT_ALLOW,    /* a rule allows the field as it came */
    SL_ACT_DROP,
    SL_ACT_HMAC,
    SL_ACT_MASK,        /* param: characters kept at the end */
    SL_ACT_TRUNCATE_IP, /* IPv4 /24, IPv6 /48 */
    SL_ACT_COARSEN_GEO, /* param: decimals kept */
    SL_ACT_SCRUB,       /* e-mails, phones, cards, IPs in free text replaced by placeholders */
} sl_action_kind_t;

typedef struct {
    sl_action_kind_t kind;
    int param;
    int rule; /* index of the rule that decided (in file order), -1 for none / pii_default */
} sl_action_t;

typedef struct sl_policy sl_policy_t;

/* Loads dir/policy.yaml. Errors name the file, line and column, and what is wrong: unknown
 * purposes, stages, event types or PII classes, actions, conflicting rules, and (with contracts)
 * paths no contract has. The result holds one reference. */
sl_status_t sl_policy_load(const char *dir, const sl_contracts_t *contracts, sl_policy_t **out,
                           sl_error_t *err);
sl_policy_t *sl_policy_ref(sl_policy_t *p);
void sl_policy_unref(sl_policy_t *p); /* NULL is ignored */

/* "<declared version>+sha256:<first 12 hex of the file's hash>": what the policy_version header
 * carries, so an auditor can tell exactly which file shaped an event. */
const char *sl_policy_version(const sl_policy_t *p);

/* The purposes named in names (a JSON-ish list already split by the caller) as a bit set; bit i
 * is the i-th declared purpose. Unknown names are ignored (the contract allows only declared
 * ones). */
uint32_t sl_policy_purpose_bit(const sl_policy_t *p, const char *name, size_t len);
/* The name of purpose bit `bit`, or "?" . */
const char *sl_policy_purpose_name(const sl_policy_t *p, uint32_t bit);
/* The purposes assumed for an event of tenant that carries no consent. */
uint32_t sl_policy_default_consent(const sl_policy_t *p, const char *tenant);
/* The purposes an event of type (in stage) needs to be produced at all. */
uint32_t sl_policy_event_requires(const sl_policy_t *p, sl_ct_stage_t stage, const char *type,
                                  size_t type_len);
/* What happens to the field f (its contract descriptor, for its PII class) at path in stage:
 * the action, and in *requires the purposes it needs to be kept at all. */
sl_action_t sl_policy_field(const sl_policy_t *p, sl_ct_stage_t stage, const char *path,
                            size_t path_len, const sl_ct_field_t *f, uint32_t *requires);

/* The line in policy.yaml of rule index `rule` (from sl_action_t.rule), 0 for none. */
size_t sl_policy_rule_line(const sl_policy_t *p, int rule);
/* Warnings a reviewer should see (rules that can never match: no field of the envelope or of
 * contracts has their PII class), written to out as "file:line: ..."; returns how many. */
size_t sl_policy_lint(const sl_policy_t *p, const sl_contracts_t *contracts, FILE *out);

/* The differences between policies a and b in plain words, one per line on out, e.g.
 * "page_view context.ip: truncate_ip -> drop", "stage decisions needs consent for:
 * personalization -> personalization, advertising": purposes, default consents, stage, event and
 * field requirements, and the action on every field of every contract of c (as its stage sees
 * it). Returns the number of lines. */
size_t sl_policy_diff(const sl_policy_t *a, const sl_policy_t *b, const sl_contracts_t *c,
                      FILE *out);

/* Whether any rule (or pii_default) pseudonymizes with hmac: then a key is required. */
bool sl_policy_uses_hmac(const sl_policy_t *p);
/* The HMAC key the hmac action uses (set by the server from configuration). */
void sl_policy_set_hmac_key(sl_policy_t *p, const char *key_id, const uint8_t *key, size_t len);
bool sl_policy_hmac_key(const sl_policy_t *p, const char **key_id, const uint8_t **key,
                        size_t *len);
/* The same key prepared for sl_hmac_redact (policy/actions.h), or NULL without a key. */
struct sl_hmac;
const struct sl_hmac *sl_policy_hmac(const sl_policy_t *p);

#endif
