/* config/yamldoc: the YAML document the key ring, the policy and `policy test` load, and the
 * "[<key>: ]<file>:<line>:<column>: ..." errors it gives them. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/yamldoc.h"
#include "support.h"

static const char doc_text[] = "name: first\n"
                               "list: [a, b]\n"
                               "nested:\n"
                               "  inner: value\n"
                               "name: second\n"
                               "? [complex, key]\n"
                               ": x\n"
                               "after: y\n";

static sl_error_t err;
static sl_yamldoc_t y;

static void load_text(const char *text) {
    memset(&err, 0, sizeof(err));
    y = (sl_yamldoc_t){.file = "mem.yaml", .code = "test_code", .err = &err};
    cr_assert(eq(int, sl_yamldoc_load(&y, text, strlen(text)), SL_OK), "%s", err.message);
}

static void done(void) {
    sl_yamldoc_free(&y);
}

TestSuite(yamldoc, .fini = done);

Test(yamldoc, lookups) {
    load_text(doc_text);
    yaml_node_t *root = sl_yamldoc_root(&y);
    cr_assert(root != NULL && root->type == YAML_MAPPING_NODE);
    cr_assert(eq(str, (char *)sl_yamldoc_get_scalar(&y, root, "name"), "first"),
              "the first of two equal keys");
    yaml_node_t *nested = sl_yamldoc_get(&y, root, "nested");
    cr_assert(nested != NULL && nested->type == YAML_MAPPING_NODE);
    cr_assert(eq(str, (char *)sl_yamldoc_get_scalar(&y, nested, "inner"), "value"));
    /* Not a scalar, not there, not a mapping: NULL. */
    cr_assert(sl_yamldoc_get(&y, root, "list") != NULL);
    cr_assert(sl_yamldoc_get_scalar(&y, root, "list") == NULL);
    cr_assert(sl_yamldoc_get_scalar(&y, root, "inner") == NULL);
    cr_assert(sl_yamldoc_get(&y, sl_yamldoc_get(&y, root, "list"), "a") == NULL);
    cr_assert(sl_yamldoc_get(&y, NULL, "name") == NULL);
    cr_assert(eq(str, (char *)sl_yamldoc_get_scalar(&y, root, "after"), "y"),
              "a non-scalar key on the way is skipped");
    cr_assert(sl_yamldoc_scalar(NULL) == NULL);
    cr_assert(sl_yamldoc_scalar(nested) == NULL);
    cr_assert(eq(str, (char *)sl_yamldoc_scalar(sl_yamldoc_get(&y, nested, "inner")), "value"));
}

Test(yamldoc, empty_document_has_no_root) {
    load_text("");
    cr_assert(sl_yamldoc_root(&y) == NULL);
    cr_assert(sl_yamldoc_get(&y, sl_yamldoc_root(&y), "x") == NULL);
}

Test(yamldoc, not_loaded_and_free_twice) {
    y = (sl_yamldoc_t){.file = "x.yaml", .code = "c"};
    cr_assert(sl_yamldoc_root(&y) == NULL);
    sl_yamldoc_free(&y);
    load_text("a: b\n");
    sl_yamldoc_free(&y);
    sl_yamldoc_free(&y);
    cr_assert(sl_yamldoc_root(&y) == NULL);
}

Test(yamldoc, syntax_error_names_file_line_column) {
    const char *bad = "a: b\nc: [d\n";
    y = (sl_yamldoc_t){.file = "bad.yaml", .code = "policy_invalid", .err = &err};
    cr_assert(eq(int, sl_yamldoc_load(&y, bad, strlen(bad)), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "policy_invalid"));
    cr_assert(strncmp(err.message, "bad.yaml:3:1: ", 14) == 0, "%s", err.message);
    cr_assert(sl_yamldoc_root(&y) == NULL);
    /* With a key, the message starts with it. */
    y = (sl_yamldoc_t){
        .key = "auth.keys_file", .file = "k.yaml", .code = "config_syntax", .err = &err};
    cr_assert(eq(int, sl_yamldoc_load(&y, "{x\n", 3), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "config_syntax"));
    cr_assert(strncmp(err.message, "auth.keys_file: k.yaml:", 23) == 0, "%s", err.message);
}

Test(yamldoc, fail_at_a_node) {
    load_text("top:\n  - one\n  -   two\n");
    yaml_node_t *list = sl_yamldoc_get(&y, sl_yamldoc_root(&y), "top");
    yaml_node_t *two = yaml_document_get_node(&y.doc, list->data.sequence.items.start[1]);
    cr_assert(eq(int, sl_yamldoc_fail(&y, two, "%s is not %d", "two", 2), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "test_code"));
    cr_assert(eq(str, err.message, "mem.yaml:3:7: two is not 2"));
    cr_assert(eq(int, sl_yamldoc_fail(&y, NULL, "nowhere"), SL_REJECT));
    cr_assert(eq(str, err.message, "mem.yaml:0:0: nowhere"));
    y.key = "policies.dir";
    sl_yamldoc_fail(&y, list, "a list");
    cr_assert(eq(str, err.message, "policies.dir: mem.yaml:2:3: a list"));
    /* A long message is cut, not overflowed. */
    char longer[1000];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    sl_yamldoc_fail(&y, list, "%s", longer);
    cr_assert(eq(sz, strlen(err.message), sizeof(err.message) - 1));
}

Test(yamldoc, load_file) {
    char *path = t_write_temp("keys:\n  - {kid: a}\n");
    y = (sl_yamldoc_t){.key = "auth.keys_file", .file = path, .code = "config_syntax", .err = &err};
    cr_assert(eq(int, sl_yamldoc_load_file(&y), SL_OK), "%s", err.message);
    yaml_node_t *keys = sl_yamldoc_get(&y, sl_yamldoc_root(&y), "keys");
    cr_assert(keys != NULL && keys->type == YAML_SEQUENCE_NODE);
    yaml_node_t *first = yaml_document_get_node(&y.doc, keys->data.sequence.items.start[0]);
    cr_assert(eq(str, (char *)sl_yamldoc_get_scalar(&y, first, "kid"), "a"));
    sl_yamldoc_free(&y);
    t_remove_temp(path);

    y = (sl_yamldoc_t){.key = "auth.keys_file",
                       .file = "/nonexistent/keys.yaml",
                       .code = "config_syntax",
                       .err = &err};
    cr_assert(eq(int, sl_yamldoc_load_file(&y), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "config_unreadable"));
    cr_assert(eq(str, err.message,
                 "auth.keys_file: cannot open /nonexistent/keys.yaml: No such file or directory"));
    y.key = NULL;
    cr_assert(eq(int, sl_yamldoc_load_file(&y), SL_REJECT));
    cr_assert(
        eq(str, err.message, "cannot open /nonexistent/keys.yaml: No such file or directory"));
}
