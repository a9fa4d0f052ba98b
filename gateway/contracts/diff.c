/* contracts/diff: what changed between two registries, and whether it breaks producers or
 * consumers of events already in flight.
 *
 * Changes are collected, then sorted by (message or enum full name, field or value number,
 * order found) and emitted, so the output does not depend on how the sets were built. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/internal.h"

#define WHOLE INT64_MIN /* sort key of a change to a message/enum as a whole: before its fields */

typedef struct {
    const char *key;
    int64_t sub;
    size_t seq;
    sl_ct_change_t change;
} entry_t;

typedef struct {
    entry_t *v;
    size_t n;
    size_t cap;
    size_t breaking;
} list_t;

static void add(list_t *l, const char *key, int64_t sub, bool breaking, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void add(list_t *l, const char *key, int64_t sub, bool breaking, const char *fmt, ...) {
    if (l->n == l->cap) {
        l->cap = l->cap == 0 ? 32 : l->cap * 2;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        if (l->v == NULL) {
            abort();
        }
    }
    entry_t *e = &l->v[l->n];
    e->key = key;
    e->sub = sub;
    e->seq = l->n;
    e->change.breaking = breaking;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->change.what, sizeof(e->change.what), fmt, ap);
    va_end(ap);
    l->n++;
    l->breaking += breaking;
}

static int cmp_entry(const void *a, const void *b) {
    const entry_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0) {
        return c;
    }
    if (x->sub != y->sub) {
        return x->sub < y->sub ? -1 : 1;
    }
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static const char *scalar_name(sl_ct_type_t t) {
    switch (t) {
    case SL_CT_DOUBLE:
        return "double";
    case SL_CT_FLOAT:
        return "float";
    case SL_CT_INT64:
        return "int64";
    case SL_CT_UINT64:
        return "uint64";
    case SL_CT_INT32:
        return "int32";
    case SL_CT_FIXED64:
        return "fixed64";
    case SL_CT_FIXED32:
        return "fixed32";
    case SL_CT_BOOL:
        return "bool";
    case SL_CT_STRING:
        return "string";
    case SL_CT_MESSAGE:
        return "message";
    case SL_CT_BYTES:
        return "bytes";
    case SL_CT_UINT32:
        return "uint32";
    case SL_CT_ENUM:
        return "enum";
    case SL_CT_SFIXED32:
        return "sfixed32";
    case SL_CT_SFIXED64:
        return "sfixed64";
    case SL_CT_SINT32:
        return "sint32";
    case SL_CT_SINT64:
        return "sint64";
    }
    return "?";
}

/* "string", "message sluice.events.v1.Item", "enum sluice.x.Kind" (labels apart). */
static void type_text(const sl_ct_field_t *f, char *buf, size_t n) {
    if (f->type == SL_CT_MESSAGE && f->message != NULL) {
        snprintf(buf, n, "message %s", f->message->full_name);
    } else if (f->type == SL_CT_ENUM && f->enumeration != NULL) {
        snprintf(buf, n, "enum %s", f->enumeration->full_name);
    } else {
        snprintf(buf, n, "%s", scalar_name(f->type));
    }
}

static bool same_type(const sl_ct_field_t *a, const sl_ct_field_t *b) {
    if (a->type != b->type) {
        return false;
    }
    if (a->type == SL_CT_MESSAGE) {
        return strcmp(a->message->full_name, b->message->full_name) == 0;
    }
    if (a->type == SL_CT_ENUM) {
        return strcmp(a->enumeration->full_name, b->enumeration->full_name) == 0;
    }
    return true;
}

static const char *label_text(uint8_t label) {
    return label == SL_CT_LABEL_REPEATED   ? "repeated"
           : label == SL_CT_LABEL_REQUIRED ? "required (proto2)"
                                           : "singular";
}

static bool number_reserved(const sl_ct_msg_t *m, uint32_t number) {
    for (size_t i = 0; i < m->n_reserved; i++) {
        if ((int64_t)number >= m->reserved[i].start && (int64_t)number < m->reserved[i].end) {
            return true;
        }
    }
    return false;
}

