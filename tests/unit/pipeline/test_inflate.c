/* sl_stage_inflate: Content-Encoding: gzip bodies undone before decoding, with an absolute output
 * cap (limits.max_decompressed_bytes) and a ratio cap (limits.max_compression_ratio), in memory
 * bounded by the cap whatever the body claims to hold. The gzip bodies are made here with zlib's
 * deflate (gzip framing), independently of the stage. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "helpers.h"

static sl_config_t *cfg;

static void teardown(void) {
    if (cfg != NULL) {
        t_unpublish(cfg);
        cfg = NULL;
    }
}

TestSuite(inflate, .fini = teardown);

/* Publishes a config with sets (NULL: defaults). */
static void publish(const char *const *sets) {
    cfg = t_publish(sets != NULL ? sets : T_SETS("log.level=error"));
}

typedef struct {
    unsigned char *data;
    size_t len;
    size_t cap;
} blob_t;

static void blob_put(blob_t *b, const void *p, size_t n) {
    if (b->data == NULL || b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->data = realloc(b->data, b->cap);
        cr_assert(b->data != NULL);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* One gzip member holding `total` bytes: the bytes of src repeated (src_len > 0), or zeros when
 * src is NULL. Streamed through deflate in 64 KiB slices, so a large bomb never exists
 * uncompressed. The caller frees .data. */
static blob_t gzip_of(const void *src, size_t src_len, size_t total) {
    z_stream z;
    memset(&z, 0, sizeof(z));
    cr_assert(
        eq(int, deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK));
    enum { SLICE = 65536 };
    unsigned char *in = calloc(1, SLICE);
    unsigned char *out = malloc(SLICE);
    cr_assert(in != NULL && out != NULL);
    blob_t b = {0};
    size_t done = 0;
    int flush = Z_NO_FLUSH;
    while (flush != Z_FINISH) {
        size_t n = total - done < SLICE ? total - done : SLICE;
        if (src != NULL) {
            for (size_t i = 0; i < n; i++) {
                in[i] = ((const unsigned char *)src)[(done + i) % src_len];
            }
        }
        done += n;
        flush = done == total ? Z_FINISH : Z_NO_FLUSH;
        z.next_in = in;
        z.avail_in = (uInt)n;
        do {
            z.next_out = out;
            z.avail_out = SLICE;
            int zr = deflate(&z, flush);
            cr_assert(zr == Z_OK || zr == Z_STREAM_END || zr == Z_BUF_ERROR, "deflate: %d", zr);
            blob_put(&b, out, SLICE - z.avail_out);
        } while (z.avail_out == 0);
    }
    deflateEnd(&z);
    free(in);
    free(out);
    return b;
}

static blob_t gzip_str(const char *s) {
    return gzip_of(s, strlen(s), strlen(s));
}

/* A request (no pipeline) whose body is a copy of n bytes of body in its arena, with the given
 * Content-Encoding (NULL: the header is absent). */
static sl_request_t *request(const void *body, size_t n, const char *encoding) {
    sl_request_t *req = sl_request_new(NULL);
    cr_assert(req != NULL);
    req->media_type = "application/json";
    req->content_encoding = encoding;
    char *copy = sl_arena_alloc(req->arena, n + 1);
    memcpy(copy, body, n);
    copy[n] = '\0';
    req->body = copy;
    req->body_len = n;
    return req;
}

static void expect_fault(sl_request_t *req, sl_status_t st, sl_fault_t fault, const char *code) {
    cr_assert(st != SL_OK, "inflate accepted the body (%zu bytes out)", req->body_len);
    cr_assert(eq(int, (int)req->fault, (int)fault), "fault %d, want %d (%s: %s)", (int)req->fault,
              (int)fault, req->fault_err.code ? req->fault_err.code : "-", req->fault_err.message);
    cr_assert(req->fault_err.code != NULL);
    cr_assert(eq(str, (char *)req->fault_err.code, (char *)code), "%s", req->fault_err.message);
    cr_assert(req->fault_err.message[0] != '\0');
}

static void expect_malformed(const void *body, size_t n, const char *what) {
    sl_request_t *req = request(body, n, "gzip");
    sl_status_t st = sl_stage_inflate(req);
    cr_assert(st != SL_OK, "%s: accepted as gzip (%zu bytes out)", what, req->body_len);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_BAD_REQUEST), "%s: fault %d (%s)", what,
              (int)req->fault, req->fault_err.message);
    cr_assert(eq(str, (char *)req->fault_err.code, "malformed_gzip"), "%s: %s", what,
              req->fault_err.message);
    sl_request_free(req);
}

