/* config: the YAML file, its error positions, and --set on top of it. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "support.h"

static char *path;

static void cleanup(void) {
    t_remove_temp(path);
    path = NULL;
}

TestSuite(config_file, .fini = cleanup);

/* Expects a REJECT with code naming key at "path:line:col". */
static void expect_error(const char *yaml, const char *code, const char *needle, int line,
                         int col) {
    path = t_write_temp(yaml);
    sl_error_t err = t_config_fail(path, NULL);
    cr_assert(eq(str, (char *)err.code, (char *)code), "%s", err.message);
    if (needle != NULL) {
        cr_assert(strstr(err.message, needle) != NULL, "no \"%s\" in: %s", needle, err.message);
    }
    char pos[512];
    snprintf(pos, sizeof(pos), "%s:%d:%d", path, line, col);
    cr_assert(strstr(err.message, pos) != NULL, "no \"%s\" in: %s", pos, err.message);
}

Test(config_file, nested_keys_set_values) {
    path = t_write_temp("# sluice test config\n"
                        "listen:\n"
                        "  http: 127.0.0.1:18080\n"
                        "  admin: \"127.0.0.1:19090\"\n"
                        "kafka:\n"
                        "  delivery_timeout: 45s\n"
                        "  linger: 0ms\n"
                        "  compression: zstd\n"
                        "  queue_max_messages: 5000\n"
                        "topics:\n"
                        "  raw: tenant.raw\n"
                        "limits:\n"
                        "  max_body_bytes: 2MiB\n"
                        "  max_events_per_batch: 250\n"
                        "auth:\n"
                        "  required: false\n"
                        "  issuer: 'https://issuer.example'\n"
                        "log:\n"
                        "  level: warn\n");
    sl_config_t *cfg = t_config(path, NULL);
    cr_assert(eq(str, cfg->source, path));
    cr_assert(eq(str, cfg->listen.http, "127.0.0.1:18080"));
    cr_assert(eq(str, cfg->listen.admin, "127.0.0.1:19090"));
    cr_assert(eq(i64, cfg->kafka.delivery_timeout_ms, 45000));
    cr_assert(eq(i64, cfg->kafka.linger_ms, 0));
    cr_assert(eq(str, cfg->kafka.compression, "zstd"));
    cr_assert(eq(i64, cfg->kafka.queue_max_messages, 5000));
    cr_assert(eq(str, cfg->topics.raw, "tenant.raw"));
    cr_assert(eq(str, cfg->topics.identity, "sluice.identity"), "untouched keys keep defaults");
    cr_assert(eq(i64, cfg->limits.max_body_bytes, 2 * 1024 * 1024));
    cr_assert(eq(i64, cfg->limits.max_events_per_batch, 250));
    cr_assert(true && !cfg->auth.required);
    cr_assert(eq(str, cfg->auth.issuer, "https://issuer.example"));
    cr_assert(eq(str, cfg->log.level, "warn"));
    sl_config_unref(cfg);
}

Test(config_file, flow_mapping_and_empty_file) {
    path = t_write_temp("limits: {max_json_depth: 8, max_id_bytes: 64}\n");
    sl_config_t *cfg = t_config(path, NULL);
    cr_assert(eq(i64, cfg->limits.max_json_depth, 8));
    cr_assert(eq(i64, cfg->limits.max_id_bytes, 64));
    sl_config_unref(cfg);
    t_remove_temp(path);
    path = t_write_temp("");
    cfg = t_config(path, NULL);
    cr_assert(eq(i64, cfg->limits.max_json_depth, 16));
    sl_config_unref(cfg);
}

Test(config_file, unknown_key) {
    expect_error("listen:\n"
                 "  http: 127.0.0.1:18080\n"
                 "limits:\n"
                 "  max_body_bytez: 10\n",
                 "config_unknown_key", "limits.max_body_bytez", 4, 3);
}

Test(config_file, unknown_section) {
    expect_error("kafka:\n  linger: 5ms\nlimitz:\n  max_body_bytes: 10\n", "config_unknown_key",
                 "limitz", 3, 1);
}

Test(config_file, unknown_top_level_scalar_key) {
    expect_error("verbose: true\n", "config_unknown_key", "verbose", 1, 1);
}

Test(config_file, section_given_a_scalar) {
    expect_error("limits: 5\n", "config_unknown_key", "limits", 1, 1);
}

Test(config_file, wrong_type) {
    expect_error("limits:\n  max_events_per_batch: lots\n", "config_wrong_type",
                 "limits.max_events_per_batch", 2, 25);
}

