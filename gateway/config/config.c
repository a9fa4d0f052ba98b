#include "config/config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/file.h"
#include "config/keytpl.h"
#include "core/log.h"

static const sl_cfg_key_t *find_key(const char *key) {
    size_t n;
    const sl_cfg_key_t *keys = sl_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i].key, key) == 0) {
            return &keys[i];
        }
    }
    return NULL;
}

static void *field(sl_config_t *cfg, const sl_cfg_key_t *k) {
    return (char *)cfg + k->offset;
}

static const void *cfield(const sl_config_t *cfg, const sl_cfg_key_t *k) {
    return (const char *)cfg + k->offset;
}

/* Parses "<int><suffix>" with suffixes from units; *out = int * factor. */
static int parse_scaled(const char *text, const char *const *units, const int64_t *factors,
                        size_t nunits, bool unit_required, int64_t *out) {
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (end == text || errno != 0 || v < 0) {
        return -1;
    }
    while (*end == ' ') {
        end++;
    }
    if (*end == '\0') {
        if (unit_required && v != 0) {
            return -1;
        }
        *out = v;
        return 0;
    }
    for (size_t i = 0; i < nunits; i++) {
        if (strcmp(end, units[i]) == 0) {
            if (v > INT64_MAX / factors[i]) {
                return -1;
            }
            *out = v * factors[i];
            return 0;
        }
    }
    return -1;
}

static const char *type_hint(const sl_cfg_key_t *k) {
    switch (k->type) {
    case SL_CFG_STRING:
        return "a string";
    case SL_CFG_INT:
        return "an integer";
    case SL_CFG_BOOL:
        return "true or false";
    case SL_CFG_DURATION:
        return "a duration such as 500ms, 30s, 5m or 1h";
    case SL_CFG_SIZE:
        return "a size in bytes such as 65536, 64KiB or 1MiB";
    case SL_CFG_ENUM:
        return k->choices;
    }
    return "a value";
}

/* Sets k in cfg from text; where is the position for messages ("file:3:7" or "--set"). */
static const char *const dur_units[] = {"ms", "s", "m", "h"};
static const int64_t dur_factors[] = {1, 1000, 60000, 3600000};

int sl_config_parse_duration(const char *text, int64_t *ms) {
    return parse_scaled(text, dur_units, dur_factors, 4, true, ms);
}

