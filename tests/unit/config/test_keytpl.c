/* config/keytpl: key templates compiled (literals, groups, alternatives, properties.<path>, the
 * empty template), their errors naming the configuration key, the keying of a snapshot
 * (keys.types over keys.<stage>, keys.hot); and the configuration around them: keys.* and the
 * topic templates ({stage}, {tenant}) checked by sl_config_build. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "config/config.h"
#include "config/keytpl.h"
#include "support.h"

#define DEFAULT_TPL "{tenant}:{user_id|anonymous_id|device_id}"

static sl_keytpl_t *compile(const char *text) {
    sl_keytpl_t *t = NULL;
    sl_error_t err = {0};
    cr_assert(eq(int, sl_keytpl_compile("keys.raw", text, &t, &err), SL_OK), "%s: %s", text,
              err.message);
    cr_assert(t != NULL);
    return t;
}

/* text must be refused; the message must name key and hold needle. */
static void compile_fails(const char *key, const char *text, const char *needle) {
    sl_keytpl_t *t = NULL;
    sl_error_t err = {0};
    sl_status_t st = sl_keytpl_compile(key, text, &t, &err);
    cr_assert(eq(int, st, SL_REJECT), "%s was accepted", text);
    cr_assert(t == NULL, "no template is returned on failure");
    cr_assert(err.code != NULL && err.message != NULL);
    cr_assert(eq(str, (char *)err.code, "config_wrong_value"), "%s", err.message);
    cr_assert(strncmp(err.message, key, strlen(key)) == 0 && err.message[strlen(key)] == ':',
              "the message starts with the key %s: %s", key, err.message);
    cr_assert(strstr(err.message, needle) != NULL, "\"%s\" not in: %s", needle, err.message);
}

static void assert_alt(const sl_kt_part_t *p, size_t a, sl_kt_kind_t kind, const char *text) {
    cr_assert(a < p->n_alts, "alternative %zu of %zu", a, p->n_alts);
    cr_assert(eq(int, (int)p->alts[a].kind, (int)kind), "kind of %s", text);
    cr_assert(eq(str, (char *)p->alts[a].text, (char *)text));
    cr_assert(eq(sz, p->alts[a].len, strlen(text)));
}

/* ------------------------------------------------------------------------ compiling -- */

Test(keytpl, default_template_is_tenant_colon_a_group_of_three) {
    sl_keytpl_t *t = compile(DEFAULT_TPL);
    cr_assert(eq(str, (char *)t->source, DEFAULT_TPL));
    cr_assert(t->has_group);
    cr_assert(eq(sz, t->n_parts, 3));
    cr_assert(eq(sz, t->parts[0].n_alts, 1));
    assert_alt(&t->parts[0], 0, SL_KT_TENANT, "tenant");
    cr_assert(eq(sz, t->parts[1].n_alts, 1));
    assert_alt(&t->parts[1], 0, SL_KT_LITERAL, ":");
    cr_assert(eq(sz, t->parts[2].n_alts, 3));
    assert_alt(&t->parts[2], 0, SL_KT_FIELD, "user_id");
    assert_alt(&t->parts[2], 1, SL_KT_FIELD, "anonymous_id");
    assert_alt(&t->parts[2], 2, SL_KT_FIELD, "device_id");
    sl_keytpl_free(t);
}

Test(keytpl, every_component_kind) {
    sl_keytpl_t *t = compile("k/{stage}/{type}/{event_id|session_id|account_id}/"
                             "{properties.cart_id}/{properties.a.b_2.C3}");
    cr_assert(eq(sz, t->n_parts, 10));
    assert_alt(&t->parts[0], 0, SL_KT_LITERAL, "k/");
    assert_alt(&t->parts[1], 0, SL_KT_STAGE, "stage");
    assert_alt(&t->parts[2], 0, SL_KT_LITERAL, "/");
    assert_alt(&t->parts[3], 0, SL_KT_TYPE, "type");
    assert_alt(&t->parts[5], 0, SL_KT_FIELD, "event_id");
    assert_alt(&t->parts[5], 1, SL_KT_FIELD, "session_id");
    assert_alt(&t->parts[5], 2, SL_KT_FIELD, "account_id");
    assert_alt(&t->parts[7], 0, SL_KT_FIELD, "properties.cart_id");
    assert_alt(&t->parts[9], 0, SL_KT_FIELD, "properties.a.b_2.C3");
    sl_keytpl_free(t);
}

