/* policy/actions: the field-level redaction actions (hmac, mask, truncate_ip, coarsen_geo).
 *
 * Pure building blocks of the redaction engine: no globals, no allocation besides the output
 * buffer, thread-safe (several threads may call them at once, each with its own output buffer).
 * Inputs are (pointer, length) strings of valid UTF-8, not NUL-terminated; results are appended
 * to an sl_buf_t the caller owns (heap or arena). On failure nothing is appended. */
#ifndef SL_POLICY_ACTIONS_H
#define SL_POLICY_ACTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/status.h"

/* Shortest HMAC key accepted: 256 bits, the SHA-256 output size (RFC 2104 section 3 discourages
 * keys shorter than the hash output). */
#define SL_REDACT_HMAC_MIN_KEY 32
/* Longest key id, and the length of the MAC part of a token (16 bytes in base64url). */
#define SL_REDACT_KEY_ID_MAX 64
#define SL_REDACT_HMAC_TOKEN_CHARS 22

/* Keyed pseudonymization: appends
 *
 *     <key_id>:<base64url, no padding, of the first 16 bytes of HMAC-SHA256(key, in)>
 *
 * e.g. "k2026a:3q2-7wV9Y1lS8Xh0bQ4kZg" (the MAC part is always 22 characters of
 * [A-Za-z0-9_-]). The same input and key give the same token, so joins across events and
 * restarts still work; the key id names the key, so tokens made with a rotated key differ and
 * say which key made them. A token is split at its last ':'.
 *
 * key (key_len bytes) and key_id (NUL-terminated) are borrowed. key_id is 1..64 characters of
 * [A-Za-z0-9._-] (safe in JSON, protobuf strings and Kafka headers without escaping). Returns
 * SL_OK; SL_REJECT when key_len < SL_REDACT_HMAC_MIN_KEY or key_id is malformed; SL_ERROR if
 * OpenSSL fails. in may be NULL when n is 0 (the empty string has a token too). */
sl_status_t sl_redact_hmac(const uint8_t *key, size_t key_len, const char *key_id, const char *in,
                           size_t n, sl_buf_t *out);

/* The same with the key prepared once (on every event, sl_redact_hmac's key setup and
 * OpenSSL's algorithm lookup cost more than the hash): the HMAC inner and outer states after
 * the key block, copied per call. Immutable after sl_hmac_new; any thread. NULL when the key is
 * shorter than SL_REDACT_HMAC_MIN_KEY or the key id is malformed. */
typedef struct sl_hmac sl_hmac_t;
sl_hmac_t *sl_hmac_new(const uint8_t *key, size_t key_len, const char *key_id);
void sl_hmac_free(sl_hmac_t *h); /* NULL is ignored */
sl_status_t sl_hmac_redact(const sl_hmac_t *h, const char *in, size_t n, sl_buf_t *out);

/* Appends in with every character but the last keep_last replaced by '*'. Characters are
 * Unicode code points, not bytes and not grapheme clusters: "José" with keep_last 1 gives "***é"
 * and a 2-byte "é" masked is one '*'; a letter followed by a combining accent counts as two.
 * When keep_last >= the number of characters, in is appended unchanged (the policy chooses N;
 * a short value is then fully visible). Never fails. */
void sl_redact_mask(const char *in, size_t n, size_t keep_last, sl_buf_t *out);

/* Truncates an IP address to its network and appends it in canonical form:
 * - IPv4 (dotted quad, no leading zeros, as inet_pton accepts): /24, "203.0.113.77" ->
 *   "203.0.113.0".
 * - IPv4-mapped IPv6 (::ffff:0:0/96, in any spelling): the IPv4 address /24, written
 *   "::ffff:203.0.113.0" (RFC 5952 section 5).
 * - 6to4 (2002::/16) carries the whole IPv4 address of the site in bits 16..47, which /48 would
 *   keep: it is cut to 2002 plus that IPv4 address /24 (/40), "2002:cb00:714d::1" ->
 *   "2002:cb00:7100::".
 * - Any other IPv6: /48, written in RFC 5952 form (lower case, longest zero run as "::"),
 *   "2001:DB8:85A3:0:0:8A2E:370:7334" -> "2001:db8:85a3::". A zone id ("fe80::1%eth0": 1..64
 *   printable ASCII characters after '%') is dropped; a zone on an IPv4 address is refused.
 * Anything else — empty, brackets, ports, prefixes ("/24"), whitespace, hostnames — returns
 * SL_REJECT with nothing appended (the engine then drops the field). */
sl_status_t sl_redact_truncate_ip(const char *in, size_t n, sl_buf_t *out);

/* Rounds v to decimals (clamped to 0..6) decimal places, half away from zero, and returns it:
 * 52.520008 at 2 -> 52.52, -13.404954 at 1 -> -13.4, 0.5 at 0 -> 1, -2.5 at 0 -> -3.
 *
 * Method: the rounding is done on the decimal digits of v — the shortest decimal that reads back
 * to v, which is what sluice writes for it (core/num) — not on its binary value, then the result
 * is read back with strtod (correctly rounded). So 1.005 at 2 gives 1.01, as a reader of the
 * event expects, although the double nearest 1.005 is 1.00499999999999989... (which is why
 * round(v * 100) / 100 would give 1.00). The result is the double nearest the rounded decimal.
 * Values already at or below the precision asked (including every |v| >= 2^53) come back
 * unchanged; NaN and infinities come back unchanged; a result of zero is +0.0 (no "-0"). */
double sl_redact_coarsen(double v, int decimals);

#endif
