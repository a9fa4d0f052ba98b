/* Fuzz target: the contract loader — a whole descriptor set (protobuf-c unpacking with a budget,
 * type resolution, recursion check) when the first byte is 'D', else the custom-option wire
 * parsers (FieldRules, Contract) on the raw bytes. */
#include <stdint.h>

#include "contracts/contracts.h"
#include "contracts/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 0 && data[0] == 'D') {
        sl_contracts_t *c = NULL;
        sl_error_t err;
        if (sl_contracts_load_mem(data + 1, size - 1, "fuzz", &c, &err) == SL_OK) {
            sl_contracts_diff(c, c, NULL, NULL);
            sl_contracts_unref(c);
        }
        return 0;
    }
    sl_ct_fuzz_options(data, size);
    return 0;
}
