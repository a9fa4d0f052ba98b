#include "server/server.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "config/config.h"
#include "config/file.h"
#include "contracts/contracts.h"
#include "core/log.h"
#include "metrics/metrics.h"
#include "pipeline/pipeline.h"
#include "policy/policy.h"
#include "sink/sink.h"
#include "sink/suppression.h"
#include "transport/admin/admin.h"
#include "transport/public.h"

#ifndef SL_VERSION
#define SL_VERSION "0.0.0"
#endif
#ifndef SL_CONTRACTS_DEFAULT
#define SL_CONTRACTS_DEFAULT ""
#endif

typedef struct {
    const sl_serve_opts_t *opts;
    sl_sink_t *sink;
    sl_pipeline_t *pipeline;
    sl_public_t *http;
    sl_admin_t *admin;
    char *dev_key; /* the generated development secret of the embedded default, or NULL */
    sl_suppression_t *suppression;
    pthread_mutex_t reload_lock;
} app_t;

static bool app_alive(void *arg, char *why, size_t n) {
    app_t *app = arg;
    return sl_sink_alive(app->sink, why, n);
}

static bool app_ready(void *arg, char *why, size_t n) {
    app_t *app = arg;
    if (sl_pipeline_draining(app->pipeline)) {
        snprintf(why, n, "draining");
        return false;
    }
    return sl_sink_ready(app->sink, why, n);
}

static void app_info(void *arg, sl_buf_t *out) {
    app_t *app = arg;
    sl_config_t *cfg = sl_config_acquire();
    const char *bootstrap = sl_sink_bootstrap(app->sink);
    sl_buf_puts(out, "{\"version\":\"" SL_VERSION "\",\"listen\":{\"http\":");
    sl_buf_json_string(out, sl_public_address(app->http), strlen(sl_public_address(app->http)));
    sl_buf_puts(out, ",\"admin\":");
    sl_buf_json_string(out, sl_admin_address(app->admin), strlen(sl_admin_address(app->admin)));
    sl_buf_puts(out, "},\"kafka\":{\"bootstrap\":");
    sl_buf_json_string(out, bootstrap, strlen(bootstrap));
    sl_buf_printf(out, ",\"embedded\":%s},\"topics\":{",
                  sl_sink_embedded(app->sink) != NULL ? "true" : "false");
    const char *names[SL_CFG_NTOPICS], *topics[SL_CFG_NTOPICS];
    size_t ntopics = sl_config_topics(cfg, names, topics);
    for (size_t i = 0; i < ntopics; i++) {
        sl_buf_printf(out, "%s\"%s\":", i > 0 ? "," : "", names[i]);
        sl_buf_json_string(out, topics[i], strlen(topics[i]));
    }
    sl_contracts_t *contracts = sl_pipeline_contracts(app->pipeline);
    sl_buf_puts(out, "},\"contracts\":{\"file\":");
    const char *file =
        strcmp(cfg->contracts.file, "builtin") == 0 ? SL_CONTRACTS_DEFAULT : cfg->contracts.file;
    sl_buf_json_string(out, file, strlen(file));
    sl_buf_printf(out, ",\"event_types\":%zu}",
                  contracts != NULL ? sl_contracts_count(contracts) : 0);
    sl_contracts_unref(contracts);
    sl_policy_t *policy = sl_pipeline_policy(app->pipeline);
    sl_policy_t *shadow = sl_pipeline_shadow(app->pipeline);
    const char *pv = policy != NULL ? sl_policy_version(policy) : "none";
    sl_buf_puts(out, ",\"policy\":{\"dir\":");
    sl_buf_json_string(out, cfg->policies.dir, strlen(cfg->policies.dir));
    sl_buf_puts(out, ",\"policy_version\":");
    sl_buf_json_string(out, pv, strlen(pv));
    if (shadow != NULL) {
        sl_buf_puts(out, ",\"shadow_version\":");
        sl_buf_json_string(out, sl_policy_version(shadow), strlen(sl_policy_version(shadow)));
    }
    sl_buf_puts(out, "}");
    sl_policy_unref(policy);
    sl_policy_unref(shadow);
    sl_buf_puts(out, ",\"config\":{\"source\":");
    sl_buf_json_string(out, cfg->source, strlen(cfg->source));
    sl_buf_puts(out, "}}\n");
    sl_config_unref(cfg);
}