#define BATCH                                                                                      \
    "{\"batch_id\":\"b-gz\",\"sent_at\":\"2026-11-27T10:00:00Z\",\"events\":["                     \
    "{\"event_id\":\"e1\",\"type\":\"page_view\",\"occurred_at\":\"2026-11-27T09:59:59Z\"},"       \
    "{\"event_id\":\"e2\",\"type\":\"page_view\",\"occurred_at\":\"2026-11-27T09:59:59Z\"}]}"

Test(inflate, gzip_body_is_replaced_by_what_it_holds) {
    publish(NULL);
    const char *encodings[] = {"gzip", "x-gzip"};
    for (size_t k = 0; k < 2; k++) {
        blob_t gz = gzip_str(BATCH);
        sl_request_t *req = request(gz.data, gz.len, encodings[k]);
        cr_assert(eq(int, sl_stage_inflate(req), SL_OK), "%s: %s", encodings[k],
                  req->fault_err.message);
        cr_assert(eq(int, (int)req->fault, SL_FAULT_NONE));
        cr_assert(eq(sz, req->body_len, strlen(BATCH)));
        cr_assert(memcmp(req->body, BATCH, strlen(BATCH)) == 0);
        cr_assert(req->body[req->body_len] == '\0', "the inflated body is NUL-terminated");
        /* And it decodes as the batch it is. */
        cr_assert(eq(int, sl_stage_decode(req), SL_OK), "%s", req->fault_err.message);
        cr_assert(eq(sz, req->n_events, 2));
        cr_assert(eq(str, (char *)req->batch_id, "b-gz"));
        sl_request_free(req);
        free(gz.data);
    }
}

Test(inflate, identity_or_absent_leaves_the_body_alone) {
    publish(NULL);
    const char *encodings[] = {NULL, "", "identity"};
    for (size_t k = 0; k < 3; k++) {
        sl_request_t *req = request(BATCH, strlen(BATCH), encodings[k]);
        const char *before = req->body;
        cr_assert(eq(int, sl_stage_inflate(req), SL_OK), "%s", req->fault_err.message);
        cr_assert(eq(int, (int)req->fault, SL_FAULT_NONE));
        cr_assert(req->body == before, "encoding \"%s\": the body was replaced",
                  encodings[k] ? encodings[k] : "(absent)");
        cr_assert(eq(sz, req->body_len, strlen(BATCH)));
        sl_request_free(req);
    }
    /* A gzip body sent without Content-Encoding is not inflated behind the client's back. */
    blob_t gz = gzip_str(BATCH);
    sl_request_t *req = request(gz.data, gz.len, "");
    cr_assert(eq(int, sl_stage_inflate(req), SL_OK));
    cr_assert(eq(sz, req->body_len, gz.len));
    cr_assert(memcmp(req->body, gz.data, gz.len) == 0);
    sl_request_free(req);
    free(gz.data);
}

Test(inflate, other_encodings_are_415) {
    publish(NULL);
    const char *encodings[] = {"br", "deflate", "compress", "zstd", "gzip, br", "gzip2", "gzi"};
    blob_t gz = gzip_str(BATCH);
    for (size_t k = 0; k < sizeof(encodings) / sizeof(encodings[0]); k++) {
        sl_request_t *req = request(gz.data, gz.len, encodings[k]);
        const char *before = req->body;
        sl_status_t st = sl_stage_inflate(req);
        expect_fault(req, st, SL_FAULT_UNSUPPORTED_MEDIA_TYPE, "unsupported_content_encoding");
        cr_assert(strstr(req->fault_err.message, encodings[k]) != NULL,
                  "the message names the encoding: %s", req->fault_err.message);
        cr_assert(req->body == before && req->body_len == gz.len, "the body was touched");
        sl_request_free(req);
    }
    free(gz.data);
}

Test(inflate, truncated_gzip_is_400) {
    publish(NULL);
    blob_t gz = gzip_str(BATCH);
    cr_assert(gz.len > 30);
    /* Cut inside the header, inside the deflate data, before the 8-byte trailer, and one byte
     * short of the end (the trailer's ISIZE incomplete). */
    size_t cuts[] = {0, 5, 10, gz.len / 2, gz.len - 8, gz.len - 4, gz.len - 1};
    for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
        char what[64];
        snprintf(what, sizeof(what), "gzip cut to %zu of %zu bytes", cuts[k], gz.len);
        expect_malformed(gz.data, cuts[k], what);
    }
    free(gz.data);
}

