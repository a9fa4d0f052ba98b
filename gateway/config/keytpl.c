#include "config/keytpl.h"

#include "core/words.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n == 0 ? 1 : n, size);
    if (p == NULL) {
        abort();
    }
    return p;
}

static char *xstrndup(const char *s, size_t n) {
    char *p = xcalloc(n + 1, 1);
    memcpy(p, s, n);
    return p;
}

static const char *const envelope_fields[] = {"event_id",   "user_id",   "anonymous_id",
                                              "session_id", "device_id", "account_id"};

#define NAMES_HINT                                                                                 \
    "tenant, stage, type, event_id, user_id, anonymous_id, session_id, device_id, account_id or "  \
    "properties.<field>"

static bool is_word(const char *s, size_t n) {
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '_') {
            return false;
        }
    }
    return true;
}

/* "properties.a.b": every dotted segment a non-empty word. */
static bool is_property_path(const char *s, size_t n) {
    if (n <= 11 || memcmp(s, "properties.", 11) != 0) {
        return false;
    }
    size_t start = 11;
    for (size_t i = 11; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (!is_word(s + start, i - start)) {
                return false;
            }
            start = i + 1;
        }
    }
    return true;
}

static sl_status_t parse_alt(const char *key, const char *s, size_t n, sl_kt_alt_t *alt,
                             sl_error_t *err) {
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        n--;
    }
    alt->text = xstrndup(s, n);
    alt->len = n;
    if (n == 4 && memcmp(s, "type", 4) == 0) {
        alt->kind = SL_KT_TYPE;
    } else if (n == 5 && memcmp(s, "stage", 5) == 0) {
        alt->kind = SL_KT_STAGE;
    } else if (n == 6 && memcmp(s, "tenant", 6) == 0) {
        alt->kind = SL_KT_TENANT;
    } else {
        alt->kind = SL_KT_FIELD;
        for (size_t i = 0; i < sizeof(envelope_fields) / sizeof(envelope_fields[0]); i++) {
            if (strlen(envelope_fields[i]) == n && memcmp(envelope_fields[i], s, n) == 0) {
                return SL_OK;
            }
        }
        if (!is_property_path(s, n)) {
            return sl_error_set(err, SL_REJECT, "config_wrong_value",
                                "%s: \"%.*s\" is not a key component; use " NAMES_HINT, key, (int)n,
                                s);
        }
    }
    return SL_OK;
}

void sl_keytpl_free(sl_keytpl_t *t) {
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->n_parts; i++) {
        for (size_t a = 0; a < t->parts[i].n_alts; a++) {
            free((char *)t->parts[i].alts[a].text);
        }
        free((sl_kt_alt_t *)t->parts[i].alts);
    }
    free((sl_kt_part_t *)t->parts);
    free((char *)t->source);
    free(t);
}

sl_status_t sl_keytpl_compile(const char *key, const char *text, sl_keytpl_t **out,
                              sl_error_t *err) {
    size_t len = strlen(text);
    sl_keytpl_t *t = xcalloc(1, sizeof(*t));
    t->source = xstrndup(text, len);
    /* At most one part per character. */
    sl_kt_part_t *parts = xcalloc(len, sizeof(*parts));
    t->parts = parts;
    sl_status_t rc = SL_OK;
    size_t i = 0;
    while (i < len && rc == SL_OK) {
        sl_kt_part_t *p = &parts[t->n_parts];
        if (text[i] == '}') {
            rc = sl_error_set(err, SL_REJECT, "config_wrong_value",
                              "%s: \"%s\": `}` at offset %zu closes no group", key, text, i);
            break;
        }
        if (text[i] != '{') {
            size_t n = strcspn(text + i, "{}");
            sl_kt_alt_t *alt = xcalloc(1, sizeof(*alt));
            alt->kind = SL_KT_LITERAL;
            alt->text = xstrndup(text + i, n);
            alt->len = n;
            p->alts = alt;
            p->n_alts = 1;
            t->n_parts++;
            i += n;
            continue;
        }
        const char *close = strchr(text + i + 1, '}');
        const char *open = strchr(text + i + 1, '{');
        if (close == NULL || (open != NULL && open < close)) {
            rc = sl_error_set(err, SL_REJECT, "config_wrong_value",
                              "%s: \"%s\": the group at offset %zu is not closed with `}`", key,
                              text, i);
            break;
        }
        const char *g = text + i + 1;
        size_t glen = (size_t)(close - g);
        size_t n_alts = 1;
        for (size_t k = 0; k < glen; k++) {
            n_alts += g[k] == '|';
        }
        sl_kt_alt_t *alts = xcalloc(n_alts, sizeof(*alts));
        p->alts = alts;
        t->n_parts++;
        size_t start = 0;
        for (size_t k = 0; k <= glen && rc == SL_OK; k++) {
            if (k == glen || g[k] == '|') {
                rc = parse_alt(key, g + start, k - start, &alts[p->n_alts], err);
                p->n_alts++;
                start = k + 1;
            }
        }
        t->has_group = true;
        i = (size_t)(close - text) + 1;
    }
    if (rc != SL_OK) {
        sl_keytpl_free(t);
        return rc;
    }
    *out = t;
    return SL_OK;
}

