/* contracts: loads a FileDescriptorSet into an immutable registry.
 *
 * Order of work: size checks, a nesting pre-check of the raw bytes (protobuf-c recurses without
 * a limit), protobuf-c unpack under a byte budget, then three passes over the unpacked set —
 * collect every message and enum under its full name, build each message's fields (resolving
 * type names, parsing the option bytes), index the event contracts — and a cycle check over
 * every message an event contract reaches. Everything the registry keeps lives in its arena;
 * the unpacked descriptors are freed before returning. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "google/protobuf/descriptor.pb-c.h"

#include "contracts/internal.h"

typedef Google__Protobuf__FileDescriptorSet desc_set_t;
typedef Google__Protobuf__FileDescriptorProto desc_file_t;
typedef Google__Protobuf__DescriptorProto desc_msg_t;
typedef Google__Protobuf__FieldDescriptorProto desc_field_t;
typedef Google__Protobuf__EnumDescriptorProto desc_enum_t;

#define MAX_FIELD_NUMBER 536870911 /* 2^29 - 1 */

/* --- protobuf-c allocator with a byte budget ------------------------------------------------ */

typedef struct {
    size_t used;
    size_t limit;
} budget_t;

#define BUDGET_HDR 16 /* keeps the size in front of the block, and 16-byte alignment */

static void *budget_alloc(void *data, size_t size) {
    budget_t *b = data;
    if (size > b->limit - b->used || b->limit - b->used - size < BUDGET_HDR) {
        return NULL; /* protobuf-c fails the unpack cleanly */
    }
    unsigned char *p = malloc(size + BUDGET_HDR);
    if (p == NULL) {
        abort();
    }
    memcpy(p, &size, sizeof(size));
    b->used += size + BUDGET_HDR;
    return p + BUDGET_HDR;
}

static void budget_free(void *data, void *ptr) {
    if (ptr == NULL) {
        return;
    }
    budget_t *b = data;
    unsigned char *p = (unsigned char *)ptr - BUDGET_HDR;
    size_t size;
    memcpy(&size, p, sizeof(size));
    b->used -= size + BUDGET_HDR;
    free(p);
}

/* Unpacked descriptors are larger than their encoding (an empty message is 2 bytes on the wire
 * and ~100 unpacked); real descriptor sets stay well under 16x. */
static size_t budget_for(size_t len) {
    size_t cap = (size_t)512 << 20;
    return len > (cap - ((size_t)4 << 20)) / 32 ? cap : len * 32 + ((size_t)4 << 20);
}

/* --- loader state ----------------------------------------------------------------------------- */

typedef struct {
    sl_ct_msg_t *m;
    const desc_msg_t *d;
} msg_entry_t;

typedef struct {
    sl_contracts_t *c;
    const char *name; /* for messages: the descriptor set's path */
    sl_error_t *err;
    msg_entry_t *msgs; /* malloc'd, n = c->n_messages, sorted by full name after collect */
    size_t n_msgs;
    size_t n_enums;
} loader_t;

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const msg_entry_t *)a)->m->pub.full_name,
                  ((const msg_entry_t *)b)->m->pub.full_name);
}

static int cmp_enum(const void *a, const void *b) {
    return strcmp((*(sl_ct_enum_t *const *)a)->full_name, (*(sl_ct_enum_t *const *)b)->full_name);
}

static char *join_name(sl_arena_t *arena, const char *scope, const char *name) {
    bool scoped = scope != NULL && scope[0] != '\0';
    size_t n = (scoped ? strlen(scope) + 1 : 0) + strlen(name) + 1;
    char *s = sl_arena_alloc(arena, n);
    snprintf(s, n, "%s%s%s", scoped ? scope : "", scoped ? "." : "", name);
    return s;
}

static void count_msg(const desc_msg_t *d, size_t *n_msgs, size_t *n_enums) {
    (*n_msgs)++;
    *n_enums += d->n_enum_type;
    for (size_t i = 0; i < d->n_nested_type; i++) {
        count_msg(d->nested_type[i], n_msgs, n_enums);
    }
}

