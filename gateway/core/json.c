#include "core/json.h"

#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

typedef struct {
    uint32_t node;
    uint32_t count;
    bool object;
} frame_t;

typedef struct {
    const unsigned char *s;
    size_t len;
    size_t pos;
    sl_arena_t *arena;
    sl_json_node_t *nodes;
    uint32_t n;
    uint32_t cap;
    sl_error_t *err;
} parser_t;

static sl_status_t fail(parser_t *p, const char *code, const char *what) {
    return sl_error_set(p->err, SL_REJECT, code, "%s at byte %zu", what, p->pos);
}

static uint32_t push_node(parser_t *p, uint8_t type, size_t start) {
    if (p->n == p->cap) {
        uint32_t cap = p->cap * 2;
        sl_json_node_t *nodes = sl_arena_alloc(p->arena, cap * sizeof(*nodes));
        memcpy(nodes, p->nodes, p->n * sizeof(*nodes));
        p->nodes = nodes;
        p->cap = cap;
    }
    sl_json_node_t *nd = &p->nodes[p->n];
    nd->type = type;
    nd->flags = 0;
    nd->start = (uint32_t)start;
    nd->len = 0;
    nd->count = 0;
    nd->end = p->n + 1;
    return p->n++;
}

static void skip_ws(parser_t *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
            return;
        }
        p->pos++;
    }
}

static int hex4(const unsigned char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (uint32_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (uint32_t)(c - 'A' + 10);
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

/* Bytes that can be copied through a string as they are: printable ASCII but '"' and '\\'. */
static const bool plain[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(false), R16(false), /* 0x00-0x1f: control characters */
    true,       true,       false,      true,       true,       true,
    true,       true,       true,       true,       true,       true,
    true,       true,       true,       true, /* 0x20-0x2f, '"' at 0x22 */
    R16(true),  R16(true),  true,       true,       true,       true,
    true,       true,       true,       true,       true,       true,
    true,       true,       false,      true,       true,       true, /* 0x50-0x5f, '\\' at 0x5c */
    R16(true),  R16(true),                                            /* 0x60-0x7f */
    R16(false), R16(false), R16(false), R16(false), R16(false), R16(false),
    R16(false), R16(false), /* 0x80-0xff: UTF-8, checked separately */
#undef R16
};

/* At the opening quote. */
static sl_status_t parse_string(parser_t *p) {
    p->pos++;
    uint32_t node = push_node(p, SL_JSON_STRING, p->pos);
    const unsigned char *s = p->s;
    size_t len = p->len;
    size_t i = p->pos;
    uint8_t flags = 0;
    for (;;) {
        /* Plain ASCII runs first: the common case. */
        /* Eight bytes at a time while none is a quote, a backslash, a control character or
         * non-ASCII (SWAR: a zero byte of x ^ c shows up in (v - 0x01..) & ~v & 0x80..). */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
            uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
            uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | (w - ones * 0x20) | w;
            if ((hit & high) != 0) {
                break;
            }
            i += 8;
        }
        while (i < len && plain[s[i]]) {
            i++;
        }
        if (i >= len) {
            p->pos = i;
            return fail(p, "malformed_json", "unterminated string");
        }
        unsigned char c = s[i];
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            flags |= SL_JSON_F_ESCAPED;
            if (i + 1 >= len) {
                p->pos = i;
                return fail(p, "malformed_json", "unterminated string");
            }
            unsigned char e = s[i + 1];
            if (e == 'u') {
                uint32_t cp;
                if (i + 6 > len || hex4(s + i + 2, &cp) != 0) {
                    p->pos = i;
                    return fail(p, "malformed_json", "invalid \\u escape");
                }
                if (cp == 0) {
                    p->pos = i;
                    return fail(p, "malformed_json", "\\u0000 is not accepted in strings");
                }
                i += 6;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (i + 6 > len || s[i] != '\\' || s[i + 1] != 'u' ||
                        hex4(s + i + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
                        p->pos = i;
                        return fail(p, "malformed_json", "unpaired UTF-16 surrogate");
                    }
                    i += 6;
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    p->pos = i;
                    return fail(p, "malformed_json", "unpaired UTF-16 surrogate");
                }
                continue;
            }
            if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' &&
                e != 't') {
                p->pos = i;
                return fail(p, "malformed_json", "invalid escape");
            }
            i += 2;
            continue;
        }
        if (c < 0x20) {
            p->pos = i;
            return fail(p, "malformed_json", "control character in string");
        }
        size_t k = sl_utf8_seq(s + i, len - i);
        if (k == 0) {
            p->pos = i;
            return fail(p, "malformed_json", "invalid UTF-8");
        }
        i += k;
    }
    p->nodes[node].len = (uint32_t)(i - p->pos);
    p->nodes[node].flags = flags;
    p->pos = i + 1;
    return SL_OK;
}

