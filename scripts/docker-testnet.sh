#!/usr/bin/env bash
# A 4-validator Palisade network in containers (compose.yaml), from a fresh Debian machine
# with rustup and a Docker Engine: builds the binary, the base image if the engine lacks it
# (debootstrap), the image, starts the network, waits until every validator is ready and
# prints the JSON-RPC and metrics URLs and the dev accounts.
#
#   scripts/docker-testnet.sh            build, start (or resume) and print
#   scripts/docker-testnet.sh --no-build use the existing target/release/palisade
#   scripts/docker-testnet.sh --down     stop and delete everything (docker compose down -v)
#
# Environment: the variables compose.yaml documents (PALISADE_SUBNET, PALISADE_RPC_PORT_i,
# …), PALISADE_COMPOSE_PROJECT (default palisade), PALISADE_READY_TIMEOUT (s, default 120).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=1
DOWN=0
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    --down) DOWN=1 ;;
    *) echo "usage: scripts/docker-testnet.sh [--no-build|--down]" >&2; exit 2 ;;
  esac
done
PROJECT="${PALISADE_COMPOSE_PROJECT:-palisade}"
compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -p "$PROJECT" -f compose.yaml "$@"
  else
    docker-compose -p "$PROJECT" -f compose.yaml "$@"
  fi
}
if ! docker info >/dev/null 2>&1; then
  echo "no Docker Engine answers (docker info failed): start dockerd first" >&2
  exit 1
fi
if [ "$DOWN" = 1 ]; then
  compose down -v --remove-orphans
  exit 0
fi

if [ "$BUILD" = 1 ]; then
  scripts/install-deps.sh
  cargo build --release --locked -p node
fi
scripts/docker-image.sh palisade:latest

echo "== docker compose up -d (project $PROJECT) =="
compose up -d
deadline=$(($(date +%s) + ${PALISADE_READY_TIMEOUT:-120}))
for i in 0 1 2 3; do
  port_var="PALISADE_METRICS_PORT_$i"
  port="${!port_var:-$((9615 + i))}"
  until curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "validator $i is not ready after ${PALISADE_READY_TIMEOUT:-120} s; its log:" >&2
      compose logs --tail 40 "node$i" >&2 || true
      exit 1
    fi
    sleep 1
  done
done

subnet="${PALISADE_SUBNET:-10.213.0}"
echo
echo "4 validators ready (project $PROJECT, network $subnet.0/24)"
for i in 0 1 2 3; do
  rpc_var="PALISADE_RPC_PORT_$i"
  met_var="PALISADE_METRICS_PORT_$i"
  echo "  node$i  p2p /ip4/$subnet.1$i/tcp/26656  JSON-RPC http://127.0.0.1:${!rpc_var:-$((8545 + i))}  metrics http://127.0.0.1:${!met_var:-$((9615 + i))}/metrics"
done
echo
compose run --rm --no-deps --entrypoint cat genesis /net/accounts.txt
echo
echo "logs: docker compose -p $PROJECT logs -f node0    stop: docker compose -p $PROJECT stop    delete: scripts/docker-testnet.sh --down"