static sl_status_t add_enum(loader_t *L, const char *scope, const desc_enum_t *d) {
    if (d->name == NULL || d->name[0] == '\0') {
        return sl_error_set(L->err, SL_REJECT, "contracts_format", "%s: an enum in %s has no name",
                            L->name, scope ? scope : "(root)");
    }
    sl_arena_t *a = L->c->arena;
    sl_ct_enum_t *e = sl_arena_calloc(a, sizeof(*e));
    e->full_name = join_name(a, scope, d->name);
    const char **names = sl_arena_calloc(a, (d->n_value + 1) * sizeof(const char *));
    int32_t *numbers = sl_arena_calloc(a, (d->n_value + 1) * sizeof(*numbers));
    for (size_t i = 0; i < d->n_value; i++) {
        if (d->value[i]->name == NULL || !d->value[i]->has_number) {
            return sl_error_set(L->err, SL_REJECT, "contracts_format",
                                "%s: enum %s: a value without a name or number", L->name,
                                e->full_name);
        }
        names[i] = sl_arena_strndup(a, d->value[i]->name, strlen(d->value[i]->name));
        numbers[i] = d->value[i]->number;
    }
    e->n_values = d->n_value;
    e->names = names;
    e->numbers = numbers;
    L->c->enums[L->n_enums++] = e;
    return SL_OK;
}

static sl_status_t collect_msg(loader_t *L, const char *file, const char *scope,
                               const desc_msg_t *d) {
    if (d->name == NULL || d->name[0] == '\0') {
        return sl_error_set(L->err, SL_REJECT, "contracts_format",
                            "%s: %s: a message without a name", L->name, file);
    }
    sl_arena_t *a = L->c->arena;
    sl_ct_msg_t *m = sl_arena_calloc(a, sizeof(*m));
    m->pub.full_name = join_name(a, scope, d->name);
    m->file = file;
    L->msgs[L->n_msgs].m = m;
    L->msgs[L->n_msgs].d = d;
    L->n_msgs++;
    for (size_t i = 0; i < d->n_enum_type; i++) {
        sl_status_t rc = add_enum(L, m->pub.full_name, d->enum_type[i]);
        if (rc != SL_OK) {
            return rc;
        }
    }
    for (size_t i = 0; i < d->n_nested_type; i++) {
        sl_status_t rc = collect_msg(L, file, m->pub.full_name, d->nested_type[i]);
        if (rc != SL_OK) {
            return rc;
        }
    }
    return SL_OK;
}

static sl_ct_msg_t *find_msg(const loader_t *L, const char *full_name) {
    size_t lo = 0, hi = L->n_msgs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(full_name, L->msgs[mid].m->pub.full_name);
        if (c == 0) {
            return L->msgs[mid].m;
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

/* protobuf's ToJsonName: drop each '_' and upper-case the letter after it. */
static char *json_name_of(sl_arena_t *a, const char *name) {
    size_t n = strlen(name);
    char *out = sl_arena_alloc(a, n + 1);
    size_t o = 0;
    bool upper = false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (ch == '_') {
            upper = true;
        } else if (upper) {
            out[o++] = (char)toupper((unsigned char)ch);
            upper = false;
        } else {
            out[o++] = ch;
        }
    }
    out[o] = '\0';
    return out;
}

/* The payload of a length-delimited unknown field. protobuf-c keeps the length prefix in data;
 * the varint is re-read and must account for every byte. */
static bool unknown_payload(const ProtobufCMessageUnknownField *u, const uint8_t **p, size_t *n) {
    if (u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
        return false;
    }
    uint64_t v = 0;
    size_t i = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (i >= u->len || shift > 63) {
            return false;
        }
        uint8_t b = u->data[i++];
        v |= (uint64_t)(b & 0x7fu) << shift;
        if ((b & 0x80u) == 0) {
            break;
        }
    }
    if (v != (uint64_t)(u->len - i)) {
        return false;
    }
    *p = u->data + i;
    *n = (size_t)v;
    return true;
}

