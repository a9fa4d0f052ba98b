/* pipeline/privacy: the privacy policy (policy/policy.h) applied to events — the consent gate
 * as a stage, redaction while the canonical value is written, and the same redaction for the
 * message key. */
#include <stdio.h>
#include <string.h>

#include "metrics/metrics.h"
#include "pipeline/pipeline.h"
#include "policy/actions.h"
#include "policy/policy.h"
#include "policy/scrub.h"

/* The purposes the event grants: its consent.purposes, or the tenant's default when it carries
 * no consent. */
static uint32_t granted_of(const sl_request_t *req, const sl_event_t *ev, const sl_policy_t *p) {
    int64_t consent = sl_doc_field(&req->doc, ev->node, "consent");
    if (consent < 0 || req->doc.nodes[consent].type != SL_JSON_OBJECT) {
        return sl_policy_default_consent(p, req->principal.tenant);
    }
    int64_t list = sl_doc_field(&req->doc, (uint32_t)consent, "purposes");
    uint32_t mask = 0;
    if (list >= 0 && req->doc.nodes[list].type == SL_JSON_ARRAY) {
        uint32_t e = (uint32_t)list + 1;
        for (uint32_t i = 0; i < req->doc.nodes[list].count; i++) {
            const char *s;
            size_t n;
            if (req->doc.nodes[e].type == SL_JSON_STRING) {
                sl_json_str(&req->doc, e, req->arena, &s, &n);
                mask |= sl_policy_purpose_bit(p, s, n);
            }
            e = req->doc.nodes[e].end;
        }
    }
    return mask;
}

static void purpose_names(const sl_policy_t *p, uint32_t mask, char *out, size_t n) {
    size_t o = 0;
    out[0] = '\0';
    for (uint32_t bit = 0; bit < 32 && o < n; bit++) {
        if (mask & (1u << bit)) {
            const char *name = sl_policy_purpose_name(p, bit);
            int w = snprintf(out + o, n - o, "%s%s", o > 0 ? ", " : "", name);
            o += w > 0 ? (size_t)w : 0;
        }
    }
}

/* The purposes p requires of ev that it does not grant (0: ev passes p's consent gate). */
static uint32_t missing_purposes(const sl_request_t *req, const sl_event_t *ev,
                                 const sl_policy_t *p, uint32_t granted) {
    sl_ct_stage_t stage = ev->contract != NULL ? ev->contract->stage : SL_STAGE_RAW;
    if (stage == SL_STAGE_CONSENT) {
        return 0; /* the user's choice itself always reaches the consent topic */
    }
    (void)req;
    return sl_policy_event_requires(p, stage, ev->type, ev->type_len) & ~granted;
}

sl_status_t sl_stage_consent(sl_request_t *req) {
    const sl_policy_t *p = req->policy;
    if (p == NULL) {
        return SL_OK;
    }
    for (size_t i = 0; i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        if (ev->outcome != SL_OUT_PENDING) {
            continue;
        }
        ev->granted = granted_of(req, ev, p);
        uint32_t missing = missing_purposes(req, ev, p, ev->granted);
        if (req->shadow != NULL) {
            /* The candidate decides too; a different verdict is a difference. */
            ev->shadow_granted = granted_of(req, ev, req->shadow);
            bool shadow_drops = missing_purposes(req, ev, req->shadow, ev->shadow_granted) != 0;
            ev->shadow_dropped = shadow_drops;
            if (missing != 0) {
                /* Not produced: compared here (the produce stage compares the others). */
                sl_metrics_policy_shadow(!shadow_drops);
            }
        }
        if (missing != 0) {
            sl_ct_stage_t stage = ev->contract != NULL ? ev->contract->stage : SL_STAGE_RAW;
            char names[256];
            purpose_names(p, missing, names, sizeof(names));
            char msg[384];
            snprintf(msg, sizeof(msg),
                     "the %s stage needs consent for %s, which the event does not grant",
                     sl_ct_stage_name(stage), names);
            ev->outcome = SL_OUT_CONSENT_DROPPED;
            ev->code = "consent_missing";
            ev->message = sl_arena_strndup(req->arena, msg, strlen(msg));
        }
    }
    return SL_OK;
}

/* --- redaction ------------------------------------------------------------------------------ */

