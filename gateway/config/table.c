/* config/table: every configuration key. Adding a key here is the whole of adding a key: the
 * loader, --set, --check and docs/configuration.md follow. */
#include <stddef.h>

#include "config/config.h"

#define OFF(field) offsetof(sl_config_t, field)
#define NOLIM 0, 0
#define KEY_DEFAULT "{tenant}:{user_id|anonymous_id|device_id}"

static const sl_cfg_key_t keys[] = {
    {"listen.http", SL_CFG_STRING, OFF(listen.http), "127.0.0.1:8080", NOLIM, NULL, SL_CFG_RESTART,
     "Address (host:port) of the public listener: POST /v1/events over HTTP/1.1."},
    {"listen.admin", SL_CFG_STRING, OFF(listen.admin), "127.0.0.1:9090", NOLIM, NULL,
     SL_CFG_RESTART,
     "Address of the admin listener: /healthz, /readyz, /metrics, /info, POST /-/reload. Never "
     "expose it publicly."},

    {"listen.tls", SL_CFG_STRING, OFF(listen.tls), "", NOLIM, NULL, SL_CFG_RESTART,
     "Address of an optional TLS listener (host:port) serving the same endpoints: ALPN picks h2 "
     "(HTTP/2 and gRPC) or http/1.1. Needs tls.cert_file and tls.key_file. Empty: off."},
    {"tls.cert_file", SL_CFG_STRING, OFF(tls.cert_file), "", NOLIM, NULL, 0,
     "PEM certificate chain of listen.tls (the server certificate first). Read again on every "
     "reload: new connections get the new certificate, open ones keep theirs; a bad file is "
     "refused and the old one keeps serving."},
    {"tls.key_file", SL_CFG_STRING, OFF(tls.key_file), "", NOLIM, NULL, 0,
     "PEM private key of tls.cert_file (reloaded with it)."},

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
     "Time a request waits for its events' acknowledgements. Events still in flight then are "
     "answered retryable (delivery_pending) and librdkafka keeps delivering them "
     "(kafka.message_timeout); with dedupe on, a retry of one meanwhile is answered in_flight, "
     "not produced again, and duplicate once Kafka has it."},
    {"kafka.message_timeout", SL_CFG_DURATION, OFF(kafka.message_timeout_ms), "5m", 1000,
     (int64_t)3600000, NULL, SL_CFG_RESTART,
     "How long librdkafka keeps trying to deliver an event (message.timeout.ms); at least "
     "kafka.delivery_timeout. Longer rides out a longer broker outage without a second copy: "
     "an event given up while its produce request was on the wire may still be written by the "
     "broker, and its retry then makes a second copy. Events waiting count against "
     "kafka.queue_max_messages and kafka.queue_max_bytes."},
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
    {"kafka.timestamp", SL_CFG_ENUM, OFF(kafka.timestamp), "received", NOLIM, "received|event", 0,
     "Kafka timestamp of each message: `received` (when sluice received the batch) or `event` "
     "(the event's occurred_at, for consumers that window by event time). Both times are in "
     "the headers either way (received_at, occurred_at), with the batch's sent_at."},

    {"topics.raw", SL_CFG_STRING, OFF(topics.raw), "sluice.raw", NOLIM, NULL, SL_CFG_RESTART,
     "Topic of the raw behaviour stage. Every stage topic (and topics.dead_letter) may be a "
     "template: `{stage}` is the stage's name, `{tenant}` the token's tenant (e.g. "
     "`{tenant}.events.{stage}`). Topics with {tenant} are not checked at start: create them "
     "before their tenant sends (events of a missing one wait for kafka.delivery_timeout and "
     "are answered retryable, unless the brokers create topics on first use)."},
    {"topics.identity", SL_CFG_STRING, OFF(topics.identity), "sluice.identity", NOLIM, NULL,
     SL_CFG_RESTART, "Topic of the identity stage."},
    {"topics.consent", SL_CFG_STRING, OFF(topics.consent), "sluice.consent", NOLIM, NULL,
     SL_CFG_RESTART, "Topic of the consent stage."},
    {"topics.decisions", SL_CFG_STRING, OFF(topics.decisions), "sluice.decisions", NOLIM, NULL,
     SL_CFG_RESTART, "Topic of the decisions stage (what was shown)."},
    {"topics.outcomes", SL_CFG_STRING, OFF(topics.outcomes), "sluice.outcomes", NOLIM, NULL,
     SL_CFG_RESTART, "Topic of the outcomes stage (what happened next)."},
    {"topics.dead_letter", SL_CFG_STRING, OFF(topics.dead_letter), "sluice.dead-letter", NOLIM,
     NULL, SL_CFG_RESTART,
     "Topic for invalid events (on by default): each one the stages reject, redacted by the "
     "privacy policy like every other topic (members no contract declares are left out, kept "
     "strings scrubbed), keyed by tenant, with headers dead_letter_code, dead_letter_reason "
     "(value excerpts taken out), batch_id and batch_index. Empty: invalid events are only "
     "answered. The stage topics' templates apply ({tenant})."},
    {"topics.privacy", SL_CFG_STRING, OFF(topics.privacy), "sluice.privacy", NOLIM, NULL,
     SL_CFG_RESTART,
     "Topic of erasure requests (POST /v1/privacy/erasure), keyed by the erased subject, for the "
     "downstream deletion workflows."},
    {"topics.suppression", SL_CFG_STRING, OFF(topics.suppression), "sluice.suppression", NOLIM,
     NULL, SL_CFG_RESTART,
     "Compacted topic holding the suppression list: every erased subject, reloaded at start; "
     "later events of a suppressed user are answered `suppressed` and not produced. Create it "
     "with cleanup.policy=compact."},

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
    {"limits.tenant_rate", SL_CFG_INT, OFF(limits.tenant_rate), "0", 0, 1000000, NULL, 0,
     "Requests per second each tenant may send; 0 turns the limit off. A request counts once "
     "whatever its number of events; it is counted after its token is checked and before its "
     "body is decoded, so a refused request costs no parsing. Over the limit the answer is 429 "
     "with error code `rate_limited` (gRPC RESOURCE_EXHAUSTED) and a Retry-After header: the "
     "seconds, rounded up, until a request will pass again; nothing of that batch is produced. "
     "Each replica counts on its own: behind a Service with N replicas a tenant gets up to N "
     "times this. With auth.required=false every request counts for tenant `default`."},
    {"limits.tenant_burst", SL_CFG_INT, OFF(limits.tenant_burst), "0", 0, 1000000, NULL, 0,
     "Requests a tenant may send at once after being idle, above its steady limits.tenant_rate "
     "(the size of its token bucket, refilled at limits.tenant_rate per second); 0 means the "
     "same as limits.tenant_rate."},
    {"limits.subject_rate", SL_CFG_INT, OFF(limits.subject_rate), "0", 0, 1000000, NULL, 0,
     "Requests per second each token subject (the `sub` claim) of a tenant may send, counted "
     "and answered like limits.tenant_rate; 0 turns the limit off. Tokens without `sub` are "
     "limited by limits.tenant_rate only. A request must pass both limits; one refused by the "
     "subject limit does not count against its tenant."},
    {"limits.subject_burst", SL_CFG_INT, OFF(limits.subject_burst), "0", 0, 1000000, NULL, 0,
     "Requests a subject may send at once after being idle (see limits.tenant_burst); 0 means "
     "the same as limits.subject_rate."},
    {"limits.rate_limit_keys", SL_CFG_INT, OFF(limits.rate_limit_keys), "100000", 1, 10000000, NULL,
     SL_CFG_RESTART,
     "Most tenants and subjects the rate limits track at once (about 60 bytes each, reserved at "
     "start). When more are active, the one idle longest is forgotten and starts again with a "
     "full burst."},
    {"limits.inflight_bytes", SL_CFG_SIZE, OFF(limits.inflight_bytes), "256MiB", 65536,
     (int64_t)64 * 1024 * 1024 * 1024, NULL, 0,
     "Memory budget of requests in flight: the bytes of the request bodies (and what decoding "
     "them took) admitted and not yet answered. A request that would go over it is refused "
     "with 503 `overloaded` and Retry-After before its body is read (when it has a "
     "Content-Length) or decoded, so a slow broker slows clients down instead of growing "
     "memory. The sink's own queue is bounded by kafka.queue_max_bytes."},

    {"limits.max_beacon_bytes", SL_CFG_SIZE, OFF(limits.max_beacon_bytes), "64KiB", 1024,
     (int64_t)16 * 1024 * 1024, NULL, 0,
     "Largest body of POST /v1/beacon (the browsers' own limit for sendBeacon and keepalive "
     "fetch is 64 KiB); over it the answer is 413."},
    {"limits.max_decompressed_bytes", SL_CFG_SIZE, OFF(limits.max_decompressed_bytes), "8MiB", 1024,
     (int64_t)1024 * 1024 * 1024, NULL, 0,
     "Largest body after Content-Encoding: gzip is undone. Inflated as a stream into a buffer "
     "that never grows past this; a body that would is refused with 413 "
     "`decompressed_too_large` without being inflated further."},
    {"limits.max_compression_ratio", SL_CFG_INT, OFF(limits.max_compression_ratio), "200", 2,
     100000, NULL, 0,
     "Largest inflated/compressed size ratio of a gzip body; above it the answer is 413 "
     "`compression_ratio` (a decompression bomb), checked as the body inflates. JSON batches "
     "compress 5-30 times."},
    {"cors.origins", SL_CFG_STRING, OFF(cors.origins), "", NOLIM, NULL, 0,
     "Browser origins allowed per tenant, whitespace-separated `tenant=origin[,origin...]`, e.g. "
     "`shop=https://shop.example,https://www.shop.example`. A request with an Origin header not "
     "listed for its token's tenant is refused with 403 `origin_not_allowed` and nothing of it "
     "is produced; requests without Origin (servers, apps) are not checked. Allowed origins get "
     "Access-Control-Allow-Origin, and OPTIONS preflights from any listed origin are answered. "
     "Credentials (cookies) are never used: the token authenticates."},
    {"cors.origins_claim", SL_CFG_STRING, OFF(cors.origins_claim), "allowed_origins", NOLIM, NULL,
     0,
     "Token claim (an array of origins, or a space-separated string) naming more origins the "
     "token may send from, beside its tenant's cors.origins: for issuers that mint a token per "
     "site. Preflights, which carry no token, are answered for cors.origins only. Empty: the "
     "claim is not read."},
    {"clock.max_skew", SL_CFG_DURATION, OFF(clock.max_skew_ms), "24h", 0, (int64_t)30 * 86400000,
     NULL, 0,
     "Clock skew corrected: when a batch's sent_at differs from its receive time by more than "
     "clock.tolerance and at most this, every event's occurred_at is moved by that difference "
     "(the client's clock was wrong by it); the original occurred_at and sent_at are kept in "
     "the headers client_occurred_at and client_sent_at. A larger difference is left "
     "uncorrected. 0 turns correction off."},
    {"clock.tolerance", SL_CFG_DURATION, OFF(clock.tolerance_ms), "2s", 0, 3600000, NULL, 0,
     "A sent_at within this of the receive time is taken as right (the difference is transit "
     "time): occurred_at is left as sent."},

    {"keys.raw", SL_CFG_STRING, OFF(keys.raw), KEY_DEFAULT, NOLIM, NULL, 0,
     "Message key template of the raw stage. Literal text and groups in braces; a group lists "
     "alternatives separated by `|` and the first one the event has (a non-empty string or an "
     "integer) is used: `tenant`, `stage`, `type`, `event_id`, `user_id`, `anonymous_id`, "
     "`session_id`, `device_id`, `account_id` or `properties.<field>`. Field values are "
     "redacted by the privacy policy like the field itself (an hmac'd user_id keys by its "
     "pseudonym). The default keys every stage by user, so one user's events are in order on "
     "one partition and the stages co-partition. Empty: no key. Quote templates in YAML "
     "(`keys.raw: \"{tenant}:{user_id}\"`): unquoted braces are a YAML mapping. See "
     "docs/keys.md."},
    {"keys.identity", SL_CFG_STRING, OFF(keys.identity), KEY_DEFAULT, NOLIM, NULL, 0,
     "Message key template of the identity stage (see keys.raw)."},
    {"keys.consent", SL_CFG_STRING, OFF(keys.consent), KEY_DEFAULT, NOLIM, NULL, 0,
     "Message key template of the consent stage (see keys.raw); keyed by user, compaction keeps "
     "each user's latest choice."},
    {"keys.decisions", SL_CFG_STRING, OFF(keys.decisions), KEY_DEFAULT, NOLIM, NULL, 0,
     "Message key template of the decisions stage (see keys.raw)."},
    {"keys.outcomes", SL_CFG_STRING, OFF(keys.outcomes), KEY_DEFAULT, NOLIM, NULL, 0,
     "Message key template of the outcomes stage (see keys.raw)."},
    {"keys.types", SL_CFG_STRING, OFF(keys.types), "", NOLIM, NULL, 0,
     "Per event type templates overriding their stage's, whitespace-separated `type=template`, "
     "e.g. `add_to_cart={tenant}:{properties.cart_id} "
     "checkout_step={tenant}:{properties.cart_id}`."},
    {"keys.missing", SL_CFG_ENUM, OFF(keys.missing), "random", NOLIM, "random|reject", 0,
     "An event none of whose alternatives of a group is set: `random` produces it with a key "
     "drawn from its event_id (spread evenly, stable across retries) and the header "
     "key_source=random; `reject` answers it invalid with code `key_missing` (it goes to the "
     "dead-letter topic)."},
    {"keys.hot", SL_CFG_STRING, OFF(keys.hot), "", NOLIM, NULL, 0,
     "Keys (as produced, after redaction) always spread over keys.hot_spread sub-keys, "
     "whitespace-separated. A spread event's key is `<key>#<n>` and its headers original_key and "
     "key_spread (`n/N`) let consumers merge the parts back."},
    {"keys.hot_rate", SL_CFG_INT, OFF(keys.hot_rate), "0", 0, 100000000, NULL, 0,
     "Events per second above which a key is detected hot and spread like keys.hot for "
     "keys.hot_hold; 0 turns detection off. Spreading gives up the key's order across its "
     "sub-keys, so it is off by default."},
    {"keys.hot_spread", SL_CFG_INT, OFF(keys.hot_spread), "8", 2, 1024, NULL, 0,
     "Sub-keys a hot key is spread over. Each event picks one by its event_id, so a retry "
     "lands on the same partition."},
    {"keys.hot_hold", SL_CFG_DURATION, OFF(keys.hot_hold_ms), "60s", 1000, 86400000, NULL, 0,
     "How long a key detected hot stays spread after its rate was last seen above "
     "keys.hot_rate."},

    {"http.threads", SL_CFG_INT, OFF(http.threads), "0", 0, 256, NULL, SL_CFG_RESTART,
     "I/O threads of the public listener; 0 means one per CPU."},
    {"http.max_connections", SL_CFG_INT, OFF(http.max_connections), "4096", 1, 1000000, NULL,
     SL_CFG_RESTART, "Most concurrent client connections."},
    {"http.idle_timeout", SL_CFG_DURATION, OFF(http.idle_timeout_ms), "60s", 1000, 3600000, NULL,
     SL_CFG_RESTART, "A connection with no traffic for this long is closed."},
    {"http.retry_after", SL_CFG_DURATION, OFF(http.retry_after_ms), "1s", 1000, 3600000, NULL, 0,
     "Value of Retry-After (rounded up to seconds) on 503 and 207 answers."},

    {"http.request_timeout", SL_CFG_DURATION, OFF(http.request_timeout_ms), "30s", 1000, 3600000,
     NULL, SL_CFG_RESTART,
     "HTTP/2 and gRPC: a stream whose request (headers and body) is not complete this long after "
     "it opened is reset (slow-body attacks). Waiting for Kafka does not count."},
    {"http2.max_concurrent_streams", SL_CFG_INT, OFF(http2.max_concurrent_streams), "100", 1, 10000,
     NULL, SL_CFG_RESTART,
     "SETTINGS_MAX_CONCURRENT_STREAMS of HTTP/2 and gRPC connections on listen.http (streams "
     "open at once per connection; nghttp2's default is unlimited)."},
    {"http2.max_pending_requests", SL_CFG_INT, OFF(http2.max_pending_requests), "200", 1, 100000,
     NULL, SL_CFG_RESTART,
     "Requests of one HTTP/2 connection handed to the pipeline and still waiting for Kafka, "
     "counting streams the client has reset (their events are still produced, so the stream "
     "limit alone does not bound them). Past it new streams are refused with REFUSED_STREAM."},
    {"http2.max_resets_per_second", SL_CFG_INT, OFF(http2.max_resets_per_second), "33", 1, 100000,
     NULL, SL_CFG_RESTART,
     "Streams a client may reset per second (burst 1000) before the connection is closed with "
     "GOAWAY: the Rapid Reset attack (CVE-2023-44487)."},
    {"http2.max_invalid_frames", SL_CFG_INT, OFF(http2.max_invalid_frames), "20", 1, 100000, NULL,
     SL_CFG_RESTART,
     "Invalid frames (protocol errors on a stream) a connection may send before it is closed "
     "with GOAWAY."},
    {"http2.max_continuations", SL_CFG_INT, OFF(http2.max_continuations), "8", 1, 1000, NULL,
     SL_CFG_RESTART,
     "CONTINUATION frames after one HEADERS before the connection is closed (the CONTINUATION "
     "flood, CVE-2024-27316)."},
    {"http2.window_bytes", SL_CFG_SIZE, OFF(http2.window_bytes), "1MiB", 65535, 1073741823, NULL,
     SL_CFG_RESTART,
     "Flow-control window a stream's body gets. Credit is returned as the body is read, and held "
     "back while requests in flight are over limits.inflight_bytes, so a slow broker slows "
     "clients down instead of filling memory."},

    {"auth.required", SL_CFG_BOOL, OFF(auth.required), "true", NOLIM, NULL, 0,
     "Require a valid JWT (Authorization: Bearer) on every public request."},
    {"auth.secret", SL_CFG_STRING, OFF(auth.secret), "", NOLIM, NULL, SL_CFG_SECRET,
     "HS256 signing secret (at least 32 bytes). With kafka.brokers=embedded and no secret, a "
     "random development secret is generated and a token printed at start."},
    {"auth.secret_file", SL_CFG_STRING, OFF(auth.secret_file), "", NOLIM, NULL, 0,
     "File holding the HS256 secret (trailing newline ignored); alternative to auth.secret."},
    {"auth.keys_file", SL_CFG_STRING, OFF(auth.keys_file), "", NOLIM, NULL, 0,
     "YAML key ring: `keys:` a list of {kid, alg, secret | secret_file | public_key_file, "
     "private_key_file}; alg one of HS256/384/512, RS256/384/512, ES256/384/512, pinned per key. "
     "With several keys a token must name its `kid`. Rotate by listing the new key beside the old "
     "one and reloading. Reread on every reload."},
    {"auth.jwks_file", SL_CFG_STRING, OFF(auth.jwks_file), "", NOLIM, NULL, 0,
     "A JWKS file (RFC 7517) of RSA and EC public keys, each with a kid; merged into the key "
     "ring. Reread on every reload."},
    {"auth.tenant_claim", SL_CFG_STRING, OFF(auth.tenant_claim), "tenant", NOLIM, NULL, 0,
     "Claim that names the tenant; required in every token."},
    {"auth.issuer", SL_CFG_STRING, OFF(auth.issuer), "", NOLIM, NULL, 0,
     "Allowed `iss` claims, comma-separated; empty accepts any issuer."},
    {"auth.audience", SL_CFG_STRING, OFF(auth.audience), "", NOLIM, NULL, 0,
     "Required `aud` claim; empty accepts any audience."},
    {"auth.leeway", SL_CFG_DURATION, OFF(auth.leeway_ms), "30s", 0, 600000, NULL, 0,
     "Clock skew allowed when checking exp, nbf, iat and the token age."},
    {"auth.max_token_age", SL_CFG_DURATION, OFF(auth.max_token_age_ms), "0s", 0,
     (int64_t)366 * 86400000, NULL, 0,
     "Oldest token accepted, counted from its `iat` (then required); 0 turns the check off."},
    {"auth.query_token", SL_CFG_STRING, OFF(auth.query_token), "", NOLIM, NULL, 0,
     "Name of a query parameter that may carry the token when there is no Authorization header "
     "(e.g. `access_token`), for clients that cannot set headers; empty (the default) accepts "
     "tokens in headers only. URLs are never logged, but proxies may log them: prefer headers."},
    {"auth.scope_claim", SL_CFG_STRING, OFF(auth.scope_claim), "scope", NOLIM, NULL, 0,
     "Claim holding the token's scopes: a space-separated string or an array. `write:*` may "
     "write any event, `write:<type>` one event type, `write:stage:<stage>` every type of a "
     "stage (raw, identity, consent, decisions, outcomes); an event outside them is "
     "`type_not_allowed`, a token without any write scope is refused with 403."},
    {"auth.default_scope", SL_CFG_STRING, OFF(auth.default_scope), "write:*", NOLIM, NULL, 0,
     "Scopes of a token that has no scope claim (space-separated); empty means none: such tokens "
     "are refused with 403."},
    {"auth.token_cache_entries", SL_CFG_INT, OFF(auth.token_cache_entries), "10000", 0, 10000000,
     NULL, SL_CFG_RESTART,
     "Verified tokens remembered (by SHA-256) until they expire, so a busy client's token is "
     "not verified again on every request; 0 turns the cache off."},

    {"contracts.file", SL_CFG_STRING, OFF(contracts.file), "builtin", NOLIM, NULL, 0,
     "Descriptor set (protoc --descriptor_set_out --include_imports) holding the event "
     "contracts; `builtin` is the catalog of proto/ compiled by the build, empty disables "
     "contract validation. Reloadable: a new contract deploys by replacing the file."},

    {"contracts.unknown_fields", SL_CFG_ENUM, OFF(contracts.unknown_fields), "reject", NOLIM,
     "reject|strip", 0,
     "A member the contract does not declare (in properties, or in the event itself): `reject` "
     "the event (unknown_field) or `strip` the member and produce the rest. A contract may set "
     "its own policy for its properties with the option (contract).unknown_fields."},

    {"policies.dir", SL_CFG_STRING, OFF(policies.dir), "builtin", NOLIM, NULL, 0,
     "Directory holding the privacy policy (policy.yaml, see docs/policies.md): consent gates "
     "and PII redaction applied to every event. `builtin` is the repo's policies/; empty turns "
     "the policy off (events are produced as validated, personal data included). Reloadable: "
     "an invalid policy is refused and the running one keeps serving."},
    {"policies.shadow_dir", SL_CFG_STRING, OFF(policies.shadow_dir), "", NOLIM, NULL, 0,
     "A candidate policy run beside the active one without being applied: every event is also "
     "judged and encoded by it, and sluice_policy_shadow_differences_total counts the events "
     "whose output (or consent verdict) would differ. Empty: off."},
    {"policies.hmac_key_file", SL_CFG_STRING, OFF(policies.hmac_key_file), "", NOLIM, NULL, 0,
     "File holding the key (at least 32 bytes) of the policy's hmac action (keyed "
     "pseudonymization). Required when the policy uses hmac, except in the embedded default, "
     "which generates one per run (pseudonyms then change at every start)."},
    {"policies.hmac_key_id", SL_CFG_STRING, OFF(policies.hmac_key_id), "k1", NOLIM, NULL, 0,
     "Id written in front of every pseudonym (`k1:...`): change it with the key, so consumers "
     "can tell tokens of the old key from the new."},

    {"dedupe.window", SL_CFG_DURATION, OFF(dedupe.window_ms), "1h", 0, (int64_t)7 * 86400000, NULL,
     0,
     "How long an accepted `event_id` is remembered, per tenant. An event whose id was accepted "
     "within the window is answered with status `duplicate`, code `duplicate_event_id`, and is "
     "not produced again; the outcome is final (the event is already in Kafka, send it no "
     "more), and a batch whose events are all accepted or duplicate is a 200. A second event "
     "with the same id in one batch is a duplicate too. An id is remembered only once Kafka "
     "acknowledged it, so an event answered `retryable` can be sent again; a copy sent while "
     "the first one still waits for Kafka is not caught. Each replica remembers the ids it "
     "accepted, in memory: a retry that reaches another replica (or this one after a restart) "
     "is produced again, so behind several replicas route each client to one of them (sticky "
     "sessions) for dedupe to catch its retries. 0 turns dedupe off."},
    {"dedupe.max_entries", SL_CFG_INT, OFF(dedupe.max_entries), "1000000", 1, 100000000, NULL,
     SL_CFG_RESTART,
     "Most event ids dedupe remembers at once, about 40 bytes each (at most 48): 40 MB for the "
     "default, reserved at start and touched as it fills. When full, the oldest ids are "
     "forgotten first, so memory never grows; a repeat of an id forgotten that way is produced "
     "again. Keep it a few percent above the peak accepted events per second times "
     "dedupe.window (the table is split by hash into parts that fill unevenly); "
     "sluice_dedupe_evictions_total counts ids forgotten before their window was over."},

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
