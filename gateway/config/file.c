#include "config/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sl_status_t sl_config_read_file(const char *key, const char *path, size_t max, char **data,
                                size_t *len, sl_error_t *err) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return sl_error_set(err, SL_REJECT, "config_unreadable", "%s: cannot open %s: %s", key,
                            path, strerror(errno));
    }
    /* One byte more than allowed: a larger file is noticed without reading all of it. */
    char *buf = malloc(max + 1);
    if (buf == NULL) {
        abort();
    }
    size_t n = fread(buf, 1, max + 1, f);
    fclose(f);
    if (n > max) {
        explicit_bzero(buf, n);
        free(buf);
        return sl_error_set(err, SL_REJECT, "config_out_of_range",
                            "%s: %s is larger than %zu bytes", key, path, max);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return SL_OK;
}

sl_status_t sl_config_read_secret(const char *key, const char *path, size_t max, char **data,
                                  size_t *len, sl_error_t *err) {
    char *buf = NULL;
    size_t n = 0;
    sl_status_t rc = sl_config_read_file(key, path, max, &buf, &n, err);
    if (rc != SL_OK) {
        return rc;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        buf[--n] = '\0';
    }
    *data = buf;
    *len = n;
    return SL_OK;
}
