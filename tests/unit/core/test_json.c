/* core/json: the strict parser of request bodies, with its limits (nesting, events per batch)
 * enforced while parsing, unique keys, UTF-8 and escapes. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

static sl_arena_t *arena;

static void setup(void) {
    arena = sl_arena_new(4096);
}

static void teardown(void) {
    sl_arena_destroy(arena);
}

TestSuite(json, .init = setup, .fini = teardown);

static const sl_json_limits_t loose = {64, 1000000};

static sl_status_t parse_lim(const char *s, const sl_json_limits_t *lim, sl_json_doc_t *doc,
                             sl_error_t *err) {
    memset(err, 0, sizeof(*err));
    return sl_json_parse(s, strlen(s), lim, arena, doc, err);
}

static sl_json_doc_t must_parse(const char *s) {
    sl_json_doc_t doc;
    sl_error_t err;
    sl_status_t st = parse_lim(s, &loose, &doc, &err);
    cr_assert(eq(int, st, SL_OK), "refused %s: %s: %s", s, err.code ? err.code : "?", err.message);
    return doc;
}

static void must_refuse_lim(const char *s, const sl_json_limits_t *lim, const char *code) {
    sl_json_doc_t doc;
    sl_error_t err;
    sl_status_t st = parse_lim(s, lim, &doc, &err);
    cr_assert(eq(int, st, SL_REJECT), "accepted: %s", s);
    cr_assert(err.code != NULL);
    cr_assert(eq(str, (char *)err.code, (char *)code), "%s: %s", s, err.message);
    cr_assert(strstr(err.message, "byte") != NULL, "no offset in \"%s\"", err.message);
}

static void must_refuse(const char *s, const char *code) {
    must_refuse_lim(s, &loose, code);
}

/* The decoded text of a string node. */
static char *str_of(const sl_json_doc_t *doc, int64_t node) {
    cr_assert(node >= 0);
    cr_assert(eq(int, doc->nodes[node].type, SL_JSON_STRING));
    const char *s;
    size_t len;
    sl_json_str(doc, (uint32_t)node, arena, &s, &len);
    return sl_arena_strndup(arena, s, len);
}

Test(json, tree_of_nodes) {
    const char *src = " {\"a\": [1, \"two\", {\"b\": null}], \"c\": true, \"d\": -1.5e3} ";
    sl_json_doc_t doc = must_parse(src);
    cr_assert(doc.src == src);
    cr_assert(eq(int, doc.nodes[0].type, SL_JSON_OBJECT));
    cr_assert(eq(u32, doc.nodes[0].count, 3));
    cr_assert(eq(u32, doc.nodes[0].end, doc.n), "the root's subtree is every node");
    /* The root's span is the whole object without the surrounding whitespace. */
    cr_assert(eq(u32, doc.nodes[0].start, 1));
    cr_assert(eq(u32, doc.nodes[0].len, strlen(src) - 2));

    int64_t a = sl_json_get(&doc, 0, "a");
    cr_assert(a > 0);
    cr_assert(eq(int, doc.nodes[a].type, SL_JSON_ARRAY));
    cr_assert(eq(u32, doc.nodes[a].count, 3));
    cr_assert(strncmp(src + doc.nodes[a].start, "[1, \"two\", {\"b\": null}]", doc.nodes[a].len) ==
              0);
    uint32_t e1 = (uint32_t)a + 1;
    cr_assert(eq(int, doc.nodes[e1].type, SL_JSON_NUMBER));
    int64_t v = 0;
    cr_assert(eq(int, sl_json_int(&doc, e1, &v), 0));
    cr_assert(eq(i64, v, 1));
    uint32_t e2 = doc.nodes[e1].end;
    cr_assert(eq(str, str_of(&doc, e2), "two"));
    uint32_t e3 = doc.nodes[e2].end;
    cr_assert(eq(int, doc.nodes[e3].type, SL_JSON_OBJECT));
    int64_t b = sl_json_get(&doc, e3, "b");
    cr_assert(eq(int, doc.nodes[b].type, SL_JSON_NULL));
    cr_assert(eq(u32, doc.nodes[e3].end, doc.nodes[a].end));

    int64_t c = sl_json_get(&doc, 0, "c");
    cr_assert(eq(int, doc.nodes[c].type, SL_JSON_TRUE));
    int64_t d = sl_json_get(&doc, 0, "d");
    cr_assert(eq(int, doc.nodes[d].type, SL_JSON_NUMBER));
    cr_assert(eq(int, sl_json_int(&doc, (uint32_t)d, &v), -1), "-1.5e3 is not an integer");
    cr_assert(eq(int, sl_json_get(&doc, 0, "missing"), -1));
    cr_assert(eq(int, sl_json_get(&doc, (uint32_t)a, "a"), -1), "an array has no members");
    cr_assert(eq(int, sl_json_get(&doc, 0, "b"), -1), "only direct members are found");
}