typedef struct {
    const sl_request_t *req;
    const sl_event_t *ev;
    const sl_policy_t *policy; /* the active one, or the shadow candidate */
    uint32_t granted;          /* ev's purposes as bits of that policy */
    sl_action_t action;        /* of the field decide last saw */
} redact_t;

static int decide(void *arg, const sl_ct_field_t *f, const char *path, size_t path_len) {
    redact_t *r = arg;
    const sl_policy_t *p = r->policy;
    sl_ct_stage_t stage = r->ev->contract != NULL ? r->ev->contract->stage : SL_STAGE_RAW;
    uint32_t requires = 0;
    r->action = sl_policy_field(p, stage, path, path_len, f, &requires);
    if ((requires & ~r->granted) != 0) {
        return SL_CT_VISIT_DROP;
    }
    switch (r->action.kind) {
    case SL_ACT_KEEP:
    case SL_ACT_ALLOW:
        return SL_CT_VISIT_KEEP;
    case SL_ACT_COARSEN_GEO:
        return f->type == SL_CT_DOUBLE || f->type == SL_CT_FLOAT ? SL_CT_VISIT_TRANSFORM
                                                                 : SL_CT_VISIT_DROP;
    case SL_ACT_HMAC:
    case SL_ACT_MASK:
    case SL_ACT_TRUNCATE_IP:
    case SL_ACT_SCRUB:
        return f->type == SL_CT_STRING ? SL_CT_VISIT_TRANSFORM : SL_CT_VISIT_DROP;
    default:
        return SL_CT_VISIT_DROP;
    }
}

static bool transform_string(const redact_t *r, const char *in, size_t n, sl_buf_t *out) {
    const sl_policy_t *p = r->policy;
    switch (r->action.kind) {
    case SL_ACT_HMAC: {
        const sl_hmac_t *h = sl_policy_hmac(p);
        return h != NULL && sl_hmac_redact(h, in, n, out) == SL_OK;
    }
    case SL_ACT_MASK:
        sl_redact_mask(in, n, (size_t)r->action.param, out);
        return true;
    case SL_ACT_TRUNCATE_IP:
        return sl_redact_truncate_ip(in, n, out) == SL_OK; /* not an IP: dropped */
    case SL_ACT_SCRUB:
        (void)sl_scrub(in, n, SL_SCRUB_ALL, out);
        return true;
    default:
        return false;
    }
}

static bool on_string(void *arg, const sl_ct_field_t *f, const char *path, size_t path_len,
                      const char *in, size_t n, sl_buf_t *out) {
    (void)f;
    (void)path;
    (void)path_len;
    return transform_string(arg, in, n, out);
}

static bool on_number(void *arg, const sl_ct_field_t *f, const char *path, size_t path_len,
                      double in, double *out) {
    (void)f;
    (void)path;
    (void)path_len;
    const redact_t *r = arg;
    if (r->action.kind != SL_ACT_COARSEN_GEO) {
        return false;
    }
    *out = sl_redact_coarsen(in, r->action.param);
    return true;
}

/* --- explain: the same visitor, printing each decision ------------------------------------ */

typedef struct {
    redact_t r;
    FILE *out;
} explain_t;

static const char *action_name(sl_action_kind_t k) {
    static const char *const names[] = {"kept (no rule)", "allow",       "drop",        "hmac",
                                        "mask",           "truncate_ip", "coarsen_geo", "scrub"};
    return k <= SL_ACT_SCRUB ? names[k] : "?";
}

