#include "policy/scrub.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"

/* Every recognizer below looks at most a bounded distance ahead of where it starts (an IPv6 run,
 * 15 or 19 digits, a 253-character domain), except the e-mail local part, whose end is cached
 * so each run is read once. A number that matches nothing is skipped whole. So every byte is
 * looked at a bounded number of times: linear time, whatever the input. */

typedef enum { K_NONE, K_EMAIL, K_IP, K_DATE, K_CARD, K_PHONE } kind_t;

typedef struct {
    const unsigned char *s;
    size_t n;
    /* The last local-part run read for the e-mail recognizer: [run_from, run_end), and the end
     * of the domain after its '@' (0: none). Any position inside it has the same answer. */
    size_t run_from;
    size_t run_end;
    size_t dom_end;
} scan_t;

#define DOMAIN_MAX 253
#define LABEL_MAX 63
#define IPV6_RUN_MAX 45
#define ZONE_MAX 32
#define PHONE_DIGITS_MIN 7
#define PHONE_DIGITS_MAX 15
#define CARD_DIGITS_MIN 13
#define CARD_DIGITS_MAX 19
#define LONG_GROUP 7 /* a space between two groups this long separates two numbers */

/* The byte at i, or 0 past the end (0 is in no class below). */
static unsigned char at(const scan_t *sc, size_t i) {
    return i < sc->n ? sc->s[i] : 0;
}

static bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_word(unsigned char c) {
    return is_alpha(c) || is_digit(c) || c == '_';
}