Test(json, scalars_at_top_level) {
    sl_json_doc_t doc = must_parse("42");
    cr_assert(eq(int, doc.nodes[0].type, SL_JSON_NUMBER));
    doc = must_parse("\"s\"");
    cr_assert(eq(int, doc.nodes[0].type, SL_JSON_STRING));
    doc = must_parse("false");
    cr_assert(eq(int, doc.nodes[0].type, SL_JSON_FALSE));
    doc = must_parse("null");
    cr_assert(eq(int, doc.nodes[0].type, SL_JSON_NULL));
}

Test(json, many_nodes_grow) {
    size_t cap = 400000;
    char *body = malloc(cap);
    size_t n = (size_t)snprintf(body, cap, "{\"events\":[");
    for (int i = 0; i < 5000; i++) {
        n += (size_t)snprintf(body + n, cap - n, "%s{\"i\":%d,\"s\":[1,2,3,[4,[5]]]}", i ? "," : "",
                              i);
    }
    n += (size_t)snprintf(body + n, cap - n, "]}");
    sl_json_doc_t doc;
    sl_error_t err;
    sl_json_limits_t lim = {16, 5000};
    cr_assert(eq(int, sl_json_parse(body, n, &lim, arena, &doc, &err), SL_OK), "%s", err.message);
    int64_t events = sl_json_get(&doc, 0, "events");
    cr_assert(eq(u32, doc.nodes[events].count, 5000));
    uint32_t e = (uint32_t)events + 1;
    for (int i = 0; i < 5000; i++) {
        int64_t iv = -1;
        cr_assert(eq(int, sl_json_int(&doc, (uint32_t)sl_json_get(&doc, e, "i"), &iv), 0));
        cr_assert(eq(i64, iv, i));
        e = doc.nodes[e].end;
    }
    cr_assert(eq(u32, e, doc.n));
    free(body);
}

/* ---- nesting limit ---- */

Test(json, depth_limit) {
    sl_json_limits_t l3 = {3, 1000}, l4 = {4, 1000}, l1 = {1, 1000};
    const char *d4 = "{\"events\":[{\"a\":{\"b\":1}}]}";
    sl_json_doc_t doc;
    sl_error_t err;
    cr_assert(eq(int, parse_lim(d4, &l4, &doc, &err), SL_OK));
    must_refuse_lim(d4, &l3, "too_deep");
    cr_assert(eq(int, parse_lim("{}", &l1, &doc, &err), SL_OK));
    must_refuse_lim("{\"a\":{}}", &l1, "too_deep");
    must_refuse_lim("[[[[]]]]", &l3, "too_deep");
    cr_assert(eq(int, parse_lim("[[[[]]]]", &l4, &doc, &err), SL_OK));
}

Test(json, depth_counts_nesting_not_containers) {
    sl_json_limits_t l3 = {3, 1000};
    sl_json_doc_t doc;
    sl_error_t err;
    const char *wide = "{\"events\":[{},{},{},{\"a\":1},{}],\"x\":[],\"y\":{}}";
    cr_assert(eq(int, parse_lim(wide, &l3, &doc, &err), SL_OK), "%s", err.message);
}

Test(json, brackets_inside_strings_are_not_nesting) {
    sl_json_limits_t l1 = {1, 1000};
    sl_json_doc_t doc;
    sl_error_t err;
    cr_assert(eq(int, parse_lim("{\"a\":\"[[[[{{{{\",\"b\":\"}}]]\"}", &l1, &doc, &err), SL_OK));
    cr_assert(eq(int, parse_lim("{\"a\":\"\\\"[[[[\\\"\"}", &l1, &doc, &err), SL_OK));
}

Test(json, very_deep_input_refused_early) {
    size_t n = 1000000;
    char *deep = malloc(n);
    memset(deep, '[', n);
    sl_json_limits_t l = {16, 1000};
    sl_json_doc_t doc;
    sl_error_t err;
    cr_assert(eq(int, sl_json_parse(deep, n, &l, arena, &doc, &err), SL_REJECT));
    cr_assert(eq(str, (char *)err.code, "too_deep"));
    free(deep);
}