Test(inflate, not_gzip_is_400) {
    publish(NULL);
    expect_malformed(BATCH, strlen(BATCH), "plain JSON labelled gzip");
    const unsigned char noise[] = {0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x03,
                                   0xff, 0xff, 0xff, 0xff, 0x13, 0x37, 0x42, 0x42, 0x42, 0x42};
    expect_malformed(noise, sizeof(noise), "a gzip header followed by garbage");
    /* zlib framing (RFC 1950), not gzip: the stage reads gzip framing only. */
    unsigned char zbuf[512];
    uLongf zlen = sizeof(zbuf);
    cr_assert(eq(int, compress(zbuf, &zlen, (const Bytef *)BATCH, strlen(BATCH)), Z_OK));
    expect_malformed(zbuf, zlen, "a zlib stream");
    /* A gzip member whose CRC-32 does not match its data. */
    blob_t gz = gzip_str(BATCH);
    gz.data[gz.len - 8] ^= 0x55;
    expect_malformed(gz.data, gz.len, "a wrong CRC-32");
    gz.data[gz.len - 8] ^= 0x55;
    /* ... or whose ISIZE does not match. */
    gz.data[gz.len - 4] ^= 0x01;
    expect_malformed(gz.data, gz.len, "a wrong ISIZE");
    free(gz.data);
}

Test(inflate, bytes_after_the_member_are_400) {
    publish(NULL);
    blob_t gz = gzip_str(BATCH);
    blob_t more = {0};
    blob_put(&more, gz.data, gz.len);
    blob_put(&more, "x", 1);
    expect_malformed(more.data, more.len, "one byte after the gzip member");
    more.len = 0;
    blob_put(&more, gz.data, gz.len);
    blob_put(&more, gz.data, gz.len);
    expect_malformed(more.data, more.len, "two gzip members");
    free(more.data);
    free(gz.data);
}

/* A zero bomb against the absolute cap: refused 413 decompressed_too_large, having taken at most
 * about twice the cap of memory (the doubled buffers it outgrew) plus the body. */
Test(inflate, zero_bomb_stops_at_the_output_cap) {
    publish(T_SETS("log.level=error", "limits.max_decompressed_bytes=1MiB",
                   "limits.max_compression_ratio=100000"));
    size_t cap = (size_t)1024 * 1024;
    blob_t gz = gzip_of(NULL, 0, (size_t)256 * 1024 * 1024); /* 256 MiB of zeros */
    cr_assert(gz.len < cap, "the bomb is %zu bytes compressed", gz.len);
    sl_request_t *req = request(gz.data, gz.len, "gzip");
    size_t before = sl_arena_used(req->arena);
    sl_status_t st = sl_stage_inflate(req);
    expect_fault(req, st, SL_FAULT_TOO_LARGE, "decompressed_too_large");
    size_t took = sl_arena_used(req->arena) - before;
    cr_assert(took <= 2 * cap + gz.len + 4096,
              "inflating the bomb took %zu bytes of arena (cap %zu)", took, cap);
    cr_assert(took >= cap, "it inflated up to the cap before refusing (%zu bytes)", took);
    sl_request_free(req);
    free(gz.data);
}

/* The same bomb under a large cap but a small ratio: refused 413 compression_ratio long before
 * the cap, in memory bounded by the ratio times the body, not by the cap. */
Test(inflate, zero_bomb_stops_at_the_ratio) {
    publish(T_SETS("log.level=error", "limits.max_decompressed_bytes=1GiB",
                   "limits.max_compression_ratio=20"));
    blob_t gz = gzip_of(NULL, 0, (size_t)256 * 1024 * 1024);
    sl_request_t *req = request(gz.data, gz.len, "gzip");
    size_t before = sl_arena_used(req->arena);
    sl_status_t st = sl_stage_inflate(req);
    expect_fault(req, st, SL_FAULT_TOO_LARGE, "compression_ratio");
    size_t took = sl_arena_used(req->arena) - before;
    size_t ratio_cap = gz.len * 20;
    cr_assert(took <= 4 * ratio_cap + gz.len + 4096,
              "refusing at ratio 20 took %zu bytes of arena for a %zu-byte body", took, gz.len);
    sl_request_free(req);
    free(gz.data);
}

/* The default limits (8 MiB, ratio 200) against a 1 GiB bomb (about 1 MB compressed): refused,
 * with memory bounded by the cap. */
