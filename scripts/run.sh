#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running gateway: installs what is missing,
# builds, and runs `sluice serve` on the embedded default (in-process Kafka-protocol broker,
# stage topics created, development token printed). Extra arguments go to `sluice serve`,
# e.g. scripts/run.sh --config gateway.yaml --set listen.http=0.0.0.0:8080
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" >/dev/null
exec build-release/sluice serve "$@"
