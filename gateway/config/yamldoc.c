#include "config/yamldoc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Messages start with "<key>: ", or nothing without a key. */
static const char *key_of(const sl_yamldoc_t *y) {
    return y->key != NULL ? y->key : "";
}

static const char *sep_of(const sl_yamldoc_t *y) {
    return y->key != NULL ? ": " : "";
}

/* Loads from a parser whose input is set, and deletes it. */
static sl_status_t load(sl_yamldoc_t *y, yaml_parser_t *p) {
    sl_status_t rc = SL_OK;
    if (yaml_parser_load(p, &y->doc)) {
        y->loaded = true;
    } else {
        rc = sl_error_set(y->err, SL_REJECT, y->code, "%s%s%s:%zu:%zu: %s", key_of(y), sep_of(y),
                          y->file, p->problem_mark.line + 1, p->problem_mark.column + 1,
                          p->problem != NULL ? p->problem : "not YAML");
    }
    yaml_parser_delete(p);
    return rc;
}

sl_status_t sl_yamldoc_load_file(sl_yamldoc_t *y) {
    FILE *f = fopen(y->file, "rb");
    if (f == NULL) {
        return sl_error_set(y->err, SL_REJECT, "config_unreadable", "%s%scannot open %s: %s",
                            key_of(y), sep_of(y), y->file, strerror(errno));
    }
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    sl_status_t rc = load(y, &p);
    fclose(f);
    return rc;
}

sl_status_t sl_yamldoc_load(sl_yamldoc_t *y, const char *data, size_t len) {
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    return load(y, &p);
}

void sl_yamldoc_free(sl_yamldoc_t *y) {
    if (y->loaded) {
        yaml_document_delete(&y->doc);
        y->loaded = false;
    }
}

yaml_node_t *sl_yamldoc_root(sl_yamldoc_t *y) {
    return y->loaded ? yaml_document_get_root_node(&y->doc) : NULL;
}

const char *sl_yamldoc_scalar(const yaml_node_t *n) {
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

yaml_node_t *sl_yamldoc_get(sl_yamldoc_t *y, const yaml_node_t *map, const char *key) {
    if (!y->loaded || map == NULL || map->type != YAML_MAPPING_NODE) {
        return NULL;
    }
    for (yaml_node_pair_t *pp = map->data.mapping.pairs.start; pp < map->data.mapping.pairs.top;
         pp++) {
        const char *k = sl_yamldoc_scalar(yaml_document_get_node(&y->doc, pp->key));
        if (k != NULL && strcmp(k, key) == 0) {
            return yaml_document_get_node(&y->doc, pp->value);
        }
    }
    return NULL;
}

const char *sl_yamldoc_get_scalar(sl_yamldoc_t *y, const yaml_node_t *map, const char *key) {
    return sl_yamldoc_scalar(sl_yamldoc_get(y, map, key));
}

sl_status_t sl_yamldoc_vfail(sl_yamldoc_t *y, const yaml_node_t *at, const char *fmt, va_list ap) {
    char msg[sizeof(((sl_error_t *)0)->message)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    return sl_error_set(y->err, SL_REJECT, y->code, "%s%s%s:%zu:%zu: %s", key_of(y), sep_of(y),
                        y->file, at != NULL ? at->start_mark.line + 1 : 0,
                        at != NULL ? at->start_mark.column + 1 : 0, msg);
}

sl_status_t sl_yamldoc_fail(sl_yamldoc_t *y, const yaml_node_t *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sl_status_t rc = sl_yamldoc_vfail(y, at, fmt, ap);
    va_end(ap);
    return rc;
}
