/* contracts/canonical: the one form sluice produces, whatever form the client sent.
 *
 * Input is a JSON document that passed contract validation (a JSON event, or a protobuf event
 * transcoded by sl_ct_wire_to_json). Output is either canonical JSON or canonical protobuf, both
 * defined by the descriptors alone, so an event sent as JSON and the same event sent as protobuf
 * produce the same bytes:
 *   - fields in field-number order; members the message does not declare are left out;
 *   - proto3 defaults are left out (0, false, "", empty bytes, enum value 0, empty repeated,
 *     null); a present message is kept even when empty;
 *   - JSON: declared (snake_case) names; strings re-escaped minimally; 64-bit integers as
 *     decimal strings and 32-bit ones as numbers; floating point in the shortest form that reads
 *     back to the same value ("NaN", "Infinity" as strings); enums by name; bytes as padded
 *     standard base64;
 *   - protobuf: minimal varints, repeated scalars packed, nested messages length-prefixed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/internal.h"
#include "core/base64.h"
#include "core/num.h"

typedef struct {
    const sl_json_doc_t *doc;
    sl_arena_t *arena;
    sl_buf_t *out;
    bool proto;
    const sl_ct_override_t *ovr;
    const sl_ct_visitor_t *visitor;
    struct path *path; /* the field's path from the event, for the visitor */
} enc_t;

struct path {
    char s[512];
    size_t len;
};

/* Appends ".name" (no dot at the start) or "[]"; returns the length to restore. */
static size_t path_push(const enc_t *e, const char *part, bool index) {
    struct path *p = e->path;
    size_t saved = p->len, n = index ? 2 : strlen(part), dot = !index && p->len > 0;
    if (p->len + dot + n < sizeof(p->s)) {
        p->s[p->len] = '.';
        memcpy(p->s + p->len + dot, index ? "[]" : part, n);
        p->len += dot + n;
    }
    return saved;
}

static bool is_64(sl_ct_type_t t) {
    return t == SL_CT_INT64 || t == SL_CT_UINT64 || t == SL_CT_FIXED64 || t == SL_CT_SFIXED64 ||
           t == SL_CT_SINT64;
}

static bool is_unsigned(sl_ct_type_t t) {
    return t == SL_CT_UINT32 || t == SL_CT_UINT64 || t == SL_CT_FIXED32 || t == SL_CT_FIXED64;
}

/* An integer node (number, or a string holding one) as raw two's-complement bits. */
static uint64_t int_bits(const enc_t *e, const sl_ct_field_t *f, uint32_t node) {
    const sl_json_node_t *nd = &e->doc->nodes[node];
    if (nd->type == SL_JSON_NUMBER && !(nd->flags & SL_JSON_F_INTEGER)) {
        double d = sl_json_number(e->doc, node); /* 1.0, 1e3: validated integral */
        return is_unsigned(f->type) ? (uint64_t)d : (uint64_t)(int64_t)d;
    }
    char tmp[32];
    size_t n = nd->len < sizeof(tmp) ? nd->len : sizeof(tmp) - 1;
    memcpy(tmp, e->doc->src + nd->start, n);
    tmp[n] = '\0';
    return is_unsigned(f->type) ? strtoull(tmp, NULL, 10) : (uint64_t)strtoll(tmp, NULL, 10);
}

static double float_value(const enc_t *e, uint32_t node) {
    const sl_json_node_t *nd = &e->doc->nodes[node];
    if (nd->type == SL_JSON_STRING) {
        const char *s = e->doc->src + nd->start;
        return s[0] == 'N' ? NAN : s[0] == '-' ? -INFINITY : INFINITY;
    }
    return sl_json_number(e->doc, node);
}

static int32_t enum_number(const enc_t *e, const sl_ct_field_t *f, uint32_t node) {
    const sl_json_node_t *nd = &e->doc->nodes[node];
    if (nd->type == SL_JSON_NUMBER) {
        int64_t v = 0;
        (void)sl_json_int(e->doc, node, &v);
        return (int32_t)v;
    }
    const char *s;
    size_t n;
    sl_json_str(e->doc, node, e->arena, &s, &n);
    const sl_ct_enum_t *en = f->enumeration;
    for (size_t i = 0; i < en->n_values; i++) {
        if (strlen(en->names[i]) == n && memcmp(en->names[i], s, n) == 0) {
            return en->numbers[i];
        }
    }
    return 0;
}

static const char *enum_name(const sl_ct_field_t *f, int32_t v) {
    const sl_ct_enum_t *en = f->enumeration;
    for (size_t i = 0; i < en->n_values; i++) {
        if (en->numbers[i] == v) {
            return en->names[i];
        }
    }
    return NULL;
}

