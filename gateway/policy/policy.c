#include "policy/policy.h"

#include "policy/actions.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/yamldoc.h"

#define MAX_PURPOSES 32
#define MAX_FILE_BYTES ((size_t)1 << 20)

typedef struct {
    char *key; /* tenant, event type or path */
    size_t len;
    uint32_t mask;
} named_mask_t;

typedef struct {
    char *path; /* NULL: matches by pii */
    size_t path_len;
    sl_ct_pii_t pii;
    uint32_t stages; /* bit per sl_ct_stage_t; 0: every stage */
    sl_action_t action;
    size_t line;
} rule_t;

struct sl_policy {
    atomic_int refs;
    char *version;
    char *file;
    size_t n_purposes;
    char *purposes[MAX_PURPOSES];
    uint32_t default_consent;
    named_mask_t *tenants, *events, *fields;
    size_t n_tenants, n_events, n_fields;
    uint32_t stage_requires[SL_STAGE_OUTCOMES + 1];
    sl_action_t pii_default;
    rule_t *rules;
    size_t n_rules;
    char *hmac_key_id;
    uint8_t *hmac_key;
    size_t hmac_key_len;
    sl_hmac_t *hmac; /* the same key, prepared */
};

typedef struct {
    sl_yamldoc_t *y; /* policy.yaml; its errors are policy_invalid, "<file>:<line>:<col>: ..." */
    sl_policy_t *p;
    const sl_contracts_t *contracts;
} loader_t;

static sl_status_t bad(loader_t *L, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sl_status_t bad(loader_t *L, const yaml_node_t *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sl_status_t rc = sl_yamldoc_vfail(L->y, at, fmt, ap);
    va_end(ap);
    return rc;
}

static yaml_node_t *node(loader_t *L, int id) {
    return yaml_document_get_node(&L->y->doc, id);
}

/* --- names --------------------------------------------------------------------------------- */

static const char *const stage_names[] = {"none",    "raw",       "identity",
                                          "consent", "decisions", "outcomes"};
static const char *const pii_names[] = {"none",      "email",  "phone", "ip", "precise_location",
                                        "free_text", "user_id"};

static int find_name(const char *const *names, size_t n, const char *s) {
    for (size_t i = 1; i < n; i++) {
        if (strcmp(names[i], s) == 0) {
            return (int)i;
        }
    }
    return -1;
}

uint32_t sl_policy_purpose_bit(const sl_policy_t *p, const char *name, size_t len) {
    for (size_t i = 0; i < p->n_purposes; i++) {
        if (strlen(p->purposes[i]) == len && memcmp(p->purposes[i], name, len) == 0) {
            return 1u << i;
        }
    }
    return 0;
}

/* A list of declared purposes as a bit set. */
static sl_status_t purposes(loader_t *L, const yaml_node_t *n, uint32_t *mask) {
    *mask = 0;
    if (n == NULL || n->type != YAML_SEQUENCE_NODE) {
        return bad(L, n, "expected a list of purposes, e.g. [analytics]");
    }
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const yaml_node_t *e = node(L, *it);
        const char *s = sl_yamldoc_scalar(e);
        uint32_t bit = s != NULL ? sl_policy_purpose_bit(L->p, s, strlen(s)) : 0;
        if (bit == 0) {
            return bad(L, e, "\"%s\" is not a declared purpose (purposes: ...)", s ? s : "?");
        }
        *mask |= bit;
    }
    return SL_OK;
}

static sl_status_t stages_of(loader_t *L, const yaml_node_t *n, uint32_t *mask) {
    *mask = 0;
    if (n->type != YAML_SEQUENCE_NODE ||
        n->data.sequence.items.top == n->data.sequence.items.start) {
        return bad(L, n,
                   "expected a non-empty list of stages, e.g. [raw, decisions] (leave stages out "
                   "for every stage)");
    }
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const yaml_node_t *e = node(L, *it);
        int s = sl_yamldoc_scalar(e) != NULL ? find_name(stage_names, 6, sl_yamldoc_scalar(e)) : -1;
        if (s < 0) {
            return bad(L, e, "unknown stage (raw, identity, consent, decisions, outcomes)");
        }
        *mask |= 1u << s;
    }
    return SL_OK;
}

/* --- paths --------------------------------------------------------------------------------- */

