/* pipeline/request: the one request object every transport builds and every stage reads.
 *
 * A transport (HTTP/1.1 today; HTTP/2 and gRPC beside it) fills the input fields, hands the
 * request to sl_pipeline_submit and, once on_complete has run, renders the answer from the
 * fault or the per-event outcomes. Stages write only the fields below "set by stages". All memory
 * is in the request's arena; the request holds a reference to the config snapshot it started
 * with, so a reload never changes a request halfway. */
#ifndef SL_PIPELINE_REQUEST_H
#define SL_PIPELINE_REQUEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "config/config.h"
#include "core/arena.h"
#include "core/json.h"
#include "core/status.h"

/* Whole-request faults. transport/status_map.c is the only place that turns them into HTTP
 * and gRPC codes. */
typedef enum {
    SL_FAULT_NONE = 0,
    SL_FAULT_BAD_REQUEST,
    SL_FAULT_UNAUTHENTICATED,
    SL_FAULT_FORBIDDEN,
    SL_FAULT_NOT_FOUND,
    SL_FAULT_METHOD_NOT_ALLOWED,
    SL_FAULT_TOO_LARGE,
    SL_FAULT_HEADERS_TOO_LARGE,
    SL_FAULT_UNSUPPORTED_MEDIA_TYPE,
    SL_FAULT_RATE_LIMITED,
    SL_FAULT_UNAVAILABLE,
    SL_FAULT_NOT_IMPLEMENTED,
    SL_FAULT_INTERNAL,
    SL_FAULT_DEADLINE_EXCEEDED, /* gRPC grpc-timeout passed before the request could finish */
    SL_FAULT__COUNT,
} sl_fault_t;

/* What the request asks for: the transport sets it from the path. */
typedef enum {
    SL_ROUTE_EVENTS = 0, /* POST /v1/events: a batch of events */
    SL_ROUTE_ERASURE,    /* POST /v1/privacy/erasure: forget a user */
    SL_ROUTE_BEACON,     /* POST /v1/beacon: a batch from a page (token in the body, 204) */
} sl_route_t;

typedef struct sl_request sl_request_t;
struct sl_pipeline;
struct sl_contracts;
struct sl_ct_message;

typedef struct {
    sl_request_t *req;
    uint32_t node;        /* the event's value in req->doc */
    const char *event_id; /* decoded; not NUL-terminated: use the lengths */
    size_t event_id_len;
    const char *type;
    size_t type_len;
    const char *key; /* NULL: produced without a key */
    size_t key_len;
    bool key_random;          /* no component of its template was set (keys.missing=random) */
    const char *original_key; /* a spread hot key: the key before spreading, else NULL */
    size_t original_key_len;
    uint32_t spread_index; /* a spread hot key: its sub-key, of spread_n */
    uint32_t spread_n;
    bool dead_letter; /* rejected by a stage: goes to topics.dead_letter (produce stage) */
    bool claimed;     /* its event_id is held "in flight" in the dedupe table (dedupe stage) */
    const char *topic;
    const struct sl_ct_message *contract; /* the contract of type (decode or contract stage) */
    bool properties_checked;              /* protobuf: checked at the wire level by the decoder */
    bool protobuf;           /* produced as protobuf (its stage's encoding), else JSON */
    uint32_t granted;        /* consent purposes (policy bits), set by the consent stage */
    uint32_t shadow_granted; /* the same as bits of the shadow policy */
    bool shadow_dropped;     /* the shadow policy's consent gate would drop it */
    const char *value; /* a value made by its stage (erasure records); NULL: encode the event */
    size_t value_len;
    int64_t occurred_at_ms; /* corrected by the request's skew_ms */
    /* The outcome. Written by a stage on the request's thread, or once by the delivery
     * report on the sink's poll thread (under req->lock, unless the request was answered
     * already) before it releases the request's pending count. */
    sl_outcome_t outcome;
    const char *code;    /* static */
    const char *message; /* static or in the arena */
    const char *detail;  /* static, may be NULL: librdkafka's error name */
} sl_event_t;

