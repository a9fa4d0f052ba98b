/* validate_bench: CPU cost per event of the JSON path before Kafka — parse (core/json),
 * envelope validation and contract validation — on 100-event batches of ~330-byte events that
 * are valid against the catalog, with jansson parsing the same bytes as the baseline in the same
 * run; of the canonical encoding of what is produced (JSON and protobuf); of the protobuf path
 * (the same events as a sluice.v1.EventBatch: wire checks, transcoding, parse, envelope and
 * contract stages); and of the wire-level contract validation (sl_ct_validate_wire) alone.
 * Single thread, in process; prints microseconds per event and MB/s.
 *   build-release/loadtest/validate_bench [CATALOG.pb] [ROUNDS]                               */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts/contracts.h"
#include "core/pb.h"
#include "core/timefmt.h"
#include "pipeline/pipeline.h"
#include "policy/policy.h"

#ifndef SL_CONTRACTS_DEFAULT
#define SL_CONTRACTS_DEFAULT ""
#endif

static void build_batch(sl_buf_t *b) {
    sl_buf_puts(b, "{\"batch_id\":\"b-1\",\"sent_at\":\"2026-11-27T10:00:01Z\",\"events\":[");
    for (int i = 0; i < 100; i++) {
        if (i % 2 == 0) {
            sl_buf_printf(b,
                          "%s{\"event_id\":\"6f1c2a4e-0000-4000-8000-%012d\",\"type\":"
                          "\"product_view\",\"occurred_at\":\"2026-11-27T10:00:00.123Z\","
                          "\"user_id\":\"user-%05d\",\"anonymous_id\":\"a%011d\",\"context\":{"
                          "\"user_agent\":\"Mozilla/5.0 (X11; Linux x86_64)\",\"page\":{\"url\":"
                          "\"https://shop.example.com/p/%d\"},\"locale\":\"en-US\"},\"properties\":"
                          "{\"productId\":\"p%05d\",\"price\":19.99,\"currency\":\"EUR\"}}",
                          i ? "," : "", i, i, i, i, i);
        } else {
            sl_buf_printf(b,
                          ",{\"event_id\":\"6f1c2a4e-0000-4000-8000-%012d\",\"type\":\"purchase\","
                          "\"occurred_at\":1795692000000,\"user_id\":\"user-%05d\",\"properties\":"
                          "{\"order_id\":\"o-%d\",\"revenue\":39.98,\"currency\":\"EUR\",\"items\":"
                          "[{\"product_id\":\"p%05d\",\"quantity\":2,\"price\":19.99}]}}",
                          i, i, i, i);
        }
    }
    sl_buf_puts(b, "]}");
}

/* The properties of the batch's events as protobuf: ProductView{product_id, price, currency}
 * and Purchase{order_id, items[LineItem{product_id, quantity, price}], revenue, currency}. */
