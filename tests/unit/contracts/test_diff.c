/* contracts: sl_contracts_diff over the diff_*.proto fixtures, each diff_old.proto with one
 * change. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"

typedef struct {
    size_t n;
    sl_ct_change_t v[32];
} changes_t;

static void collect(void *arg, const sl_ct_change_t *change) {
    changes_t *c = arg;
    cr_assert_lt(c->n, sizeof(c->v) / sizeof(c->v[0]));
    c->v[c->n++] = *change;
}

static size_t diff(const char *old_stem, const char *new_stem, changes_t *out) {
    sl_contracts_t *o = t_load(old_stem), *n = t_load(new_stem);
    memset(out, 0, sizeof(*out));
    size_t breaking = sl_contracts_diff(o, n, collect, out);
    sl_contracts_unref(o);
    sl_contracts_unref(n);
    return breaking;
}

typedef struct {
    const char *fixture;
    bool breaking;
    const char *what; /* the one change expected */
} diff_case_t;

static const diff_case_t cases[] = {
    {"diff_msg_removed", true, "diff.v1.Gift: message removed"},
    {"diff_field_removed", true, "diff.v1.Purchase.currency (3): field removed without reserved"},
    {"diff_field_reused", true,
     "diff.v1.Purchase (3): field number reused with another name: was currency (string), now "
     "currency_code (string)"},
    {"diff_type_changed", true, "diff.v1.Purchase.amount (2): type changed from double to string"},
    {"diff_msg_type_changed", true,
     "diff.v1.Purchase.item (5): type changed from message diff.v1.Item to message diff.v1.Gift"},
    {"diff_label_changed", true,
     "diff.v1.Purchase.coupons (4): label changed from repeated to singular"},
    {"diff_required_added", true, "diff.v1.Purchase.amount (2): required rule added"},
    {"diff_enum_value_removed", true, "diff.v1.Status.STATUS_FAILED (2): enum value removed"},
    {"diff_event_removed", true, "diff.v1.Refund: event type \"refund\" removed"},
    {"diff_event_moved", true, "diff.v1.Refund: event type \"refund\" moved to diff.v1.Gift"},
    {"diff_stage_changed", true,
     "diff.v1.Refund: event type \"refund\" changed stage from raw to outcomes (another topic)"},
    {"diff_required_field_added", true,
     "diff.v1.Purchase.buyer (7): required field added (producers that do not send it are "
     "rejected)"},
    {"diff_reserved_reused", true,
     "diff.v1.Purchase.extra (9): field added with a number reserved in the old version"},
    {"diff_field_removed_reserved", false,
     "diff.v1.Purchase.currency (3): field removed, number reserved"},
    {"diff_msg_added", false, "diff.v1.Wrapping: message added"},
    {"diff_field_added", false, "diff.v1.Purchase.note (7): field added"},
    {"diff_enum_value_added", false, "diff.v1.Status.STATUS_REFUNDED (3): enum value added"},
    {"diff_event_added", false, "diff.v1.Gift: event type \"gift\" added (stage raw)"},
};

Test(contracts_diff, one_change_per_fixture) {
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const diff_case_t *k = &cases[i];
        changes_t ch;
        size_t breaking = diff("diff_old", k->fixture, &ch);
        cr_assert_eq(ch.n, 1, "%s: %zu changes, first: %s", k->fixture, ch.n,
                     ch.n > 0 ? ch.v[0].what : "-");
        cr_assert_str_eq(ch.v[0].what, k->what, "%s", k->fixture);
        cr_assert_eq(ch.v[0].breaking, k->breaking, "%s", k->fixture);
        cr_assert_eq(breaking, k->breaking ? 1u : 0u, "%s", k->fixture);
    }
}

Test(contracts_diff, identical_and_loosened_sets_have_no_changes) {
    changes_t ch;
    cr_assert_eq(diff("diff_old", "diff_old", &ch), 0);
    cr_assert_eq(ch.n, 0);
    /* Dropping `required` is not reported: nothing that was valid becomes invalid. */
    cr_assert_eq(diff("diff_old", "diff_required_removed", &ch), 0);
    cr_assert_eq(ch.n, 0);
}

Test(contracts_diff, reversed_additions_are_breaking) {
    changes_t ch;
    cr_assert_eq(diff("diff_field_added", "diff_old", &ch), 1);
    cr_assert_str_eq(ch.v[0].what, "diff.v1.Purchase.note (7): field removed without reserved");
    cr_assert_eq(diff("diff_event_added", "diff_old", &ch), 1);
    cr_assert_str_eq(ch.v[0].what, "diff.v1.Gift: event type \"gift\" removed");
    cr_assert_eq(diff("diff_enum_value_added", "diff_old", &ch), 1);
    cr_assert_eq(diff("diff_msg_added", "diff_old", &ch), 1);
}

Test(contracts_diff, stable_order_by_name_then_number) {
    static const struct {
        bool breaking;
        const char *what;
    } want[] = {
        {false, "diff.v1.Adder: message added"},
        {true, "diff.v1.Gift: message removed"},
        {false, "diff.v1.Item.count (2): field added"},
        {true, "diff.v1.Purchase.amount (2): type changed from double to float"},
        {true, "diff.v1.Purchase.currency (3): field removed without reserved"},
        {false, "diff.v1.Purchase.note (7): field added"},
        {true, "diff.v1.Status.STATUS_FAILED (2): enum value removed"},
    };
    changes_t ch;
    cr_assert_eq(diff("diff_old", "diff_many", &ch), 4);
    cr_assert_eq(ch.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < ch.n; i++) {
        cr_assert_str_eq(ch.v[i].what, want[i].what, "change %zu", i);
        cr_assert_eq(ch.v[i].breaking, want[i].breaking, "change %zu", i);
    }
}

Test(contracts_diff, count_without_emit) {
    sl_contracts_t *o = t_load("diff_old"), *n = t_load("diff_many");
    cr_assert_eq(sl_contracts_diff(o, n, NULL, NULL), 4);
    sl_contracts_unref(o);
    sl_contracts_unref(n);
}
