/* core/base64: RFC 4648 base64, for everything sluice encodes or decodes that way: proto3 JSON
 * `bytes` fields (either alphabet, padding optional), JWS segments (RFC 7515 §2: URL alphabet,
 * no padding, canonical), JWK members (URL alphabet, no padding) and HMAC pseudonyms (URL
 * alphabet, no padding). One implementation, the strictness chosen per caller by a mode. */
#ifndef SL_CORE_BASE64_H
#define SL_CORE_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Modes, or'ed together. */
enum {
    /* Characters 62 and 63: "+/" (§4) and/or "-_" (§5). Decoding takes those of every flag
     * given, even mixed in one string; encoding writes "-_" when URL is given, else "+/". */
    SL_BASE64_STD = 1 << 0,
    SL_BASE64_URL = 1 << 1,
    /* Decoding refuses '='; encoding writes none. Without it decoding ignores trailing '=',
     * however many, and encoding pads to a multiple of 4. */
    SL_BASE64_NOPAD = 1 << 2,
    /* Decoding refuses a last character whose unused low bits are not zero, so every byte
     * string has exactly one accepted encoding (a signature cannot be restated). */
    SL_BASE64_CANONICAL = 1 << 3,

    /* proto3 JSON `bytes`: whatever another implementation may have written. */
    SL_BASE64_ANY = SL_BASE64_STD | SL_BASE64_URL,
    /* A JWS segment (RFC 7515 §2). */
    SL_BASE64_JWS = SL_BASE64_URL | SL_BASE64_NOPAD | SL_BASE64_CANONICAL,
};

/* Appends data[0..n) to out in the standard alphabet with padding (the canonical form). */
void sl_base64_encode(sl_buf_t *out, const uint8_t *data, size_t n);

/* Appends data[0..n) to out in the alphabet and padding that mode says (CANONICAL is ignored:
 * encoding is always canonical). */
void sl_base64_encode_as(sl_buf_t *out, const uint8_t *data, size_t n, unsigned mode);

/* sl_base64_decode_as(s, n, out, SL_BASE64_ANY). */
long sl_base64_decode(const char *s, size_t n, uint8_t *out);

/* Decodes s[0..n) into out, which needs room for n / 4 * 3 + 3 bytes. Returns the decoded
 * length, or -1 when s is not base64 of the kind mode says: a character outside the alphabet, a
 * length that leaves one lone character (n % 4 == 1), or what NOPAD / CANONICAL refuse. Pure: any
 * thread. */
long sl_base64_decode_as(const char *s, size_t n, uint8_t *out, unsigned mode);

#endif
