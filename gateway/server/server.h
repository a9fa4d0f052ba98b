/* server: `sluice serve` — wires config, sink, pipeline and listeners, and owns the process
 * lifecycle (signals, reload, drain). */
#ifndef SL_SERVER_SERVER_H
#define SL_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *config_path; /* NULL: the embedded default */
    const char *const *sets;
    size_t nsets;
    bool check_only;
} sl_serve_opts_t;

/* Runs until SIGTERM/SIGINT has drained the gateway. Returns the process exit code: 0 after a
 * clean drain, 2 for a configuration error, 1 for any other start failure. Call from the main
 * thread before any other thread exists (it blocks the signals it waits for). */
int sl_serve(const sl_serve_opts_t *opts);

/* `sluice policy lint|test|explain` (server/policy_cmd.c); argv[0] is "policy". Returns the exit
 * code. default_contracts: the descriptor set policies are checked against without
 * --contracts. */
int sl_policy_main(int argc, char **argv, const char *default_contracts);

#endif