/* The policy in dir ("builtin": the repo's) with its HMAC key; key is the config key named in
 * errors. */
static int load_policy(app_t *app, const sl_config_t *cfg, const char *key, const char *dir,
                       const sl_contracts_t *contracts, sl_policy_t **out, sl_error_t *err) {
    sl_error_t e;
    if (strcmp(dir, "builtin") == 0) {
        dir = SL_POLICIES_DEFAULT;
    }
    if (sl_policy_load(dir, contracts, out, &e) != SL_OK) {
        sl_error_set(err, SL_REJECT, e.code, "%s: %s", key, e.message);
        return -1;
    }
    if (cfg->policies.hmac_key_file[0] != '\0') {
        char *k;
        size_t n;
        if (sl_config_read_secret("policies.hmac_key_file", cfg->policies.hmac_key_file, 4096, &k,
                                  &n, err) != SL_OK) {
            return -1;
        }
        bool long_enough = n >= 32;
        if (long_enough) {
            sl_policy_set_hmac_key(*out, cfg->policies.hmac_key_id, (const uint8_t *)k, n);
        }
        explicit_bzero(k, n);
        free(k);
        if (!long_enough) {
            sl_error_set(err, SL_REJECT, "config_wrong_value",
                         "policies.hmac_key_file: %s: the key must be 32 to 4096 bytes",
                         cfg->policies.hmac_key_file);
            return -1;
        }
    } else if (app->dev_key != NULL) {
        sl_policy_set_hmac_key(*out, "dev", (const uint8_t *)app->dev_key, strlen(app->dev_key));
    } else if (sl_policy_uses_hmac(*out)) {
        sl_error_set(err, SL_REJECT, "config_missing",
                     "policies.hmac_key_file: required, the policy in %s pseudonymizes with hmac",
                     key);
        return -1;
    }
    return 0;
}

/* What the configuration names for events: the contracts (NULL when validation is off), the
 * policy (NULL when off) and a shadow policy (NULL when none). All or nothing. */
typedef struct {
    sl_contracts_t *contracts;
    sl_policy_t *policy;
    sl_policy_t *shadow;
} rules_t;

static void rules_release(rules_t *r) {
    sl_contracts_unref(r->contracts);
    sl_policy_unref(r->policy);
    sl_policy_unref(r->shadow);
    memset(r, 0, sizeof(*r));
}

static int load_rules(app_t *app, const sl_config_t *cfg, rules_t *r, sl_error_t *err) {
    memset(r, 0, sizeof(*r));
    const char *path = cfg->contracts.file;
    sl_error_t e;
    if (path[0] != '\0') {
        if (strcmp(path, "builtin") == 0) {
            path = SL_CONTRACTS_DEFAULT;
        }
        if (sl_contracts_load(path, &r->contracts, &e) != SL_OK) {
            sl_error_set(err, SL_REJECT, e.code, "contracts.file: %s", e.message);
            return -1;
        }
    }
    if ((cfg->policies.dir[0] != '\0' && load_policy(app, cfg, "policies.dir", cfg->policies.dir,
                                                     r->contracts, &r->policy, err) != 0) ||
        (cfg->policies.shadow_dir[0] != '\0' &&
         load_policy(app, cfg, "policies.shadow_dir", cfg->policies.shadow_dir, r->contracts,
                     &r->shadow, err) != 0)) {
        rules_release(r);
        return -1;
    }
    return 0;
}

static void rules_apply(app_t *app, const rules_t *r) {
    sl_pipeline_set_contracts(app->pipeline, r->contracts);
    sl_pipeline_set_policy(app->pipeline, r->policy);
    sl_pipeline_set_shadow(app->pipeline, r->shadow);
}

typedef struct {
    sl_buf_t *out;
    size_t n;
} changes_t;

