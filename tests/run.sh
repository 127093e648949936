#!/usr/bin/env bash
# The whole test suite: installs what it needs (Debian packages, the Python client), then
# checks formatting, lints with warnings as errors, and runs every unit and integration test.
# Integration tests need root (they create network and mount namespaces); as non-root they
# print why they skip.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
# The test image is Debian's static busybox packed into an OCI archive by a test helper.
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if ! python3 -c 'import kubernetes' >/dev/null 2>&1; then
  python3 -m pip install --quiet kubernetes 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages kubernetes
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --lib --bins --tests 2>&1 | tee "$log"
# cargo prints one summary per test binary and the last ones belong to crates with no tests
# yet; close with the total over all of them.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
