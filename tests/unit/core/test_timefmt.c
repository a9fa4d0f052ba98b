#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/timefmt.h"

/* 2026-11-27T10:00:00Z (date -u -d 2026-11-27T10:00:00Z +%s) */
#define T0_MS INT64_C(1795773600000)

static int parse(const char *s, int64_t *ms) {
    return sl_time_parse_rfc3339(s, strlen(s), ms);
}

static int64_t must_parse(const char *s) {
    int64_t ms = -42;
    cr_assert(eq(int, parse(s, &ms), 0), "\"%s\" was refused", s);
    return ms;
}

static void must_refuse(const char *s) {
    int64_t ms = 0;
    cr_assert(eq(int, parse(s, &ms), -1), "\"%s\" was accepted as %lld", s, (long long)ms);
}

Test(timefmt, parse_utc_z) {
    cr_assert(eq(i64, must_parse("1970-01-01T00:00:00Z"), 0));
    cr_assert(eq(i64, must_parse("2026-11-27T10:00:00Z"), T0_MS));
    cr_assert(eq(i64, must_parse("2026-11-27t10:00:00z"), T0_MS));
    cr_assert(eq(i64, must_parse("2026-11-27T10:00:01Z"), T0_MS + 1000));
    cr_assert(eq(i64, must_parse("2026-11-27T10:01:00Z"), T0_MS + 60000));
    cr_assert(eq(i64, must_parse("2026-11-27T11:00:00Z"), T0_MS + 3600000));
    cr_assert(eq(i64, must_parse("2026-11-28T10:00:00Z"), T0_MS + 86400000));
}

Test(timefmt, parse_offsets) {
    cr_assert(eq(i64, must_parse("2026-11-27T12:00:00+02:00"), T0_MS));
    cr_assert(eq(i64, must_parse("2026-11-27T04:30:00-05:30"), T0_MS));
    cr_assert(eq(i64, must_parse("2026-11-27T10:00:00+00:00"), T0_MS));
    cr_assert(eq(i64, must_parse("2026-11-27T10:00:00-00:00"), T0_MS));
    /* An offset moves the date too. */
    cr_assert(eq(i64, must_parse("2026-11-28T01:00:00+15:00"), T0_MS));
    cr_assert(eq(i64, must_parse("2026-11-27T12:00:00.250+02:00"), T0_MS + 250));
}

Test(timefmt, parse_fractions_truncated_to_ms) {
    cr_assert(eq(i64, must_parse("2026-11-27T10:00:00.1Z"), T0_MS + 100));
    cr_assert(eq(i64, must_parse("2026-11-27T10:00:00.12Z"), T0_MS + 120));
    cr_assert(eq(i64, must_parse("2026-11-27T10:00:00.123Z"), T0_MS + 123));
    cr_assert(eq(i64, must_parse("2026-11-27T10:00:00.1239Z"), T0_MS + 123));
    cr_assert(eq(i64, must_parse("2026-11-27T10:00:00.999999999Z"), T0_MS + 999));
    cr_assert(eq(i64, must_parse("2026-11-27T10:00:00.000001Z"), T0_MS));
}

Test(timefmt, parse_leap_days) {
    cr_assert(eq(i64, must_parse("2024-02-29T23:59:59Z"), INT64_C(1709251199000)));
    cr_assert(eq(i64, must_parse("2000-02-29T12:00:00Z"), INT64_C(951825600000)));
    must_refuse("2023-02-29T00:00:00Z");
    must_refuse("1900-02-29T00:00:00Z");
    must_refuse("2100-02-29T00:00:00Z");
    must_refuse("2024-02-30T00:00:00Z");
    must_parse("2023-02-28T00:00:00Z");
}

Test(timefmt, parse_refuses_bad_month_and_day) {
    must_refuse("2026-13-01T00:00:00Z");
    must_refuse("2026-00-01T00:00:00Z");
    must_refuse("2026-01-00T00:00:00Z");
    must_refuse("2026-01-32T00:00:00Z");
    must_refuse("2026-04-31T00:00:00Z");
    must_refuse("2026-06-31T00:00:00Z");
    must_parse("2026-12-31T23:59:59Z");
}

Test(timefmt, parse_refuses_bad_time) {
    must_refuse("2026-11-27T24:00:00Z");
    must_refuse("2026-11-27T10:60:00Z");
    must_refuse("2026-11-27T10:00:61Z");
    must_refuse("2026-11-27T10:00:00+24:00");
    must_refuse("2026-11-27T10:00:00+02:60");
}

Test(timefmt, parse_refuses_bad_format) {
    must_refuse("");
    must_refuse("2026-11-27");
    must_refuse("2026-11-27T10:00Z");
    must_refuse("2026-11-27T10:00:00"); /* no zone */
    must_refuse("2026/11/27T10:00:00Z");
    must_refuse("2026-11-27X10:00:00Z");
    must_refuse("26-11-27T10:00:00Z");
    must_refuse("2026-1-27T10:00:00Z");
    must_refuse("2026-11-27T10:00:00.Z"); /* empty fraction */
    must_refuse("2026-11-27T10:00:00+0200");
    must_refuse("2026-11-27T10:00:00+02");
    must_refuse("2026-11-27T10:00:00 +02:00");
    must_refuse("2026-11-27T1a:00:00Z");
    must_refuse("+2026-11-27T10:00:00Z");
    must_refuse("1795773600000");
}