static sl_status_t set_value(sl_config_t *cfg, const sl_cfg_key_t *k, const char *text,
                             const char *where, sl_error_t *err) {
    static const char *const size_units[] = {"B", "KiB", "MiB", "GiB"};
    static const int64_t size_factors[] = {1, 1024, 1024L * 1024, 1024L * 1024 * 1024};
    int64_t v = 0;
    switch (k->type) {
    case SL_CFG_STRING: {
        char **slot = field(cfg, k);
        free(*slot);
        *slot = strdup(text);
        return SL_OK;
    }
    case SL_CFG_ENUM: {
        size_t tl = strlen(text);
        const char *c = k->choices;
        while (*c != '\0') {
            const char *bar = strchr(c, '|');
            size_t cl = bar != NULL ? (size_t)(bar - c) : strlen(c);
            if (cl == tl && strncmp(c, text, cl) == 0) {
                char **slot = field(cfg, k);
                free(*slot);
                *slot = strdup(text);
                return SL_OK;
            }
            c += cl + (bar != NULL ? 1 : 0);
        }
        return sl_error_set(err, SL_REJECT, "config_wrong_value",
                            "%s: %s: expected one of %s, got \"%s\"", where, k->key, k->choices,
                            text);
    }
    case SL_CFG_BOOL: {
        bool b;
        if (strcmp(text, "true") == 0) {
            b = true;
        } else if (strcmp(text, "false") == 0) {
            b = false;
        } else {
            return sl_error_set(err, SL_REJECT, "config_wrong_type",
                                "%s: %s: expected true or false, got \"%s\"", where, k->key, text);
        }
        *(bool *)field(cfg, k) = b;
        return SL_OK;
    }
    case SL_CFG_INT:
        if (parse_scaled(text, NULL, NULL, 0, false, &v) != 0) {
            if (text[0] == '-' && text[1] >= '0' && text[1] <= '9') {
                return sl_error_set(err, SL_REJECT, "config_out_of_range",
                                    "%s: %s: %s is out of range [%" PRId64 ", %" PRId64 "]", where,
                                    k->key, text, k->min, k->max);
            }
            goto wrong_type;
        }
        break;
    case SL_CFG_DURATION:
        if (parse_scaled(text, dur_units, dur_factors, 4, true, &v) != 0) {
            goto wrong_type;
        }
        break;
    case SL_CFG_SIZE:
        if (parse_scaled(text, size_units, size_factors, 4, false, &v) != 0) {
            goto wrong_type;
        }
        break;
    }
    if (k->min != 0 || k->max != 0) {
        if (v < k->min || v > k->max) {
            return sl_error_set(err, SL_REJECT, "config_out_of_range",
                                "%s: %s: %s is out of range [%" PRId64 ", %" PRId64 "]%s", where,
                                k->key, text, k->min, k->max,
                                k->type == SL_CFG_DURATION ? " (milliseconds)"
                                : k->type == SL_CFG_SIZE   ? " (bytes)"
                                                           : "");
        }
    }
    *(int64_t *)field(cfg, k) = v;
    return SL_OK;
wrong_type:
    return sl_error_set(err, SL_REJECT, "config_wrong_type", "%s: %s: expected %s, got \"%s\"",
                        where, k->key, type_hint(k), text);
}

static void config_free(sl_config_t *cfg) {
    size_t n;
    const sl_cfg_key_t *keys = sl_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        if (keys[i].type == SL_CFG_STRING || keys[i].type == SL_CFG_ENUM) {
            free(*(char **)field(cfg, &keys[i]));
        }
    }
    if (cfg->auth_key != NULL) {
        explicit_bzero(cfg->auth_key, cfg->auth_key_len);
    }
    free(cfg->auth_key);
    sl_keyring_free(cfg->keyring);
    sl_keying_free(cfg->keying);
    sl_config_free_tls(cfg);
    free(cfg->source);
    free(cfg);
}

/* ---- YAML ---- */

#define MAX_PATH_DEPTH 8

typedef struct {
    sl_config_t *cfg;
    const char *path;
    sl_error_t *err;
} yaml_ctx_t;

static sl_status_t yaml_fail(yaml_ctx_t *y, const yaml_mark_t *m, const char *code,
                             const char *what) {
    return sl_error_set(y->err, SL_REJECT, code, "%s:%zu:%zu: %s", y->path, m->line + 1,
                        m->column + 1, what);
}