static bool is_hex(unsigned char c) {
    return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static bool is_local(unsigned char c) {
    return is_alpha(c) || is_digit(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static bool is_label(unsigned char c) {
    return is_alpha(c) || is_digit(c) || c == '-';
}

/* --- e-mail ---------------------------------------------------------------------------------- */

static bool is_tld(const unsigned char *p, size_t n) {
    if (n >= 5 && (p[0] | 0x20) == 'x' && (p[1] | 0x20) == 'n' && p[2] == '-' && p[3] == '-') {
        return true; /* punycode; its label rules were checked by the caller */
    }
    if (n < 2) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_alpha(p[i])) {
            return false;
        }
    }
    return true;
}

/* The end of the domain starting at i (just after '@'), or 0. */
static size_t domain_end(const scan_t *sc, size_t i) {
    size_t best = 0;
    int labels = 0;
    size_t j = i;
    for (;;) {
        size_t l = j;
        while (j < sc->n && is_label(sc->s[j]) && j - l <= LABEL_MAX && j - i <= DOMAIN_MAX) {
            j++;
        }
        size_t len = j - l;
        if (len == 0 || len > LABEL_MAX || j - i > DOMAIN_MAX || sc->s[l] == '-' ||
            sc->s[j - 1] == '-') {
            break;
        }
        labels++;
        if (labels >= 2 && is_tld(sc->s + l, len)) {
            best = j;
        }
        if (at(sc, j) != '.' || !is_label(at(sc, j + 1))) {
            break;
        }
        j++;
    }
    return best;
}

/* An e-mail starting at i: its end, or 0. */
static size_t match_email(scan_t *sc, size_t i) {
    if (sc->s[i] == '.') {
        return 0; /* leading dots are not part of it; it may start at the next position */
    }
    if (i < sc->run_from || i >= sc->run_end) {
        size_t j = i;
        while (j < sc->n && is_local(sc->s[j])) {
            j++;
        }
        sc->run_from = i;
        sc->run_end = j;
        sc->dom_end = at(sc, j) == '@' ? domain_end(sc, j + 1) : 0;
    }
    return sc->dom_end;
}

/* --- IPv6 ------------------------------------------------------------------------------------ */

static bool ipv6_start(const scan_t *sc, size_t i) {
    unsigned char c = sc->s[i];
    if (!is_hex(c) && c != ':') {
        return false;
    }
    if (i == 0) {
        return true;
    }
    unsigned char p = sc->s[i - 1];
    if (is_word(p) || p == '.') {
        return false;
    }
    if (p == ':' && i >= 2 && (is_hex(sc->s[i - 2]) || sc->s[i - 2] == ':')) {
        return false;
    }
    return true;
}

static bool ipv6_valid(const scan_t *sc, size_t i, size_t e) {
    size_t colons = 0;
    bool digit = false;
    for (size_t k = i; k < e; k++) {
        colons += sc->s[k] == ':';
        digit = digit || is_digit(sc->s[k]);
    }
    if (colons < 2 || !digit || is_word(at(sc, e))) {
        return false;
    }
    char text[IPV6_RUN_MAX + 1];
    memcpy(text, sc->s + i, e - i);
    text[e - i] = '\0';
    uint8_t a[16];
    return inet_pton(AF_INET6, text, a) == 1;
}

static size_t match_ipv6(const scan_t *sc, size_t i) {
    size_t j = i;
    while (j < sc->n && j - i <= IPV6_RUN_MAX &&
           (is_hex(sc->s[j]) || sc->s[j] == ':' || sc->s[j] == '.')) {
        j++;
    }
    if (j - i > IPV6_RUN_MAX) {
        return 0;
    }
    /* The run itself; else without trailing dots (end of a sentence); else without a single
     * trailing ':' ("fe80::1: down"). */
    size_t e = 0;
    size_t t = j;
    while (t > i && sc->s[t - 1] == '.') {
        t--;
    }
    if (ipv6_valid(sc, i, j)) {
        e = j;
    } else if (t < j && ipv6_valid(sc, i, t)) {
        e = t;
    } else if (t - i >= 2 && sc->s[t - 1] == ':' && sc->s[t - 2] != ':' &&
               ipv6_valid(sc, i, t - 1)) {
        e = t - 1;
    }
    if (e == 0) {
        return 0;
    }
    if (at(sc, e) == '%') {
        size_t z = e + 1;
        while (z < sc->n && z - e <= ZONE_MAX &&
               (is_word(sc->s[z]) || sc->s[z] == '.' || sc->s[z] == '~' || sc->s[z] == '-')) {
            z++;
        }
        if (z > e + 1 && z - e - 1 <= ZONE_MAX) {
            e = z;
        }
    }
    return e;
}

/* --- numbers --------------------------------------------------------------------------------- */

static bool number_start(const scan_t *sc, size_t i) {
    if (i == 0) {
        return true;
    }
    unsigned char p = sc->s[i - 1];
    if (is_word(p)) {
        return false;
    }
    bool joiner = p == '.' || p == '-' || p == ':' || p == '+';
    return !(joiner && i >= 2 && is_digit(sc->s[i - 2]));
}

/* Digits at i, up to max + 1 of them (enough to tell "more than max"). */
static size_t digits_at(const scan_t *sc, size_t i, size_t max) {
    size_t k = 0;
    while (k <= max && is_digit(at(sc, i + k))) {
        k++;
    }
    return k;
}

/* The end of the number starting at i (see scrub.h), skipped whole when nothing matches. */
static size_t number_end(const scan_t *sc, size_t i) {
    size_t j = i;
    for (;;) {
        size_t g = j;
        while (j < sc->n && is_digit(sc->s[j])) {
            j++;
        }
        unsigned char c = at(sc, j);
        if (!is_digit(at(sc, j + 1))) {
            return j;
        }
        if (c == '.' || c == '-' || c == ':') {
            j++;
            continue;
        }
        if (c == ' ' && !(j - g >= LONG_GROUP && digits_at(sc, j + 1, LONG_GROUP) >= LONG_GROUP)) {
            j++;
            continue;
        }
        return j;
    }
}

/* A number must not go on right after a match: no word character, no joiner then a digit. */
static bool number_ends_at(const scan_t *sc, size_t e, const char *joiners) {
    unsigned char c = at(sc, e);
    if (is_word(c)) {
        return false;
    }
    return !(c != 0 && strchr(joiners, c) != NULL && is_digit(at(sc, e + 1)));
}

static size_t match_ipv4(const scan_t *sc, size_t i) {
    size_t j = i;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (at(sc, j) != '.') {
                return 0;
            }
            j++;
        }
        size_t k = digits_at(sc, j, 3);
        if (k == 0 || k > 3) {
            return 0;
        }
        unsigned v = 0;
        for (size_t d = 0; d < k; d++) {
            v = v * 10 + (unsigned)(sc->s[j + d] - '0');
        }
        if (v > 255) {
            return 0;
        }
        j += k;
    }
    return number_ends_at(sc, j, ".") ? j : 0;
}

