/* Fuzz target: the YAML configuration loader (file parsing, key paths, value conversion,
 * cross-key validation). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz-config", 0);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        __builtin_trap();
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    sl_config_t *cfg = NULL;
    sl_error_t err;
    if (sl_config_build(path, NULL, 0, &cfg, &err) == SL_OK) {
        sl_config_unref(cfg);
    }
    close(fd);
    return 0;
}
