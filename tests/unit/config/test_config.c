/* config: defaults, --set, cross-key validation, formatting, restart diff, docs, snapshots. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "support.h"

#define SECRET32 "0123456789abcdef0123456789abcdef"

Test(config, defaults_build) {
    sl_config_t *cfg = t_config(NULL, NULL);
    cr_assert(eq(str, cfg->source, "(defaults)"));
    cr_assert(eq(str, cfg->listen.http, "127.0.0.1:8080"));
    cr_assert(eq(str, cfg->listen.admin, "127.0.0.1:9090"));
    cr_assert(eq(str, cfg->kafka.brokers, "embedded"));
    cr_assert(eq(i64, cfg->kafka.delivery_timeout_ms, 30000));
    cr_assert(eq(i64, cfg->kafka.linger_ms, 5));
    cr_assert(eq(i64, cfg->kafka.health_interval_ms, 1000));
    cr_assert(eq(i64, cfg->kafka.queue_max_messages, 100000));
    cr_assert(eq(i64, cfg->kafka.queue_max_bytes, INT64_C(256) * 1024 * 1024));
    cr_assert(eq(str, cfg->kafka.compression, "lz4"));
    cr_assert(eq(str, cfg->topics.raw, "sluice.raw"));
    cr_assert(eq(str, cfg->topics.identity, "sluice.identity"));
    cr_assert(eq(str, cfg->topics.consent, "sluice.consent"));
    cr_assert(eq(str, cfg->topics.decisions, "sluice.decisions"));
    cr_assert(eq(str, cfg->topics.outcomes, "sluice.outcomes"));
    cr_assert(eq(str, cfg->topics.dead_letter, "sluice.dead-letter"));
    cr_assert(eq(i64, cfg->limits.max_body_bytes, 1024 * 1024));
    cr_assert(eq(i64, cfg->limits.max_events_per_batch, 1000));
    cr_assert(eq(i64, cfg->limits.max_json_depth, 16));
    cr_assert(eq(i64, cfg->limits.max_header_bytes, 16 * 1024));
    cr_assert(eq(i64, cfg->limits.max_token_bytes, 8 * 1024));
    cr_assert(eq(i64, cfg->http.retry_after_ms, 1000));
    cr_assert(cfg->auth.required);
    cr_assert(eq(str, cfg->auth.secret, ""));
    cr_assert(eq(str, cfg->auth.tenant_claim, "tenant"));
    cr_assert(eq(i64, cfg->auth.leeway_ms, 30000));
    cr_assert(eq(i64, cfg->shutdown.timeout_ms, 15000));
    cr_assert(eq(str, cfg->log.level, "info"));
    cr_assert(cfg->auth_key == NULL, "no secret: no key");
    cr_assert(eq(int, atomic_load(&cfg->refs), 1));
    sl_config_unref(cfg);
}

Test(config, every_key_default_is_formatted) {
    sl_config_t *cfg = t_config(NULL, NULL);
    size_t n;
    const sl_cfg_key_t *keys = sl_config_keys(&n);
    cr_assert(n >= 30);
    for (size_t i = 0; i < n; i++) {
        char out[512];
        cr_assert(eq(int, sl_config_format_value(cfg, keys[i].key, out, sizeof(out)), SL_OK), "%s",
                  keys[i].key);
    }
    sl_config_unref(cfg);
}

Test(config, set_values_of_every_type) {
    sl_config_t *cfg =
        t_config(NULL, T_SETS("listen.http=0.0.0.0:18080", "kafka.linger=20ms",
                              "kafka.delivery_timeout=2m", "kafka.health_interval=30s",
                              "limits.max_body_bytes=2MiB", "kafka.queue_max_bytes=64KiB",
                              "limits.max_token_bytes=4096", "limits.max_events_per_batch=77",
                              "auth.required=false", "kafka.compression=zstd", "log.level=debug",
                              "topics.raw=my.raw-topic_1", "http.retry_after=5s"));
    cr_assert(eq(str, cfg->listen.http, "0.0.0.0:18080"));
    cr_assert(eq(i64, cfg->kafka.linger_ms, 20));
    cr_assert(eq(i64, cfg->kafka.delivery_timeout_ms, 120000));
    cr_assert(eq(i64, cfg->kafka.health_interval_ms, 30000));
    cr_assert(eq(i64, cfg->limits.max_body_bytes, 2 * 1024 * 1024));
    cr_assert(eq(i64, cfg->kafka.queue_max_bytes, 64 * 1024));
    cr_assert(eq(i64, cfg->limits.max_token_bytes, 4096));
    cr_assert(eq(i64, cfg->limits.max_events_per_batch, 77));
    cr_assert(true && !cfg->auth.required);
    cr_assert(eq(str, cfg->kafka.compression, "zstd"));
    cr_assert(eq(str, cfg->log.level, "debug"));
    cr_assert(eq(str, cfg->topics.raw, "my.raw-topic_1"));
    cr_assert(eq(i64, cfg->http.retry_after_ms, 5000));
    sl_config_unref(cfg);
}

Test(config, set_applies_in_order) {
    sl_config_t *cfg =
        t_config(NULL, T_SETS("limits.max_events_per_batch=5", "limits.max_events_per_batch=6"));
    cr_assert(eq(i64, cfg->limits.max_events_per_batch, 6));
    sl_config_unref(cfg);
}

Test(config, set_unknown_key) {
    sl_error_t err = t_config_fail(NULL, T_SETS("limits.max_bodybytes=10"));
    cr_assert(eq(str, (char *)err.code, "config_unknown_key"));
    cr_assert(strstr(err.message, "limits.max_bodybytes") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "--set") != NULL, "%s", err.message);
}

Test(config, set_without_equals) {
    sl_error_t err = t_config_fail(NULL, T_SETS("limits.max_body_bytes"));
    cr_assert(strstr(err.message, "--set") != NULL, "%s", err.message);
    err = t_config_fail(NULL, T_SETS("=5"));
    cr_assert(strstr(err.message, "--set") != NULL, "%s", err.message);
}

Test(config, set_errors_name_key_and_position) {
    sl_error_t err = t_config_fail(NULL, T_SETS("limits.max_json_depth=deep"));
    cr_assert(eq(str, (char *)err.code, "config_wrong_type"));
    cr_assert(strstr(err.message, "limits.max_json_depth") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "--set") != NULL, "%s", err.message);
}

Test(config, wrong_types) {
    const char *cases[] = {
        "limits.max_events_per_batch=many",
        "limits.max_events_per_batch=1.5",
        "limits.max_events_per_batch=10x",
        "auth.required=yes",
        "auth.required=1",
        "kafka.linger=fast",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_error_t err = t_config_fail(NULL, T_SETS(cases[i]));
        cr_assert(eq(str, (char *)err.code, "config_wrong_type"), "%s: %s", cases[i], err.message);
    }
}

Test(config, out_of_range) {
    const char *cases[] = {
        "limits.max_json_depth=2",       "limits.max_json_depth=257",
        "limits.max_events_per_batch=0", "limits.max_events_per_batch=-5",
        "kafka.delivery_timeout=999ms",  "kafka.delivery_timeout=16m",
        "kafka.health_interval=99ms",    "limits.max_body_bytes=63",
        "limits.max_body_bytes=1GiB",    "limits.max_header_bytes=2047",
        "kafka.queue_max_messages=0",    "kafka.embedded_brokers=6",
        "limits.max_token_bytes=255",    "http.retry_after=999ms",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_error_t err = t_config_fail(NULL, T_SETS(cases[i]));
        cr_assert(eq(str, (char *)err.code, "config_out_of_range"), "%s: %s", cases[i],
                  err.message);
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)(strchr(cases[i], '=') - cases[i]), cases[i]);
        cr_assert(strstr(err.message, key) != NULL, "%s", err.message);
    }
}

Test(config, range_bounds_are_inclusive) {
    sl_config_t *cfg =
        t_config(NULL, T_SETS("limits.max_json_depth=3", "kafka.delivery_timeout=1s",
                              "kafka.health_interval=100ms", "kafka.queue_max_messages=1",
                              "limits.max_body_bytes=64", "limits.max_header_bytes=2KiB",
                              "limits.max_events_per_batch=100000"));
    cr_assert(eq(i64, cfg->limits.max_json_depth, 3));
    cr_assert(eq(i64, cfg->kafka.delivery_timeout_ms, 1000));
    cr_assert(eq(i64, cfg->kafka.health_interval_ms, 100));
    cr_assert(eq(i64, cfg->kafka.queue_max_messages, 1));
    cr_assert(eq(i64, cfg->limits.max_body_bytes, 64));
    cr_assert(eq(i64, cfg->limits.max_header_bytes, 2048));
    sl_config_unref(cfg);
}

Test(config, bad_enum) {
    sl_error_t err = t_config_fail(NULL, T_SETS("kafka.compression=brotli"));
    cr_assert(eq(str, (char *)err.code, "config_wrong_value"));
    cr_assert(strstr(err.message, "kafka.compression") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "brotli") != NULL, "%s", err.message);
    /* A prefix or an extension of a choice is not a choice. */
    err = t_config_fail(NULL, T_SETS("kafka.compression=lz"));
    cr_assert(eq(str, (char *)err.code, "config_wrong_value"));
    err = t_config_fail(NULL, T_SETS("log.level=infos"));
    cr_assert(eq(str, (char *)err.code, "config_wrong_value"));
    err = t_config_fail(NULL, T_SETS("log.level=INFO"));
    cr_assert(eq(str, (char *)err.code, "config_wrong_value"));
    sl_config_t *cfg = t_config(NULL, T_SETS("kafka.compression=none", "log.level=error"));
    cr_assert(eq(str, cfg->kafka.compression, "none"));
    sl_config_unref(cfg);
}

