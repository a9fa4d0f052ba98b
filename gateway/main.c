/* sluice: the command line. Each verb parses its own options and has its own --help. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "config/config.h"
#include "contracts/contracts.h"
#include "server/server.h"

#ifndef SL_VERSION
#define SL_VERSION "0.0.0"
#endif

#define MAX_SETS 256

static const char usage_main[] =
    "usage: sluice <command> [options]\n"
    "\n"
    "sluice is an event ingestion gateway: it takes batches of behaviour events over HTTP,\n"
    "authenticates them with a JWT, validates them and produces each one to Kafka, answering\n"
    "only once Kafka has acknowledged every event.\n"
    "\n"
    "commands:\n"
    "  serve      run the gateway (without --config: embedded Kafka broker and a dev token)\n"
    "  token      mint a JWT for development and tests\n"
    "  policy     lint, test and explain the privacy policy (policies/)\n"
    "  config     print the configuration reference (config docs)\n"
    "  contracts  list the event contracts of a descriptor set, or check a change for\n"
    "             breaking differences (contracts check OLD.pb NEW.pb)\n"
    "  version    print the version\n"
    "\n"
    "Run `sluice <command> --help` for the options of a command. Configuration keys are listed\n"
    "in docs/configuration.md and by `sluice config docs`.\n";

static const char usage_serve[] =
    "usage: sluice serve [--config FILE] [--set key.path=value]... [--check]\n"
    "\n"
    "Runs the gateway. Without --config every key has its default: kafka.brokers=embedded\n"
    "starts an in-process Kafka-protocol broker with the stage topics, and a development token\n"
    "is printed. The addresses it listens on and the Kafka bootstrap address are printed at\n"
    "start.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE        YAML configuration file\n"
    "  -s, --set KEY=VALUE      set one key, after the file (repeatable), e.g.\n"
    "                           --set listen.http=0.0.0.0:8080 --set kafka.brokers=k1:9092\n"
    "      --check              validate the configuration, print OK or the error, and exit\n"
    "  -h, --help               this help\n"
    "\n"
    "signals: SIGTERM/SIGINT drain (503 to new batches, wait for deliveries up to\n"
    "shutdown.timeout, answer the rest retryable), SIGHUP reloads the configuration.\n"
    "exit codes: 0 after a clean drain or a valid --check, 2 configuration error, 1 other.\n";

static const char usage_token[] =
    "usage: sluice token --tenant T [--ttl 1h] [--sub S] [--scope S] [--kid K]\n"
    "                    [--config FILE] [--set K=V]...\n"
    "\n"
    "Mints a JWT signed with a key of the configuration's key ring: auth.secret /\n"
    "auth.secret_file (HS256, no kid), or a key of auth.keys_file chosen with --kid (HS*, or\n"
    "RS*/ES* when it has a private_key_file). The token carries the tenant claim\n"
    "(auth.tenant_claim), iat, exp = now + ttl, sub, the scopes (auth.scope_claim), the key's\n"
    "kid, and iss/aud when configured. Prints the token on stdout. For development and tests;\n"
    "production tokens come from your identity provider.\n"
    "\n"
    "scopes: write:* (any event), write:<type> (one event type), write:stage:<stage> (raw,\n"
    "identity, consent, decisions, outcomes); space-separated. Without --scope the token has no\n"
    "scope claim and gets auth.default_scope (write:* unless configured).\n"
    "\n"
    "options:\n"
    "  -t, --tenant T           tenant (required)\n"
    "      --ttl DURATION       lifetime, e.g. 15m, 1h (default 1h)\n"
    "      --sub S              subject (sub claim)\n"
    "      --scope S            scopes, e.g. \"write:page_view write:stage:outcomes\"\n"
    "      --kid K              the key to sign with (required when the ring has several)\n"
    "  -c, --config FILE        YAML configuration file\n"
    "  -s, --set KEY=VALUE      set one key (repeatable)\n"
    "  -h, --help               this help\n";

static const char usage_config[] = "usage: sluice config docs\n"
                                   "\n"
                                   "Prints the configuration reference (Markdown) generated from\n"
                                   "the table the loader uses; docs/configuration.md is its "
                                   "output.\n";

