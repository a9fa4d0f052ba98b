#include "core/num.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t special(double v, char *out) {
    const char *s = isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
    size_t n = strlen(s);
    memcpy(out, s, n + 1);
    return n;
}

size_t sl_num_u64(uint64_t v, char *out) {
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    out[n] = '\0';
    return n;
}

size_t sl_num_i64(int64_t v, char *out) {
    if (v < 0) {
        out[0] = '-';
        return 1 + sl_num_u64((uint64_t)0 - (uint64_t)v, out + 1);
    }
    return sl_num_u64((uint64_t)v, out);
}

/* %.Ng keeps at most N significant digits and drops trailing zeros, so when the shortest
 * round-trip form of a normal double has k <= N digits, %.Ng prints exactly it: try 15 (enough
 * for almost every decimal a client sends), then 16 and 17 (always enough for a double). */
size_t sl_num_double(double v, char *out) {
    if (!isfinite(v)) {
        return special(v, out);
    }
    if (v == floor(v) && fabs(v) < 1e15 && !(v == 0 && signbit(v))) {
        return sl_num_i64((int64_t)v, out); /* what %g prints for these */
    }
    /* Short decimals (prices, coordinates): the fewest fraction digits k whose integer m =
     * v * 10^k reads back to v, written as m with a decimal point — what %.15g writes when
     * those digits are at most 15 and v >= 1e-4, without printf. */
    static const double p10[] = {1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    double a = fabs(v);
    if (a >= 1e-4 && a < 1e6) {
        for (int k = 1; k <= 9; k++) {
            double t = a * p10[k - 1];
            if (t >= 1e15) {
                break;
            }
            int64_t m = (int64_t)(t + 0.5);
            if ((double)m / p10[k - 1] == a) {
                char digits[24];
                size_t nd = sl_num_u64((uint64_t)m, digits);
                size_t o = 0;
                if (v < 0) {
                    out[o++] = '-';
                }
                if (nd <= (size_t)k) { /* 0.000ddd */
                    out[o++] = '0';
                    out[o++] = '.';
                    for (size_t z = nd; z < (size_t)k; z++) {
                        out[o++] = '0';
                    }
                    memcpy(out + o, digits, nd);
                    o += nd;
                } else {
                    memcpy(out + o, digits, nd - (size_t)k);
                    o += nd - (size_t)k;
                    out[o++] = '.';
                    memcpy(out + o, digits + nd - k, (size_t)k);
                    o += (size_t)k;
                }
                out[o] = '\0';
                return o;
            }
        }
    }
    /* Subnormals hold fewer digits: there a longer form can read back too, so count up. */
    int n = 0;
    for (int prec = a < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
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
    if (v == floorf(v) && fabsf(v) < 1e6f && !(v == 0 && signbit(v))) {
        return sl_num_i64((int64_t)v, out);
    }
    int n = 0;
    for (int prec = fabsf(v) < FLT_MIN ? 1 : 6; prec <= 9; prec++) {
        n = snprintf(out, 32, "%.*g", prec, (double)v);
        if (strtof(out, NULL) == v) {
            break;
        }
    }
    return (size_t)n;
}

bool sl_num_is_canonical_decimal(const char *s, size_t n) {
    size_t i = 0;
    if (i < n && s[i] == '-') {
        i++;
    }
    size_t int_start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        i++;
    }
    size_t int_len = i - int_start;
    if (int_len == 0 || int_len > 15 || (int_len > 1 && s[int_start] == '0')) {
        return false;
    }
    bool zero_int = int_len == 1 && s[int_start] == '0';
    size_t sig = zero_int ? 0 : int_len;
    if (i == n) {
        return !(zero_int && s[0] == '-'); /* "-0" is written "-0" by %g, keep it simple */
    }
    if (s[i] != '.') {
        return false; /* exponent */
    }
    i++;
    size_t frac_start = i;
    size_t leading_zeros = 0;
    bool nonzero_seen = !zero_int;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (!nonzero_seen && s[i] == '0') {
            leading_zeros++;
        } else {
            nonzero_seen = true;
            sig++;
        }
        i++;
    }
    if (i != n || i == frac_start || s[n - 1] == '0' || !nonzero_seen) {
        return false; /* not all digits, "1.", trailing zero, or 0.000 */
    }
    /* %g switches to an exponent below 1e-4; 15 significant digits always round-trip. */
    return sig <= 15 && (!zero_int || leading_zeros < 4);
}