/* --- the set of one snapshot ---------------------------------------------------------------- */

void sl_keying_free(sl_keying_t *k) {
    if (k == NULL) {
        return;
    }
    for (int s = 0; s < 6; s++) {
        sl_keytpl_free((sl_keytpl_t *)k->stage[s]);
    }
    for (size_t i = 0; i < k->n_types; i++) {
        free((char *)k->type_names[i]);
        sl_keytpl_free((sl_keytpl_t *)k->type_tpls[i]);
    }
    free((char **)k->type_names);
    free((sl_keytpl_t **)k->type_tpls);
    for (size_t i = 0; i < k->n_hot; i++) {
        free((char *)k->hot[i]);
    }
    free((char **)k->hot);
    free(k);
}

/* Whitespace-separated words of s: count, or (with out) copies. */
static size_t split_words(const char *s, char **out) {
    size_t n = 0, w;
    for (const char *word; (word = sl_word_next(&s, &w)) != NULL; n++) {
        if (out != NULL) {
            out[n] = xstrndup(word, w);
        }
    }
    return n;
}

sl_status_t sl_keying_build(const char *const stage[6], const char *types, const char *hot,
                            sl_keying_t **out, sl_error_t *err) {
    static const char *const stage_keys[6] = {
        "", "keys.raw", "keys.identity", "keys.consent", "keys.decisions", "keys.outcomes"};
    sl_keying_t *k = xcalloc(1, sizeof(*k));
    sl_status_t rc = SL_OK;
    for (int s = 1; s < 6 && rc == SL_OK; s++) {
        rc = sl_keytpl_compile(stage_keys[s], stage[s], (sl_keytpl_t **)&k->stage[s], err);
    }
    size_t nt = split_words(types, NULL);
    char **words = xcalloc(nt, sizeof(char *));
    split_words(types, words);
    const char **names = xcalloc(nt, sizeof(char *));
    const sl_keytpl_t **tpls = xcalloc(nt, sizeof(sl_keytpl_t *));
    k->type_names = names;
    k->type_tpls = tpls;
    for (size_t i = 0; i < nt && words[i] != NULL; i++) {
        char *eq = strchr(words[i], '=');
        if (rc == SL_OK && (eq == NULL || eq == words[i])) {
            rc = sl_error_set(err, SL_REJECT, "config_wrong_value",
                              "keys.types: \"%s\" is not type=template (e.g. "
                              "add_to_cart={tenant}:{properties.cart_id})",
                              words[i]);
        }
        if (rc == SL_OK) {
            names[k->n_types] = xstrndup(words[i], (size_t)(eq - words[i]));
            char key[160];
            snprintf(key, sizeof(key), "keys.types[%.64s]", names[k->n_types]);
            k->n_types++;
            rc = sl_keytpl_compile(key, eq + 1, (sl_keytpl_t **)&tpls[k->n_types - 1], err);
        }
        free(words[i]);
    }
    free(words);
    k->n_hot = split_words(hot, NULL);
    k->hot = xcalloc(k->n_hot, sizeof(char *));
    split_words(hot, (char **)k->hot);
    if (rc != SL_OK) {
        sl_keying_free(k);
        return rc;
    }
    *out = k;
    return SL_OK;
}

const sl_keytpl_t *sl_keying_for(const sl_keying_t *k, int stage, const char *type,
                                 size_t type_len) {
    for (size_t i = 0; i < k->n_types; i++) {
        if (strlen(k->type_names[i]) == type_len && memcmp(k->type_names[i], type, type_len) == 0) {
            return k->type_tpls[i];
        }
    }
    return k->stage[stage >= 1 && stage <= 5 ? stage : 1];
}

bool sl_keying_is_hot(const sl_keying_t *k, const char *key, size_t len) {
    for (size_t i = 0; i < k->n_hot; i++) {
        if (strlen(k->hot[i]) == len && memcmp(k->hot[i], key, len) == 0) {
            return true;
        }
    }
    return false;
}