Test(config_file, wrong_bool) {
    expect_error("auth:\n  required: maybe\n", "config_wrong_type", "auth.required", 2, 13);
}

Test(config_file, out_of_range) {
    expect_error("limits:\n  max_json_depth: 2\n", "config_out_of_range", "limits.max_json_depth",
                 2, 19);
}

Test(config_file, bad_enum) {
    expect_error("kafka:\n  compression: brotli\n", "config_wrong_value", "kafka.compression", 2,
                 16);
}

Test(config_file, bad_duration) {
    expect_error("kafka:\n  delivery_timeout: 30\n", "config_wrong_type", "kafka.delivery_timeout",
                 2, 21);
}

Test(config_file, bad_size) {
    expect_error("limits:\n  max_body_bytes: 1MB\n", "config_wrong_type", "limits.max_body_bytes",
                 2, 19);
}

Test(config_file, sequence_where_scalar_expected) {
    expect_error("kafka:\n  brokers:\n    - a:9092\n    - b:9092\n", "config_wrong_type",
                 "kafka.brokers", 3, 5);
}

Test(config_file, flow_sequence_where_scalar_expected) {
    expect_error("listen:\n  http: [a, b]\n", "config_wrong_type", "listen.http", 2, 9);
}

Test(config_file, mapping_where_scalar_expected) {
    path = t_write_temp("listen:\n  http:\n    host: x\n");
    sl_error_t err = t_config_fail(path, NULL);
    cr_assert(strcmp(err.code, "config_wrong_type") == 0 ||
                  strcmp(err.code, "config_unknown_key") == 0,
              "%s: %s", err.code, err.message);
    cr_assert(strstr(err.message, "listen.http") != NULL, "%s", err.message);
    char pos[512];
    snprintf(pos, sizeof(pos), "%s:2:", path);
    cr_assert(strstr(err.message, pos) != NULL, "%s", err.message);
}

Test(config_file, top_level_must_be_a_mapping) {
    expect_error("- a\n- b\n", "config_wrong_type", NULL, 1, 1);
    cleanup();
    expect_error("just a string\n", "config_wrong_type", NULL, 1, 1);
}

Test(config_file, yaml_syntax_error) {
    path = t_write_temp("limits:\n  max_json_depth: \"16\n  max_id_bytes: 64\n");
    sl_error_t err = t_config_fail(path, NULL);
    cr_assert(eq(str, (char *)err.code, "config_yaml_syntax"), "%s", err.message);
    cr_assert(strstr(err.message, path) != NULL, "%s", err.message);
}

Test(config_file, missing_file) {
    sl_error_t err = t_config_fail("/nonexistent/sluice.yaml", NULL);
    cr_assert(eq(str, (char *)err.code, "config_unreadable"));
    cr_assert(strstr(err.message, "/nonexistent/sluice.yaml") != NULL, "%s", err.message);
}

Test(config_file, set_overrides_the_file) {
    path = t_write_temp("limits:\n  max_events_per_batch: 50\n  max_json_depth: 8\n");
    sl_config_t *cfg = t_config(path, T_SETS("limits.max_events_per_batch=70"));
    cr_assert(eq(i64, cfg->limits.max_events_per_batch, 70));
    cr_assert(eq(i64, cfg->limits.max_json_depth, 8), "keys not --set keep the file's value");
    sl_config_unref(cfg);
}

Test(config_file, set_can_fix_an_invalid_file_value_only_before_validation) {
    /* Cross-key validation runs on the result: the file alone is incomplete. */
    path = t_write_temp("kafka:\n  brokers: 127.0.0.1:9092\n");
    sl_error_t err = t_config_fail(path, NULL);
    cr_assert(eq(str, (char *)err.code, "config_missing"));
    sl_config_t *cfg = t_config(path, T_SETS("auth.secret=0123456789abcdef0123456789abcdef0123"));
    cr_assert(eq(str, cfg->kafka.brokers, "127.0.0.1:9092"));
    sl_config_unref(cfg);
}

Test(config_file, set_unknown_key_with_file) {
    path = t_write_temp("limits:\n  max_events_per_batch: 50\n");
    sl_error_t err = t_config_fail(path, T_SETS("limits.nope=1"));
    cr_assert(eq(str, (char *)err.code, "config_unknown_key"));
    cr_assert(strstr(err.message, "limits.nope") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "--set") != NULL, "%s", err.message);
}
