/* config/yamldoc: a YAML file read whole into libyaml's node tree, for the loaders of the files
 * the configuration points at (auth.keys_file, a policy's policy.yaml, `sluice policy test`
 * cases). The document carries what every error needs, so that wherever a loader finds a fault
 * the message reads
 *     [<key>: ]<file>:<line>:<column>: <what is wrong>
 * (The main configuration file is read as an event stream by config.c instead: its keys are
 * checked against the key table as they come, no tree.)
 *
 * Not thread-safe: one loader uses a document, on one thread. */
#ifndef SL_CONFIG_YAMLDOC_H
#define SL_CONFIG_YAMLDOC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "core/status.h"

typedef struct {
    /* Set by the caller before loading; borrowed, and must outlive the document. */
    const char *key;  /* the config key messages start with, or NULL for none */
    const char *file; /* the path: named in messages, opened by sl_yamldoc_load_file */
    const char *code; /* the error code of syntax and shape errors */
    sl_error_t *err;  /* where errors go; may be NULL */
    /* Filled by loading. */
    yaml_document_t doc;
    bool loaded;
} sl_yamldoc_t;

/* Opens y->file and parses its (first) document into y->doc. Fails with SL_REJECT and
 * "config_unreadable" ("[<key>: ]cannot open <file>: <reason>") when the file cannot be opened,
 * or with y->code and "[<key>: ]<file>:<line>:<column>: <problem>" when it is not YAML. */
sl_status_t sl_yamldoc_load_file(sl_yamldoc_t *y);

/* The same from data[0..len), already read by the caller (y->file still names it). */
sl_status_t sl_yamldoc_load(sl_yamldoc_t *y, const char *data, size_t len);

/* Frees the document (whatever a loader kept from it goes with it). Safe whether or not it
 * loaded, and twice. */
void sl_yamldoc_free(sl_yamldoc_t *y);

/* The root node; NULL when nothing is loaded or the file holds no document (empty). */
yaml_node_t *sl_yamldoc_root(sl_yamldoc_t *y);

/* The text of n when n is a scalar; NULL when n is NULL or not a scalar. */
const char *sl_yamldoc_scalar(const yaml_node_t *n);

/* The value of the first pair of map whose key is the scalar key; NULL when map is NULL, not a
 * mapping, or has no such key. */
yaml_node_t *sl_yamldoc_get(sl_yamldoc_t *y, const yaml_node_t *map, const char *key);

/* sl_yamldoc_scalar(sl_yamldoc_get(y, map, key)): NULL also when the value is not a scalar. */
const char *sl_yamldoc_get_scalar(sl_yamldoc_t *y, const yaml_node_t *map, const char *key);

/* Sets y->err to y->code and "[<key>: ]<file>:<line>:<column>: <fmt ...>", at where node at
 * starts (0:0 when at is NULL), and returns SL_REJECT. The message is cut at sl_error_t's size. */
sl_status_t sl_yamldoc_fail(sl_yamldoc_t *y, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
sl_status_t sl_yamldoc_vfail(sl_yamldoc_t *y, const yaml_node_t *at, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