/* Re-prefixes err->message (set by the wire reader) with where it happened. */
static sl_status_t in_context(loader_t *L, const char *where) {
    char inner[sizeof(L->err->message)];
    snprintf(inner, sizeof(inner), "%s", L->err->message);
    return sl_error_set(L->err, SL_REJECT, L->err->code, "%s: %s: bad option: %s", L->name, where,
                        inner);
}

static sl_status_t parse_field_rules(loader_t *L, const sl_ct_msg_t *m, const desc_field_t *d,
                                     sl_ct_field_t *f) {
    if (d->options == NULL) {
        return SL_OK;
    }
    char where[300];
    snprintf(where, sizeof(where), "%s.%s", m->pub.full_name, f->name);
    const ProtobufCMessage *base = &d->options->base;
    for (size_t i = 0; i < base->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &base->unknown_fields[i];
        if (u->tag != SL_CT_EXT_RULES) {
            continue;
        }
        const uint8_t *p;
        size_t n;
        if (!unknown_payload(u, &p, &n)) {
            return sl_error_set(L->err, SL_REJECT, "contracts_bad_option",
                                "%s: %s: bad option: (rules) is not a length-delimited message",
                                L->name, where);
        }
        if (sl_ct_parse_rules(p, n, L->c->arena, f, L->err) != SL_OK) {
            return in_context(L, where);
        }
    }
    if (sl_ct_check_rules(f, L->err) != SL_OK) {
        return in_context(L, where);
    }
    return SL_OK;
}

static sl_status_t parse_contract(loader_t *L, sl_ct_msg_t *m, const desc_msg_t *d) {
    if (d->options == NULL) {
        return SL_OK;
    }
    const ProtobufCMessage *base = &d->options->base;
    bool seen = false;
    sl_ct_contract_opt_t opt = {0};
    for (size_t i = 0; i < base->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &base->unknown_fields[i];
        if (u->tag != SL_CT_EXT_CONTRACT) {
            continue;
        }
        const uint8_t *p;
        size_t n;
        if (!unknown_payload(u, &p, &n)) {
            return sl_error_set(L->err, SL_REJECT, "contracts_bad_option",
                                "%s: %s: bad option: (contract) is not a length-delimited "
                                "message",
                                L->name, m->pub.full_name);
        }
        if (sl_ct_parse_contract(p, n, L->c->arena, &opt, L->err) != SL_OK) {
            return in_context(L, m->pub.full_name);
        }
        seen = true;
    }
    if (!seen) {
        return SL_OK;
    }
    const char *type = opt.type;
    if (type == NULL) {
        return sl_error_set(L->err, SL_REJECT, "contracts_bad_option",
                            "%s: %s: bad option: (contract) without a type", L->name,
                            m->pub.full_name);
    }
    if (opt.stage == SL_STAGE_NONE) {
        return sl_error_set(L->err, SL_REJECT, "contracts_bad_option",
                            "%s: %s: bad option: (contract) type \"%s\" without a stage", L->name,
                            m->pub.full_name, type);
    }
    m->pub.event_type = type;
    m->pub.stage = opt.stage;
    m->pub.unknown_fields = opt.unknown_fields;
    return SL_OK;
}

static int cmp_field_desc(const void *a, const void *b) {
    int32_t x = (*(const desc_field_t *const *)a)->number;
    int32_t y = (*(const desc_field_t *const *)b)->number;
    return (x > y) - (x < y);
}

static int cmp_name(const void *a, const void *b) {
    const sl_ct_name_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c != 0) {
        return c;
    }
    return (x->len > y->len) - (x->len < y->len);
}

static bool valid_type(int t) {
    return t >= SL_CT_DOUBLE && t <= SL_CT_SINT64 && t != 10 /* group */;
}

