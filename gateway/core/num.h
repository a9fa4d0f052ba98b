/* core/num: numbers written the one way sluice writes them (canonical output).
 *
 * Floating-point values are written with the fewest significant digits that read back to the
 * same value (so 0.1 stays "0.1" and 1e21 is "1e+21"), the way proto3 JSON printers do. */
#ifndef SL_CORE_NUM_H
#define SL_CORE_NUM_H

#include <stddef.h>

/* The shortest round-trip decimal of v into out (at least 32 bytes), NUL-terminated; returns
 * its length. NaN and infinities are written "NaN", "Infinity", "-Infinity". */
size_t sl_num_double(double v, char *out);
/* The same for a 32-bit float: the shortest decimal that reads back (as a float) to v. */
size_t sl_num_float(float v, char *out);

#endif
