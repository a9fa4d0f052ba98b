/* The contract stage against the real catalog (build/proto/sluice.pb): every contract gets a
 * valid event, and every constraint kind an invalid one, each reported with its field path. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "contracts/contracts.h"
#include "pipeline/pipeline.h"
#include "support.h"

#ifndef SL_TEST_CATALOG
#error "SL_TEST_CATALOG must name the compiled catalog"
#endif

typedef struct {
    const char *type;
    const char *properties; /* JSON object text, or NULL for none */
    const char *code;       /* NULL: accepted by the contract stage */
    const char *message;    /* exact message, or NULL to check the code only */
} row_t;

static const row_t rows[] = {
    /* One valid event per contract. */
    {"page_view", "{\"url\":\"https://shop.example.com/a\",\"title\":\"A\"}", NULL, NULL},
    {"screen_view", "{\"name\":\"Home\"}", NULL, NULL},
    {"product_view", "{\"productId\":\"p1\",\"price\":9.5,\"currency\":\"EUR\"}", NULL, NULL},
    {"search",
     "{\"query\":\"shoes\",\"result_count\":\"12\",\"filters\":[{\"field\":\"size\",\"value\":"
     "\"42\"}]}",
     NULL, NULL},
    {"add_to_cart", "{\"cart_id\":\"c1\",\"product_id\":\"p1\",\"quantity\":2}", NULL, NULL},
    {"remove_from_cart", "{\"cartId\":\"c1\",\"productId\":\"p1\",\"quantity\":1.0}", NULL, NULL},
    {"checkout_started", "{\"cart_id\":\"c1\",\"value\":10,\"currency\":\"USD\",\"item_count\":2}",
     NULL, NULL},
    {"checkout_step", "{\"cart_id\":\"c1\",\"step\":2}", NULL, NULL},
    {"purchase",
     "{\"order_id\":\"o1\",\"revenue\":0,\"currency\":\"EUR\",\"items\":[{\"product_id\":\"p\","
     "\"quantity\":1,\"price\":0}]}",
     NULL, NULL},
    {"location_change", "{\"lat\":52.52,\"lon\":13.4,\"accuracy_m\":12,\"country\":\"DE\"}", NULL,
     NULL},
    {"notification_response", "{\"campaign_id\":\"cmp\",\"action\":\"opened\"}", NULL, NULL},
    {"identify", "{\"user_id\":\"u1\",\"email\":\"a@b.example\",\"traits\":[{\"key\":\"k\"}]}",
     NULL, NULL},
    {"alias", "{\"previous_id\":\"a1\",\"user_id\":\"u1\"}", NULL, NULL},
    {"consent_update", "{\"granted\":[\"analytics\"],\"denied\":[\"advertising\"]}", NULL, NULL},
    {"recommendation_impression",
     "{\"request_id\":\"123e4567-e89b-12d3-a456-426614174000\",\"model_version\":\"m7\","
     "\"items\":[{\"item_id\":\"i1\",\"position\":0,\"score\":0.5}]}",
     NULL, NULL},
    {"recommendation_outcome",
     "{\"request_id\":\"123e4567-e89b-12d3-a456-426614174000\",\"item_id\":\"i1\",\"action\":"
     "\"click\"}",
     NULL, NULL},
    {"page_view", "{\"url\":\"https://a.example/\",\"title\":null}", NULL, NULL},

    /* Every constraint kind. */
    {"no_such_type", NULL, "unknown_type", "type: no contract for event type \"no_such_type\""},
    {"screen_view", NULL, "missing_field", "properties.name: required field is missing"},
    {"screen_view", "{}", "missing_field", "properties.name: required field is missing"},
    {"screen_view", "{\"name\":null}", "missing_field",
     "properties.name: required field is missing"},
    {"screen_view", "[1]", "wrong_type", "properties: expected an object, got an array"},
    {"screen_view", "{\"name\":\"\"}", "too_short",
     "properties.name: 0 characters, at least 1 required"},
    {"search", "{\"query\":\"shoes\",\"colour\":1}", "unknown_field",
     "properties.colour: not a field of sluice.events.v1.Search"},
    {"search", "{\"query\":\"a\",\"result_count\":-1}", "out_of_range", NULL},
    {"search", "{\"query\":\"a\",\"result_count\":1.5}", "wrong_type",
     "properties.result_count: expected an integer, got 1.5"},
    {"search", "{\"query\":\"a\",\"resultCount\":1,\"result_count\":2}", "duplicate_field", NULL},
    {"search", "{\"query\":7}", "wrong_type", "properties.query: expected a string, got 7"},
    {"search", "{\"query\":\"a\",\"filters\":{}}", "wrong_type",
     "properties.filters: expected an array, got an object"},
    {"search", "{\"query\":\"a\",\"filters\":[{\"value\":\"x\"}]}", "missing_field",
     "properties.filters[0].field: required field is missing"},
    {"purchase",
     "{\"order_id\":\"o\",\"revenue\":1,\"currency\":\"EUR\",\"items\":[{\"product_id\":\"a\"},"
     "{\"product_id\":\"b\"},{\"product_id\":\"c\",\"price\":\"abc\"}]}",
     "wrong_type", "properties.items[2].price: expected a number, got \"abc\""},
    {"purchase", "{\"order_id\":\"o\",\"revenue\":1,\"currency\":\"eur\"}", "invalid_format",
     "properties.currency: expected an ISO 4217 currency code, got \"eur\""},
    {"purchase", "{\"order_id\":\"o\",\"revenue\":-1,\"currency\":\"EUR\"}", "out_of_range",
     "properties.revenue: -1 is out of range [0, inf]"},
    {"add_to_cart", "{\"cart_id\":\"c\",\"product_id\":\"p\",\"quantity\":0}", "out_of_range",
     "properties.quantity: 0 is out of range [1, 10000]"},
    {"add_to_cart", "{\"cart_id\":\"c\",\"product_id\":\"p\",\"quantity\":3000000000}",
     "out_of_range", NULL},
    {"page_view", "{\"url\":\"ftp://x\"}", "invalid_format",
     "properties.url: expected an http(s) URL, got \"ftp://x\""},
    {"location_change", "{\"lat\":91}", "out_of_range",
     "properties.lat: 91 is out of range [-90, 90]"},
    {"location_change", "{\"country\":\"Germany\"}", "invalid_format", NULL},
    {"notification_response", "{\"campaign_id\":\"c\",\"action\":\"ignored\"}", "not_allowed",
     "properties.action: \"ignored\" is not one of the allowed values"},
    {"identify", "{\"user_id\":\"u\",\"email\":\"not-an-email\"}", "invalid_format", NULL},
    {"consent_update", "{\"granted\":[\"analytics\",\"telepathy\"]}", "not_allowed",
     "properties.granted[1]: \"telepathy\" is not one of the allowed values"},
    {"recommendation_impression", "{\"request_id\":\"nope\",\"model_version\":\"m\",\"items\":[]}",
     "invalid_format", NULL},
    {"recommendation_impression",
     "{\"request_id\":\"123e4567-e89b-12d3-a456-426614174000\",\"model_version\":\"m\"}",
     "missing_field", "properties.items: required field is missing"},
    {"page_view", "{\"url\":\"https://a.example/\",\"title\":true}", "wrong_type",
     "properties.title: expected a string, got true"},
};

