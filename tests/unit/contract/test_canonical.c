/* Canonical output (contracts/canonical.c, pipeline/encode.c): an event sent as JSON and the same
 * event sent as protobuf (a sluice.v1.EventBatch) produce byte-identical values, as JSON and as
 * protobuf. Checked for a realistic event of every contract of the catalog, for every scalar
 * kind (the alltypes fixture), for non-canonical protobuf input, against exact expected values;
 * and protobuf failures are per event, with the path of the field at fault.
 *
 * JSON in this file is written with ' for " (see jq) so the bodies stay readable. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "contracts/contracts.h"
#include "core/pb.h"
#include "pipeline/pipeline.h"
#include "support.h"

#ifndef SL_TEST_CATALOG
#error "SL_TEST_CATALOG must name the compiled catalog"
#endif
#ifndef SL_CT_FIXTURES
#error "SL_CT_FIXTURES must name the directory of the compiled contract fixtures"
#endif

static const char *const JSON = "application/json";
static const char *const PROTO = "application/x-protobuf";

/* Everything a test builds (bodies, copies, messages) lives here until the test ends. */
static sl_arena_t *scratch;

static void setup(void) {
    t_publish(T_SETS("log.level=error"));
    scratch = sl_arena_new(1 << 16);
}

static void teardown(void) {
    sl_arena_destroy(scratch);
}

TestSuite(canonical, .init = setup, .fini = teardown);

/* --- helpers ------------------------------------------------------------------------------- */

typedef struct {
    const char *p;
    size_t n;
} bytes_t;

/* s with every ' turned into ", in scratch: \' becomes an escaped quote inside a JSON string,
 * and a real apostrophe would be written \u0027. */
static char *jq(const char *s) {
    size_t n = strlen(s);
    char *out = sl_arena_strndup(scratch, s, n);
    for (size_t i = 0; i < n; i++) {
        if (out[i] == '\'') {
            out[i] = '"';
        }
    }
    return out;
}

static sl_contracts_t *load(const char *path, sl_contracts_t **slot) {
    if (*slot == NULL) {
        sl_error_t err;
        cr_assert(eq(int, sl_contracts_load(path, slot, &err), SL_OK), "%s: %s", path, err.message);
    }
    return *slot;
}

static sl_contracts_t *catalog(void) {
    static sl_contracts_t *c;
    return load(SL_TEST_CATALOG, &c);
}

static sl_contracts_t *alltypes(void) {
    static sl_contracts_t *c;
    return load(SL_CT_FIXTURES "/alltypes.pb", &c);
}

/* A request for body (borrowed: it must outlive the request) through decode, validate and
 * contract, stopping at the first stage that records a fault. The caller frees it. */
static sl_request_t *submit(sl_contracts_t *c, const char *media, const void *body, size_t len) {
    sl_request_t *req = sl_request_new(NULL);
    cr_assert(req != NULL);
    req->contracts = c != NULL ? sl_contracts_ref(c) : NULL;
    req->media_type = media;
    req->body = body;
    req->body_len = len;
    if (sl_stage_decode(req) == SL_OK && sl_stage_validate(req) == SL_OK) {
        cr_assert(eq(int, sl_stage_contract(req), SL_OK));
    }
    return req;
}

static sl_request_t *submit_json(sl_contracts_t *c, const char *body) {
    return submit(c, JSON, body, strlen(body));
}

static sl_request_t *submit_pb(sl_contracts_t *c, const sl_buf_t *body) {
    return submit(c, PROTO, body->data, body->len);
}

/* The value produced for event i of req, in req's arena. */
static bytes_t value(const sl_request_t *req, size_t i, bool proto) {
    sl_buf_t b;
    sl_buf_init(&b, req->arena, 256);
    sl_event_encode(req, &req->events[i], proto, NULL, &b);
    return (bytes_t){sl_buf_cstr(&b), b.len};
}

/* b as text (JSON) or hex (protobuf) for a failure message, in scratch. */
static const char *show(bytes_t b, bool proto) {
    if (!proto) {
        return sl_arena_strndup(scratch, b.p, b.n);
    }
    char *s = sl_arena_alloc(scratch, b.n * 3 + 1);
    s[0] = '\0';
    for (size_t i = 0; i < b.n; i++) {
        snprintf(s + 3 * i, 4, "%02x ", (unsigned char)b.p[i]);
    }
    return s;
}