/* Walks one mapping whose key prefix is prefix; the MAPPING-START event has been consumed. */
static sl_status_t walk_mapping(yaml_ctx_t *y, yaml_parser_t *p, const char *prefix, int depth) {
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev)) {
            return sl_error_set(y->err, SL_REJECT, "config_yaml_syntax", "%s:%zu:%zu: %s", y->path,
                                p->problem_mark.line + 1, p->problem_mark.column + 1,
                                p->problem != NULL ? p->problem : "YAML syntax error");
        }
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return SL_OK;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            yaml_mark_t m = ev.start_mark;
            yaml_event_delete(&ev);
            return yaml_fail(y, &m, "config_wrong_type", "expected a key name");
        }
        char key[256];
        int kl = snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] != '\0' ? "." : "",
                          (const char *)ev.data.scalar.value);
        yaml_mark_t key_mark = ev.start_mark;
        yaml_event_delete(&ev);
        if (kl < 0 || (size_t)kl >= sizeof(key)) {
            return yaml_fail(y, &key_mark, "config_unknown_key", "key path too long");
        }

        yaml_event_t val;
        if (!yaml_parser_parse(p, &val)) {
            return sl_error_set(y->err, SL_REJECT, "config_yaml_syntax", "%s:%zu:%zu: %s", y->path,
                                p->problem_mark.line + 1, p->problem_mark.column + 1,
                                p->problem != NULL ? p->problem : "YAML syntax error");
        }
        sl_status_t rc = SL_OK;
        char msg[1024];
        if (val.type == YAML_MAPPING_START_EVENT) {
            bool known_prefix = false;
            size_t n;
            const sl_cfg_key_t *keys = sl_config_keys(&n);
            size_t kl2 = strlen(key);
            for (size_t i = 0; i < n && !known_prefix; i++) {
                known_prefix = strncmp(keys[i].key, key, kl2) == 0 && keys[i].key[kl2] == '.';
            }
            const sl_cfg_key_t *k = find_key(key);
            if (k != NULL) {
                /* keys.raw: {tenant}:{user_id} is a YAML flow mapping, not a string. */
                snprintf(msg, sizeof(msg),
                         "%s: expected %s, got a mapping (a value with braces must be quoted: "
                         "%s: \"{...}\")",
                         key, type_hint(k), key);
                rc = yaml_fail(y, &key_mark, "config_wrong_type", msg);
            } else if (!known_prefix) {
                snprintf(msg, sizeof(msg), "unknown key '%s'", key);
                rc = yaml_fail(y, &key_mark, "config_unknown_key", msg);
            } else if (depth >= MAX_PATH_DEPTH) {
                rc = yaml_fail(y, &key_mark, "config_unknown_key", "nesting too deep");
            } else {
                rc = walk_mapping(y, p, key, depth + 1);
            }
        } else if (val.type == YAML_SCALAR_EVENT) {
            const sl_cfg_key_t *k = find_key(key);
            if (k == NULL) {
                snprintf(msg, sizeof(msg), "unknown key '%s'", key);
                rc = yaml_fail(y, &key_mark, "config_unknown_key", msg);
            } else {
                char where[300];
                snprintf(where, sizeof(where), "%s:%zu:%zu", y->path, val.start_mark.line + 1,
                         val.start_mark.column + 1);
                rc = set_value(y->cfg, k, (const char *)val.data.scalar.value, where, y->err);
            }
        } else {
            const sl_cfg_key_t *k = find_key(key);
            snprintf(msg, sizeof(msg), "%s: expected %s, got a %s", key,
                     k != NULL ? type_hint(k) : "a mapping",
                     val.type == YAML_SEQUENCE_START_EVENT ? "list" : "alias");
            rc = yaml_fail(y, &val.start_mark,
                           k != NULL ? "config_wrong_type" : "config_unknown_key", msg);
        }
        yaml_event_delete(&val);
        if (rc != SL_OK) {
            return rc;
        }
    }
}