static sl_status_t resolve(loader_t *L, const sl_ct_msg_t *m, const desc_field_t *d,
                           sl_ct_field_t *f) {
    if (f->type != SL_CT_MESSAGE && f->type != SL_CT_ENUM) {
        return SL_OK;
    }
    const char *tn = d->type_name;
    if (tn == NULL || tn[0] != '.') {
        return sl_error_set(L->err, SL_REJECT, "contracts_unresolved",
                            "%s: %s.%s: type name \"%s\" is not fully qualified", L->name,
                            m->pub.full_name, f->name, tn != NULL ? tn : "");
    }
    if (f->type == SL_CT_MESSAGE) {
        sl_ct_msg_t *t = find_msg(L, tn + 1);
        f->message = t != NULL ? &t->pub : NULL;
    } else {
        f->enumeration = sl_ct_enum_find(L->c, tn + 1);
    }
    if (f->message == NULL && f->enumeration == NULL) {
        return sl_error_set(L->err, SL_REJECT, "contracts_unresolved",
                            "%s: %s.%s: unresolved %s type %s (missing --include_imports?)",
                            L->name, m->pub.full_name, f->name,
                            f->type == SL_CT_MESSAGE ? "message" : "enum", tn + 1);
    }
    return SL_OK;
}

static sl_status_t build_fields(loader_t *L, sl_ct_msg_t *m, const desc_msg_t *d) {
    sl_arena_t *a = L->c->arena;
    sl_status_t rc = SL_OK;
    size_t n = d->n_field;
    const desc_field_t **sorted = malloc((n + 1) * sizeof(const desc_field_t *));
    if (sorted == NULL) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        sorted[i] = d->field[i];
    }
    qsort(sorted, n, sizeof(const desc_field_t *), cmp_field_desc);

    sl_ct_field_t *fields = sl_arena_calloc(a, (n + 1) * sizeof(*fields));
    uint8_t *labels = sl_arena_calloc(a, n + 1);
    sl_ct_name_t *names = sl_arena_calloc(a, (2 * n + 1) * sizeof(*names));
    size_t n_names = 0;
    for (size_t i = 0; i < n; i++) {
        const desc_field_t *fd = sorted[i];
        sl_ct_field_t *f = &fields[i];
        if (fd->name == NULL || fd->name[0] == '\0' || !fd->has_number || fd->number < 1 ||
            fd->number > MAX_FIELD_NUMBER) {
            rc = sl_error_set(L->err, SL_REJECT, "contracts_format",
                              "%s: %s: a field without a name or a valid number", L->name,
                              m->pub.full_name);
            goto done;
        }
        f->name = sl_arena_strndup(a, fd->name, strlen(fd->name));
        if (i > 0 && sorted[i - 1]->number == fd->number) {
            rc = sl_error_set(L->err, SL_REJECT, "contracts_format",
                              "%s: %s: fields %s and %s share number %d", L->name, m->pub.full_name,
                              sorted[i - 1]->name, fd->name, (int)fd->number);
            goto done;
        }
        f->number = (uint32_t)fd->number;
        if (!fd->has_type || !valid_type((int)fd->type)) {
            rc = sl_error_set(L->err, SL_REJECT, "contracts_format",
                              "%s: %s.%s: unsupported field type %d (groups are not supported)",
                              L->name, m->pub.full_name, f->name, (int)fd->type);
            goto done;
        }
        f->type = (sl_ct_type_t)fd->type;
        int label = fd->has_label ? (int)fd->label : SL_CT_LABEL_OPTIONAL;
        if (label < SL_CT_LABEL_OPTIONAL || label > SL_CT_LABEL_REPEATED) {
            rc = sl_error_set(L->err, SL_REJECT, "contracts_format", "%s: %s.%s: bad label %d",
                              L->name, m->pub.full_name, f->name, label);
            goto done;
        }
        labels[i] = (uint8_t)label;
        f->repeated = label == SL_CT_LABEL_REPEATED;
        f->json_name = fd->json_name != NULL && fd->json_name[0] != '\0'
                           ? sl_arena_strndup(a, fd->json_name, strlen(fd->json_name))
                           : json_name_of(a, fd->name);
        if ((rc = resolve(L, m, fd, f)) != SL_OK ||
            (rc = parse_field_rules(L, m, fd, f)) != SL_OK) {
            goto done;
        }
        names[n_names++] = (sl_ct_name_t){f->name, strlen(f->name), f};
        if (strcmp(f->name, f->json_name) != 0) {
            names[n_names++] = (sl_ct_name_t){f->json_name, strlen(f->json_name), f};
        }
    }
    qsort(names, n_names, sizeof(*names), cmp_name);
    for (size_t i = 1; i < n_names; i++) {
        if (cmp_name(&names[i - 1], &names[i]) == 0 && names[i - 1].field != names[i].field) {
            rc = sl_error_set(L->err, SL_REJECT, "contracts_format",
                              "%s: %s: name \"%s\" is ambiguous (fields %s and %s)", L->name,
                              m->pub.full_name, names[i].key, names[i - 1].field->name,
                              names[i].field->name);
            goto done;
        }
    }
    m->pub.n_fields = n;
    m->pub.fields = fields;
    m->labels = labels;
    m->names = names;
    m->n_names = n_names;

    sl_ct_range_t *reserved = sl_arena_calloc(a, (d->n_reserved_range + 1) * sizeof(*reserved));
    for (size_t i = 0; i < d->n_reserved_range; i++) {
        reserved[i].start = d->reserved_range[i]->start;
        reserved[i].end = d->reserved_range[i]->end;
    }
    m->reserved = reserved;
    m->n_reserved = d->n_reserved_range;
    const char **rnames = sl_arena_calloc(a, (d->n_reserved_name + 1) * sizeof(const char *));
    for (size_t i = 0; i < d->n_reserved_name; i++) {
        const char *s = d->reserved_name[i] != NULL ? d->reserved_name[i] : "";
        rnames[i] = sl_arena_strndup(a, s, strlen(s));
    }
    m->reserved_names = rnames;
    m->n_reserved_names = d->n_reserved_name;
    rc = parse_contract(L, m, d);