/* Whether path (e.g. "context.geo.lat", "properties.items[].sku") names a field: through the
 * built-in envelope, and for properties through at least one contract. */
/* The field path names, walking declared names the way redaction writes paths: `a.b.c`, with
 * `[]` after a repeated message before its fields (`items[].sku`) and nowhere else. NULL when it
 * names nothing redaction would ever see (a JSON name, a missing or extra `[]`). */
static const sl_ct_field_t *resolve_in(const sl_ct_message_t *m, const char *path) {
    const char *p = path;
    for (;;) {
        size_t n = strcspn(p, ".[");
        const sl_ct_field_t *f = NULL;
        for (size_t i = 0; m != NULL && i < m->n_fields && f == NULL; i++) {
            if (strlen(m->fields[i].name) == n && memcmp(m->fields[i].name, p, n) == 0) {
                f = &m->fields[i];
            }
        }
        if (f == NULL) {
            return NULL;
        }
        p += n;
        if (*p == '\0') {
            return f;
        }
        bool list_of_messages = f->repeated && f->message != NULL;
        if (list_of_messages != (strncmp(p, "[].", 3) == 0)) {
            return NULL;
        }
        p += list_of_messages ? 3 : 1;
        if (!list_of_messages && p[-1] != '.') {
            return NULL;
        }
        m = f->message;
        if (m == NULL) {
            return NULL;
        }
    }
}

static bool path_exists(loader_t *L, const char *path) {
    const sl_ct_message_t *event = sl_contracts_message(sl_envelope(), "sluice.v1.Event");
    if (strncmp(path, "properties.", 11) != 0) {
        return resolve_in(event, path) != NULL;
    }
    if (L->contracts == NULL) {
        return true; /* nothing to check against */
    }
    for (size_t i = 0; i < sl_contracts_count(L->contracts); i++) {
        if (resolve_in(sl_contracts_at(L->contracts, i), path + 11) != NULL) {
            return true;
        }
    }
    return false;
}

/* --- actions ------------------------------------------------------------------------------- */

static sl_status_t action_of(loader_t *L, const yaml_node_t *n, sl_action_t *a) {
    static const struct {
        const char *name;
        sl_action_kind_t kind;
        int param; /* default */
        int max;
    } acts[] = {{"allow", SL_ACT_ALLOW, 0, 0},
                {"drop", SL_ACT_DROP, 0, 0},
                {"hmac", SL_ACT_HMAC, 0, 0},
                {"mask", SL_ACT_MASK, 4, 64},
                {"truncate_ip", SL_ACT_TRUNCATE_IP, 0, 0},
                {"coarsen_geo", SL_ACT_COARSEN_GEO, 2, 6},
                {"scrub", SL_ACT_SCRUB, 0, 0}};
    const char *name = sl_yamldoc_scalar(n);
    const yaml_node_t *param = NULL;
    if (n != NULL && n->type == YAML_MAPPING_NODE &&
        n->data.mapping.pairs.top - n->data.mapping.pairs.start == 1) {
        name = sl_yamldoc_scalar(node(L, n->data.mapping.pairs.start->key));
        param = node(L, n->data.mapping.pairs.start->value);
    }
    for (size_t i = 0; name != NULL && i < sizeof(acts) / sizeof(acts[0]); i++) {
        if (strcmp(acts[i].name, name) != 0) {
            continue;
        }
        a->kind = acts[i].kind;
        a->param = acts[i].param;
        a->rule = -1;
        if (param != NULL) {
            const char *v = sl_yamldoc_scalar(param);
            char *end = NULL;
            long x = v != NULL ? strtol(v, &end, 10) : -1;
            if (acts[i].max == 0 || v == NULL || *end != '\0' || x < 0 || x > acts[i].max) {
                return bad(L, param, "%s takes %s", name,
                           acts[i].max == 0 ? "no parameter"
                                            : "a whole number, e.g. {mask: 4} or {coarsen_geo: 2}");
            }
            a->param = (int)x;
        }
        return SL_OK;
    }
    return bad(L, n,
               "unknown action (allow, drop, hmac, {mask: N}, truncate_ip, {coarsen_geo: N}, "
               "scrub)");
}

/* --- sections ------------------------------------------------------------------------------ */

