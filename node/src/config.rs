//! `config.toml`: everything an operator may set, each key with its default. Unknown keys
//! are an error (a typo must not silently fall back to a default).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// This node's keys and files.
    pub node: NodeSection,
    /// Peer-to-peer networking.
    pub p2p: P2pSection,
    /// JSON-RPC server.
    pub rpc: RpcSection,
    /// Prometheus metrics and readiness.
    pub metrics: MetricsSection,
    /// Block production and sync timing.
    pub consensus: ConsensusSection,
    /// The transaction pool.
    pub mempool: MempoolSection,
    /// Logging.
    pub log: LogSection,
    /// What the store keeps (pruning).
    pub storage: StorageSection,
    /// Snapshots of the state this node takes and serves.
    pub snapshots: SnapshotsSection,
    /// Joining from a verified snapshot instead of replaying every block.
    pub state_sync: StateSyncSection,
}

/// The fewest blocks a pruning node keeps: peers a little behind still sync from it.
pub const MIN_RETAIN_BLOCKS: u64 = 64;

/// `[storage]`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSection {
    /// Finalized blocks to keep, with their certificates: older ones are deleted in the
    /// background. `0` keeps everything (an archive node). Genesis and every epoch's last
    /// header and finality proof are always kept. Default `0`.
    pub retain_blocks: u64,
    /// Blocks whose receipts are kept (`0`: as many as `retain_blocks`). Default `0`.
    pub retain_receipts: u64,
    /// Blocks whose transactions stay in the tx index that `tx_get` and `tx_getStatus` read
    /// (`0`: as many as `retain_blocks`). Default `0`.
    pub retain_tx_index: u64,
}

impl StorageSection {
    /// Check the settings; the key and why on an error.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let keys = [
            ("storage.retain_blocks", self.retain_blocks),
            ("storage.retain_receipts", self.retain_receipts),
            ("storage.retain_tx_index", self.retain_tx_index),
        ];
        for (key, v) in keys {
            if v != 0 && v < MIN_RETAIN_BLOCKS {
                return Err((
                    key,
                    format!("keep 0 (everything) or at least {MIN_RETAIN_BLOCKS} blocks"),
                ));
            }
        }
        for (key, v) in &keys[1..] {
            if self.retain_blocks != 0 && *v > self.retain_blocks {
                return Err((
                    key,
                    format!(
                        "{v} is more than storage.retain_blocks = {}: nothing is kept for a deleted block",
                        self.retain_blocks
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether anything is pruned.
    pub fn prunes(&self) -> bool {
        self.retain_blocks != 0 || self.retain_receipts != 0 || self.retain_tx_index != 0
    }

    /// The oldest heights to keep when the finalized head is `head`.
    pub fn keep_from(&self, head: u64) -> ledger::Oldest {
        let from = |retain: u64| {
            if retain == 0 {
                0
            } else {
                head.saturating_sub(retain - 1)
            }
        };
        let or_blocks = |r: u64| if r == 0 { self.retain_blocks } else { r };
        ledger::Oldest {
            block: from(self.retain_blocks),
            receipts: from(or_blocks(self.retain_receipts)),
            tx_index: from(or_blocks(self.retain_tx_index)),
        }
    }
}

/// `[snapshots]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnapshotsSection {
    /// Take a snapshot of the state after the last block of every this many epochs (`0`:
    /// never). Default `10` (every 1,000 blocks with the dev genesis' 100-block epochs).
    pub interval_epochs: u64,
    /// Snapshots kept on disk (the oldest is deleted when a new one is complete). Default `2`.
    pub keep: usize,
    /// Accounts per chunk at most (1 to 65,536; a chunk is ~57 bytes an account). Default
    /// `4096`.
    pub chunk_accounts: usize,
}

impl Default for SnapshotsSection {
    fn default() -> Self {
        SnapshotsSection {
            interval_epochs: 10,
            keep: 2,
            chunk_accounts: ledger::snapshot::DEFAULT_CHUNK_ACCOUNTS,
        }
    }
}

/// `[state_sync]`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateSyncSection {
    /// On a node with no blocks yet: restore the newest snapshot peers serve (verified
    /// against a finalization certificate, walking validator sets from genesis or from the
    /// trusted block below), then block-sync from there. Default `false`.
    pub enabled: bool,
    /// A trusted epoch's last block to walk from instead of genesis (with `trust_hash`;
    /// `0`: genesis). Default `0`.
    pub trust_height: u64,
    /// The hash of the block at `trust_height`, 0x hex. Default empty.
    pub trust_hash: String,
}

/// `[node]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSection {
    /// Key file (relative to the home directory): the validator key, also the libp2p
    /// identity. Default `node.key.json`.
    pub key_file: PathBuf,
    /// Genesis file (relative to home). Default `genesis.json`.
    pub genesis_file: PathBuf,
    /// Data directory (relative to home). Default `data`.
    pub data_dir: PathBuf,
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            key_file: "node.key.json".into(),
            genesis_file: "genesis.json".into(),
            data_dir: "data".into(),
        }
    }
}