/* ---- elements of arrays directly inside the top-level value (the batch's events) ---- */

static void top_ok(const char *s, size_t max) {
    sl_json_limits_t l = {64, max};
    sl_json_doc_t doc;
    sl_error_t err;
    cr_assert(eq(int, parse_lim(s, &l, &doc, &err), SL_OK), "%s with max %zu: %s", s, max,
              err.message);
}

static void top_refused(const char *s, size_t max) {
    sl_json_limits_t l = {64, max};
    must_refuse_lim(s, &l, "too_many_elements");
}

Test(json, top_array_count) {
    top_ok("{\"events\":[1,2,3]}", 3);
    top_refused("{\"events\":[1,2,3]}", 2);
    top_ok("{\"events\":[]}", 0);
    top_refused("{\"events\":[1]}", 0);
    top_ok("{\"events\":[ 1 , 2 ,\n\t3 ]}", 3);
    top_refused("{\"events\":[ 1 , 2 ,\n\t3 ]}", 2);
    top_refused("{\"events\":[true,false,null,-1.5e3,\"s\"]}", 4);
    top_ok("{\"events\":[true,false,null,-1.5e3,\"s\"]}", 5);
}

Test(json, nested_arrays_are_not_top_level) {
    top_ok("{\"events\":[[1,2,3,4],[5]]}", 2);
    top_refused("{\"events\":[[1,2,3,4],[5]]}", 1);
    top_ok("{\"events\":[{\"a\":[1,2,3,4,5,6]},{}]}", 2);
    top_ok("{\"events\":[{\"a\":{\"b\":[1,2,3,4,5,6]}}]}", 1);
}

Test(json, every_array_inside_the_top_level_counts) {
    top_refused("{\"a\":[1,2,3,4,5],\"events\":[1]}", 4);
    top_ok("{\"a\":[1,2,3,4,5],\"events\":[1]}", 5);
    top_refused("{\"events\":[1],\"z\":[1,2]}", 1);
}

Test(json, strings_with_brackets_commas_and_escaped_quotes) {
    top_ok("{\"events\":[\"[a,b]\",\"x],[\",\"}\"]}", 3);
    top_refused("{\"events\":[\"[a,b]\",\"x],[\",\"}\"]}", 2);
    top_ok("{\"events\":[{\"k\":\"],[,,\"},{\"k\":\",\"}]}", 2);
    /* ["a\"],[\"", "b"] */
    top_ok("{\"events\":[\"a\\\"],[\\\"\",\"b\"]}", 2);
    top_refused("{\"events\":[\"a\\\"],[\\\"\",\"b\"]}", 1);
    /* ["a\\", "b", "c"]: an escaped backslash, then the quote ends the string */
    top_ok("{\"events\":[\"a\\\\\",\"b\",\"c\"]}", 3);
    top_refused("{\"events\":[\"a\\\\\",\"b\",\"c\"]}", 2);
}

Test(json, element_limit_stops_before_the_rest_is_parsed) {
    /* Invalid JSON after the limit: the count is what is reported. */
    top_refused("{\"events\":[{},{},{},{},", 3);
}

/* ---- keys ---- */

Test(json, duplicate_keys) {
    must_refuse("{\"a\":1,\"a\":2}", "duplicate_key");
    must_refuse("{\"events\":[{\"id\":\"x\",\"t\":1,\"id\":\"y\"}]}", "duplicate_key");
    /* The same key spelled with an escape is the same key. */
    must_refuse("{\"a\":1,\"\\u0061\":2}", "duplicate_key");
    /* Many keys (the sorted path). */
    char big[2048];
    size_t n = (size_t)snprintf(big, sizeof(big), "{");
    for (int i = 0; i < 40; i++) {
        n += (size_t)snprintf(big + n, sizeof(big) - n, "\"k%d\":%d,", i, i);
    }
    snprintf(big + n, sizeof(big) - n, "\"k17\":0}");
    must_refuse(big, "duplicate_key");
    big[n - 1] = '}';
    big[n] = '\0';
    must_parse(big);
    /* Same keys in different objects are fine. */
    must_parse("{\"a\":{\"a\":1},\"b\":{\"a\":2}}");
}