static sl_status_t named_masks(loader_t *L, const yaml_node_t *map, named_mask_t **out, size_t *n,
                               int kind) {
    if (map->type != YAML_MAPPING_NODE) {
        return bad(L, map, "expected a mapping");
    }
    size_t cap = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    *out = calloc(cap > 0 ? cap : 1, sizeof(**out));
    for (yaml_node_pair_t *pp = map->data.mapping.pairs.start; pp < map->data.mapping.pairs.top;
         pp++) {
        const yaml_node_t *k = node(L, pp->key);
        const char *key = sl_yamldoc_scalar(k);
        if (key == NULL) {
            return bad(L, k, "expected a name");
        }
        if (kind == 1 && L->contracts != NULL &&
            sl_contracts_event(L->contracts, key, strlen(key)) == NULL) {
            return bad(L, k, "event type \"%s\": no contract declares it", key);
        }
        if (kind == 2 && !path_exists(L, key)) {
            return bad(L, k, "path \"%s\": no field of the envelope or of any contract", key);
        }
        named_mask_t *e = &(*out)[(*n)++];
        e->key = strdup(key);
        e->len = strlen(key);
        sl_status_t rc = purposes(L, node(L, pp->value), &e->mask);
        if (rc != SL_OK) {
            return rc;
        }
    }
    return SL_OK;
}

static sl_status_t consent_section(loader_t *L, const yaml_node_t *map) {
    sl_policy_t *p = L->p;
    if (map->type != YAML_MAPPING_NODE) {
        return bad(L, map, "consent: expected a mapping");
    }
    for (yaml_node_pair_t *pp = map->data.mapping.pairs.start; pp < map->data.mapping.pairs.top;
         pp++) {
        const yaml_node_t *k = node(L, pp->key), *v = node(L, pp->value);
        const char *key = sl_yamldoc_scalar(k) != NULL ? sl_yamldoc_scalar(k) : "";
        sl_status_t rc;
        if (strcmp(key, "default") == 0) {
            rc = purposes(L, v, &p->default_consent);
        } else if (strcmp(key, "tenants") == 0) {
            rc = named_masks(L, v, &p->tenants, &p->n_tenants, 0);
        } else if (strcmp(key, "events") == 0) {
            rc = named_masks(L, v, &p->events, &p->n_events, 1);
        } else if (strcmp(key, "fields") == 0) {
            rc = named_masks(L, v, &p->fields, &p->n_fields, 2);
        } else if (strcmp(key, "stages") == 0) {
            rc = v->type == YAML_MAPPING_NODE ? SL_OK : bad(L, v, "stages: expected a mapping");
            for (yaml_node_pair_t *sp = v->data.mapping.pairs.start;
                 rc == SL_OK && sp < v->data.mapping.pairs.top; sp++) {
                const yaml_node_t *sk = node(L, sp->key);
                int s = sl_yamldoc_scalar(sk) != NULL
                            ? find_name(stage_names, 6, sl_yamldoc_scalar(sk))
                            : -1;
                rc = s < 0
                         ? bad(L, sk, "unknown stage (raw, identity, consent, decisions, outcomes)")
                         : purposes(L, node(L, sp->value), &p->stage_requires[s]);
            }
        } else {
            rc = bad(L, k, "consent: unknown key \"%s\" (default, tenants, stages, events, fields)",
                     key);
        }
        if (rc != SL_OK) {
            return rc;
        }
    }
    return SL_OK;
}

static sl_status_t rule_of(loader_t *L, const yaml_node_t *n, rule_t *r) {
    if (n->type != YAML_MAPPING_NODE) {
        return bad(L, n, "a rule is a mapping {path: ... | pii: ..., action: ..., stages: [...]}");
    }
    r->line = n->start_mark.line + 1;
    bool has_action = false;
    for (yaml_node_pair_t *pp = n->data.mapping.pairs.start; pp < n->data.mapping.pairs.top; pp++) {
        const yaml_node_t *k = node(L, pp->key), *v = node(L, pp->value);
        const char *key = sl_yamldoc_scalar(k) != NULL ? sl_yamldoc_scalar(k) : "";
        sl_status_t rc = SL_OK;
        if (strcmp(key, "path") == 0 && sl_yamldoc_scalar(v) != NULL) {
            if (!path_exists(L, sl_yamldoc_scalar(v))) {
                return bad(L, v, "path \"%s\": no field of the envelope or of any contract",
                           sl_yamldoc_scalar(v));
            }
            r->path = strdup(sl_yamldoc_scalar(v));
            r->path_len = strlen(r->path);
        } else if (strcmp(key, "pii") == 0 && sl_yamldoc_scalar(v) != NULL) {
            int c = find_name(pii_names, 7, sl_yamldoc_scalar(v));
            if (c < 0) {
                return bad(L, v,
                           "unknown PII class (email, phone, ip, precise_location, free_text, "
                           "user_id)");
            }
            r->pii = (sl_ct_pii_t)c;
        } else if (strcmp(key, "action") == 0) {
            rc = action_of(L, v, &r->action);
            has_action = true;
        } else if (strcmp(key, "stages") == 0) {
            rc = stages_of(L, v, &r->stages);
        } else {
            rc = bad(L, k, "rule: unknown key \"%s\" (path, pii, action, stages)", key);
        }
        if (rc != SL_OK) {
            return rc;
        }
    }
    if ((r->path == NULL) == (r->pii == SL_PII_NONE)) {
        return bad(L, n, "a rule selects fields by exactly one of path or pii");
    }
    if (!has_action) {
        return bad(L, n, "a rule needs an action");
    }
    return SL_OK;
}

