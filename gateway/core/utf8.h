/* core/utf8: UTF-8 checks shared by the JSON parser and the protobuf validator (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF). Pure functions, thread-safe. */
#ifndef SL_CORE_UTF8_H
#define SL_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (2-4) of the valid multi-byte sequence at s (at most n bytes), or 0. */
size_t sl_utf8_seq(const unsigned char *s, size_t n);
/* True when s[0..n) is valid UTF-8. */
bool sl_utf8_valid(const char *s, size_t n);
/* Code points in n bytes of valid UTF-8. */
size_t sl_utf8_chars(const char *s, size_t n);

#endif
