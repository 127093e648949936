#!/usr/bin/env bash
# Run the control-plane, scheduler and controller benchmarks against a fresh release server in its own network and
# mount namespace and print every figure (docs/benchmarks.md records the output).
# IDLE_SECONDS (default 600) sets how long the idle RSS / disk-write measurement waits.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/kedge
work=$(mktemp -d /tmp/kedge-bench.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
start_server() {
  unshare --net --mount --propagation private -- /bin/sh -c \
    'ip link set lo up && exec "$0" "$@"' "$bin" server --data-dir "$work/data" \
    --write-kubeconfig "$work/kc.yaml" --config /dev/null --bind-address 127.0.0.1 --disable-agent \
    >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -s "$work/kc.yaml" ] && break; sleep 0.1; done
  sleep 0.5
}
in_ns() { nsenter --net=/proc/$pid/ns/net -- "$@"; }

echo "# kedge control-plane benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)"
start_server
in_ns "$bin" bench creates --kubeconfig "$work/kc.yaml" --clients 1 --count 3000 --prefix one
in_ns "$bin" bench creates --kubeconfig "$work/kc.yaml" --clients 16 --count 30000 --prefix sixteen
in_ns "$bin" bench watch --kubeconfig "$work/kc.yaml" --watchers 100 --writes 200
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
rm -rf "$work/data" "$work/kc.yaml"
start_server
"$bin" bench idle --pid "$pid" --seconds "${IDLE_SECONDS:-600}"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
"$bin" bench store --objects 100000 --dir "$work/store"
# Controllers and scheduler (issue: controllers + scheduler).
"$bin" bench scheduler --nodes 100 --pods 10000
"$bin" bench scheduler --nodes 1000 --pods 10000 --e2e
cargo bench --quiet --bench deployment

# The node agent's benchmarks.
tests/bench-agent.sh

# The cluster network's benchmarks.
tests/bench-network.sh
