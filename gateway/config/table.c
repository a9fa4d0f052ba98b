/* config/table: every configuration key. Adding a key here is the whole of adding a key: the
 * loader, --set, --check and docs/configuration.md follow. */
#include <stddef.h>

#include "config/config.h"

#define OFF(field) offsetof(sl_config_t, field)
#define NOLIM 0, 0

static const sl_cfg_key_t keys[] = {
    {"listen.http", SL_CFG_STRING, OFF(listen.http), "127.0.0.1:8080", NOLIM, NULL, SL_CFG_RESTART,
     "Address (host:port) of the public listener: POST /v1/events over HTTP/1.1."},
    {"listen.admin", SL_CFG_STRING, OFF(listen.admin), "127.0.0.1:9090", NOLIM, NULL,
     SL_CFG_RESTART,
     "Address of the admin listener: /healthz, /readyz, /metrics, /info, POST /-/reload. Never "
     "expose it publicly."},

    {"kafka.brokers", SL_CFG_STRING, OFF(kafka.brokers), "embedded", NOLIM, NULL, SL_CFG_RESTART,
     "Bootstrap servers (host:port,...). `embedded` starts an in-process Kafka-protocol broker "
     "(librdkafka's mock cluster) with the stage topics created: for development only, it keeps "
     "nothing on disk."},
    {"kafka.embedded_brokers", SL_CFG_INT, OFF(kafka.embedded_brokers), "1", 1, 5, NULL,
     SL_CFG_RESTART, "Number of brokers of the embedded cluster."},
    {"kafka.embedded_partitions", SL_CFG_INT, OFF(kafka.embedded_partitions), "6", 1, 256, NULL,
     SL_CFG_RESTART, "Partitions of each topic the embedded cluster creates."},
    {"kafka.client_id", SL_CFG_STRING, OFF(kafka.client_id), "sluice", NOLIM, NULL, SL_CFG_RESTART,
     "Kafka client.id of the producer."},
    {"kafka.linger", SL_CFG_DURATION, OFF(kafka.linger_ms), "5ms", 0, 1000, NULL, SL_CFG_RESTART,
     "How long the producer waits to fill a batch (linger.ms). Adds at most this to latency."},
    {"kafka.delivery_timeout", SL_CFG_DURATION, OFF(kafka.delivery_timeout_ms), "30s", 1000, 900000,
     NULL, SL_CFG_RESTART,
     "Time an event may wait for its acknowledgement (message.timeout.ms); after it the event is "
     "answered retryable. A request waits at most about this long."},
    {"kafka.queue_max_messages", SL_CFG_INT, OFF(kafka.queue_max_messages), "100000", 1, 10000000,
     NULL, SL_CFG_RESTART,
     "Producer queue capacity in messages; when full, new batches get 503 with Retry-After."},
    {"kafka.queue_max_bytes", SL_CFG_SIZE, OFF(kafka.queue_max_bytes), "256MiB", 1024,
     (int64_t)2047 * 1024 * 1024, NULL, SL_CFG_RESTART,
     "Producer queue capacity in bytes (queue.buffering.max.kbytes)."},
    {"kafka.compression", SL_CFG_ENUM, OFF(kafka.compression), "lz4", NOLIM,
     "none|gzip|snappy|lz4|zstd", SL_CFG_RESTART, "Compression codec of produced batches."},
    {"kafka.health_interval", SL_CFG_DURATION, OFF(kafka.health_interval_ms), "1s", 100, 60000,
     NULL, SL_CFG_RESTART,
     "How often the broker connection and the stage topics are checked for /readyz."},

    {"topics.raw", SL_CFG_STRING, OFF(topics.raw), "sluice.raw", NOLIM, NULL, SL_CFG_RESTART,
     "Topic of the raw behaviour stage."},
    {"topics.identity", SL_CFG_STRING, OFF(topics.identity), "sluice.identity", NOLIM, NULL,
     SL_CFG_RESTART, "Topic of the identity stage."},
    {"topics.consent", SL_CFG_STRING, OFF(topics.consent), "sluice.consent", NOLIM, NULL,
     SL_CFG_RESTART, "Topic of the consent stage."},
    {"topics.decisions", SL_CFG_STRING, OFF(topics.decisions), "sluice.decisions", NOLIM, NULL,
     SL_CFG_RESTART, "Topic of the decisions stage (what was shown)."},
    {"topics.outcomes", SL_CFG_STRING, OFF(topics.outcomes), "sluice.outcomes", NOLIM, NULL,
     SL_CFG_RESTART, "Topic of the outcomes stage (what happened next)."},
    {"topics.dead_letter", SL_CFG_STRING, OFF(topics.dead_letter), "sluice.dead-letter", NOLIM,
     NULL, SL_CFG_RESTART, "Topic for rejected events."},

    {"encoding.raw", SL_CFG_ENUM, OFF(encoding.raw), "json", NOLIM, "json|protobuf", 0,
     "Value encoding of the raw stage's messages: canonical `json` or `protobuf` (a serialized "
     "sluice.v1.Event whose properties hold the contract message). Either way an event sent as "
     "JSON and the same event sent as protobuf produce the same bytes; the `content_type` header "
     "names the encoding."},
    {"encoding.identity", SL_CFG_ENUM, OFF(encoding.identity), "json", NOLIM, "json|protobuf", 0,
     "Value encoding of the identity stage (see encoding.raw)."},
    {"encoding.consent", SL_CFG_ENUM, OFF(encoding.consent), "json", NOLIM, "json|protobuf", 0,
     "Value encoding of the consent stage (see encoding.raw)."},
    {"encoding.decisions", SL_CFG_ENUM, OFF(encoding.decisions), "json", NOLIM, "json|protobuf", 0,
     "Value encoding of the decisions stage (see encoding.raw)."},
    {"encoding.outcomes", SL_CFG_ENUM, OFF(encoding.outcomes), "json", NOLIM, "json|protobuf", 0,
     "Value encoding of the outcomes stage (see encoding.raw)."},

    {"limits.max_body_bytes", SL_CFG_SIZE, OFF(limits.max_body_bytes), "1MiB", 64,
     (int64_t)256 * 1024 * 1024, NULL, 0,
     "Largest request body. Decided from Content-Length before the body is read, counted for "
     "chunked bodies; over it the answer is 413."},
    {"limits.max_events_per_batch", SL_CFG_INT, OFF(limits.max_events_per_batch), "1000", 1, 100000,
     NULL, 0, "Most events in one batch; over it the answer is 413."},
    {"limits.max_json_depth", SL_CFG_INT, OFF(limits.max_json_depth), "16", 3, 256, NULL, 0,
     "Deepest nesting of objects and arrays in a JSON body (the batch object is depth 1); deeper "
     "bodies are refused with 400 before they are parsed."},
    {"limits.max_id_bytes", SL_CFG_INT, OFF(limits.max_id_bytes), "128", 8, 4096, NULL, 0,
     "Longest event_id, type, user_id or anonymous_id."},
    {"limits.max_header_bytes", SL_CFG_SIZE, OFF(limits.max_header_bytes), "16KiB", 2048,
     1024L * 1024, NULL, SL_CFG_RESTART,
     "Largest request head (request line and headers) over HTTP/1.1; over it the answer is 431."},
    {"limits.max_token_bytes", SL_CFG_SIZE, OFF(limits.max_token_bytes), "8KiB", 256, 65536, NULL,
     0, "Longest bearer token accepted; longer ones are refused with 401 unread."},

    {"http.threads", SL_CFG_INT, OFF(http.threads), "0", 0, 256, NULL, SL_CFG_RESTART,
     "I/O threads of the public listener; 0 means one per CPU."},
    {"http.max_connections", SL_CFG_INT, OFF(http.max_connections), "4096", 1, 1000000, NULL,
     SL_CFG_RESTART, "Most concurrent client connections."},
    {"http.idle_timeout", SL_CFG_DURATION, OFF(http.idle_timeout_ms), "60s", 1000, 3600000, NULL,
     SL_CFG_RESTART, "A connection with no traffic for this long is closed."},
    {"http.retry_after", SL_CFG_DURATION, OFF(http.retry_after_ms), "1s", 1000, 3600000, NULL, 0,
     "Value of Retry-After (rounded up to seconds) on 503 and 207 answers."},

    {"auth.required", SL_CFG_BOOL, OFF(auth.required), "true", NOLIM, NULL, 0,
     "Require a valid JWT (Authorization: Bearer) on every public request."},
    {"auth.secret", SL_CFG_STRING, OFF(auth.secret), "", NOLIM, NULL, SL_CFG_SECRET,
     "HS256 signing secret (at least 32 bytes). With kafka.brokers=embedded and no secret, a "
     "random development secret is generated and a token printed at start."},
    {"auth.secret_file", SL_CFG_STRING, OFF(auth.secret_file), "", NOLIM, NULL, 0,
     "File holding the HS256 secret (trailing newline ignored); alternative to auth.secret."},
    {"auth.tenant_claim", SL_CFG_STRING, OFF(auth.tenant_claim), "tenant", NOLIM, NULL, 0,
     "Claim that names the tenant; required in every token."},
    {"auth.issuer", SL_CFG_STRING, OFF(auth.issuer), "", NOLIM, NULL, 0,
     "Required `iss` claim; empty accepts any issuer."},
    {"auth.audience", SL_CFG_STRING, OFF(auth.audience), "", NOLIM, NULL, 0,
     "Required `aud` claim; empty accepts any audience."},
    {"auth.leeway", SL_CFG_DURATION, OFF(auth.leeway_ms), "30s", 0, 600000, NULL, 0,
     "Clock skew allowed when checking exp and nbf."},

    {"contracts.file", SL_CFG_STRING, OFF(contracts.file), "builtin", NOLIM, NULL, 0,
     "Descriptor set (protoc --descriptor_set_out --include_imports) holding the event "
     "contracts; `builtin` is the catalog of proto/ compiled by the build, empty disables "
     "contract validation. Reloadable: a new contract deploys by replacing the file."},

    {"contracts.unknown_fields", SL_CFG_ENUM, OFF(contracts.unknown_fields), "reject", NOLIM,
     "reject|strip", 0,
     "A member the contract does not declare (in properties, or in the event itself): `reject` "
     "the event (unknown_field) or `strip` the member and produce the rest. A contract may set "
     "its own policy for its properties with the option (contract).unknown_fields."},

    {"shutdown.timeout", SL_CFG_DURATION, OFF(shutdown.timeout_ms), "15s", 0, 600000, NULL, 0,
     "On SIGTERM, how long in-flight events may take to be acknowledged before they are purged "
     "and answered retryable."},
    {"log.level", SL_CFG_ENUM, OFF(log.level), "info", NOLIM, "debug|info|warn|error", 0,
     "Least severe log level written to stderr."},
};

const sl_cfg_key_t *sl_config_keys(size_t *count) {
    *count = sizeof(keys) / sizeof(keys[0]);
    return keys;
}