static bool same_target(const rule_t *a, const rule_t *b) {
    if (a->path != NULL || b->path != NULL) {
        return a->path != NULL && b->path != NULL && strcmp(a->path, b->path) == 0;
    }
    return a->pii == b->pii;
}

static sl_status_t redaction_section(loader_t *L, const yaml_node_t *map) {
    sl_policy_t *p = L->p;
    if (map->type != YAML_MAPPING_NODE) {
        return bad(L, map, "redaction: expected a mapping");
    }
    for (yaml_node_pair_t *pp = map->data.mapping.pairs.start; pp < map->data.mapping.pairs.top;
         pp++) {
        const yaml_node_t *k = node(L, pp->key), *v = node(L, pp->value);
        const char *key = sl_yamldoc_scalar(k) != NULL ? sl_yamldoc_scalar(k) : "";
        if (strcmp(key, "pii_default") == 0) {
            sl_status_t rc = action_of(L, v, &p->pii_default);
            if (rc != SL_OK) {
                return rc;
            }
            continue;
        }
        if (strcmp(key, "rules") != 0) {
            return bad(L, k, "redaction: unknown key \"%s\" (pii_default, rules)", key);
        }
        if (v->type != YAML_SEQUENCE_NODE) {
            return bad(L, v, "rules: expected a list");
        }
        size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        p->rules = calloc(n > 0 ? n : 1, sizeof(rule_t));
        for (size_t i = 0; i < n; i++) {
            const yaml_node_t *e = node(L, v->data.sequence.items.start[i]);
            rule_t *r = &p->rules[p->n_rules++];
            sl_status_t rc = rule_of(L, e, r);
            if (rc != SL_OK) {
                return rc;
            }
            r->action.rule = (int)i;
            /* Conflicts: the same fields, overlapping stages, another action. */
            for (size_t j = 0; j < i; j++) {
                const rule_t *o = &p->rules[j];
                bool overlap = (r->stages == 0) == (o->stages == 0) &&
                               (r->stages == 0 || (r->stages & o->stages) != 0);
                if (same_target(r, o) && overlap) {
                    bool differ =
                        r->action.kind != o->action.kind || r->action.param != o->action.param;
                    return bad(L, e, "%s line %zu for the same fields and stages%s",
                               differ ? "conflicts with the rule on" : "repeats the rule on",
                               o->line, differ ? " (another action)" : "");
                }
            }
        }
    }
    return SL_OK;
}

static void policy_free(sl_policy_t *p) {
    free(p->version);
    free(p->file);
    for (size_t i = 0; i < p->n_purposes; i++) {
        free(p->purposes[i]);
    }
    named_mask_t *lists[] = {p->tenants, p->events, p->fields};
    size_t ns[] = {p->n_tenants, p->n_events, p->n_fields};
    for (size_t l = 0; l < 3; l++) {
        for (size_t i = 0; i < ns[l]; i++) {
            free(lists[l][i].key);
        }
        free(lists[l]);
    }
    for (size_t i = 0; i < p->n_rules; i++) {
        free(p->rules[i].path);
    }
    free(p->rules);
    free(p->hmac_key_id);
    if (p->hmac_key != NULL) {
        explicit_bzero(p->hmac_key, p->hmac_key_len);
    }
    free(p->hmac_key);
    sl_hmac_free(p->hmac);
    free(p);
}

