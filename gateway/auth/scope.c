/* auth/scope: what a token may write. Scopes are space-separated words:
 *   write:*               any event
 *   write:<type>          events of one type
 *   write:stage:<stage>   events of every type of a stage (raw, identity, consent, ...)
 * Other words (e.g. a future privacy:erasure) grant no writes. */
#include <stdbool.h>
#include <string.h>

#include "auth/auth.h"

/* Calls match(word) for each word; stops at the first true. */
static bool any_word(const char *scope, bool (*match)(const char *w, size_t n, const void *arg),
                     const void *arg) {
    const char *p = scope;
    while (p != NULL && *p != '\0') {
        while (*p == ' ') {
            p++;
        }
        size_t n = strcspn(p, " ");
        if (n > 0 && match(p, n, arg)) {
            return true;
        }
        p += n;
    }
    return false;
}

static bool is_write(const char *w, size_t n, const void *arg) {
    (void)arg;
    return n > 6 && memcmp(w, "write:", 6) == 0;
}

bool sl_auth_scope_can_write(const char *scope) {
    return scope == NULL || any_word(scope, is_write, NULL);
}

typedef struct {
    const char *type;
    size_t type_len;
    const char *stage;
} want_t;

static bool allows(const char *w, size_t n, const void *arg) {
    const want_t *x = arg;
    if (n < 7 || memcmp(w, "write:", 6) != 0) {
        return false;
    }
    w += 6;
    n -= 6;
    if (n == 1 && w[0] == '*') {
        return true;
    }
    if (n > 6 && memcmp(w, "stage:", 6) == 0) {
        return x->stage != NULL && n - 6 == strlen(x->stage) && memcmp(w + 6, x->stage, n - 6) == 0;
    }
    return n == x->type_len && memcmp(w, x->type, n) == 0;
}

bool sl_auth_scope_allows(const char *scope, const char *type, size_t type_len, const char *stage) {
    if (scope == NULL) {
        return true; /* authentication off */
    }
    want_t x = {type, type_len, stage};
    return any_word(scope, allows, &x);
}

static bool same_word(const char *w, size_t n, const void *arg) {
    const char *word = arg;
    return n == strlen(word) && memcmp(w, word, n) == 0;
}

bool sl_auth_scope_has(const char *scope, const char *word) {
    return scope == NULL || any_word(scope, same_word, word);
}
