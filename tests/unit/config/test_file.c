/* config/file: the one reader of files the configuration names (secrets, PEM keys, JWKS). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/file.h"
#include "support.h"

Test(file_read, reads_whole_file_nul_terminated) {
    char *path = t_write_temp("line one\nline two\n");
    char *data = NULL;
    size_t len = 0;
    sl_error_t err = {0};
    cr_assert(eq(int, sl_config_read_file("auth.jwks_file", path, 64, &data, &len, &err), SL_OK),
              "%s", err.message);
    cr_assert(eq(sz, len, 18), "line ends kept: only secrets lose them");
    cr_assert(eq(str, data, "line one\nline two\n"));
    free(data);
    t_remove_temp(path);
}

Test(file_read, max_is_the_file_size) {
    char *path = t_write_temp("0123456789");
    char *data = NULL;
    size_t len = 0;
    sl_error_t err = {0};
    cr_assert(eq(int, sl_config_read_file("k", path, 10, &data, &len, &err), SL_OK));
    cr_assert(eq(sz, len, 10));
    free(data);
    data = NULL;
    cr_assert(eq(int, sl_config_read_file("some.key", path, 9, &data, &len, &err), SL_REJECT));
    cr_assert(data == NULL);
    cr_assert(eq(str, (char *)err.code, "config_out_of_range"));
    char want[512];
    snprintf(want, sizeof(want), "some.key: %s is larger than 9 bytes", path);
    cr_assert(eq(str, err.message, want));
    t_remove_temp(path);
}

Test(file_read, missing_file_names_key_and_path) {
    char *data = NULL;
    size_t len = 0;
    sl_error_t err = {0};
    cr_assert(eq(
        int, sl_config_read_file("policies.hmac_key_file", "/nonexistent/k", 64, &data, &len, &err),
        SL_REJECT));
    cr_assert(data == NULL);
    cr_assert(eq(str, (char *)err.code, "config_unreadable"));
    cr_assert(eq(str, err.message,
                 "policies.hmac_key_file: cannot open /nonexistent/k: No such file or directory"));
    cr_assert(eq(int,
                 sl_config_read_secret("auth.secret_file", "/nonexistent/k", 64, &data, &len, &err),
                 SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "config_unreadable"));
    cr_assert(strstr(err.message, "auth.secret_file: cannot open /nonexistent/k") == err.message);
}

Test(file_read, empty_file) {
    char *path = t_write_temp("");
    char *data = NULL;
    size_t len = 7;
    sl_error_t err = {0};
    cr_assert(eq(int, sl_config_read_secret("k", path, 64, &data, &len, &err), SL_OK));
    cr_assert(eq(sz, len, 0));
    cr_assert(eq(str, data, ""));
    free(data);
    t_remove_temp(path);
}

Test(file_read, secret_loses_trailing_line_ends_only) {
    static const struct {
        const char *content, *secret;
    } cases[] = {
        {"s3cret\n", "s3cret"}, {"s3cret\r\n", "s3cret"},       {"s3cret\n\n\r\n", "s3cret"},
        {"s3cret", "s3cret"},   {"\ns3\ncret\n", "\ns3\ncret"}, {" s3cret \n", " s3cret "},
        {"\r\n\n", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = t_write_temp(cases[i].content);
        char *data = NULL;
        size_t len = 0;
        sl_error_t err = {0};
        cr_assert(eq(int, sl_config_read_secret("k", path, 64, &data, &len, &err), SL_OK));
        cr_assert(eq(sz, len, strlen(cases[i].secret)), "case %zu", i);
        cr_assert(eq(str, data, (char *)cases[i].secret), "case %zu: NUL-terminated", i);
        free(data);
        t_remove_temp(path);
    }
}

Test(file_read, secret_max_counts_line_ends) {
    /* 4 bytes and a newline: 5 bytes of file, over a max of 4. */
    char *path = t_write_temp("abcd\n");
    char *data = NULL;
    size_t len = 0;
    sl_error_t err = {0};
    cr_assert(eq(int, sl_config_read_secret("k", path, 4, &data, &len, &err), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "config_out_of_range"));
    cr_assert(eq(int, sl_config_read_secret("k", path, 5, &data, &len, &err), SL_OK));
    cr_assert(eq(sz, len, 4));
    free(data);
    t_remove_temp(path);
}
