/* contracts: loading descriptor sets — the registry, the options, the refusals. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"

static const sl_ct_field_t *field(const sl_ct_message_t *m, const char *name) {
    const sl_ct_field_t *f = sl_ct_field_by_name(m, name, strlen(name));
    cr_assert_not_null(f, "%s.%s", m->full_name, name);
    return f;
}

/* Writes n bytes to a new temporary file; returns its malloc'd path. */
static char *write_bytes(const void *data, size_t n) {
    char *path = strdup("/tmp/sl_contracts_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
    return path;
}

/* Loads path, which must fail with code; returns the error. */
static sl_error_t load_fail(const char *path, const char *code) {
    sl_contracts_t *c = (sl_contracts_t *)1;
    sl_error_t err = {0};
    sl_status_t rc = sl_contracts_load(path, &c, &err);
    cr_assert_neq(rc, SL_OK, "%s loaded", path);
    cr_assert_null(c);
    cr_assert_str_eq(err.code, code, "%s: %s", path, err.message);
    cr_assert_not_null(strstr(err.message, path), "error does not name the file: %s", err.message);
    return err;
}

static sl_error_t fixture_fail(const char *stem, const char *code) {
    char path[1024];
    return load_fail(t_fixture(path, sizeof(path), stem), code);
}

Test(contracts_load, events_by_type_and_in_full_name_order) {
    sl_contracts_t *c = t_load("rules");
    cr_assert_eq(sl_contracts_count(c), 2);
    cr_assert_str_eq(sl_contracts_at(c, 0)->full_name, "fixture.v1.Order");
    cr_assert_str_eq(sl_contracts_at(c, 1)->full_name, "fixture.v1.Ping");
    cr_assert_null(sl_contracts_at(c, 2));

    const sl_ct_message_t *m = sl_contracts_event(c, "order_placedXYZ", 12); /* not NUL-ended */
    cr_assert_not_null(m);
    cr_assert_str_eq(m->full_name, "fixture.v1.Order");
    cr_assert_str_eq(m->event_type, "order_placed");
    cr_assert_eq(m->stage, SL_STAGE_CONSENT);
    cr_assert_eq(sl_contracts_event(c, "ping", 4)->stage, SL_STAGE_RAW);
    cr_assert_null(sl_contracts_event(c, "order_placedXYZ", 15));
    cr_assert_null(sl_contracts_event(c, "order", 5));
    cr_assert_null(sl_contracts_event(c, "", 0));
    sl_contracts_unref(c);
}

Test(contracts_load, messages_by_full_name) {
    sl_contracts_t *c = t_load("rules");
    const sl_ct_message_t *item = sl_contracts_message(c, "fixture.v1.Order.Item");
    cr_assert_not_null(item);
    cr_assert_null(item->event_type);
    cr_assert_eq(item->stage, SL_STAGE_NONE);
    /* The options' own imports are in the set too (descriptor.proto is recursive, and allowed:
     * no event reaches it; neither does fixture.v1.Tree). */
    cr_assert_not_null(sl_contracts_message(c, "google.protobuf.DescriptorProto"));
    cr_assert_not_null(sl_contracts_message(c, "fixture.v1.Tree"));
    cr_assert_null(sl_contracts_message(c, ".fixture.v1.Order"));
    cr_assert_null(sl_contracts_message(c, "fixture.v1.Nope"));
    sl_contracts_unref(c);
}

Test(contracts_load, fields_sorted_by_number_with_types) {
    sl_contracts_t *c = t_load("rules");
    const sl_ct_message_t *m = sl_contracts_message(c, "fixture.v1.Order");
    cr_assert_eq(m->n_fields, 9);
    for (size_t i = 0; i < m->n_fields; i++) {
        cr_assert_eq(m->fields[i].number, i + 1);
        cr_assert_eq(sl_ct_field_by_number(m, (uint32_t)i + 1), &m->fields[i]);
    }
    cr_assert_null(sl_ct_field_by_number(m, 0));
    cr_assert_null(sl_ct_field_by_number(m, 10));

    const sl_ct_field_t *kind = sl_ct_field_by_number(m, 5);
    cr_assert_str_eq(kind->name, "kind");
    cr_assert_eq(kind->type, SL_CT_ENUM);
    cr_assert_not_null(kind->enumeration);
    cr_assert_str_eq(kind->enumeration->full_name, "fixture.v1.Kind");
    cr_assert_eq(kind->enumeration->n_values, 3);
    cr_assert_str_eq(kind->enumeration->names[2], "KIND_B");
    cr_assert_eq(kind->enumeration->numbers[2], 2);

    const sl_ct_field_t *items = field(m, "items");
    cr_assert_eq(items->type, SL_CT_MESSAGE);
    cr_assert(items->repeated);
    cr_assert_eq(items->message, sl_contracts_message(c, "fixture.v1.Order.Item"));

    /* A map is a repeated message of its entry type, as the descriptor says. */
    const sl_ct_field_t *counts = field(m, "counts");
    cr_assert(counts->repeated);
    cr_assert_str_eq(counts->message->full_name, "fixture.v1.Order.CountsEntry");
    cr_assert_eq(field(m, "blob")->type, SL_CT_BYTES);
    cr_assert_eq(field(m, "amount")->type, SL_CT_DOUBLE);
    cr_assert_not(field(m, "amount")->repeated);
    sl_contracts_unref(c);
}

Test(contracts_load, json_and_declared_names) {
    sl_contracts_t *c = t_load("rules");
    const sl_ct_message_t *m = sl_contracts_message(c, "fixture.v1.Order");
    const sl_ct_field_t *f = field(m, "user_email");
    cr_assert_str_eq(f->json_name, "userEmail");
    cr_assert_eq(field(m, "userEmail"), f);

    const sl_ct_field_t *custom = field(m, "customName");
    cr_assert_str_eq(custom->name, "custom_json");
    cr_assert_eq(field(m, "custom_json"), custom);
    cr_assert_null(sl_ct_field_by_name(m, "customJson", 10));

    /* Lengths, not NUL terminators, delimit the name. */
    cr_assert_eq(sl_ct_field_by_name(m, "tagsXYZ", 4), field(m, "tags"));
    cr_assert_null(sl_ct_field_by_name(m, "tag", 3));
    cr_assert_null(sl_ct_field_by_name(m, "", 0));
    cr_assert_str_eq(field(sl_contracts_event(c, "ping", 4), "id")->json_name, "id");
    sl_contracts_unref(c);
}

Test(contracts_load, field_rules) {
    sl_contracts_t *c = t_load("rules");
    const sl_ct_message_t *m = sl_contracts_message(c, "fixture.v1.Order");

    const sl_ct_field_t *email = field(m, "user_email");
    cr_assert(email->required);
    cr_assert_eq(email->min_len, 3);
    cr_assert_eq(email->max_len, 254);
    cr_assert_eq(email->format, SL_FMT_EMAIL);
    cr_assert_eq(email->pii, SL_PII_EMAIL);
    cr_assert_not(email->has_range);
    cr_assert_eq(email->n_allowed, 0);

    const sl_ct_field_t *amount = field(m, "amount");
    cr_assert(amount->has_range);
    cr_assert(isinf(amount->min) && amount->min < 0);
    cr_assert_float_eq(amount->max, 100.5, 1e-12);
    cr_assert_not(amount->required);

    const sl_ct_field_t *tags = field(m, "tags");
    cr_assert_eq(tags->n_allowed, 3);
    cr_assert_str_eq(tags->allowed[0], "a");
    cr_assert_str_eq(tags->allowed[1], "b");
    cr_assert_str_eq(tags->allowed[2], "c");
    cr_assert_eq(tags->max_items, 10);

    const sl_ct_field_t *items = field(m, "items");
    cr_assert(items->required);
    cr_assert_eq(items->max_items, 50);
    const sl_ct_message_t *item = items->message;
    cr_assert_eq(field(item, "sku")->format, SL_FMT_UUID);
    cr_assert(field(item, "quantity")->has_range);
    cr_assert_float_eq(field(item, "quantity")->min, 1.0, 1e-12);
    cr_assert_float_eq(field(item, "quantity")->max, 99.0, 1e-12);

    cr_assert_eq(field(m, "country")->format, SL_FMT_COUNTRY);
    cr_assert_eq(field(m, "country")->pii, SL_PII_PRECISE_LOCATION);
    cr_assert_eq(field(m, "blob")->max_len, 16);

    /* No option at all: every rule at its zero value. */
    const sl_ct_field_t *kind = field(m, "kind");
    cr_assert_not(kind->required);
    cr_assert_eq(kind->min_len + kind->max_len + kind->max_items, 0);
    cr_assert_eq(kind->format, SL_FMT_NONE);
    cr_assert_eq(kind->pii, SL_PII_NONE);
    sl_contracts_unref(c);
}

Test(contracts_load, options_keyed_on_extension_numbers_not_package) {
    sl_contracts_t *c = t_load("otherpkg");
    cr_assert_eq(sl_contracts_count(c), 1);
    const sl_ct_message_t *m = sl_contracts_event(c, "signup", 6);
    cr_assert_not_null(m);
    cr_assert_eq(m->stage, SL_STAGE_IDENTITY);
    const sl_ct_field_t *email = field(m, "email");
    cr_assert(email->required);
    cr_assert_eq(email->format, SL_FMT_EMAIL);
    cr_assert_eq(email->pii, SL_PII_EMAIL);
    const sl_ct_field_t *plans = field(m, "plans");
    cr_assert_eq(plans->n_allowed, 2);
    cr_assert_str_eq(plans->allowed[1], "pro");
    cr_assert_eq(plans->max_items, 2);
    sl_contracts_unref(c);
}

Test(contracts_load, refcount) {
    sl_contracts_t *c = t_load("rules");
    cr_assert_eq(sl_contracts_ref(c), c);
    sl_contracts_unref(c);
    cr_assert_eq(sl_contracts_count(c), 2); /* still held once */
    sl_contracts_unref(c);
    sl_contracts_unref(NULL);
    cr_assert_null(sl_contracts_ref(NULL));
}

Test(contracts_load, load_mem_matches_load) {
    char path[1024];
    size_t len;
    unsigned char *buf = t_slurp(t_fixture(path, sizeof(path), "rules"), &len);
    sl_contracts_t *c;
    sl_error_t err;
    cr_assert_eq(sl_contracts_load_mem(buf, len, "rules.pb", &c, &err), SL_OK, "%s", err.message);
    free(buf); /* the registry keeps copies */
    cr_assert_eq(sl_contracts_count(c), 2);
    cr_assert_str_eq(sl_contracts_at(c, 0)->fields[0].name, "user_email");
    sl_contracts_unref(c);
}

/* --- refusals ------------------------------------------------------------------------------ */

Test(contracts_load, refuses_direct_recursion) {
    sl_error_t err = fixture_fail("recursive_direct", "contracts_recursive");
    cr_assert_not_null(strstr(err.message, "fixture.v1.Node.child -> fixture.v1.Node"), "%s",
                       err.message);
}

Test(contracts_load, refuses_indirect_recursion) {
    sl_error_t err = fixture_fail("recursive_indirect", "contracts_recursive");
    cr_assert_not_null(strstr(err.message, "fixture.v1.Branch is recursive"), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "fixture.v1.Leaf.more"), "%s", err.message);
}