Test(config, bad_durations) {
    const char *cases[] = {"kafka.linger=5",  "kafka.linger=5 parsecs", "kafka.linger=1.5ms",
                           "kafka.linger=ms", "kafka.linger=-5ms",      "kafka.linger=5d",
                           "kafka.linger=5S", "kafka.linger="};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_error_t err = t_config_fail(NULL, T_SETS(cases[i]));
        cr_assert(eq(str, (char *)err.code, "config_wrong_type"), "%s: %s", cases[i], err.message);
        cr_assert(strstr(err.message, "kafka.linger") != NULL, "%s", err.message);
    }
}

Test(config, bad_sizes) {
    const char *cases[] = {"limits.max_body_bytes=1MB", "limits.max_body_bytes=1.5MiB",
                           "limits.max_body_bytes=big", "limits.max_body_bytes=1 mib",
                           "limits.max_body_bytes=KiB"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_error_t err = t_config_fail(NULL, T_SETS(cases[i]));
        cr_assert(eq(str, (char *)err.code, "config_wrong_type"), "%s: %s", cases[i], err.message);
    }
    sl_config_t *cfg = t_config(NULL, T_SETS("limits.max_body_bytes=65536"));
    cr_assert(eq(i64, cfg->limits.max_body_bytes, 65536));
    sl_config_unref(cfg);
}