done:
    free(sorted);
    return rc;
}

static int cmp_event_type(const void *a, const void *b) {
    return strcmp((*(const sl_ct_msg_t *const *)a)->pub.event_type,
                  (*(const sl_ct_msg_t *const *)b)->pub.event_type);
}

static sl_status_t index_events(loader_t *L) {
    sl_contracts_t *c = L->c;
    size_t n = 0;
    for (size_t i = 0; i < c->n_messages; i++) {
        n += c->messages[i]->pub.event_type != NULL;
    }
    const sl_ct_msg_t **by_name = sl_arena_calloc(c->arena, (n + 1) * sizeof(const sl_ct_msg_t *));
    const sl_ct_msg_t **by_type = sl_arena_calloc(c->arena, (n + 1) * sizeof(const sl_ct_msg_t *));
    size_t k = 0;
    for (size_t i = 0; i < c->n_messages; i++) {
        if (c->messages[i]->pub.event_type != NULL) {
            by_name[k] = by_type[k] = c->messages[i];
            k++;
        }
    }
    qsort(by_type, n, sizeof(const sl_ct_msg_t *), cmp_event_type);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(by_type[i - 1]->pub.event_type, by_type[i]->pub.event_type) == 0) {
            return sl_error_set(L->err, SL_REJECT, "contracts_duplicate_type",
                                "%s: event type \"%s\" is declared by both %s and %s", L->name,
                                by_type[i]->pub.event_type, by_type[i - 1]->pub.full_name,
                                by_type[i]->pub.full_name);
        }
    }
    c->events = by_name;
    c->events_by_type = by_type;
    c->n_events = n;
    return SL_OK;
}

/* Depth-first over message-typed fields from every event contract, with an explicit stack (a
 * chain of distinct messages can be as long as the set). A grey message met again closes a
 * cycle; the error spells it out. */
typedef struct {
    const sl_ct_msg_t *m;
    size_t next;
} frame_t;

