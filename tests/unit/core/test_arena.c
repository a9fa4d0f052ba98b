#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"

Test(arena, alloc_is_16_byte_aligned) {
    sl_arena_t *a = sl_arena_new(256);
    for (size_t n = 1; n <= 100; n++) {
        unsigned char *p = sl_arena_alloc(a, n);
        cr_assert(p != NULL);
        cr_assert(eq(u64, (uintptr_t)p % 16, 0), "allocation of %zu bytes is misaligned", n);
        memset(p, 0xab, n); /* the whole allocation is writable (ASan checks the bounds) */
    }
    sl_arena_destroy(a);
}

Test(arena, allocations_do_not_overlap) {
    sl_arena_t *a = sl_arena_new(256);
    unsigned char *ptrs[64];
    for (int i = 0; i < 64; i++) {
        ptrs[i] = sl_arena_alloc(a, 24);
        memset(ptrs[i], i, 24);
    }
    for (int i = 0; i < 64; i++) {
        for (int k = 0; k < 24; k++) {
            cr_assert(eq(u8, ptrs[i][k], (uint8_t)i), "allocation %d was overwritten", i);
        }
    }
    sl_arena_destroy(a);
}

Test(arena, large_allocation_beyond_the_block) {
    sl_arena_t *a = sl_arena_new(256);
    char *small = sl_arena_alloc(a, 32);
    memcpy(small, "before the large allocation", 28);
    size_t big_n = 100000;
    unsigned char *big = sl_arena_alloc(a, big_n);
    cr_assert(big != NULL);
    cr_assert(eq(u64, (uintptr_t)big % 16, 0));
    memset(big, 0x5a, big_n);
    cr_assert(eq(u8, big[0], 0x5a));
    cr_assert(eq(u8, big[big_n - 1], 0x5a));
    /* The arena keeps working after the large block, and earlier data is intact. */
    char *after = sl_arena_alloc(a, 64);
    memset(after, 'x', 64);
    cr_assert(eq(str, small, "before the large allocation"));
    cr_assert(eq(u8, big[big_n / 2], 0x5a));
    cr_assert(sl_arena_used(a) >= big_n + 32 + 64);
    sl_arena_destroy(a);
}

Test(arena, many_blocks) {
    sl_arena_t *a = sl_arena_new(0);
    size_t total = 0;
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)(i % 300) + 1;
        char *p = sl_arena_alloc(a, n);
        memset(p, 1, n);
        total += n;
    }
    cr_assert(sl_arena_used(a) >= total);
    sl_arena_destroy(a);
}

Test(arena, used_counts_bytes_handed_out) {
    sl_arena_t *a = sl_arena_new(1024);
    cr_assert(eq(sz, sl_arena_used(a), 0));
    sl_arena_alloc(a, 100);
    size_t u1 = sl_arena_used(a);
    cr_assert(u1 >= 100 && u1 < 100 + 16, "used %zu after one 100-byte allocation", u1);
    sl_arena_alloc(a, 5000);
    cr_assert(sl_arena_used(a) >= u1 + 5000);
    sl_arena_destroy(a);
}

Test(arena, calloc_zeroes) {
    sl_arena_t *a = sl_arena_new(256);
    for (int round = 0; round < 4; round++) {
        size_t n = 700 * (size_t)(round + 1);
        unsigned char *p = sl_arena_calloc(a, n);
        for (size_t i = 0; i < n; i++) {
            cr_assert(eq(u8, p[i], 0), "byte %zu of calloc(%zu) is not zero", i, n);
        }
        memset(p, 0xff, n);
    }
    sl_arena_destroy(a);
}

Test(arena, strndup_copies_and_terminates) {
    sl_arena_t *a = sl_arena_new(256);
    const char *src = "hello world";
    char *s = sl_arena_strndup(a, src, 5);
    cr_assert(eq(str, s, "hello"));
    cr_assert(s != src);
    char *e = sl_arena_strndup(a, src, 0);
    cr_assert(eq(str, e, ""));
    /* Not NUL-terminated input: only n bytes are read. */
    char raw[4] = {'a', 'b', 'c', 'd'};
    cr_assert(eq(str, sl_arena_strndup(a, raw, 4), "abcd"));
    sl_arena_destroy(a);
}

static int order[8];
static int n_order;

static void hook(void *arg) {
    order[n_order++] = (int)(intptr_t)arg;
}

Test(arena, destroy_hooks_run_in_reverse_order) {
    sl_arena_t *a = sl_arena_new(256);
    sl_arena_on_destroy(a, hook, (void *)(intptr_t)1);
    sl_arena_alloc(a, 4000); /* hooks registered across several blocks */
    sl_arena_on_destroy(a, hook, (void *)(intptr_t)2);
    sl_arena_on_destroy(a, hook, (void *)(intptr_t)3);
    cr_assert(eq(int, n_order, 0), "hooks ran before destroy");
    sl_arena_destroy(a);
    cr_assert(eq(int, n_order, 3));
    cr_assert(eq(int, order[0], 3));
    cr_assert(eq(int, order[1], 2));
    cr_assert(eq(int, order[2], 1));
}

static int freed;

static void free_hook(void *arg) {
    free(arg);
    freed++;
}

Test(arena, hook_frees_foreign_memory) {
    sl_arena_t *a = sl_arena_new(256);
    for (int i = 0; i < 50; i++) {
        sl_arena_on_destroy(a, free_hook, malloc(100));
    }
    sl_arena_destroy(a);
    cr_assert(eq(int, freed, 50));
}

Test(arena, destroy_null_is_ignored) {
    sl_arena_destroy(NULL);
}