Test(timefmt, parse_refuses_trailing_junk) {
    must_refuse("2026-11-27T10:00:00Zjunk");
    must_refuse("2026-11-27T10:00:00ZZ");
    must_refuse("2026-11-27T10:00:00Z ");
    must_refuse("2026-11-27T10:00:00+02:00x");
    must_refuse("2026-11-27T10:00:00+02:00Z");
    must_refuse("2026-11-27T10:00:00.123Zx");
    must_refuse(" 2026-11-27T10:00:00Z");
}

Test(timefmt, parse_reads_only_n_bytes) {
    const char buf[] = "2026-11-27T10:00:00Z2026";
    int64_t ms = 0;
    cr_assert(eq(int, sl_time_parse_rfc3339(buf, 20, &ms), 0));
    cr_assert(eq(i64, ms, T0_MS));
    cr_assert(eq(int, sl_time_parse_rfc3339(buf, 19, &ms), -1));
    cr_assert(eq(int, sl_time_parse_rfc3339(buf, 21, &ms), -1));
    /* Exactly n bytes, no NUL anywhere (ASan catches a read past them). */
    char *exact = malloc(25);
    memcpy(exact, "2026-11-27T12:00:00+02:00", 25);
    cr_assert(eq(int, sl_time_parse_rfc3339(exact, 25, &ms), 0));
    cr_assert(eq(i64, ms, T0_MS));
    cr_assert(eq(int, sl_time_parse_rfc3339(exact, 23, &ms), -1));
    free(exact);
    char *frac = malloc(23);
    memcpy(frac, "2026-11-27T10:00:00.123", 23);
    cr_assert(eq(int, sl_time_parse_rfc3339(frac, 23, &ms), -1));
    free(frac);
}

Test(timefmt, format) {
    char out[25];
    sl_time_format_rfc3339(0, out);
    cr_assert(eq(str, out, "1970-01-01T00:00:00.000Z"));
    sl_time_format_rfc3339(T0_MS + 7, out);
    cr_assert(eq(str, out, "2026-11-27T10:00:00.007Z"));
    sl_time_format_rfc3339(INT64_C(1709251199999), out);
    cr_assert(eq(str, out, "2024-02-29T23:59:59.999Z"));
    cr_assert(eq(sz, strlen(out), 24));
}

Test(timefmt, format_range_is_four_digit_years) {
    char out[25];
    sl_time_format_rfc3339(SL_TIME_MAX_MS, out);
    cr_assert(eq(str, out, "9999-12-31T23:59:59.999Z"));
    sl_time_format_rfc3339(SL_TIME_MIN_MS, out);
    cr_assert(eq(str, out, "0000-01-01T00:00:00.000Z"));
    sl_time_format_rfc3339(INT64_MAX, out); /* clamped, never more than 24 characters */
    cr_assert(eq(str, out, "9999-12-31T23:59:59.999Z"));
    sl_time_format_rfc3339(-1, out);
    cr_assert(eq(str, out, "1969-12-31T23:59:59.999Z"));
}

Test(timefmt, format_matches_gmtime) {
    /* Every day of 1600..2400 at a varying time of day, against the C library. */
    for (int64_t day = -135140; day <= 157054; day += 1) {
        int64_t ms = day * 86400000 + (day * 7919 % 86400000 + 86400000) % 86400000;
        char out[25];
        sl_time_format_rfc3339(ms, out);
        time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char want[64];
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(((ms % 1000) + 1000) % 1000));
        cr_assert(eq(str, out, want), "ms %lld", (long long)ms);
    }
}

Test(timefmt, format_parse_round_trip) {
    const char *canonical[] = {
        "1970-01-01T00:00:00.000Z", "2000-02-29T12:34:56.789Z", "2024-02-29T23:59:59.999Z",
        "2026-11-27T10:00:00.123Z", "2038-01-19T03:14:08.001Z", "9999-12-31T23:59:59.999Z",
    };
    for (size_t i = 0; i < sizeof(canonical) / sizeof(canonical[0]); i++) {
        int64_t ms = must_parse(canonical[i]);
        char out[25];
        sl_time_format_rfc3339(ms, out);
        cr_assert(eq(str, out, (char *)canonical[i]));
    }
    for (int64_t ms = T0_MS - 5000; ms < T0_MS + 5000; ms += 37) {
        char out[25];
        sl_time_format_rfc3339(ms, out);
        int64_t back = -1;
        cr_assert(eq(int, sl_time_parse_rfc3339(out, strlen(out), &back), 0), "%s", out);
        cr_assert(eq(i64, back, ms), "%s", out);
    }
}

/* Parse accepts dates before 1970 (negative epoch milliseconds); format must give them back. */
Test(timefmt, format_parse_round_trip_before_1970) {
    const char *canonical[] = {"1969-07-20T20:17:40.000Z", "1969-07-20T20:17:40.500Z",
                               "1969-12-31T23:59:59.999Z"};
    for (size_t i = 0; i < sizeof(canonical) / sizeof(canonical[0]); i++) {
        int64_t ms = must_parse(canonical[i]);
        cr_assert(ms < 0);
        char out[25];
        sl_time_format_rfc3339(ms, out);
        cr_assert(eq(str, out, (char *)canonical[i]));
    }
}

Test(timefmt, clocks_move) {
    int64_t now = sl_time_now_ms();
    cr_assert(now > INT64_C(1700000000000));
    uint64_t a = sl_time_mono_ns();
    uint64_t b = sl_time_mono_ns();
    cr_assert(b >= a);
}
