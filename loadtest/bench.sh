#!/usr/bin/env bash
# sluice benchmark: builds the release preset, then runs the gateway (embedded broker and a real
# Kafka broker) and the raw produce ceiling, and prints one table. See loadtest/README.md.
#   loadtest/bench.sh [--duration 10] [--warmup 2] [--connections 16] [--batch 100]
#                     [--skip-real] [--perf] [--help]
set -euo pipefail
# What the benchmark needs is what the tests need (build deps, Java/Maven/kcat for the broker).
"$(dirname "${BASH_SOURCE[0]}")/../scripts/deps.sh" --test
exec /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/bench.py" "$@"