/* The value of the k digits at i. */
static unsigned value_at(const scan_t *sc, size_t i, size_t k) {
    unsigned v = 0;
    for (size_t d = 0; d < k; d++) {
        v = v * 10 + (unsigned)(sc->s[i + d] - '0');
    }
    return v;
}

static size_t match_date(const scan_t *sc, size_t i) {
    size_t k1 = digits_at(sc, i, 4);
    unsigned char sep = at(sc, i + k1);
    if (sep != '-' && sep != '.' && sep != '/') {
        return 0;
    }
    size_t i2 = i + k1 + 1;
    size_t k2 = digits_at(sc, i2, 2);
    if (at(sc, i2 + k2) != sep) {
        return 0;
    }
    size_t i3 = i2 + k2 + 1;
    size_t k3 = digits_at(sc, i3, 4);
    if (k2 < 1 || k2 > 2 || is_digit(at(sc, i3 + k3))) {
        return 0;
    }
    unsigned a = value_at(sc, i, k1);
    unsigned b = value_at(sc, i2, k2);
    unsigned c = value_at(sc, i3, k3);
    if (k1 == 4 && k3 >= 1 && k3 <= 2) { /* Y M D */
        return b >= 1 && b <= 12 && c >= 1 && c <= 31 ? i3 + k3 : 0;
    }
    if (k1 >= 1 && k1 <= 2 && k3 == 4) { /* D M Y or M D Y */
        bool dmy = a >= 1 && a <= 31 && b >= 1 && b <= 12;
        bool mdy = a >= 1 && a <= 12 && b >= 1 && b <= 31;
        return dmy || mdy ? i3 + k3 : 0;
    }
    return 0;
}

static bool luhn(const uint8_t *d, size_t n) {
    unsigned sum = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned v = d[n - 1 - k];
        if (k % 2 == 1) {
            v *= 2;
            if (v > 9) {
                v -= 9;
            }
        }
        sum += v;
    }
    return sum % 10 == 0;
}

static size_t match_card(const scan_t *sc, size_t i) {
    if (i > 0 && sc->s[i - 1] == '+') {
        return 0;
    }
    uint8_t d[CARD_DIGITS_MAX];
    size_t nd = 0;
    size_t ends[CARD_DIGITS_MAX]; /* where each group ends ... */
    size_t upto[CARD_DIGITS_MAX]; /* ... and the digits up to it */
    size_t ng = 0;
    unsigned char sep = 0;
    size_t j = i;
    for (;;) {
        while (is_digit(at(sc, j)) && nd < CARD_DIGITS_MAX) {
            d[nd++] = (uint8_t)(sc->s[j++] - '0');
        }
        if (is_digit(at(sc, j))) {
            break; /* more than 19 digits: this group ends no card */
        }
        ends[ng] = j;
        upto[ng] = nd;
        ng++;
        unsigned char c = at(sc, j);
        if ((c == ' ' || c == '-') && (sep == 0 || sep == c) && is_digit(at(sc, j + 1))) {
            sep = c;
            j++;
            continue;
        }
        break;
    }
    while (ng > 0) {
        ng--;
        if (upto[ng] >= CARD_DIGITS_MIN && luhn(d, upto[ng]) &&
            number_ends_at(sc, ends[ng], ".:")) {
            return ends[ng];
        }
    }
    return 0;
}

