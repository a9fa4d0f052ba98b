#include "transport/h2/reflection.h"

#include <string.h>

#include "core/pb.h"

extern const unsigned char SL_ENVELOPE_PB[];
extern const size_t SL_ENVELOPE_PB_len;

static const char *const services[] = {"sluice.v1.Ingest", "grpc.health.v1.Health"};

typedef struct {
    const uint8_t *p; /* a serialized FileDescriptorProto */
    size_t n;
    const uint8_t *name, *package;
    size_t name_len, package_len;
} file_t;

/* The i-th FileDescriptorProto of the built-in set; false past the end. */
static bool file_at(size_t i, file_t *f) {
    rd_t r = {SL_ENVELOPE_PB, SL_ENVELOPE_PB + SL_ENVELOPE_PB_len};
    size_t k = 0;
    while (r.p < r.end) {
        uint32_t field, wt;
        if (!rd_tag(&r, &field, &wt)) {
            return false;
        }
        if (field != 1 || wt != 2) {
            if (!rd_skip(&r, wt)) {
                return false;
            }
            continue;
        }
        const uint8_t *p;
        size_t n;
        if (!rd_bytes(&r, &p, &n)) {
            return false;
        }
        if (k++ != i) {
            continue;
        }
        memset(f, 0, sizeof(*f));
        f->p = p;
        f->n = n;
        rd_t fr = {p, p + n};
        while (fr.p < fr.end) {
            uint32_t ff, fw;
            const uint8_t *v;
            size_t vn;
            if (!rd_tag(&fr, &ff, &fw)) {
                break;
            }
            if (fw == 2 && (ff == 1 || ff == 2) && rd_bytes(&fr, &v, &vn)) {
                if (ff == 1) {
                    f->name = v, f->name_len = vn;
                } else {
                    f->package = v, f->package_len = vn;
                }
            } else if (!rd_skip(&fr, fw)) {
                break;
            }
        }
        return true;
    }
    return false;
}

/* A file whose package prefixes symbol ("sluice.v1.Ingest" is in package "sluice.v1"). */
static bool defines(const file_t *f, const uint8_t *sym, size_t n) {
    return f->package_len > 0 && n > f->package_len &&
           memcmp(sym, f->package, f->package_len) == 0 && sym[f->package_len] == '.';
}

static void error_response(sl_buf_t *out, int code, const char *msg) {
    size_t at = pb_open(out, 7);
    pb_put_tag(out, 1, 0);
    pb_put_varint(out, (uint64_t)code);
    pb_put_bytes(out, 2, msg, strlen(msg));
    pb_close(out, at);
}

/* Every file of the set: a tool resolves a file's imports from the same answer. */
static void all_files(sl_buf_t *out) {
    size_t at = pb_open(out, 4);
    file_t f;
    for (size_t i = 0; file_at(i, &f); i++) {
        pb_put_bytes(out, 1, f.p, f.n);
    }
    pb_close(out, at);
}

void sl_reflection_answer(const uint8_t *req, size_t len, sl_buf_t *out) {
    rd_t r = {req, req + len};
    uint32_t which = 0;
    const uint8_t *arg = NULL;
    size_t arg_len = 0;
    while (r.p < r.end) {
        uint32_t field, wt;
        if (!rd_tag(&r, &field, &wt)) {
            break;
        }
        const uint8_t *v;
        size_t vn;
        if (wt == 2 && rd_bytes(&r, &v, &vn)) {
            if (field >= 3 && field <= 7) {
                which = field, arg = v, arg_len = vn;
            }
        } else if (!rd_skip(&r, wt)) {
            break;
        }
    }
    /* original_request (2): echoed. */
    pb_put_bytes(out, 2, req, len);
    if (which == 7) { /* list_services */
        size_t at = pb_open(out, 6);
        for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
            size_t s = pb_open(out, 1);
            pb_put_bytes(out, 1, services[i], strlen(services[i]));
            pb_close(out, s);
        }
        pb_close(out, at);
        return;
    }
    if (which == 3 || which == 4) { /* file_by_filename, file_containing_symbol */
        file_t f;
        for (size_t i = 0; file_at(i, &f); i++) {
            bool match = which == 3 ? f.name != NULL && arg != NULL && f.name_len == arg_len &&
                                          memcmp(f.name, arg, arg_len) == 0
                                    : arg != NULL && defines(&f, arg, arg_len);
            if (match) {
                all_files(out);
                return;
            }
        }
        error_response(out, 5, which == 3 ? "no such file" : "no such symbol");
        return;
    }
    error_response(out, 12, "only list_services, file_by_filename and file_containing_symbol");
}
