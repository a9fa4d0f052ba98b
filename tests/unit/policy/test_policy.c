/* policy/policy: the loader (errors with file:line:column), rule precedence, consent masks, the
 * version string and lint — through policy/policy.h only, against the catalog of proto/. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contracts/contracts.h"
#include "policy/policy.h"

#ifndef SL_TEST_CATALOG
#error "SL_TEST_CATALOG must name the compiled catalog"
#endif
#ifndef SL_TEST_POLICIES
#error "SL_TEST_POLICIES must name the repo's policies/ directory"
#endif

/* --- helpers ------------------------------------------------------------------------------- */

static sl_contracts_t *catalog(void) {
    static sl_contracts_t *c;
    if (c == NULL) {
        sl_error_t err;
        cr_assert(eq(int, sl_contracts_load(SL_TEST_CATALOG, &c, &err), SL_OK), "%s", err.message);
    }
    return c;
}

/* A fresh directory holding policy.yaml with yaml; malloc'd path of the directory. */
static char *write_dir(const char *yaml) {
    char tmpl[] = "/tmp/sl-policy-XXXXXX";
    char *dir = mkdtemp(tmpl);
    cr_assert(dir != NULL);
    char path[256];
    snprintf(path, sizeof(path), "%s/policy.yaml", dir);
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL);
    cr_assert(eq(sz, fwrite(yaml, 1, strlen(yaml), f), strlen(yaml)));
    fclose(f);
    return strdup(dir);
}

static void remove_dir(char *dir) {
    char path[256];
    snprintf(path, sizeof(path), "%s/policy.yaml", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static sl_policy_t *load_with(const char *yaml, const sl_contracts_t *contracts) {
    char *dir = write_dir(yaml);
    sl_policy_t *p = NULL;
    sl_error_t err;
    sl_status_t st = sl_policy_load(dir, contracts, &p, &err);
    remove_dir(dir);
    cr_assert(eq(int, st, SL_OK), "%s", err.message);
    cr_assert(p != NULL);
    return p;
}

static sl_policy_t *load_ok(const char *yaml) {
    return load_with(yaml, catalog());
}

/* Line and column (1-based) of the first occurrence of needle in text. */
static void position_of(const char *text, const char *needle, size_t *line, size_t *col) {
    const char *at = strstr(text, needle);
    cr_assert(at != NULL, "test bug: \"%s\" is not in the policy", needle);
    *line = 1;
    const char *line_start = text;
    for (const char *p = text; p < at; p++) {
        if (*p == '\n') {
            (*line)++;
            line_start = p + 1;
        }
    }
    *col = (size_t)(at - line_start) + 1;
}

/* Loads yaml (with contracts) expecting SL_REJECT policy_invalid with an error that starts
 * "<dir>/policy.yaml:L:C: " where L:C is where `where` first occurs in yaml, and contains
 * `what`. */
static void fail_at_with(const char *yaml, const sl_contracts_t *contracts, const char *where,
                         const char *what) {
    char *dir = write_dir(yaml);
    sl_policy_t *p = NULL;
    sl_error_t err;
    sl_status_t st = sl_policy_load(dir, contracts, &p, &err);
    cr_assert(eq(int, st, SL_REJECT), "loaded, expected an error at \"%s\" (%s):\n%s", where, what,
              yaml);
    cr_assert(p == NULL);
    cr_assert(eq(str, (char *)err.code, "policy_invalid"));
    size_t line, col;
    position_of(yaml, where, &line, &col);
    char prefix[320];
    snprintf(prefix, sizeof(prefix), "%s/policy.yaml:%zu:%zu: ", dir, line, col);
    cr_assert(strncmp(err.message, prefix, strlen(prefix)) == 0, "want prefix \"%s\", got \"%s\"",
              prefix, err.message);
    cr_assert(strstr(err.message, what) != NULL, "want \"%s\" in \"%s\"", what, err.message);
    remove_dir(dir);
}

static void fail_at(const char *yaml, const char *where, const char *what) {
    fail_at_with(yaml, catalog(), where, what);
}

static const sl_ct_field_t *field(const char *message, const char *name) {
    const sl_ct_message_t *m = sl_contracts_message(sl_envelope(), message);
    if (m == NULL) {
        m = sl_contracts_message(catalog(), message);
    }
    cr_assert(m != NULL, "no message %s", message);
    const sl_ct_field_t *f = sl_ct_field_by_name(m, name, strlen(name));
    cr_assert(f != NULL, "no field %s.%s", message, name);
    return f;
}

static sl_action_t decide(const sl_policy_t *p, sl_ct_stage_t stage, const char *path,
                          const sl_ct_field_t *f, uint32_t *requires) {
    uint32_t ignored;
    return sl_policy_field(p, stage, path, strlen(path), f, requires != NULL ? requires : &ignored);
}

#define HEAD "version: v1\npurposes: [analytics, personalization, advertising]\n"

/* --- load errors --------------------------------------------------------------------------- */

Test(policy_load, unknown_top_level_key) {
    fail_at(HEAD "retention: 30d\n", "retention", "unknown key \"retention\"");
    fail_at(HEAD "consent:\n  default: []\nredactoin:\n  pii_default: drop\n", "redactoin",
            "unknown key \"redactoin\"");
    /* Keys of the sections too. */
    fail_at(HEAD "consent:\n  defaults: []\n", "defaults", "consent: unknown key \"defaults\"");
    fail_at(HEAD "redaction:\n  pii_defaults: drop\n", "pii_defaults",
            "redaction: unknown key \"pii_defaults\"");
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: email, action: drop, why: x}\n", "why",
            "rule: unknown key \"why\"");
}