static sl_status_t parse_number(parser_t *p) {
    const unsigned char *s = p->s;
    size_t i = p->pos, len = p->len;
    uint8_t flags = SL_JSON_F_INTEGER;
    if (s[i] == '-') {
        i++;
    }
    if (i < len && s[i] == '0') {
        i++;
    } else if (i < len && s[i] >= '1' && s[i] <= '9') {
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    } else {
        p->pos = i;
        return fail(p, "malformed_json", "invalid number");
    }
    if (i < len && s[i] == '.') {
        flags = 0;
        i++;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (i == d) {
            p->pos = i;
            return fail(p, "malformed_json", "invalid number");
        }
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        flags = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (i == d) {
            p->pos = i;
            return fail(p, "malformed_json", "invalid number");
        }
    }
    uint32_t node = push_node(p, SL_JSON_NUMBER, p->pos);
    p->nodes[node].len = (uint32_t)(i - p->pos);
    p->nodes[node].flags = flags;
    p->pos = i;
    return SL_OK;
}

static sl_status_t parse_literal(parser_t *p, const char *word, uint8_t type) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
        return fail(p, "malformed_json", "invalid literal");
    }
    push_node(p, type, p->pos);
    p->nodes[p->n - 1].len = (uint32_t)n;
    p->pos += n;
    return SL_OK;
}

typedef struct {
    const char *s;
    size_t len;
} key_t_;

static int key_cmp(const void *a, const void *b) {
    const key_t_ *x = a, *y = b;
    if (x->len != y->len) {
        return x->len < y->len ? -1 : 1;
    }
    return memcmp(x->s, y->s, x->len);
}

static sl_status_t check_unique_keys(parser_t *p, uint32_t obj, uint32_t count) {
    if (count < 2) {
        return SL_OK;
    }
    key_t_ small[16];
    key_t_ *keys = count <= 16 ? small : sl_arena_alloc(p->arena, count * sizeof(*keys));
    sl_json_doc_t doc = {(const char *)p->s, p->nodes, p->n};
    uint32_t k = obj + 1;
    for (uint32_t m = 0; m < count; m++) {
        sl_json_str(&doc, k, p->arena, &keys[m].s, &keys[m].len);
        k = p->nodes[k + 1].end;
    }
    bool dup = false;
    if (count <= 16) {
        for (uint32_t a = 0; a < count && !dup; a++) {
            for (uint32_t b = a + 1; b < count && !dup; b++) {
                dup = key_cmp(&keys[a], &keys[b]) == 0;
            }
        }
    } else {
        qsort(keys, count, sizeof(*keys), key_cmp);
        for (uint32_t a = 1; a < count && !dup; a++) {
            dup = key_cmp(&keys[a - 1], &keys[a]) == 0;
        }
    }
    return dup ? fail(p, "duplicate_key", "duplicate key in object") : SL_OK;
}

