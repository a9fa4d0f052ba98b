/* policy/scrub: finds contact details, card numbers and IP addresses inside free text (search
 * queries, notes, user agents) and replaces each with a typed placeholder.
 *
 * Pure, no globals, thread-safe (each caller has its own output buffer). One left-to-right pass
 * with bounded look-ahead and no regex or backtracking: time is linear in the input length. Every
 * rule below reads ASCII only; a byte of a non-ASCII character is never part of a match and acts
 * as a separator next to one, so no multi-byte character is ever split or altered.
 *
 * THE RULES. "Word character" means an ASCII letter, digit or '_'. At each position the
 * recognizers are tried in this order and the first that matches takes the text: e-mail, IPv6,
 * IPv4, date, card, phone. The classification does not depend on `kinds`: text recognized as a
 * kind that is not asked for is copied unchanged (a card is never reported as a phone because
 * cards are off), and dates are always copied unchanged.
 *
 * Number start: IPv4, dates, cards and phones begin at a digit (a phone also at '+' or '(')
 * that is not preceded by a word character, nor by one of . - : + that itself follows a digit
 * (nothing begins inside "3.14159265", "10-1234567" or "1+2345678"). A *number* is digits in
 * groups joined by single . - : or spaces, where a space between two groups of 7+ digits each
 * ends it. When nothing matches at a number start, that whole number is copied unchanged: part
 * of a longer number is never a match on its own.
 *
 * [email]  local part '@' domain.
 *   Local part: the run of [A-Za-z0-9._%+-] before '@', from the current position, without
 *   leading dots. Anything else ends it — a non-ASCII letter too ("josé.garcia@x.fr" gives
 *   "josé.[email]"), as do the RFC 5322 characters ! # $ & ' * / = ? ^ ` { | } ~ and quotes
 *   (the address then starts after them).
 *   Domain: two or more labels of [A-Za-z0-9-] (1-63 characters, no '-' first or last) joined by
 *   single dots, at most 253 characters; it ends after the last label that is a top-level
 *   domain: 2+ ASCII letters, or punycode "xn--..." (so a sentence's final dot stays out, and
 *   "a@b.com.2x" matches "a@b.com"). ASCII domains only: "a@exémple.fr" is not an e-mail (IDN
 *   domains are matched in their punycode form); an address literal "a@[192.0.2.1]" is not
 *   an e-mail, the IP inside it is replaced.
 * [ip]     IPv6: at a hex digit or ':' not preceded by a word character, '.', or a ':' that
 *   follows a hex digit or ':'. The run of [0-9A-Fa-f:.] (at most 45 characters; the run, or the
 *   run without trailing dots, or without one trailing ':') that inet_pton accepts as IPv6 — all
 *   RFC 4291 text forms: full, compressed, "::1", "::", embedded IPv4 "::ffff:192.0.2.1" —
 *   with at least two ':' and one decimal digit ("dead::beef" is not matched), not followed by a
 *   word character. A zone "%" + 1..32 of [A-Za-z0-9._~-] is part of the match. Times
 *   ("12:30:45") and MAC addresses ("00:1a:2b:3c:4d:5e") are not addresses.
 * [ip]     IPv4: at a number start, four decimal parts 0..255 of 1-3 digits joined by '.'
 *   (leading zeros allowed: "192.168.001.010"), not followed by a word character nor by '.' and a
 *   digit. Version numbers of four such parts ("1.2.3.4") ARE matched as IPv4; "1.2.3",
 *   "1.2.3.4.5" and "1.2.3.256" are not. A port or prefix stays: "[ip]:8080", "[ip]/24".
 * (date)   never replaced; recognized so that its digits are not a phone: at a number start,
 *   YYYY-MM-DD, YYYY.MM.DD, YYYY/MM/DD, DD.MM.YYYY, DD-MM-YYYY, DD/MM/YYYY, MM/DD/YYYY (the same
 *   separator twice, day 1-31 and month 1-12 of 1-2 digits, year of 4), not followed by a digit.
 *   Times are never phones (':' joins no phone), so "2026-11-27T12:30:00Z" and
 *   "27.11.2026 12:30" are left alone. A compact date ("20261127") is 8 digits: a phone.
 * [card]   at a number start not preceded by '+', 13-19 digits that pass the Luhn check, in groups
 *   joined by single spaces or single dashes (one kind per number): "4111 1111 1111 1111",
 *   "5500-0000-0000-0004", "378282246310005", "3782 822463 10005". When more groups follow (a
 *   card then its CVV) the longest run of leading groups that is a card is taken. A group of
 *   more than 19 digits is no card. Not followed by a word character, nor by '.' or ':' and a
 *   digit. A run that fails Luhn is not a card; it may still be a phone.
 * [phone]  at a number start: an optional '+', then 7-15 digits in groups; between two groups an
 *   optional ')', one optional space, '.' or '-', an optional '(' (at least one of them), the
 *   parentheses balanced and not nested; a '(' may also open the number. "+33 6 12 34 56 78",
 *   "+1 (555) 123-4567", "(0)6.12.34.56.78", "0612345678". Not followed by a word character nor
 *   by . - : and a digit. Not a phone: a number of more than 15 digits (left alone whole, e.g.
 *   "4111 1111 1111 1112", which fails Luhn), and two groups joined by '.' (a decimal,
 *   "52.520008"). Every other standalone run of 7-15 digits is a phone — order numbers, Unix
 *   timestamps, "1 000 000" too: the conservative choice for free text. */
#ifndef SL_POLICY_SCRUB_H
#define SL_POLICY_SCRUB_H

#include <stddef.h>

#include "core/buf.h"

enum {
    SL_SCRUB_EMAIL = 1u << 0, /* "[email]" */
    SL_SCRUB_PHONE = 1u << 1, /* "[phone]" */
    SL_SCRUB_CARD = 1u << 2,  /* "[card]" */
    SL_SCRUB_IP = 1u << 3,    /* "[ip]", IPv4 and IPv6 */
    SL_SCRUB_ALL = SL_SCRUB_EMAIL | SL_SCRUB_PHONE | SL_SCRUB_CARD | SL_SCRUB_IP,
};

/* Appends in (n bytes of UTF-8, borrowed; may be NULL when n is 0) to out with every match of
 * the kinds in `kinds` (SL_SCRUB_* bits) replaced by its placeholder, and returns the number of
 * replacements. Everything that is not replaced is copied byte for byte. Never fails. */
size_t sl_scrub(const char *in, size_t n, unsigned kinds, sl_buf_t *out);

#endif
