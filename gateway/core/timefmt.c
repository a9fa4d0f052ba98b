#include "core/timefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's formula). */
static int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return 29;
    }
    return dm[m - 1];
}

int sl_time_parse_rfc3339(const char *s, size_t n, int64_t *out_ms) {
    int y, mo, d, h, mi, sec;
    if (n < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec)) {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60) {
        return -1;
    }
    size_t i = 19;
    int ms = 0;
    if (i < n && s[i] == '.') {
        i++;
        size_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (i - start < 3) {
                ms = ms * 10 + (s[i] - '0');
            }
            i++;
        }
        if (i == start) {
            return -1;
        }
        for (size_t k = i - start; k < 3; k++) {
            ms *= 10;
        }
    }
    int64_t offset_min = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) || oh > 23 || om > 59) {
            return -1;
        }
        offset_min = (s[i] == '-' ? -1 : 1) * (int64_t)(oh * 60 + om);
        i += 6;
    } else {
        return -1;
    }
    if (i != n) {
        return -1;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 +
                   (sec > 59 ? 59 : sec);
    *out_ms = (secs - offset_min * 60) * 1000 + ms;
    return 0;
}

static void put2(char *p, int v) {
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* On every produced event: plain arithmetic (Howard Hinnant's civil_from_days), no gmtime or
 * printf. Years outside 0000-9999 are clamped to the range (validation refuses them). */
void sl_time_format_rfc3339(int64_t ms, char out[25]) {
    if (ms < SL_TIME_MIN_MS) {
        ms = SL_TIME_MIN_MS;
    } else if (ms > SL_TIME_MAX_MS) {
        ms = SL_TIME_MAX_MS;
    }
    /* Floor division: -1 ms is 1969-12-31T23:59:59.999Z. */
    int64_t sec = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        sec -= 1;
        frac += 1000;
    }
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        days -= 1;
        rem += 86400;
    }
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int y = (int)(yoe + era * 400 + (m <= 2));
    put2(out, y / 100);
    put2(out + 2, y % 100);
    out[4] = '-';
    put2(out + 5, m);
    out[7] = '-';
    put2(out + 8, d);
    out[10] = 'T';
    put2(out + 11, (int)(rem / 3600));
    out[13] = ':';
    put2(out + 14, (int)(rem / 60 % 60));
    out[16] = ':';
    put2(out + 17, (int)(rem % 60));
    out[19] = '.';
    out[20] = (char)('0' + frac / 100);
    put2(out + 21, (int)(frac % 100));
    out[23] = 'Z';
    out[24] = '\0';
}

int64_t sl_time_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t sl_time_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