/* Every mapping of the file, at any depth, has unique keys: a key given twice is a review
 * question (which one did the author mean?), never silently last-wins. */
static sl_status_t unique_keys(loader_t *L, const yaml_node_t *n, int depth) {
    if (n == NULL || depth > 32) {
        return n == NULL ? SL_OK : bad(L, n, "nested too deep");
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            sl_status_t rc = unique_keys(L, node(L, *it), depth + 1);
            if (rc != SL_OK) {
                return rc;
            }
        }
        return SL_OK;
    }
    if (n->type != YAML_MAPPING_NODE) {
        return SL_OK;
    }
    for (yaml_node_pair_t *a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
        const yaml_node_t *ka = node(L, a->key);
        for (yaml_node_pair_t *b = n->data.mapping.pairs.start; b < a; b++) {
            const char *sa = sl_yamldoc_scalar(ka), *sb = sl_yamldoc_scalar(node(L, b->key));
            if (sa != NULL && sb != NULL && strcmp(sa, sb) == 0) {
                return bad(L, ka, "\"%s\" is given twice in this mapping", sa);
            }
        }
        sl_status_t rc = unique_keys(L, node(L, a->value), depth + 1);
        if (rc != SL_OK) {
            return rc;
        }
    }
    return SL_OK;
}

static sl_status_t load_doc(loader_t *L, const char *declared_version_out[1]) {
    sl_policy_t *p = L->p;
    yaml_node_t *root = sl_yamldoc_root(L->y);
    sl_status_t urc = unique_keys(L, root, 0);
    if (urc != SL_OK) {
        return urc;
    }
    if (root == NULL || root->type != YAML_MAPPING_NODE) {
        return bad(L, root, "expected a mapping with version, purposes, consent, redaction");
    }
    /* purposes first: the other sections refer to them. */
    const yaml_node_t *sections[4] = {NULL, NULL, NULL, NULL};
    static const char *const names[] = {"version", "purposes", "consent", "redaction"};
    for (yaml_node_pair_t *pp = root->data.mapping.pairs.start; pp < root->data.mapping.pairs.top;
         pp++) {
        const yaml_node_t *k = node(L, pp->key);
        int s = -1;
        for (int i = 0; i < 4 && s < 0; i++) {
            s = sl_yamldoc_scalar(k) != NULL && strcmp(sl_yamldoc_scalar(k), names[i]) == 0 ? i
                                                                                            : -1;
        }
        if (s < 0) {
            return bad(L, k, "unknown key \"%s\" (version, purposes, consent, redaction)",
                       sl_yamldoc_scalar(k) ? sl_yamldoc_scalar(k) : "?");
        }
        sections[s] = node(L, pp->value);
    }
    if (sl_yamldoc_scalar(sections[0]) == NULL || sl_yamldoc_scalar(sections[0])[0] == '\0') {
        return bad(L, sections[0] != NULL ? sections[0] : root,
                   "version: required (e.g. version: 2026-11-27.1)");
    }
    declared_version_out[0] = sl_yamldoc_scalar(sections[0]);
    const yaml_node_t *pl = sections[1];
    if (pl == NULL || pl->type != YAML_SEQUENCE_NODE) {
        return bad(L, pl != NULL ? pl : root, "purposes: required, a list of names");
    }
    for (yaml_node_item_t *it = pl->data.sequence.items.start; it < pl->data.sequence.items.top;
         it++) {
        const yaml_node_t *e = node(L, *it);
        const char *s = sl_yamldoc_scalar(e);
        if (s == NULL || s[0] == '\0' || p->n_purposes == MAX_PURPOSES ||
            sl_policy_purpose_bit(p, s, strlen(s)) != 0) {
            return bad(L, e, "a purpose is a unique name (at most %d purposes)", MAX_PURPOSES);
        }
        p->purposes[p->n_purposes++] = strdup(s);
    }
    p->pii_default = (sl_action_t){SL_ACT_DROP, 0, -1};
    if (sections[2] != NULL) {
        sl_status_t rc = consent_section(L, sections[2]);
        if (rc != SL_OK) {
            return rc;
        }
    }
    if (sections[3] != NULL) {
        return redaction_section(L, sections[3]);
    }
    return SL_OK;
}