Test(config, parse_duration) {
    int64_t ms = -1;
    cr_assert(eq(int, sl_config_parse_duration("500ms", &ms), 0));
    cr_assert(eq(i64, ms, 500));
    cr_assert(eq(int, sl_config_parse_duration("30s", &ms), 0));
    cr_assert(eq(i64, ms, 30000));
    cr_assert(eq(int, sl_config_parse_duration("5m", &ms), 0));
    cr_assert(eq(i64, ms, 300000));
    cr_assert(eq(int, sl_config_parse_duration("1h", &ms), 0));
    cr_assert(eq(i64, ms, 3600000));
    cr_assert(eq(int, sl_config_parse_duration("5", &ms), -1));
    cr_assert(eq(int, sl_config_parse_duration("", &ms), -1));
    cr_assert(eq(int, sl_config_parse_duration("s", &ms), -1));
    cr_assert(eq(int, sl_config_parse_duration("-1s", &ms), -1));
    cr_assert(eq(int, sl_config_parse_duration("1.5s", &ms), -1));
    cr_assert(eq(int, sl_config_parse_duration("10 years", &ms), -1));
    cr_assert(eq(int, sl_config_parse_duration("99999999999999999999h", &ms), -1));
    cr_assert(eq(int, sl_config_parse_duration("9223372036854775807h", &ms), -1));
}

/* ---- cross-key validation ---- */