static const char usage_contracts[] =
    "usage: sluice contracts check OLD.pb NEW.pb\n"
    "       sluice contracts list [FILE.pb]\n"
    "\n"
    "Event contracts are protobuf messages under proto/, compiled into a descriptor set\n"
    "(protoc --include_imports --descriptor_set_out=FILE.pb; the build writes "
    "build/proto/sluice.pb).\n"
    "\n"
    "check   loads both descriptor sets and prints every difference, one per line, as\n"
    "        `BREAKING: ...` or `ok: ...`, then a summary. Breaking: a message, enum, enum value\n"
    "        or event type removed; an event type moved to another message or stage; a field\n"
    "        removed without `reserved` for its number; a field number reused with another name\n"
    "        or type; a type or label (repeated/singular) changed; `required` added to an\n"
    "        existing field, or a new field that is required or takes a reserved number/name.\n"
    "        Additions (messages, fields, enum values, event types) are ok.\n"
    "list    prints each event type with its message, stage and number of fields.\n"
#ifdef SL_CONTRACTS_DEFAULT
    "        FILE defaults to " SL_CONTRACTS_DEFAULT ".\n"
#endif
    "\n"
    "exit codes: 0 no breaking change (check) or listed (list); 1 breaking changes;\n"
    "            2 usage error or a descriptor set that cannot be loaded (the message names it).\n"
    "\n"
    "In CI, compare the main branch's contracts with the pull request's (a job on PRs):\n"
    "\n"
    "  git fetch origin main && git worktree add /tmp/base origin/main\n"
    "  (cd /tmp/base/proto && protoc --include_imports --descriptor_set_out=/tmp/base.pb \\\n"
    "      -I. $(find . -name '*.proto' | sed 's|^./||'))\n"
    "  cmake --preset ci && cmake --build --preset ci --target sluice sl_contracts_descriptor\n"
    "  ./build-ci/sluice contracts check /tmp/base.pb build-ci/proto/sluice.pb\n"
    "\n"
    "Exit 1 fails the job. A deliberate break is merged by overriding the check and giving the\n"
    "changed contract a new event type (e.g. purchase_v2) while producers move over.\n";

static void print_change(void *arg, const sl_ct_change_t *change) {
    size_t *count = arg;
    (*count)++;
    printf("%s: %s\n", change->breaking ? "BREAKING" : "ok", change->what);
}

static int contracts_check(const char *old_path, const char *new_path) {
    sl_contracts_t *old_set = NULL, *new_set = NULL;
    sl_error_t err;
    int rc = 2;
    if (sl_contracts_load(old_path, &old_set, &err) != SL_OK) {
        fprintf(stderr, "sluice contracts check: %s\n", err.message);
        goto done;
    }
    if (sl_contracts_load(new_path, &new_set, &err) != SL_OK) {
        fprintf(stderr, "sluice contracts check: %s\n", err.message);
        goto done;
    }
    size_t total = 0;
    size_t breaking = sl_contracts_diff(old_set, new_set, print_change, &total);
    printf("%zu breaking, %zu compatible change%s (%s -> %s)\n", breaking, total - breaking,
           total - breaking == 1 ? "" : "s", old_path, new_path);
    rc = breaking > 0 ? 1 : 0;
done:
    sl_contracts_unref(old_set);
    sl_contracts_unref(new_set);
    return rc;
}

static int contracts_list(const char *path) {
    sl_contracts_t *c;
    sl_error_t err;
    if (sl_contracts_load(path, &c, &err) != SL_OK) {
        fprintf(stderr, "sluice contracts list: %s\n", err.message);
        return 2;
    }
    size_t n = sl_contracts_count(c);
    for (size_t i = 0; i < n; i++) {
        const sl_ct_message_t *m = sl_contracts_at(c, i);
        printf("%-24s -> %-40s stage=%-9s fields=%zu\n", m->event_type, m->full_name,
               sl_ct_stage_name(m->stage), m->n_fields);
    }
    printf("%zu event type%s in %s\n", n, n == 1 ? "" : "s", path);
    sl_contracts_unref(c);
    return 0;
}

static int cmd_contracts(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "help") == 0)) {
        fputs(usage_contracts, stdout);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "check") == 0) {
        return contracts_check(argv[2], argv[3]);
    }
    if (argc == 3 && strcmp(argv[1], "list") == 0) {
        return contracts_list(argv[2]);
    }
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
#ifdef SL_CONTRACTS_DEFAULT
        return contracts_list(SL_CONTRACTS_DEFAULT);