static void list_change(void *arg, const sl_ct_change_t *c) {
    changes_t *ch = arg;
    if (!c->breaking) {
        return;
    }
    sl_buf_puts(ch->out, ch->n++ > 0 ? "," : "");
    sl_buf_json_string(ch->out, c->what, strlen(c->what));
}

/* Builds the snapshot the options describe; the embedded default's generated key carries over. */
static int build_config(app_t *app, sl_config_t **out, sl_error_t *err) {
    const sl_serve_opts_t *o = app->opts;
    if (sl_config_build(o->config_path, o->sets, o->nsets, out, err) != SL_OK) {
        return -1;
    }
    sl_config_t *cfg = *out;
    if (cfg->auth_key == NULL && strcmp(cfg->kafka.brokers, "embedded") == 0) {
        if (app->dev_key == NULL) {
            unsigned char raw[32];
            if (RAND_bytes(raw, sizeof(raw)) != 1) {
                abort();
            }
            app->dev_key = malloc(65);
            for (int i = 0; i < 32; i++) {
                snprintf(app->dev_key + (size_t)i * 2, 3, "%02x", raw[i]);
            }
        }
        cfg->auth_key = strdup(app->dev_key);
        cfg->auth_key_len = strlen(app->dev_key);
        if (sl_config_load_keyring(cfg, err) != SL_OK) {
            return -1; /* the caller releases *out */
        }
    }
    return 0;
}

static int app_reload(void *arg, bool force, sl_buf_t *out) {
    app_t *app = arg;
    pthread_mutex_lock(&app->reload_lock);
    sl_error_t err;
    sl_config_t *next = NULL;
    rules_t rules = {0};
    int status = 200;
    if (build_config(app, &next, &err) != 0 || load_rules(app, next, &rules, &err) != 0) {
        sl_metrics_config_reload(0);
        SL_WARN("reload refused: %s", err.message);
        sl_buf_puts(out, "{\"ok\":false,\"error\":{\"code\":");
        sl_buf_json_string(out, err.code, strlen(err.code));
        sl_buf_puts(out, ",\"message\":");
        sl_buf_json_string(out, err.message, strlen(err.message));
        sl_buf_puts(out, "}}\n");
        status = 400;
        goto done;
    }
    sl_contracts_t *running = sl_pipeline_contracts(app->pipeline);
    if (running != NULL && rules.contracts != NULL) {
        sl_buf_t list;
        sl_buf_init(&list, NULL, 256);
        changes_t ch = {&list, 0};
        size_t breaking = sl_contracts_diff(running, rules.contracts, list_change, &ch);
        if (breaking > 0 && !force) {
            sl_metrics_config_reload(0);
            SL_WARN("reload refused: the new contracts break %zu things in the running ones "
                    "(POST /-/reload?force=true to apply anyway)",
                    breaking);
            sl_buf_printf(out,
                          "{\"ok\":false,\"error\":{\"code\":\"breaking_contracts\","
                          "\"message\":\"the new contracts are incompatible with the running "
                          "ones; fix them or reload with ?force=true\"},\"breaking\":[%.*s]}\n",
                          (int)list.len, list.data);
            status = 409;
        }
        sl_buf_free(&list);
    }
    sl_contracts_unref(running);
    if (status != 200) {
        goto done;
    }
    sl_config_t *cur = sl_config_acquire();
    char restart[512];
    sl_config_restart_diff(cur, next, restart, sizeof(restart));
    sl_config_unref(cur);
    sl_log_set_level((sl_log_level_t)sl_log_level_parse(next->log.level));
    rules_apply(app, &rules);
    sl_config_publish(next);
    sl_metrics_config_reload(1);
    SL_INFO("configuration reloaded%s%s", restart[0] ? "; needs a restart to apply: " : "",
            restart);
    sl_buf_puts(out, "{\"ok\":true,\"restart_required\":");
    sl_buf_json_string(out, restart, strlen(restart));
    sl_buf_printf(out, ",\"contracts\":%zu,\"policy_version\":",
                  rules.contracts != NULL ? sl_contracts_count(rules.contracts) : 0);
    const char *version = rules.policy != NULL ? sl_policy_version(rules.policy) : "none";
    sl_buf_json_string(out, version, strlen(version));
    sl_buf_puts(out, "}\n");
done:
    sl_config_unref(next);
    rules_release(&rules);
    pthread_mutex_unlock(&app->reload_lock);
    return status;
}