Test(keytpl, spaces_around_alternatives_are_trimmed) {
    sl_keytpl_t *t = compile("{ user_id | anonymous_id }");
    cr_assert(eq(sz, t->n_parts, 1));
    cr_assert(eq(sz, t->parts[0].n_alts, 2));
    assert_alt(&t->parts[0], 0, SL_KT_FIELD, "user_id");
    assert_alt(&t->parts[0], 1, SL_KT_FIELD, "anonymous_id");
    sl_keytpl_free(t);
}

Test(keytpl, literal_only_template_has_no_group) {
    sl_keytpl_t *t = compile("all-in-one");
    cr_assert(not(t->has_group));
    cr_assert(eq(sz, t->n_parts, 1));
    assert_alt(&t->parts[0], 0, SL_KT_LITERAL, "all-in-one");
    sl_keytpl_free(t);
}

Test(keytpl, empty_template_has_no_parts) {
    sl_keytpl_t *t = compile("");
    cr_assert(eq(sz, t->n_parts, 0), "the empty template: produced without a key");
    cr_assert(not(t->has_group));
    cr_assert(eq(str, (char *)t->source, ""));
    sl_keytpl_free(t);
}

Test(keytpl, unclosed_group) {
    compile_fails("keys.raw", "{tenant}:{user_id", "the group at offset 9 is not closed");
    /* A group opened inside another is not closed either. */
    compile_fails("keys.raw", "{user_id{tenant}}", "the group at offset 0 is not closed");
}

Test(keytpl, stray_closing_brace) {
    compile_fails("keys.raw", "{tenant}}", "`}` at offset 8 closes no group");
    compile_fails("keys.identity", "a}b", "`}` at offset 1 closes no group");
}

Test(keytpl, unknown_component_is_named_with_the_list) {
    compile_fails("keys.raw", "{tenant}:{usr_id}", "\"usr_id\" is not a key component");
    compile_fails("keys.raw", "{tenant}:{usr_id}", "properties.<field>");
    /* The second alternative is checked too, not only the first. */
    compile_fails("keys.consent", "{user_id|userid}", "\"userid\" is not a key component");
}

Test(keytpl, bad_property_paths_and_empty_alternatives) {
    compile_fails("keys.raw", "{properties}", "\"properties\" is not a key component");
    compile_fails("keys.raw", "{properties.}", "\"properties.\" is not a key component");
    compile_fails("keys.raw", "{properties.a..b}", "\"properties.a..b\" is not a key component");
    compile_fails("keys.raw", "{properties.a-b}", "\"properties.a-b\" is not a key component");
    compile_fails("keys.raw", "{}", "\"\" is not a key component");
    compile_fails("keys.raw", "{user_id|}", "\"\" is not a key component");
    /* Names are exact: envelope fields are not matched by prefix or case. */
    compile_fails("keys.raw", "{User_id}", "\"User_id\" is not a key component");
    compile_fails("keys.raw", "{user}", "\"user\" is not a key component");
}

/* ---------------------------------------------------------------------- the keying -- */

static const char *const stage_tpls[6] = {
    "",      "{tenant}:{user_id|anonymous_id|device_id}", "id:{user_id}", "consent:{user_id}", "",
    "{type}"};

static sl_keying_t *build(const char *types, const char *hot) {
    sl_keying_t *k = NULL;
    sl_error_t err = {0};
    cr_assert(eq(int, sl_keying_build(stage_tpls, types, hot, &k, &err), SL_OK), "%s", err.message);
    cr_assert(k != NULL);
    return k;
}

static void build_fails(const char *const stage[6], const char *types, const char *needle,
                        const char *prefix) {
    sl_keying_t *k = NULL;
    sl_error_t err = {0};
    cr_assert(eq(int, sl_keying_build(stage, types, "", &k, &err), SL_REJECT), "%s accepted",
              types);
    cr_assert(k == NULL);
    cr_assert(strncmp(err.message, prefix, strlen(prefix)) == 0, "message starts with %s: %s",
              prefix, err.message);
    cr_assert(strstr(err.message, needle) != NULL, "\"%s\" not in: %s", needle, err.message);
}

