/* pipeline/inflate: Content-Encoding: gzip bodies, undone before decoding.
 *
 * Inflated as a stream into an arena buffer that grows by doubling up to
 * limits.max_decompressed_bytes and never past it; the ratio to the compressed size is checked
 * as the output grows, so a decompression bomb is refused after at most the cap's worth of
 * work (and less than three times the cap of memory: the arena keeps the buffers it outgrew). zlib
 * because the browsers' and mobile SDKs' gzip is what it reads. */
#include <string.h>
#include <zlib.h>

#include "pipeline/pipeline.h"

sl_status_t sl_stage_inflate(sl_request_t *req) {
    const char *enc = req->content_encoding != NULL ? req->content_encoding : "";
    if (enc[0] == '\0' || strcmp(enc, "identity") == 0) {
        return SL_OK;
    }
    if (strcmp(enc, "gzip") != 0 && strcmp(enc, "x-gzip") != 0) {
        return sl_request_fail(req, SL_FAULT_UNSUPPORTED_MEDIA_TYPE, "unsupported_content_encoding",
                               "Content-Encoding \"%s\" is not supported; send gzip or nothing",
                               enc);
    }
    const sl_config_t *cfg = req->cfg;
    size_t cap = (size_t)cfg->limits.max_decompressed_bytes;
    uint64_t ratio = (uint64_t)cfg->limits.max_compression_ratio;
    uint64_t ratio_cap = (uint64_t)req->body_len * ratio;
    size_t size = req->body_len * 4 + 1024;
    size = size < cap ? size : cap;
    char *out = sl_arena_alloc(req->arena, size + 1);
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) { /* 16: gzip framing only */
        return sl_request_fail(req, SL_FAULT_INTERNAL, "internal", "zlib could not start");
    }
    z.next_in = (Bytef *)req->body;
    z.avail_in = (uInt)req->body_len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)size;
    sl_status_t rc = SL_OK;
    for (;;) {
        int zr = inflate(&z, Z_NO_FLUSH);
        if (z.total_out > ratio_cap) { /* also when this call ended the stream */
            rc = sl_request_fail(req, SL_FAULT_TOO_LARGE, "compression_ratio",
                                 "the gzip body inflates more than limits.max_compression_ratio "
                                 "(%llu) times its %zu bytes",
                                 (unsigned long long)ratio, req->body_len);
            break;
        }
        if (zr == Z_STREAM_END) {
            if (z.avail_in != 0) {
                rc = sl_request_fail(req, SL_FAULT_BAD_REQUEST, "malformed_gzip",
                                     "the gzip body has %u bytes after its end (several gzip "
                                     "members are not supported)",
                                     z.avail_in);
            }
            break;
        }
        if (z.avail_out == 0) {
            if (size >= cap) {
                rc = sl_request_fail(req, SL_FAULT_TOO_LARGE, "decompressed_too_large",
                                     "the body inflates past limits.max_decompressed_bytes "
                                     "(%zu bytes)",
                                     cap);
                break;
            }
            size_t grown = size * 2 < cap ? size * 2 : cap;
            char *bigger = sl_arena_alloc(req->arena, grown + 1);
            memcpy(bigger, out, size);
            out = bigger;
            z.next_out = (Bytef *)out + size;
            z.avail_out = (uInt)(grown - size);
            size = grown;
            continue;
        }
        if (zr == Z_BUF_ERROR && z.avail_in == 0) {
            rc = sl_request_fail(req, SL_FAULT_BAD_REQUEST, "malformed_gzip",
                                 "the gzip body ends before its gzip stream does");
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = sl_request_fail(req, SL_FAULT_BAD_REQUEST, "malformed_gzip",
                                 "the body is not valid gzip (%s)",
                                 z.msg != NULL ? z.msg : "corrupt data");
            break;
        }
    }
    size_t len = (size_t)z.total_out;
    inflateEnd(&z);
    if (rc != SL_OK) {
        return rc;
    }
    out[len] = '\0';
    req->body = out;
    req->body_len = len;
    return SL_OK;
}