Test(contracts_load, refuses_two_messages_for_one_event_type) {
    sl_error_t err = fixture_fail("duplicate_type", "contracts_duplicate_type");
    cr_assert_not_null(strstr(err.message, "\"dup\""), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "fixture.v1.First"), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "fixture.v1.Second"), "%s", err.message);
}

Test(contracts_load, refuses_contract_without_type_or_stage) {
    sl_error_t err = fixture_fail("no_type", "contracts_bad_option");
    cr_assert_not_null(strstr(err.message, "without a type"), "%s", err.message);
    err = fixture_fail("no_stage", "contracts_bad_option");
    cr_assert_not_null(strstr(err.message, "without a stage"), "%s", err.message);
}

Test(contracts_load, refuses_empty_range) {
    sl_error_t err = fixture_fail("bad_range", "contracts_bad_option");
    cr_assert_not_null(strstr(err.message, "fixture.v1.Backwards.n"), "%s", err.message);
}

Test(contracts_load, refuses_unresolved_types) {
    sl_error_t err = fixture_fail("unresolved", "contracts_unresolved");
    cr_assert_not_null(strstr(err.message, "fixture.dep.Dep"), "%s", err.message);
}

Test(contracts_load, refuses_what_is_not_a_descriptor_set) {
    static const char *texts[] = {
        "{\"not\": \"protobuf\"}\n", "syntax = \"proto3\";\nmessage A {}\n",
        "\x0a\x02\x08\x01", /* a file with an unexpected varint and no name */
        "\x10\x01",         /* a top-level field that a descriptor set does not have */
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        char *path = write_bytes(texts[i], strlen(texts[i]));
        load_fail(path, "contracts_format");
        unlink(path);
        free(path);
    }
    char *empty = write_bytes("", 0);
    sl_error_t err = load_fail(empty, "contracts_format");
    cr_assert_not_null(strstr(err.message, "no files"), "%s", err.message);
    unlink(empty);
    free(empty);
}