Test(config, secret_too_short) {
    sl_error_t err = t_config_fail(NULL, T_SETS("auth.secret=0123456789abcdef0123456789abcde"));
    cr_assert(eq(str, (char *)err.code, "config_out_of_range"));
    cr_assert(strstr(err.message, "auth.secret") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "32") != NULL, "%s", err.message);
    /* The message never contains the secret itself. */
    cr_assert(strstr(err.message, "0123456789abcdef") == NULL, "%s", err.message);
}

Test(config, secret_of_32_bytes_sets_the_key) {
    sl_config_t *cfg = t_config(NULL, T_SETS("auth.secret=" SECRET32));
    cr_assert(cfg->auth_key != NULL);
    cr_assert(eq(sz, cfg->auth_key_len, 32));
    cr_assert(memcmp(cfg->auth_key, SECRET32, 32) == 0);
    sl_config_unref(cfg);
}

Test(config, secret_and_secret_file_conflict) {
    char *path = t_write_temp(SECRET32 "\n");
    char set[512];
    snprintf(set, sizeof(set), "auth.secret_file=%s", path);
    sl_error_t err = t_config_fail(NULL, T_SETS("auth.secret=" SECRET32, set));
    cr_assert(eq(str, (char *)err.code, "config_conflict"));
    cr_assert(strstr(err.message, "auth.secret") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "auth.secret_file") != NULL, "%s", err.message);
    t_remove_temp(path);
}

Test(config, real_brokers_need_a_secret) {
    sl_error_t err = t_config_fail(NULL, T_SETS("kafka.brokers=127.0.0.1:9092"));
    cr_assert(eq(str, (char *)err.code, "config_missing"));
    cr_assert(strstr(err.message, "auth.secret") != NULL, "%s", err.message);
    /* With a secret, or without auth, it builds. */
    sl_config_t *cfg =
        t_config(NULL, T_SETS("kafka.brokers=127.0.0.1:9092", "auth.secret=" SECRET32));
    cr_assert(eq(str, cfg->kafka.brokers, "127.0.0.1:9092"));
    sl_config_unref(cfg);
    cfg = t_config(NULL, T_SETS("kafka.brokers=127.0.0.1:9092", "auth.required=false"));
    sl_config_unref(cfg);
}

Test(config, empty_brokers) {
    sl_error_t err = t_config_fail(NULL, T_SETS("kafka.brokers=", "auth.secret=" SECRET32));
    cr_assert(strstr(err.message, "kafka.brokers") != NULL, "%s", err.message);
}

Test(config, empty_tenant_claim) {
    sl_error_t err = t_config_fail(NULL, T_SETS("auth.tenant_claim="));
    cr_assert(strstr(err.message, "auth.tenant_claim") != NULL, "%s", err.message);
}

Test(config, invalid_topic_names) {
    char long_name[300] = "topics.outcomes=";
    memset(long_name + strlen(long_name), 'x', 250);
    const char *cases[] = {"topics.raw=bad topic",        "topics.raw=bad/topic",   "topics.raw=",
                           "topics.identity=caf\xc3\xa9", "topics.dead_letter=a:b", long_name};
    const char *keys[] = {"topics.raw",      "topics.raw",         "topics.raw",
                          "topics.identity", "topics.dead_letter", "topics.outcomes"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_error_t err = t_config_fail(NULL, T_SETS(cases[i]));
        cr_assert(eq(str, (char *)err.code, "config_wrong_value"), "%.40s: %s", cases[i],
                  err.message);
        cr_assert(strstr(err.message, keys[i]) != NULL, "%s", err.message);
    }
    /* 249 characters is the longest valid name. */
    char ok_name[300] = "topics.outcomes=";
    memset(ok_name + strlen(ok_name), 'x', 249);
    sl_config_t *cfg = t_config(NULL, T_SETS(ok_name));
    cr_assert(eq(sz, strlen(cfg->topics.outcomes), 249));
    sl_config_unref(cfg);
}