Test(policy_load, missing_or_empty_version) {
    const char *no_version = "purposes: [analytics]\nconsent:\n  default: []\n";
    fail_at(no_version, "purposes", "version: required");
    fail_at("version: \"\"\npurposes: [analytics]\n", "\"\"", "version: required");
    fail_at("version: [1, 2]\npurposes: [analytics]\n", "[1, 2]", "version: required");
    /* purposes is required too. */
    fail_at("version: v1\nconsent:\n  default: []\n", "version", "purposes: required");
    fail_at("version: v1\npurposes: [analytics, analytics]\n", "analytics]", "unique name");
}

Test(policy_load, undeclared_purpose) {
    fail_at(HEAD "consent:\n  default: [analytics, marketing]\n", "marketing",
            "\"marketing\" is not a declared purpose");
    fail_at(HEAD "consent:\n  tenants:\n    acme: [ads]\n", "ads]",
            "\"ads\" is not a declared purpose");
    fail_at(HEAD "consent:\n  stages:\n    raw: [analytics, profiling]\n", "profiling",
            "\"profiling\" is not a declared purpose");
    fail_at(HEAD "consent:\n  events:\n    location_change: [tracking]\n", "tracking",
            "\"tracking\" is not a declared purpose");
    fail_at(HEAD "consent:\n  fields:\n    context.geo: [Personalization]\n", "Personalization",
            "\"Personalization\" is not a declared purpose");
    fail_at(HEAD "consent:\n  default: analytics\n", "analytics\n", "expected a list of purposes");
}

Test(policy_load, unknown_stage) {
    fail_at(HEAD "consent:\n  stages:\n    raw: [analytics]\n    archive: [analytics]\n", "archive",
            "unknown stage");
    fail_at(HEAD "consent:\n  stages:\n    none: []\n", "none", "unknown stage");
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: email, stages: [raw, bronze], action: drop}\n",
            "bronze", "unknown stage");
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: email, stages: raw, action: drop}\n",
            "raw, action", "list of stages");
}

Test(policy_load, unknown_event_type_against_the_catalog) {
    const char *yaml = HEAD "consent:\n  events:\n    location_change: [personalization]\n"
                            "    page_veiw: [analytics]\n";
    fail_at(yaml, "page_veiw", "event type \"page_veiw\": no contract declares it");
    /* Without a catalog there is nothing to check event types against. */
    sl_policy_t *p = load_with(yaml, NULL);
    cr_assert(eq(u32, sl_policy_event_requires(p, SL_STAGE_RAW, "page_veiw", 9), 1u));
    sl_policy_unref(p);
}

Test(policy_load, path_no_contract_has) {
    const char *rule = HEAD "redaction:\n  rules:\n    - {path: properties.coupon_code, action: "
                            "drop}\n";
    fail_at(rule, "properties.coupon_code",
            "path \"properties.coupon_code\": no field of the envelope or of any contract");
    fail_at(HEAD "consent:\n  fields:\n    properties.gps: [personalization]\n", "properties.gps",
            "path \"properties.gps\": no field");
    /* Envelope paths are checked even without a catalog. */
    fail_at_with(HEAD "redaction:\n  rules:\n    - {path: context.ipaddr, action: drop}\n", NULL,
                 "context.ipaddr", "no field of the envelope");
    fail_at(HEAD "redaction:\n  rules:\n    - {path: context.ip.v4, action: drop}\n",
            "context.ip.v4", "no field");
    fail_at(HEAD "redaction:\n  rules:\n    - {path: \"context.page[]\", action: drop}\n",
            "\"context.page[]\"", "no field");
    /* Properties paths need the catalog: without one they cannot be checked. */
    sl_policy_t *p = load_with(rule, NULL);
    sl_policy_unref(p);
    /* Paths that exist: envelope, contract, nested, through a repeated message. */
    p = load_ok(HEAD "consent:\n  fields:\n    context.geo: [personalization]\n"
                     "    properties.lat: [personalization]\n"
                     "redaction:\n  rules:\n    - {path: context.ip, action: drop}\n"
                     "    - {path: context.geo.lat, action: drop}\n"
                     "    - {path: properties.coupon, action: drop}\n"
                     "    - path: properties.items[].sku\n      action: drop\n"
                     "    - {path: \"properties.traits[].value\", action: drop}\n");
    sl_policy_unref(p);
}

/* Was a bug (fixed; gateway/policy/policy.c, path_exists/resolve_in): the loader resolves paths by
 * JSON name as well as by declared name, and accepts a repeated message without "[]" and a repeated
 * scalar with it, but the redaction visitor (contracts/canonical.c path_push) only ever builds
 * declared names with "[]" after repeated messages. So these rules load and lint clean and never
 * match: `{path: context.userAgent, action: drop}` leaves context.user_agent in every event,
 * `{path: properties.items.sku, action: drop}` leaves the skus. Expected: refused at load (path
 * no field has), or normalized to the path the visitor uses. Enable once fixed. */