static sl_status_t cycle_error(loader_t *L, const frame_t *stack, size_t top, size_t from,
                               const sl_ct_msg_t *back) {
    char path[256];
    size_t o = 0;
    for (size_t i = from; i <= top && o < sizeof(path); i++) {
        const sl_ct_field_t *f = &stack[i].m->pub.fields[stack[i].next - 1];
        int w =
            snprintf(path + o, sizeof(path) - o, "%s.%s -> ", stack[i].m->pub.full_name, f->name);
        o += w > 0 ? (size_t)w : 0;
    }
    if (o < sizeof(path)) {
        snprintf(path + o, sizeof(path) - o, "%s", back->pub.full_name);
    }
    return sl_error_set(L->err, SL_REJECT, "contracts_recursive",
                        "%s: message %s is recursive (%s); contracts must not contain themselves",
                        L->name, back->pub.full_name, path);
}

static sl_status_t check_cycles(loader_t *L) {
    sl_contracts_t *c = L->c;
    sl_status_t rc = SL_OK;
    uint8_t *color = calloc(c->n_messages + 1, 1); /* 0 white, 1 on the stack, 2 done */
    frame_t *stack = malloc((c->n_messages + 1) * sizeof(*stack));
    if (color == NULL || stack == NULL) {
        abort();
    }
    for (size_t e = 0; e < c->n_events && rc == SL_OK; e++) {
        const sl_ct_msg_t *root = c->events[e];
        if (color[root->index] != 0) {
            continue;
        }
        size_t depth = 0;
        stack[0] = (frame_t){root, 0};
        color[root->index] = 1;
        for (;;) {
            frame_t *top = &stack[depth];
            if (top->next == top->m->pub.n_fields) {
                color[top->m->index] = 2;
                if (depth == 0) {
                    break;
                }
                depth--;
                continue;
            }
            const sl_ct_field_t *f = &top->m->pub.fields[top->next++];
            if (f->type != SL_CT_MESSAGE) {
                continue;
            }
            const sl_ct_msg_t *t = sl_ct_msg(f->message);
            if (color[t->index] == 1) {
                size_t from = 0;
                while (from < depth && stack[from].m != t) {
                    from++;
                }
                rc = cycle_error(L, stack, depth, from, t);
                break;
            }
            if (color[t->index] == 0) {
                color[t->index] = 1;
                stack[++depth] = (frame_t){t, 0};
            }
        }
    }
    free(color);
    free(stack);
    return rc;
}

static sl_status_t build(loader_t *L, const desc_set_t *set) {
    sl_contracts_t *c = L->c;
    sl_status_t rc;
    size_t n_msgs = 0, n_enums = 0;
    for (size_t i = 0; i < set->n_file; i++) {
        const desc_file_t *f = set->file[i];
        if (f->name == NULL || f->name[0] == '\0') {
            return sl_error_set(L->err, SL_REJECT, "contracts_format",
                                "%s: not a descriptor set (a file without a name)", L->name);
        }
        n_enums += f->n_enum_type;
        for (size_t k = 0; k < f->n_message_type; k++) {
            count_msg(f->message_type[k], &n_msgs, &n_enums);
        }
    }
    c->messages = sl_arena_calloc(c->arena, (n_msgs + 1) * sizeof(sl_ct_msg_t *));
    c->enums = sl_arena_calloc(c->arena, (n_enums + 1) * sizeof(sl_ct_enum_t *));
    L->msgs = malloc((n_msgs + 1) * sizeof(*L->msgs));
    if (L->msgs == NULL) {
        abort();
    }
    for (size_t i = 0; i < set->n_file; i++) {
        const desc_file_t *f = set->file[i];
        const char *file = sl_arena_strndup(c->arena, f->name, strlen(f->name));
        const char *pkg = f->package != NULL && f->package[0] != '\0' ? f->package : NULL;
        for (size_t k = 0; k < f->n_enum_type; k++) {
            if ((rc = add_enum(L, pkg, f->enum_type[k])) != SL_OK) {
                return rc;
            }
        }
        for (size_t k = 0; k < f->n_message_type; k++) {
            if ((rc = collect_msg(L, file, pkg, f->message_type[k])) != SL_OK) {
                return rc;
            }
        }
    }
    qsort(L->msgs, L->n_msgs, sizeof(*L->msgs), cmp_entry);
    for (size_t i = 0; i < L->n_msgs; i++) {
        if (i > 0 && strcmp(L->msgs[i - 1].m->pub.full_name, L->msgs[i].m->pub.full_name) == 0) {
            return sl_error_set(L->err, SL_REJECT, "contracts_format",
                                "%s: message %s is declared twice (%s and %s)", L->name,
                                L->msgs[i].m->pub.full_name, L->msgs[i - 1].m->file,
                                L->msgs[i].m->file);
        }
        L->msgs[i].m->index = i;
        c->messages[i] = L->msgs[i].m;
    }
    c->n_messages = L->n_msgs;
    qsort(c->enums, L->n_enums, sizeof(sl_ct_enum_t *), cmp_enum);
    for (size_t i = 1; i < L->n_enums; i++) {
        if (strcmp(c->enums[i - 1]->full_name, c->enums[i]->full_name) == 0) {
            return sl_error_set(L->err, SL_REJECT, "contracts_format",
                                "%s: enum %s is declared twice", L->name, c->enums[i]->full_name);
        }
    }
    c->n_enums = L->n_enums;
    for (size_t i = 0; i < L->n_msgs; i++) {
        if ((rc = build_fields(L, L->msgs[i].m, L->msgs[i].d)) != SL_OK) {
            return rc;
        }
    }
    if ((rc = index_events(L)) != SL_OK) {
        return rc;
    }
    return check_cycles(L);
}

