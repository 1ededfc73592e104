//! Joining by state sync: restore the newest snapshot peers serve, verified end to end,
//! instead of replaying every block since genesis.
//!
//! 1. Trust: the genesis block (from the genesis document) or the operator's checkpoint
//!    (`state_sync.trust_height` / `trust_hash`, an epoch's last block).
//! 2. Find the newest snapshot: every connected peer is asked for its newest manifest.
//! 3. Verify the snapshot's block: walk the validator sets epoch by epoch from the trust
//!    anchor (`light::LightClient`: each epoch's last block is certified by that epoch's
//!    set and names the next), up to the snapshot's block, an epoch's last block itself.
//!    Then the manifest must add up to that header's state root.
//! 4. Fetch the chunks, a few at a time from the peers that serve the same manifest; each is
//!    checked on its own against the manifest before it is saved (`data/state-sync/`). A
//!    chunk that fails costs its sender score and is asked of another peer.
//! 5. Restore: the accounts, system state and the snapshot's block (header and finality
//!    proof) go into the store, which then holds that block as its head and nothing below
//!    it but genesis. The node then block-syncs from there like any other.
//!
//! A crash anywhere resumes: saved chunks are checked again and kept, and a restore that did
//! not finish is redone (the store says so). Evidence, manifests and chunks from peers are
//! never trusted before they verify; a peer whose answers do not is penalized and not asked
//! again. This module runs before the consensus core exists and touches nothing of it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use ledger::snapshot::Manifest;
use ledger::{BlockHeader, Hash, Limits, Store, Validator};
use libp2p::PeerId;
use rpc::StateSyncProgress;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::config::StateSyncSection;
use crate::light::{FinalityEvidence, LightClient};
use crate::metrics::Metrics;
use crate::p2p::{Command, NetInfo};
use crate::wire::{FinalityProof, Request, Response};

/// How long one answer may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Chunk requests out at once.
const IN_FLIGHT: usize = 4;
/// How long to look for a peer serving a snapshot before giving up on state sync.
const FIND_TIMEOUT: Duration = Duration::from_secs(60);
/// Penalty for an answer that does not verify.
const LIE_PENALTY: i64 = 50;

/// How a state sync ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The snapshot after this block is restored: the store's head is that block.
    Restored {
        /// The block height.
        height: u64,
    },
    /// No peer served a snapshot in time: the node syncs blocks from genesis instead.
    NoSnapshot,
}

/// What the state sync needs.
#[derive(Debug)]
pub struct StateSync {
    /// Requests to peers.
    pub net: mpsc::Sender<Command>,
    /// Who is connected.
    pub net_info: Arc<NetInfo>,
    /// The store to restore into.
    pub store: Arc<Store>,
    /// The genesis block's header and validators (the default trust anchor).
    pub genesis: FinalityEvidence,
    /// Blocks per epoch.
    pub epoch_length: u64,
    /// Settings (the checkpoint).
    pub cfg: StateSyncSection,
    /// Where verified chunks wait (`data/state-sync`).
    pub dir: PathBuf,
    /// What `node_syncing` shows.
    pub progress: Arc<Mutex<Option<StateSyncProgress>>>,
    /// Metrics.
    pub metrics: Metrics,
    /// Decoding limits.
    pub limits: Limits,
}

/// A snapshot some peers offer.
struct Offer {
    manifest: Manifest,
    bytes: Vec<u8>,
    peers: Vec<PeerId>,
}

impl StateSync {
    fn set(&self, f: impl FnOnce(&mut StateSyncProgress)) {
        let mut g = match self.progress.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(g.get_or_insert_with(StateSyncProgress::default));
    }