Test(config, bad_listen_addresses) {
    const char *cases[] = {"listen.http=localhost",       "listen.http=127.0.0.1:http",
                           "listen.http=127.0.0.1:70000", "listen.http=127.0.0.1:-1",
                           "listen.admin=:9090",          "listen.admin=127.0.0.1:90x"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_error_t err = t_config_fail(NULL, T_SETS(cases[i]));
        cr_assert(eq(str, (char *)err.code, "config_wrong_value"), "%s: %s", cases[i], err.message);
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)(strchr(cases[i], '=') - cases[i]), cases[i]);
        cr_assert(strstr(err.message, key) != NULL, "%s", err.message);
    }
    sl_config_t *cfg = t_config(NULL, T_SETS("listen.http=127.0.0.1:0", "listen.admin=[::1]:9191"));
    cr_assert(eq(str, cfg->listen.admin, "[::1]:9191"));
    sl_config_unref(cfg);
}

/* "host:" has no port: it is not host:port (it would silently listen on a random port). */
Test(config, listen_address_without_port) {
    sl_error_t err = t_config_fail(NULL, T_SETS("listen.http=127.0.0.1:"));
    cr_assert(eq(str, (char *)err.code, "config_wrong_value"), "%s", err.message);
    cr_assert(strstr(err.message, "listen.http") != NULL, "%s", err.message);
    err = t_config_fail(NULL, T_SETS("listen.admin=localhost:"));
    cr_assert(eq(str, (char *)err.code, "config_wrong_value"), "%s", err.message);
}

/* ---- format, restart diff, docs ---- */

Test(config, format_value_redacts_secrets) {
    sl_config_t *cfg = t_config(NULL, T_SETS("auth.secret=" SECRET32));
    char out[256];
    cr_assert(eq(int, sl_config_format_value(cfg, "auth.secret", out, sizeof(out)), SL_OK));
    cr_assert(eq(str, out, "<redacted>"));
    cr_assert(strstr(out, "0123456789") == NULL);
    sl_config_unref(cfg);
}

Test(config, format_value_of_each_type) {
    sl_config_t *cfg = t_config(NULL, T_SETS("kafka.delivery_timeout=2s", "auth.required=false"));
    char out[256];
    cr_assert(eq(int, sl_config_format_value(cfg, "listen.http", out, sizeof(out)), SL_OK));
    cr_assert(eq(str, out, "127.0.0.1:8080"));
    cr_assert(
        eq(int, sl_config_format_value(cfg, "limits.max_body_bytes", out, sizeof(out)), SL_OK));
    cr_assert(eq(str, out, "1048576"));
    cr_assert(
        eq(int, sl_config_format_value(cfg, "kafka.delivery_timeout", out, sizeof(out)), SL_OK));
    cr_assert(strstr(out, "2000") != NULL || strstr(out, "2s") != NULL, "%s", out);
    cr_assert(eq(int, sl_config_format_value(cfg, "auth.required", out, sizeof(out)), SL_OK));
    cr_assert(eq(str, out, "false"));
    cr_assert(eq(int, sl_config_format_value(cfg, "kafka.compression", out, sizeof(out)), SL_OK));
    cr_assert(eq(str, out, "lz4"));
    cr_assert(eq(int, sl_config_format_value(cfg, "no.such_key", out, sizeof(out)), SL_REJECT));
    /* A small buffer is never overrun. */
    char small[4];
    cr_assert(eq(int, sl_config_format_value(cfg, "listen.http", small, sizeof(small)), SL_OK));
    cr_assert(eq(sz, strlen(small), 3));
    sl_config_unref(cfg);
}

Test(config, restart_diff_lists_changed_restart_keys_only) {
    sl_config_t *a = t_config(NULL, NULL);
    sl_config_t *same = t_config(NULL, NULL);
    sl_config_t *b = t_config(NULL, T_SETS("listen.http=127.0.0.1:8081", "kafka.linger=10ms",
                                           "limits.max_body_bytes=2MiB", "limits.max_json_depth=20",
                                           "auth.secret=" SECRET32, "log.level=debug"));
    char out[512];
    sl_config_restart_diff(a, same, out, sizeof(out));
    cr_assert(eq(str, out, ""));
    sl_config_restart_diff(a, b, out, sizeof(out));
    cr_assert(strstr(out, "listen.http") != NULL, "%s", out);
    cr_assert(strstr(out, "kafka.linger") != NULL, "%s", out);
    cr_assert(strstr(out, "limits.max_body_bytes") == NULL, "%s", out);
    cr_assert(strstr(out, "limits.max_json_depth") == NULL, "%s", out);
    cr_assert(strstr(out, "auth.secret") == NULL, "%s", out);
    cr_assert(strstr(out, "log.level") == NULL, "%s", out);
    cr_assert(strstr(out, "listen.admin") == NULL, "%s", out);
    cr_assert(eq(str, out, "listen.http, kafka.linger"));
    /* Truncated into a small buffer, still terminated. */
    char small[8];
    memset(small, 'z', sizeof(small));
    sl_config_restart_diff(a, b, small, sizeof(small));
    cr_assert(memchr(small, '\0', sizeof(small)) != NULL);
    sl_config_unref(a);
    sl_config_unref(same);
    sl_config_unref(b);
}

