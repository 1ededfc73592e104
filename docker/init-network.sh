#!/bin/sh
# One-shot setup of the compose network (compose.yaml's `genesis` service): a dev genesis
# whose validators listen at fixed addresses of the compose network, and each validator's
# home (key, config.toml, genesis.json). Idempotent: a network that already has a genesis
# and homes is left as it is, so `docker compose up` after `down` (without -v) resumes the
# chain. The keys are the INSECURE deterministic dev keys (as `palisade testnet`); a real
# network generates its own (docs/deploy.md).
#
# Environment: PALISADE_HOSTS (comma-separated validator IPs, in order), PALISADE_ACCOUNTS
# (dev accounts, default 8); volumes: /net (genesis and keys), /homes/node0.. (homes).
set -eu
: "${PALISADE_HOSTS:?PALISADE_HOSTS must list the validators' IP addresses}"
accounts="${PALISADE_ACCOUNTS:-8}"
n=$(echo "$PALISADE_HOSTS" | tr ',' '\n' | grep -c .)
if [ ! -f /net/genesis.json ]; then
  palisade genesis dev --out /net --validators "$n" --accounts "$accounts" \
    --hosts "$PALISADE_HOSTS" --base-port 26656 --chain-name palisade-compose \
    > /net/accounts.txt.tmp
  mv /net/accounts.txt.tmp /net/accounts.txt
  cat /net/accounts.txt
fi
i=0
while [ "$i" -lt "$n" ]; do
  home="/homes/node$i"
  if [ ! -f "$home/config.toml" ]; then
    palisade init --home "$home" --genesis /net/genesis.json --key "/net/keys/validator-$i.json" \
      --set p2p.listen=/ip4/0.0.0.0/tcp/26656 \
      --set rpc.listen=0.0.0.0:8545 \
      --set 'rpc.cors_origins=["*"]' \
      --set metrics.listen=0.0.0.0:9615
  fi
  chown -R palisade:palisade "$home"
  i=$((i + 1))
done
chown -R palisade:palisade /net
echo "network ready: $n validators at $PALISADE_HOSTS"