static sl_status_t load_yaml(sl_config_t *cfg, const char *path, sl_error_t *err) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return sl_error_set(err, SL_REJECT, "config_unreadable", "%s: cannot open: %s", path,
                            strerror(errno));
    }
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    yaml_ctx_t y = {cfg, path, err};
    sl_status_t rc = SL_OK;
    bool done = false;
    while (!done && rc == SL_OK) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = sl_error_set(err, SL_REJECT, "config_yaml_syntax", "%s:%zu:%zu: %s", path,
                              p.problem_mark.line + 1, p.problem_mark.column + 1,
                              p.problem != NULL ? p.problem : "YAML syntax error");
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_MAPPING_START_EVENT:
            rc = walk_mapping(&y, &p, "", 0);
            break;
        case YAML_SCALAR_EVENT:
            /* An empty document parses as one empty plain scalar: nothing to set. */
            if (ev.data.scalar.length != 0) {
                rc = yaml_fail(&y, &ev.start_mark, "config_wrong_type",
                               "the top level must be a mapping of keys");
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_ALIAS_EVENT:
            rc = yaml_fail(&y, &ev.start_mark, "config_wrong_type",
                           "the top level must be a mapping of keys");
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

/* auth.secret_file: 4096 bytes at most, like every secret file. */
static sl_status_t read_secret_file(sl_config_t *cfg, sl_error_t *err) {
    return sl_config_read_secret("auth.secret_file", cfg->auth.secret_file, 4096, &cfg->auth_key,
                                 &cfg->auth_key_len, err);
}

size_t sl_config_topics(const sl_config_t *cfg, const char *names[SL_CFG_NTOPICS],
                        const char *topics[SL_CFG_NTOPICS]) {
    static const char *const keys[SL_CFG_NTOPICS] = {"raw",       "identity",   "consent",
                                                     "decisions", "outcomes",   "dead_letter",
                                                     "privacy",   "suppression"};
    const char *values[SL_CFG_NTOPICS] = {cfg->topics.raw,      cfg->topics.identity,
                                          cfg->topics.consent,  cfg->topics.decisions,
                                          cfg->topics.outcomes, cfg->topics.dead_letter,
                                          cfg->topics.privacy,  cfg->topics.suppression};
    for (size_t i = 0; i < SL_CFG_NTOPICS; i++) {
        names[i] = keys[i];
        topics[i] = values[i];
    }
    return SL_CFG_NTOPICS;
}

sl_status_t sl_config_load_keyring(sl_config_t *cfg, sl_error_t *err) {
    sl_keyring_t *ring = NULL;
    sl_status_t rc = sl_keyring_load(cfg->auth_key, cfg->auth_key_len, cfg->auth.keys_file,
                                     cfg->auth.jwks_file, &ring, err);
    if (rc != SL_OK) {
        return rc;
    }
    sl_keyring_free(cfg->keyring);
    cfg->keyring = ring;
    return SL_OK;
}

/* Replaces every "{stage}" of *topic with stage (a new string). */
static void substitute_stage(char **topic, const char *stage) {
    const char *at;
    while ((at = strstr(*topic, "{stage}")) != NULL) {
        size_t pre = (size_t)(at - *topic), sl = strlen(stage), rest = strlen(at + 7);
        char *t = malloc(pre + sl + rest + 1);
        if (t == NULL) {
            abort();
        }
        snprintf(t, pre + sl + rest + 1, "%.*s%s%s", (int)pre, *topic, stage, at + 7);
        free(*topic);
        *topic = t;
    }
}

/* Topic names: `{stage}` is replaced here by the stage's name; `{tenant}` (stage topics and
 * dead_letter only) stays, for the route stage to fill per request. */
static sl_status_t validate_topics(sl_config_t *cfg, sl_error_t *err) {
    char **stage_topics[] = {&cfg->topics.raw,      &cfg->topics.identity,
                             &cfg->topics.consent,  &cfg->topics.decisions,
                             &cfg->topics.outcomes, &cfg->topics.dead_letter};
    static const char *const stage_names[] = {"raw",       "identity", "consent",
                                              "decisions", "outcomes", "dead-letter"};
    for (size_t i = 0; i < sizeof(stage_topics) / sizeof(stage_topics[0]); i++) {
        substitute_stage(stage_topics[i], stage_names[i]);
    }
    const char *topics[SL_CFG_NTOPICS], *names[SL_CFG_NTOPICS];
    size_t ntopics = sl_config_topics(cfg, names, topics);
    for (size_t i = 0; i < ntopics; i++) {
        if (topics[i][0] == '\0' && strcmp(names[i], "dead_letter") == 0) {
            continue; /* no dead-letter topic: invalid events are only answered */
        }
        /* Checked with {tenant} as one letter: tenants are checked where they are filled in. */
        char probe[256];
        size_t tl = 0;
        bool tenant_ok = i < 6;
        for (const char *t = topics[i]; *t != '\0' && tl < sizeof(probe) - 1;) {
            if (tenant_ok && strncmp(t, "{tenant}", 8) == 0) {
                probe[tl++] = 't';
                t += 8;
            } else {
                probe[tl++] = *t++;
            }
        }
        probe[tl] = '\0';
        if (tl == 0 || tl > 249 ||
            strspn(probe, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                tl) {
            return sl_error_set(err, SL_REJECT, "config_wrong_value",
                                "topics.%s: \"%s\" is not a valid Kafka topic name%s", names[i],
                                topics[i],
                                i < 6 ? " (templates may use {tenant} and {stage})"
                                      : " (this topic cannot be a template)");
        }
    }
    return SL_OK;
}

static sl_status_t validate(sl_config_t *cfg, sl_error_t *err) {
    if (cfg->auth.secret[0] != '\0' && cfg->auth.secret_file[0] != '\0') {
        return sl_error_set(err, SL_REJECT, "config_conflict",
                            "auth.secret and auth.secret_file are both set; keep one");
    }
    if (cfg->auth.secret_file[0] != '\0') {
        sl_status_t rc = read_secret_file(cfg, err);
        if (rc != SL_OK) {
            return rc;
        }
    } else if (cfg->auth.secret[0] != '\0') {
        cfg->auth_key = strdup(cfg->auth.secret);
        cfg->auth_key_len = strlen(cfg->auth.secret);
    }
    if (cfg->auth_key != NULL && cfg->auth_key_len < 32) {
        return sl_error_set(err, SL_REJECT, "config_out_of_range",
                            "auth.secret: an HS256 secret must be at least 32 bytes, got %zu",
                            cfg->auth_key_len);
    }
    sl_status_t krc = sl_config_load_keyring(cfg, err);
    if (krc != SL_OK) {
        return krc;
    }
    bool embedded = strcmp(cfg->kafka.brokers, "embedded") == 0;
    if (cfg->auth.required && cfg->keyring->n == 0 && !embedded) {
        return sl_error_set(err, SL_REJECT, "config_missing",
                            "auth.secret: a key is required when auth.required is true and "
                            "kafka.brokers is not embedded (set auth.secret, auth.secret_file, "
                            "auth.keys_file or auth.jwks_file)");
    }
    if (cfg->kafka.brokers[0] == '\0') {
        return sl_error_set(err, SL_REJECT, "config_missing",
                            "kafka.brokers: empty; use host:port[,host:port] or embedded");
    }
    if (cfg->kafka.delivery_timeout_ms <= cfg->kafka.linger_ms) {
        return sl_error_set(err, SL_REJECT, "config_conflict",
                            "kafka.delivery_timeout (%lldms) must be longer than kafka.linger "
                            "(%lldms)",
                            (long long)cfg->kafka.delivery_timeout_ms,
                            (long long)cfg->kafka.linger_ms);
    }
    if (cfg->kafka.message_timeout_ms < cfg->kafka.delivery_timeout_ms) {
        return sl_error_set(err, SL_REJECT, "config_conflict",
                            "kafka.message_timeout (%lldms) must be at least "
                            "kafka.delivery_timeout (%lldms): librdkafka keeps delivering an "
                            "event after its request was answered, not before",
                            (long long)cfg->kafka.message_timeout_ms,
                            (long long)cfg->kafka.delivery_timeout_ms);
    }
    if (cfg->auth.tenant_claim[0] == '\0') {
        return sl_error_set(err, SL_REJECT, "config_missing", "auth.tenant_claim: empty");
    }
    sl_status_t trc = validate_topics(cfg, err);
    if (trc != SL_OK) {
        return trc;
    }
    const char *stage_keys[6] = {"",
                                 cfg->keys.raw,
                                 cfg->keys.identity,
                                 cfg->keys.consent,
                                 cfg->keys.decisions,
                                 cfg->keys.outcomes};
    sl_status_t kerr =
        sl_keying_build(stage_keys, cfg->keys.types, cfg->keys.hot, &cfg->keying, err);
    if (kerr != SL_OK) {
        return kerr;
    }
    sl_status_t tls = sl_config_load_tls(cfg, err);
    if (tls != SL_OK) {
        return tls;
    }
    for (int i = 0; i < 3; i++) {
        const char *addr = i == 0 ? cfg->listen.http : i == 1 ? cfg->listen.admin : cfg->listen.tls;
        if (i == 2 && addr[0] == '\0') {
            break;
        }
        const char *colon = strrchr(addr, ':');
        char *end;
        long port = colon != NULL ? strtol(colon + 1, &end, 10) : -1;
        if (colon == NULL || colon == addr || colon[1] == '\0' || *end != '\0' || port < 0 ||
            port > 65535) {
            return sl_error_set(err, SL_REJECT, "config_wrong_value",
                                "listen.%s: \"%s\" is not host:port",
                                i == 0   ? "http"
                                : i == 1 ? "admin"
                                         : "tls",
                                addr);
        }
    }
    return SL_OK;
}

sl_status_t sl_config_build(const char *path, const char *const *sets, size_t nsets,
                            sl_config_t **out, sl_error_t *err) {
    sl_config_t *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        abort();
    }
    atomic_init(&cfg->refs, 1);
    cfg->source = strdup(path != NULL ? path : "(defaults)");
    size_t n;
    const sl_cfg_key_t *keys = sl_config_keys(&n);
    sl_status_t rc = SL_OK;
    for (size_t i = 0; i < n && rc == SL_OK; i++) {
        rc = set_value(cfg, &keys[i], keys[i].def, "default", err);
    }
    if (rc == SL_OK && path != NULL) {
        rc = load_yaml(cfg, path, err);
    }
    for (size_t i = 0; i < nsets && rc == SL_OK; i++) {
        const char *eq = strchr(sets[i], '=');
        if (eq == NULL || eq == sets[i]) {
            rc = sl_error_set(err, SL_REJECT, "config_wrong_type",
                              "--set %s: expected key.path=value", sets[i]);
            break;
        }
        char key[256];
        size_t kl = (size_t)(eq - sets[i]);
        if (kl >= sizeof(key)) {
            kl = sizeof(key) - 1;
        }
        memcpy(key, sets[i], kl);
        key[kl] = '\0';
        const sl_cfg_key_t *k = find_key(key);
        if (k == NULL) {
            rc = sl_error_set(err, SL_REJECT, "config_unknown_key", "--set: unknown key '%s'", key);
            break;
        }
        rc = set_value(cfg, k, eq + 1, "--set", err);
    }
    if (rc == SL_OK) {
        rc = validate(cfg, err);
    }
    if (rc != SL_OK) {
        config_free(cfg);
        return rc;
    }
    *out = cfg;
    return SL_OK;
}

sl_config_t *sl_config_ref(sl_config_t *cfg) {
    atomic_fetch_add(&cfg->refs, 1);
    return cfg;
}

void sl_config_unref(sl_config_t *cfg) {
    if (cfg != NULL && atomic_fetch_sub(&cfg->refs, 1) == 1) {
        config_free(cfg);
    }
}

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static sl_config_t *current;

void sl_config_publish(sl_config_t *cfg) {
    if (cfg != NULL) {
        sl_config_ref(cfg);
    }
    pthread_mutex_lock(&current_lock);
    sl_config_t *old = current;
    current = cfg;
    pthread_mutex_unlock(&current_lock);
    sl_config_unref(old);
}

sl_config_t *sl_config_acquire(void) {
    pthread_mutex_lock(&current_lock);
    sl_config_t *cfg = current != NULL ? sl_config_ref(current) : NULL;
    pthread_mutex_unlock(&current_lock);
    return cfg;
}

static void format_key(const sl_config_t *cfg, const sl_cfg_key_t *k, char *out, size_t n) {
    const void *f = cfield(cfg, k);
    switch (k->type) {
    case SL_CFG_STRING:
    case SL_CFG_ENUM:
        snprintf(out, n, "%s",
                 (k->flags & SL_CFG_SECRET) && (*(char *const *)f)[0] != '\0' ? "<redacted>"
                                                                              : *(char *const *)f);
        break;
    case SL_CFG_BOOL:
        snprintf(out, n, "%s", *(const bool *)f ? "true" : "false");
        break;
    case SL_CFG_INT:
    case SL_CFG_SIZE:
        snprintf(out, n, "%" PRId64, *(const int64_t *)f);
        break;
    case SL_CFG_DURATION:
        snprintf(out, n, "%" PRId64 "ms", *(const int64_t *)f);
        break;
    }
}

sl_status_t sl_config_format_value(const sl_config_t *cfg, const char *key, char *out, size_t n) {
    const sl_cfg_key_t *k = find_key(key);
    if (k == NULL) {
        return SL_REJECT;
    }
    format_key(cfg, k, out, n);
    return SL_OK;
}

void sl_config_restart_diff(const sl_config_t *a, const sl_config_t *b, char *out, size_t n) {
    size_t count;
    const sl_cfg_key_t *keys = sl_config_keys(&count);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        if (!(keys[i].flags & SL_CFG_RESTART)) {
            continue;
        }
        char va[512], vb[512];
        format_key(a, &keys[i], va, sizeof(va));
        format_key(b, &keys[i], vb, sizeof(vb));
        if (strcmp(va, vb) != 0 && used < n) {
            int w = snprintf(out + used, n - used, "%s%s", used > 0 ? ", " : "", keys[i].key);
            used += w > 0 ? (size_t)w : 0;
        }
    }
}