    fn peers(&self) -> Vec<PeerId> {
        let list = match self.net_info.list.lock() {
            Ok(l) => l.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let mut peers: Vec<PeerId> = list.into_iter().map(|p| p.peer).collect();
        peers.sort_unstable();
        peers.dedup();
        peers
    }

    fn penalize(&self, peer: PeerId, why: String) {
        warn!(%peer, "state sync: {why}");
        let _ = self.net.try_send(Command::Penalize {
            peer,
            points: LIE_PENALTY,
            reason: why,
        });
    }

    /// One request: the data asked for, `None` if the peer does not hold it.
    async fn ask(&self, peer: PeerId, req: &Request) -> Result<Option<Vec<u8>>, String> {
        let (reply, rx) = oneshot::channel();
        self.net
            .send(Command::Request {
                to: peer,
                bytes: req.encode(),
                reply,
            })
            .await
            .map_err(|_| "the network stopped".to_string())?;
        let bytes = tokio::time::timeout(REQUEST_TIMEOUT, rx)
            .await
            .map_err(|_| "no answer in time".to_string())?
            .map_err(|_| "the network dropped the request".to_string())??;
        match Response::decode(&bytes, self.limits) {
            Ok(Response::Data(d)) => Ok(d),
            Ok(Response::Refused(why)) => Err(format!("refused: {why}")),
            Ok(_) => Err("an answer of the wrong kind".into()),
            Err(e) => Err(format!("a malformed answer: {e}")),
        }
    }

    /// The finality evidence of block `height`, checked by `check`, from the first peer
    /// whose answer passes (the others are penalized if they lied).
    async fn evidence<T>(
        &self,
        height: u64,
        banned: &mut HashSet<PeerId>,
        mut check: impl FnMut(&FinalityEvidence) -> Result<T, String>,
    ) -> Result<(FinalityEvidence, T), String> {
        let deadline = Instant::now() + FIND_TIMEOUT;
        loop {
            for peer in self.peers() {
                if banned.contains(&peer) {
                    continue;
                }
                if let Ok(Some(bytes)) = self.ask(peer, &Request::GetFinality { height }).await {
                    match FinalityEvidence::decode(&bytes)
                        .and_then(|ev| check(&ev).map(|t| (ev, t)))
                    {
                        Ok(found) => return Ok(found),
                        Err(e) => {
                            self.penalize(
                                peer,
                                format!("finality evidence of block {height}: {e}"),
                            );
                            banned.insert(peer);
                        }
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no peer gave verifiable finality evidence of block {height}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Run the state sync. Resumes what an earlier run left.
    pub async fn run(self) -> Result<Outcome, String> {
        let e = self.epoch_length.max(1);
        if let Some(h) = self.store.restoring().map_err(|e| e.to_string())? {
            info!(
                height = h,
                "state sync: a restore did not finish; doing it again"
            );
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        self.set(|p| p.step = "finding-snapshot".into());
        let mut banned: HashSet<PeerId> = HashSet::new();
        // 1. the trust anchor
        let anchor = if self.cfg.trust_height == 0 {
            LightClient::anchored(self.genesis.header.id(), e, &self.genesis)
                .map_err(|e| format!("the genesis anchor: {e}"))?
        } else {
            let trusted = Hash::from_hex(&self.cfg.trust_hash)
                .map_err(|e| format!("state_sync.trust_hash: {e}"))?;
            let (_, client) = self
                .evidence(self.cfg.trust_height, &mut banned, |ev| {
                    LightClient::anchored(trusted, e, ev).map_err(|e| e.to_string())
                })
                .await?;
            client
        };
        let started = Instant::now();
        loop {
            // 2. the newest snapshot offered above the anchor
            let Some(offer) = self.find(&anchor, &mut banned).await else {
                return Ok(Outcome::NoSnapshot);
            };
            let height = offer.manifest.height;
            info!(
                height,
                chunks = offer.manifest.chunks.len(),
                peers = offer.peers.len(),
                "state sync: snapshot chosen"
            );
            self.set(|p| {
                p.step = "verifying".into();
                p.snapshot_height = height;
                p.chunks_total = offer.manifest.chunks.len() as u64;
            });
            // 3. walk the validator sets to the snapshot's block
            let mut client = anchor.clone();
            let mut walked = 0u64;
            while client.epoch_end() < height {
                let end = client.epoch_end();
                let (ev, ()) = self
                    .evidence(end, &mut banned, |ev| {
                        client.clone().advance(ev).map_err(|e| e.to_string())
                    })
                    .await?;
                client.advance(&ev).map_err(|e| e.to_string())?;
                walked += 1;
                self.set(|p| p.epochs_verified = walked);
            }
            let (ev, ()) = self
                .evidence(height, &mut banned, |ev| {
                    client.clone().advance(ev).map_err(|e| e.to_string())
                })
                .await?;
            let header = ev.header.clone();
            if let Err(why) = offer.manifest.verify(&header) {
                for p in &offer.peers {
                    self.penalize(
                        *p,
                        format!("a snapshot manifest that does not verify: {why}"),
                    );
                    banned.insert(*p);
                }
                continue;
            }
            std::fs::write(self.dir.join("manifest"), &offer.bytes)
                .map_err(|e| format!("saving the manifest: {e}"))?;
            // 4. the chunks
            if !self.fetch(&offer, &mut banned).await? {
                continue;
            }
            // 5. into the store
            self.set(|p| p.step = "restoring".into());
            self.restore(&offer.manifest, &ev, &header)?;
            let _ = std::fs::remove_dir_all(&self.dir);
            info!(
                height,
                accounts = offer
                    .manifest
                    .chunks
                    .iter()
                    .map(|c| u64::from(c.count))
                    .sum::<u64>(),
                seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
                "state sync: snapshot restored; syncing blocks from here"
            );
            return Ok(Outcome::Restored { height });
        }
    }

    /// Ask every peer for its newest manifest (and for the one a crashed run saved); the
    /// highest above the anchor wins, with every peer that serves the same bytes.
    async fn find(&self, anchor: &LightClient, banned: &mut HashSet<PeerId>) -> Option<Offer> {
        let deadline = Instant::now() + FIND_TIMEOUT;
        let saved = std::fs::read(self.dir.join("manifest")).ok();
        let saved_height = saved
            .as_deref()
            .and_then(|b| ledger::codec::decode_exact::<Manifest>(b, self.limits).ok())
            .map(|m| m.height);
        let mut last_log = Instant::now();
        loop {
            let mut offers: HashMap<Vec<u8>, Vec<PeerId>> = HashMap::new();
            for peer in self.peers() {
                if banned.contains(&peer) {
                    continue;
                }
                let mut asks = vec![0];
                asks.extend(saved_height);
                for h in asks {
                    if let Ok(Some(bytes)) =
                        self.ask(peer, &Request::GetSnapshot { height: h }).await
                    {
                        offers.entry(bytes).or_default().push(peer);
                    }
                }
            }
            let mut best: Option<Offer> = None;
            for (bytes, peers) in offers {
                let manifest = match ledger::codec::decode_exact::<Manifest>(&bytes, self.limits) {
                    Ok(m) => m,
                    Err(e) => {
                        for p in &peers {
                            self.penalize(*p, format!("a manifest that does not decode: {e}"));
                            banned.insert(*p);
                        }
                        continue;
                    }
                };
                if manifest.height <= anchor.anchor().height
                    || !manifest.height.is_multiple_of(self.epoch_length.max(1))
                {
                    continue;
                }
                // a crashed run's snapshot first (its chunks are saved), else the newest
                let rank = |m: &Manifest, b: &[u8]| (saved.as_deref() == Some(b), m.height);
                if best
                    .as_ref()
                    .is_none_or(|b| rank(&manifest, &bytes) > rank(&b.manifest, &b.bytes))
                {
                    best = Some(Offer {
                        manifest,
                        bytes,
                        peers,
                    });
                }
            }
            if best.is_some() {
                return best;
            }
            if Instant::now() > deadline {
                warn!(
                    "state sync: no peer serves a snapshot newer than block {}; syncing blocks instead",
                    anchor.anchor().height
                );
                return None;
            }
            if last_log.elapsed() > Duration::from_secs(10) {
                info!(
                    peers = self.peers().len(),
                    "state sync: looking for a snapshot"
                );
                last_log = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Fetch every chunk not saved yet; `false` if no peer serves the snapshot any more.
    async fn fetch(&self, offer: &Offer, banned: &mut HashSet<PeerId>) -> Result<bool, String> {
        let m = &offer.manifest;
        let height = m.height;
        let mut todo: VecDeque<usize> = VecDeque::new();
        let mut done = 0u64;
        for i in 0..m.chunks.len() {
            let saved = std::fs::read(self.dir.join(format!("chunk-{i}"))).ok();
            if saved.is_some_and(|b| m.verify_chunk(i, &b).is_ok()) {
                done += 1;
            } else {
                todo.push_back(i);
            }
        }
        if done > 0 {
            info!(
                height,
                saved = done,
                "state sync: resuming with chunks saved before"
            );
        }
        self.set(|p| {
            p.step = "fetching-chunks".into();
            p.chunks_done = done;
        });
        let mut sources: Vec<PeerId> = offer
            .peers
            .iter()
            .filter(|p| !banned.contains(p))
            .copied()
            .collect();
        let mut next_source = 0usize;
        let mut in_flight = FuturesUnordered::new();
        let mut last_log = Instant::now();
        let total = m.chunks.len();
        while !todo.is_empty() || !in_flight.is_empty() {
            while in_flight.len() < IN_FLIGHT && !sources.is_empty() {
                let Some(i) = todo.pop_front() else { break };
                let peer = sources[next_source % sources.len()];
                next_source += 1;
                let req = Request::GetSnapshotChunk {
                    height,
                    index: i as u32,
                };
                in_flight.push(async move { (i, peer, self.ask(peer, &req).await) });
            }
            let Some((i, peer, result)) = in_flight.next().await else {
                // no source left: find peers that still serve this very manifest
                if !self.refresh(offer, banned, &mut sources).await {
                    return Ok(false);
                }
                continue;
            };
            match result {
                Ok(Some(bytes)) => match m.verify_chunk(i, &bytes) {
                    Ok(_) => {
                        let tmp = self.dir.join(format!(".chunk-{i}"));
                        std::fs::write(&tmp, &bytes)
                            .and_then(|()| {
                                std::fs::rename(&tmp, self.dir.join(format!("chunk-{i}")))
                            })
                            .map_err(|e| format!("saving chunk {i}: {e}"))?;
                        done += 1;
                        self.set(|p| p.chunks_done = done);
                    }
                    Err(e) => {
                        self.metrics.state_sync_chunks_refused.inc();
                        self.penalize(peer, format!("snapshot {height}: {e}"));
                        banned.insert(peer);
                        sources.retain(|p| *p != peer);
                        todo.push_back(i);
                    }
                },
                Ok(None) | Err(_) => {
                    // it no longer serves it, or did not answer: ask the others
                    sources.retain(|p| *p != peer);
                    todo.push_back(i);
                }
            }
            if last_log.elapsed() > Duration::from_secs(5) {
                info!(
                    height,
                    "state sync: {done}/{total} chunks ({:.0}%)",
                    done as f64 * 100.0 / total.max(1) as f64
                );
                last_log = Instant::now();
            }
        }
        Ok(true)
    }

    /// Connected peers (not banned) serving exactly `offer`'s manifest.
    async fn refresh(
        &self,
        offer: &Offer,
        banned: &HashSet<PeerId>,
        sources: &mut Vec<PeerId>,
    ) -> bool {
        let deadline = Instant::now() + FIND_TIMEOUT;
        while Instant::now() < deadline {
            for peer in self.peers() {
                if banned.contains(&peer) {
                    continue;
                }
                let req = Request::GetSnapshot {
                    height: offer.manifest.height,
                };
                if let Ok(Some(bytes)) = self.ask(peer, &req).await
                    && bytes == offer.bytes
                {
                    sources.push(peer);
                }
            }
            if !sources.is_empty() {
                return true;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        warn!(
            height = offer.manifest.height,
            "state sync: no peer serves this snapshot any more; looking for another"
        );
        false
    }

    /// Write the verified chunks, the system state and the snapshot's block into the store.
    fn restore(
        &self,
        m: &Manifest,
        ev: &FinalityEvidence,
        header: &BlockHeader,
    ) -> Result<(), String> {
        let store = &self.store;
        store.begin_restore(m.height).map_err(|e| e.to_string())?;
        let mut tree_items = 0u64;
        for i in 0..m.chunks.len() {
            let bytes = std::fs::read(self.dir.join(format!("chunk-{i}")))
                .map_err(|e| format!("reading saved chunk {i}: {e}"))?;
            // checked again: the disk is not the peer, but it is not trusted either
            let accounts = m
                .verify_chunk(i, &bytes)
                .map_err(|e| format!("saved {e}"))?;
            tree_items += accounts.len() as u64;
            store
                .restore_accounts(&accounts)
                .map_err(|e| e.to_string())?;
        }
        let certificate = ev
            .certificate
            .clone()
            .ok_or_else(|| "the snapshot block's evidence has no certificate".to_string())?;
        let proof = FinalityProof {
            proposal: ev.proposals[0],
            certificate,
        };
        let mut sets: Vec<Vec<Validator>> = vec![ev.next.clone()];
        if let Some(s) = &ev.signers {
            sets.push(s.clone());
        }
        store
            .finish_restore(header, &proof.encode(), &m.system, &sets)
            .map_err(|e| e.to_string())?;
        // the store checks the rebuilt tree against the header when it loads
        tracing::debug!(accounts = tree_items, "state sync: accounts written");
        Ok(())
    }
}
