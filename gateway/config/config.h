/* config: the configuration as an immutable, refcounted snapshot.
 *
 * Every key lives in one table (config/table.c): name, type, default, range and description. The
 * YAML loader, `--set key=value`, `--check` and docs/configuration.md all read that table, so a
 * key cannot exist in one and not the others. A snapshot is built completely (defaults, then the
 * file, then each --set, then cross-key validation), published once, and never changed after:
 * a reload builds a new one and swaps the pointer; requests keep the snapshot they started with. */
#ifndef SL_CONFIG_CONFIG_H
#define SL_CONFIG_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config/keyring.h"
#include "core/status.h"

typedef struct sl_config {
    atomic_int refs;
    char *source; /* the file it came from, or "(defaults)" */

    struct {
        char *http;
        char *admin;
        char *tls; /* "" : no TLS listener */
    } listen;
    struct {
        char *cert_file;
        char *key_file;
    } tls;
    struct {
        char *brokers; /* "embedded" runs the in-process mock cluster */
        int64_t embedded_brokers;
        int64_t embedded_partitions;
        char *client_id;
        int64_t linger_ms;
        int64_t delivery_timeout_ms; /* the answer deadline */
        int64_t message_timeout_ms;  /* librdkafka's message.timeout.ms */
        int64_t queue_max_messages;
        int64_t queue_max_bytes;
        char *compression;
        int64_t health_interval_ms;
        char *timestamp; /* "received" | "event" */
    } kafka;
    struct {
        char *raw;
        char *identity;
        char *consent;
        char *decisions;
        char *outcomes;
        char *dead_letter;
        char *privacy;
        char *suppression;
    } topics;
    struct { /* "json" or "protobuf" per stage */
        char *raw;
        char *identity;
        char *consent;
        char *decisions;
        char *outcomes;
    } encoding;
    struct {
        int64_t max_body_bytes;
        int64_t max_events_per_batch;
        int64_t max_json_depth;
        int64_t max_id_bytes;
        int64_t max_header_bytes;
        int64_t max_token_bytes;
        int64_t tenant_rate;  /* requests per second; 0: off */
        int64_t tenant_burst; /* 0: = tenant_rate */
        int64_t subject_rate;
        int64_t subject_burst;
        int64_t rate_limit_keys;
        int64_t inflight_bytes; /* request bodies admitted and not yet answered */
        int64_t max_beacon_bytes;
        int64_t max_decompressed_bytes;
        int64_t max_compression_ratio;
    } limits;
    struct {
        char *origins;       /* "tenant=origin,origin tenant2=origin" */
        char *origins_claim; /* token claim listing more origins; "" : not read */
    } cors;
    struct {
        int64_t max_skew_ms;  /* 0: occurred_at is never corrected */
        int64_t tolerance_ms; /* offsets up to this are transit time, not skew */
    } clock;
    struct { /* key templates (config/keytpl.h) */
        char *raw;
        char *identity;
        char *consent;
        char *decisions;
        char *outcomes;
        char *types;   /* "type=template ..." */
        char *missing; /* "random" | "reject" */
        char *hot;     /* keys always spread */
        int64_t hot_rate;
        int64_t hot_spread;
        int64_t hot_hold_ms;
    } keys;
    struct {
        int64_t threads;
        int64_t max_connections;
        int64_t idle_timeout_ms;
        int64_t retry_after_ms;
        int64_t request_timeout_ms;
    } http;
    struct {
        int64_t max_concurrent_streams;
        int64_t max_pending_requests; /* per connection, waiting for Kafka (reset ones too) */
        int64_t max_resets_per_second;
        int64_t max_invalid_frames;
        int64_t max_continuations;
        int64_t window_bytes;
    } http2;
    struct {
        bool required;
        char *secret;
        char *secret_file;
        char *keys_file;
        char *jwks_file;
        char *tenant_claim;
        char *issuer; /* comma-separated list */
        char *audience;
        int64_t leeway_ms;
        int64_t max_token_age_ms;
        char *query_token; /* query parameter carrying the token, "" = not accepted */
        char *scope_claim;
        char *default_scope;
        int64_t token_cache_entries;
    } auth;
    struct {
        char *file;
        char *unknown_fields; /* "reject" | "strip" */
    } contracts;
    struct {
        char *dir;
        char *shadow_dir;
        char *hmac_key_file;
        char *hmac_key_id;
    } policies;
    struct {
        int64_t window_ms; /* 0: off */
        int64_t max_entries;
    } dedupe;
    struct {
        int64_t timeout_ms;
    } shutdown;
    struct {
        char *level;
    } log;

    /* Derived at validation: the kid-less HS256 key (from auth.secret or auth.secret_file), and
     * the ring of every verification key (config/keyring.h). */
    char *auth_key;
    size_t auth_key_len;
    sl_keyring_t *keyring;
    /* Derived at validation: the compiled key templates. */
    struct sl_keying *keying;
    /* Derived at validation when listen.tls is set: the OpenSSL SSL_CTX (certificate, key, ALPN
     * h2 / http/1.1) new TLS connections use; a reload loads the files again. */
    struct ssl_ctx_st *tls_ctx;
} sl_config_t;