#else
        fprintf(stderr,
                "sluice contracts list: name the descriptor set (no default compiled in)\n");
        return 2;
#endif
    }
    fputs(usage_contracts, stderr);
    return 2;
}

static int cmd_serve(int argc, char **argv) {
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"set", required_argument, NULL, 's'},
                                         {"check", no_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *sets[MAX_SETS];
    sl_serve_opts_t o = {.sets = sets};
    int c;
    while ((c = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config_path = optarg;
            break;
        case 's':
            if (o.nsets == MAX_SETS) {
                fprintf(stderr, "sluice serve: too many --set options\n");
                return 2;
            }
            sets[o.nsets++] = optarg;
            break;
        case 'k':
            o.check_only = true;
            break;
        case 'h':
            fputs(usage_serve, stdout);
            return 0;
        default:
            fputs(usage_serve, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return sl_serve(&o);
}

static int cmd_token(int argc, char **argv) {
    static const struct option opts[] = {{"tenant", required_argument, NULL, 't'},
                                         {"ttl", required_argument, NULL, 'T'},
                                         {"sub", required_argument, NULL, 'u'},
                                         {"scope", required_argument, NULL, 'S'},
                                         {"kid", required_argument, NULL, 'k'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"set", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *sets[MAX_SETS];
    size_t nsets = 0;
    const char *tenant = NULL, *sub = NULL, *path = NULL, *ttl = "1h", *scope = NULL, *kid = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "t:c:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            tenant = optarg;
            break;
        case 'T':
            ttl = optarg;
            break;
        case 'u':
            sub = optarg;
            break;
        case 'S':
            scope = optarg;
            break;
        case 'k':
            kid = optarg;
            break;
        case 'c':
            path = optarg;
            break;
        case 's':
            if (nsets == MAX_SETS) {
                return 2;
            }
            sets[nsets++] = optarg;
            break;
        case 'h':
            fputs(usage_token, stdout);
            return 0;
        default:
            fputs(usage_token, stderr);
            return 2;
        }
    }
    if (tenant == NULL || tenant[0] == '\0') {
        fprintf(stderr, "sluice token: --tenant is required\n");
        return 2;
    }
    int64_t ttl_ms;
    if (sl_config_parse_duration(ttl, &ttl_ms) != 0 || ttl_ms < 1000) {
        fprintf(stderr, "sluice token: --ttl: expected a duration such as 15m or 1h, got \"%s\"\n",
                ttl);
        return 2;
    }
    sl_config_t *cfg;
    sl_error_t err;
    if (sl_config_build(path, sets, nsets, &cfg, &err) != SL_OK) {
        fprintf(stderr, "sluice token: %s\n", err.message);
        return 2;
    }
    sl_mint_t m = {
        .tenant = tenant, .subject = sub, .ttl_s = ttl_ms / 1000, .kid = kid, .scope = scope};
    char *token = sl_auth_mint(cfg, &m, &err);
    sl_config_unref(cfg);
    if (token == NULL) {
        fprintf(stderr, "sluice token: %s\n", err.message);
        return 2;
    }
    printf("%s\n", token);
    free(token);
    return 0;
}

static int cmd_config(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "docs") == 0) {
        sl_config_write_docs(stdout);
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_config, stdout);
        return 0;
    }
    fputs(usage_config, stderr);
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage_main, stderr);
        return 2;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "serve") == 0) {
        return cmd_serve(argc - 1, argv + 1);
    }
    if (strcmp(verb, "token") == 0) {
        return cmd_token(argc - 1, argv + 1);
    }
    if (strcmp(verb, "policy") == 0) {
        return sl_policy_main(argc - 1, argv + 1, SL_CONTRACTS_DEFAULT);
    }
    if (strcmp(verb, "config") == 0) {
        return cmd_config(argc - 1, argv + 1);
    }
    if (strcmp(verb, "contracts") == 0) {
        return cmd_contracts(argc - 1, argv + 1);
    }
    if (strcmp(verb, "version") == 0 || strcmp(verb, "--version") == 0) {
        printf("sluice %s\n", SL_VERSION);
        return 0;
    }
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    fprintf(stderr, "sluice: unknown command '%s'\n\n%s", verb, usage_main);
    return 2;
}
