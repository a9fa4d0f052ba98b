/* core/pb: the protobuf wire format, read and written by hand.
 *
 * The reader is bounded: every read checks the remaining bytes first and fails instead of
 * reading past the end. Used by the contract loader (option bytes), the wire validator, the
 * EventBatch decoder and the canonical encoder. Header-only (static inline): these run per field
 * of every event. */
#ifndef SL_CORE_PB_H
#define SL_CORE_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"

enum { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_FIXED32 = 5 };

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} rd_t;

static inline bool rd_varint(rd_t *r, uint64_t *out) {
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end) {
            return false;
        }
        uint8_t b = *r->p++;
        if (shift == 63 && b > 1) {
            return false; /* more than 64 bits */
        }
        v |= (uint64_t)(b & 0x7fu) << shift;
        if ((b & 0x80u) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

static inline bool rd_tag(rd_t *r, uint32_t *field, uint32_t *wt) {
    uint64_t v;
    if (!rd_varint(r, &v) || v > UINT32_MAX) {
        return false;
    }
    *field = (uint32_t)(v >> 3);
    *wt = (uint32_t)(v & 7u);
    return *field != 0;
}

static inline bool rd_bytes(rd_t *r, const uint8_t **p, size_t *n) {
    uint64_t len;
    if (!rd_varint(r, &len) || len > (uint64_t)(r->end - r->p)) {
        return false;
    }
    *p = r->p;
    *n = (size_t)len;
    r->p += len;
    return true;
}

static inline bool rd_fixed64(rd_t *r, uint64_t *out) {
    if (r->end - r->p < 8) {
        return false;
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | r->p[i];
    }
    r->p += 8;
    *out = v;
    return true;
}

static inline bool rd_fixed32(rd_t *r, uint32_t *out) {
    if (r->end - r->p < 4) {
        return false;
    }
    *out = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
           (uint32_t)r->p[3] << 24;
    r->p += 4;
    return true;
}

/* One scalar of wire type wt (varint, fixed64 or fixed32) as raw bits. */
static inline bool rd_scalar(rd_t *r, int wt, uint64_t *raw) {
    uint32_t r32;
    switch (wt) {
    case WT_VARINT:
        return rd_varint(r, raw);
    case WT_FIXED64:
        return rd_fixed64(r, raw);
    default:
        if (!rd_fixed32(r, &r32)) {
            return false;
        }
        *raw = r32;
        return true;
    }
}

/* Skips one value of wire type wt. Groups are refused: proto3 has none. */
static inline bool rd_skip(rd_t *r, uint32_t wt) {
    uint64_t v;
    const uint8_t *p;
    size_t n;
    switch (wt) {
    case WT_VARINT:
        return rd_varint(r, &v);
    case WT_FIXED64:
        return rd_fixed64(r, &v);
    case WT_LEN:
        return rd_bytes(r, &p, &n);
    case WT_FIXED32:
        if (r->end - r->p < 4) {
            return false;
        }
        r->p += 4;
        return true;
    default:
        return false;
    }
}

/* --- writer -------------------------------------------------------------------------------- */

static inline size_t pb_varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80u) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Writes v as a varint at out (room for 10 bytes); returns the bytes written. */
static inline size_t pb_varint_put(uint8_t *out, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80u) {
        out[n++] = (uint8_t)(v | 0x80u);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static inline void pb_put_varint(sl_buf_t *b, uint64_t v) {
    uint8_t tmp[10];
    sl_buf_append(b, tmp, pb_varint_put(tmp, v));
}

static inline void pb_put_tag(sl_buf_t *b, uint32_t field, uint32_t wt) {
    pb_put_varint(b, ((uint64_t)field << 3) | wt);
}

static inline void pb_put_fixed64(sl_buf_t *b, uint64_t v) {
    uint8_t tmp[8];
    for (int i = 0; i < 8; i++) {
        tmp[i] = (uint8_t)(v >> (8 * i));
    }
    sl_buf_append(b, tmp, 8);
}

static inline void pb_put_fixed32(sl_buf_t *b, uint32_t v) {
    uint8_t tmp[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    sl_buf_append(b, tmp, 4);
}

static inline void pb_put_bytes(sl_buf_t *b, uint32_t field, const void *p, size_t n) {
    pb_put_tag(b, field, WT_LEN);
    pb_put_varint(b, n);
    sl_buf_append(b, p, n);
}

/* Length-delimited field whose payload is written after pb_open: pb_close moves the payload
 * up to make room for its length (a varint of the minimal size, so the output is canonical). */
static inline size_t pb_open(sl_buf_t *b, uint32_t field) {
    pb_put_tag(b, field, WT_LEN);
    return b->len;
}

static inline void pb_close(sl_buf_t *b, size_t at) {
    size_t n = b->len - at;
    uint8_t tmp[10];
    size_t k = pb_varint_put(tmp, n);
    sl_buf_append(b, tmp, k); /* grows the buffer by k */
    memmove(b->data + at + k, b->data + at, n);
    memcpy(b->data + at, tmp, k);
}

#endif
