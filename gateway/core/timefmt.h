/* core/timefmt: timestamps as they appear on the wire. Pure functions, thread-safe. */
#ifndef SL_CORE_TIMEFMT_H
#define SL_CORE_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Parse an RFC 3339 date-time ("2026-11-27T10:00:00.123Z", offsets "+02:00" allowed, fraction
 * optional and truncated to milliseconds) into Unix epoch milliseconds. Returns 0 on success,
 * -1 when s (n bytes, not necessarily NUL-terminated) is not such a timestamp. */
int sl_time_parse_rfc3339(const char *s, size_t n, int64_t *out_ms);

/* The range RFC 3339's four-digit years can write: 0000-01-01 to 9999-12-31T23:59:59.999Z. */
#define SL_TIME_MIN_MS (-62167219200000LL)
#define SL_TIME_MAX_MS (253402300799999LL)

/* Format epoch milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (at least 25 bytes); values
 * outside [SL_TIME_MIN_MS, SL_TIME_MAX_MS] are clamped. */
void sl_time_format_rfc3339(int64_t ms, char out[25]);

/* Wall clock in epoch milliseconds, and a monotonic clock in nanoseconds. */
int64_t sl_time_now_ms(void);
uint64_t sl_time_mono_ns(void);

#endif
