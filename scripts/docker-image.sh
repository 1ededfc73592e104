#!/usr/bin/env bash
# Build the `palisade` container image from the Dockerfile and the host-built binary
# (target/release/palisade, which must exist: scripts/docker-testnet.sh builds it).
#
# The Dockerfile starts FROM debian:bookworm-slim. If the engine lacks that image and no
# registry is reachable (as on the CI machines), this builds it: a minimal Debian 12 with
# debootstrap (from Debian's packages) `docker import`ed under that name. With
# PALISADE_PULL_BASE=1 it is pulled from the registry instead.
#
#   scripts/docker-image.sh [TAG]      (default palisade:latest)
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-palisade:latest}"
BASE=debian:bookworm-slim
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if [ ! -x target/release/palisade ]; then
  echo "target/release/palisade is missing: cargo build --release --locked -p node" >&2
  exit 1
fi

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  if [ "${PALISADE_PULL_BASE:-0}" = 1 ]; then
    docker pull "$BASE"
  else
    if ! command -v debootstrap >/dev/null 2>&1; then
      echo "installing debootstrap (Debian's package) to build the base image" >&2
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq debootstrap >/dev/null
    fi
    root="$PWD/target/docker/rootfs"
    $SUDO rm -rf "$root"
    mkdir -p "$(dirname "$root")"
    echo "== base image $BASE: debootstrap --variant=minbase bookworm =="
    start=$(date +%s)
    $SUDO debootstrap --variant=minbase bookworm "$root" "${PALISADE_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >target/docker/debootstrap.log 2>&1 || {
      tail -n 20 target/docker/debootstrap.log >&2
      echo "debootstrap failed (log: target/docker/debootstrap.log)" >&2
      exit 1
    }
    # slim, as the registry's -slim image: no package cache, lists, docs or man pages
    $SUDO rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
      "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
    $SUDO tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$BASE" >/dev/null
    $SUDO rm -rf "$root"
    echo "   imported $BASE in $(($(date +%s) - start)) s"
  fi
fi

echo "== docker build -t $TAG . =="
start=$(date +%s)
docker build -q -t "$TAG" . >/dev/null
echo "   built $TAG in $(($(date +%s) - start)) s ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
