/* `sluice policy lint|test|explain`: the privacy reviewers' tools. They run the real pipeline
 * stages (decode, validate, contract, consent) and the real redaction on the events they are
 * given, with no Kafka, so what they show is exactly what serving does. */
#include <dirent.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/yamldoc.h"
#include "contracts/contracts.h"
#include "pipeline/pipeline.h"
#include "policy/actions.h"
#include "policy/policy.h"
#include "server/server.h"

/* The key `policy test` and `policy explain` pseudonymize with, so that expected values in
 * test cases are stable: "test:" pseudonyms are never the ones production writes. */
#define TEST_KEY "sluice-policy-test-key-not-for-production"

static const char usage_policy[] =
    "usage: sluice policy lint DIR [--contracts FILE]\n"
    "       sluice policy test DIR [--contracts FILE]\n"
    "       sluice policy explain DIR --event FILE [--tenant T] [--contracts FILE]\n"
    "       sluice policy diff OLD_DIR NEW_DIR [--contracts FILE]\n"
    "\n"
    "DIR holds policy.yaml (docs/policies.md explains it); --contracts is the descriptor set\n"
    "the policy is checked against (default: the catalog this binary was built with).\n"
    "\n"
    "  lint     load and check the policy: schema errors with file:line:column, purposes,\n"
    "           stages, event types, PII classes and paths that do not exist, conflicting\n"
    "           rules; warnings for rules that can never match. Exit 1 on an error.\n"
    "  test     run every case in DIR/tests/*.yaml: an event (JSON), the tenant, and the\n"
    "           expected outcome and produced value; prints PASS/FAIL per case, exit 1 on a\n"
    "           failure. Pseudonyms use a fixed test key (id \"test\"); an expected string\n"
    "           \"HMAC(x)\" stands for the pseudonym of x.\n"
    "  explain  the produced value of one event (a JSON file holding an event or a batch),\n"
    "           and field by field which rule decided what.\n"
    "  diff     what changes between two policies, in plain words: purposes, consent needed\n"
    "           per stage, event type and field, and the action on every field of every\n"
    "           event type (\"product_view context.ip: truncate_ip -> drop\"). Exit 0 when\n"
    "           they behave the same, 1 when they differ, 2 on an error.\n";

typedef struct {
    const char *dir;
    const char *new_dir; /* diff */
    const char *contracts_path;
    const char *event_path;
    const char *tenant;
} opts_t;

static int load(const opts_t *o, sl_contracts_t **c, sl_policy_t **p) {
    sl_error_t err;
    if (sl_contracts_load(o->contracts_path, c, &err) != SL_OK) {
        fprintf(stderr, "sluice policy: contracts: %s\n", err.message);
        return 2;
    }
    if (sl_policy_load(o->dir, *c, p, &err) != SL_OK) {
        fprintf(stderr, "%s\n", err.message);
        sl_contracts_unref(*c);
        return 1;
    }
    sl_policy_set_hmac_key(*p, "test", (const uint8_t *)TEST_KEY, strlen(TEST_KEY));
    return 0;
}

/* Runs body (a JSON event or batch) through the stages up to consent. NULL on a batch fault
 * (printed). */
static sl_request_t *run(sl_contracts_t *c, sl_policy_t *p, const char *tenant, const char *body,
                         size_t len) {
    sl_request_t *req = sl_request_new(NULL);
    req->contracts = sl_contracts_ref(c);
    req->policy = sl_policy_ref(p);
    req->media_type = "application/json";
    /* A lone event is wrapped into a batch. */
    const char *b = body;
    while (*b == ' ' || *b == '\n' || *b == '\t' || *b == '\r') {
        b++;
    }
    if (strstr(b, "\"events\"") == NULL) {
        size_t n = len + 16;
        char *w = sl_arena_alloc(req->arena, n);
        len = (size_t)snprintf(w, n, "{\"events\":[%.*s]}", (int)len, body);
        body = w;
    }
    req->body = body;
    req->body_len = len;
    req->principal.tenant = tenant;
    req->principal.subject = "";
    sl_status_t (*stages[])(sl_request_t *) = {sl_stage_decode, sl_stage_validate,
                                               sl_stage_contract, sl_stage_consent};
    for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
        if (stages[i](req) != SL_OK || req->fault != SL_FAULT_NONE) {
            fprintf(stderr, "  the event could not be processed: %s: %s\n", req->fault_err.code,
                    req->fault_err.message);
            sl_request_free(req);
            return NULL;
        }
    }
    return req;
}

static const char *outcome_name(sl_outcome_t o) {
    switch (o) {
    case SL_OUT_PENDING:
    case SL_OUT_ACCEPTED:
        return "accepted";
    case SL_OUT_INVALID:
        return "invalid";
    case SL_OUT_CONSENT_DROPPED:
        return "consent_dropped";
    default:
        return "other";
    }
}

/* --- lint ---------------------------------------------------------------------------------- */

