#!/usr/bin/env bash
# Installs the Debian 12 packages sluice needs, only those missing.
#   scripts/deps.sh          build and run
#   scripts/deps.sh --test   also what the tests need (Criterion, kcat, Java + Maven for the
#                            Kafka broker, nghttp2 client tools, python3-protobuf and
#                            python3-grpcio for the integration tests' protobuf clients,
#                            python3-jwt and python3-cryptography for test_auth.py, chromium
#                            and playwright-core from npm for test_browser.py)
set -euo pipefail

pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libnghttp2-dev libprotobuf-c-dev
      protobuf-c-compiler protobuf-compiler libprotobuf-dev librdkafka-dev libjansson-dev libjwt-dev libyaml-dev
      libssl-dev zlib1g-dev curl)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(libcriterion-dev kcat python3 python3-protobuf python3-grpcio python3-jwt
         python3-cryptography nghttp2-client clang-format clang-tidy)
  # HTTP/2 attack tests (raw frames) and the h2load benchmark's ceiling (nghttpd).
  pkgs+=(python3-h2 nghttp2-server)
  # test_tls.py makes its certificates with the openssl command line.
  pkgs+=(openssl)
  command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
fi

# Browser tests (test_browser.py): Debian's chromium, driven by playwright-core from npm (below).
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(chromium)
  command -v npm >/dev/null 2>&1 || pkgs+=(nodejs)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# playwright-core into tests/browser/node_modules (ignored by git), unless that version is there.
if [[ "${1:-}" == "--test" ]]; then
  browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
  pw_version=1.65.1
  if ! grep -qs "\"version\": \"$pw_version\"" "$browser_dir/node_modules/playwright-core/package.json"; then
    echo "deps: npm install playwright-core@$pw_version into tests/browser" >&2
    npm install --no-audit --no-fund --no-save --no-package-lock --prefix "$browser_dir" \
      "playwright-core@$pw_version" >/dev/null
  fi
fi
