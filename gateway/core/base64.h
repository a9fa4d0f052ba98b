/* core/base64: RFC 4648 base64, as proto3 JSON carries `bytes` fields. */
#ifndef SL_CORE_BASE64_H
#define SL_CORE_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Appends the standard alphabet with padding (the canonical form). */
void sl_base64_encode(sl_buf_t *out, const uint8_t *data, size_t n);

/* Decodes s (standard or URL-safe alphabet, padded or not) into out, which needs room for
 * n / 4 * 3 + 3 bytes. Returns the decoded length, or -1 when s is not base64. */
long sl_base64_decode(const char *s, size_t n, uint8_t *out);

#endif