struct sl_request {
    sl_arena_t *arena;
    sl_config_t *cfg;
    struct sl_contracts *contracts; /* the registry the request started with, or NULL */
    struct sl_policy *policy;       /* the privacy policy it started with, or NULL */
    struct sl_policy *shadow;       /* a candidate policy compared, not applied (or NULL) */
    struct sl_pipeline *pipeline;

    /* Input, filled by the transport before submit. */
    sl_route_t route;
    const char *media_type;       /* lower-case, without parameters; "" when absent */
    const char *content_encoding; /* lower-case Content-Encoding, "" when absent */
    const char *origin;           /* the Origin header (browsers), or NULL */
    const char *bearer;           /* token of Authorization: Bearer, or NULL */
    int64_t deadline_ms;          /* gRPC grpc-timeout as sl_time_now_ms time; 0: none. Nothing is
                                     produced past it. */
    size_t bearer_len;
    const char *body;
    size_t body_len;
    int64_t received_at_ms;
    uint64_t start_ns;

    /* Set by stages. */
    sl_principal_t principal;
    sl_json_doc_t doc;          /* the parsed body; node 0 is the batch object */
    const char *batch_id;       /* NUL-terminated, or NULL */
    int64_t sent_at_ms;         /* the batch's sent_at (validate stage); 0: none */
    int64_t skew_ms;            /* receive time - sent_at when corrected (clock.max_skew), else 0 */
    const char *allowed_origin; /* the Origin the answer allows (cors stage), or NULL */
    int64_t admitted;           /* bytes counted against limits.inflight_bytes until on_complete */
    sl_event_t *events;
    size_t n_events;
    sl_fault_t fault;
    sl_error_t fault_err;
    int retry_after_s; /* > 0: the Retry-After of the answer (rate limits), else http.retry_after */

    /* Completion: pending counts the pipeline's own hold plus one per event handed to the sink.
     * The request is answered (on_complete, exactly once) by whoever drops pending to zero, or
     * earlier by the pipeline's watch thread when kafka.delivery_timeout passes first: its
     * events still in flight are then answered retryable and stay in flight in librdkafka
     * (kafka.message_timeout). `answered` and the outcomes written after submit are guarded by
     * lock. */
    atomic_int pending;
    pthread_mutex_t lock;
    bool answered;
    void (*on_complete)(sl_request_t *req, void *ctx);
    void *ctx;

    /* Lifetime: one reference for the transport (sl_request_new) and one the pipeline holds
     * from submit until pending drops to zero, so a request answered early lives until its
     * last delivery report. */
    atomic_int refs;
    /* The pipeline's watch list of requests with events in flight (pipeline.c). */
    int64_t answer_by_ms; /* sl_time_mono_ns milliseconds */
    atomic_bool watched;  /* on the list; changed under the pipeline's watch lock */
    sl_request_t *watch_prev, *watch_next;
};

/* A request with its own arena and a reference to the current config snapshot. Returns NULL
 * when no snapshot is published yet. Free with sl_request_free after on_complete has run (or
 * when it was never submitted): that drops the transport's reference; the memory goes when the
 * pipeline has dropped its own too (its last delivery report). Any thread. */
sl_request_t *sl_request_new(struct sl_pipeline *pipeline);
void sl_request_free(sl_request_t *req);

/* The member of object obj for the protobuf field with declared name `name` (snake_case), under
 * that name or its proto3 JSON name (lowerCamel: "user_id" -> "userId"), or -1. When both
 * spellings are given the declared one is returned here; the contract stage refuses such an
 * event (duplicate_field). */
int64_t sl_doc_field(const sl_json_doc_t *doc, uint32_t obj, const char *name);

/* A Content-Type's media type, lower-case and without parameters ("Application/JSON;
 * charset=utf-8" -> "application/json"), in arena; "" for NULL. Both transports use it. */
const char *sl_media_type(sl_arena_t *arena, const char *content_type);

/* Record a whole-request fault (the first one wins) and return SL_REJECT. */
sl_status_t sl_request_fail(sl_request_t *req, sl_fault_t fault, const char *code, const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));

/* Per-event tallies, valid after on_complete. */
typedef struct {
    size_t by_outcome[SL_OUT__COUNT];
} sl_tally_t;
void sl_request_tally(const sl_request_t *req, sl_tally_t *out);

#endif