static int cmd_lint(const opts_t *o) {
    sl_contracts_t *c;
    sl_policy_t *p;
    int rc = load(o, &c, &p);
    if (rc != 0) {
        return rc;
    }
    size_t warnings = sl_policy_lint(p, c, stdout);
    printf("%s/policy.yaml: ok, version %s, %zu warning%s\n", o->dir, sl_policy_version(p),
           warnings, warnings == 1 ? "" : "s");
    sl_policy_unref(p);
    sl_contracts_unref(c);
    return 0;
}

/* --- test ---------------------------------------------------------------------------------- */

/* Expected values may write a pseudonym as "HMAC(<input>)": it is computed with the test key, so
 * a case says which fields are pseudonymized without carrying opaque tokens. */
static void expand_hmac(json_t *j) {
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            if (json_is_string(v)) {
                const char *s = json_string_value(v);
                size_t n = strlen(s);
                if (n >= 6 && strncmp(s, "HMAC(", 5) == 0 && s[n - 1] == ')') {
                    sl_buf_t b;
                    sl_buf_init(&b, NULL, 64);
                    (void)sl_redact_hmac((const uint8_t *)TEST_KEY, strlen(TEST_KEY), "test", s + 5,
                                         n - 6, &b);
                    json_object_set_new(j, k, json_stringn(b.data, b.len));
                    sl_buf_free(&b);
                }
            } else {
                expand_hmac(v);
            }
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            if (json_is_string(v)) {
                json_t *wrap = json_object();
                json_object_set(wrap, "x", v);
                expand_hmac(wrap);
                json_array_set(j, i, json_object_get(wrap, "x"));
                json_decref(wrap);
            } else {
                expand_hmac(v);
            }
        }
    }
}