static void print_banner(app_t *app, const sl_config_t *cfg) {
    const char *bootstrap = sl_sink_bootstrap(app->sink);
    bool embedded = sl_sink_embedded(app->sink) != NULL;
    printf("sluice %s\n", SL_VERSION);
    printf("  public  http://%s  (POST /v1/events /v1/beacon; HTTP/1.1, h2c and gRPC "
           "sluice.v1.Ingest)\n",
           sl_public_address(app->http));
    if (sl_public_tls_address(app->http) != NULL) {
        printf("  tls     https://%s  (the same endpoints; ALPN h2 or http/1.1)\n",
               sl_public_tls_address(app->http));
    }
    printf("  admin   http://%s  (/healthz /readyz /metrics /info, POST /-/reload)\n",
           sl_admin_address(app->admin));
    printf("  kafka   %s%s\n", bootstrap,
           embedded ? "  (embedded broker; nothing kept on disk)" : "");
    const char *names[SL_CFG_NTOPICS], *topics[SL_CFG_NTOPICS];
    size_t ntopics = sl_config_topics(cfg, names, topics);
    printf("  topics ");
    for (size_t i = 0; i < ntopics; i++) {
        printf(" %s=%s", names[i], topics[i]);
    }
    printf("\n");
    sl_contracts_t *contracts = sl_pipeline_contracts(app->pipeline);
    if (contracts != NULL) {
        printf("  schema  %zu event contracts (contracts.file=%s)\n", sl_contracts_count(contracts),
               cfg->contracts.file);
    } else {
        printf("  schema  contract validation off (contracts.file is empty)\n");
    }
    sl_contracts_unref(contracts);
    sl_policy_t *policy = sl_pipeline_policy(app->pipeline);
    printf("  policy  %s (policies.dir=%s)\n",
           policy != NULL ? sl_policy_version(policy) : "off: personal data is not redacted",
           cfg->policies.dir);
    sl_policy_unref(policy);
    sl_policy_t *shadow = sl_pipeline_shadow(app->pipeline);
    if (shadow != NULL) {
        printf("  shadow  %s (policies.shadow_dir=%s; compared, not applied)\n",
               sl_policy_version(shadow), cfg->policies.shadow_dir);
    }
    sl_policy_unref(shadow);
    if (embedded && app->dev_key != NULL) {
        sl_error_t err;
        sl_mint_t m = {.tenant = "dev",
                       .subject = "developer",
                       .ttl_s = 24L * 3600,
                       .scope = "write:* privacy:erasure"};
        char *token = sl_auth_mint(cfg, &m, &err);
        if (token != NULL) {
            printf("  token   %s\n", token);
            printf("          (development token: tenant \"dev\", scopes write:* privacy:erasure, "
                   "valid "
                   "24h, signed with a key generated for this run)\n");
            printf("  try     curl -H 'Authorization: Bearer %s' -H 'Content-Type: "
                   "application/json' \\\n"
                   "            -d '{\"events\":[{\"event_id\":\"e1\",\"type\":\"page_view\","
                   "\"occurred_at\":\"2026-01-01T00:00:00Z\",\"user_id\":\"u1\","
                   "\"properties\":{\"url\":\"https://shop.example.com/\"}}]}' \\\n"
                   "            http://%s/v1/events\n",
                   token, sl_public_address(app->http));
            printf("          kcat -b %s -C -t %s -e -f '%%k %%h %%s\\n'\n", bootstrap,
                   cfg->topics.raw);
            free(token);
        }
    }
    printf("ready for traffic once /readyz answers 200; SIGTERM drains, SIGHUP reloads\n");
    fflush(stdout);
}