typedef enum {
    SL_CFG_STRING,
    SL_CFG_INT,
    SL_CFG_BOOL,
    SL_CFG_DURATION, /* stored as milliseconds */
    SL_CFG_SIZE,     /* stored as bytes */
    SL_CFG_ENUM,     /* a string out of `choices` */
} sl_cfg_type_t;

enum {
    SL_CFG_RESTART = 1 << 0, /* takes effect only at start; a reload reports the change */
    SL_CFG_SECRET = 1 << 1,  /* never printed */
};

typedef struct {
    const char *key;
    sl_cfg_type_t type;
    size_t offset;
    const char *def; /* default, as text, parsed by the same code as the file */
    int64_t min;
    int64_t max;
    const char *choices; /* "a|b|c" for SL_CFG_ENUM */
    unsigned flags;
    const char *doc;
} sl_cfg_key_t;

/* The key table, in documentation order. */
const sl_cfg_key_t *sl_config_keys(size_t *count);

/* Build a snapshot: defaults, then the YAML file at path (NULL: none), then each "key=value" of
 * sets in order, then cross-key validation. On success *out holds one reference. On failure the
 * error names the key and its position ("file:line:col" or "--set") and nothing is allocated. */
sl_status_t sl_config_build(const char *path, const char *const *sets, size_t nsets,
                            sl_config_t **out, sl_error_t *err);

sl_config_t *sl_config_ref(sl_config_t *cfg);
void sl_config_unref(sl_config_t *cfg);

/* The process-wide current snapshot. publish takes its own reference and drops the previous
 * snapshot's (NULL unpublishes); acquire returns a new reference the caller must unref. Both are
 * thread-safe. */
void sl_config_publish(sl_config_t *cfg);
sl_config_t *sl_config_acquire(void);

/* The value of key in cfg as text (secrets as "<redacted>"); writes into out (size n). */
sl_status_t sl_config_format_value(const sl_config_t *cfg, const char *key, char *out, size_t n);

/* Every topic the gateway writes, in one order: the five stages, dead_letter, privacy,
 * suppression. names[i] is the config key under topics., topics[i] its value. Returns the
 * count (SL_CFG_NTOPICS). */
#define SL_CFG_NTOPICS 8
size_t sl_config_topics(const sl_config_t *cfg, const char *names[SL_CFG_NTOPICS],
                        const char *topics[SL_CFG_NTOPICS]);

/* config/tls.c: builds cfg->tls_ctx when listen.tls is set (errors name tls.cert_file or
 * tls.key_file); frees it. */
sl_status_t sl_config_load_tls(sl_config_t *cfg, sl_error_t *err);
void sl_config_free_tls(sl_config_t *cfg);

/* (Re)builds cfg->keyring from auth_key and the key files; for a snapshot not yet published
 * (the server uses it after installing the embedded default's generated secret). */
sl_status_t sl_config_load_keyring(sl_config_t *cfg, sl_error_t *err);

/* Keys flagged SL_CFG_RESTART whose values differ between a and b, comma-separated into out. */
void sl_config_restart_diff(const sl_config_t *a, const sl_config_t *b, char *out, size_t n);

/* Parses a duration as the loader does ("500ms", "30s", "5m", "1h") into milliseconds.
 * Returns 0, or -1 when text is not a duration. */
int sl_config_parse_duration(const char *text, int64_t *ms);

/* docs/configuration.md, rendered from the table. */
void sl_config_write_docs(FILE *out);

#endif