Test(keying, stage_templates_by_stage_number) {
    sl_keying_t *k = build("", "");
    cr_assert(eq(sz, k->n_types, 0));
    cr_assert(eq(str, (char *)sl_keying_for(k, 1, "page_view", 9)->source, DEFAULT_TPL));
    cr_assert(eq(str, (char *)sl_keying_for(k, 2, "identify", 8)->source, "id:{user_id}"));
    cr_assert(eq(str, (char *)sl_keying_for(k, 3, "consent", 7)->source, "consent:{user_id}"));
    cr_assert(eq(sz, sl_keying_for(k, 4, "impression", 10)->n_parts, 0), "keys.decisions=\"\"");
    cr_assert(eq(str, (char *)sl_keying_for(k, 5, "outcome", 7)->source, "{type}"));
    /* A stage out of range is keyed like raw. */
    cr_assert(eq(str, (char *)sl_keying_for(k, 0, "x", 1)->source, DEFAULT_TPL));
    cr_assert(eq(str, (char *)sl_keying_for(k, 9, "x", 1)->source, DEFAULT_TPL));
    sl_keying_free(k);
}

Test(keying, per_type_template_wins_over_the_stage_one) {
    sl_keying_t *k = build("  add_to_cart={tenant}:{properties.cart_id}\n"
                           "\tcheckout_step={properties.cart_id|user_id} identify=",
                           "");
    cr_assert(eq(sz, k->n_types, 3));
    cr_assert(eq(str, (char *)k->type_names[0], "add_to_cart"));
    cr_assert(eq(str, (char *)k->type_names[1], "checkout_step"));
    cr_assert(eq(str, (char *)k->type_names[2], "identify"));
    const sl_keytpl_t *t = sl_keying_for(k, 1, "add_to_cart", 11);
    cr_assert(eq(str, (char *)t->source, "{tenant}:{properties.cart_id}"));
    assert_alt(&t->parts[2], 0, SL_KT_FIELD, "properties.cart_id");
    /* Whatever stage the event's contract names: the type decides. */
    cr_assert(eq(str, (char *)sl_keying_for(k, 5, "checkout_step", 13)->source,
                 "{properties.cart_id|user_id}"));
    /* "type=" is the empty template: that type is produced without a key. */
    cr_assert(eq(sz, sl_keying_for(k, 2, "identify", 8)->n_parts, 0));
    /* Exact names only: a prefix, a longer name or another type gets its stage's template. */
    cr_assert(eq(str, (char *)sl_keying_for(k, 1, "add_to_car", 10)->source, DEFAULT_TPL));
    cr_assert(eq(str, (char *)sl_keying_for(k, 1, "add_to_cart2", 12)->source, DEFAULT_TPL));
    cr_assert(eq(str, (char *)sl_keying_for(k, 2, "alias", 5)->source, "id:{user_id}"));
    /* The type is taken by length, not up to a NUL. */
    cr_assert(eq(str, (char *)sl_keying_for(k, 1, "add_to_cart_and_more", 11)->source,
                 "{tenant}:{properties.cart_id}"));
    sl_keying_free(k);
}

Test(keying, a_type_listed_twice_takes_the_first) {
    sl_keying_t *k = build("t={type} t={tenant}", "");
    cr_assert(eq(str, (char *)sl_keying_for(k, 1, "t", 1)->source, "{type}"));
    sl_keying_free(k);
}

Test(keying, types_errors_name_the_entry) {
    build_fails(stage_tpls, "add_to_cart={tenant}:{properties.cart_id} checkout_step={cart}",
                "\"cart\" is not a key component", "keys.types[checkout_step]:");
    build_fails(stage_tpls, "add_to_cart={tenant}:{properties.cart_id", "is not closed with `}`",
                "keys.types[add_to_cart]:");
    build_fails(stage_tpls, "add_to_cart={tenant}}", "closes no group", "keys.types[add_to_cart]:");
    build_fails(stage_tpls, "page_view={tenant} add_to_cart",
                "\"add_to_cart\" is not type=template", "keys.types:");
    build_fails(stage_tpls, "={tenant}", "\"={tenant}\" is not type=template", "keys.types:");
}

