#include "core/siphash.h"

#include <sys/random.h>
#include <time.h>

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static inline void sipround(uint64_t v[4]) {
    v[0] += v[1];
    v[1] = ROTL(v[1], 13);
    v[1] ^= v[0];
    v[0] = ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = ROTL(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = ROTL(v[1], 17);
    v[1] ^= v[2];
    v[2] = ROTL(v[2], 32);
}

static inline void compress(uint64_t v[4], uint64_t m) {
    v[3] ^= m;
    sipround(v);
    sipround(v);
    v[0] ^= m;
}

void sl_siphash_init(sl_siphash_t *s, const uint64_t key[2]) {
    s->v[0] = UINT64_C(0x736f6d6570736575) ^ key[0];
    s->v[1] = UINT64_C(0x646f72616e646f6d) ^ key[1] ^ 0xee; /* 0xee: the 128-bit variant */
    s->v[2] = UINT64_C(0x6c7967656e657261) ^ key[0];
    s->v[3] = UINT64_C(0x7465646279746573) ^ key[1];
    s->tail = 0;
    s->len = 0;
}

static inline uint64_t load_le64(const unsigned char *p) {
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) {
        x = (x << 8) | p[i];
    }
    return x;
}

void sl_siphash_update(sl_siphash_t *s, const void *data, size_t len) {
    const unsigned char *in = data;
    size_t i = 0;
    /* Byte by byte up to a word boundary, whole words, then the rest into tail. */
    while (i < len && s->len % 8 != 0) {
        s->tail |= (uint64_t)in[i++] << (8 * (s->len % 8));
        if (++s->len % 8 == 0) {
            compress(s->v, s->tail);
            s->tail = 0;
        }
    }
    for (; len - i >= 8; i += 8) {
        compress(s->v, load_le64(in + i));
        s->len += 8;
    }
    for (; i < len; i++) {
        s->tail |= (uint64_t)in[i] << (8 * (s->len % 8));
        s->len++;
    }
}

void sl_siphash_final(sl_siphash_t *s, uint64_t out[2]) {
    uint64_t *v = s->v;
    compress(v, s->tail | (uint64_t)s->len << 56);
    v[2] ^= 0xee;
    for (int i = 0; i < 4; i++) {
        sipround(v);
    }
    out[0] = v[0] ^ v[1] ^ v[2] ^ v[3];
    v[1] ^= 0xdd;
    for (int i = 0; i < 4; i++) {
        sipround(v);
    }
    out[1] = v[0] ^ v[1] ^ v[2] ^ v[3];
}

void sl_siphash128(const uint64_t key[2], const void *data, size_t len, uint64_t out[2]) {
    sl_siphash_t s;
    sl_siphash_init(&s, key);
    sl_siphash_update(&s, data, len);
    sl_siphash_final(&s, out);
}

void sl_siphash_random_key(uint64_t key[2]) {
    key[0] = 0;
    key[1] = 0;
    unsigned char *p = (unsigned char *)key;
    size_t got = 0;
    while (got < 2 * sizeof(uint64_t)) {
        ssize_t n = getrandom(p + got, 2 * sizeof(uint64_t) - got, 0);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    if (got < 2 * sizeof(uint64_t)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        key[0] ^= (uint64_t)ts.tv_nsec * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)ts.tv_sec;
        key[1] ^= (uint64_t)(uintptr_t)key * UINT64_C(0xbf58476d1ce4e5b9);
    }
}
