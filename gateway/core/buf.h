/* core/buf: a growable byte buffer, either in an arena (request scope) or on the heap.
 *
 * Used to build response bodies and message values without a JSON library on the hot path.
 * Not thread-safe; the owner of the buffer is its only user. */
#ifndef SL_CORE_BUF_H
#define SL_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    sl_arena_t *arena; /* NULL: heap, release with sl_buf_free */
} sl_buf_t;

/* Start an empty buffer with room for cap bytes, in arena (or the heap when arena is NULL). */
void sl_buf_init(sl_buf_t *b, sl_arena_t *arena, size_t cap);
void sl_buf_append(sl_buf_t *b, const void *p, size_t n);
void sl_buf_puts(sl_buf_t *b, const char *s);
void sl_buf_printf(sl_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append v in decimal (what "%llu" gives, without printf's cost on the hot path). */
void sl_buf_put_uint(sl_buf_t *b, uint64_t v);
/* Append s (n bytes) as a quoted JSON string; bytes < 0x20, '"' and '\\' are escaped. */
void sl_buf_json_string(sl_buf_t *b, const char *s, size_t n);
/* The contents as a NUL-terminated string (the NUL is not counted in len). */
const char *sl_buf_cstr(sl_buf_t *b);
/* Frees a heap buffer; a no-op for arena buffers. */
void sl_buf_free(sl_buf_t *b);

#endif