/* A scalar's wire bits (varint, fixed32 or fixed64 payload) and whether it is the default. */
static uint64_t scalar_bits(const enc_t *e, const sl_ct_field_t *f, uint32_t node, bool *zero) {
    const sl_json_node_t *nd = &e->doc->nodes[node];
    switch (f->type) {
    case SL_CT_BOOL:
        *zero = nd->type != SL_JSON_TRUE;
        return !*zero;
    case SL_CT_ENUM: {
        int32_t v = enum_number(e, f, node);
        *zero = v == 0;
        return (uint64_t)(int64_t)v;
    }
    case SL_CT_DOUBLE: {
        double d = float_value(e, node);
        uint64_t bits;
        memcpy(&bits, &d, sizeof(bits));
        *zero = d == 0 && !signbit(d);
        return bits;
    }
    case SL_CT_FLOAT: {
        float fl = (float)float_value(e, node);
        uint32_t bits;
        memcpy(&bits, &fl, sizeof(bits));
        *zero = fl == 0 && !signbit(fl);
        return bits;
    }
    default: {
        uint64_t v = int_bits(e, f, node);
        *zero = v == 0;
        if (f->type == SL_CT_SINT32 || f->type == SL_CT_SINT64) {
            return (v << 1) ^ (uint64_t)((int64_t)v >> 63);
        }
        if (f->type == SL_CT_INT32 || f->type == SL_CT_SFIXED32 || f->type == SL_CT_UINT32 ||
            f->type == SL_CT_FIXED32) {
            /* int32 negatives are sign-extended varints; fixed32 takes the low bits. */
            return f->type == SL_CT_INT32 ? (uint64_t)(int64_t)(int32_t)v : (uint32_t)v;
        }
        return v;
    }
    }
}

static void put_scalar_json(const enc_t *e, const sl_ct_field_t *f, uint32_t node) {
    char tmp[40];
    size_t n;
    switch (f->type) {
    case SL_CT_BOOL:
        sl_buf_puts(e->out, e->doc->nodes[node].type == SL_JSON_TRUE ? "true" : "false");
        return;
    case SL_CT_ENUM: {
        int32_t v = enum_number(e, f, node);
        const char *name = enum_name(f, v);
        if (name != NULL) {
            sl_buf_json_string(e->out, name, strlen(name));
        } else {
            sl_buf_printf(e->out, "%d", v);
        }
        return;
    }
    case SL_CT_DOUBLE:
    case SL_CT_FLOAT: {
        const sl_json_node_t *nd = &e->doc->nodes[node];
        const char *text = e->doc->src + nd->start;
        if (f->type == SL_CT_DOUBLE && nd->type == SL_JSON_NUMBER &&
            sl_num_is_canonical_decimal(text, nd->len)) {
            sl_buf_append(e->out, text, nd->len); /* already in the canonical form */
            return;
        }
        double d = float_value(e, node);
        n = f->type == SL_CT_FLOAT ? sl_num_float((float)d, tmp) : sl_num_double(d, tmp);
        if (!isfinite(d)) {
            sl_buf_json_string(e->out, tmp, n);
        } else {
            sl_buf_append(e->out, tmp, n);
        }
        return;
    }
    default: {
        const sl_json_node_t *nd = &e->doc->nodes[node];
        if (nd->type == SL_JSON_NUMBER && (nd->flags & SL_JSON_F_INTEGER) && !is_64(f->type) &&
            !(nd->len == 2 && e->doc->src[nd->start] == '-')) { /* "-0" is written 0 */
            /* JSON integers have no leading zeros or sign: already canonical ("-0" is 0, a
             * default, never written). */
            sl_buf_append(e->out, e->doc->src + nd->start, nd->len);
            return;
        }
        uint64_t v = int_bits(e, f, node);
        n = is_unsigned(f->type) ? sl_num_u64(v, tmp) : sl_num_i64((int64_t)v, tmp);
        if (is_64(f->type)) {
            sl_buf_json_string(e->out, tmp, n);
        } else {
            sl_buf_append(e->out, tmp, n);
        }
        return;
    }
    }
}

static void put_scalar_proto(const enc_t *e, const sl_ct_field_t *f, uint64_t bits) {
    switch (f->type) {
    case SL_CT_DOUBLE:
    case SL_CT_FIXED64:
    case SL_CT_SFIXED64:
        pb_put_fixed64(e->out, bits);
        break;
    case SL_CT_FLOAT:
    case SL_CT_FIXED32:
    case SL_CT_SFIXED32:
        pb_put_fixed32(e->out, (uint32_t)bits);
        break;
    default:
        pb_put_varint(e->out, bits);
        break;
    }
}

