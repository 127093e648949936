#!/usr/bin/env bash
# Build kedge and start a one-node cluster on this machine (Debian/Raspberry Pi OS).
# Needs a Rust toolchain (rustup) and root; installs the few Debian packages the build needs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "dev-up: run as root (kedge manages namespaces, cgroups and networking)" >&2
  exit 1
fi
command -v cargo >/dev/null 2>&1 || { echo "dev-up: install a Rust toolchain first (https://rustup.rs)" >&2; exit 1; }
command -v cc >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev; }
cargo build --release
install -m 0755 target/release/kedge /usr/local/bin/kedge
mkdir -p /etc/kedge /var/lib/kedge
exec /usr/local/bin/kedge server "$@"
