#!/usr/bin/env bash
# One command for every test: installs what the tests need (Debian packages, the Apache Kafka
# broker from Maven Central), builds with warnings as errors and with ASan+UBSan, and runs every
# test through ctest (unit, integration against a real Kafka broker, fuzz corpus replay, docs).
# Extra arguments go to ctest, e.g. scripts/test.sh -R unit_
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
tests/kafka/kafka.sh fetch
# The release preset is what scripts/run.sh and the benchmarks build: it must compile too
# (-O2 finds warnings the debug build does not).
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
cmake --preset ci >/dev/null
cmake --build --preset ci -j"$(nproc)"
ctest --preset ci -j1 "$@"
