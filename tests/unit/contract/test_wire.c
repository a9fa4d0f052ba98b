/* sl_ct_validate_wire against the real catalog: protobuf bytes built by hand, each rule kind
 * reported with the same codes and field paths as the JSON path. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "contracts/contracts.h"

#ifndef SL_TEST_CATALOG
#error "SL_TEST_CATALOG must name the compiled catalog"
#endif

typedef struct {
    uint8_t b[512];
    size_t n;
} pb_t;

static void put_varint(pb_t *p, uint64_t v) {
    while (v >= 0x80) {
        p->b[p->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p->b[p->n++] = (uint8_t)v;
}

static void put_key(pb_t *p, uint32_t field, uint32_t wt) {
    put_varint(p, ((uint64_t)field << 3) | wt);
}

static void put_str(pb_t *p, uint32_t field, const char *s, size_t n) {
    put_key(p, field, 2);
    put_varint(p, n);
    memcpy(p->b + p->n, s, n);
    p->n += n;
}

static void put_double(pb_t *p, uint32_t field, double d) {
    put_key(p, field, 1);
    memcpy(p->b + p->n, &d, 8);
    p->n += 8;
}

static void put_msg(pb_t *p, uint32_t field, const pb_t *m) {
    put_str(p, field, (const char *)m->b, m->n);
}

static const sl_ct_message_t *contract(const char *type) {
    static sl_contracts_t *c;
    sl_error_t err;
    if (c == NULL) {
        cr_assert(eq(int, sl_contracts_load(SL_TEST_CATALOG, &c, &err), SL_OK), "%s", err.message);
    }
    const sl_ct_message_t *m = sl_contracts_event(c, type, strlen(type));
    cr_assert(m != NULL, "no contract for %s", type);
    return m;
}

/* Purchase{order_id, items[LineItem{product_id, quantity, price}], revenue, currency}. */
static pb_t purchase(double price, const char *currency, bool with_currency) {
    pb_t item = {0}, p = {0};
    put_str(&item, 1, "p1", 2);
    put_key(&item, 3, 0);
    put_varint(&item, 2);
    put_double(&item, 4, price);
    put_str(&p, 1, "o-1", 3);
    put_msg(&p, 2, &item);
    put_double(&p, 3, 19.0);
    if (with_currency) {
        put_str(&p, 4, currency, strlen(currency));
    }
    return p;
}

static void expect(const sl_ct_message_t *m, const pb_t *p, const char *code, const char *msg) {
    sl_error_t err = {0};
    sl_status_t rc = sl_ct_validate_wire(m, p->b, p->n, "properties", 16, false, &err);
    if (code == NULL) {
        cr_assert(eq(int, rc, SL_OK), "%s: %s", err.code, err.message);
        return;
    }
    cr_assert(eq(int, rc, SL_REJECT), "accepted, want %s", code);
    cr_assert(eq(str, (char *)err.code, (char *)code), "%s", err.message);
    if (msg != NULL) {
        cr_assert(eq(str, err.message, (char *)msg));
    }
}

Test(wire, valid_purchase) {
    pb_t p = purchase(9.5, "EUR", true);
    expect(contract("purchase"), &p, NULL, NULL);
}

Test(wire, rules_and_paths) {
    const sl_ct_message_t *m = contract("purchase");
    pb_t p = purchase(-1, "EUR", true);
    expect(m, &p, "out_of_range", "properties.items[0].price: -1 is out of range [0, inf]");
    p = purchase(1, "eur", true);
    expect(m, &p, "invalid_format",
           "properties.currency: expected an ISO 4217 currency code, got \"eur\"");
    p = purchase(1, "EUR", false);
    expect(m, &p, "missing_field", "properties.currency: required field is missing");
    p = purchase(1, "EUR", true);
    put_key(&p, 99, 0);
    put_varint(&p, 1);
    expect(m, &p, "unknown_field",
           "properties.#99: field number 99 is not in sluice.events.v1.Purchase");
    p = purchase(1, "EUR", true);
    p.n -= 2; /* cut into the currency string */
    expect(m, &p, "malformed_protobuf", NULL);
    pb_t bad = {0};
    put_str(&bad, 1, "o\xff", 2);
    put_double(&bad, 3, 1);
    put_str(&bad, 4, "EUR", 3);
    expect(m, &bad, "wrong_type", "properties.order_id: a string must be UTF-8");
    pb_t wt = {0};
    put_key(&wt, 3, 0); /* revenue is a double: varint is the wrong wire type */
    put_varint(&wt, 5);
    expect(m, &wt, "wrong_type", NULL);
}

Test(wire, allowed_values_items_and_enums) {
    pb_t n = {0};
    put_str(&n, 1, "cmp", 3);
    put_str(&n, 3, "ignored", 7);
    expect(contract("notification_response"), &n, "not_allowed",
           "properties.action: \"ignored\" is not one of the allowed values");
    pb_t s = {0};
    put_str(&s, 1, "q", 1);
    for (int i = 0; i < 21; i++) {
        pb_t f = {0};
        put_str(&f, 1, "size", 4);
        put_msg(&s, 3, &f);
    }
    expect(contract("search"), &s, "too_many_items", NULL);
    pb_t c = {0};
    put_str(&c, 1, "analytics", 9);
    put_str(&c, 1, "telepathy", 9);
    expect(contract("consent_update"), &c, "not_allowed",
           "properties.granted[1]: \"telepathy\" is not one of the allowed values");
    pb_t a = {0};
    put_str(&a, 1, "c", 1);
    put_str(&a, 2, "p", 1);
    put_key(&a, 3, 0);
    put_varint(&a, 0); /* quantity 0 sent explicitly: below the range */
    expect(contract("add_to_cart"), &a, "out_of_range", NULL);
}