/// `[p2p]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct P2pSection {
    /// libp2p listen address. Default `/ip4/127.0.0.1/tcp/26656`.
    pub listen: String,
    /// Extra peers to dial, as multiaddrs ending in `/p2p/<peer id>` (validators' addresses
    /// come from the validator set). Default none.
    pub peers: Vec<String>,
    /// Accept connections from non-validator nodes (observers that sync blocks and forward
    /// their clients' transactions). Off by default: a validator then talks only to the
    /// validators of its epoch and the next, and to `peers`; turn it on for the validators
    /// that serve full nodes. Observers get small per-peer budgets either way, and their
    /// consensus messages are refused. Default `false`.
    pub allow_observers: bool,
    /// Most observers connected at once. Default `32`.
    pub max_observers: usize,
    /// Most observers connected from one IP address; an address whose observer was banned
    /// connects no observer until the ban ends. Default `4`.
    pub max_observers_per_ip: usize,
    /// A peer whose score falls below this is disconnected and banned. Default `-100`.
    pub ban_score: i64,
    /// How long a banned peer stays banned, in seconds. Default `60`.
    pub ban_seconds: u64,
}

impl Default for P2pSection {
    fn default() -> Self {
        P2pSection {
            listen: "/ip4/127.0.0.1/tcp/26656".into(),
            peers: Vec::new(),
            allow_observers: false,
            max_observers: 32,
            max_observers_per_ip: 4,
            ban_score: -100,
            ban_seconds: 60,
        }
    }
}

/// `[rpc]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcSection {
    /// HTTP and WebSocket listen address. Default `127.0.0.1:8545`.
    pub listen: SocketAddr,
    /// Largest request body in bytes. Default 1 MiB.
    pub max_request_bytes: u32,
    /// Most simultaneous connections. Default 1024.
    pub max_connections: u32,
    /// Most calls in one batch request. Default 100.
    pub max_batch: u32,
    /// Most subscriptions one WebSocket connection may hold. Default 1024.
    pub max_subscriptions_per_connection: u32,
    /// Calls per second one client IP may make, over HTTP and WebSocket together (each
    /// call of a batch counts); 0 = unlimited. Default 0.
    pub rate_limit_per_ip: u32,
    /// Calls one IP may make in a burst above the rate. Default 1000.
    pub rate_limit_burst: u32,
    /// Origins a browser may call from (CORS), e.g. `["http://localhost:3000"]`; `["*"]`
    /// allows any. Default empty: no CORS headers, browsers refuse cross-origin calls.
    pub cors_origins: Vec<String>,
}

impl Default for RpcSection {
    fn default() -> Self {
        RpcSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8545)),
            max_request_bytes: 1 << 20,
            max_connections: 1024,
            max_batch: 100,
            max_subscriptions_per_connection: 1024,
            rate_limit_per_ip: 0,
            rate_limit_burst: 1000,
            cors_origins: Vec::new(),
        }
    }
}

/// `[metrics]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// Serves `/metrics` (Prometheus), `/ready` (200 once synced) and `/health`.
    /// Default `127.0.0.1:9615`.
    pub listen: SocketAddr,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 9615)),
        }
    }
}

