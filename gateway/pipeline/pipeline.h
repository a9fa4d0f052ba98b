/* pipeline: the fixed, ordered stage table every request goes through, whatever its transport.
 *
 *   admit -> auth -> limit -> decode -> validate -> contract -> scope -> consent -> suppress
 *         -> key -> route -> dedupe -> produce (dead letters first)
 *
 * Each stage returns SL_OK to go on or a failure after recording a whole-request fault; per-event
 * failures are recorded on the event and the batch's other events go on. The produce stage hands
 * events to the sink; their delivery reports complete the request, or kafka.delivery_timeout
 * does (see sl_pipeline_submit). */
#ifndef SL_PIPELINE_PIPELINE_H
#define SL_PIPELINE_PIPELINE_H

#include <stdbool.h>
#include <stdio.h>

#include "contracts/contracts.h"
#include "core/buf.h"
#include "pipeline/request.h"
#include "sink/sink.h"

typedef struct sl_pipeline sl_pipeline_t;

/* The delivery callback to give sl_sink_new: its opaque is the sl_event_t produced. */
void sl_pipeline_on_delivery(void *opaque, sl_status_t status, const char *code,
                             const char *detail);

/* A pipeline producing to sink (borrowed; must outlive the pipeline). Its rate limiter and its
 * dedupe table are sized by limits.rate_limit_keys and dedupe.max_entries of the config published
 * now (the defaults when none is). */
sl_pipeline_t *sl_pipeline_new(sl_sink_t *sink);
void sl_pipeline_free(sl_pipeline_t *pl);
sl_sink_t *sl_pipeline_sink(sl_pipeline_t *pl);

/* The contract registry new requests validate against (NULL: envelope validation only). Takes
 * its own reference and drops the previous registry's; requests already running keep theirs.
 * sl_pipeline_contracts returns a new reference (or NULL) the caller must unref. Any thread. */
void sl_pipeline_set_contracts(sl_pipeline_t *pl, struct sl_contracts *contracts);
struct sl_contracts *sl_pipeline_contracts(sl_pipeline_t *pl);

/* The privacy policy new requests apply (NULL: none), as for contracts. */
struct sl_policy;
void sl_pipeline_set_policy(sl_pipeline_t *pl, struct sl_policy *policy);
struct sl_policy *sl_pipeline_policy(sl_pipeline_t *pl);
/* A candidate policy run beside the active one (policies.shadow_dir), or NULL. */
void sl_pipeline_set_shadow(sl_pipeline_t *pl, struct sl_policy *policy);
struct sl_policy *sl_pipeline_shadow(sl_pipeline_t *pl);

/* The suppression list (sink/suppression.h) the suppress and erasure stages use; borrowed, it
 * must outlive the pipeline. */
struct sl_suppression;
void sl_pipeline_set_suppression(sl_pipeline_t *pl, struct sl_suppression *s);
struct sl_suppression *sl_pipeline_suppression(sl_pipeline_t *pl);

/* Whether a request of bytes would be taken under limits.inflight_bytes now (for a transport
 * that knows the size before reading the body); when not, why says so. */
bool sl_pipeline_admits(sl_pipeline_t *pl, const sl_config_t *cfg, int64_t bytes, char *why,
                        size_t why_len);

/* From now on every new batch is answered 503 shutting_down. Any thread. */
void sl_pipeline_set_draining(sl_pipeline_t *pl);
bool sl_pipeline_draining(const sl_pipeline_t *pl);

/* Run every stage for req, then call on_complete(req, ctx) exactly once, on whichever thread
 * drops the last hold: this one (when nothing was handed to Kafka, or every delivery report came
 * back before submit returned) or the sink's poll thread; or on the pipeline's watch thread when
 * kafka.delivery_timeout passes first (the events still in flight are then answered retryable
 * delivery_pending, and the pipeline keeps its own reference to req until their reports). The
 * caller must be ready for any of these and must not touch req between submit and
 * on_complete. */
void sl_pipeline_submit(sl_request_t *req, void (*on_complete)(sl_request_t *, void *), void *ctx);

/* Stage functions, exposed for unit tests and fuzzing. Each reads req's input and config. */
sl_status_t sl_stage_auth(sl_request_t *req);
/* limits.subject_rate, then limits.tenant_rate, for req->principal: 429 rate_limited with
 * req->retry_after_s set when over. Does nothing for a request without a pipeline. */
