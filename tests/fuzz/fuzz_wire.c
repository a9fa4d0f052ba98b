/* Fuzz target: the protobuf wire validator. The first byte picks an event contract of the
 * catalog, the rest is validated as that message. */
#include <stdint.h>

#include "contracts/contracts.h"

#ifndef SL_CONTRACTS_DEFAULT
#define SL_CONTRACTS_DEFAULT ""
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sl_contracts_t *c;
    if (c == NULL) {
        sl_error_t err;
        if (sl_contracts_load(SL_CONTRACTS_DEFAULT, &c, &err) != SL_OK) {
            __builtin_trap();
        }
    }
    if (size == 0) {
        return 0;
    }
    const sl_ct_message_t *m = sl_contracts_at(c, data[0] % sl_contracts_count(c));
    sl_error_t err;
    sl_ct_validate_wire(m, data + 1, size - 1, "properties", 8, (data[0] & 0x80) != 0, &err);
    return 0;
}