static bool name_reserved(const sl_ct_msg_t *m, const char *name) {
    for (size_t i = 0; i < m->n_reserved_names; i++) {
        if (strcmp(m->reserved_names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static void diff_fields(list_t *l, const sl_ct_msg_t *om, const sl_ct_msg_t *nm) {
    const char *mn = om->pub.full_name;
    size_t i = 0, j = 0;
    char t1[320], t2[320];
    while (i < om->pub.n_fields || j < nm->pub.n_fields) {
        const sl_ct_field_t *of = i < om->pub.n_fields ? &om->pub.fields[i] : NULL;
        const sl_ct_field_t *nf = j < nm->pub.n_fields ? &nm->pub.fields[j] : NULL;
        if (of == NULL && nf == NULL) {
            break;
        }
        if (nf == NULL || (of != NULL && of->number < nf->number)) {
            if (number_reserved(nm, of->number)) {
                add(l, mn, of->number, false, "%s.%s (%u): field removed, number reserved", mn,
                    of->name, of->number);
            } else {
                add(l, mn, of->number, true, "%s.%s (%u): field removed without reserved", mn,
                    of->name, of->number);
            }
            i++;
            continue;
        }
        if (of == NULL || nf->number < of->number) {
            if (number_reserved(om, nf->number)) {
                add(l, mn, nf->number, true,
                    "%s.%s (%u): field added with a number reserved in the old version", mn,
                    nf->name, nf->number);
            } else if (name_reserved(om, nf->name)) {
                add(l, mn, nf->number, true,
                    "%s.%s (%u): field added with a name reserved in the old version", mn, nf->name,
                    nf->number);
            } else if (nf->required) {
                add(l, mn, nf->number, true,
                    "%s.%s (%u): required field added (producers that do not send it are "
                    "rejected)",
                    mn, nf->name, nf->number);
            } else {
                add(l, mn, nf->number, false, "%s.%s (%u): field added", mn, nf->name, nf->number);
            }
            j++;
            continue;
        }
        uint8_t ol = om->labels[i], nl = nm->labels[j];
        type_text(of, t1, sizeof(t1));
        type_text(nf, t2, sizeof(t2));
        if (strcmp(of->name, nf->name) != 0) {
            add(l, mn, of->number, true,
                "%s (%u): field number reused with another name: was %s (%s), now %s (%s)", mn,
                of->number, of->name, t1, nf->name, t2);
        } else {
            if (!same_type(of, nf)) {
                add(l, mn, of->number, true, "%s.%s (%u): type changed from %s to %s", mn, of->name,
                    of->number, t1, t2);
            }
            if (ol != nl) {
                add(l, mn, of->number, true, "%s.%s (%u): label changed from %s to %s", mn,
                    of->name, of->number, label_text(ol), label_text(nl));
            }
            if (!of->required && nf->required) {
                add(l, mn, of->number, true, "%s.%s (%u): required rule added", mn, of->name,
                    of->number);
            }
        }
        i++;
        j++;
    }
}

static void diff_messages(list_t *l, const sl_contracts_t *o, const sl_contracts_t *n) {
    size_t i = 0, j = 0;
    while (i < o->n_messages || j < n->n_messages) {
        const sl_ct_msg_t *om = i < o->n_messages ? o->messages[i] : NULL;
        const sl_ct_msg_t *nm = j < n->n_messages ? n->messages[j] : NULL;
        if (om == NULL && nm == NULL) {
            break;
        }
        int c = om == NULL ? 1 : nm == NULL ? -1 : strcmp(om->pub.full_name, nm->pub.full_name);
        if (c < 0) {
            add(l, om->pub.full_name, WHOLE, true, "%s: message removed", om->pub.full_name);
            i++;
        } else if (c > 0) {
            add(l, nm->pub.full_name, WHOLE, false, "%s: message added", nm->pub.full_name);
            j++;
        } else {
            diff_fields(l, om, nm);
            i++;
            j++;
        }
    }
}

static void diff_enum_values(list_t *l, const sl_ct_enum_t *oe, const sl_ct_enum_t *ne) {
    const char *en = oe->full_name;
    for (size_t i = 0; i < oe->n_values; i++) {
        size_t k = 0;
        while (k < ne->n_values && strcmp(oe->names[i], ne->names[k]) != 0) {
            k++;
        }
        if (k == ne->n_values) {
            add(l, en, oe->numbers[i], true, "%s.%s (%d): enum value removed", en, oe->names[i],
                (int)oe->numbers[i]);
        } else if (oe->numbers[i] != ne->numbers[k]) {
            add(l, en, oe->numbers[i], true, "%s.%s: enum value renumbered from %d to %d", en,
                oe->names[i], (int)oe->numbers[i], (int)ne->numbers[k]);
        }
    }
    for (size_t k = 0; k < ne->n_values; k++) {
        size_t i = 0;
        while (i < oe->n_values && strcmp(oe->names[i], ne->names[k]) != 0) {
            i++;
        }
        if (i == oe->n_values) {
            add(l, en, ne->numbers[k], false, "%s.%s (%d): enum value added", en, ne->names[k],
                (int)ne->numbers[k]);
        }
    }
}

static void diff_enums(list_t *l, const sl_contracts_t *o, const sl_contracts_t *n) {
    size_t i = 0, j = 0;
    while (i < o->n_enums || j < n->n_enums) {
        const sl_ct_enum_t *oe = i < o->n_enums ? o->enums[i] : NULL;
        const sl_ct_enum_t *ne = j < n->n_enums ? n->enums[j] : NULL;
        if (oe == NULL && ne == NULL) {
            break;
        }
        int c = oe == NULL ? 1 : ne == NULL ? -1 : strcmp(oe->full_name, ne->full_name);
        if (c < 0) {
            add(l, oe->full_name, WHOLE, true, "%s: enum removed", oe->full_name);
            i++;
        } else if (c > 0) {
            add(l, ne->full_name, WHOLE, false, "%s: enum added", ne->full_name);
            j++;
        } else {
            diff_enum_values(l, oe, ne);
            i++;
            j++;
        }
    }
}

static void diff_events(list_t *l, const sl_contracts_t *o, const sl_contracts_t *n) {
    size_t i = 0, j = 0;
    while (i < o->n_events || j < n->n_events) {
        const sl_ct_message_t *om = i < o->n_events ? &o->events_by_type[i]->pub : NULL;
        const sl_ct_message_t *nm = j < n->n_events ? &n->events_by_type[j]->pub : NULL;
        if (om == NULL && nm == NULL) {
            break;
        }
        int c = om == NULL ? 1 : nm == NULL ? -1 : strcmp(om->event_type, nm->event_type);
        if (c < 0) {
            add(l, om->full_name, WHOLE, true, "%s: event type \"%s\" removed", om->full_name,
                om->event_type);
            i++;
        } else if (c > 0) {
            add(l, nm->full_name, WHOLE, false, "%s: event type \"%s\" added (stage %s)",
                nm->full_name, nm->event_type, sl_ct_stage_name(nm->stage));
            j++;
        } else {
            if (strcmp(om->full_name, nm->full_name) != 0) {
                add(l, om->full_name, WHOLE, true, "%s: event type \"%s\" moved to %s",
                    om->full_name, om->event_type, nm->full_name);
            }
            if (om->stage != nm->stage) {
                add(l, om->full_name, WHOLE, true,
                    "%s: event type \"%s\" changed stage from %s to %s (another topic)",
                    om->full_name, om->event_type, sl_ct_stage_name(om->stage),
                    sl_ct_stage_name(nm->stage));
            }
            i++;
            j++;
        }
    }
}

size_t sl_contracts_diff(const sl_contracts_t *old_set, const sl_contracts_t *new_set,
                         void (*emit)(void *arg, const sl_ct_change_t *change), void *arg) {
    list_t l = {0};
    diff_messages(&l, old_set, new_set);
    diff_events(&l, old_set, new_set);
    diff_enums(&l, old_set, new_set);
    if (l.n > 0) {
        qsort(l.v, l.n, sizeof(*l.v), cmp_entry);
    }
    for (size_t i = 0; i < l.n && emit != NULL; i++) {
        emit(arg, &l.v[i].change);
    }
    size_t breaking = l.breaking;
    free(l.v);
    return breaking;
}