sl_status_t sl_stage_limit(sl_request_t *req);
sl_status_t sl_stage_decode(sl_request_t *req);
/* The application/x-protobuf branch of sl_stage_decode. */
sl_status_t sl_decode_protobuf(sl_request_t *req);
sl_status_t sl_stage_validate(sl_request_t *req);
sl_status_t sl_stage_contract(sl_request_t *req);
/* pipeline/inflate.c: a Content-Encoding: gzip body inflated in place of the body
 * (limits.max_decompressed_bytes, limits.max_compression_ratio: 413); other encodings 415. */
sl_status_t sl_stage_inflate(sl_request_t *req);
/* pipeline/cors.c: a request with an Origin must come from an origin cors.origins lists for its
 * tenant (403 origin_not_allowed); the allowed one is echoed in req->allowed_origin. */
sl_status_t sl_stage_cors(sl_request_t *req);
/* Whether origin is listed in cors.origins for tenant (NULL: for any tenant: preflights). */
bool sl_cors_listed(const sl_config_t *cfg, const char *tenant, const char *origin);
/* pipeline/key.c: each pending event's message key from its template (keys.types, keys.<stage>),
 * redacted like the fields it is made of; keys.missing when a group has no value; hot keys
 * (keys.hot, or over keys.hot_rate counted in hot, which may be NULL) spread over sub-keys. */
struct sl_hotkeys;
sl_status_t sl_key_stage(struct sl_hotkeys *hot, sl_request_t *req);
/* pipeline/privacy.c: the consent gate (consent_dropped), and the produced value and key with
 * the policy's redaction applied. sl_privacy_key returns false when the policy drops the key's
 * field (the event is then produced without a key). */
sl_status_t sl_stage_consent(sl_request_t *req);
/* pipeline/erasure.c: POST /v1/privacy/erasure {"user_id": ..., "reason": ...}: the subject is
 * added to the suppression list at once, and an erasure record is produced to topics.privacy
 * and topics.suppression (the compacted list), both keyed by the subject. */
sl_status_t sl_stage_erasure(sl_request_t *req);
/* With a shadow policy: encodes ev as the candidate would and counts, in metrics, whether the
 * result differs from value (what the active policy produced). */
void sl_privacy_shadow(const sl_request_t *req, const sl_event_t *ev, bool proto, const char *value,
                       size_t len);
/* The JSON value of ev, printing to out each field the policy touched and the rule that did. */
void sl_privacy_explain(const sl_request_t *req, const sl_event_t *ev, sl_buf_t *value, FILE *out);
void sl_privacy_encode(const sl_request_t *req, const sl_event_t *ev, bool proto, sl_buf_t *out);
/* The dead-letter value of an invalid ev: its JSON as received, each member the envelope or its
 * contract declares redacted by the policy like in a stage topic, every other member (undeclared,
 * of the wrong kind, properties of an unknown type) left out. Without a policy: as received. */
void sl_privacy_dead_letter(const sl_request_t *req, const sl_event_t *ev, sl_buf_t *out);
bool sl_privacy_key(const sl_request_t *req, const sl_event_t *ev, const char *name, const char *in,
                    size_t n, sl_buf_t *out);

/* The value produced for ev: the canonical encoding (contracts/canonical.c) of its envelope
 * (sluice.v1.Event) with properties encoded by its contract, as protobuf when proto, else JSON.
 * Appended to out (an arena buffer of req). occurred_at is written normalized (UTC, RFC 3339
 * with milliseconds). Without a contract (validation off) properties are copied as received. */

void sl_event_encode(const sl_request_t *req, const sl_event_t *ev, bool proto,
                     const sl_ct_visitor_t *visitor, sl_buf_t *out);

/* tpl with {tenant} filled in (in req's arena), tpl itself when it has none, or NULL when the
 * tenant cannot be part of a topic name. */
const char *sl_route_topic(sl_request_t *req, const char *tpl);

/* pipeline/deadletter.c: every event marked dead_letter (the stages found it invalid), to
 * topics.dead_letter, redacted (sl_privacy_dead_letter), with headers dead_letter_code and
 * dead_letter_reason. Produced with a NULL opaque: the request does not wait for their
 * delivery reports. */
void sl_dead_letter_produce(sl_request_t *req, sl_sink_t *sink);

/* The per-event answer body (JSON) for a completed request, or the error body for a fault. */
void sl_response_render(const sl_request_t *req, sl_buf_t *out);
/* The same answer as a serialized sluice.v1.PublishResponse (gRPC), for a request without a
 * fault (gRPC carries faults in its status trailers). */
void sl_response_render_proto(const sl_request_t *req, sl_buf_t *out);

#endif
