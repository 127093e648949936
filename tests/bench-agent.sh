#!/usr/bin/env bash
# The node agent's benchmarks (release build): container start in the runtime alone, then a
# server without agent plus a separate `kedge agent` joined to it, both in one network + mount
# namespace made here, so the agent's memory is its own: idle RSS, pod create -> Running one
# at a time and 30 at once, 110 pods from one scale, and the agent's RSS with them.
# AGENT_IDLE_SECONDS (default 60) sets the idle measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: needs root (namespaces, cgroups)" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/kedge
work=$(mktemp -d /tmp/kedge-bench.XXXXXX)
pid=
echo "# kedge agent benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)"
"$bin" bench runtime --count 200 --resident 20
# The same container (busybox `true`, new namespaces) with crun, when installed, for comparison:
# `crun run` creates, starts, waits and deletes, like kedge's start -> exit recorded.
if command -v crun >/dev/null 2>&1; then
  "$bin" bench test-image --out "$work/crun-image.tar"
  "$bin" images import --data-dir "$work/crun" "$work/crun-image.tar" >/dev/null
  layer=$(ls -d "$work"/crun/agent/images/layers/*/fs | head -1)
  mkdir -p "$work/bundle"
  (cd "$work/bundle" && crun spec && python3 - "$layer" <<'PY'
import json, sys
c = json.load(open("config.json"))
c["root"] = {"path": sys.argv[1], "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
json.dump(c, open("config.json", "w"))
PY
  )
  # crun 1.8 refuses a hybrid host ("drop all controllers from cgroupv2"): give it, in a
  # private mount namespace, the view without the empty cgroup2 mount, so it uses the same v1
  # cgroups kedge uses.
  cat >"$work/crun-bench.py" <<'PY'
import subprocess, sys, time
times = []
for i in range(200):
    t0 = time.perf_counter()
    subprocess.run(["crun", "run", "-b", sys.argv[1], f"kedgebench{i}"], check=True)
    times.append((time.perf_counter() - t0) * 1000)
times.sort()
print(f"crun {subprocess.run(['crun', '--version'], capture_output=True, text=True).stdout.split()[2]} run (200 x `true`, same image, cgroup v1): p50 {times[99]:.2f} ms, p99 {times[197]:.2f} ms")
PY
  if unshare --mount --propagation private -- /bin/sh -c \
      'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec python3 "$0" "$1"' "$work/crun-bench.py" "$work/bundle"
  then :; else echo "crun comparison failed (see above)"; fi
fi
holder=
agent=
cleanup_agent() {
  [ -n "$agent" ] && kill -9 "$agent" 2>/dev/null || true
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  for p in $(find /sys/fs/cgroup -path '*kedge-bench-node*' -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  if [ -n "$holder" ]; then
    mnt=$(readlink /proc/$holder/ns/mnt)
    for d in /proc/[0-9]*; do
      p=${d#/proc/}
      [ "$p" != "$holder" ] && [ "$(readlink $d/ns/mnt 2>/dev/null)" = "$mnt" ] && kill -9 "$p" 2>/dev/null || true
    done
    kill -9 "$holder" 2>/dev/null || true
  fi
  sleep 0.5
  find /sys/fs/cgroup -depth -type d -path '*kedge-bench-node*' -exec rmdir {} \; 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup_agent EXIT
unshare --net --mount --propagation private -- /bin/sh -c \
  'ip link set lo up && ip link add kb0 type veth peer name kb1 && ip addr add 10.231.9.1/24 dev kb0 && ip link set kb0 up && ip link set kb1 up && exec sleep 2147483647' &
holder=$!
sleep 0.5
in_node() { nsenter --net=/proc/$holder/ns/net --mount=/proc/$holder/ns/mnt -- "$@"; }
mkdir -p "$work/agent/agent/images"
"$bin" bench test-image --out "$work/agent/agent/images/busybox.tar"
# Started directly (not through the in_node function) so $! is the process itself.
nsenter --net=/proc/$holder/ns/net --mount=/proc/$holder/ns/mnt -- "$bin" server --data-dir "$work/srv" --write-kubeconfig "$work/kc2.yaml" --config /dev/null \
  --advertise-address 10.231.9.1 --disable-agent >"$work/server2.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$work/kc2.yaml" ] && break; sleep 0.1; done
sleep 0.5
nsenter --net=/proc/$holder/ns/net --mount=/proc/$holder/ns/mnt -- "$bin" agent --server https://10.231.9.1:6443 --token "$(cat "$work/srv/server/token")" \
  --data-dir "$work/agent" --node-name bench --node-ip 10.231.9.1 --run-dir "$work/run" \
  --pod-logs-dir "$work/logs" --cgroup-parent kedge-bench-node --max-pods 120 >"$work/agent.log" 2>&1 &
agent=$!
for _ in $(seq 300); do
  in_node kubectl --kubeconfig "$work/kc2.yaml" get node bench 2>/dev/null | grep -q ' Ready' && break
  sleep 0.1
done
# Idle agent memory (nothing scheduled yet); the process must be the agent itself.
grep -q kedge "/proc/$agent/comm"
"$bin" bench idle --pid "$agent" --seconds "${AGENT_IDLE_SECONDS:-60}"
# Cluster DNS (issue 5) from inside a pod's network namespace, against the node's 10.43.0.10
# (before the pod benchmarks, on a quiet node; the pod is deleted afterwards).
kc=(--kubeconfig "$work/kc2.yaml")
in_node kubectl "${kc[@]}" run dnsbench --image kedge.test/busybox:1 --image-pull-policy IfNotPresent \
  --command -- sleep 3600 >/dev/null
in_node kubectl "${kc[@]}" wait --for=condition=Ready pod/dnsbench --timeout 60s >/dev/null
uid=$(in_node kubectl "${kc[@]}" get pod dnsbench -o jsonpath='{.metadata.uid}')
in_node nsenter --net="$work/run/pods/$uid/ns/net" -- "$bin" bench dns --server 10.43.0.10:53 \
  --name kubernetes.default.svc.cluster.local.
in_node kubectl "${kc[@]}" delete pod dnsbench --wait=true >/dev/null
in_node "$bin" bench pods --kubeconfig "$work/kc2.yaml" --image kedge.test/busybox:1 --rounds 100 --parallel 1
in_node "$bin" bench pods --kubeconfig "$work/kc2.yaml" --image kedge.test/busybox:1 --rounds 5 --parallel 30
# The agent's RSS with 110 pods running, against idle: its own state per pod.
in_node "$bin" bench scale --kubeconfig "$work/kc2.yaml" --image kedge.test/busybox:1 --replicas 110 \
  --rss-pid "$agent"