static int explain_decide(void *arg, const sl_ct_field_t *f, const char *path, size_t path_len) {
    explain_t *x = arg;
    int d = decide(&x->r, f, path, path_len);
    uint32_t requires = 0;
    sl_ct_stage_t stage = x->r.ev->contract != NULL ? x->r.ev->contract->stage : SL_STAGE_RAW;
    (void)sl_policy_field(x->r.policy, stage, path, path_len, f, &requires);
    bool no_consent = (requires & ~x->r.granted) != 0;
    if (no_consent || x->r.action.kind != SL_ACT_KEEP) {
        size_t line = sl_policy_rule_line(x->r.policy, x->r.action.rule);
        fprintf(x->out, "  %-36.*s %s", (int)path_len, path,
                no_consent ? "drop (consent.fields: a purpose is missing)"
                           : action_name(x->r.action.kind));
        if (!no_consent &&
            (x->r.action.kind == SL_ACT_MASK || x->r.action.kind == SL_ACT_COARSEN_GEO)) {
            fprintf(x->out, " %d", x->r.action.param);
        }
        if (!no_consent && line > 0) {
            fprintf(x->out, "  (policy.yaml:%zu)", line);
        } else if (!no_consent && x->r.action.kind != SL_ACT_KEEP) {
            fprintf(x->out, "  (pii_default, class %s)", f->pii != SL_PII_NONE ? "set" : "none");
        }
        if (d == SL_CT_VISIT_DROP && !no_consent && x->r.action.kind != SL_ACT_DROP) {
            fprintf(x->out, " -> dropped: the action does not apply to this field's type");
        }
        fputc('\n', x->out);
    }
    return d;
}

static bool explain_string(void *arg, const sl_ct_field_t *f, const char *path, size_t path_len,
                           const char *in, size_t n, sl_buf_t *out) {
    return on_string(&((explain_t *)arg)->r, f, path, path_len, in, n, out);
}

static bool explain_number(void *arg, const sl_ct_field_t *f, const char *path, size_t path_len,
                           double in, double *out) {
    return on_number(&((explain_t *)arg)->r, f, path, path_len, in, out);
}

void sl_privacy_explain(const sl_request_t *req, const sl_event_t *ev, sl_buf_t *value, FILE *out) {
    explain_t x = {.r = {.req = req, .ev = ev, .policy = req->policy, .granted = ev->granted},
                   .out = out};
    sl_ct_visitor_t v = {explain_decide, explain_string, explain_number, &x};
    sl_event_encode(req, ev, false, &v, value);
}

void sl_privacy_encode(const sl_request_t *req, const sl_event_t *ev, bool proto, sl_buf_t *out) {
    if (req->policy == NULL) {
        sl_event_encode(req, ev, proto, NULL, out);
        return;
    }
    redact_t r = {.req = req, .ev = ev, .policy = req->policy, .granted = ev->granted};
    sl_ct_visitor_t v = {decide, on_string, on_number, &r};
    sl_event_encode(req, ev, proto, &v, out);
}

void sl_privacy_shadow(const sl_request_t *req, const sl_event_t *ev, bool proto, const char *value,
                       size_t len) {
    if (req->shadow == NULL) {
        return;
    }
    bool differs = ev->shadow_dropped;
    if (!differs) {
        sl_buf_t other;
        sl_buf_init(&other, req->arena, len + 64);
        redact_t r = {.req = req, .ev = ev, .policy = req->shadow, .granted = ev->shadow_granted};
        sl_ct_visitor_t v = {decide, on_string, on_number, &r};
        sl_event_encode(req, ev, proto, &v, &other);
        differs = other.len != len || memcmp(other.data, value, len) != 0;
    }
    sl_metrics_policy_shadow(differs);
}

bool sl_privacy_key(const sl_request_t *req, const sl_event_t *ev, const char *name, const char *in,
                    size_t n, sl_buf_t *out) {
    if (req->policy == NULL) {
        sl_buf_append(out, in, n);
        return true;
    }
    /* The field's descriptor, for its PII class: an envelope field, or properties.<path> in
     * the event's contract. A component no contract declares is not used: nothing says what it
     * holds. */
    const sl_ct_field_t *f = NULL;
    size_t name_len = strlen(name);
    if (name_len > 11 && memcmp(name, "properties.", 11) == 0) {
        const sl_ct_message_t *m = ev->contract;
        const char *seg = name + 11;
        while (m != NULL) {
            size_t sl = strcspn(seg, ".");
            f = sl_ct_field_by_name(m, seg, sl);
            if (f == NULL || seg[sl] == '\0') {
                break;
            }
            seg += sl + 1;
            m = f->message;
            f = NULL;
        }
    } else {
        const sl_ct_message_t *event = sl_contracts_message(sl_envelope(), "sluice.v1.Event");
        f = sl_ct_field_by_name(event, name, name_len);
    }
    if (f == NULL) {
        return false;
    }
    redact_t r = {.req = req, .ev = ev, .policy = req->policy, .granted = ev->granted};
    switch (decide(&r, f, name, name_len)) {
    case SL_CT_VISIT_KEEP:
        sl_buf_append(out, in, n);
        return true;
    case SL_CT_VISIT_TRANSFORM:
        return transform_string(&r, in, n, out);
    default:
        return false;
    }
}