Test(keying, stage_errors_name_the_stage_key) {
    static const char *const bad_raw[6] = {"",          "{usr_id}",  "{user_id}",
                                           "{user_id}", "{user_id}", "{user_id}"};
    build_fails(bad_raw, "", "\"usr_id\"", "keys.raw:");
    static const char *const bad_outcomes[6] = {"",          "{user_id}", "{user_id}",
                                                "{user_id}", "{user_id}", "{user_id"};
    build_fails(bad_outcomes, "", "not closed", "keys.outcomes:");
    static const char *const bad_decisions[6] = {"",          "{user_id}", "{user_id}",
                                                 "{user_id}", "x}",        "{user_id}"};
    build_fails(bad_decisions, "", "closes no group", "keys.decisions:");
}

Test(keying, hot_keys_listed_exactly) {
    sl_keying_t *k = build("", " acme:u1\n acme:u2\tacme:~e1 ");
    cr_assert(eq(sz, k->n_hot, 3));
    cr_assert(sl_keying_is_hot(k, "acme:u1", 7));
    cr_assert(sl_keying_is_hot(k, "acme:u2", 7));
    cr_assert(sl_keying_is_hot(k, "acme:~e1", 8));
    cr_assert(not(sl_keying_is_hot(k, "acme:u", 6)), "a prefix is not listed");
    cr_assert(not(sl_keying_is_hot(k, "acme:u10", 8)), "a longer key is not listed");
    cr_assert(not(sl_keying_is_hot(k, "ACME:u1", 7)));
    cr_assert(not(sl_keying_is_hot(k, "", 0)));
    /* By length: "acme:u1" followed by more bytes. */
    cr_assert(sl_keying_is_hot(k, "acme:u1#3", 7));
    sl_keying_free(k);

    k = build("", "");
    cr_assert(eq(sz, k->n_hot, 0));
    cr_assert(not(sl_keying_is_hot(k, "acme:u1", 7)));
    sl_keying_free(k);
}

/* ------------------------------------------------------------------- configuration -- */

Test(keys_config, defaults_are_compiled) {
    sl_config_t *cfg = t_config(NULL, NULL);
    cr_assert(eq(str, cfg->keys.raw, DEFAULT_TPL));
    cr_assert(eq(str, cfg->keys.missing, "random"));
    cr_assert(eq(i64, cfg->keys.hot_rate, 0), "detection is off by default");
    cr_assert(eq(i64, cfg->keys.hot_spread, 8));
    cr_assert(eq(i64, cfg->keys.hot_hold_ms, 60000));
    cr_assert(eq(str, cfg->kafka.timestamp, "received"));
    cr_assert(eq(i64, cfg->limits.inflight_bytes, INT64_C(256) << 20));
    cr_assert(cfg->keying != NULL);
    for (int s = 1; s <= 5; s++) {
        cr_assert(eq(str, (char *)sl_keying_for(cfg->keying, s, "x", 1)->source, DEFAULT_TPL),
                  "every stage keys by user by default (stage %d)", s);
    }
    sl_config_unref(cfg);
}

Test(keys_config, templates_from_sets_are_compiled) {
    sl_config_t *cfg = t_config(NULL, T_SETS("keys.identity={user_id}", "keys.outcomes=",
                                             "keys.types=add_to_cart={tenant}:{properties.cart_id}",
                                             "keys.hot=acme:u1"));
    cr_assert(eq(str, (char *)sl_keying_for(cfg->keying, 2, "identify", 8)->source, "{user_id}"));
    cr_assert(eq(sz, sl_keying_for(cfg->keying, 5, "outcome", 7)->n_parts, 0));
    cr_assert(eq(str, (char *)sl_keying_for(cfg->keying, 1, "add_to_cart", 11)->source,
                 "{tenant}:{properties.cart_id}"));
    cr_assert(sl_keying_is_hot(cfg->keying, "acme:u1", 7));
    sl_config_unref(cfg);
}

static void config_fails(const char *set, const char *prefix, const char *needle) {
    sl_error_t err = t_config_fail(NULL, T_SETS(set));
    cr_assert(eq(str, (char *)err.code, "config_wrong_value"), "%s: %s", set, err.message);
    cr_assert(strstr(err.message, prefix) != NULL, "\"%s\" not in: %s", prefix, err.message);
    cr_assert(strstr(err.message, needle) != NULL, "\"%s\" not in: %s", needle, err.message);
}

