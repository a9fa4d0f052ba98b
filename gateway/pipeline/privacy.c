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
    const sl_ct_message_t *event = sl_contracts_message(sl_envelope(), "sluice.v1.Event");
    const sl_ct_field_t *f = sl_ct_field_by_name(event, name, strlen(name));
    redact_t r = {.req = req, .ev = ev, .policy = req->policy, .granted = ev->granted};
    switch (decide(&r, f, name, strlen(name))) {
    case SL_CT_VISIT_KEEP:
        sl_buf_append(out, in, n);
        return true;
    case SL_CT_VISIT_TRANSFORM:
        return transform_string(&r, in, n, out);
    default:
        return false;
    }
}
