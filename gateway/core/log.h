/* core/log: leveled logging to stderr, one line per record. Thread-safe.
 * Never pass a token, a secret or an event body to the log. */
#ifndef SL_CORE_LOG_H
#define SL_CORE_LOG_H

typedef enum { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR } sl_log_level_t;

void sl_log_set_level(sl_log_level_t level);
/* Parses "debug" | "info" | "warn" | "error"; returns -1 when the name is unknown. */
int sl_log_level_parse(const char *name);
void sl_log(sl_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define SL_DEBUG(...) sl_log(SL_LOG_DEBUG, __VA_ARGS__)
#define SL_INFO(...) sl_log(SL_LOG_INFO, __VA_ARGS__)
#define SL_WARN(...) sl_log(SL_LOG_WARN, __VA_ARGS__)
#define SL_ERROR(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)

#endif
