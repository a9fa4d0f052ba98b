/* contracts/envelope: the built-in sluice.v1 descriptors (proto/embed.cmake). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "contracts/contracts.h"

extern const unsigned char SL_ENVELOPE_PB[];
extern const size_t SL_ENVELOPE_PB_len;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static sl_contracts_t *envelope;

static void load(void) {
    sl_error_t err;
    if (sl_contracts_load_mem(SL_ENVELOPE_PB, SL_ENVELOPE_PB_len, "built-in envelope", &envelope,
                              &err) != SL_OK) {
        fprintf(stderr, "sluice: built-in envelope descriptors: %s\n", err.message);
        abort(); /* a build defect, not a run-time condition */
    }
}

const sl_contracts_t *sl_envelope(void) {
    pthread_once(&once, load);
    return envelope;
}