/* --- public ----------------------------------------------------------------------------------- */

sl_status_t sl_contracts_load_mem(const uint8_t *data, size_t len, const char *name,
                                  sl_contracts_t **out, sl_error_t *err) {
    sl_error_t scratch;
    sl_error_t *e = err != NULL ? err : &scratch;
    sl_contracts_t *c = NULL;
    desc_set_t *set = NULL;
    budget_t budget = {0, budget_for(len)};
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &budget};
    loader_t L = {.name = name != NULL ? name : "(memory)", .err = e};
    sl_status_t rc;

    *out = NULL;
    if (len > SL_CT_MAX_FILE_BYTES) {
        return sl_error_set(e, SL_REJECT, "contracts_too_large",
                            "%s: descriptor set of %zu bytes exceeds %zu", L.name, len,
                            SL_CT_MAX_FILE_BYTES);
    }
    if ((rc = sl_ct_check_nesting(data, len, SL_CT_MAX_NESTING, e)) != SL_OK) {
        char inner[sizeof(e->message)];
        snprintf(inner, sizeof(inner), "%s", e->message);
        return sl_error_set(e, rc, e->code, "%s: %s", L.name, inner);
    }
    set = google__protobuf__file_descriptor_set__unpack(&alloc, len, data);
    if (set == NULL) {
        return sl_error_set(e, SL_REJECT, "contracts_format",
                            "%s: not a descriptor set (truncated, corrupt, or over %zu bytes "
                            "unpacked)",
                            L.name, budget.limit);
    }
    if (set->base.n_unknown_fields > 0 || set->n_file == 0) {
        rc = sl_error_set(e, SL_REJECT, "contracts_format",
                          "%s: not a descriptor set (%s; build it with protoc "
                          "--include_imports --descriptor_set_out)",
                          L.name, set->n_file == 0 ? "no files" : "unexpected fields");
        goto done;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        abort();
    }
    atomic_init(&c->refs, 1);
    c->arena = sl_arena_new(len > 4096 ? len * 2 : 8192);
    c->name = sl_arena_strndup(c->arena, L.name, strlen(L.name));
    L.c = c;
    if ((rc = build(&L, set)) != SL_OK) {
        sl_contracts_unref(c);
        goto done;
    }
    *out = c;
done:
    free(L.msgs);
    google__protobuf__file_descriptor_set__free_unpacked(set, &alloc);
    return rc;
}