sl_status_t sl_policy_load(const char *dir, const sl_contracts_t *contracts, sl_policy_t **out,
                           sl_error_t *err) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/policy.yaml", dir);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return sl_error_set(err, SL_REJECT, "policy_unreadable", "%s: %s", path, strerror(errno));
    }
    char *data = malloc(MAX_FILE_BYTES + 1);
    size_t len = fread(data, 1, MAX_FILE_BYTES + 1, f);
    fclose(f);
    if (len > MAX_FILE_BYTES) {
        free(data);
        return sl_error_set(err, SL_REJECT, "policy_invalid", "%s: larger than 1 MiB", path);
    }
    unsigned char digest[32];
    unsigned int dlen = 0;
    EVP_Digest(data, len, digest, &dlen, EVP_sha256(), NULL);

    sl_policy_t *p = calloc(1, sizeof(*p));
    atomic_init(&p->refs, 1);
    p->file = strdup(path);
    sl_yamldoc_t y = {.file = path, .code = "policy_invalid", .err = err};
    sl_status_t rc = sl_yamldoc_load(&y, data, len);
    if (rc != SL_OK) {
        free(data);
        policy_free(p);
        return rc;
    }
    loader_t L = {.y = &y, .p = p, .contracts = contracts};
    const char *declared = NULL;
    rc = load_doc(&L, &declared);
    if (rc == SL_OK) {
        char hex[13];
        for (size_t i = 0; i < 6; i++) {
            snprintf(hex + 2 * i, 3, "%02x", digest[i]);
        }
        size_t n = strlen(declared) + 32;
        p->version = malloc(n);
        snprintf(p->version, n, "%s+sha256:%s", declared, hex);
    }
    sl_yamldoc_free(&y);
    free(data);
    if (rc != SL_OK) {
        policy_free(p);
        return rc;
    }
    *out = p;
    return SL_OK;
}

