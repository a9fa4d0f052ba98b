/* sluice: the command line. Each verb parses its own options and has its own --help. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "config/config.h"
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
    "  config     print the configuration reference (config docs)\n"
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
    "usage: sluice token --tenant T [--ttl 1h] [--sub S] [--config FILE] [--set K=V]...\n"
    "\n"
    "Mints an HS256 JWT signed with auth.secret (or auth.secret_file) of the configuration,\n"
    "with the tenant claim (auth.tenant_claim), exp = now + ttl, and iss/aud when configured.\n"
    "Prints the token on stdout. For development and tests; production tokens come from your\n"
    "identity provider.\n"
    "\n"
    "options:\n"
    "  -t, --tenant T           tenant (required)\n"
    "      --ttl DURATION       lifetime, e.g. 15m, 1h (default 1h)\n"
    "      --sub S              subject (sub claim)\n"
    "  -c, --config FILE        YAML configuration file\n"
    "  -s, --set KEY=VALUE      set one key (repeatable)\n"
    "  -h, --help               this help\n";

static const char usage_config[] = "usage: sluice config docs\n"
                                   "\n"
                                   "Prints the configuration reference (Markdown) generated from\n"
                                   "the table the loader uses; docs/configuration.md is its "
                                   "output.\n";

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
                                         {"config", required_argument, NULL, 'c'},
                                         {"set", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *sets[MAX_SETS];
    size_t nsets = 0;
    const char *tenant = NULL, *sub = NULL, *path = NULL, *ttl = "1h";
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
    char *token = sl_auth_mint(cfg->auth_key, cfg->auth_key_len, cfg->auth.tenant_claim, tenant,
                               sub, ttl_ms / 1000, cfg->auth.issuer, cfg->auth.audience, &err);
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
    if (strcmp(verb, "config") == 0) {
        return cmd_config(argc - 1, argv + 1);
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