static bool same(bytes_t a, bytes_t b) {
    return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

static void expect_same(const char *what, bool proto, bytes_t got, bytes_t want) {
    cr_expect(same(got, want), "%s (%s)\n  got:  %s\n  want: %s", what, proto ? "protobuf" : "JSON",
              show(got, proto), show(want, proto));
}

/* The request has no fault and every event is still pending (it would be produced). */
static void expect_all_pending(const sl_request_t *req, const char *what) {
    cr_assert(eq(int, req->fault, SL_FAULT_NONE), "%s: fault %s: %s", what, req->fault_err.code,
              req->fault_err.message);
    for (size_t i = 0; i < req->n_events; i++) {
        const sl_event_t *ev = &req->events[i];
        cr_assert(eq(int, ev->outcome, SL_OUT_PENDING), "%s: event %zu is %s: %s: %s", what, i,
                  sl_outcome_name(ev->outcome), ev->code, ev->message);
    }
}

/* The protobuf EventBatch holding req's events, each as its canonical protobuf value. */
static void pb_batch_of(const sl_request_t *req, sl_buf_t *out) {
    sl_buf_init(out, scratch, 1024);
    for (size_t i = 0; i < req->n_events; i++) {
        bytes_t v = value(req, i, true);
        pb_put_bytes(out, 3, v.p, v.n);
    }
}

/* The JSON batch {"events":[...]} of req's events, each as its canonical JSON value. */
static void json_batch_of(const sl_request_t *req, sl_buf_t *out) {
    sl_buf_init(out, scratch, 1024);
    sl_buf_puts(out, "{\"events\":[");
    for (size_t i = 0; i < req->n_events; i++) {
        bytes_t v = value(req, i, false);
        sl_buf_append(out, ",", i > 0);
        sl_buf_append(out, v.p, v.n);
    }
    sl_buf_puts(out, "]}");
}

/* The property under test. body is a JSON batch whose events all pass. Its canonical values
 * (J1, P1) must come back byte for byte when P1 is sent as a protobuf batch (J2, P2) and when
 * J1 is sent again as JSON (the canonical form is a fixed point). */
static void round_trip(sl_contracts_t *c, const char *body, const char *what) {
    sl_request_t *j = submit_json(c, body);
    expect_all_pending(j, what);
    sl_buf_t pb, js;
    pb_batch_of(j, &pb);
    json_batch_of(j, &js);
    sl_request_t *p = submit_pb(c, &pb);
    expect_all_pending(p, what);
    sl_request_t *again = submit(c, JSON, js.data, js.len);
    expect_all_pending(again, what);
    cr_assert(eq(sz, p->n_events, j->n_events));
    cr_assert(eq(sz, again->n_events, j->n_events));
    for (size_t i = 0; i < j->n_events; i++) {
        char label[160];
        snprintf(label, sizeof(label), "%s, event %zu: protobuf in vs JSON in", what, i);
        cr_expect(p->events[i].contract == j->events[i].contract, "%s: another contract", label);
        expect_same(label, false, value(p, i, false), value(j, i, false));
        expect_same(label, true, value(p, i, true), value(j, i, true));
        snprintf(label, sizeof(label), "%s, event %zu: canonical JSON in again", what, i);
        expect_same(label, false, value(again, i, false), value(j, i, false));
        expect_same(label, true, value(again, i, true), value(j, i, true));
    }
    sl_request_free(again);
    sl_request_free(p);
    sl_request_free(j);
}

/* A one-event JSON batch. */
static char *batch1(const char *event_jq) {
    sl_buf_t b;
    sl_buf_init(&b, scratch, 512);
    sl_buf_printf(&b, "{'events':[%s]}", event_jq);
    return jq(sl_buf_cstr(&b));
}

/* --- a. every contract of the catalog ------------------------------------------------------ */

/* Three envelopes: a browser (offset timestamp, escapes, every context member), an app (epoch
 * milliseconds, JSON names), and a small one (no purposes). */
#define ENV_WEB                                                                                    \
    "'occurred_at':'2026-03-14T10:26:53.589+01:00','user_id':'u-1842','anonymous_id':'a-77f3',"    \
    "'session_id':'s-9','context':{'ip':'203.0.113.7','userAgent':'Mozilla/5.0 (X11; Linux "       \
    "x86_64)','locale':'de-DE','geo':{'lat':52.520,'lon':13.4050,'accuracy_m':25.0},"              \
    "'page':{'url':'https:\\/\\/shop.example.com/p/123?ref=home','referrer':"                      \
    "'https://www.example.org/','title':'Laufschuhe \\u2013 Gr\\u00f6\\u00dfe 42 \\'Trail\\''},"   \
    "'campaign':{'source':'newsletter','medium':'email','name':'spring','term':'shoes',"           \
    "'content':'hero'},'traceparent':'00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'},"  \
    "'consent':{'purposes':['analytics','personalization']}"
#define ENV_APP                                                                                    \
    "'occurred_at':1773480413589,'anonymous_id':'a-1','deviceId':'d-ff01','account_id':"           \
    "'acct-3','context':{'locale':'en-US','screen':{'name':'Home'},'app':{'name':'Shop',"          \
    "'version':'4.2.0','build':'4200'},'geo':{'lat':-33.8688,'lon':151.2093}},'consent':"          \
    "{'purposes':['analytics','advertising','personalization']}"
#define ENV_MIN                                                                                    \
    "'occurred_at':'2026-03-14T09:26:53Z','user_id':'u-1','context':{'locale':'fr',"               \
    "'page':{'url':'https://m.example.fr/'}},'consent':{'purposes':[]}"

typedef struct {
    const char *type;
    const char *envelope;   /* members after event_id and type */
    const char *properties; /* a JSON object */
} event_row_t;

static const event_row_t events[] = {
    {"page_view", ENV_WEB,
     "{'url':'https://shop.example.com/c/shoes','referrer':'https://www.google.com/',"
     "'title':'Shoes \\u2013 Shop'}"},
    {"screen_view", ENV_APP, "{'name':'Checkout'}"},
    {"product_view", ENV_WEB,
     "{'productId':'p-123','sku':'SKU-123-42','name':'Trail Runner','category':'shoes/running',"
     "'price':9.50,'currency':'EUR'}"},
    {"search", ENV_WEB,
     "{'query':'trail \\'runner\\'','resultCount':'12','filters':[{'field':'size','value':'42'},"
     "{'field':'colour','value':'blue'}]}"},
    {"add_to_cart", ENV_APP,
     "{'cartId':'c-1','product_id':'p-123','quantity':2.0,'price':1e1,'currency':'EUR'}"},
    {"remove_from_cart", ENV_MIN,
     "{'cart_id':'c-1','productId':'p-123','quantity':'1','price':0.10,'currency':'USD'}"},
    {"checkout_started", ENV_WEB,
     "{'cart_id':'c-1','value':119.90,'currency':'EUR','itemCount':3}"},
    {"checkout_step", ENV_APP, "{'cartId':'c-1','step':2,'option':'express'}"},
    {"purchase", ENV_WEB,
     "{'orderId':'o-2026-0001','items':[{'productId':'p-123','sku':'SKU-1','quantity':2,"
     "'price':9.50},{'product_id':'p-456','quantity':1,'price':1.0e2}],'revenue':119.00,"
     "'currency':'EUR','coupon':'SPRING10'}"},
    {"location_change", ENV_APP,
     "{'lat':52.5200066,'lon':-0.1275,'accuracyM':12.5,'country':'GB'}"},
    {"notification_response", ENV_APP,
     "{'campaignId':'cmp-7','notificationId':'n-1','action':'clicked'}"},
    {"identify", ENV_WEB,
     "{'userId':'u-1842','email':'jane.doe@example.com','phone':'+4915112345678',"
     "'traits':[{'key':'plan','value':'pro'},{'key':'beta'},{'key':'tz','value':"
     "'Europe/Berlin'}]}"},
    {"alias", ENV_MIN, "{'previousId':'a-77f3','user_id':'u-1842'}"},
    {"consent_update", ENV_WEB,
     "{'granted':['analytics','personalization'],'denied':['advertising'],'source':'banner',"
     "'policyVersion':'2026-01','collectedAt':'2026-03-14T09:26:50+01:00'}"},
    {"recommendation_impression", ENV_APP,
     "{'requestId':'123e4567-e89b-12d3-a456-426614174000','modelVersion':'m7.3',"
     "'surface':'home_carousel','items':[{'itemId':'i1','position':0,'score':0.93},"
     "{'item_id':'i2','position':1,'score':-1.5e-3},{'itemId':'i3','position':2}]}"},
    {"recommendation_outcome", ENV_MIN,
     "{'request_id':'123e4567-e89b-12d3-a456-426614174000','itemId':'i2','action':'purchase',"
     "'position':1,'value':49.99}"},
};

#define N_EVENTS (sizeof(events) / sizeof(events[0]))

static const char *event_json(size_t i) {
    const event_row_t *r = &events[i];
    sl_buf_t b;
    sl_buf_init(&b, scratch, 1024);
    sl_buf_printf(&b, "{'event_id':'evt-%02zu','type':'%s',%s,'properties':%s}", i, r->type,
                  r->envelope, r->properties);
    return sl_buf_cstr(&b);
}

Test(canonical, the_catalog_has_sixteen_contracts_and_each_has_a_row) {
    cr_assert(eq(sz, sl_contracts_count(catalog()), N_EVENTS));
    for (size_t i = 0; i < sl_contracts_count(catalog()); i++) {
        const char *type = sl_contracts_at(catalog(), i)->event_type;
        bool found = false;
        for (size_t k = 0; k < N_EVENTS && !found; k++) {
            found = strcmp(events[k].type, type) == 0;
        }
        cr_expect(found, "no event row for contract %s", type);
    }
}

Test(canonical, every_contract_json_and_protobuf_give_the_same_bytes) {
    for (size_t i = 0; i < N_EVENTS; i++) {
        char *body = batch1(event_json(i));
        /* Guard against a vacuous pass: the event reached its contract and has properties. */
        sl_request_t *req = submit_json(catalog(), body);
        expect_all_pending(req, events[i].type);
        cr_assert(req->events[0].contract != NULL &&
                      strcmp(req->events[0].contract->event_type, events[i].type) == 0,
                  "%s: contract", events[i].type);
        bytes_t j = value(req, 0, false);
        cr_expect(strstr(j.p, "\"properties\":{\"") != NULL, "%s: properties empty: %s",
                  events[i].type, j.p);
        cr_expect(strstr(j.p, "\"context\":{\"") != NULL, "%s: no context: %s", events[i].type,
                  j.p);
        sl_request_free(req);
        round_trip(catalog(), body, events[i].type);
    }
}

Test(canonical, every_contract_in_one_batch) {
    sl_buf_t b;
    sl_buf_init(&b, scratch, 8192);
    sl_buf_puts(&b, "{'batch_id':'b-1','sent_at':'2026-03-14T09:27:00Z','events':[");
    for (size_t i = 0; i < N_EVENTS; i++) {
        sl_buf_append(&b, ",", i > 0);
        sl_buf_puts(&b, event_json(i));
    }
    sl_buf_puts(&b, "]}");
    round_trip(catalog(), jq(sl_buf_cstr(&b)), "all sixteen");
}

/* --- b. the exact canonical form ----------------------------------------------------------- */

static void expect_json_value(const sl_request_t *req, size_t i, const char *want_jq) {
    bytes_t got = value(req, i, false);
    const char *want = jq(want_jq);
    cr_expect(eq(str, (char *)got.p, (char *)want));
}

Test(canonical, exact_json_strip_nulls_empties_offsets_numbers) {
    t_publish(T_SETS("contracts.unknown_fields=strip", "log.level=error"));
    char *body = batch1(
        "{'properties':{'currency':'EUR','colour':'red','price':9.50,'sku':null,'name':'',"
        "'productId':'p-1'},'extra':{'x':[1,2]},'device_id':null,'session_id':'',"
        "'context':{'page':{'title':'','url':'https://shop.example.com/p/1'},'locale':'de-DE',"
        "'geo':null},'user_id':'u-1','occurred_at':'2026-03-14T10:26:53.5+01:00',"
        "'type':'product_view','event_id':'e-1'}");
    sl_request_t *req = submit_json(catalog(), body);
    expect_all_pending(req, "product_view");
    expect_json_value(req, 0,
                      "{'event_id':'e-1','type':'product_view',"
                      "'occurred_at':'2026-03-14T09:26:53.500Z','user_id':'u-1',"
                      "'context':{'locale':'de-DE','page':{'url':'https://shop.example.com/p/1'}},"
                      "'properties':{'product_id':'p-1','price':9.5,'currency':'EUR'}}");

    /* The protobuf value, written out field by field. */
    sl_buf_t want, ctx, page, props;
    sl_buf_init(&want, scratch, 256);
    sl_buf_init(&ctx, scratch, 64);
    sl_buf_init(&page, scratch, 64);
    sl_buf_init(&props, scratch, 64);
    pb_put_bytes(&page, 1, "https://shop.example.com/p/1", 28);
    pb_put_bytes(&ctx, 3, "de-DE", 5);
    pb_put_bytes(&ctx, 5, page.data, page.len);
    pb_put_bytes(&props, 1, "p-1", 3);
    pb_put_tag(&props, 5, WT_FIXED64);
    pb_put_fixed64(&props, 0x4023000000000000u); /* 9.5 */
    pb_put_bytes(&props, 6, "EUR", 3);
    pb_put_bytes(&want, 1, "e-1", 3);
    pb_put_bytes(&want, 2, "product_view", 12);
    pb_put_bytes(&want, 3, "2026-03-14T09:26:53.500Z", 24);
    pb_put_bytes(&want, 4, "u-1", 3);
    pb_put_bytes(&want, 9, ctx.data, ctx.len);
    pb_put_bytes(&want, 11, props.data, props.len);
    expect_same("product_view", true, value(req, 0, true), (bytes_t){want.data, want.len});
    sl_request_free(req);
    round_trip(catalog(), body, "product_view, strip");
}

Test(canonical, exact_json_epoch_ms_int64_strings_and_integral_doubles) {
    char *body = jq("{'events':["
                    "{'event_id':'e-2','type':'search','occurred_at':1773480413589,"
                    "'anonymousId':'a-1','properties':{'filters':[{'value':'42','field':'size'}],"
                    "'resultCount':'12','query':'shoes'}},"
                    "{'event_id':'e-3','type':'add_to_cart','occurred_at':0,'user_id':'u',"
                    "'properties':{'price':2.0,'quantity':3.0,'productId':'p','cartId':'c',"
                    "'currency':'EUR'}},"
                    "{'event_id':'e-4','type':'checkout_started','occurred_at':"
                    "'2026-03-14T09:26:53.58912-00:30','user_id':'u','properties':"
                    "{'cartId':'c','value':0.1,'itemCount':'0'}},"
                    "{'event_id':'e-5','type':'search','occurred_at':'2026-03-14T09:26:53Z',"
                    "'user_id':'u','properties':{'query':'a','result_count':9007199254740993}}"
                    "]}");
    sl_request_t *req = submit_json(catalog(), body);
    expect_all_pending(req, "batch");
    expect_json_value(req, 0,
                      "{'event_id':'e-2','type':'search','occurred_at':'2026-03-14T09:26:53.589Z',"
                      "'anonymous_id':'a-1','properties':{'query':'shoes','result_count':'12',"
                      "'filters':[{'field':'size','value':'42'}]}}");
    expect_json_value(req, 1,
                      "{'event_id':'e-3','type':'add_to_cart','occurred_at':"
                      "'1970-01-01T00:00:00.000Z','user_id':'u','properties':{'cart_id':'c',"
                      "'product_id':'p','quantity':3,'price':2,'currency':'EUR'}}");
    expect_json_value(req, 2,
                      "{'event_id':'e-4','type':'checkout_started','occurred_at':"
                      "'2026-03-14T09:56:53.589Z','user_id':'u','properties':{'cart_id':'c',"
                      "'value':0.1}}");
    expect_json_value(req, 3,
                      "{'event_id':'e-5','type':'search','occurred_at':'2026-03-14T09:26:53.000Z',"
                      "'user_id':'u','properties':{'query':'a','result_count':"
                      "'9007199254740993'}}");
    sl_request_free(req);
    round_trip(catalog(), body, "exact batch");
}

Test(canonical, exact_json_whole_doubles_without_exponent) {
    /* Whole numbers below 1e15 are written as integers: 100, not the "1e+02" of "%.1g" (the
     * exponent form is what proto3 JSON printers use from 1e21 up). */
    char *body = batch1("{'event_id':'e','type':'purchase','occurred_at':0,'properties':"
                        "{'order_id':'o','revenue':100,'currency':'EUR','items':[{'product_id':"
                        "'p','price':10},{'product_id':'q','price':120.0}]}}");
    sl_request_t *req = submit_json(catalog(), body);
    expect_all_pending(req, "purchase");
    expect_json_value(req, 0,
                      "{'event_id':'e','type':'purchase','occurred_at':'1970-01-01T00:00:00.000Z',"
                      "'properties':{'order_id':'o','items':[{'product_id':'p','price':10},"
                      "{'product_id':'q','price':120}],'revenue':100,'currency':'EUR'}}");
    sl_request_free(req);
    round_trip(catalog(), body, "whole doubles");
}

/* --- c. non-canonical protobuf input ------------------------------------------------------- */

/* Raw bytes, for encodings the pb.h writer never produces (non-minimal varints). */
static void put_raw(sl_buf_t *b, const char *bytes, size_t n) {
    sl_buf_append(b, bytes, n);
}

static void put_str(sl_buf_t *b, uint32_t field, const char *s) {
    pb_put_bytes(b, field, s, strlen(s));
}

static void put_msg(sl_buf_t *b, uint32_t field, const sl_buf_t *m) {
    pb_put_bytes(b, field, m->data, m->len);
}

static void put_varint_field(sl_buf_t *b, uint32_t field, uint64_t v) {
    pb_put_tag(b, field, WT_VARINT);
    pb_put_varint(b, v);
}

static void put_double_field(sl_buf_t *b, uint32_t field, double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    pb_put_tag(b, field, WT_FIXED64);
    pb_put_fixed64(b, bits);
}

static void put_float_field(sl_buf_t *b, uint32_t field, float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    pb_put_tag(b, field, WT_FIXED32);
    pb_put_fixed32(b, bits);
}

static sl_buf_t *new_buf(void) {
    sl_buf_t *b = sl_arena_alloc(scratch, sizeof(*b));
    sl_buf_init(b, scratch, 256);
    return b;
}

/* One event as a batch body. */
static sl_buf_t *batch_pb(const sl_buf_t *event) {
    sl_buf_t *b = new_buf();
    put_msg(b, 3, event);
    return b;
}

/* The JSON batch and the protobuf batch (one event each) give the same values, and the JSON
 * value is want. */
static void expect_equivalent(sl_contracts_t *c, const char *json_body, const sl_buf_t *pb_body,
                              const char *want_jq) {
    sl_request_t *j = submit_json(c, json_body);
    sl_request_t *p = submit_pb(c, pb_body);
    expect_all_pending(j, "JSON");
    expect_all_pending(p, "protobuf");
    cr_assert(eq(sz, j->n_events, 1));
    cr_assert(eq(sz, p->n_events, 1));
    expect_same("protobuf in vs JSON in", false, value(p, 0, false), value(j, 0, false));
    expect_same("protobuf in vs JSON in", true, value(p, 0, true), value(j, 0, true));
    if (want_jq != NULL) {
        expect_json_value(j, 0, want_jq);
    }
    sl_request_free(p);
    sl_request_free(j);
}

Test(canonical, non_canonical_protobuf_purchase) {
    sl_buf_t *item1 = new_buf(), *item2 = new_buf(), *item3 = new_buf(), *props = new_buf();
    /* Nested fields out of order; quantity 2 as a two-byte varint (0x82 0x00). */
    put_raw(item1, "\x18\x82\x00", 3);
    put_str(item1, 1, "p-1");
    put_double_field(item2, 4, 9.5);
    put_str(item2, 1, "p-2");
    put_str(item2, 2, ""); /* explicit empty string */
    put_str(item3, 1, "p-3");
    put_double_field(item3, 4, 0.0); /* explicit zero */
    /* Out of order, items split by other fields, order_id twice (the last wins). */
    put_str(props, 4, "EUR");
    put_msg(props, 2, item1);
    put_str(props, 5, "");
    put_double_field(props, 3, 19.0);
    put_str(props, 1, "o-OLD");
    put_msg(props, 2, item2);
    put_msg(props, 2, item3);
    put_str(props, 1, "o-1");

    sl_buf_t *page = new_buf(), *ctx = new_buf(), *consent = new_buf(), *ev = new_buf();
    put_str(page, 1, "https://shop.example.com/checkout");
    put_msg(ctx, 5, page);
    put_str(ctx, 3, "en-GB");
    put_str(consent, 1, "analytics");
    put_str(consent, 1, "advertising");
    put_msg(ev, 11, props);
    put_msg(ev, 10, consent);
    put_raw(ev, "\x12\x88\x00purchase", 11); /* type, its length as a two-byte varint */
    put_str(ev, 4, "");                      /* user_id: explicit empty */
    put_msg(ev, 9, ctx);
    put_str(ev, 3, "2026-03-14T10:26:53.589+01:00");
    put_str(ev, 6, "s-1");
    put_str(ev, 1, "e-c");

    char *json =
        batch1("{'event_id':'e-c','type':'purchase','occurred_at':'2026-03-14T09:26:53.589Z',"
               "'session_id':'s-1','context':{'locale':'en-GB','page':{'url':"
               "'https://shop.example.com/checkout'}},'consent':{'purposes':['analytics',"
               "'advertising']},'properties':{'order_id':'o-1','items':[{'product_id':'p-1',"
               "'quantity':2},{'product_id':'p-2','price':9.5},{'product_id':'p-3'}],"
               "'revenue':19,'currency':'EUR'}}");
    expect_equivalent(catalog(), json, batch_pb(ev),
                      "{'event_id':'e-c','type':'purchase','occurred_at':"
                      "'2026-03-14T09:26:53.589Z','session_id':'s-1','context':{'locale':"
                      "'en-GB','page':{'url':'https://shop.example.com/checkout'}},'consent':"
                      "{'purposes':['analytics','advertising']},'properties':{'order_id':'o-1',"
                      "'items':[{'product_id':'p-1','quantity':2},{'product_id':'p-2',"
                      "'price':9.5},{'product_id':'p-3'}],'revenue':19,'currency':'EUR'}}");
}

Test(canonical, non_canonical_protobuf_every_scalar_kind) {
    sl_buf_t *props = new_buf(), *inner1 = new_buf(), *inner2 = new_buf(), *packed = new_buf();
    put_varint_field(props, 3, 0); /* f_int32: explicit zero */
    put_varint_field(props, 23, 5);
    put_str(props, 14, "first");
    pb_put_varint(packed, 6);
    pb_put_varint(packed, 7);
    put_msg(props, 23, packed); /* r_int32: a packed run between plain elements */
    put_varint_field(props, 13, 0);
    put_double_field(props, 1, 0.0);
    put_varint_field(props, 23, (uint64_t)-1); /* -1: ten bytes */
    put_str(props, 14, "second");              /* f_string twice: the last wins */
    put_varint_field(props, 36, 1);
    sl_buf_t *penum = new_buf();
    pb_put_varint(penum, 2);
    pb_put_varint(penum, 0);
    put_msg(props, 36, penum);
    put_str(props, 15, "");
    put_varint_field(props, 16, 0);
    put_str(inner1, 1, "a");
    put_msg(props, 37, inner1);
    put_varint_field(props, 4, 7);
    sl_buf_t *pcodes = new_buf();
    pb_put_varint(pcodes, 1);
    put_msg(inner2, 3, pcodes);
    put_varint_field(inner2, 3, 2);
    put_msg(props, 37, inner2);
    put_varint_field(props, 7, 5); /* f_sint32: zigzag 5 is -3 */
    put_float_field(props, 2, 0.0f);
    put_raw(props, "\x20\x07", 2); /* f_int64 again, the same value */

    sl_buf_t *ev = new_buf();
    put_msg(ev, 11, props);
    put_str(ev, 2, "all_types");
    put_str(ev, 1, "e-t");
    put_str(ev, 3, "2026-03-14T09:26:53Z");

    char *json = batch1(
        "{'event_id':'e-t','type':'all_types','occurred_at':'2026-03-14T09:26:53Z','properties':"
        "{'fString':'second','fInt64':'7','fSint32':-3,'rInt32':[5,6,7,-1],'rEnum':"
        "['COLOUR_RED',2,'COLOUR_UNSPECIFIED'],'rInner':[{'label':'a'},{'codes':[1,2]}],"
        "'fInt32':0,'fBool':false,'fDouble':0,'fBytes':'','fEnum':'COLOUR_UNSPECIFIED',"
        "'fFloat':0.0}}");
    expect_equivalent(alltypes(), json, batch_pb(ev),
                      "{'event_id':'e-t','type':'all_types','occurred_at':"
                      "'2026-03-14T09:26:53.000Z','properties':{'f_int64':'7','f_sint32':-3,"
                      "'f_string':'second','r_int32':[5,6,7,-1],'r_enum':['COLOUR_RED',"
                      "'COLOUR_GREEN','COLOUR_UNSPECIFIED'],'r_inner':[{'label':'a'},"
                      "{'codes':[1,2]}]}}");
}

Test(canonical, singular_message_given_twice_is_merged) {
    /* The protobuf encoding merges repeated occurrences of an embedded message field (scalars
     * last-wins, repeated fields concatenated, sub-messages merged), which is what protobuf
     * libraries produce from concatenated messages: Event.context {locale} then {page} is one
     * context holding both. */
    sl_buf_t *ctx1 = new_buf(), *ctx2 = new_buf(), *page = new_buf(), *props = new_buf();
    put_str(ctx1, 3, "de-DE");
    put_str(page, 1, "https://a.example/");
    put_msg(ctx2, 5, page);
    put_str(props, 1, "Home");
    sl_buf_t *ev = new_buf();
    put_str(ev, 1, "e-m");
    put_str(ev, 2, "screen_view");
    put_str(ev, 3, "2026-03-14T09:26:53Z");
    put_msg(ev, 9, ctx1);
    put_msg(ev, 9, ctx2);
    put_msg(ev, 11, props);
    char *json = batch1("{'event_id':'e-m','type':'screen_view','occurred_at':"
                        "'2026-03-14T09:26:53Z','context':{'locale':'de-DE','page':{'url':"
                        "'https://a.example/'}},'properties':{'name':'Home'}}");
    expect_equivalent(catalog(), json, batch_pb(ev), NULL);
}

Test(canonical, required_field_overridden_by_a_later_default_is_missing) {
    /* Purchase.revenue is required (on the wire: non-zero). Given twice, 19.0 then 0.0, the last
     * occurrence is the value, so the field is missing — not satisfied by the earlier one. */
    sl_buf_t *props = new_buf(), *ev = new_buf();
    put_str(props, 1, "o");
    put_double_field(props, 3, 19.0);
    put_str(props, 4, "EUR");
    put_double_field(props, 3, 0.0);
    put_str(ev, 1, "e-r");
    put_str(ev, 2, "purchase");
    put_str(ev, 3, "2026-03-14T09:26:53Z");
    put_msg(ev, 11, props);
    sl_request_t *req = submit_pb(catalog(), batch_pb(ev));
    cr_assert(eq(int, req->fault, SL_FAULT_NONE));
    cr_expect(eq(int, req->events[0].outcome, SL_OUT_INVALID), "accepted: %s",
              value(req, 0, false).p);
    cr_expect(eq(str, (char *)(req->events[0].code ? req->events[0].code : ""), "missing_field"));
    sl_request_free(req);
}

/* --- d. protobuf failures: per event, with paths ------------------------------------------- */

/* An Event with the given id, type and properties (NULL: none), occurred_at set. */
static sl_buf_t *pb_event(const char *id, const char *type, const sl_buf_t *props) {
    sl_buf_t *ev = new_buf();
    put_str(ev, 1, id);
    put_str(ev, 2, type);
    put_str(ev, 3, "2026-03-14T09:26:53Z");
    if (props != NULL) {
        put_msg(ev, 11, props);
    }
    return ev;
}

static sl_buf_t *screen_view_props(const char *name) {
    sl_buf_t *p = new_buf();
    put_str(p, 1, name);
    return p;
}

typedef struct {
    const char *event_id; /* expected in the result; NULL: none can be given */
    const char *code;     /* NULL: pending */
    const char *message;  /* exact, or NULL to check the code only */
} want_t;

static void expect_events(const sl_request_t *req, const want_t *want, size_t n) {
    cr_assert(eq(int, req->fault, SL_FAULT_NONE), "fault %s: %s", req->fault_err.code,
              req->fault_err.message);
    cr_assert(eq(sz, req->n_events, n));
    for (size_t i = 0; i < n; i++) {
        const sl_event_t *ev = &req->events[i];
        const want_t *w = &want[i];
        if (w->event_id == NULL) {
            cr_expect(ev->event_id == NULL, "event %zu: event_id %.*s", i, (int)ev->event_id_len,
                      ev->event_id);
        } else {
            cr_expect(ev->event_id != NULL && ev->event_id_len == strlen(w->event_id) &&
                          memcmp(ev->event_id, w->event_id, ev->event_id_len) == 0,
                      "event %zu: event_id %.*s, want %s", i, (int)ev->event_id_len,
                      ev->event_id != NULL ? ev->event_id : "(none)", w->event_id);
        }
        if (w->code == NULL) {
            cr_expect(eq(int, ev->outcome, SL_OUT_PENDING), "event %zu (%s): %s: %s", i,
                      w->event_id, ev->code, ev->message);
            continue;
        }
        cr_expect(eq(int, ev->outcome, SL_OUT_INVALID), "event %zu (%s) is %s, want %s", i,
                  w->event_id, sl_outcome_name(ev->outcome), w->code);
        cr_expect(ev->code != NULL && strcmp(ev->code, w->code) == 0,
                  "event %zu (%s): code %s, want %s (%s)", i, w->event_id, ev->code, w->code,
                  ev->message);
        if (w->message != NULL) {
            cr_expect(ev->message != NULL && strcmp(ev->message, w->message) == 0,
                      "event %zu (%s): message\n  got:  %s\n  want: %s", i, w->event_id,
                      ev->message, w->message);
        }
    }
}

/* A batch in which every event but the first and the last fails at the wire level. */
static sl_buf_t *failing_batch(void) {
    sl_buf_t *b = new_buf();
    put_msg(b, 3, pb_event("ok-0", "screen_view", screen_view_props("Home")));

    sl_buf_t *p = new_buf(); /* order_id is a string: a varint is the wrong wire type */
    put_varint_field(p, 1, 7);
    put_double_field(p, 3, 1);
    put_str(p, 4, "EUR");
    put_msg(b, 3, pb_event("bad-wire-type", "purchase", p));

    p = new_buf();
    put_str(p, 1, "caf\xc3");
    put_msg(b, 3, pb_event("bad-utf8", "search", p));

    sl_buf_t *ev = pb_event("bad-utf8-envelope", "screen_view", screen_view_props("Home"));
    sl_buf_t *page = new_buf(), *ctx = new_buf();
    put_str(page, 3, "\xed\xa0\x80"); /* a UTF-16 surrogate, encoded */
    put_msg(ctx, 5, page);
    put_msg(ev, 9, ctx);
    put_msg(b, 3, ev);

    p = screen_view_props("Home");
    put_varint_field(p, 99, 1);
    put_msg(b, 3, pb_event("unknown-field", "screen_view", p));

    ev = pb_event("unknown-envelope-field", "screen_view", screen_view_props("Home"));
    put_str(ev, 42, "x");
    put_msg(b, 3, ev);

    put_msg(b, 3, pb_event("unknown-type", "no_such_type", screen_view_props("x")));

    ev = pb_event("truncated", "screen_view", screen_view_props("Home"));
    ev->len -= 2; /* into the properties */
    put_msg(b, 3, ev);

    put_msg(b, 3, pb_event("no-url", "page_view", NULL));

    p = new_buf();
    put_str(p, 1, "cmp");
    put_str(p, 3, "ignored");
    put_msg(b, 3, pb_event("not-allowed", "notification_response", p));

    ev = new_buf(); /* event_id not UTF-8: no id to answer with */
    put_str(ev, 1, "\xff");
    put_str(ev, 2, "screen_view");
    put_msg(b, 3, ev);

    put_msg(b, 3, pb_event("ok-11", "screen_view", screen_view_props("End")));
    return b;
}

Test(canonical, protobuf_failures_are_per_event_with_paths) {
    sl_request_t *req = submit_pb(catalog(), failing_batch());
    const want_t want[] = {
        {"ok-0", NULL, NULL},
        {"bad-wire-type", "wrong_type",
         "properties.order_id: wire type 0 where the field's type needs 2"},
        {"bad-utf8", "wrong_type", "properties.query: a string must be UTF-8"},
        {"bad-utf8-envelope", "wrong_type", "context.page.title: a string must be UTF-8"},
        {"unknown-field", "unknown_field",
         "properties.#99: field number 99 is not in sluice.events.v1.ScreenView"},
        {"unknown-envelope-field", "unknown_field", NULL}, /* see the next test */
        {"unknown-type", "unknown_type", "type: no contract for event type \"no_such_type\""},
        {"truncated", "malformed_protobuf", NULL},
        {"no-url", "missing_field", "properties.url: required field is missing"},
        {"not-allowed", "not_allowed",
         "properties.action: \"ignored\" is not one of the allowed values"},
        {NULL, "wrong_type", "event_id: a string must be UTF-8"},
        {"ok-11", NULL, NULL},
    };
    expect_events(req, want, sizeof(want) / sizeof(want[0]));

    /* The answer names every failed event by its id. */
    sl_buf_t out;
    sl_buf_init(&out, req->arena, 1024);
    sl_response_render(req, &out);
    const char *body = sl_buf_cstr(&out);
    for (size_t i = 1; i + 2 < sizeof(want) / sizeof(want[0]); i++) {
        char needle[96];
        snprintf(needle, sizeof(needle),
                 "{\"index\":%zu,\"event_id\":\"%s\",\"status\":\"invalid\"", i, want[i].event_id);
        cr_expect(strstr(body, needle) != NULL, "%s not in %s", needle, body);
    }
    cr_expect(strstr(body, "{\"index\":10,\"event_id\":null,\"status\":\"invalid\"") != NULL, "%s",
              body);
    cr_expect(strstr(body, "\"received\":12,") != NULL, "%s", body);
    sl_request_free(req);
}

Test(canonical, unknown_envelope_field_path_has_no_leading_dot) {
    /* An unknown field number of the event itself has the path "#42", like "event_id" at the
     * root (and "extra" for an unknown JSON member), not ".#42". */
    sl_buf_t *ev = pb_event("e", "screen_view", screen_view_props("Home"));
    put_str(ev, 42, "x");
    sl_request_t *req = submit_pb(catalog(), batch_pb(ev));
    const want_t want[] = {
        {"e", "unknown_field", "#42: field number 42 is not in sluice.v1.Event"},
    };
    expect_events(req, want, 1);
    sl_request_free(req);
}

Test(canonical, strip_mode_drops_unknown_field_numbers) {
    t_publish(T_SETS("contracts.unknown_fields=strip", "log.level=error"));
    sl_request_t *req = submit_pb(catalog(), failing_batch());
    const want_t want[] = {
        {"ok-0", NULL, NULL},
        {"bad-wire-type", "wrong_type", NULL},
        {"bad-utf8", "wrong_type", NULL},
        {"bad-utf8-envelope", "wrong_type", NULL},
        {"unknown-field", NULL, NULL},
        {"unknown-envelope-field", NULL, NULL},
        {"unknown-type", "unknown_type", NULL},
        {"truncated", "malformed_protobuf", NULL},
        {"no-url", "missing_field", NULL},
        {"not-allowed", "not_allowed", NULL},
        {NULL, "wrong_type", NULL},
        {"ok-11", NULL, NULL},
    };
    expect_events(req, want, sizeof(want) / sizeof(want[0]));
    /* What is produced is the event without the unknown fields, as JSON input gives it. */
    char *json = jq("{'events':["
                    "{'event_id':'unknown-field','type':'screen_view','occurred_at':"
                    "'2026-03-14T09:26:53Z','properties':{'name':'Home','extra':1}},"
                    "{'event_id':'unknown-envelope-field','type':'screen_view','occurred_at':"
                    "'2026-03-14T09:26:53Z','properties':{'name':'Home'},'extra':'x'}]}");
    sl_request_t *j = submit_json(catalog(), json);
    expect_all_pending(j, "JSON");
    for (size_t i = 0; i < 2; i++) {
        expect_same("stripped", false, value(req, 4 + i, false), value(j, i, false));
        expect_same("stripped", true, value(req, 4 + i, true), value(j, i, true));
    }
    sl_request_free(j);
    sl_request_free(req);
}

Test(canonical, a_nul_in_a_protobuf_string_fails_only_its_event) {
    /* A protobuf string may hold U+0000 (valid UTF-8), which JSON input cannot (\u0000 is refused)
     * and the transcoded document could not carry: that event is invalid, the others go on. */
    sl_buf_t *b = new_buf(), *p = new_buf();
    put_msg(b, 3, pb_event("ok-0", "screen_view", screen_view_props("Home")));
    put_str(p, 1, "https://a.example/");
    pb_put_bytes(p, 3, "a\0b", 3);
    put_msg(b, 3, pb_event("nul", "page_view", p));
    sl_request_t *req = submit_pb(catalog(), b);
    const want_t want[] = {{"ok-0", NULL, NULL}, {"nul", "wrong_type", NULL}};
    expect_events(req, want, 2);
    sl_request_free(req);
}

Test(canonical, batch_fields_and_batch_faults) {
    /* batch_id, sent_at and token are read; the answer carries batch_id. */
    sl_buf_t *b = new_buf();
    put_str(b, 1, "b-9");
    put_str(b, 2, "2026-03-14T09:27:00Z");
    put_str(b, 4, "tok");
    put_msg(b, 3, pb_event("e", "screen_view", screen_view_props("Home")));
    sl_request_t *req = submit_pb(catalog(), b);
    expect_all_pending(req, "batch fields");
    cr_expect(req->batch_id != NULL && strcmp(req->batch_id, "b-9") == 0);
    sl_request_free(req);

    /* An EventBatch field number it does not have. */
    b = new_buf();
    put_msg(b, 3, pb_event("e", "screen_view", screen_view_props("Home")));
    put_str(b, 5, "x");
    req = submit_pb(catalog(), b);
    cr_expect(eq(int, req->fault, SL_FAULT_BAD_REQUEST));
    cr_expect(eq(str, (char *)req->fault_err.code, "unknown_batch_field"));
    sl_request_free(req);

    /* sent_at that is not a timestamp: the same fault as in JSON. */
    b = new_buf();
    put_str(b, 2, "yesterday");
    put_msg(b, 3, pb_event("e", "screen_view", screen_view_props("Home")));
    req = submit_pb(catalog(), b);
    cr_expect(eq(int, req->fault, SL_FAULT_BAD_REQUEST));
    cr_expect(eq(str, (char *)req->fault_err.code, "invalid_timestamp"));
    sl_request_free(req);

    /* Not protobuf: a batch field with a varint, a length past the end, a zero field number. */
    static const char *const bad[] = {"\x08\x01", "\x1a\x05\x0a", "\x02\x00"};
    static const size_t bad_len[] = {2, 3, 2};
    for (size_t i = 0; i < 3; i++) {
        req = submit(catalog(), PROTO, bad[i], bad_len[i]);
        cr_expect(eq(int, req->fault, SL_FAULT_BAD_REQUEST), "input %zu", i);
        cr_expect(eq(str, (char *)req->fault_err.code, "malformed_protobuf"), "input %zu: %s", i,
                  req->fault_err.message);
        sl_request_free(req);
    }
}

Test(canonical, too_many_events_in_a_protobuf_batch) {
    t_publish(T_SETS("limits.max_events_per_batch=3", "log.level=error"));
    sl_buf_t *b = new_buf();
    for (int i = 0; i < 3; i++) {
        put_msg(b, 3, pb_event("e", "screen_view", screen_view_props("Home")));
    }
    sl_request_t *req = submit_pb(catalog(), b);
    expect_all_pending(req, "three events");
    cr_expect(eq(sz, req->n_events, 3));
    sl_request_free(req);
    /* One more, even an empty one, is over the limit: nothing is decoded. */
    pb_put_bytes(b, 3, "", 0);
    req = submit_pb(catalog(), b);
    cr_expect(eq(int, req->fault, SL_FAULT_TOO_LARGE));
    cr_expect(eq(str, (char *)req->fault_err.code, "too_many_events"));
    cr_expect(eq(sz, req->n_events, 0));
    sl_request_free(req);
}

/* --- e. every scalar kind (tests/unit/contracts/protos/alltypes.proto) --------------------- */

static char *all_types_batch(const char *properties_jq) {
    sl_buf_t b;
    sl_buf_init(&b, scratch, 1024);
    sl_buf_printf(&b,
                  "{'event_id':'e-all','type':'all_types','occurred_at':"
                  "'2026-03-14T09:26:53.589Z','properties':%s}",
                  properties_jq);
    return batch1(sl_buf_cstr(&b));
}

/* The properties of event 0 of req as canonical JSON equal want. */
static void expect_properties(const sl_request_t *req, const char *want_jq) {
    bytes_t v = value(req, 0, false);
    const char *p = strstr(v.p, ",\"properties\":");
    cr_assert(p != NULL, "%s", v.p);
    p += strlen(",\"properties\":");
    char *want = jq(want_jq);
    size_t n = strlen(want);
    cr_expect(strlen(p) == n + 1 && memcmp(p, want, n) == 0 && p[n] == '}',
              "properties\n  got:  %.*s\n  want: %s", (int)strlen(p) - 1, p, want);
}

Test(canonical, every_scalar_kind_singular) {
    char *body = all_types_batch(
        "{'fDouble':1e21,'fFloat':0.1,'fInt32':-42,'fInt64':'9007199254740993',"
        "'fUint32':4294967295,'fUint64':'18446744073709551615','fSint32':-2147483648,"
        "'fSint64':'-9223372036854775808','fFixed32':4294967295,'fFixed64':"
        "'18446744073709551615','fSfixed32':-1,'fSfixed64':'-9007199254740993','fBool':true,"
        "'fString':'h\\u00e9llo \\'w\\'\\n\\/','fBytes':'-_8','fEnum':'COLOUR_GREEN',"
        "'fInner':{'label':'in','delta':'-5','codes':[1,-1,300]}}");
    sl_request_t *req = submit_json(alltypes(), body);
    expect_all_pending(req, "all_types");
    expect_properties(req, "{'f_double':1e+21,'f_float':0.1,'f_int32':-42,"
                           "'f_int64':'9007199254740993','f_uint32':4294967295,"
                           "'f_uint64':'18446744073709551615','f_sint32':-2147483648,"
                           "'f_sint64':'-9223372036854775808','f_fixed32':4294967295,"
                           "'f_fixed64':'18446744073709551615','f_sfixed32':-1,"
                           "'f_sfixed64':'-9007199254740993','f_bool':true,"
                           "'f_string':'h\xc3\xa9llo \\'w\\'\\u000a/','f_bytes':'+/8=',"
                           "'f_enum':'COLOUR_GREEN','f_inner':{'label':'in','delta':'-5',"
                           "'codes':[1,-1,300]}}");
    sl_request_free(req);
    round_trip(alltypes(), body, "all_types singular");
}

Test(canonical, every_scalar_kind_repeated_and_packed) {
    char *body = all_types_batch(
        "{'rDouble':['NaN','Infinity','-Infinity',0,-0.0,2.5,0.30000000000000004,1e300,-1.5e-7],"
        "'rFloat':[0.1,3.4e38,1.17549435e-38,-2.5,16777217,'NaN',100],"
        "'rInt32':[0,-1,2147483647,-2147483648,'12'],'rInt64':['-1','9223372036854775807',5,"
        "-9007199254740993],'rUint32':[0,1,4294967295],'rUint64':['0','18446744073709551615',7],"
        "'rSint32':[-1,1,2147483647],'rSint64':['-2','2','-9223372036854775808'],"
        "'rFixed32':[7,0],'rFixed64':['8'],'rSfixed32':[-7,2147483647],'rSfixed64':['-8'],"
        "'rBool':[true,false,true],'rString':['a','',' \\u00e9 '],'rBytes':['AQID','','_-8',"
        "'AQ=='],'rEnum':['COLOUR_RED',2,-3,0,'COLOUR_NEGATIVE'],'rInner':[{},{'label':'x',"
        "'codes':[]},{'delta':0,'codes':[0]}]}");
    sl_request_t *req = submit_json(alltypes(), body);
    expect_all_pending(req, "all_types");
    expect_properties(
        req, "{'r_double':['NaN','Infinity','-Infinity',0,-0,2.5,0.30000000000000004,1e+300,"
             "-1.5e-07],'r_float':[0.1,3.4e+38,1.1754944e-38,-2.5,16777216,'NaN',100],"
             "'r_int32':[0,-1,2147483647,-2147483648,12],'r_int64':['-1','9223372036854775807',"
             "'5','-9007199254740993'],'r_uint32':[0,1,4294967295],'r_uint64':['0',"
             "'18446744073709551615','7'],'r_sint32':[-1,1,2147483647],'r_sint64':['-2','2',"
             "'-9223372036854775808'],'r_fixed32':[7,0],'r_fixed64':['8'],'r_sfixed32':[-7,"
             "2147483647],'r_sfixed64':['-8'],'r_bool':[true,false,true],'r_string':['a','',"
             "' \xc3\xa9 '],'r_bytes':['AQID','','/+8=','AQ=='],'r_enum':['COLOUR_RED',"
             "'COLOUR_GREEN','COLOUR_NEGATIVE','COLOUR_UNSPECIFIED','COLOUR_NEGATIVE'],"
             "'r_inner':[{},{'label':'x'},{'codes':[0]}]}");
    sl_request_free(req);
    round_trip(alltypes(), body, "all_types repeated");
}

Test(canonical, specials_enums_and_bytes) {
    char *body = all_types_batch(
        "{'fDouble':'NaN','fFloat':'-Infinity','fInt64':-7,'fBytes':'AP8','fEnum':-3,"
        "'rEnum':[1,'COLOUR_GREEN'],'rBytes':['-_-_','AA'],'rDouble':['Infinity',-0.0]}");
    sl_request_t *req = submit_json(alltypes(), body);
    expect_all_pending(req, "all_types");
    expect_properties(req, "{'f_double':'NaN','f_float':'-Infinity','f_int64':'-7',"
                           "'f_bytes':'AP8=','f_enum':'COLOUR_NEGATIVE','r_double':['Infinity',"
                           "-0],'r_bytes':['+/+/','AA=='],'r_enum':['COLOUR_RED','COLOUR_GREEN']}");
    sl_request_free(req);
    round_trip(alltypes(), body, "specials");

    /* Defaults are left out whichever spelling they come in. */
    body = all_types_batch("{'fDouble':0.0,'fFloat':-0e0,'fInt32':'0','fInt64':'-0','fEnum':0,"
                           "'fBool':false,'fString':'','fBytes':'','fUint64':0,"
                           "'fSfixed64':'0','fInner':{},'rInt32':[],'rInner':[]}");
    req = submit_json(alltypes(), body);
    expect_all_pending(req, "defaults");
    expect_properties(req, "{'f_float':-0,'f_inner':{}}");
    sl_request_free(req);
    round_trip(alltypes(), body, "defaults");

    /* Values the types do not have. */
    static const char *const bad[] = {
        "{'fEnum':7}",
        "{'fEnum':'COLOUR_BLUE'}",
        "{'fInt32':2147483648}",
        "{'fUint32':-1}",
        "{'fUint64':'-1'}",
        "{'fInt64':1.5}",
        "{'fFloat':1e39}",
        "{'fBytes':'a b'}",
        "{'fBool':1}",
        "{'fDouble':'nan'}",
        "{'fSint32':'-2147483649'}",
        "{'rInt32':[1,'x']}",
        "{'fInner':{'x':1}}",
        "{'fString':1}",
        "{'rString':'a'}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req = submit_json(alltypes(), all_types_batch(bad[i]));
        cr_expect(eq(int, req->events[0].outcome, SL_OUT_INVALID), "%s accepted: %s", bad[i],
                  value(req, 0, false).p);
        sl_request_free(req);
    }
}

/* Protobuf in, each value written by hand in canonical form: the JSON is exact and the
 * protobuf produced is the input, byte for byte. */
Test(canonical, wire_values_of_every_kind) {
    sl_buf_t *p = new_buf(), *inner = new_buf(), *packed = new_buf();
    put_double_field(p, 1, 1e21);
    put_float_field(p, 2, 0.1f);
    put_varint_field(p, 3, (uint64_t)(int64_t)-42); /* int32: sign-extended, ten bytes */
    put_varint_field(p, 4, (uint64_t)9007199254740993LL);
    put_varint_field(p, 5, 4294967295u);
    put_varint_field(p, 6, UINT64_MAX);
    put_varint_field(p, 7, 4294967295u); /* sint32 zigzag: -2147483648 */
    put_varint_field(p, 8, UINT64_MAX);  /* sint64 zigzag: INT64_MIN */
    pb_put_tag(p, 9, WT_FIXED32);
    pb_put_fixed32(p, 0xffffffffu);
    pb_put_tag(p, 10, WT_FIXED64);
    pb_put_fixed64(p, UINT64_MAX);
    pb_put_tag(p, 11, WT_FIXED32);
    pb_put_fixed32(p, 0x80000000u); /* sfixed32 INT32_MIN */
    pb_put_tag(p, 12, WT_FIXED64);
    pb_put_fixed64(p, (uint64_t)-9007199254740993LL);
    put_varint_field(p, 13, 1);
    put_str(p, 14, "\xe2\x82\xac \"q\" \\");
    pb_put_bytes(p, 15, "\x00\xfb\xff", 3);
    put_varint_field(p, 16, (uint64_t)(int64_t)-3);
    put_str(inner, 1, "in");
    put_varint_field(inner, 2, 9); /* zigzag: -5 */
    put_msg(p, 17, inner);
    double ds[] = {-0.0, 2.5, 1e300}; /* packed: -0 is an element, not a default */
    for (size_t i = 0; i < 3; i++) {
        uint64_t bits;
        memcpy(&bits, &ds[i], sizeof(bits));
        pb_put_fixed64(packed, bits);
    }
    put_msg(p, 21, packed);
    sl_buf_t *pi = new_buf();
    pb_put_varint(pi, (uint64_t)(int64_t)-1);
    pb_put_varint(pi, 0);
    pb_put_varint(pi, 300);
    put_msg(p, 23, pi);

    sl_buf_t *ev = new_buf();
    put_str(ev, 1, "e-w");
    put_str(ev, 2, "all_types");
    put_str(ev, 3, "2026-03-14T09:26:53.589Z");
    put_msg(ev, 11, p);
    sl_request_t *req = submit_pb(alltypes(), batch_pb(ev));
    expect_all_pending(req, "wire");
    expect_properties(req, "{'f_double':1e+21,'f_float':0.1,'f_int32':-42,"
                           "'f_int64':'9007199254740993','f_uint32':4294967295,"
                           "'f_uint64':'18446744073709551615','f_sint32':-2147483648,"
                           "'f_sint64':'-9223372036854775808','f_fixed32':4294967295,"
                           "'f_fixed64':'18446744073709551615','f_sfixed32':-2147483648,"
                           "'f_sfixed64':'-9007199254740993','f_bool':true,"
                           "'f_string':'\xe2\x82\xac \\'q\\' \\\\','f_bytes':'APv/',"
                           "'f_enum':'COLOUR_NEGATIVE','f_inner':{'label':'in','delta':'-5'},"
                           "'r_double':[-0,2.5,1e+300],'r_int32':[-1,0,300]}");
    expect_same("wire in, protobuf out", true, value(req, 0, true), (bytes_t){ev->data, ev->len});
    sl_request_free(req);
}

Test(canonical, subnormals_are_written_shortest) {
    /* Subnormals carry fewer significant digits than normal numbers: the shortest form of the
     * smallest ones is one digit (5e-324, 1e-45), not what %.15g / %.6g print. */
    char *body = all_types_batch("{'fDouble':5e-324,'fFloat':1e-45,'rDouble':[2.2250738585072014e-"
                                 "308,1e-310],'rFloat':[1.1754944e-38,1e-40]}");
    sl_request_t *req = submit_json(alltypes(), body);
    expect_all_pending(req, "subnormals");
    expect_properties(req, "{'f_double':5e-324,'f_float':1e-45,'r_double':[2.2250738585072014e-"
                           "308,1e-310],'r_float':[1.1754944e-38,1e-40]}");
    sl_request_free(req);
    round_trip(alltypes(), body, "subnormals");
}

Test(canonical, the_largest_float_reads_back) {
    /* The canonical JSON of the float FLT_MAX is "3.4028235e+38", above FLT_MAX as a double but
     * FLT_MAX as a float: it must be accepted back (the canonical form is valid input). */
    char *body =
        all_types_batch("{'fFloat':3.4028234663852886e38,'rFloat':[-3.4028234663852886e38]}");
    sl_request_t *req = submit_json(alltypes(), body);
    expect_all_pending(req, "FLT_MAX");
    expect_properties(req, "{'f_float':3.4028235e+38,'r_float':[-3.4028235e+38]}");
    sl_request_free(req);
    round_trip(alltypes(), body, "FLT_MAX");
}

Test(canonical, int64_strings_out_of_range_are_refused) {
    /* Was a bug (fixed): pipeline/contract.c check_integer reads an integer given as a JSON string
     * with strtoll without checking errno, so a value outside int64 saturates instead of being
     * refused, and canonical.c int_bits (strtoll / strtoull, no errno either) produces the
     * saturated value: fInt64 "9223372036854775808" is produced as "9223372036854775807",
     * fUint64 "18446744073709551616" as "18446744073709551615", fInt64 "-9223372036854775809" as
     * "-9223372036854775808". Expected: invalid (out_of_range or wrong_type), as the same value
     * given as a JSON number already is, and as protobuf cannot carry it. */
    static const char *const bad[] = {
        "{'fInt64':'9223372036854775808'}", "{'fInt64':'-9223372036854775809'}",
        "{'fUint64':'18446744073709551616'}", "{'rSfixed64':['99999999999999999999']}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_request_t *req = submit_json(alltypes(), all_types_batch(bad[i]));
        cr_expect(eq(int, req->events[0].outcome, SL_OUT_INVALID), "%s accepted: %s", bad[i],
                  value(req, 0, false).p);
        sl_request_free(req);
    }
}

Test(canonical, uint64_above_int64_as_a_json_number) {
    /* Was a bug (fixed): pipeline/contract.c check_integer reads JSON numbers with sl_json_int
     * (int64 only), so a uint64 / fixed64 above INT64_MAX given as a JSON number is refused:
     * wrong_type "properties.f_uint64: expected an integer, got 18446744073709551615". proto3 JSON
     * accepts numbers as well as strings for 64-bit integers, the same value as a string is
     * accepted, and sluice's own transcoder writes it as a number for a protobuf event. Expected:
     * accepted, produced as "18446744073709551615". */
    char *body =
        all_types_batch("{'fUint64':18446744073709551615,'rFixed64':[9223372036854775808]}");
    sl_request_t *req = submit_json(alltypes(), body);
    expect_all_pending(req, "uint64 numbers");
    expect_properties(req,
                      "{'f_uint64':'18446744073709551615','r_fixed64':['9223372036854775808']}");
    sl_request_free(req);
}

Test(canonical, negative_zero_integer_elements) {
    /* Was a bug (fixed): contracts/canonical.c put_scalar_json (since 9586fc6; ef77b4c wrote these
     * right) copies the text of a JSON integer for a 32-bit field as it came, on the reasoning
     * that JSON integers are already canonical; "-0" is not. A singular -0 is a default and
     * left out, but an element is written: rInt32 [-0,1] is produced as [-0,1] from JSON and as
     * [0,1] from the same event sent as protobuf (the property this file is about). Expected
     * [0,1] both ways. */
    char *body = all_types_batch("{'rInt32':[-0,1],'rSint32':[-0],'rSfixed32':[-0],'rInt64':[-0]}");
    sl_request_t *req = submit_json(alltypes(), body);
    expect_all_pending(req, "-0");
    expect_properties(req, "{'r_int32':[0,1],'r_int64':['0'],'r_sint32':[0],'r_sfixed32':[0]}");
    sl_request_free(req);
    round_trip(alltypes(), body, "-0");
}

Test(canonical, envelope_ids_by_json_name_are_checked_too) {
    t_publish(T_SETS("limits.max_id_bytes=12", "log.level=error"));
    sl_buf_t *ev = pb_event("e", "screen_view", screen_view_props("Home"));
    put_str(ev, 4, "user-123456789");
    sl_request_t *p = submit_pb(catalog(), batch_pb(ev));
    char *json = jq("{'events':["
                    "{'event_id':'e','type':'screen_view','occurred_at':'2026-03-14T09:26:53Z',"
                    "'user_id':'user-123456789','properties':{'name':'Home'}},"
                    "{'event_id':'e','type':'screen_view','occurred_at':'2026-03-14T09:26:53Z',"
                    "'userId':'user-123456789','properties':{'name':'Home'}},"
                    "{'event_id':'e','type':'screen_view','occurred_at':'2026-03-14T09:26:53Z',"
                    "'anonymousId':7,'properties':{'name':'Home'}}]}");
    sl_request_t *j = submit_json(catalog(), json);
    const want_t want_p[] = {{"e", "too_long", "user_id: 14 bytes, over limits.max_id_bytes (12)"}};
    expect_events(p, want_p, 1);
    const want_t want_j[] = {
        {"e", "too_long", "user_id: 14 bytes, over limits.max_id_bytes (12)"},
        {"e", "too_long", NULL},
        {"e", "wrong_type", NULL},
    };
    expect_events(j, want_j, 3);
    sl_request_free(j);
    sl_request_free(p);
}

Test(canonical, timestamps_outside_rfc3339_years_are_refused) {
    /* Was a bug (fixed): pipeline/validate.c refuses epoch milliseconds past 9999-12-31 (9586fc6),
     * but an RFC 3339 string whose offset moves it outside years 0000-9999 passes
     * sl_time_parse_rfc3339, and core/timefmt.c sl_time_format_rfc3339 then clamps it (its
     * comment says "validation refuses them"): "0000-01-01T00:30:00+01:00" is produced as
     * "0000-01-01T00:00:00.000Z" and "9999-12-31T23:30:00-01:00" as
     * "9999-12-31T23:59:59.999Z", a different instant, silently. (At ef77b4c gmtime/printf
     * wrote "-001-12-31T23:30:00.000Z" and "10000-01-01T00:30:00.000", cut to 24 bytes without
     * its Z: not RFC 3339, so the same event sent as protobuf was refused.) Expected:
     * invalid_timestamp for all three. */
    char *json =
        jq("{'events':["
           "{'event_id':'e','type':'screen_view','occurred_at':'0000-01-01T00:30:00+01:00',"
           "'properties':{'name':'Home'}},"
           "{'event_id':'e','type':'screen_view','occurred_at':'9999-12-31T23:30:00-01:00',"
           "'properties':{'name':'Home'}},"
           "{'event_id':'e','type':'screen_view','occurred_at':253402300800000,"
           "'properties':{'name':'Home'}}]}");
    sl_request_t *j = submit_json(catalog(), json);
    const want_t want[] = {
        {"e", "invalid_timestamp", NULL},
        {"e", "invalid_timestamp", NULL},
        {"e", "invalid_timestamp", NULL},
    };
    expect_events(j, want, 3);
    sl_request_free(j);
}

Test(canonical, a_nul_in_the_event_id_of_an_invalid_event_fails_only_that_event) {
    /* Was a bug (fixed): pipeline/decode_proto.c transcode_event. An event that fails
     * sl_ct_validate_wire keeps its event_id for the result when it is at most 256 bytes of valid
     * UTF-8, and U+0000 is valid UTF-8: the id is written into the transcoded batch as \u0000,
     * which sl_json_parse refuses, so the whole batch fails (fault bad request, code
     * malformed_json, "the batch could not be decoded: \u0000 is not accepted in strings at byte
     * 132", an offset into the transcoded text, not the body). Input: a valid event, then an Event
     * whose event_id is "e\0". Expected: the first event pending, the second invalid (wrong_type
     * "event_id: a string must not contain U+0000") with no event_id. (9586fc6 made a NUL in
     * any other string fail only its event; this path was left.) */
    sl_buf_t *b = new_buf(), *ev = new_buf();
    put_msg(b, 3, pb_event("ok-0", "screen_view", screen_view_props("Home")));
    pb_put_bytes(ev, 1, "e\0", 2);
    put_str(ev, 2, "screen_view");
    put_str(ev, 3, "2026-03-14T09:26:53Z");
    put_msg(b, 3, ev);
    sl_request_t *req = submit_pb(catalog(), b);
    const want_t want[] = {{"ok-0", NULL, NULL}, {NULL, "wrong_type", NULL}};
    expect_events(req, want, 2);
    sl_request_free(req);
}

Test(canonical, an_empty_element_is_checked_like_any_other) {
    /* Was a bug (fixed): contracts/validate_wire.c check_string skips the format and allowed-values
     * checks when the string is empty (n > 0), which is right for a singular field ("" is its
     * default, i.e. absent) but not for an element of a repeated field, where "" is a value.
     * ConsentUpdate.granted ["analytics", ""] sent as protobuf is accepted and produced as
     * "granted":["analytics",""]; the same event sent as JSON is invalid, not_allowed
     * "properties.granted[1]: \"\" is not one of the allowed values" (so is the value sluice
     * produced, sent back as JSON). The same for the envelope's consent.purposes (whose JSON
     * side is also accepted today, see the next test). Expected: the same failure for both. */
    sl_buf_t *p = new_buf(), *consent = new_buf();
    put_str(p, 1, "analytics");
    put_str(p, 1, "");
    sl_buf_t *b = new_buf();
    put_msg(b, 3, pb_event("granted", "consent_update", p));
    sl_buf_t *ev = pb_event("purposes", "screen_view", screen_view_props("Home"));
    put_str(consent, 1, "");
    put_msg(ev, 10, consent);
    put_msg(b, 3, ev);
    sl_request_t *req = submit_pb(catalog(), b);
    char *json = jq("{'events':["
                    "{'event_id':'granted','type':'consent_update','occurred_at':"
                    "'2026-03-14T09:26:53Z','properties':{'granted':['analytics','']}},"
                    "{'event_id':'purposes','type':'screen_view','occurred_at':"
                    "'2026-03-14T09:26:53Z','consent':{'purposes':['']},'properties':"
                    "{'name':'Home'}}]}");
    sl_request_t *j = submit_json(catalog(), json);
    const want_t want[] = {
        {"granted", "not_allowed", "properties.granted[1]: \"\" is not one of the allowed values"},
        {"purposes", "not_allowed", "consent.purposes[0]: \"\" is not one of the allowed values"},
    };
    expect_events(j, want, 2);
    expect_events(req, want, 2);
    sl_request_free(j);
    sl_request_free(req);
}

Test(canonical, envelope_members_are_checked_at_every_depth) {
    /* Was a bug (fixed): pipeline/contract.c check_message. check_envelope walks sluice.v1.Event
     * with walk_t.envelope = true so that the members validate.c owns (numbers 1-5: event_id, type,
     * occurred_at, user_id, anonymous_id) are skipped, but the flag stays set while the walk
     * descends into context, consent and their messages, so fields 1-5 of Context, Geo, Page,
     * Screen, App, Campaign and Consent are never checked in a JSON event: not their type, rules
     * or format. Context.ip 12345 is produced as "12345", userAgent [1,2] as "[1,2]", geo "x" as
     * {}, page.url {"a":"b"} as "{\"a\":\"b\"}", title true as "true"; geo.lat 500, locale
     * "not a locale!" and consent.purposes ["telepathy"] are accepted, while the same events
     * sent as protobuf are refused (the wire validator checks every depth). Expected: each
     * event invalid with the path of the member at fault. */
    char *json =
        jq("{'events':["
           "{'event_id':'lat','type':'screen_view','occurred_at':0,'context':{'geo':{'lat':500}},"
           "'properties':{'name':'H'}},"
           "{'event_id':'locale','type':'screen_view','occurred_at':0,'context':{'locale':"
           "'not a locale!'},'properties':{'name':'H'}},"
           "{'event_id':'purposes','type':'screen_view','occurred_at':0,'consent':{'purposes':"
           "['telepathy']},'properties':{'name':'H'}},"
           "{'event_id':'ip','type':'screen_view','occurred_at':0,'context':{'ip':12345},"
           "'properties':{'name':'H'}},"
           "{'event_id':'geo','type':'screen_view','occurred_at':0,'context':{'geo':'x'},"
           "'properties':{'name':'H'}},"
           "{'event_id':'url','type':'screen_view','occurred_at':0,'context':{'page':{'url':"
           "{'a':'b'}}},'properties':{'name':'H'}},"
           "{'event_id':'app','type':'screen_view','occurred_at':0,'context':{'app':{'name':1}},"
           "'properties':{'name':'H'}}]}");
    sl_request_t *j = submit_json(catalog(), json);
    const want_t want[] = {
        {"lat", "out_of_range", "context.geo.lat: 500 is out of range [-90, 90]"},
        {"locale", "invalid_format", NULL},
        {"purposes", "not_allowed",
         "consent.purposes[0]: \"telepathy\" is not one of the allowed values"},
        {"ip", "wrong_type", "context.ip: expected a string, got 12345"},
        {"geo", "wrong_type", "context.geo: expected an object, got \"x\""},
        {"url", "wrong_type", "context.page.url: expected a string, got an object"},
        {"app", "wrong_type", "context.app.name: expected a string, got 1"},
    };
    expect_events(j, want, sizeof(want) / sizeof(want[0]));
    sl_request_free(j);

    /* The first three as protobuf: refused, with the same codes. */
    sl_buf_t *b = new_buf(), *geo = new_buf(), *ctx = new_buf();
    put_double_field(geo, 1, 500);
    put_msg(ctx, 4, geo);
    sl_buf_t *ev = pb_event("lat", "screen_view", screen_view_props("H"));
    put_msg(ev, 9, ctx);
    put_msg(b, 3, ev);
    ctx = new_buf();
    put_str(ctx, 3, "not a locale!");
    ev = pb_event("locale", "screen_view", screen_view_props("H"));
    put_msg(ev, 9, ctx);
    put_msg(b, 3, ev);
    sl_buf_t *consent = new_buf();
    put_str(consent, 1, "telepathy");
    ev = pb_event("purposes", "screen_view", screen_view_props("H"));
    put_msg(ev, 10, consent);
    put_msg(b, 3, ev);
    sl_request_t *p = submit_pb(catalog(), b);
    expect_events(p, want, 3);
    sl_request_free(p);
}
