#!/usr/bin/env bash
# The cluster network's benchmarks (release build), each in namespaces of its own:
# - service sync: 1,000 Services x 10 endpoints, full atomic resync after an endpoint change;
# - pod-to-pod TCP throughput and latency across two nodes (host-gw, vxlan) against a veth
#   pair, with the real bridge and overlay code;
# - cluster DNS: queries/s and latency of kedge's DNS server against the upstream path
#   (in-process server on loopback with a local upstream responder).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: needs root (namespaces, nf_tables)" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/kedge
echo "# kedge network benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)"
unshare --net -- "$bin" bench proxy --services 1000 --endpoints 10
unshare --mount --net --propagation private -- "$bin" bench net
unshare --net -- /bin/sh -c 'ip link set lo up && exec "$0" bench dns' "$bin"