static sl_contracts_t *catalog(void) {
    static sl_contracts_t *c;
    if (c == NULL) {
        sl_error_t err;
        cr_assert(eq(int, sl_contracts_load(SL_TEST_CATALOG, &c, &err), SL_OK), "%s", err.message);
    }
    return c;
}

static sl_event_t *run(sl_request_t **out, const row_t *r) {
    static char body[4096];
    snprintf(body, sizeof(body),
             "{\"events\":[{\"event_id\":\"e1\",\"type\":\"%s\",\"occurred_at\":1%s%s}]}", r->type,
             r->properties != NULL ? ",\"properties\":" : "",
             r->properties != NULL ? r->properties : "");
    sl_request_t *req = sl_request_new(NULL);
    cr_assert(req != NULL);
    req->contracts = sl_contracts_ref(catalog());
    req->media_type = "application/json";
    req->body = body;
    req->body_len = strlen(body);
    cr_assert(eq(int, sl_stage_decode(req), SL_OK), "%s", req->fault_err.message);
    cr_assert(eq(int, sl_stage_validate(req), SL_OK));
    cr_assert(eq(int, sl_stage_contract(req), SL_OK));
    *out = req;
    return &req->events[0];
}

static void setup(void) {
    t_publish(T_SETS("log.level=error"));
}

TestSuite(contract_stage, .init = setup);