sl_status_t sl_json_parse(const char *src, size_t len, const sl_json_limits_t *limits,
                          sl_arena_t *arena, sl_json_doc_t *doc, sl_error_t *err) {
    if (len >= UINT32_MAX) {
        return sl_error_set(err, SL_REJECT, "malformed_json", "document too large");
    }
    parser_t p = {(const unsigned char *)src, len, 0, arena, NULL, 0, 0, err};
    /* About one node per 12 bytes of a typical event; grows by doubling past that. */
    p.cap = (uint32_t)(len / 12) + 16;
    p.nodes = sl_arena_alloc(arena, p.cap * sizeof(*p.nodes));
    int max_depth = limits->max_depth > 0 ? limits->max_depth : 1;
    frame_t *stack = sl_arena_alloc(arena, (size_t)max_depth * sizeof(*stack));
    int depth = 0;
    sl_status_t rc;

    skip_ws(&p);
value:
    if (p.pos >= p.len) {
        return fail(&p, "malformed_json", "unexpected end of input");
    }
    switch (p.s[p.pos]) {
    case '{':
    case '[': {
        if (depth >= max_depth) {
            return fail(&p, "too_deep", "nesting deeper than the limit");
        }
        bool object = p.s[p.pos] == '{';
        uint32_t node = push_node(&p, object ? SL_JSON_OBJECT : SL_JSON_ARRAY, p.pos);
        stack[depth++] = (frame_t){node, 0, object};
        p.pos++;
        skip_ws(&p);
        if (p.pos < p.len && p.s[p.pos] == (object ? '}' : ']')) {
            goto close;
        }
        goto element;
    }
    case '"':
        rc = parse_string(&p);
        break;
    case 't':
        rc = parse_literal(&p, "true", SL_JSON_TRUE);
        break;
    case 'f':
        rc = parse_literal(&p, "false", SL_JSON_FALSE);
        break;
    case 'n':
        rc = parse_literal(&p, "null", SL_JSON_NULL);
        break;
    default:
        if (p.s[p.pos] == '-' || (p.s[p.pos] >= '0' && p.s[p.pos] <= '9')) {
            rc = parse_number(&p);
        } else {
            return fail(&p, "malformed_json", "unexpected character");
        }
        break;
    }
    if (rc != SL_OK) {
        return rc;
    }
after_value:
    if (depth == 0) {
        skip_ws(&p);
        if (p.pos != p.len) {
            return fail(&p, "malformed_json", "data after the JSON value");
        }
        doc->src = src;
        doc->nodes = p.nodes;
        doc->n = p.n;
        return SL_OK;
    }
    skip_ws(&p);
    if (p.pos >= p.len) {
        return fail(&p, "malformed_json", "unexpected end of input");
    }
    if (p.s[p.pos] == ',') {
        p.pos++;
        skip_ws(&p);
        goto element;
    }
    if (p.s[p.pos] == (stack[depth - 1].object ? '}' : ']')) {
        goto close;
    }
    return fail(&p, "malformed_json",
                stack[depth - 1].object ? "expected ',' or '}'" : "expected ',' or ']'");
element : {
    frame_t *f = &stack[depth - 1];
    f->count++;
    if (depth == 2 && !f->object && f->count > limits->max_top_array) {
        return fail(&p, "too_many_elements", "too many elements");
    }
    if (!f->object) {
        goto value;
    }
    if (p.pos >= p.len || p.s[p.pos] != '"') {
        return fail(&p, "malformed_json", "expected a string key");
    }
    rc = parse_string(&p);
    if (rc != SL_OK) {
        return rc;
    }
    skip_ws(&p);
    if (p.pos >= p.len || p.s[p.pos] != ':') {
        return fail(&p, "malformed_json", "expected ':'");
    }
    p.pos++;
    skip_ws(&p);
    goto value;
}
close : {
    frame_t *f = &stack[--depth];
    sl_json_node_t *nd = &p.nodes[f->node];
    nd->count = f->count;
    nd->end = p.n;
    p.pos++;
    nd->len = (uint32_t)(p.pos - nd->start);
    if (f->object) {
        rc = check_unique_keys(&p, f->node, f->count);
        if (rc != SL_OK) {
            return rc;
        }
    }
    goto after_value;
}
}

static size_t decode(const char *r, size_t n, char *out);