static void encode_message(const enc_t *e, const sl_ct_message_t *m, uint32_t obj);
static void write_field(const enc_t *e, const sl_ct_field_t *f, uint32_t node, bool *first,
                        bool transform);

/* A string or bytes value; returns false (writing nothing) when it is empty and skip_empty. */
static bool put_len_value(const enc_t *e, const sl_ct_field_t *f, uint32_t node, bool skip_empty,
                          bool transform) {
    const char *s;
    size_t n;
    sl_json_str(e->doc, node, e->arena, &s, &n);
    if (f->type == SL_CT_STRING && transform) {
        sl_buf_t r;
        sl_buf_init(&r, e->arena, n + 16);
        if (!e->visitor->string(e->visitor->arg, f, e->path->s, e->path->len, s, n, &r)) {
            r.len = 0; /* dropped: a list element becomes "" */
            if (skip_empty) {
                return false;
            }
        }
        s = r.data;
        n = r.len;
    }
    if (f->type == SL_CT_STRING) {
        if (n == 0 && skip_empty) {
            return false;
        }
        if (e->proto) {
            pb_put_bytes(e->out, f->number, s, n);
        } else {
            sl_buf_json_string(e->out, s, n);
        }
        return true;
    }
    uint8_t *raw = sl_arena_alloc(e->arena, n / 4 * 3 + 4);
    long len = sl_base64_decode(s, n, raw);
    if (len < 0) {
        len = 0;
    }
    if (len == 0 && skip_empty) {
        return false;
    }
    if (e->proto) {
        pb_put_bytes(e->out, f->number, raw, (size_t)len);
    } else {
        sl_buf_append(e->out, "\"", 1);
        sl_base64_encode(e->out, raw, (size_t)len);
        sl_buf_append(e->out, "\"", 1);
    }
    return true;
}

/* A transformed floating-point value (the visitor's number); a dropped one is left out (or 0 as
 * a list element). */
static bool put_number(const enc_t *e, const sl_ct_field_t *f, uint32_t node, bool element) {
    double d = float_value(e, node), r = 0;
    if (!e->visitor->number(e->visitor->arg, f, e->path->s, e->path->len, d, &r)) {
        r = 0;
    }
    bool is_float = f->type == SL_CT_FLOAT;
    if (r == 0 && !element) {
        return false;
    }
    if (e->proto) {
        if (!element) {
            pb_put_tag(e->out, f->number, (uint32_t)sl_ct_wire_type(f->type));
        }
        if (is_float) {
            float fl = (float)r;
            uint32_t b32;
            memcpy(&b32, &fl, sizeof(b32));
            pb_put_fixed32(e->out, b32);
        } else {
            uint64_t b64;
            memcpy(&b64, &r, sizeof(b64));
            pb_put_fixed64(e->out, b64);
        }
        return true;
    }
    char tmp[40];
    size_t n = is_float ? sl_num_float((float)r, tmp) : sl_num_double(r, tmp);
    if (!isfinite(r)) {
        sl_buf_json_string(e->out, tmp, n);
    } else {
        sl_buf_append(e->out, tmp, n);
    }
    return true;
}

/* One value of f at node (an element when f is repeated). Returns false when nothing was
 * written because the value is a singular default. */
static bool put_value(const enc_t *e, const sl_ct_field_t *f, uint32_t node, bool element,
                      bool transform) {
    if (f->type == SL_CT_MESSAGE) {
        if (e->proto) {
            size_t at = pb_open(e->out, f->number);
            encode_message(e, f->message, node);
            pb_close(e->out, at);
        } else {
            sl_buf_append(e->out, "{", 1);
            encode_message(e, f->message, node);
            sl_buf_append(e->out, "}", 1);
        }
        return true;
    }
    if (f->type == SL_CT_STRING || f->type == SL_CT_BYTES) {
        return put_len_value(e, f, node, !element, transform);
    }
    if (transform && (f->type == SL_CT_DOUBLE || f->type == SL_CT_FLOAT)) {
        return put_number(e, f, node, element);
    }
    bool zero;
    uint64_t bits = scalar_bits(e, f, node, &zero);
    if (zero && !element) {
        return false;
    }
    if (e->proto) {
        if (!element) {
            pb_put_tag(e->out, f->number, (uint32_t)sl_ct_wire_type(f->type));
        }
        put_scalar_proto(e, f, bits);
    } else {
        put_scalar_json(e, f, node);
    }
    return true;
}