static size_t match_phone(const scan_t *sc, size_t i) {
    size_t j = i;
    if (at(sc, j) == '+') {
        j++;
    }
    bool open = false;
    if (at(sc, j) == '(') {
        open = true;
        j++;
    }
    if (!is_digit(at(sc, j))) {
        return 0;
    }
    size_t digits = 0;
    size_t groups = 0;
    bool only_dots = true;
    for (;;) {
        size_t g = j;
        while (is_digit(at(sc, j))) {
            j++;
            if (++digits > PHONE_DIGITS_MAX) {
                return 0; /* part of a longer number */
            }
        }
        groups++;
        /* Between groups: [')'] [' ' | '.' | '-'] ['('], at least one of them. */
        size_t k = j;
        bool closes = false;
        bool opens = false;
        unsigned char mid = 0;
        if (at(sc, k) == ')' && open) {
            closes = true;
            k++;
        }
        unsigned char c = at(sc, k);
        if (c == ' ' || c == '.' || c == '-') {
            mid = c;
            k++;
        }
        if (at(sc, k) == '(' && (!open || closes)) {
            opens = true;
            k++;
        }
        if (k == j || !is_digit(at(sc, k))) {
            break;
        }
        if (mid == ' ' && !closes && !opens && j - g >= LONG_GROUP &&
            digits_at(sc, k, LONG_GROUP) >= LONG_GROUP) {
            break; /* two long groups: two numbers */
        }
        if (mid != '.' || closes || opens) {
            only_dots = false;
        }
        open = (open && !closes) || opens;
        j = k;
    }
    if (open || digits < PHONE_DIGITS_MIN || (groups == 2 && only_dots)) {
        return 0;
    }
    return number_ends_at(sc, j, ".-:") ? j : 0;
}

/* --- the pass -------------------------------------------------------------------------------- */

static const char *const placeholder[] = {
    [K_EMAIL] = "[email]", [K_IP] = "[ip]", [K_CARD] = "[card]", [K_PHONE] = "[phone]"};

static unsigned kind_bit(kind_t k) {
    switch (k) {
    case K_EMAIL:
        return SL_SCRUB_EMAIL;
    case K_IP:
        return SL_SCRUB_IP;
    case K_CARD:
        return SL_SCRUB_CARD;
    case K_PHONE:
        return SL_SCRUB_PHONE;
    default:
        return 0; /* dates are never replaced */
    }
}

size_t sl_scrub(const char *in, size_t n, unsigned kinds, sl_buf_t *out) {
    if (n == 0) {
        return 0;
    }
    scan_t sc = {.s = (const unsigned char *)in, .n = n, .run_from = 0, .run_end = 0};
    size_t count = 0;
    size_t lit = 0; /* start of the text not yet copied */
    size_t i = 0;
    while (i < n) {
        unsigned char c = sc.s[i];
        if (c >= 0x80) {
            size_t k = sl_utf8_seq(sc.s + i, n - i);
            i += k > 0 ? k : 1;
            continue;
        }
        kind_t kind = K_NONE;
        size_t e = 0;
        if (is_local(c) && (e = match_email(&sc, i)) != 0) {
            kind = K_EMAIL;
        } else if (ipv6_start(&sc, i) && (e = match_ipv6(&sc, i)) != 0) {
            kind = K_IP;
        } else if (number_start(&sc, i) && (is_digit(c) || c == '+' || c == '(')) {
            if (is_digit(c) && (e = match_ipv4(&sc, i)) != 0) {
                kind = K_IP;
            } else if (is_digit(c) && (e = match_date(&sc, i)) != 0) {
                kind = K_DATE;
            } else if (is_digit(c) && (e = match_card(&sc, i)) != 0) {
                kind = K_CARD;
            } else if ((e = match_phone(&sc, i)) != 0) {
                kind = K_PHONE;
            } else if (is_digit(c)) {
                i = number_end(&sc, i);
                continue;
            }
        }
        if (kind == K_NONE) {
            i++;
            continue;
        }
        if ((kinds & kind_bit(kind)) != 0) {
            sl_buf_append(out, in + lit, i - lit);
            sl_buf_puts(out, placeholder[kind]);
            lit = e;
            count++;
        }
        i = e;
    }
    sl_buf_append(out, in + lit, n - lit);
    return count;
}