int64_t sl_json_get(const sl_json_doc_t *doc, uint32_t obj, const char *key) {
    const sl_json_node_t *o = &doc->nodes[obj];
    if (o->type != SL_JSON_OBJECT) {
        return -1;
    }
    size_t kl = strlen(key);
    uint32_t k = obj + 1;
    for (uint32_t m = 0; m < o->count; m++) {
        const sl_json_node_t *kn = &doc->nodes[k];
        if (kn->flags & SL_JSON_F_ESCAPED) {
            /* Rare: decode the key on the stack (a decoded key is never longer than raw). */
            char tmp[256];
            if (kn->len < sizeof(tmp) && decode(doc->src + kn->start, kn->len, tmp) == kl &&
                memcmp(tmp, key, kl) == 0) {
                return k + 1;
            }
        } else if (kn->len == kl && memcmp(doc->src + kn->start, key, kl) == 0) {
            return k + 1;
        }
        k = doc->nodes[k + 1].end;
    }
    return -1;
}

static size_t utf8_put(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes a validated raw string span into out (at least n + 1 bytes); returns the length. */
static size_t decode(const char *r, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (r[i] != '\\') {
            out[o++] = r[i++];
            continue;
        }
        char e = r[i + 1];
        if (e == 'u') {
            uint32_t cp = 0, lo = 0xDC00; /* the span was validated: hex4 cannot fail */
            hex4((const unsigned char *)r + i + 2, &cp);
            i += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                hex4((const unsigned char *)r + i + 2, &lo);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            o += utf8_put(cp, out + o);
            continue;
        }
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        out[o++] = to[strchr(from, e) - from];
        i += 2;
    }
    out[o] = '\0';
    return o;
}

void sl_json_str(const sl_json_doc_t *doc, uint32_t node, sl_arena_t *arena, const char **s,
                 size_t *len) {
    const sl_json_node_t *nd = &doc->nodes[node];
    const char *raw = doc->src + nd->start;
    if (!(nd->flags & SL_JSON_F_ESCAPED)) {
        *s = raw;
        *len = nd->len;
        return;
    }
    char *out = sl_arena_alloc(arena, nd->len + 1);
    *len = decode(raw, nd->len, out);
    *s = out;
}

int sl_json_int(const sl_json_doc_t *doc, uint32_t node, int64_t *out) {
    const sl_json_node_t *nd = &doc->nodes[node];
    if (nd->type != SL_JSON_NUMBER || !(nd->flags & SL_JSON_F_INTEGER)) {
        return -1;
    }
    const char *s = doc->src + nd->start;
    size_t i = 0;
    bool neg = s[0] == '-';
    i += neg;
    uint64_t v = 0;
    for (; i < nd->len; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    if ((!neg && v > (uint64_t)INT64_MAX) || (neg && v > (uint64_t)INT64_MAX + 1)) {
        return -1;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

double sl_json_number(const sl_json_doc_t *doc, uint32_t node) {
    /* Powers of ten a double holds exactly. */
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const sl_json_node_t *nd = &doc->nodes[node];
    const char *s = doc->src + nd->start;
    size_t i = 0, n = nd->len;
    bool neg = s[0] == '-';
    i += neg;
    uint64_t m = 0;
    int digits = 0, frac = 0;
    bool dot = false;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            dot = true;
            continue;
        }
        if (c < '0' || c > '9') {
            break; /* an exponent: the slow path */
        }
        if (m != 0 || c != '0') {
            digits++;
        }
        m = m * 10 + (uint64_t)(c - '0');
        frac += dot;
    }
    if (i == n && digits <= 15 && frac <= 22) {
        /* m < 10^15 < 2^53 and 10^frac are exact, so one division rounds correctly. */
        double v = (double)m / pow10[frac];
        return neg ? -v : v;
    }
    /* A JSON number is always followed by a delimiter or the end of the copy below. */
    char tmp[64];
    if (n < sizeof(tmp)) {
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        return strtod(tmp, NULL);
    }
    char *big = malloc(n + 1);
    if (big == NULL) {
        abort();
    }
    memcpy(big, s, n);
    big[n] = '\0';
    double v = strtod(big, NULL);
    free(big);
    return v;
}

const char *sl_json_type_phrase(sl_json_type_t t) {
    static const char *names[] = {"null",     "a boolean", "a boolean", "a number",
                                  "a string", "an array",  "an object"};
    return names[t];
}