/* Field f whose value is node; writes nothing for defaults. */
static void put_field(const enc_t *e, const sl_ct_field_t *f, uint32_t node, bool *first) {
    const sl_json_doc_t *doc = e->doc;
    const sl_json_node_t *nd = &doc->nodes[node];
    if (nd->type == SL_JSON_NULL || (f->repeated && nd->count == 0)) {
        return;
    }
    size_t saved = path_push(e, f->name, false);
    int decision = SL_CT_VISIT_KEEP;
    if (e->visitor != NULL) {
        decision = e->visitor->decide(e->visitor->arg, f, e->path->s, e->path->len);
    }
    if (decision != SL_CT_VISIT_DROP) {
        write_field(e, f, node, first, decision == SL_CT_VISIT_TRANSFORM);
    }
    e->path->len = saved;
}

static void write_field(const enc_t *e, const sl_ct_field_t *f, uint32_t node, bool *first,
                        bool transform) {
    const sl_json_doc_t *doc = e->doc;
    const sl_json_node_t *nd = &doc->nodes[node];
    sl_buf_t *out = e->out;
    size_t mark = out->len;
    if (!e->proto) {
        if (!*first) {
            sl_buf_append(out, ",", 1);
        }
        sl_buf_json_string(out, f->name, strlen(f->name));
        sl_buf_append(out, f->repeated ? ":[" : ":", f->repeated ? 2 : 1);
    }
    if (!f->repeated) {
        if (!put_value(e, f, node, false, transform)) {
            out->len = mark;
            return;
        }
        *first = false;
        return;
    }
    bool packed = f->type != SL_CT_MESSAGE && f->type != SL_CT_STRING && f->type != SL_CT_BYTES;
    size_t at = e->proto && packed ? pb_open(out, f->number) : 0;
    size_t saved = f->type == SL_CT_MESSAGE ? path_push(e, NULL, true) : e->path->len;
    uint32_t c = node + 1;
    for (uint32_t i = 0; i < nd->count; i++) {
        if (!e->proto && i > 0) {
            sl_buf_append(out, ",", 1);
        }
        put_value(e, f, c, true, transform);
        c = doc->nodes[c].end;
    }
    e->path->len = saved;
    if (e->proto && packed) {
        pb_close(out, at);
    } else if (!e->proto) {
        sl_buf_append(out, "]", 1);
    }
    *first = false;
}

/* The members of obj (a validated object of message m) in field-number order. */
static void encode_members(const enc_t *e, const sl_ct_message_t *m, uint32_t obj, bool *first,
                           const sl_ct_override_t *ovr) {
    const sl_json_doc_t *doc = e->doc;
    uint32_t small[32];
    uint32_t *node_of =
        m->n_fields <= 32 ? small : sl_arena_alloc(e->arena, m->n_fields * sizeof(uint32_t));
    for (size_t i = 0; i < m->n_fields; i++) {
        node_of[i] = 0; /* 0 is the document root: never a member */
    }
    const sl_json_node_t *o = &doc->nodes[obj];
    uint32_t k = obj + 1;
    for (uint32_t i = 0; i < o->count; i++) {
        const char *name;
        size_t len;
        sl_json_str(doc, k, e->arena, &name, &len);
        const sl_ct_field_t *f = sl_ct_field_by_name(m, name, len);
        if (f != NULL) {
            node_of[f - m->fields] = k + 1;
        }
        k = doc->nodes[k + 1].end;
    }
    for (size_t i = 0; i < m->n_fields; i++) {
        const sl_ct_field_t *f = &m->fields[i];
        if (ovr != NULL && ovr->write(ovr->arg, f, e->proto, e->out, first)) {
            continue;
        }
        if (node_of[i] != 0) {
            put_field(e, f, node_of[i], first);
        }
    }
}

static void encode_message(const enc_t *e, const sl_ct_message_t *m, uint32_t obj) {
    bool first = true;
    encode_members(e, m, obj, &first, NULL);
}

void sl_ct_encode(const sl_ct_message_t *m, const sl_json_doc_t *doc, uint32_t obj, bool proto,
                  const sl_ct_override_t *ovr, const sl_ct_visitor_t *visitor, const char *path,
                  sl_arena_t *arena, sl_buf_t *out) {
    struct path p = {.len = 0};
    enc_t e = {
        .doc = doc, .arena = arena, .out = out, .proto = proto, .visitor = visitor, .path = &p};
    if (path != NULL) {
        path_push(&e, path, false);
    }
    bool first = true;
    if (!proto) {
        sl_buf_append(out, "{", 1);
    }
    if (doc != NULL) {
        encode_members(&e, m, obj, &first, ovr);
    } else if (ovr != NULL) {
        for (size_t i = 0; i < m->n_fields; i++) {
            ovr->write(ovr->arg, &m->fields[i], proto, out, &first);
        }
    }
    if (!proto) {
        sl_buf_append(out, "}", 1);
    }
}
