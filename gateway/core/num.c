#include "core/num.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t special(double v, char *out) {
    const char *s = isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
    size_t n = strlen(s);
    memcpy(out, s, n + 1);
    return n;
}

size_t sl_num_double(double v, char *out) {
    if (!isfinite(v)) {
        return special(v, out);
    }
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(out, 32, "%.*g", prec, v);
        if (strtod(out, NULL) == v) {
            break;
        }
    }
    return (size_t)n;
}

size_t sl_num_float(float v, char *out) {
    if (!isfinite(v)) {
        return special(v, out);
    }
    int n = 0;
    for (int prec = 1; prec <= 9; prec++) {
        n = snprintf(out, 32, "%.*g", prec, (double)v);
        if (strtof(out, NULL) == v) {
            break;
        }
    }
    return (size_t)n;
}