/// `[consensus]` (protocol timeouts are in genesis; these are local pacing choices)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsensusSection {
    /// A leader waits until this long after its parent block before proposing, unless the
    /// mempool already holds a full block. Default `100` (it was 200: 100 halves the wait
    /// for the next block, the larger part of the latency at 40% of the verification
    /// ceiling, for ~2% more CPU; BENCHMARKS.md, 2026-12-05, nineteenth session).
    pub min_block_interval_ms: u64,
    /// Most transactions a proposal takes from the mempool. Below it, a proposal takes at
    /// most three block intervals' worth of the lower median of the rates the last eight
    /// finalized blocks came at (at least 2,000 or this limit; a timed-out view counts as
    /// three intervals at most), so a backlog does not grow blocks far past what the
    /// validators just processed (`node::pace`). Default `20000`.
    pub max_block_txs: usize,
    /// A transaction a client sent to this node goes into this node's proposals only once
    /// it has been pending this long, so that the other validators, which receive it by
    /// gossip, hold it when the proposal's ids arrive (a validator that lacks some asks the
    /// leader for them before it can vote). Transactions gossiped here by other
    /// validators are proposed at once. `0` proposes everything at once. Default `100`.
    pub settle_ms: u64,
    /// How often a node tells its peers its finalized height. Default `1000`.
    pub status_interval_ms: u64,
    /// A sync request unanswered this long is sent to another peer. Default `5000`.
    pub sync_timeout_ms: u64,
}

impl Default for ConsensusSection {
    fn default() -> Self {
        ConsensusSection {
            min_block_interval_ms: 100,
            max_block_txs: 20_000,
            settle_ms: 100,
            status_interval_ms: 1000,
            sync_timeout_ms: 5000,
        }
    }
}

/// `[mempool]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MempoolSection {
    /// Most transactions held. Default `200000`.
    pub max_txs: usize,
    /// Nonce window: a transaction's nonce may be at most this far above its sender's next
    /// nonce (also the most one sender may have pending). Default `1000`.
    pub max_per_sender: u64,
    /// No longer used: a client's transaction is sent to the other validators as soon as
    /// it is admitted, before the client's answer. Accepted (with a warning) so config
    /// files written by earlier versions still load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gossip_interval_ms: Option<u64>,
}

impl Default for MempoolSection {
    fn default() -> Self {
        MempoolSection {
            max_txs: 200_000,
            max_per_sender: 1000,
            gossip_interval_ms: None,
        }
    }
}

/// `[log]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// `plain` or `json`. Default `plain`.
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `debug`, `node=debug,libp2p=warn`). Default `info`.
    /// The `RUST_LOG` environment variable overrides it.
    pub filter: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: LogFormat::Plain,
            filter: "info".into(),
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// Why `config.toml` could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a valid configuration (unknown key, wrong type, bad TOML).
    #[error("parsing {}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its line and column.
        source: toml::de::Error,
    },
    /// The configuration could not be written as TOML.
    #[error("serializing the configuration: {0}")]
    Serialize(#[from] toml::ser::Error),
}

impl Config {
    /// Read `home/config.toml`.
    pub fn load(home: &Path) -> Result<Config, ConfigError> {
        let path = home.join("config.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path, source })
    }

    /// The file's text, with a header comment.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        Ok(format!(
            "# Palisade node configuration. Every key and its default: docs/operations.md\n{}",
            toml::to_string(self)?
        ))
    }

    /// Resolve a path from the config against the home directory.
    pub fn path(home: &Path, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            home.join(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_unknown_keys_fail() {
        let c = Config::default();
        let text = c.to_toml().unwrap();
        assert_eq!(toml::from_str::<Config>(&text).unwrap(), c);
        assert!(toml::from_str::<Config>("[p2p]\nlisten_addr = \"x\"\n").is_err());
        let partial: Config = toml::from_str("[rpc]\nmax_batch = 5\n").unwrap();
        assert_eq!(partial.rpc.max_batch, 5);
        assert_eq!(partial.p2p, P2pSection::default());
        // a key earlier versions wrote still loads
        let old: Config = toml::from_str("[mempool]\ngossip_interval_ms = 20\n").unwrap();
        assert_eq!(old.mempool.gossip_interval_ms, Some(20));
        assert!(!text.contains("gossip_interval_ms"));
    }
}