static void drain(app_t *app, const sl_config_t *cfg) {
    SL_INFO("draining: refusing new batches, waiting up to %lldms for deliveries",
            (long long)cfg->shutdown.timeout_ms);
    sl_pipeline_set_draining(app->pipeline);
    sl_public_quiesce(app->http);
    int left = sl_sink_flush(app->sink, (int)cfg->shutdown.timeout_ms);
    if (left > 0) {
        SL_WARN("draining: %d events not acknowledged in time; purging them (answered retryable)",
                left);
        sl_sink_purge(app->sink);
        sl_sink_flush(app->sink, 5000);
    }
    /* Every request is complete now; give the I/O threads time to write the answers. */
    for (int i = 0; i < 500 && sl_public_active(app->http) > 0; i++) {
        struct timespec ts = {0, 10L * 1000000};
        nanosleep(&ts, NULL);
    }
    if (sl_public_active(app->http) > 0) {
        SL_WARN("draining: %d requests still open at exit", sl_public_active(app->http));
    }
}

int sl_serve(const sl_serve_opts_t *opts) {
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    app_t app = {.opts = opts};
    pthread_mutex_init(&app.reload_lock, NULL);
    int rc = 1;
    sl_error_t err;
    sl_config_t *cfg = NULL;
    rules_t rules = {0};
    if (build_config(&app, &cfg, &err) != 0 || load_rules(&app, cfg, &rules, &err) != 0) {
        fprintf(stderr, "sluice: %s\n", err.message);
        rc = 2;
        goto done;
    }
    if (opts->check_only) {
        printf("configuration OK (%s; %zu event contracts)\n", cfg->source,
               rules.contracts != NULL ? sl_contracts_count(rules.contracts) : 0);
        rc = 0;
        goto done;
    }
    sl_log_set_level((sl_log_level_t)sl_log_level_parse(cfg->log.level));
    sl_config_publish(cfg);

    if (sl_sink_new(cfg, sl_pipeline_on_delivery, &app.sink, &err) != SL_OK) {
        fprintf(stderr, "sluice: %s\n", err.message);
        goto done;
    }
    app.pipeline = sl_pipeline_new(app.sink);
    rules_apply(&app, &rules);
    /* Every erasure so far, before the first event is taken. */
    app.suppression = sl_suppression_new();
    size_t erased = 0;
    if (sl_suppression_load(app.suppression, sl_sink_bootstrap(app.sink), cfg->topics.suppression,
                            cfg->kafka.delivery_timeout_ms, &erased, &err) != SL_OK) {
        fprintf(stderr, "sluice: %s\n", err.message);
        goto done;
    }
    sl_pipeline_set_suppression(app.pipeline, app.suppression);
    SL_INFO("suppression list: %zu erased subjects loaded from %s", erased,
            cfg->topics.suppression);
    if (sl_public_start(cfg, app.pipeline, &app.http, &err) != SL_OK) {
        fprintf(stderr, "sluice: %s\n", err.message);
        goto done;
    }
    sl_admin_hooks_t hooks = {app_alive, app_ready, app_info, app_reload, &app};
    if (sl_admin_start(cfg->listen.admin, &hooks, &app.admin, &err) != SL_OK) {
        fprintf(stderr, "sluice: %s\n", err.message);
        goto done;
    }
    print_banner(&app, cfg);

    for (;;) {
        int sig = 0;
        sigwait(&sigs, &sig);
        if (sig == SIGHUP) {
            sl_buf_t out;
            sl_buf_init(&out, NULL, 256);
            app_reload(&app, false, &out);
            sl_buf_free(&out);
            continue;
        }
        break;
    }
    sl_config_t *now = sl_config_acquire();
    drain(&app, now);
    sl_config_unref(now);
    rc = 0;
    SL_INFO("stopped");
done:
    sl_admin_stop(app.admin);
    sl_public_stop(app.http);
    sl_sink_destroy(app.sink);
    sl_pipeline_free(app.pipeline);
    sl_suppression_free(app.suppression);
    sl_config_publish(NULL);
    sl_config_unref(cfg);
    rules_release(&rules);
    free(app.dev_key);
    pthread_mutex_destroy(&app.reload_lock);
    return rc;
}