Test(json, get_with_escaped_key) {
    sl_json_doc_t doc = must_parse("{\"\\u0065vent\":1,\"plain\":2}");
    int64_t v = -1;
    int64_t node = sl_json_get(&doc, 0, "event");
    cr_assert(node > 0);
    cr_assert(eq(int, sl_json_int(&doc, (uint32_t)node, &v), 0));
    cr_assert(eq(i64, v, 1));
}

/* ---- strings ---- */

Test(json, string_spans_and_decoding) {
    sl_json_doc_t doc =
        must_parse("[\"plain\",\"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f\",\"\\u00e9\\u20ac\","
                   "\"\\ud83d\\ude00\",\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]");
    uint32_t s1 = 1;
    cr_assert(eq(int, doc.nodes[s1].flags &SL_JSON_F_ESCAPED, 0));
    const char *s;
    size_t len;
    sl_json_str(&doc, s1, arena, &s, &len);
    cr_assert(eq(sz, len, 5));
    cr_assert(s == doc.src + doc.nodes[s1].start, "an unescaped string is its span");
    cr_assert(strncmp(s, "plain", 5) == 0);
    uint32_t s2 = doc.nodes[s1].end;
    cr_assert(doc.nodes[s2].flags & SL_JSON_F_ESCAPED);
    cr_assert(eq(str, str_of(&doc, s2), "a\"b\\c/d\n\t\r\b\f"));
    uint32_t s3 = doc.nodes[s2].end;
    cr_assert(eq(str, str_of(&doc, s3), "\xc3\xa9\xe2\x82\xac"));
    uint32_t s4 = doc.nodes[s3].end;
    cr_assert(eq(str, str_of(&doc, s4), "\xf0\x9f\x98\x80"));
    uint32_t s5 = doc.nodes[s4].end;
    cr_assert(eq(str, str_of(&doc, s5), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
}

Test(json, malformed) {
    const char *cases[] = {
        "",
        "   ",
        "{",
        "{\"a\":1",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "[1,]",
        "[,1]",
        "{a:1}",
        "{'a':1}",
        "[01]",
        "[1.]",
        "[.5]",
        "[1e]",
        "[-]",
        "[+1]",
        "[NaN]",
        "[tru]",
        "[nul]",
        "{\"a\":1} x",
        "{}{}",
        "[\"unterminated]",
        "[\"bad escape \\x\"]",
        "[\"bad unicode \\u12G4\"]",
        "[\"short unicode \\u12\"]",
        "[\"tab\tin string\"]",
        "[\"newline\nin string\"]",
        "[\"\\u0000\"]",
        "[\"\\ud83d\"]",
        "[\"\\ud83dx\"]",
        "[\"\\ude00\"]",
        "[\"\xff\"]",
        "[\"\xc3\"]",
        "[\"\xc0\xaf\"]",         /* overlong '/' */
        "[\"\xe0\x80\xaf\"]",     /* overlong */
        "[\"\xed\xa0\x80\"]",     /* a surrogate in UTF-8 */
        "[\"\xf4\x90\x80\x80\"]", /* past U+10FFFF */
        "[\"\x80\"]",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        must_refuse(cases[i], "malformed_json");
    }
}

Test(json, reads_only_len_bytes) {
    const char *s = "{\"events\":[1,2]}[[[[[[";
    sl_json_doc_t doc;
    sl_error_t err;
    cr_assert(eq(int, sl_json_parse(s, 16, &loose, arena, &doc, &err), SL_OK), "%s", err.message);
    char *exact = malloc(7);
    memcpy(exact, "[\"abc\"]", 7); /* no NUL: ASan catches a read past len */
    cr_assert(eq(int, sl_json_parse(exact, 7, &loose, arena, &doc, &err), SL_OK));
    cr_assert(eq(int, sl_json_parse(exact, 6, &loose, arena, &doc, &err), SL_REJECT));
    memcpy(exact, "[12345]", 7);
    cr_assert(eq(int, sl_json_parse(exact, 6, &loose, arena, &doc, &err), SL_REJECT));
    memcpy(exact, "\"\\u00e", 6);
    cr_assert(eq(int, sl_json_parse(exact, 6, &loose, arena, &doc, &err), SL_REJECT));
    free(exact);
}

/* ---- numbers ---- */

Test(json, integers) {
    sl_json_doc_t doc = must_parse("[0,-0,9223372036854775807,-9223372036854775808,"
                                   "9223372036854775808,1.0,1e2,-12]");
    int64_t v;
    uint32_t n = 1;
    cr_assert(eq(int, sl_json_int(&doc, n, &v), 0));
    cr_assert(eq(i64, v, 0));
    n = doc.nodes[n].end;
    cr_assert(eq(int, sl_json_int(&doc, n, &v), 0));
    cr_assert(eq(i64, v, 0));
    n = doc.nodes[n].end;
    cr_assert(eq(int, sl_json_int(&doc, n, &v), 0));
    cr_assert(eq(i64, v, INT64_MAX));
    n = doc.nodes[n].end;
    cr_assert(eq(int, sl_json_int(&doc, n, &v), 0));
    cr_assert(eq(i64, v, INT64_MIN));
    n = doc.nodes[n].end;
    cr_assert(eq(int, sl_json_int(&doc, n, &v), -1), "out of range");
    n = doc.nodes[n].end;
    cr_assert(eq(int, sl_json_int(&doc, n, &v), -1), "1.0 has a fraction");
    n = doc.nodes[n].end;
    cr_assert(eq(int, sl_json_int(&doc, n, &v), -1), "1e2 has an exponent");
    n = doc.nodes[n].end;
    cr_assert(eq(int, sl_json_int(&doc, n, &v), 0));
    cr_assert(eq(i64, v, -12));
    cr_assert(eq(int, sl_json_int(&doc, 0, &v), -1), "an array is not a number");
    cr_assert(eq(int, sl_json_int(&doc, 0, &v), -1));
}

Test(json, type_phrases) {
    cr_assert(eq(str, (char *)sl_json_type_phrase(SL_JSON_OBJECT), "an object"));
    cr_assert(eq(str, (char *)sl_json_type_phrase(SL_JSON_ARRAY), "an array"));
    cr_assert(eq(str, (char *)sl_json_type_phrase(SL_JSON_STRING), "a string"));
    cr_assert(eq(str, (char *)sl_json_type_phrase(SL_JSON_NUMBER), "a number"));
    cr_assert(eq(str, (char *)sl_json_type_phrase(SL_JSON_TRUE), "a boolean"));
    cr_assert(eq(str, (char *)sl_json_type_phrase(SL_JSON_NULL), "null"));
}

/* sl_json_number must give strtod's exact bits, on its fast path and off it. */
Test(json, number_matches_strtod_bitwise) {
    static const char *fixed[] = {"0",
                                  "-0",
                                  "19.99",
                                  "0.1",
                                  "0.30000000000000004",
                                  "1e3",
                                  "-2.5E-3",
                                  "123456789012345",
                                  "1234567890123456",
                                  "9007199254740993",
                                  "0.000000000000000000001",
                                  "1.7976931348623157e308",
                                  "4.9e-324",
                                  "3.14159",
                                  "-1000.0001"};
    char body[128];
    unsigned seed = 12345;
    for (int i = 0; i < 20000 + (int)(sizeof(fixed) / sizeof(fixed[0])); i++) {
        if (i < (int)(sizeof(fixed) / sizeof(fixed[0]))) {
            snprintf(body, sizeof(body), "%s", fixed[i]);
        } else {
            /* Random decimals: up to 18 integer and 24 fraction digits, some negative. */
            size_t n = 0;
            seed = seed * 1103515245u + 12345u;
            if (seed & 0x10000) {
                body[n++] = '-';
            }
            int ints = 1 + (int)((seed >> 3) % 18), fracs = (int)((seed >> 9) % 25);
            for (int d = 0; d < ints; d++) {
                seed = seed * 1103515245u + 12345u;
                body[n++] = (char)('0' + (d == 0 ? 1 + (seed >> 16) % 9 : (seed >> 16) % 10));
            }
            if (fracs > 0) {
                body[n++] = '.';
                for (int d = 0; d < fracs; d++) {
                    seed = seed * 1103515245u + 12345u;
                    body[n++] = (char)('0' + (seed >> 16) % 10);
                }
            }
            body[n] = '\0';
        }
        sl_arena_t *a = sl_arena_new(256);
        sl_json_doc_t doc;
        sl_error_t err;
        sl_json_limits_t lim = {8, 8};
        cr_assert(eq(int, sl_json_parse(body, strlen(body), &lim, a, &doc, &err), SL_OK), "%s",
                  body);
        double got = sl_json_number(&doc, 0), want = strtod(body, NULL);
        cr_assert(memcmp(&got, &want, sizeof(got)) == 0, "%s: %.17g != strtod %.17g", body, got,
                  want);
        sl_arena_destroy(a);
    }
}
