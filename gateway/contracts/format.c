/* contracts/format: the value formats a field rule can require, shared by the JSON and the
 * protobuf validators. */
#include <string.h>

#include "contracts/contracts.h"
#include "core/timefmt.h"

static bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool sl_ct_format_ok(sl_ct_format_t f, const char *s, size_t n) {
    switch (f) {
    case SL_FMT_NONE:
        return true;
    case SL_FMT_UUID:
        if (n != 36) {
            return false;
        }
        for (size_t i = 0; i < 36; i++) {
            bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            if (dash ? s[i] != '-' : !is_hex(s[i])) {
                return false;
            }
        }
        return true;
    case SL_FMT_ISO4217:
        return n == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' &&
               s[2] <= 'Z';
    case SL_FMT_COUNTRY:
        return n == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
    case SL_FMT_URL: {
        size_t p = n >= 8 && strncmp(s, "https://", 8) == 0  ? 8
                   : n >= 7 && strncmp(s, "http://", 7) == 0 ? 7
                                                             : 0;
        if (p == 0 || p == n || s[p] == '/') {
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)s[i] <= ' ' || s[i] == '"' || s[i] == '<' || s[i] == '>') {
                return false;
            }
        }
        return true;
    }
    case SL_FMT_EMAIL: {
        const char *at = memchr(s, '@', n);
        if (at == NULL || at == s || memchr(at + 1, '@', n - (size_t)(at + 1 - s)) != NULL) {
            return false;
        }
        const char *dot = memchr(at + 1, '.', n - (size_t)(at + 1 - s));
        if (dot == NULL || dot == at + 1 || dot == s + n - 1) {
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)s[i] <= ' ') {
                return false;
            }
        }
        return true;
    }
    case SL_FMT_RFC3339: {
        int64_t ms;
        return sl_time_parse_rfc3339(s, n, &ms) == 0;
    }
    case SL_FMT_LOCALE: {
        /* language[-Script][-REGION]...: letters and digits in subtags of 1-8, first 2-3. */
        size_t i = 0, first = 0;
        while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))) {
            i++;
        }
        first = i;
        if (first < 2 || first > 3) {
            return false;
        }
        while (i < n) {
            if (s[i] != '-' && s[i] != '_') {
                return false;
            }
            size_t st = ++i;
            while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                             (s[i] >= '0' && s[i] <= '9'))) {
                i++;
            }
            if (i - st < 1 || i - st > 8) {
                return false;
            }
        }
        return true;
    }
    }
    return true;
}

const char *sl_ct_format_phrase(sl_ct_format_t f) {
    static const char *names[] = {"",
                                  "a UUID",
                                  "an ISO 4217 currency code",
                                  "an http(s) URL",
                                  "an e-mail address",
                                  "an RFC 3339 timestamp",
                                  "an ISO 3166-1 alpha-2 country code",
                                  "a BCP 47 locale"};
    return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f] : "a valid value";
}
