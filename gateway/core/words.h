/* core/words: whitespace-separated lists, the form of list-valued configuration keys
 * (keys.hot, keys.types, cors.origins, auth.default_scope). */
#ifndef SL_CORE_WORDS_H
#define SL_CORE_WORDS_H

#include <ctype.h>
#include <stddef.h>

/* The next word of *s: returns its start and length and moves *s past it, or NULL at the end. */
static inline const char *sl_word_next(const char **s, size_t *len) {
    const char *p = *s;
    while (isspace((unsigned char)*p)) {
        p++;
    }
    if (*p == '\0') {
        *s = p;
        return NULL;
    }
    size_t n = 0;
    while (p[n] != '\0' && !isspace((unsigned char)p[n])) {
        n++;
    }
    *s = p + n;
    *len = n;
    return p;
}

#endif
