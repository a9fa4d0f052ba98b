/* Shared by the contracts tests: the fixture descriptor sets compiled from protos/ at build
 * time (SL_CT_FIXTURES) and the real catalog (SL_CT_CATALOG, may be missing). */
#ifndef SL_TEST_CONTRACTS_FIXTURES_H
#define SL_TEST_CONTRACTS_FIXTURES_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "contracts/contracts.h"

/* "<fixtures>/<stem>.pb" in buf. */
static inline const char *t_fixture(char *buf, size_t n, const char *stem) {
    snprintf(buf, n, "%s/%s.pb", SL_CT_FIXTURES, stem);
    return buf;
}

/* Loads a fixture that must load; the caller unrefs. */
static inline sl_contracts_t *t_load(const char *stem) {
    char path[1024];
    sl_contracts_t *c = NULL;
    sl_error_t err = {0};
    sl_status_t rc = sl_contracts_load(t_fixture(path, sizeof(path), stem), &c, &err);
    cr_assert_eq(rc, SL_OK, "%s: %s", stem, err.message);
    cr_assert_not_null(c);
    return c;
}

/* The whole file in a malloc'd buffer. */
static inline unsigned char *t_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert_geq(n, 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

#endif
