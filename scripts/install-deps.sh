#!/usr/bin/env bash
# Install the system packages Palisade needs to build and test on a fresh Debian machine.
# Idempotent: does nothing when everything is already present.
set -euo pipefail

need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
# the test suite runs outside clients from a venv (pip, PyPI only): an independent Python
# signer for docs/tx-format.md and the OpenRPC conformance check (scripts/openrpc_check.py)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# the container tests (node/tests/docker.rs, docs/deploy.md): the base image is built with
# debootstrap; the nemesis enters containers' namespaces (nsenter: util-linux) to filter
# packets and shape links; the systemd unit is checked with systemd-analyze
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v tc >/dev/null 2>&1 || need+=(iproute2)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)

if ((${#need[@]})); then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  echo "installing system packages: ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs) first" >&2
  exit 1
fi

# the test command checks formatting and lints: rustup's default profile has both
for tool in fmt clippy; do
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    component=$([ "$tool" = fmt ] && echo rustfmt || echo clippy)
    echo "cargo $tool not found: installing the $component component" >&2
    rustup component add "$component"
  fi
done