Test(contracts_load, refuses_truncated_files) {
    char path[1024];
    size_t len;
    unsigned char *buf = t_slurp(t_fixture(path, sizeof(path), "rules"), &len);
    size_t cuts[] = {len - 1, len - 7, len / 2, 3, 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        char *tmp = write_bytes(buf, cuts[i]);
        load_fail(tmp, "contracts_format");
        unlink(tmp);
        free(tmp);
    }
    free(buf);
}

Test(contracts_load, refuses_unreadable_and_oversized_files) {
    load_fail("/nonexistent/sluice.pb", "contracts_unreadable");
    load_fail("/tmp", "contracts_unreadable");

    /* 65 MiB, sparse: refused from its size, before anything is read. */
    char *big = write_bytes("", 0);
    cr_assert_eq(truncate(big, (off_t)65 << 20), 0);
    sl_error_t err = load_fail(big, "contracts_too_large");
    cr_assert_not_null(strstr(err.message, "exceeds"), "%s", err.message);
    unlink(big);
    free(big);
}

/* --- the real catalog (build/proto/sluice.pb) ------------------------------------------------ */

Test(contracts_load, catalog_every_event_has_a_stage) {
    if (access(SL_CT_CATALOG, R_OK) != 0) {
        cr_skip_test("%s not built", SL_CT_CATALOG);
    }
    sl_contracts_t *c;
    sl_error_t err;
    cr_assert_eq(sl_contracts_load(SL_CT_CATALOG, &c, &err), SL_OK, "%s", err.message);
    size_t n = sl_contracts_count(c);
    cr_assert_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        const sl_ct_message_t *m = sl_contracts_at(c, i);
        cr_assert_neq(m->stage, SL_STAGE_NONE, "%s has no stage", m->event_type);
        cr_assert_str_neq(sl_ct_stage_name(m->stage), "none");
        cr_assert_eq(sl_contracts_event(c, m->event_type, strlen(m->event_type)), m);
        for (size_t k = 0; k < m->n_fields; k++) {
            const sl_ct_field_t *f = &m->fields[k];
            cr_assert_eq(sl_ct_field_by_name(m, f->json_name, strlen(f->json_name)), f);
        }
    }
    sl_contracts_unref(c);
}
