#!/usr/bin/env bash
# sluice HTTP/2 + gRPC benchmark: h2load against sluice (h2c, gRPC) and against nghttpd (the
# HTTP/2 ceiling), python3-grpcio unary throughput, and the HTTP/1.1 driver for comparison, in
# one run. See loadtest/README.md ("HTTP/2 and gRPC").
#   loadtest/h2_bench.sh [--build DIR] [--no-build] [--duration 10] [--warmup 2]
#                        [--connections 4] [--streams 16] [--batch 100] [--grpc-threads 8]
set -euo pipefail
# h2load (nghttp2-client), nghttpd (nghttp2-server), protoc, python3-protobuf, python3-grpcio.
"$(dirname "${BASH_SOURCE[0]}")/../scripts/deps.sh" --test
exec /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/h2_bench.py" "$@"