sl_policy_t *sl_policy_ref(sl_policy_t *p) {
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void sl_policy_unref(sl_policy_t *p) {
    if (p != NULL && atomic_fetch_sub(&p->refs, 1) == 1) {
        policy_free(p);
    }
}

const char *sl_policy_version(const sl_policy_t *p) {
    return p->version;
}

static const named_mask_t *find_mask(const named_mask_t *list, size_t n, const char *key,
                                     size_t len) {
    for (size_t i = 0; i < n; i++) {
        if (list[i].len == len && memcmp(list[i].key, key, len) == 0) {
            return &list[i];
        }
    }
    return NULL;
}

const char *sl_policy_purpose_name(const sl_policy_t *p, uint32_t bit) {
    return bit < p->n_purposes ? p->purposes[bit] : "?";
}

uint32_t sl_policy_default_consent(const sl_policy_t *p, const char *tenant) {
    const named_mask_t *t =
        tenant != NULL ? find_mask(p->tenants, p->n_tenants, tenant, strlen(tenant)) : NULL;
    return t != NULL ? t->mask : p->default_consent;
}

uint32_t sl_policy_event_requires(const sl_policy_t *p, sl_ct_stage_t stage, const char *type,
                                  size_t type_len) {
    uint32_t need = stage <= SL_STAGE_OUTCOMES ? p->stage_requires[stage] : 0;
    const named_mask_t *e = find_mask(p->events, p->n_events, type, type_len);
    return need | (e != NULL ? e->mask : 0);
}

sl_action_t sl_policy_field(const sl_policy_t *p, sl_ct_stage_t stage, const char *path,
                            size_t path_len, const sl_ct_field_t *f, uint32_t *requires) {
    const named_mask_t *fr = find_mask(p->fields, p->n_fields, path, path_len);
    *requires = fr != NULL ? fr->mask : 0;
    /* Best rule: path over pii, with stages over without. */
    const rule_t *best = NULL;
    int best_rank = -1;
    for (size_t i = 0; i < p->n_rules; i++) {
        const rule_t *r = &p->rules[i];
        if (r->stages != 0 && !(r->stages & (1u << stage))) {
            continue;
        }
        bool match = r->path != NULL
                         ? r->path_len == path_len && memcmp(r->path, path, path_len) == 0
                         : f != NULL && f->pii == r->pii;
        int rank = (r->path != NULL ? 2 : 0) + (r->stages != 0 ? 1 : 0);
        if (match && rank > best_rank) {
            best = r;
            best_rank = rank;
        }
    }
    if (best != NULL) {
        return best->action;
    }
    if (f != NULL && f->pii != SL_PII_NONE) {
        return p->pii_default;
    }
    return (sl_action_t){SL_ACT_KEEP, 0, -1};
}

size_t sl_policy_rule_line(const sl_policy_t *p, int rule) {
    return rule >= 0 && (size_t)rule < p->n_rules ? p->rules[rule].line : 0;
}

static bool has_pii(const sl_ct_message_t *m, sl_ct_pii_t pii, int depth) {
    for (size_t i = 0; m != NULL && i < m->n_fields && depth < 16; i++) {
        if (m->fields[i].pii == pii || has_pii(m->fields[i].message, pii, depth + 1)) {
            return true;
        }
    }
    return false;
}

size_t sl_policy_lint(const sl_policy_t *p, const sl_contracts_t *contracts, FILE *out) {
    size_t warnings = 0;
    const sl_ct_message_t *event = sl_contracts_message(sl_envelope(), "sluice.v1.Event");
    for (size_t i = 0; i < p->n_rules; i++) {
        const rule_t *r = &p->rules[i];
        if (r->path != NULL) {
            continue;
        }
        bool found = has_pii(event, r->pii, 0);
        for (size_t c = 0; !found && contracts != NULL && c < sl_contracts_count(contracts); c++) {
            found = has_pii(sl_contracts_at(contracts, c), r->pii, 0);
        }
        if (!found) {
            fprintf(out,
                    "%s:%zu: warning: the rule on pii %s can never match: no field is "
                    "classified %s\n",
                    p->file, r->line, pii_names[r->pii], pii_names[r->pii]);
            warnings++;
        }
    }
    return warnings;
}

bool sl_policy_uses_hmac(const sl_policy_t *p) {
    bool uses = p->pii_default.kind == SL_ACT_HMAC;
    for (size_t i = 0; i < p->n_rules && !uses; i++) {
        uses = p->rules[i].action.kind == SL_ACT_HMAC;
    }
    return uses;
}

void sl_policy_set_hmac_key(sl_policy_t *p, const char *key_id, const uint8_t *key, size_t len) {
    free(p->hmac_key_id);
    free(p->hmac_key);
    p->hmac_key_id = strdup(key_id);
    p->hmac_key = malloc(len);
    memcpy(p->hmac_key, key, len);
    p->hmac_key_len = len;
    sl_hmac_free(p->hmac);
    p->hmac = sl_hmac_new(key, len, key_id);
}

const sl_hmac_t *sl_policy_hmac(const sl_policy_t *p) {
    return p->hmac;
}

bool sl_policy_hmac_key(const sl_policy_t *p, const char **key_id, const uint8_t **key,
                        size_t *len) {
    if (p->hmac_key == NULL) {
        return false;
    }
    *key_id = p->hmac_key_id;
    *key = p->hmac_key;
    *len = p->hmac_key_len;
    return true;
}

/* --- diff ---------------------------------------------------------------------------------- */

static void mask_words(const sl_policy_t *p, uint32_t mask, char *out, size_t n) {
    size_t o = 0;
    out[0] = '\0';
    for (uint32_t bit = 0; bit < p->n_purposes && o < n; bit++) {
        if (mask & (1u << bit)) {
            int w = snprintf(out + o, n - o, "%s%s", o > 0 ? ", " : "", p->purposes[bit]);
            o += w > 0 ? (size_t)w : 0;
        }
    }
    if (o == 0) {
        snprintf(out, n, "nothing");
    }
}

static void action_words(sl_action_t a, char *out, size_t n) {
    static const char *const names[] = {"kept", "allow",       "drop",        "hmac",
                                        "mask", "truncate_ip", "coarsen_geo", "scrub"};
    if (a.kind == SL_ACT_MASK || a.kind == SL_ACT_COARSEN_GEO) {
        snprintf(out, n, "%s %d", names[a.kind], a.param);
    } else {
        snprintf(out, n, "%s", names[a.kind]);
    }
}

typedef struct {
    const sl_policy_t *a, *b;
    FILE *out;
    size_t changes;
} differ_t;

static void say(differ_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(differ_t *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fputc('\n', d->out);
    d->changes++;
}

static void diff_masks(differ_t *d, uint32_t ma, uint32_t mb, const char *what) {
    char wa[256], wb[256];
    mask_words(d->a, ma, wa, sizeof(wa));
    mask_words(d->b, mb, wb, sizeof(wb));
    if (strcmp(wa, wb) != 0) {
        say(d, "%s: %s -> %s", what, wa, wb);
    }
}

/* Every field of m under path prefix, as each policy treats it in stage. */
static void diff_fields(differ_t *d, const sl_ct_message_t *m, const char *type,
                        sl_ct_stage_t stage, char *path, size_t len, int depth) {
    for (size_t i = 0; m != NULL && i < m->n_fields && depth < 16; i++) {
        const sl_ct_field_t *f = &m->fields[i];
        if (depth == 0 && strcmp(f->name, "properties") == 0) {
            continue; /* the contract's own fields come next */
        }
        size_t n = (size_t)snprintf(path + len, 512 - len, "%s%s%s", len > 0 ? "." : "", f->name,
                                    f->repeated && f->message != NULL ? "[]" : "");
        uint32_t ra = 0, rb = 0;
        sl_action_t aa = sl_policy_field(d->a, stage, path, len + n, f, &ra);
        sl_action_t ab = sl_policy_field(d->b, stage, path, len + n, f, &rb);
        char wa[64], wb[64];
        action_words(aa, wa, sizeof(wa));
        action_words(ab, wb, sizeof(wb));
        if (strcmp(wa, wb) != 0) {
            say(d, "%s %s: %s -> %s", type, path, wa, wb);
        }
        char what[600];
        snprintf(what, sizeof(what), "%s %s needs consent for", type, path);
        diff_masks(d, ra, rb, what);
        if (f->message != NULL) {
            diff_fields(d, f->message, type, stage, path, len + n, depth + 1);
        }
        path[len] = '\0';
    }
}

size_t sl_policy_diff(const sl_policy_t *a, const sl_policy_t *b, const sl_contracts_t *c,
                      FILE *out) {
    differ_t d = {a, b, out, 0};
    for (size_t i = 0; i < a->n_purposes; i++) {
        if (sl_policy_purpose_bit(b, a->purposes[i], strlen(a->purposes[i])) == 0) {
            say(&d, "purpose %s removed", a->purposes[i]);
        }
    }
    for (size_t i = 0; i < b->n_purposes; i++) {
        if (sl_policy_purpose_bit(a, b->purposes[i], strlen(b->purposes[i])) == 0) {
            say(&d, "purpose %s added", b->purposes[i]);
        }
    }
    diff_masks(&d, a->default_consent, b->default_consent, "default consent");
    for (int pass = 0; pass < 2; pass++) { /* tenants of either policy */
        const sl_policy_t *p = pass == 0 ? a : b;
        for (size_t i = 0; i < p->n_tenants; i++) {
            const char *t = p->tenants[i].key;
            if (pass == 1 && find_mask(a->tenants, a->n_tenants, t, strlen(t)) != NULL) {
                continue;
            }
            char what[300];
            snprintf(what, sizeof(what), "default consent of tenant %s", t);
            diff_masks(&d, sl_policy_default_consent(a, t), sl_policy_default_consent(b, t), what);
        }
    }
    for (int s = SL_STAGE_RAW; s <= SL_STAGE_OUTCOMES; s++) {
        char what[64];
        snprintf(what, sizeof(what), "stage %s needs consent for", stage_names[s]);
        diff_masks(&d, a->stage_requires[s], b->stage_requires[s], what);
    }
    const sl_ct_message_t *event = sl_contracts_message(sl_envelope(), "sluice.v1.Event");
    for (size_t i = 0; c != NULL && i < sl_contracts_count(c); i++) {
        const sl_ct_message_t *m = sl_contracts_at(c, i);
        size_t tl = strlen(m->event_type);
        const named_mask_t *ea = find_mask(a->events, a->n_events, m->event_type, tl);
        const named_mask_t *eb = find_mask(b->events, b->n_events, m->event_type, tl);
        char what[300];
        snprintf(what, sizeof(what), "%s needs consent for", m->event_type);
        diff_masks(&d, ea != NULL ? ea->mask : 0, eb != NULL ? eb->mask : 0, what);
        char path[512] = "";
        diff_fields(&d, event, m->event_type, m->stage, path, 0, 0);
        memcpy(path, "properties", 11);
        diff_fields(&d, m, m->event_type, m->stage, path, 10, 1);
    }
    return d.changes;
}
