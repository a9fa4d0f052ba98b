/* core/arena: a bump allocator owned by one request or stream.
 *
 * Everything a stage allocates for a request comes from its arena and is freed at once when the
 * request ends; objects of other libraries (jansson trees, libjwt handles) are tied to the arena
 * with a cleanup hook. An arena is used by one thread at a time. Allocation failure of the process
 * allocator aborts: configured limits keep sizes bounded before anything is allocated. */
#ifndef SL_CORE_ARENA_H
#define SL_CORE_ARENA_H

#include <stddef.h>

typedef struct sl_arena sl_arena_t;

/* A new arena whose first block holds at least first_block bytes. Free with sl_arena_destroy. */
sl_arena_t *sl_arena_new(size_t first_block);

/* n bytes aligned to 16, uninitialised, valid until the arena is destroyed. */
void *sl_arena_alloc(sl_arena_t *a, size_t n);

/* n zeroed bytes. */
void *sl_arena_calloc(sl_arena_t *a, size_t n);

/* A NUL-terminated copy of the first n bytes of s. */
char *sl_arena_strndup(sl_arena_t *a, const char *s, size_t n);

/* Run fn(arg) when the arena is destroyed; hooks run in reverse order of registration. */
void sl_arena_on_destroy(sl_arena_t *a, void (*fn)(void *), void *arg);

/* Bytes handed out so far (for limits and metrics). */
size_t sl_arena_used(const sl_arena_t *a);

/* Runs the cleanup hooks and frees every block. NULL is ignored. */
void sl_arena_destroy(sl_arena_t *a);

#endif