Test(keys_config, bad_templates_name_their_key) {
    config_fails("keys.raw={bad}", "keys.raw: ", "\"bad\" is not a key component");
    config_fails("keys.decisions={tenant}:{user_id", "keys.decisions: ", "not closed");
    config_fails("keys.types=add_to_cart={usr_id}", "keys.types[add_to_cart]: ", "\"usr_id\"");
    config_fails("keys.types=add_to_cart", "keys.types: ", "is not type=template");
}

Test(keys_config, enums_and_ranges) {
    sl_error_t err = t_config_fail(NULL, T_SETS("keys.missing=drop"));
    cr_assert(strstr(err.message, "keys.missing") != NULL, "%s", err.message);
    err = t_config_fail(NULL, T_SETS("keys.hot_spread=1"));
    cr_assert(strstr(err.message, "keys.hot_spread") != NULL, "%s", err.message);
    err = t_config_fail(NULL, T_SETS("kafka.timestamp=sent"));
    cr_assert(strstr(err.message, "kafka.timestamp") != NULL, "%s", err.message);
    err = t_config_fail(NULL, T_SETS("limits.inflight_bytes=1KiB"));
    cr_assert(strstr(err.message, "limits.inflight_bytes") != NULL, "%s", err.message);
    sl_config_t *cfg = t_config(NULL, T_SETS("keys.missing=reject", "kafka.timestamp=event",
                                             "limits.inflight_bytes=64KiB", "keys.hot_rate=100"));
    cr_assert(eq(str, cfg->keys.missing, "reject"));
    cr_assert(eq(str, cfg->kafka.timestamp, "event"));
    cr_assert(eq(i64, cfg->limits.inflight_bytes, 65536));
    cr_assert(eq(i64, cfg->keys.hot_rate, 100));
    sl_config_unref(cfg);
}

/* ----------------------------------------------------------------- topic templates -- */

Test(topics_config, stage_is_filled_at_validation) {
    sl_config_t *cfg = t_config(NULL, T_SETS("topics.raw=x.{stage}", "topics.outcomes={stage}",
                                             "topics.dead_letter=x.{stage}"));
    cr_assert(eq(str, cfg->topics.raw, "x.raw"));
    cr_assert(eq(str, cfg->topics.outcomes, "outcomes"));
    cr_assert(eq(str, cfg->topics.dead_letter, "x.dead-letter"));
    cr_assert(eq(str, cfg->topics.identity, "sluice.identity"), "the others keep their default");
    sl_config_unref(cfg);
}

Test(topics_config, tenant_stays_for_the_route_stage) {
    sl_config_t *cfg = t_config(
        NULL, T_SETS("topics.raw={tenant}.events.{stage}", "topics.dead_letter={tenant}.dlq"));
    cr_assert(eq(str, cfg->topics.raw, "{tenant}.events.raw"));
    cr_assert(eq(str, cfg->topics.dead_letter, "{tenant}.dlq"));
    sl_config_unref(cfg);
}

Test(topics_config, privacy_and_suppression_cannot_be_templates) {
    sl_error_t err = t_config_fail(NULL, T_SETS("topics.privacy={tenant}.privacy"));
    cr_assert(eq(str, (char *)err.code, "config_wrong_value"));
    cr_assert(strstr(err.message, "topics.privacy") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "cannot be a template") != NULL, "%s", err.message);
    err = t_config_fail(NULL, T_SETS("topics.suppression={stage}"));
    cr_assert(strstr(err.message, "topics.suppression") != NULL, "%s", err.message);
}

Test(topics_config, other_braces_are_not_topic_names) {
    sl_error_t err = t_config_fail(NULL, T_SETS("topics.raw={tenant}.{type}"));
    cr_assert(strstr(err.message, "topics.raw") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "templates may use {tenant} and {stage}") != NULL, "%s",
              err.message);
}

Test(topics_config, empty_dead_letter_turns_it_off) {
    sl_config_t *cfg = t_config(NULL, T_SETS("topics.dead_letter="));
    cr_assert(eq(str, cfg->topics.dead_letter, ""));
    sl_config_unref(cfg);
    /* Only the dead-letter topic may be empty. */
    sl_error_t err = t_config_fail(NULL, T_SETS("topics.raw="));
    cr_assert(strstr(err.message, "topics.raw") != NULL, "%s", err.message);
}