/* --- dead letters: the event as received, redacted field by field --------------------------- */

/* An invalid event may not fit its contract, so the canonical encoder cannot write it. This
 * walks the JSON as it came: a member the envelope or the contract declares, holding a value of
 * the declared kind, gets the policy's decision for that field; anything else (an undeclared
 * member, a value of the wrong kind, properties of an unknown type) is left out, since nothing
 * says what it holds. */
typedef struct {
    redact_t r;
    sl_buf_t *out;
    char path[512];
    size_t path_len;
} dead_t;

static size_t dead_push(dead_t *d, const char *part, bool index) {
    size_t saved = d->path_len, n = index ? 2 : strlen(part), dot = !index && saved > 0;
    if (saved + dot + n < sizeof(d->path)) {
        d->path[saved] = '.';
        memcpy(d->path + saved + dot, index ? "[]" : part, n);
        d->path_len += dot + n;
    }
    return saved;
}

static const sl_ct_field_t *member_field(const sl_ct_message_t *m, const char *name, size_t n) {
    for (size_t i = 0; m != NULL && i < m->n_fields; i++) {
        const sl_ct_field_t *f = &m->fields[i];
        if ((strlen(f->name) == n && memcmp(f->name, name, n) == 0) ||
            (f->json_name != NULL && strlen(f->json_name) == n &&
             memcmp(f->json_name, name, n) == 0)) {
            return f;
        }
    }
    return NULL;
}

static bool kind_fits(const sl_ct_field_t *f, const sl_json_node_t *nd) {
    switch (f->type) {
    case SL_CT_MESSAGE:
        return nd->type == SL_JSON_OBJECT;
    case SL_CT_STRING:
    case SL_CT_BYTES:
        return nd->type == SL_JSON_STRING;
    case SL_CT_BOOL:
        return nd->type == SL_JSON_TRUE || nd->type == SL_JSON_FALSE;
    case SL_CT_ENUM:
        return nd->type == SL_JSON_STRING || nd->type == SL_JSON_NUMBER;
    default: /* numbers; 64-bit integers may come as strings */
        return nd->type == SL_JSON_NUMBER || nd->type == SL_JSON_STRING;
    }
}

static void dead_object(dead_t *d, const sl_ct_message_t *m, uint32_t obj);

/* One value of field f (an element when f is repeated); false when nothing was written. */
static bool dead_value(dead_t *d, const sl_ct_field_t *f, uint32_t node, int decision) {
    const sl_json_doc_t *doc = &d->r.req->doc;
    const sl_json_node_t *nd = &doc->nodes[node];
    if (!kind_fits(f, nd)) {
        return false;
    }
    if (f->type == SL_CT_MESSAGE) {
        dead_object(d, f->message, node);
        return true;
    }
    if (nd->type == SL_JSON_STRING) {
        /* Strings the policy keeps are scrubbed all the same: the value may be the invalid one,
         * and a field that should hold a URL may hold an e-mail address. */
        const char *s;
        size_t n;
        sl_json_str(doc, node, d->r.req->arena, &s, &n);
        sl_buf_t t;
        sl_buf_init(&t, d->r.req->arena, n + 32);
        if (decision == SL_CT_VISIT_TRANSFORM) {
            if (!transform_string(&d->r, s, n, &t)) {
                return false;
            }
        } else {
            (void)sl_scrub(s, n, SL_SCRUB_ALL, &t);
        }
        sl_buf_json_string(d->out, t.data, t.len);
        return true;
    }
    if (decision == SL_CT_VISIT_TRANSFORM) {
        double v;
        if (nd->type != SL_JSON_NUMBER ||
            !on_number(&d->r, f, d->path, d->path_len, sl_json_number(doc, node), &v)) {
            return false;
        }
        sl_buf_printf(d->out, "%.17g", v);
        return true;
    }
    /* Kept: the value as it came. */
    sl_buf_append(d->out, doc->src + nd->start, nd->len);
    return true;
}