Test(config, docs_mention_every_key) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    sl_config_write_docs(f);
    fclose(f);
    cr_assert(len > 0);
    size_t n;
    const sl_cfg_key_t *keys = sl_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        char needle[128];
        snprintf(needle, sizeof(needle), "`%s`", keys[i].key);
        cr_assert(strstr(text, needle) != NULL, "docs do not mention %s", keys[i].key);
    }
    cr_assert(strstr(text, "none,gzip,snappy,lz4,zstd") != NULL);
    free(text);
}

Test(config, key_table_is_consistent) {
    size_t n;
    const sl_cfg_key_t *keys = sl_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        cr_assert(keys[i].doc != NULL && keys[i].doc[0] != '\0', "%s has no doc", keys[i].key);
        cr_assert(keys[i].type != SL_CFG_ENUM || keys[i].choices != NULL, "%s", keys[i].key);
        for (size_t k = i + 1; k < n; k++) {
            cr_assert(strcmp(keys[i].key, keys[k].key) != 0, "%s twice", keys[i].key);
        }
    }
}

/* ---- snapshots ---- */

Test(config, ref_unref) {
    sl_config_t *cfg = t_config(NULL, NULL);
    cr_assert(sl_config_ref(cfg) == cfg);
    cr_assert(eq(int, atomic_load(&cfg->refs), 2));
    sl_config_unref(cfg);
    cr_assert(eq(int, atomic_load(&cfg->refs), 1));
    sl_config_unref(cfg);
    sl_config_unref(NULL);
}

Test(config, publish_and_acquire) {
    cr_assert(sl_config_acquire() == NULL, "nothing published yet");
    sl_config_t *a = t_config(NULL, T_SETS("limits.max_events_per_batch=11"));
    sl_config_publish(a);
    cr_assert(eq(int, atomic_load(&a->refs), 2), "publish takes its own reference");
    sl_config_unref(a); /* the published reference keeps it alive */

    sl_config_t *held = sl_config_acquire();
    cr_assert(held == a);
    cr_assert(eq(int, atomic_load(&held->refs), 2));

    sl_config_t *b = t_config(NULL, T_SETS("limits.max_events_per_batch=22"));
    sl_config_publish(b);
    sl_config_unref(b);
    /* The holder's snapshot is still valid and unchanged (ASan catches a use after free). */
    cr_assert(eq(int, atomic_load(&held->refs), 1));
    cr_assert(eq(i64, held->limits.max_events_per_batch, 11));
    cr_assert(eq(str, held->topics.raw, "sluice.raw"));

    sl_config_t *now = sl_config_acquire();
    cr_assert(now == b);
    cr_assert(eq(i64, now->limits.max_events_per_batch, 22));
    sl_config_unref(now);
    sl_config_unref(held);

    sl_config_publish(NULL);
    cr_assert(sl_config_acquire() == NULL);
}

static void *acquire_loop(void *arg) {
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        sl_config_t *c = sl_config_acquire();
        if (c != NULL) {
            if (c->limits.max_events_per_batch < 1) {
                abort();
            }
            sl_config_unref(c);
        }
    }
    return NULL;
}

Test(config, publish_races_with_acquire) {
    pthread_t th[2];
    sl_config_t *first = t_config(NULL, NULL);
    sl_config_publish(first);
    sl_config_unref(first);
    for (int i = 0; i < 2; i++) {
        pthread_create(&th[i], NULL, acquire_loop, NULL);
    }
    for (int i = 0; i < 200; i++) {
        sl_config_t *c = t_config(NULL, T_SETS("limits.max_events_per_batch=3"));
        sl_config_publish(c);
        sl_config_unref(c);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
    }
    sl_config_publish(NULL);
}
