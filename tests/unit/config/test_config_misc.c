/* config: auth.secret_file. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "support.h"

#define SECRET40 "abcdefghijklmnopqrstuvwxyz0123456789ABCD"

static sl_config_t *with_secret_file(const char *content, char **path) {
    *path = t_write_temp(content);
    char set[512];
    snprintf(set, sizeof(set), "auth.secret_file=%s", *path);
    return t_config(NULL, T_SETS(set));
}

Test(secret_file, read_and_trailing_newline_stripped) {
    char *path;
    sl_config_t *cfg = with_secret_file(SECRET40 "\n", &path);
    cr_assert(cfg->auth_key != NULL);
    cr_assert(eq(sz, cfg->auth_key_len, 40));
    cr_assert(memcmp(cfg->auth_key, SECRET40, 40) == 0);
    cr_assert(eq(str, cfg->auth.secret, ""), "the secret is not copied into auth.secret");
    sl_config_unref(cfg);
    t_remove_temp(path);
}

Test(secret_file, crlf_stripped) {
    char *path;
    sl_config_t *cfg = with_secret_file(SECRET40 "\r\n", &path);
    cr_assert(eq(sz, cfg->auth_key_len, 40));
    sl_config_unref(cfg);
    t_remove_temp(path);
}

Test(secret_file, without_newline) {
    char *path;
    sl_config_t *cfg = with_secret_file(SECRET40, &path);
    cr_assert(eq(sz, cfg->auth_key_len, 40));
    cr_assert(memcmp(cfg->auth_key, SECRET40, 40) == 0);
    sl_config_unref(cfg);
    t_remove_temp(path);
}

Test(secret_file, too_short_after_stripping) {
    char *path = t_write_temp("0123456789abcdef0123456789abcde\n"); /* 31 + newline */
    char set[512];
    snprintf(set, sizeof(set), "auth.secret_file=%s", path);
    sl_error_t err = t_config_fail(NULL, T_SETS(set));
    cr_assert(eq(str, (char *)err.code, "config_out_of_range"), "%s", err.message);
    t_remove_temp(path);
}

Test(secret_file, missing) {
    sl_error_t err = t_config_fail(NULL, T_SETS("auth.secret_file=/nonexistent/jwt-secret"));
    cr_assert(eq(str, (char *)err.code, "config_unreadable"));
    cr_assert(strstr(err.message, "auth.secret_file") != NULL, "%s", err.message);
}

Test(secret_file, satisfies_real_brokers) {
    char *path = t_write_temp(SECRET40 "\n");
    char set[512];
    snprintf(set, sizeof(set), "auth.secret_file=%s", path);
    sl_config_t *cfg = t_config(NULL, T_SETS("kafka.brokers=127.0.0.1:9092", set));
    cr_assert(eq(sz, cfg->auth_key_len, 40));
    char out[600];
    cr_assert(eq(int, sl_config_format_value(cfg, "auth.secret_file", out, sizeof(out)), SL_OK));
    cr_assert(strstr(out, SECRET40) == NULL, "the secret itself is never formatted");
    sl_config_unref(cfg);
    t_remove_temp(path);
}

Test(secret_file, from_yaml) {
    char *secret = t_write_temp(SECRET40 "\n");
    char yaml[600];
    snprintf(yaml, sizeof(yaml), "auth:\n  secret_file: %s\n", secret);
    char *path = t_write_temp(yaml);
    sl_config_t *cfg = t_config(path, NULL);
    cr_assert(eq(sz, cfg->auth_key_len, 40));
    sl_config_unref(cfg);
    t_remove_temp(path);
    t_remove_temp(secret);
}