/* One case file; returns 0 pass, 1 fail. */
static int run_case(const char *path, sl_contracts_t *c, sl_policy_t *p) {
    sl_error_t err;
    sl_yamldoc_t y = {.file = path, .code = "policy_invalid", .err = &err};
    if (sl_yamldoc_load_file(&y) != SL_OK) {
        printf("FAIL %s\n", err.message);
        return 1;
    }
    int failed = 1;
    yaml_node_t *root = sl_yamldoc_root(&y);
    const char *name = sl_yamldoc_get_scalar(&y, root, "name");
    const char *tenant = sl_yamldoc_get_scalar(&y, root, "tenant");
    const char *event = sl_yamldoc_get_scalar(&y, root, "event");
    yaml_node_t *expect = sl_yamldoc_get(&y, root, "expect");
    const char *want_outcome = sl_yamldoc_get_scalar(&y, expect, "outcome");
    const char *want_value = sl_yamldoc_get_scalar(&y, expect, "value");
    const char *label = name != NULL ? name : path;
    if (event == NULL || want_outcome == NULL) {
        printf("FAIL %s: a case needs name, event (JSON) and expect.outcome\n", path);
        goto done;
    }
    sl_request_t *req = run(c, p, tenant != NULL ? tenant : "default", event, strlen(event));
    if (req == NULL || req->n_events != 1) {
        printf("FAIL %s: the event was refused as a whole\n", label);
        sl_request_free(req);
        goto done;
    }
    sl_event_t *ev = &req->events[0];
    const char *got_outcome = outcome_name(ev->outcome);
    if (strcmp(got_outcome, want_outcome) != 0) {
        printf("FAIL %s\n     outcome: expected %s, got %s (%s: %s)\n", label, want_outcome,
               got_outcome, ev->code ? ev->code : "-", ev->message ? ev->message : "-");
        sl_request_free(req);
        goto done;
    }
    if (want_value != NULL) {
        sl_buf_t value;
        sl_buf_init(&value, req->arena, 512);
        sl_privacy_encode(req, ev, false, &value);
        json_t *got = json_loadb(value.data, value.len, 0, NULL);
        json_error_t jerr;
        json_t *want = json_loads(want_value, 0, &jerr);
        expand_hmac(want);
        if (want == NULL) {
            printf("FAIL %s: expect.value is not JSON: %s\n", label, jerr.text);
        } else if (!json_equal(got, want)) {
            char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
            char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
            printf("FAIL %s\n     expected %s\n     got      %s\n", label, w, g);
            free(w);
            free(g);
        } else {
            failed = 0;
        }
        json_decref(got);
        json_decref(want);
    } else {
        failed = 0;
    }
    if (!failed) {
        printf("PASS %s\n", label);
    }
    sl_request_free(req);
done:
    sl_yamldoc_free(&y);
    return failed;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int yaml_file(const struct dirent *d) {
    size_t n = strlen(d->d_name);
    return n > 5 && strcmp(d->d_name + n - 5, ".yaml") == 0;
}

static int cmd_test(const opts_t *o) {
    sl_contracts_t *c;
    sl_policy_t *p;
    int rc = load(o, &c, &p);
    if (rc != 0) {
        return rc;
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/tests", o->dir);
    struct dirent **list = NULL;
    int n = scandir(dir, &list, yaml_file, by_name);
    if (n < 0) {
        fprintf(stderr, "sluice policy test: %s: no test directory\n", dir);
        n = 0;
    }
    int failures = 0;
    for (int i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
        failures += run_case(path, c, p);
        free(list[i]);
    }
    free(list);
    printf("%d case%s, %d passed, %d failed (policy %s)\n", n, n == 1 ? "" : "s", n - failures,
           failures, sl_policy_version(p));
    sl_policy_unref(p);
    sl_contracts_unref(c);
    return failures > 0 || n == 0 ? 1 : 0;
}

/* --- explain ------------------------------------------------------------------------------- */

static int cmd_explain(const opts_t *o) {
    sl_contracts_t *c;
    sl_policy_t *p;
    int rc = load(o, &c, &p);
    if (rc != 0) {
        return rc;
    }
    FILE *f = fopen(o->event_path, "rb");
    if (f == NULL) {
        fprintf(stderr, "sluice policy explain: cannot open %s\n", o->event_path);
        return 2;
    }
    char *body = malloc(1 << 20);
    size_t len = fread(body, 1, (1 << 20) - 1, f);
    body[len] = '\0';
    fclose(f);
    sl_request_t *req = run(c, p, o->tenant, body, len);
    rc = req == NULL ? 1 : 0;
    for (size_t i = 0; req != NULL && i < req->n_events; i++) {
        sl_event_t *ev = &req->events[i];
        printf("event %zu: %s%s%s%s\n", i, outcome_name(ev->outcome), ev->code ? " (" : "",
               ev->code ? ev->code : "", ev->code ? ")" : "");
        if (ev->message != NULL) {
            printf("  %s\n", ev->message);
        }
        if (ev->outcome != SL_OUT_PENDING) {
            continue;
        }
        sl_buf_t value;
        sl_buf_init(&value, req->arena, 512);
        sl_privacy_explain(req, ev, &value, stdout);
        printf("  value: %.*s\n", (int)value.len, value.data);
    }
    printf("policy %s\n", sl_policy_version(p));
    sl_request_free(req);
    free(body);
    sl_policy_unref(p);
    sl_contracts_unref(c);
    return rc;
}

static int cmd_diff(const opts_t *o) {
    sl_contracts_t *c;
    sl_policy_t *a, *b;
    int rc = load(o, &c, &a);
    if (rc != 0) {
        return 2;
    }
    sl_error_t err;
    if (sl_policy_load(o->new_dir, c, &b, &err) != SL_OK) {
        fprintf(stderr, "%s\n", err.message);
        sl_policy_unref(a);
        sl_contracts_unref(c);
        return 2;
    }
    printf("%s -> %s\n", sl_policy_version(a), sl_policy_version(b));
    size_t n = sl_policy_diff(a, b, c, stdout);
    if (n == 0) {
        printf("no difference in behaviour\n");
    }
    sl_policy_unref(a);
    sl_policy_unref(b);
    sl_contracts_unref(c);
    return n > 0 ? 1 : 0;
}

int sl_policy_main(int argc, char **argv, const char *default_contracts) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_policy, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    static const struct option longopts[] = {{"contracts", required_argument, NULL, 'c'},
                                             {"event", required_argument, NULL, 'e'},
                                             {"tenant", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    opts_t o = {.contracts_path = default_contracts, .tenant = "default"};
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "c:e:t:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o.contracts_path = optarg;
            break;
        case 'e':
            o.event_path = optarg;
            break;
        case 't':
            o.tenant = optarg;
            break;
        case 'h':
            fputs(usage_policy, stdout);
            return 0;
        default:
            fputs(usage_policy, stderr);
            return 2;
        }
    }
    bool diff = strcmp(verb, "diff") == 0;
    if (optind != argc - (diff ? 2 : 1)) {
        fputs(usage_policy, stderr);
        return 2;
    }
    o.dir = argv[optind];
    o.new_dir = diff ? argv[optind + 1] : NULL;
    /* The stages read limits from a published configuration: the defaults. */
    sl_config_t *cfg;
    sl_error_t err;
    const char *sets[] = {"kafka.brokers=embedded", "log.level=error"};
    if (sl_config_build(NULL, sets, 2, &cfg, &err) != SL_OK) {
        fprintf(stderr, "sluice policy: %s\n", err.message);
        return 2;
    }
    sl_config_publish(cfg);
    int rc;
    if (strcmp(verb, "lint") == 0) {
        rc = cmd_lint(&o);
    } else if (strcmp(verb, "test") == 0) {
        rc = cmd_test(&o);
    } else if (strcmp(verb, "explain") == 0 && o.event_path != NULL) {
        rc = cmd_explain(&o);
    } else if (diff) {
        rc = cmd_diff(&o);
    } else {
        fputs(usage_policy, stderr);
        rc = 2;
    }
    sl_config_publish(NULL);
    sl_config_unref(cfg);
    return rc;
}