Test(policy_load, paths_the_redaction_never_sees_are_refused) {
    fail_at(HEAD "redaction:\n  rules:\n    - {path: context.userAgent, action: drop}\n",
            "context.userAgent", "no field");
    fail_at(HEAD "redaction:\n  rules:\n    - {path: properties.items.sku, action: drop}\n",
            "properties.items.sku", "no field");
    fail_at(HEAD "consent:\n  fields:\n    \"consent.purposes[]\": [advertising]\n",
            "\"consent.purposes[]\"", "no field");
    fail_at(HEAD "consent:\n  fields:\n    context.geo.accuracyM: [advertising]\n",
            "context.geo.accuracyM", "no field");
}

Test(policy_load, unknown_pii_class) {
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: ssn, action: drop}\n", "ssn",
            "unknown PII class");
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: none, action: drop}\n", "none",
            "unknown PII class");
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: Email, action: drop}\n", "Email",
            "unknown PII class");
}

Test(policy_load, unknown_action) {
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: email, action: encrypt}\n", "encrypt",
            "unknown action");
    fail_at(HEAD "redaction:\n  pii_default: keep\n", "keep", "unknown action");
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: email, action: {mask: 4, extra: 1}}\n", "{mask",
            "unknown action");
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: email, action: [hmac]}\n", "[hmac]",
            "unknown action");
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: email}\n", "{pii", "a rule needs an action");
}

Test(policy_load, action_parameter_out_of_range) {
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: precise_location, action: {coarsen_geo: 7}}\n",
            "7}", "coarsen_geo takes a whole number");
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: phone, action: {mask: 65}}\n", "65",
            "mask takes a whole number");
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: phone, action: {mask: -1}}\n", "-1",
            "mask takes a whole number");
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: phone, action: {mask: 4x}}\n", "4x",
            "mask takes a whole number");
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: phone, action: {mask: 2.5}}\n", "2.5",
            "mask takes a whole number");
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: email, action: {hmac: 1}}\n", "1}",
            "hmac takes no parameter");
    fail_at(HEAD "redaction:\n  pii_default: {drop: 0}\n", "0}", "drop takes no parameter");
    /* The bounds themselves are fine; a bare name takes the default parameter. */
    sl_policy_t *p = load_ok(HEAD "redaction:\n  rules:\n"
                                  "    - {pii: precise_location, action: {coarsen_geo: 6}}\n"
                                  "    - {pii: phone, action: {mask: 64}}\n"
                                  "    - {pii: email, action: mask}\n"
                                  "    - {pii: ip, action: {mask: 0}}\n"
                                  "    - {pii: user_id, action: coarsen_geo}\n");
    sl_action_t a = decide(p, SL_STAGE_RAW, "context.geo.lat", field("sluice.v1.Geo", "lat"), NULL);
    cr_assert(eq(int, a.kind, SL_ACT_COARSEN_GEO));
    cr_assert(eq(int, a.param, 6));
    a = decide(p, SL_STAGE_IDENTITY, "properties.phone",
               field("sluice.events.v1.Identify", "phone"), NULL);
    cr_assert(eq(int, a.kind, SL_ACT_MASK));
    cr_assert(eq(int, a.param, 64));
    a = decide(p, SL_STAGE_IDENTITY, "properties.email",
               field("sluice.events.v1.Identify", "email"), NULL);
    cr_assert(eq(int, a.kind, SL_ACT_MASK));
    cr_assert(eq(int, a.param, 4), "mask without N keeps 4");
    a = decide(p, SL_STAGE_RAW, "context.ip", field("sluice.v1.Context", "ip"), NULL);
    cr_assert(eq(int, a.param, 0));
    a = decide(p, SL_STAGE_RAW, "user_id", field("sluice.v1.Event", "user_id"), NULL);
    cr_assert(eq(int, a.kind, SL_ACT_COARSEN_GEO));
    cr_assert(eq(int, a.param, 2), "coarsen_geo without N keeps 2 decimals");
    sl_policy_unref(p);
}

Test(policy_load, rule_with_both_path_and_pii_or_neither) {
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: email, action: hmac}\n"
                 "    - {path: context.ip, pii: ip, action: drop}\n",
            "{path", "exactly one of path or pii");
    fail_at(HEAD "redaction:\n  rules:\n    - {stages: [raw], action: drop}\n", "{stages",
            "exactly one of path or pii");
    fail_at(HEAD "redaction:\n  rules:\n    - drop\n", "drop", "a rule is a mapping");
    fail_at(HEAD "redaction:\n  rules: {pii: email}\n", "{pii", "rules: expected a list");
}

Test(policy_load, conflicting_rules) {
    /* Same PII class, no stages, another action. */
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: email, action: hmac}\n"
                 "    - {pii: phone, action: drop}\n"
                 "    - {pii: email, action: drop}\n",
            "{pii: email, action: drop}",
            "conflicts with the rule on line 5 for the same fields and stages (another action)");
    /* Same path, overlapping stages, another parameter. */
    fail_at(HEAD
            "redaction:\n  rules:\n"
            "    - {path: context.geo.lat, stages: [raw, decisions], action: {coarsen_geo: 2}}\n"
            "    - {path: context.geo.lat, stages: [outcomes, decisions], "
            "action: {coarsen_geo: 1}}\n",
            "{path: context.geo.lat, stages: [outcomes", "conflicts with the rule on line 5");
    /* Same pii class, staged, overlapping in one stage. */
    fail_at(HEAD "redaction:\n  rules:\n"
                 "    - {pii: ip, stages: [identity], action: drop}\n"
                 "    - {pii: ip, stages: [raw, identity], action: truncate_ip}\n",
            "{pii: ip, stages: [raw", "conflicts with the rule on line 5");
}