static const char *type_name(sl_cfg_type_t t) {
    static const char *names[] = {"string", "integer", "bool", "duration", "size", "enum"};
    return names[t];
}

void sl_config_write_docs(FILE *out) {
    size_t n;
    const sl_cfg_key_t *keys = sl_config_keys(&n);
    fputs("# Configuration\n\n"
          "<!-- Generated by `sluice config docs` from gateway/config/table.c; do not edit. -->\n\n"
          "sluice reads one YAML file (`sluice serve --config FILE`). Nested mappings name the "
          "keys below (`limits:` then `max_body_bytes:` is `limits.max_body_bytes`). Any key can "
          "also be set on the command line with a repeatable `--set key.path=value`, applied "
          "after the file. `sluice serve --check` validates the result and exits. An unknown key, "
          "a wrong type or an out-of-range value stops the start with an error that names the key "
          "and its position.\n\n"
          "Durations take a unit (`ms`, `s`, `m`, `h`); sizes are bytes or take `KiB`, `MiB`, "
          "`GiB`. Keys marked *restart* are read at start only: `POST /-/reload` on the admin "
          "port applies the others and lists restart keys that changed.\n\n"
          "| Key | Type | Default | Range | Description |\n"
          "|---|---|---|---|---|\n",
          out);
    for (size_t i = 0; i < n; i++) {
        const sl_cfg_key_t *k = &keys[i];
        char range[96] = "";
        if (k->type == SL_CFG_ENUM) {
            snprintf(range, sizeof(range), "`%s`", k->choices);
            for (char *c = range; *c != '\0'; c++) {
                if (*c == '|') {
                    *c = ',';
                }
            }
        } else if (k->min != 0 || k->max != 0) {
            snprintf(range, sizeof(range), "%" PRId64 " – %" PRId64 "%s", k->min, k->max,
                     k->type == SL_CFG_DURATION ? " ms"
                     : k->type == SL_CFG_SIZE   ? " bytes"
                                                : "");
        }
        fprintf(out, "| `%s` | %s%s | `%s` | %s | %s |\n", k->key, type_name(k->type),
                (k->flags & SL_CFG_RESTART) ? ", restart" : "", k->def[0] != '\0' ? k->def : "\"\"",
                range, k->doc);
    }
}
