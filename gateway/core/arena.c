#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
    struct block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
} block_t;

typedef struct hook {
    struct hook *next;
    void (*fn)(void *);
    void *arg;
} hook_t;

struct sl_arena {
    block_t *head;
    hook_t *hooks;
    size_t total;
};

static block_t *block_new(size_t size) {
    block_t *b = malloc(sizeof(*b) + size);
    if (b == NULL) {
        abort();
    }
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

sl_arena_t *sl_arena_new(size_t first_block) {
    sl_arena_t *a = malloc(sizeof(*a));
    if (a == NULL) {
        abort();
    }
    a->head = block_new(first_block < 256 ? 256 : first_block);
    a->hooks = NULL;
    a->total = 0;
    return a;
}

void *sl_arena_alloc(sl_arena_t *a, size_t n) {
    size_t need = (n + 15u) & ~(size_t)15u;
    if (need < n) {
        abort();
    }
    block_t *b = a->head;
    if (b->size - b->used < need) {
        size_t size = b->size * 2;
        if (size < need) {
            size = need;
        }
        b = block_new(size);
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total += need;
    return p;
}

void *sl_arena_calloc(sl_arena_t *a, size_t n) {
    void *p = sl_arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *sl_arena_strndup(sl_arena_t *a, const char *s, size_t n) {
    char *p = sl_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void sl_arena_on_destroy(sl_arena_t *a, void (*fn)(void *), void *arg) {
    hook_t *h = sl_arena_alloc(a, sizeof(*h));
    h->fn = fn;
    h->arg = arg;
    h->next = a->hooks;
    a->hooks = h;
}

size_t sl_arena_used(const sl_arena_t *a) {
    return a->total;
}

void sl_arena_destroy(sl_arena_t *a) {
    if (a == NULL) {
        return;
    }
    for (hook_t *h = a->hooks; h != NULL; h = h->next) {
        h->fn(h->arg);
    }
    block_t *b = a->head;
    while (b != NULL) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}