Test(policy_load, exact_repeats) {
    /* The same rule written another way round is the same rule. */
    fail_at(HEAD "redaction:\n  rules:\n    - {pii: email, action: hmac}\n"
                 "    - {action: hmac, pii: email}\n",
            "{action", "repeats the rule on line 5 for the same fields and stages");
    fail_at(HEAD "redaction:\n  rules:\n"
                 "    - {path: context.ip, stages: [raw], action: {mask: 3}}\n"
                 "    - {stages: [raw], action: {mask: 3}, path: context.ip}\n",
            "{stages", "repeats the rule on line 5");
}

Test(policy_load, rules_that_do_not_conflict) {
    /* Another rank (path vs pii, staged vs not), disjoint stages, another target. */
    sl_policy_t *p = load_ok(HEAD "redaction:\n  rules:\n"
                                  "    - {pii: ip, action: truncate_ip}\n"
                                  "    - {pii: ip, stages: [decisions], action: drop}\n"
                                  "    - {pii: ip, stages: [outcomes], action: hmac}\n"
                                  "    - {path: context.ip, action: drop}\n"
                                  "    - {path: context.ip, stages: [raw], action: allow}\n"
                                  "    - {path: context.geo.lat, action: drop}\n");
    sl_policy_unref(p);
}

Test(policy_load, not_yaml_and_unreadable) {
    char *dir = write_dir(HEAD "redaction:\n  rules:\n    - {pii: email, action: hmac\n");
    sl_policy_t *p = NULL;
    sl_error_t err;
    cr_assert(eq(int, sl_policy_load(dir, catalog(), &p, &err), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "policy_invalid"));
    char prefix[320];
    snprintf(prefix, sizeof(prefix), "%s/policy.yaml:", dir);
    cr_assert(strncmp(err.message, prefix, strlen(prefix)) == 0, "%s", err.message);
    remove_dir(dir);

    cr_assert(eq(int, sl_policy_load("/nonexistent/sluice-policies", NULL, &p, &err), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "policy_unreadable"));
    cr_assert(strstr(err.message, "/nonexistent/sluice-policies/policy.yaml") != NULL, "%s",
              err.message);

    /* An empty file is no policy. */
    dir = write_dir("");
    cr_assert(eq(int, sl_policy_load(dir, NULL, &p, &err), SL_REJECT));
    cr_assert(strstr(err.message, "policy.yaml") != NULL, "%s", err.message);
    remove_dir(dir);
}

/* Was a bug (fixed; gateway/policy/policy.c, redaction_section and named_masks): a key repeated in
 * a section (libyaml keeps both) reallocates the array for the second occurrence but keeps counting
 * from the first: `redaction: {rules: [A], rules: [B]}` writes rule B at index 1 of a 1-element
 * array (heap-buffer-overflow in rule_of, policy.c:307 under ASan), and `consent: {tenants: {a:
 * [analytics]}, tenants: {b: [analytics]}}` does the same in named_masks (policy.c:255);
 * consent.events and consent.fields too. Reachable from POST /-/reload and `sluice policy lint`.
 * Expected: a repeated key is refused with its line ("repeated key"), or at least handled without
 * memory corruption. Enable once fixed (the test itself corrupts the heap today). */
Test(policy_load, repeated_section_keys_are_refused) {
    char *dir = write_dir(HEAD "redaction:\n  rules:\n    - {pii: email, action: hmac}\n"
                               "  rules:\n    - {pii: phone, action: drop}\n");
    sl_policy_t *p = NULL;
    sl_error_t err;
    cr_assert(eq(int, sl_policy_load(dir, catalog(), &p, &err), SL_REJECT));
    cr_assert(strstr(err.message, "policy.yaml:6:") != NULL, "%s", err.message);
    remove_dir(dir);
    dir = write_dir(HEAD "consent:\n  tenants: {a: [analytics]}\n  tenants: {b: [analytics]}\n");
    cr_assert(eq(int, sl_policy_load(dir, catalog(), &p, &err), SL_REJECT));
    cr_assert(strstr(err.message, "policy.yaml:5:") != NULL, "%s", err.message);
    remove_dir(dir);
}

/* Was a bug (fixed; gateway/policy/policy.c, stages_of + sl_policy_field): `stages: []` compiles to
 * the mask 0, which means "every stage", so {pii: email, stages: [], action: allow} — read by a
 * reviewer as "allow e-mail in no stage" — allows raw e-mail addresses in every stage no staged
 * rule covers (here raw, where pii_default drop should apply). Expected: an empty list refused
 * at load (or a rule that matches no stage). Enable once fixed. */
Test(policy_load, empty_stage_list_is_not_every_stage) {
    const char *yaml =
        HEAD "redaction:\n  rules:\n    - {pii: email, stages: [identity], action: hmac}\n"
             "    - {pii: email, stages: [], action: allow}\n";
    char *dir = write_dir(yaml);
    sl_policy_t *p = NULL;
    sl_error_t err;
    sl_status_t st = sl_policy_load(dir, catalog(), &p, &err);
    remove_dir(dir);
    if (st == SL_OK) {
        const sl_ct_field_t *email = field("sluice.events.v1.Identify", "email");
        sl_action_t a = decide(p, SL_STAGE_IDENTITY, "properties.email", email, NULL);
        cr_assert(eq(int, a.kind, SL_ACT_HMAC));
        a = decide(p, SL_STAGE_RAW, "properties.email", email, NULL);
        cr_assert(eq(int, a.kind, SL_ACT_DROP), "stages: [] made the allow rule apply in raw");
        sl_policy_unref(p);
    }
}

