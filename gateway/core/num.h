/* core/num: numbers written the one way sluice writes them (canonical output).
 *
 * Floating-point values are written with the fewest significant digits that read back to the
 * same value (so 0.1 stays "0.1" and 1e21 is "1e+21"), the way proto3 JSON printers do. */
#ifndef SL_CORE_NUM_H
#define SL_CORE_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The shortest round-trip decimal of v into out (at least 32 bytes), NUL-terminated; returns
 * its length. NaN and infinities are written "NaN", "Infinity", "-Infinity". */
size_t sl_num_double(double v, char *out);
/* The same for a 32-bit float: the shortest decimal that reads back (as a float) to v. */
size_t sl_num_float(float v, char *out);

/* Decimal integers into out (at least 21 bytes), NUL-terminated; return the length. */
size_t sl_num_i64(int64_t v, char *out);
size_t sl_num_u64(uint64_t v, char *out);

/* True when the JSON number text s (n bytes) is already what sl_num_double writes for its
 * value: a plain decimal without exponent, leading or trailing zeros, of at most 15 significant
 * digits and not below 1e-4 — the common case, copied without converting. */
bool sl_num_is_canonical_decimal(const char *s, size_t n);

#endif
