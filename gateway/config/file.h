/* config/file: reading a file the configuration names (a secret, a PEM key, a JWKS), whole and
 * bounded, with errors that name the config key the path came from.
 *
 * One reader for auth.secret_file, the key ring's secret_file / *_key_file / auth.jwks_file and
 * policies.hmac_key_file, so they agree on limits, on trailing newlines, and on what an operator
 * reads when a file is missing or too large. */
#ifndef SL_CONFIG_FILE_H
#define SL_CONFIG_FILE_H

#include <stddef.h>

#include "core/status.h"

/* Reads the file at path, of at most max bytes, into *data (malloc'd, NUL-terminated; the caller
 * frees it) and *len. key names what the path came from (a config key, or a key and an entry,
 * e.g. "auth.keys_file: keys.yaml:3") and starts every message. Fails with SL_REJECT and
 * "config_unreadable" ("<key>: cannot open <path>: <reason>") or "config_out_of_range"
 * ("<key>: <path> is larger than <max> bytes"), leaving *data untouched; what was read is wiped
 * before it is freed. Any thread. */
sl_status_t sl_config_read_file(const char *key, const char *path, size_t max, char **data,
                                size_t *len, sl_error_t *err);

/* sl_config_read_file for a secret: the line ends an editor leaves at the end (LF, CRLF) are not
 * part of it and are not counted in *len; *data stays NUL-terminated. max bounds the file, line
 * ends included. The caller wipes *data (explicit_bzero) before freeing it. */
sl_status_t sl_config_read_secret(const char *key, const char *path, size_t max, char **data,
                                  size_t *len, sl_error_t *err);

#endif