Test(inflate, gigabyte_bomb_under_the_defaults) {
    publish(NULL);
    blob_t gz = gzip_of(NULL, 0, (size_t)1024 * 1024 * 1024);
    sl_request_t *req = request(gz.data, gz.len, "gzip");
    size_t before = sl_arena_used(req->arena);
    sl_status_t st = sl_stage_inflate(req);
    cr_assert(st != SL_OK);
    cr_assert(eq(int, (int)req->fault, SL_FAULT_TOO_LARGE), "%s", req->fault_err.message);
    cr_assert(strcmp(req->fault_err.code, "compression_ratio") == 0 ||
                  strcmp(req->fault_err.code, "decompressed_too_large") == 0,
              "%s", req->fault_err.code);
    /* The buffers it outgrew stay in the arena: s, 2s (< cap), cap -- under 3 caps in all. */
    size_t took = sl_arena_used(req->arena) - before;
    cr_assert(took <= 3 * (size_t)8 * 1024 * 1024, "a 1 GiB bomb took %zu bytes of arena", took);
    sl_request_free(req);
    free(gz.data);
}

/* Output of exactly limits.max_decompressed_bytes is taken; one byte more is refused. Once with
 * a body that fills the first buffer at once (incompressible), once with one that grows it by
 * doubling (compressible). */
Test(inflate, output_exactly_at_the_cap) {
    size_t cap = 65536;
    publish(T_SETS("log.level=error", "limits.max_decompressed_bytes=65536",
                   "limits.max_compression_ratio=100000"));
    unsigned char *noise = malloc(cap + 1);
    cr_assert(noise != NULL);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i <= cap; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise[i] = (unsigned char)x;
    }
    const char *pattern = "{\"event_id\":\"e\",\"type\":\"page_view\"},";
    struct {
        const void *src;
        size_t src_len;
        const char *what;
    } kinds[] = {{noise, cap + 1, "incompressible"}, {pattern, strlen(pattern), "compressible"}};
    for (size_t k = 0; k < 2; k++) {
        blob_t at = gzip_of(kinds[k].src, kinds[k].src_len, cap);
        sl_request_t *req = request(at.data, at.len, "gzip");
        cr_assert(eq(int, sl_stage_inflate(req), SL_OK), "%s, %zu bytes out of a %zu-byte cap: %s",
                  kinds[k].what, cap, cap, req->fault_err.message);
        cr_assert(eq(sz, req->body_len, cap));
        if (k == 0) {
            cr_assert(memcmp(req->body, noise, cap) == 0);
        }
        cr_assert(req->body[cap] == '\0');
        sl_request_free(req);
        free(at.data);

        blob_t over = gzip_of(kinds[k].src, kinds[k].src_len, cap + 1);
        req = request(over.data, over.len, "gzip");
        sl_status_t st = sl_stage_inflate(req);
        expect_fault(req, st, SL_FAULT_TOO_LARGE, "decompressed_too_large");
        sl_request_free(req);
        free(over.data);
    }
    free(noise);
}

/* The ratio is the body's, whatever its size: every body inflating to more than
 * limits.max_compression_ratio times its compressed size is refused, every other one taken --
 * including bodies whose last piece of output ends the stream (the ratio must be checked at the
 * end too, not only while the buffer grows). */
Test(inflate, ratio_holds_for_every_size) {
    publish(NULL); /* ratio 200, cap 8 MiB */
    const char *pattern = "{\"event_id\":\"e\",\"type\":\"page_view\"},";
    char wrong[1024] = "";
    size_t n_wrong = 0;
    for (size_t total = 4096; total <= (size_t)4 * 1024 * 1024; total += total / 3) {
        for (int zeros = 0; zeros < 2; zeros++) {
            blob_t gz = zeros ? gzip_of(NULL, 0, total) : gzip_of(pattern, strlen(pattern), total);
            bool over = total > gz.len * 200;
            sl_request_t *req = request(gz.data, gz.len, "gzip");
            sl_status_t st = sl_stage_inflate(req);
            bool refused = st != SL_OK && req->fault_err.code != NULL &&
                           strcmp(req->fault_err.code, "compression_ratio") == 0;
            if (refused != over || (st != SL_OK && !refused)) {
                n_wrong++;
                size_t used = strlen(wrong);
                snprintf(wrong + used, sizeof(wrong) - used, " [%zu->%zu ratio %.0f: %s]", gz.len,
                         total, (double)total / (double)gz.len,
                         st == SL_OK ? "taken" : req->fault_err.code);
            }
            sl_request_free(req);
            free(gz.data);
        }
    }
    cr_assert(eq(sz, n_wrong, 0), "bodies judged against ratio 200 wrongly:%s", wrong);
}