static void dead_member(dead_t *d, const sl_ct_field_t *f, uint32_t node, bool *first) {
    const sl_json_doc_t *doc = &d->r.req->doc;
    const sl_json_node_t *nd = &doc->nodes[node];
    if (f == NULL || nd->type == SL_JSON_NULL || (f->repeated && nd->type != SL_JSON_ARRAY)) {
        return;
    }
    size_t saved = dead_push(d, f->name, false);
    int decision = decide(&d->r, f, d->path, d->path_len);
    if (decision != SL_CT_VISIT_DROP) {
        size_t mark = d->out->len;
        if (!*first) {
            sl_buf_append(d->out, ",", 1);
        }
        sl_buf_json_string(d->out, f->name, strlen(f->name));
        sl_buf_append(d->out, ":", 1);
        bool wrote;
        if (!f->repeated) {
            wrote = dead_value(d, f, node, decision);
        } else {
            sl_buf_append(d->out, "[", 1);
            size_t inner = f->type == SL_CT_MESSAGE ? dead_push(d, NULL, true) : d->path_len;
            uint32_t c = node + 1;
            bool any = false;
            for (uint32_t i = 0; i < nd->count; i++) {
                size_t at = d->out->len;
                if (any) {
                    sl_buf_append(d->out, ",", 1);
                }
                if (dead_value(d, f, c, decision)) {
                    any = true;
                } else {
                    d->out->len = at;
                }
                c = doc->nodes[c].end;
            }
            d->path_len = inner;
            sl_buf_append(d->out, "]", 1);
            wrote = true;
        }
        if (wrote) {
            *first = false;
        } else {
            d->out->len = mark;
        }
    }
    d->path_len = saved;
}

/* The envelope's properties (bytes on the wire, an object in JSON): the members of the
 * contract of the event's type, or nothing when the type has none. */
static void dead_properties(dead_t *d, const sl_ct_field_t *f, uint32_t node, bool *first) {
    const sl_ct_message_t *contract = d->r.ev->contract;
    if (contract == NULL || d->r.req->doc.nodes[node].type != SL_JSON_OBJECT) {
        return;
    }
    size_t saved = dead_push(d, f->name, false);
    if (decide(&d->r, f, d->path, d->path_len) != SL_CT_VISIT_DROP) {
        if (!*first) {
            sl_buf_append(d->out, ",", 1);
        }
        sl_buf_puts(d->out, "\"properties\":");
        dead_object(d, contract, node);
        *first = false;
    }
    d->path_len = saved;
}

static void dead_object(dead_t *d, const sl_ct_message_t *m, uint32_t obj) {
    const sl_json_doc_t *doc = &d->r.req->doc;
    bool top = d->path_len == 0;
    bool first = true;
    sl_buf_append(d->out, "{", 1);
    uint32_t k = obj + 1;
    for (uint32_t i = 0; i < doc->nodes[obj].count; i++) {
        uint32_t v = k + 1;
        const sl_json_node_t *kn = &doc->nodes[k];
        const sl_ct_field_t *f = member_field(m, doc->src + kn->start, kn->len);
        if (top && f != NULL && strcmp(f->name, "properties") == 0) {
            dead_properties(d, f, v, &first);
        } else {
            dead_member(d, f, v, &first);
        }
        k = doc->nodes[v].end;
    }
    sl_buf_append(d->out, "}", 1);
}

void sl_privacy_dead_letter(const sl_request_t *req, const sl_event_t *ev, sl_buf_t *out) {
    const sl_json_node_t *nd = &req->doc.nodes[ev->node];
    if (req->policy == NULL) {
        /* No policy: the event as it came. */
        bool str = nd->type == SL_JSON_STRING;
        sl_buf_append(out, req->doc.src + nd->start - str, nd->len + 2 * str);
        return;
    }
    if (nd->type != SL_JSON_OBJECT) {
        sl_buf_puts(out, "{}");
        return;
    }
    /* Rejected before the consent stage, its purposes are read here. */
    dead_t d = {.r = {.req = req,
                      .ev = ev,
                      .policy = req->policy,
                      .granted = granted_of(req, ev, req->policy)},
                .out = out};
    dead_object(&d, sl_contracts_message(sl_envelope(), "sluice.v1.Event"), ev->node);
}