static size_t put_varint(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t put_str(uint8_t *p, uint32_t field, const char *s) {
    size_t n = put_varint(p, (uint64_t)field << 3 | 2);
    size_t len = strlen(s);
    n += put_varint(p + n, len);
    memcpy(p + n, s, len);
    return n + len;
}

static size_t put_double(uint8_t *p, uint32_t field, double d) {
    size_t n = put_varint(p, (uint64_t)field << 3 | 1);
    memcpy(p + n, &d, 8);
    return n + 8;
}

static size_t encode_properties(int i, uint8_t *out) {
    char id[32];
    size_t n = 0;
    if (i % 2 == 0) {
        snprintf(id, sizeof(id), "p%05d", i);
        n += put_str(out + n, 1, id);
        n += put_double(out + n, 5, 19.99);
        n += put_str(out + n, 6, "EUR");
        return n;
    }
    uint8_t item[64];
    snprintf(id, sizeof(id), "p%05d", i);
    size_t in = put_str(item, 1, id);
    in += put_varint(item + in, 3 << 3 | 0);
    in += put_varint(item + in, 2);
    in += put_double(item + in, 4, 19.99);
    snprintf(id, sizeof(id), "o-%d", i);
    n += put_str(out + n, 1, id);
    n += put_varint(out + n, 2 << 3 | 2);
    n += put_varint(out + n, in);
    memcpy(out + n, item, in);
    n += in;
    n += put_double(out + n, 3, 39.98);
    n += put_str(out + n, 4, "EUR");
    return n;
}

int main(int argc, char **argv) {
    const char *catalog = argc > 1 ? argv[1] : SL_CONTRACTS_DEFAULT;
    int rounds = argc > 2 ? atoi(argv[2]) : 3000;
    sl_config_t *cfg;
    sl_contracts_t *contracts;
    sl_error_t err;
    if (sl_config_build(NULL, NULL, 0, &cfg, &err) != SL_OK ||
        sl_contracts_load(catalog, &contracts, &err) != SL_OK) {
        fprintf(stderr, "validate_bench: %s\n", err.message);
        return 2;
    }
    sl_config_publish(cfg);
    sl_buf_t body;
    sl_buf_init(&body, NULL, 65536);
    build_batch(&body);
    double events = 100.0 * rounds;
    uint64_t t_parse = 0, t_env = 0, t_ct = 0, t_jansson = 0, t_enc_json = 0, t_enc_pb = 0,
             t_policy = 0;
    size_t dropped = 0;
    sl_policy_t *policy;
    if (sl_policy_load(SL_POLICIES_DEFAULT, contracts, &policy, &err) != SL_OK) {
        fprintf(stderr, "validate_bench: %s\n", err.message);
        return 2;
    }
    static const char bench_key[] = "validate-bench-hmac-key-0123456789abcdef";
    sl_policy_set_hmac_key(policy, "b1", (const uint8_t *)bench_key, sizeof(bench_key) - 1);
    size_t invalid = 0;
    sl_buf_t pb_batch; /* the same batch as protobuf, built from the canonical encoding */
    sl_buf_init(&pb_batch, NULL, 65536);
    for (int r = 0; r < rounds; r++) {
        sl_request_t *req = sl_request_new(NULL);
        req->contracts = sl_contracts_ref(contracts);
        req->media_type = "application/json";
        req->body = body.data;
        req->body_len = body.len;
        uint64_t a = sl_time_mono_ns();
        sl_stage_decode(req);
        uint64_t b = sl_time_mono_ns();
        sl_stage_validate(req);
        uint64_t c = sl_time_mono_ns();
        sl_stage_contract(req);
        uint64_t d = sl_time_mono_ns();
        for (size_t i = 0; i < req->n_events; i++) {
            invalid += req->events[i].outcome != SL_OUT_PENDING;
        }
        sl_buf_t value;
        sl_buf_init(&value, req->arena, 1024);
        uint64_t ej = sl_time_mono_ns();
        for (size_t i = 0; i < req->n_events; i++) {
            value.len = 0;
            sl_event_encode(req, &req->events[i], false, NULL, &value);
        }
        uint64_t ep = sl_time_mono_ns();
        for (size_t i = 0; i < req->n_events; i++) {
            value.len = 0;
            sl_event_encode(req, &req->events[i], true, NULL, &value);
            if (r == 0) {
                pb_put_bytes(&pb_batch, 3, value.data, value.len);
            }
        }
        t_enc_json += ep - ej;
        t_enc_pb += sl_time_mono_ns() - ep;
        /* The same events through the repo's privacy policy: the consent gate, then the JSON
         * value with redaction (user_id pseudonymized with HMAC, free text scrubbed, ...). */
        req->policy = sl_policy_ref(policy);
        req->principal.tenant = "dev"; /* analytics by default: every event passes */
        uint64_t pc = sl_time_mono_ns();
        sl_stage_consent(req);
        for (size_t i = 0; i < req->n_events; i++) {
            value.len = 0;
            if (req->events[i].outcome == SL_OUT_PENDING) {
                sl_privacy_encode(req, &req->events[i], false, &value);
            } else {
                dropped++;
            }
        }
        t_policy += sl_time_mono_ns() - pc;
        sl_request_free(req);
        json_t *j = json_loadb(body.data, body.len, JSON_REJECT_DUPLICATES, NULL);
        uint64_t e = sl_time_mono_ns();
        json_decref(j);
        t_parse += b - a;
        t_env += c - b;
        t_ct += d - c;
        t_jansson += e - d;
    }
    /* The protobuf path: the same events as an EventBatch, through the same stages. */
    uint64_t t_pb_decode = 0, t_pb_rest = 0;
    for (int r = 0; r < rounds; r++) {
        sl_request_t *req = sl_request_new(NULL);
        req->contracts = sl_contracts_ref(contracts);
        req->media_type = "application/x-protobuf";
        req->body = pb_batch.data;
        req->body_len = pb_batch.len;
        uint64_t a = sl_time_mono_ns();
        sl_stage_decode(req);
        uint64_t b = sl_time_mono_ns();
        sl_stage_validate(req);
        sl_stage_contract(req);
        t_pb_rest += sl_time_mono_ns() - b;
        t_pb_decode += b - a;
        for (size_t i = 0; i < req->n_events; i++) {
            invalid += req->events[i].outcome != SL_OUT_PENDING;
        }
        if (req->n_events != 100) {
            fprintf(stderr, "validate_bench: the protobuf batch has %zu events\n", req->n_events);
            return 1;
        }
        sl_request_free(req);
    }
    /* The wire-level contract validation alone, on the same properties. */
    static uint8_t props[100][128];
    size_t props_len[100];
    const sl_ct_message_t *types[2] = {sl_contracts_event(contracts, "product_view", 12),
                                       sl_contracts_event(contracts, "purchase", 8)};
    for (int i = 0; i < 100; i++) {
        props_len[i] = encode_properties(i, props[i]);
    }
    uint64_t t_wire = 0;
    for (int r = 0; r < rounds; r++) {
        uint64_t a = sl_time_mono_ns();
        for (int i = 0; i < 100; i++) {
            if (sl_ct_validate_wire(types[i % 2], props[i], props_len[i], "properties", 16, false,
                                    &err) != SL_OK) {
                fprintf(stderr, "validate_bench: protobuf event %d refused: %s\n", i, err.message);
                return 1;
            }
        }
        t_wire += sl_time_mono_ns() - a;
    }
    if (invalid > 0) {
        fprintf(stderr, "validate_bench: %zu events were refused; the batch must be valid\n",
                invalid);
        return 1;
    }
    double per = 1e3 * events;
    printf("batch: 100 events, %zu bytes (%.0f bytes/event), %d rounds\n", body.len,
           (double)body.len / 100, rounds);
    printf("%-36s %8s %10s\n", "step", "us/event", "MB/s");
    printf("%-36s %8.3f %10.1f\n", "parse (core/json)", t_parse / per,
           body.len * (double)rounds / (t_parse / 1e3));
    printf("%-36s %8.3f\n", "envelope validation", t_env / per);
    printf("%-36s %8.3f\n", "contract validation (properties)", t_ct / per);
    printf("%-36s %8.3f\n", "JSON path total", (t_parse + t_env + t_ct) / per);
    printf("%-36s %8.3f %10.1f\n", "baseline: jansson parse (+free)", t_jansson / per,
           body.len * (double)rounds / (t_jansson / 1e3));
    printf("%-36s %8.3f\n", "canonical encoding: JSON", t_enc_json / per);
    printf("%-36s %8.3f\n", "canonical encoding: protobuf", t_enc_pb / per);
    printf("%-36s %8.3f\n", "consent + JSON encoding with policy", t_policy / per);
    if (dropped > 0) {
        fprintf(stderr, "validate_bench: the policy dropped %zu events\n", dropped);
        return 1;
    }
    printf("protobuf batch: %zu bytes (%.0f bytes/event)\n", pb_batch.len,
           (double)pb_batch.len / 100);
    printf("%-36s %8.3f\n", "protobuf: decode (check+transcode)", t_pb_decode / per);
    printf("%-36s %8.3f\n", "protobuf: envelope + contract stages", t_pb_rest / per);
    printf("%-36s %8.3f\n", "protobuf path total", (t_pb_decode + t_pb_rest) / per);
    printf("%-36s %8.3f\n", "protobuf: contract validation (wire)", t_wire / per);
    sl_buf_free(&pb_batch);
    sl_policy_unref(policy);
    sl_buf_free(&body);
    sl_contracts_unref(contracts);
    sl_config_publish(NULL);
    sl_config_unref(cfg);
    return 0;
}