/* --- precedence ---------------------------------------------------------------------------- */

static const char PRECEDENCE[] =
    HEAD "redaction:\n"
         "  pii_default: drop\n"
         "  rules:\n"
         "    - {pii: ip, action: truncate_ip}\n"               /* 0 */
         "    - {pii: ip, stages: [decisions], action: drop}\n" /* 1 */
         "    - {path: context.ip, action: {mask: 3}}\n"        /* 2 */
         "    - {path: context.ip, stages: [outcomes], action: hmac}\n"
         "    - {pii: email, stages: [identity], action: hmac}\n" /* 4 */
         "    - {path: context.page.title, action: drop}\n"       /* 5 */
         "    - {path: user_id, action: allow}\n";                /* 6 */

Test(policy_field, path_over_pii_and_staged_over_unstaged) {
    sl_policy_t *p = load_ok(PRECEDENCE);
    const sl_ct_field_t *ip = field("sluice.v1.Context", "ip");
    struct {
        sl_ct_stage_t stage;
        const char *path;
        sl_action_kind_t kind;
        int param, rule;
    } cases[] = {
        /* context.ip: the path rules win over the pii ones, the staged path rule in outcomes. */
        {SL_STAGE_RAW, "context.ip", SL_ACT_MASK, 3, 2},
        {SL_STAGE_DECISIONS, "context.ip", SL_ACT_MASK, 3, 2}, /* path unstaged > pii staged */
        {SL_STAGE_OUTCOMES, "context.ip", SL_ACT_HMAC, 0, 3},
        /* Another field of class ip (no path rule): the pii rules, staged over unstaged. */
        {SL_STAGE_RAW, "properties.client_ip", SL_ACT_TRUNCATE_IP, 0, 0},
        {SL_STAGE_IDENTITY, "properties.client_ip", SL_ACT_TRUNCATE_IP, 0, 0},
        {SL_STAGE_DECISIONS, "properties.client_ip", SL_ACT_DROP, 0, 1},
        {SL_STAGE_OUTCOMES, "properties.client_ip", SL_ACT_TRUNCATE_IP, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_action_t a = decide(p, cases[i].stage, cases[i].path, ip, NULL);
        cr_assert(eq(int, a.kind, cases[i].kind), "case %zu (%s)", i, cases[i].path);
        cr_assert(eq(int, a.param, cases[i].param), "case %zu", i);
        cr_assert(eq(int, a.rule, cases[i].rule), "case %zu", i);
    }
    /* The rule index leads back to its line: rules start on line 6. */
    cr_assert(eq(sz, sl_policy_rule_line(p, 0), 6));
    cr_assert(eq(sz, sl_policy_rule_line(p, 3), 9));
    cr_assert(eq(sz, sl_policy_rule_line(p, 6), 12));
    cr_assert(eq(sz, sl_policy_rule_line(p, -1), 0));
    cr_assert(eq(sz, sl_policy_rule_line(p, 7), 0));
    sl_policy_unref(p);
}

Test(policy_field, defaults_and_unclassified_fields) {
    sl_policy_t *p = load_ok(PRECEDENCE);
    const sl_ct_field_t *email = field("sluice.events.v1.Identify", "email");
    const sl_ct_field_t *phone = field("sluice.events.v1.Identify", "phone");
    const sl_ct_field_t *title = field("sluice.v1.Page", "title");
    const sl_ct_field_t *url = field("sluice.v1.Page", "url");
    const sl_ct_field_t *uid = field("sluice.v1.Event", "user_id");
    /* The staged pii rule only in its stage; elsewhere pii_default. */
    sl_action_t a = decide(p, SL_STAGE_IDENTITY, "properties.email", email, NULL);
    cr_assert(eq(int, a.kind, SL_ACT_HMAC));
    cr_assert(eq(int, a.rule, 4));
    a = decide(p, SL_STAGE_RAW, "properties.email", email, NULL);
    cr_assert(eq(int, a.kind, SL_ACT_DROP));
    cr_assert(eq(int, a.rule, -1), "pii_default has no rule");
    a = decide(p, SL_STAGE_IDENTITY, "properties.phone", phone, NULL);
    cr_assert(eq(int, a.kind, SL_ACT_DROP));
    cr_assert(eq(int, a.rule, -1));
    /* Unclassified: kept unless a path rule names it. */
    a = decide(p, SL_STAGE_RAW, "context.page.url", url, NULL);
    cr_assert(eq(int, a.kind, SL_ACT_KEEP));
    cr_assert(eq(int, a.rule, -1));
    a = decide(p, SL_STAGE_RAW, "context.page.title", title, NULL);
    cr_assert(eq(int, a.kind, SL_ACT_DROP));
    cr_assert(eq(int, a.rule, 5));
    /* A path rule allows a classified field; without a descriptor only path rules apply. */
    a = decide(p, SL_STAGE_RAW, "user_id", uid, NULL);
    cr_assert(eq(int, a.kind, SL_ACT_ALLOW));
    cr_assert(eq(int, a.rule, 6));
    a = decide(p, SL_STAGE_RAW, "context.ip", NULL, NULL);
    cr_assert(eq(int, a.kind, SL_ACT_MASK));
    a = decide(p, SL_STAGE_RAW, "properties.anything", NULL, NULL);
    cr_assert(eq(int, a.kind, SL_ACT_KEEP));
    /* The path must match whole, not as a prefix. */
    a = decide(p, SL_STAGE_RAW, "context.ip2", NULL, NULL);
    cr_assert(eq(int, a.kind, SL_ACT_KEEP));
    cr_assert(eq(int,
                 sl_policy_field(p, SL_STAGE_RAW, "context.ipx", 10, NULL, &(uint32_t){0}).kind,
                 SL_ACT_MASK),
              "path_len bounds the path");
    sl_policy_unref(p);

    /* Another pii_default; none given is drop. */
    p = load_ok(HEAD "redaction:\n  pii_default: {mask: 2}\n");
    a = decide(p, SL_STAGE_IDENTITY, "properties.phone", phone, NULL);
    cr_assert(eq(int, a.kind, SL_ACT_MASK));
    cr_assert(eq(int, a.param, 2));
    sl_policy_unref(p);
    p = load_ok(HEAD);
    a = decide(p, SL_STAGE_IDENTITY, "properties.phone", phone, NULL);
    cr_assert(eq(int, a.kind, SL_ACT_DROP));
    a = decide(p, SL_STAGE_IDENTITY, "properties.traits[].key",
               field("sluice.events.v1.Trait", "key"), NULL);
    cr_assert(eq(int, a.kind, SL_ACT_KEEP));
    sl_policy_unref(p);
}

Test(policy_field, repo_policy) {
    sl_policy_t *p = NULL;
    sl_error_t err;
    cr_assert(eq(int, sl_policy_load(SL_TEST_POLICIES, catalog(), &p, &err), SL_OK), "%s",
              err.message);
    const sl_ct_field_t *lat = field("sluice.v1.Geo", "lat");
    sl_action_t a = decide(p, SL_STAGE_RAW, "context.geo.lat", lat, NULL);
    cr_assert(eq(int, a.kind, SL_ACT_COARSEN_GEO));
    cr_assert(eq(int, a.param, 2));
    a = decide(p, SL_STAGE_DECISIONS, "context.geo.lat", lat, NULL);
    cr_assert(eq(int, a.param, 1));
    a = decide(p, SL_STAGE_OUTCOMES, "context.geo.lat", lat, NULL);
    cr_assert(eq(int, a.param, 1));
    a = decide(p, SL_STAGE_IDENTITY, "properties.phone",
               field("sluice.events.v1.Identify", "phone"), NULL);
    cr_assert(eq(int, a.kind, SL_ACT_MASK));
    cr_assert(eq(int, a.param, 4));
    a = decide(p, SL_STAGE_RAW, "properties.query", field("sluice.events.v1.Search", "query"),
               NULL);
    cr_assert(eq(int, a.kind, SL_ACT_SCRUB));
    a = decide(p, SL_STAGE_RAW, "anonymous_id", field("sluice.v1.Event", "anonymous_id"), NULL);
    cr_assert(eq(int, a.kind, SL_ACT_HMAC));
    cr_assert(sl_policy_uses_hmac(p));
    sl_policy_unref(p);
}

/* --- consent ------------------------------------------------------------------------------- */

static const char CONSENT[] = HEAD "consent:\n"
                                   "  default: [analytics]\n"
                                   "  tenants:\n"
                                   "    dev: [analytics, advertising]\n"
                                   "    locked: []\n"
                                   "  stages:\n"
                                   "    raw: [analytics]\n"
                                   "    consent: []\n"
                                   "    decisions: [personalization]\n"
                                   "    outcomes: [personalization, advertising]\n"
                                   "  events:\n"
                                   "    location_change: [personalization]\n"
                                   "    recommendation_outcome: [analytics]\n"
                                   "  fields:\n"
                                   "    context.geo: [personalization]\n"
                                   "    properties.lat: [advertising, personalization]\n";

#define ANA 1u
#define PERS 2u
#define ADS 4u

static uint32_t needs(const sl_policy_t *p, sl_ct_stage_t stage, const char *type) {
    return sl_policy_event_requires(p, stage, type, strlen(type));
}

Test(policy_consent, purpose_bits_and_names) {
    sl_policy_t *p = load_ok(CONSENT);
    cr_assert(eq(u32, sl_policy_purpose_bit(p, "analytics", 9), ANA));
    cr_assert(eq(u32, sl_policy_purpose_bit(p, "personalization", 15), PERS));
    cr_assert(eq(u32, sl_policy_purpose_bit(p, "advertising", 11), ADS));
    cr_assert(eq(u32, sl_policy_purpose_bit(p, "analytic", 8), 0u));
    cr_assert(eq(u32, sl_policy_purpose_bit(p, "analyticsX", 10), 0u));
    cr_assert(eq(u32, sl_policy_purpose_bit(p, "analyticsX", 9), ANA), "len bounds the name");
    cr_assert(eq(str, (char *)sl_policy_purpose_name(p, 0), "analytics"));
    cr_assert(eq(str, (char *)sl_policy_purpose_name(p, 2), "advertising"));
    cr_assert(eq(str, (char *)sl_policy_purpose_name(p, 3), "?"));
    cr_assert(eq(str, (char *)sl_policy_purpose_name(p, 31), "?"));
    sl_policy_unref(p);
}

Test(policy_consent, event_requires_by_stage_and_type) {
    sl_policy_t *p = load_ok(CONSENT);
    cr_assert(eq(u32, needs(p, SL_STAGE_RAW, "page_view"), ANA));
    cr_assert(eq(u32, needs(p, SL_STAGE_RAW, "location_change"), ANA | PERS));
    cr_assert(eq(u32, needs(p, SL_STAGE_IDENTITY, "identify"), 0u), "stage not listed: nothing");
    cr_assert(eq(u32, needs(p, SL_STAGE_CONSENT, "consent_update"), 0u));
    cr_assert(eq(u32, needs(p, SL_STAGE_DECISIONS, "recommendation_impression"), PERS));
    cr_assert(eq(u32, needs(p, SL_STAGE_OUTCOMES, "recommendation_outcome"), ANA | PERS | ADS));
    cr_assert(eq(u32, needs(p, SL_STAGE_NONE, "page_view"), 0u));
    cr_assert(eq(u32, needs(p, (sl_ct_stage_t)42, "location_change"), PERS),
              "an unknown stage needs nothing of its own");
    cr_assert(
        eq(u32, sl_policy_event_requires(p, SL_STAGE_RAW, "location_changed", 15), ANA | PERS),
        "type_len bounds the type");
    sl_policy_unref(p);

    /* No consent section: nothing is required, nothing is granted by default. */
    p = load_ok(HEAD);
    cr_assert(eq(u32, needs(p, SL_STAGE_RAW, "page_view"), 0u));
    cr_assert(eq(u32, needs(p, SL_STAGE_DECISIONS, "recommendation_impression"), 0u));
    cr_assert(eq(u32, sl_policy_default_consent(p, "acme"), 0u));
    cr_assert(eq(u32, sl_policy_default_consent(p, NULL), 0u));
    sl_policy_unref(p);
}

Test(policy_consent, default_consent_and_tenant_defaults) {
    sl_policy_t *p = load_ok(CONSENT);
    cr_assert(eq(u32, sl_policy_default_consent(p, "acme"), ANA), "consent.default");
    cr_assert(eq(u32, sl_policy_default_consent(p, NULL), ANA));
    cr_assert(eq(u32, sl_policy_default_consent(p, "dev"), ANA | ADS), "the tenant's own default");
    cr_assert(eq(u32, sl_policy_default_consent(p, "locked"), 0u), "an empty tenant default wins");
    cr_assert(eq(u32, sl_policy_default_consent(p, "de"), ANA), "tenant names match whole");
    cr_assert(eq(u32, sl_policy_default_consent(p, "devx"), ANA));
    sl_policy_unref(p);

    /* The repo's policy: deny by default, tenant dev grants analytics. */
    cr_assert(eq(int, sl_policy_load(SL_TEST_POLICIES, catalog(), &p, &(sl_error_t){0}), SL_OK));
    cr_assert(eq(u32, sl_policy_default_consent(p, "acme"), 0u));
    cr_assert(
        eq(u32, sl_policy_default_consent(p, "dev"), sl_policy_purpose_bit(p, "analytics", 9)));
    cr_assert(eq(u32, needs(p, SL_STAGE_RAW, "location_change"),
                 sl_policy_purpose_bit(p, "analytics", 9) |
                     sl_policy_purpose_bit(p, "personalization", 15)));
    sl_policy_unref(p);
}

Test(policy_consent, field_requires) {
    sl_policy_t *p = load_ok(CONSENT);
    uint32_t req = 99;
    sl_action_t a = decide(p, SL_STAGE_RAW, "context.geo", field("sluice.v1.Context", "geo"), &req);
    cr_assert(eq(u32, req, PERS));
    cr_assert(eq(int, a.kind, SL_ACT_KEEP));
    /* Exactly the path listed (its children go with it when it is removed). */
    decide(p, SL_STAGE_RAW, "context.geo.lat", field("sluice.v1.Geo", "lat"), &req);
    cr_assert(eq(u32, req, 0u));
    decide(p, SL_STAGE_RAW, "properties.lat", field("sluice.events.v1.LocationChange", "lat"),
           &req);
    cr_assert(eq(u32, req, ADS | PERS));
    decide(p, SL_STAGE_RAW, "context.ip", field("sluice.v1.Context", "ip"), &req);
    cr_assert(eq(u32, req, 0u));
    sl_policy_unref(p);
}

/* --- version ------------------------------------------------------------------------------- */

static void sha256_hex12(const char *data, char out[13]) {
    unsigned char d[32];
    unsigned int n = 0;
    EVP_Digest(data, strlen(data), d, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 6; i++) {
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    }
}

Test(policy_version, declared_plus_file_hash) {
    const char *yaml = "version: 2026-11-27.1\npurposes: [analytics]\n";
    sl_policy_t *p = load_ok(yaml);
    char hex[13], want[64];
    sha256_hex12(yaml, hex);
    snprintf(want, sizeof(want), "2026-11-27.1+sha256:%s", hex);
    cr_assert(eq(str, (char *)sl_policy_version(p), want));
    sl_policy_unref(p);

    /* A comment changes the file, so the hash, not the declared version. */
    const char *commented = "# reviewed\nversion: 2026-11-27.1\npurposes: [analytics]\n";
    p = load_ok(commented);
    sha256_hex12(commented, hex);
    snprintf(want, sizeof(want), "2026-11-27.1+sha256:%s", hex);
    cr_assert(eq(str, (char *)sl_policy_version(p), want));
    sl_policy_unref(p);

    /* Quoted, and any scalar. */
    p = load_ok("version: \"v 2\"\npurposes: []\n");
    cr_assert(strncmp(sl_policy_version(p), "v 2+sha256:", 11) == 0, "%s", sl_policy_version(p));
    cr_assert(eq(sz, strlen(sl_policy_version(p)), strlen("v 2+sha256:") + 12));
    sl_policy_unref(p);
}

Test(policy_version, repo_policy_format) {
    sl_policy_t *p = NULL;
    sl_error_t err;
    cr_assert(eq(int, sl_policy_load(SL_TEST_POLICIES, catalog(), &p, &err), SL_OK), "%s",
              err.message);
    const char *v = sl_policy_version(p);
    const char *prefix = "2026-11-27.1+sha256:";
    cr_assert(strncmp(v, prefix, strlen(prefix)) == 0, "%s", v);
    cr_assert(eq(sz, strlen(v), strlen(prefix) + 12), "%s", v);
    for (const char *c = v + strlen(prefix); *c; c++) {
        cr_assert(strchr("0123456789abcdef", *c) != NULL, "%s", v);
    }
    /* ref/unref: the snapshot lives until the last reference goes. */
    sl_policy_t *again = sl_policy_ref(p);
    cr_assert(eq(ptr, again, p));
    sl_policy_unref(p);
    cr_assert(eq(str, (char *)sl_policy_version(again), (char *)v));
    sl_policy_unref(again);
    sl_policy_unref(NULL);
}

/* --- hmac key ------------------------------------------------------------------------------ */

Test(policy_hmac, uses_hmac_and_key) {
    sl_policy_t *p = load_ok(HEAD "redaction:\n  rules:\n    - {pii: email, action: drop}\n");
    cr_assert(not(sl_policy_uses_hmac(p)));
    const char *kid;
    const uint8_t *key;
    size_t len;
    cr_assert(not(sl_policy_hmac_key(p, &kid, &key, &len)), "no key until one is set");
    sl_policy_set_hmac_key(p, "k7", (const uint8_t *)"0123456789abcdef0123456789abcdef", 32);
    sl_policy_set_hmac_key(p, "k8", (const uint8_t *)"fedcba9876543210fedcba9876543210xy", 34);
    cr_assert(sl_policy_hmac_key(p, &kid, &key, &len));
    cr_assert(eq(str, (char *)kid, "k8"));
    cr_assert(eq(sz, len, 34));
    cr_assert(memcmp(key, "fedcba9876543210fedcba9876543210xy", 34) == 0);
    sl_policy_unref(p);

    p = load_ok(HEAD "redaction:\n  pii_default: hmac\n");
    cr_assert(sl_policy_uses_hmac(p), "pii_default counts");
    sl_policy_unref(p);
}

/* --- lint ---------------------------------------------------------------------------------- */

static size_t lint(const sl_policy_t *p, const sl_contracts_t *contracts, char *out, size_t n) {
    FILE *f = fmemopen(out, n, "w");
    cr_assert(f != NULL);
    size_t w = sl_policy_lint(p, contracts, f);
    fclose(f);
    return w;
}

Test(policy_lint, rule_on_a_pii_class_no_field_has) {
    const char *yaml = HEAD "redaction:\n  rules:\n"
                            "    - {pii: ip, action: truncate_ip}\n" /* envelope: context.ip */
                            "    - {pii: email, action: hmac}\n"     /* contracts only */
                            "    - {path: context.ip, stages: [raw], action: drop}\n"
                            "    - {pii: precise_location, action: drop}\n" /* envelope: geo */
                            "    - {pii: free_text, action: scrub}\n";      /* contracts only */
    /* Without contracts only the envelope has fields: email and free_text never match. */
    char *dir = write_dir(yaml);
    sl_policy_t *p = NULL;
    sl_error_t err;
    cr_assert(eq(int, sl_policy_load(dir, NULL, &p, &err), SL_OK), "%s", err.message);
    char out[2048] = {0};
    cr_assert(eq(sz, lint(p, NULL, out, sizeof(out)), 2), "%s", out);
    char want[512];
    snprintf(want, sizeof(want),
             "%s/policy.yaml:6: warning: the rule on pii email can never match: no field is "
             "classified email\n"
             "%s/policy.yaml:9: warning: the rule on pii free_text can never match",
             dir, dir);
    cr_assert(strncmp(out, want, strlen(want)) == 0, "got:\n%s\nwant:\n%s", out, want);
    /* With the catalog every class has a field. */
    memset(out, 0, sizeof(out));
    cr_assert(eq(sz, lint(p, catalog(), out, sizeof(out)), 0), "%s", out);
    cr_assert(eq(str, out, ""));
    sl_policy_unref(p);
    remove_dir(dir);

    /* The repo's policy lints clean against the catalog. */
    cr_assert(eq(int, sl_policy_load(SL_TEST_POLICIES, catalog(), &p, &err), SL_OK), "%s",
              err.message);
    cr_assert(eq(sz, lint(p, catalog(), out, sizeof(out)), 0), "%s", out);
    sl_policy_unref(p);
}