Test(contract_stage, every_row) {
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row_t *r = &rows[i];
        sl_request_t *req;
        sl_event_t *ev = run(&req, r);
        if (r->code == NULL) {
            cr_expect(eq(int, ev->outcome, SL_OUT_PENDING), "row %zu (%s %s): %s: %s", i, r->type,
                      r->properties, ev->code, ev->message);
            cr_expect(ev->contract != NULL && ev->contract->event_type != NULL &&
                          strcmp(ev->contract->event_type, r->type) == 0,
                      "row %zu: contract of %s", i, r->type);
        } else {
            cr_expect(eq(int, ev->outcome, SL_OUT_INVALID), "row %zu (%s %s) was accepted", i,
                      r->type, r->properties);
            cr_expect(ev->code != NULL && strcmp(ev->code, r->code) == 0,
                      "row %zu (%s %s): code %s, want %s (%s)", i, r->type, r->properties, ev->code,
                      r->code, ev->message);
            if (r->message != NULL) {
                cr_expect(ev->message != NULL && strcmp(ev->message, r->message) == 0,
                          "row %zu: message\n  got:  %s\n  want: %s", i, ev->message, r->message);
            }
        }
        sl_request_free(req);
    }
}

Test(contract_stage, without_contracts_only_the_envelope_is_checked) {
    const row_t r = {"no_such_type", "{\"anything\":1}", NULL, NULL};
    static char body[] = "{\"events\":[{\"event_id\":\"e1\",\"type\":\"no_such_type\","
                         "\"occurred_at\":1,\"properties\":{\"anything\":1}}]}";
    (void)r;
    sl_request_t *req = sl_request_new(NULL);
    req->media_type = "application/json";
    req->body = body;
    req->body_len = strlen(body);
    cr_assert(eq(int, sl_stage_decode(req), SL_OK));
    cr_assert(eq(int, sl_stage_contract(req), SL_OK));
    cr_assert(eq(int, req->events[0].outcome, SL_OUT_PENDING));
    sl_request_free(req);
}

Test(contract_stage, strip_mode_leaves_unknown_properties_out_of_the_value) {
    sl_config_t *cfg = t_publish(T_SETS("contracts.unknown_fields=strip", "log.level=error"));
    static char body[] =
        "{\"events\":[{\"event_id\":\"e1\",\"type\":\"purchase\",\"occurred_at\":1,"
        "\"properties\":{\"colour\":\"red\",\"order_id\":\"o\",\"revenue\":1,\"currency\":\"EUR\","
        "\"items\":[{\"product_id\":\"a\",\"gift\":{\"wrap\":true}},{\"product_id\":\"b\"}],"
        "\"size\":[1,2]},\"extra\":[1, {\"k\" : \"v\"}]}]}";
    sl_request_t *req = sl_request_new(NULL);
    req->contracts = sl_contracts_ref(catalog());
    req->media_type = "application/json";
    req->body = body;
    req->body_len = strlen(body);
    cr_assert(eq(int, sl_stage_decode(req), SL_OK));
    cr_assert(eq(int, sl_stage_validate(req), SL_OK));
    cr_assert(eq(int, sl_stage_contract(req), SL_OK));
    sl_event_t *ev = &req->events[0];
    cr_assert(eq(int, ev->outcome, SL_OUT_PENDING), "%s: %s", ev->code, ev->message);
    sl_buf_t value;
    sl_buf_init(&value, req->arena, 64);
    sl_event_encode(req, ev, false, NULL, &value);
    const char *want = "{\"event_id\":\"e1\",\"type\":\"purchase\","
                       "\"occurred_at\":\"1970-01-01T00:00:00.001Z\","
                       "\"properties\":{\"order_id\":\"o\",\"items\":[{\"product_id\":\"a\"},"
                       "{\"product_id\":\"b\"}],\"revenue\":1,\"currency\":\"EUR\"}}";
    cr_assert(eq(str, (char *)sl_buf_cstr(&value), (char *)want));
    sl_request_free(req);
    t_unpublish(cfg);
}

Test(contract_stage, reject_mode_is_the_default_and_the_value_is_canonical) {
    static char body[] = "{\"events\":[{\"event_id\":\"e1\",\"type\":\"screen_view\","
                         "\"occurred_at\":1,\"properties\":{ \"name\" : \"Home\" }}]}";
    sl_request_t *req = sl_request_new(NULL);
    req->contracts = sl_contracts_ref(catalog());
    req->media_type = "application/json";
    req->body = body;
    req->body_len = strlen(body);
    cr_assert(eq(int, sl_stage_decode(req), SL_OK));
    cr_assert(eq(int, sl_stage_validate(req), SL_OK));
    cr_assert(eq(int, sl_stage_contract(req), SL_OK));
    sl_buf_t value;
    sl_buf_init(&value, req->arena, 64);
    sl_event_encode(req, &req->events[0], false, NULL, &value);
    cr_assert(
        eq(str, (char *)sl_buf_cstr(&value),
           "{\"event_id\":\"e1\",\"type\":\"screen_view\","
           "\"occurred_at\":\"1970-01-01T00:00:00.001Z\",\"properties\":{\"name\":\"Home\"}}"));
    sl_request_free(req);
}