sl_status_t sl_contracts_load(const char *path, sl_contracts_t **out, sl_error_t *err) {
    *out = NULL;
    sl_status_t rc = SL_OK;
    uint8_t *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return sl_error_set(err, SL_REJECT, "contracts_unreadable", "%s: cannot open: %s", path,
                            strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = sl_error_set(err, SL_REJECT, "contracts_unreadable", "%s: not a regular file", path);
        goto done;
    }
    if ((uint64_t)st.st_size > SL_CT_MAX_FILE_BYTES) {
        rc = sl_error_set(err, SL_REJECT, "contracts_too_large",
                          "%s: descriptor set of %lld bytes exceeds %zu", path,
                          (long long)st.st_size, SL_CT_MAX_FILE_BYTES);
        goto done;
    }
    size_t len = (size_t)st.st_size;
    buf = malloc(len + 1);
    if (buf == NULL) {
        abort();
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            rc = sl_error_set(err, SL_REJECT, "contracts_unreadable", "%s: read: %s", path,
                              strerror(errno));
            goto done;
        }
        if (r == 0) {
            break; /* shrank while reading: parse what is there, the parser judges it */
        }
        got += (size_t)r;
    }
    rc = sl_contracts_load_mem(buf, got, path, out, err);
done:
    free(buf);
    close(fd);
    return rc;
}

sl_contracts_t *sl_contracts_ref(sl_contracts_t *c) {
    if (c != NULL) {
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    }
    return c;
}

void sl_contracts_unref(sl_contracts_t *c) {
    if (c == NULL || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    sl_arena_destroy(c->arena);
    free(c);
}

const sl_ct_message_t *sl_contracts_event(const sl_contracts_t *c, const char *type, size_t len) {
    if (c == NULL || type == NULL) {
        return NULL;
    }
    size_t lo = 0, hi = c->n_events;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *t = c->events_by_type[mid]->pub.event_type;
        size_t tl = strlen(t);
        int cmp = memcmp(type, t, len < tl ? len : tl);
        if (cmp == 0) {
            cmp = (len > tl) - (len < tl);
        }
        if (cmp == 0) {
            return &c->events_by_type[mid]->pub;
        }
        if (cmp < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

const sl_ct_message_t *sl_contracts_message(const sl_contracts_t *c, const char *full_name) {
    if (c == NULL || full_name == NULL) {
        return NULL;
    }
    size_t lo = 0, hi = c->n_messages;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(full_name, c->messages[mid]->pub.full_name);
        if (cmp == 0) {
            return &c->messages[mid]->pub;
        }
        if (cmp < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

const sl_ct_enum_t *sl_ct_enum_find(const sl_contracts_t *c, const char *full_name) {
    size_t lo = 0, hi = c->n_enums;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(full_name, c->enums[mid]->full_name);
        if (cmp == 0) {
            return c->enums[mid];
        }
        if (cmp < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

size_t sl_contracts_count(const sl_contracts_t *c) {
    return c != NULL ? c->n_events : 0;
}

const sl_ct_message_t *sl_contracts_at(const sl_contracts_t *c, size_t i) {
    return c != NULL && i < c->n_events ? &c->events[i]->pub : NULL;
}

const sl_ct_field_t *sl_ct_field_by_name(const sl_ct_message_t *m, const char *name, size_t len) {
    if (m == NULL || name == NULL) {
        return NULL;
    }
    const sl_ct_msg_t *x = sl_ct_msg(m);
    sl_ct_name_t key = {name, len, NULL};
    const sl_ct_name_t *hit = bsearch(&key, x->names, x->n_names, sizeof(*x->names), cmp_name);
    return hit != NULL ? hit->field : NULL;
}

const sl_ct_field_t *sl_ct_field_by_number(const sl_ct_message_t *m, uint32_t number) {
    if (m == NULL) {
        return NULL;
    }
    size_t lo = 0, hi = m->n_fields;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->fields[mid].number == number) {
            return &m->fields[mid];
        }
        if (m->fields[mid].number > number) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

const char *sl_ct_stage_name(sl_ct_stage_t stage) {
    switch (stage) {
    case SL_STAGE_RAW:
        return "raw";
    case SL_STAGE_IDENTITY:
        return "identity";
    case SL_STAGE_CONSENT:
        return "consent";
    case SL_STAGE_DECISIONS:
        return "decisions";
    case SL_STAGE_OUTCOMES:
        return "outcomes";
    case SL_STAGE_NONE:
        break;
    }
    return "none";
}
