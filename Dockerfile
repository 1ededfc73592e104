# The Palisade runtime image: the `palisade` binary built on the host (one release build
# serves the tests, the fuzzers and this image), its shared libraries, a non-root user.
#
#   cargo build --release --locked --workspace
#   docker build -t palisade .             # or scripts/docker-testnet.sh, which does both
#
# The base is Debian 12 (the glibc the binary was built against on a Debian 12 host).
# Where no registry is reachable, scripts/docker-image.sh builds it with debootstrap and
# `docker import`s it under this name; elsewhere it is pulled as usual.
FROM debian:bookworm-slim

# curl: the HEALTHCHECK; libfaketime: lets a test skew one validator's clock
# (docs/deploy.md, "The nemesis"); the rest is what the binary links against (libc,
# libstdc++, libgcc_s), already in the base.
RUN set -eux; \
    if ! command -v curl >/dev/null || [ ! -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ]; then \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl ca-certificates libfaketime; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    useradd --system --uid 10001 --user-group --create-home --home-dir /home/palisade --shell /usr/sbin/nologin palisade; \
    mkdir -p /home/palisade/node; \
    chown palisade:palisade /home/palisade/node

COPY target/release/palisade /usr/local/bin/palisade
COPY docker/init-network.sh /usr/local/bin/palisade-init-network

# the node's home: config.toml, genesis.json, node.key.json, data/ (RocksDB, safety log)
VOLUME ["/home/palisade/node"]
# p2p, JSON-RPC (HTTP and WebSocket), metrics and probes
EXPOSE 26656 8545 9615
USER palisade
WORKDIR /home/palisade
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9615/ready >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/palisade"]
CMD ["run", "--home", "/home/palisade/node"]
