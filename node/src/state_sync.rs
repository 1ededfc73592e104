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

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
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
/// How long finality evidence or a manifest may take (small answers).
const EVIDENCE_TIMEOUT: Duration = Duration::from_secs(5);
/// Peers asked at once for finality evidence besides the preferred ones (each within its
/// pace, see [`Pacer`]).
const PARALLEL_ASKS: usize = 8;
/// Validators (and the last step's peer) asked in every round; more take turns.
const PREFERRED_ASKS: usize = 16;
/// Share of a serving peer's per-peer budget (`budget::Class::StateSync`, as for an
/// observer) this node uses: it stays under the limit with room for timing jitter, so an
/// honest joining node is never penalized for asking too fast.
const BUDGET_SHARE: f64 = 0.75;
/// Chunk requests to one peer at once.
const PER_PEER: usize = 2;
/// A snapshot from which no chunk arrives for this long is given up.
const STALL_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest manifest considered (65,536 chunks of 70 bytes and a large system state).
const MAX_MANIFEST_BYTES: usize = 8 << 20;
/// How long the search for snapshots waits for a second peer serving the best one.
const SECOND_SERVER_GRACE: Duration = Duration::from_secs(3);
/// Failed snapshot tries (false, unprovable, or chunks not delivered) before state sync
/// gives up and the node syncs blocks instead: fresh keys offering fresh lies cannot keep
/// it searching for ever.
const MAX_FAILED_TRIES: usize = 32;
/// Tries of one snapshot whose chunks did not arrive (a stall, or no source left for a
/// moment) before it is dropped: one hiccup must not cost the only honest snapshot.
const FETCH_TRIES: u32 = 3;
/// Distinct manifests held while choosing.
const MAX_OFFERS: usize = 16;
/// Peers other than validators asked for a crashed run's snapshot in one search (each
/// once): about this many, the peers of one round more at most.
const MAX_SAVED_ASKED: usize = 1024;
/// Peers the [`Pacer`] remembers before it forgets those whose slot has passed.
const PACER_KEPT: usize = 256;

/// The snapshots one state sync has given up on. A snapshot shown false (or whose block
/// validators with more than a third of the power say is not final) is dropped at once;
/// one whose chunks did not arrive, or whose block nobody proved final in time, is dropped
/// after [`FETCH_TRIES`] tries. Every failed try spends one of [`MAX_FAILED_TRIES`], so the
/// search ends even when fresh offers keep coming.
#[derive(Debug, Default)]
struct Dropped {
    ids: HashSet<Hash>,
    undelivered: HashMap<Hash, u32>,
    failures: usize,
}

impl Dropped {
    /// Drop `id` for good.
    fn reject(&mut self, id: Hash) {
        self.failures += 1;
        self.undelivered.remove(&id);
        self.ids.insert(id);
    }

    /// `id`'s chunks did not arrive; `true` if that was its last try (it is dropped).
    fn undelivered(&mut self, id: Hash) -> bool {
        self.failures += 1;
        let tries = self.undelivered.entry(id).or_default();
        *tries += 1;
        if *tries >= FETCH_TRIES {
            self.undelivered.remove(&id);
            self.ids.insert(id);
            true
        } else {
            false
        }
    }

    /// No try left: sync blocks instead.
    fn exhausted(&self) -> bool {
        self.failures >= MAX_FAILED_TRIES
    }
}

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
    /// When each peer may be asked next (see [`Pacer`]).
    pub pacer: Pacer,
}

/// Keeps the requests to each peer, and the answers they cause, within the budget that
/// peer grants an observer for state sync (`budget::Class::StateSync`): a request waits
/// for its peer's slot, each request takes one message's share of the peer's message rate
/// and each answer its bytes' share of the answer rate. Without it a joining node on a
/// fast link asked for chunks and proofs faster than its peers serve an observer, was
/// penalized as over budget and disconnected over and over (a million accounts restored
/// at ~50 chunks a minute; BENCHMARKS.md, 2026-12-03, ninth session).
#[derive(Debug, Default)]
pub struct Pacer {
    next: Mutex<HashMap<PeerId, Instant>>,
}

impl Pacer {
    fn rates() -> (Duration, f64) {
        let class = crate::budget::Class::StateSync;
        let msgs = class.limit(false).map_or(50.0, |l| l.msgs_per_s);
        let bytes = class
            .answer_limit(false)
            .map_or(8.0 * 1024.0 * 1024.0, |l| l.bytes_per_s);
        (
            Duration::from_secs_f64(1.0 / (msgs * BUDGET_SHARE)),
            bytes * BUDGET_SHARE,
        )
    }

    /// The time a request to `peer` may go out, reserving one message's share; `None`
    /// (nothing reserved) if that is more than `within` away: a peer that sent that many
    /// bytes of answers lately is not asked now.
    fn reserve(&self, peer: PeerId, within: Duration) -> Option<Instant> {
        let (spacing, _) = Self::rates();
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        Self::forget_past(&mut next, now);
        let slot = next.entry(peer).or_insert(now);
        let at = (*slot).max(now);
        if at > now + within {
            return None;
        }
        *slot = at + spacing;
        Some(at)
    }

    /// Above [`PACER_KEPT`] peers, drop those whose slot has passed: a past slot and no
    /// entry mean the same (the next request may go now), so a stream of fresh keys
    /// cannot grow the map and nothing a peer owes is forgotten.
    fn forget_past(next: &mut HashMap<PeerId, Instant>, now: Instant) {
        if next.len() > PACER_KEPT {
            next.retain(|_, at| *at > now);
        }
    }

    /// An answer of `bytes` came from `peer`: its next request waits that much longer.
    fn charge(&self, peer: PeerId, bytes: usize) {
        let (_, per_s) = Self::rates();
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        Self::forget_past(&mut next, now);
        let slot = next.entry(peer).or_insert(now);
        *slot = (*slot).max(now) + Duration::from_secs_f64(bytes as f64 / per_s);
    }
}

/// A snapshot some peers offer.
struct Offer {
    /// The manifest bytes' BLAKE3 hash.
    id: Hash,
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

    /// The connected peers as the network layer lists them.
    fn connected(&self) -> Vec<crate::p2p::PeerEntry> {
        match self.net_info.list.lock() {
            Ok(l) => l.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn peers(&self) -> Vec<PeerId> {
        let list = self.connected();
        let mut peers: Vec<PeerId> = list.into_iter().map(|p| p.peer).collect();
        peers.sort_unstable();
        peers.dedup();
        peers
    }

    /// Connected peers this node takes for validators: with a `client`, exactly the
    /// validator set of its epoch (verified by the walk, or the trusted anchor's); without
    /// one (before any anchor is trusted), those the network layer flags as validators.
    /// Keys cannot be faked, so observers never crowd these out.
    fn validators(&self, client: Option<&LightClient>) -> Vec<PeerId> {
        let list = self.connected();
        let mut out: Vec<PeerId> = match client {
            Some(c) => {
                let set: HashSet<PeerId> = c
                    .validators()
                    .iter()
                    .filter_map(|v| crate::peer::peer_id_of(&v.key))
                    .collect();
                list.into_iter()
                    .map(|p| p.peer)
                    .filter(|p| set.contains(p))
                    .collect()
            }
            None => list
                .into_iter()
                .filter(|p| p.validator)
                .map(|p| p.peer)
                .collect(),
        };
        out.sort_unstable();
        out.dedup();
        out
    }

    fn penalize(&self, peer: PeerId, why: String) {
        warn!(%peer, "state sync: {why}");
        let _ = self.net.try_send(Command::Penalize {
            peer,
            points: LIE_PENALTY,
            reason: why,
        });
    }

    /// One request: the data asked for, `None` if the peer does not hold it. `timeout`
    /// runs from when the request goes out: the wait for the peer's slot (see [`Pacer`])
    /// is this node's own pacing, and a peer is never judged silent for it; a peer whose
    /// slot is further away than `timeout` (its answers were that large) is not asked. An
    /// answer that does not decode, or of the wrong kind, costs the peer [`LIE_PENALTY`].
    async fn ask(
        &self,
        peer: PeerId,
        req: &Request,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, String> {
        let at = self
            .pacer
            .reserve(peer, timeout)
            .ok_or_else(|| "its answers were too large lately; not asked now".to_string())?;
        tokio::time::sleep_until(at.into()).await;
        let (reply, rx) = oneshot::channel();
        self.net
            .send(Command::Request {
                to: peer,
                bytes: req.encode(),
                reply,
            })
            .await
            .map_err(|_| "the network stopped".to_string())?;
        let bytes = tokio::time::timeout(timeout, rx)
            .await
            .map_err(|_| "no answer in time".to_string())?
            .map_err(|_| "the network dropped the request".to_string())??;
        self.pacer.charge(peer, bytes.len());
        match Response::decode(&bytes, self.limits) {
            Ok(Response::Data(d)) => Ok(d),
            Ok(Response::Refused(why)) => Err(format!("refused: {why}")),
            // a release before state sync acknowledges requests it does not know
            Ok(Response::Ack) => Err("it does not serve state sync".into()),
            Ok(_) => {
                let why = "an answer of the wrong kind".to_string();
                self.penalize(peer, why.clone());
                Err(why)
            }
            Err(e) => {
                let why = format!("a malformed answer: {e}");
                self.penalize(peer, why.clone());
                Err(why)
            }
        }
    }

    /// The finality evidence of block `height`, checked by `check`, from the first peer
    /// whose answer passes, and that peer. Every round asks the first of `preferred` (the
    /// validators and the peer that delivered the last step; up to [`PREFERRED_ASKS`],
    /// taking turns if there are more), up to [`PARALLEL_ASKS`] of its second (the
    /// offerers of the snapshot walked to, in turn) and up to [`PARALLEL_ASKS`] others this
    /// call has not asked yet, from a random place in the list (see [`plan_round`]). So peers that stay silent or answer "not here" (any
    /// number of them, with whatever IDs, however often they change keys) cost rounds,
    /// never the validators' turn. A peer whose answer fails `check` is penalized (unless
    /// `blame` is false: then the trusted input may be what is wrong).
    async fn evidence<T>(
        &self,
        height: u64,
        banned: &mut HashSet<PeerId>,
        blame: bool,
        preferred: (&[PeerId], &[PeerId]),
        mut check: impl FnMut(&FinalityEvidence) -> Result<T, String>,
    ) -> Result<(FinalityEvidence, T, PeerId), Unproven> {
        let deadline = Instant::now() + FIND_TIMEOUT;
        let mut last_error = String::from("no peer has it");
        let mut asked: [HashSet<PeerId>; 3] = Default::default();
        let mut denied: HashSet<PeerId> = HashSet::new();
        let start = random_index();
        loop {
            let candidates: Vec<PeerId> = self
                .peers()
                .into_iter()
                .filter(|p| !banned.contains(p))
                .collect();
            let round = plan_round(&candidates, preferred, &mut asked, start);
            let mut asks: FuturesUnordered<_> = round
                .into_iter()
                .map(|peer| async move {
                    let r = self
                        .ask(peer, &Request::GetFinality { height }, EVIDENCE_TIMEOUT)
                        .await;
                    (peer, r)
                })
                .collect();
            while let Some((peer, answer)) = asks.next().await {
                let bytes = match answer {
                    Ok(Some(bytes)) => bytes,
                    // "not here": an answer, unlike silence or a refusal (busy peers refuse)
                    Ok(None) => {
                        denied.insert(peer);
                        continue;
                    }
                    _ => continue,
                };
                match FinalityEvidence::decode(&bytes).and_then(|ev| check(&ev).map(|t| (ev, t))) {
                    Ok((ev, t)) => return Ok((ev, t, peer)),
                    Err(e) if blame => {
                        self.penalize(peer, format!("finality evidence of block {height}: {e}"));
                        banned.insert(peer);
                        denied.insert(peer);
                    }
                    Err(e) => {
                        denied.insert(peer);
                        last_error = e;
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(Unproven {
                    height,
                    why: format!(
                        "no peer gave verifiable finality evidence of block {height} ({last_error})"
                    ),
                    denied,
                });
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
        adopt_loose_chunks(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        self.set(|p| p.step = "finding-snapshot".into());
        let mut banned: HashSet<PeerId> = HashSet::new();
        // 1. the trust anchor (a checkpoint that does not match is the operator's input,
        // not the peers' fault: nobody is penalized for it)
        let anchor = if self.cfg.trust_height == 0 {
            LightClient::anchored(self.genesis.header.id(), e, &self.genesis)
                .map_err(|e| format!("the genesis anchor: {e}"))?
        } else {
            let trusted = Hash::from_hex(&self.cfg.trust_hash)
                .map_err(|e| format!("state_sync.trust_hash: {e}"))?;
            let validators = self.validators(None);
            let (_, client, _) = self
                .evidence(
                    self.cfg.trust_height,
                    &mut banned,
                    false,
                    (&validators, &[]),
                    |ev| LightClient::anchored(trusted, e, ev).map_err(|e| e.to_string()),
                )
                .await
                .map_err(|e| {
                    format!(
                        "state_sync.trust_height/trust_hash: {}; check the checkpoint",
                        e.why
                    )
                })?;
            client
        };
        // every epoch end walked: its evidence and the client trusting the next epoch
        let mut walked: BTreeMap<u64, (FinalityEvidence, LightClient)> = BTreeMap::new();
        let mut dropped = Dropped::default();
        let mut last_tried: Option<Hash> = None;
        let mut unprovable = u64::MAX;
        let mut relaxed = false;
        let started = Instant::now();
        loop {
            if dropped.exhausted() {
                warn!(
                    tries = dropped.failures,
                    dropped = dropped.ids.len(),
                    "state sync: every snapshot tried was false or not delivered; syncing blocks instead"
                );
                // what those snapshots left is of no use (unless a restore must be redone)
                if self.store.restoring().ok().flatten().is_none() {
                    let _ = std::fs::remove_dir_all(&self.dir);
                }
                return Ok(Outcome::NoSnapshot);
            }
            // 2. the best snapshot offered above the anchor
            // the validators of the furthest epoch verified so far
            let validators = self.validators(Some(
                walked.values().next_back().map_or(&anchor, |(_, c)| c),
            ));
            let Some(offer) = self
                .find(&anchor, &mut banned, &dropped, unprovable, &validators)
                .await
            else {
                if unprovable != u64::MAX && !relaxed {
                    // the cut-off may have hidden every snapshot: one more search without it
                    unprovable = u64::MAX;
                    relaxed = true;
                    continue;
                }
                // the saved chunks stay: a later start may find their snapshot again
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
                p.chunks_done = 0;
            });
            // 3. walk the validator sets to the snapshot's block (an epoch's last)
            if let Err(e) = self
                .walk(&anchor, height, &mut walked, &mut banned, &offer.peers)
                .await
            {
                // nobody proves that block final (within the search's time). Offerers that
                // answered "not here" or with bad evidence for the snapshot's own block
                // contradict their offer: penalized and not asked again. Silent ones
                // (perhaps flooded), those that lack an older epoch end (they may have
                // joined from a checkpoint) and other peers are not blamed
                if e.height == height {
                    for p in offer.peers.iter().filter(|p| e.denied.contains(p)) {
                        self.penalize(
                            *p,
                            "offered a snapshot of a block it cannot prove final".into(),
                        );
                        banned.insert(*p);
                    }
                }
                // validators holding more than a third of the power that certifies that
                // block (so at least one honest one) said it is not final: the snapshot is
                // dropped, and no offer at or above it is walked to again in this search
                // (fresh keys offering fresh lies above the chain's head cost one walk, not
                // one each)
                let client = walked
                    .range(..e.height)
                    .next_back()
                    .map_or(&anchor, |(_, (_, c))| c);
                let disproven = denied_by_a_third(client.validators(), &e.denied);
                if disproven {
                    unprovable = unprovable.min(e.height);
                }
                // otherwise (silence: a flood, or a moment without connections; or "not
                // here" from too few to mean anything, a byzantine validator or strangers)
                // it is tried again like a snapshot whose chunks did not arrive; the epochs
                // walked so far are kept
                if after_failed_walk(&mut dropped, offer.id, disproven) {
                    warn!(height, "state sync: {}; dropping this snapshot", e.why);
                } else {
                    info!(height, "state sync: {}; trying again", e.why);
                }
                continue;
            }
            let Some((ev, client)) = walked.get(&height) else {
                return Err(format!("the walk did not reach block {height}"));
            };
            let header = ev.header.clone();
            // the validators of the snapshot's epoch and of the next (a set that changed at
            // that block took the snapshot as it left)
            let before = walked
                .range(..height)
                .next_back()
                .map_or(&anchor, |(_, (_, c))| c);
            let mut serving = self.validators(Some(client));
            serving.extend(self.validators(Some(before)));
            serving.sort_unstable();
            serving.dedup();
            if let Err(why) = offer.manifest.verify(&header) {
                self.reject(
                    &offer,
                    &mut banned,
                    &mut dropped,
                    &format!("a snapshot manifest that does not verify: {why}"),
                );
                continue;
            }
            std::fs::write(self.dir.join("manifest"), &offer.bytes)
                .map_err(|e| format!("saving the manifest: {e}"))?;
            // 4. the chunks. This snapshot's saved chunks stay, and those of the one tried
            // last if it may be tried again; every other folder goes, so the disk holds at
            // most two snapshots' chunks whatever peers offer
            clear_chunk_dirs(&self.dir, |id| {
                keeps_chunks(id, offer.id, last_tried, &dropped)
            })
            .map_err(|e| format!("{}: {e}", self.dir.display()))?;
            last_tried = Some(offer.id);
            if !self.fetch(&offer, &mut banned, &serving).await? {
                // the chunks saved so far stay: a next try of this snapshot resumes them
                if dropped.undelivered(offer.id) {
                    warn!(
                        height,
                        "state sync: this snapshot was not delivered {FETCH_TRIES} times; dropping it"
                    );
                } else {
                    info!(
                        height,
                        "state sync: this snapshot was not delivered; trying again"
                    );
                }
                continue;
            }
            // 5. into the store, with every epoch end walked (this node can then serve
            // walks itself) and the validator sets they trust
            self.set(|p| p.step = "restoring".into());
            self.restore(&offer, &anchor, &walked, height)?;
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

    /// Drop `offer` for good, penalizing the peers that served it.
    fn reject(
        &self,
        offer: &Offer,
        banned: &mut HashSet<PeerId>,
        dropped: &mut Dropped,
        why: &str,
    ) {
        dropped.reject(offer.id);
        for p in &offer.peers {
            self.penalize(*p, why.to_string());
            banned.insert(*p);
        }
    }

    /// Walk epoch by epoch from the anchor (or the furthest epoch end walked below
    /// `height`) to the epoch end `height`, keeping every step. Each step asks first the
    /// validators of the epoch reached, then the peer that delivered the last step, then
    /// `offerers`.
    async fn walk(
        &self,
        anchor: &LightClient,
        height: u64,
        walked: &mut BTreeMap<u64, (FinalityEvidence, LightClient)>,
        banned: &mut HashSet<PeerId>,
        offerers: &[PeerId],
    ) -> Result<(), Unproven> {
        let mut client = walked
            .range(..=height)
            .next_back()
            .map_or_else(|| anchor.clone(), |(_, (_, c))| c.clone());
        let mut last: Option<PeerId> = None;
        while client.anchor().height < height {
            let end = client.epoch_end();
            // validators (keys nobody can fake) and the peer that delivered the last step
            // in every round, the offerers in turn
            let always: Vec<PeerId> = self
                .validators(Some(&client))
                .into_iter()
                .chain(last)
                .collect();
            let (ev, next, from) = self
                .evidence(end, banned, true, (&always, offerers), |ev| {
                    let mut c = client.clone();
                    c.advance(ev).map(|()| c).map_err(|e| e.to_string())
                })
                .await?;
            walked.insert(end, (ev, next.clone()));
            client = next;
            last = Some(from);
            let n = walked.len() as u64;
            self.set(|p| p.epochs_verified = n);
        }
        Ok(())
    }

    /// Ask every peer for its newest manifest (and for the one a crashed run saved). The
    /// pick: a crashed run's (its chunks are saved), then one that two or more of
    /// `validators` serve (then one), then one that two or more peers serve, then the
    /// highest. Manifests over [`MAX_MANIFEST_BYTES`], dropped before, or at or
    /// below the anchor, or at or above `unprovable` (a block this sync found nobody proves
    /// final) are not considered; at most [`MAX_OFFERS`] are held, the lowest-ranked making
    /// room for a higher-ranked one.
    async fn find(
        &self,
        anchor: &LightClient,
        banned: &mut HashSet<PeerId>,
        dropped: &Dropped,
        unprovable: u64,
        validators: &[PeerId],
    ) -> Option<Offer> {
        let started = Instant::now();
        let deadline = started + FIND_TIMEOUT;
        let saved = std::fs::read(self.dir.join("manifest")).ok();
        // a crashed run's manifest comes first (its chunks are saved); one this run already
        // failed to fetch competes like any other
        let saved_hash = saved.as_deref().map(|b| Hash(*blake3::hash(b).as_bytes()));
        let saved_id = saved_hash.filter(|id| !dropped.undelivered.contains_key(id));
        let saved_height = saved
            .as_deref()
            .and_then(|b| ledger::codec::decode_exact::<Manifest>(b, self.limits).ok())
            .map(|m| m.height);
        // validators cannot be faked by fresh keys: an offer two of them serve beats any
        // number of observers' (the byzantine validator alone serves one)
        let rank = |o: &Offer| {
            (
                Some(o.id) == saved_id,
                o.peers
                    .iter()
                    .filter(|p| validators.contains(p))
                    .count()
                    .min(2),
                o.peers.len().min(2),
                o.manifest.height,
            )
        };
        let mut last_log = Instant::now();
        // whether each peer asked for the crashed run's snapshot serves it: asked once per
        // search, not every round (the newest snapshot is asked every round)
        let mut serves_saved: HashMap<PeerId, bool> = HashMap::new();
        loop {
            let mut offers: HashMap<Hash, Offer> = HashMap::new();
            let peers: Vec<PeerId> = self
                .peers()
                .into_iter()
                .filter(|p| !banned.contains(p))
                .collect();
            let asks: FuturesUnordered<_> = peers
                .iter()
                .flat_map(|peer| {
                    // fresh keys cannot use up the asks validators get
                    let saved = saved_height.filter(|_| {
                        !serves_saved.contains_key(peer)
                            && (serves_saved.len() < MAX_SAVED_ASKED || validators.contains(peer))
                    });
                    std::iter::once((*peer, 0, false)).chain(saved.map(|h| (*peer, h, true)))
                })
                .map(|(peer, h, for_saved)| async move {
                    let r = self
                        .ask(peer, &Request::GetSnapshot { height: h }, EVIDENCE_TIMEOUT)
                        .await;
                    (peer, for_saved, r)
                })
                .collect();
            // the crashed run's manifest counts for those that served it in an earlier
            // round without asking them again: one copy goes through the checks below,
            // the others join its offer after them
            let known: Vec<PeerId> = peers
                .iter()
                .filter(|p| serves_saved.get(*p) == Some(&true))
                .copied()
                .collect();
            let first = saved
                .as_ref()
                .zip(known.first())
                .map(|(b, p)| (*p, false, Ok(Some(b.clone()))));
            let mut answers = futures::stream::iter(first).chain(asks);
            while let Some((peer, for_saved, answer)) = answers.next().await {
                if for_saved {
                    // only an answer says what a peer serves (silence or a refusal may be
                    // a busy moment: asked again next round)
                    match &answer {
                        Ok(Some(b)) => {
                            let id = Hash(*blake3::hash(b).as_bytes());
                            serves_saved.insert(peer, Some(id) == saved_hash);
                        }
                        Ok(None) => {
                            serves_saved.insert(peer, false);
                        }
                        Err(_) => {}
                    }
                }
                let Ok(Some(bytes)) = answer else {
                    continue;
                };
                if bytes.len() > MAX_MANIFEST_BYTES {
                    self.penalize(peer, format!("a manifest of {} bytes", bytes.len()));
                    banned.insert(peer);
                    continue;
                }
                let id = Hash(*blake3::hash(&bytes).as_bytes());
                if dropped.ids.contains(&id) {
                    continue;
                }
                if let Some(o) = offers.get_mut(&id) {
                    if !o.peers.contains(&peer) {
                        o.peers.push(peer);
                    }
                    continue;
                }
                let manifest = match ledger::codec::decode_exact::<Manifest>(&bytes, self.limits) {
                    Ok(m) => m,
                    Err(e) => {
                        self.penalize(peer, format!("a manifest that does not decode: {e}"));
                        banned.insert(peer);
                        continue;
                    }
                };
                if manifest.height <= anchor.anchor().height
                    || manifest.height >= unprovable
                    || !manifest.height.is_multiple_of(self.epoch_length.max(1))
                {
                    continue;
                }
                let offer = Offer {
                    id,
                    manifest,
                    bytes,
                    peers: vec![peer],
                };
                if offers.len() >= MAX_OFFERS {
                    // keep memory bounded: make room only for one that ranks higher, so
                    // observers' many fakes never push out what validators serve
                    let Some((low_id, low)) = offers
                        .iter()
                        .filter(|(i, _)| Some(**i) != saved_id)
                        .min_by_key(|(_, o)| rank(o))
                        .map(|(i, o)| (*i, rank(o)))
                    else {
                        continue;
                    };
                    if rank(&offer) <= low {
                        continue;
                    }
                    offers.remove(&low_id);
                }
                offers.insert(id, offer);
            }
            if let Some(o) = saved_hash.and_then(|id| offers.get_mut(&id)) {
                for p in known {
                    if !o.peers.contains(&p) {
                        o.peers.push(p);
                    }
                }
            }
            if let Some(best) = offers.into_values().max_by_key(|o| rank(o)) {
                // one server only, right after start: connections to the other peers may
                // still be coming up; a moment more lets the pick (and the fetch) use them
                if best.peers.len() >= 2 || started.elapsed() >= SECOND_SERVER_GRACE {
                    return Some(best);
                }
            } else if Instant::now() > deadline {
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

    /// Where `id`'s chunks are saved: a folder per snapshot, so chunks of another
    /// snapshot fetched between two tries of this one never overwrite them.
    fn chunk_dir(&self, id: &Hash) -> PathBuf {
        self.dir.join(format!("chunks-{}", id.to_hex()))
    }

    /// Fetch every chunk not saved yet; `false` if no peer serves the snapshot any more,
    /// no chunk arrived for [`STALL_TIMEOUT`], or the try took longer than
    /// [`try_timeout`]. Chunks are asked of `validators` first
    /// (keys nobody can fake); other servers get what the validators have no room for, so
    /// any number of silent strangers among the offerers cannot stall a fetch that one
    /// honest validator serves.
    async fn fetch(
        &self,
        offer: &Offer,
        banned: &mut HashSet<PeerId>,
        validators: &[PeerId],
    ) -> Result<bool, String> {
        let m = &offer.manifest;
        let height = m.height;
        let dir = self.chunk_dir(&offer.id);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut todo: VecDeque<usize> = VecDeque::new();
        let mut done = 0u64;
        for i in 0..m.chunks.len() {
            let saved = std::fs::read(dir.join(format!("chunk-{i}"))).ok();
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
        // peers that did not deliver (no data, refused, late) are not asked again for
        // this snapshot; those that lied are banned
        let mut failed: HashSet<PeerId> = HashSet::new();
        let mut sources: Vec<PeerId> = validators_first(
            &offer
                .peers
                .iter()
                .filter(|p| !banned.contains(p))
                .copied()
                .collect::<Vec<_>>(),
            validators,
        );
        let mut busy: HashMap<PeerId, usize> = HashMap::new();
        let mut in_flight = FuturesUnordered::new();
        let mut last_log = Instant::now();
        let mut last_progress = Instant::now();
        let total = m.chunks.len();
        let give_up = Instant::now() + try_timeout(todo.len());
        while !todo.is_empty() || !in_flight.is_empty() {
            while in_flight.len() < IN_FLIGHT && !todo.is_empty() {
                let Some(peer) = pick_source(&sources, &busy, validators) else {
                    break;
                };
                let Some(i) = todo.pop_front() else { break };
                *busy.entry(peer).or_default() += 1;
                let req = Request::GetSnapshotChunk {
                    height,
                    index: i as u32,
                };
                in_flight.push(async move {
                    let r = self.ask(peer, &req, REQUEST_TIMEOUT).await;
                    (i, peer, r)
                });
            }
            if last_progress.elapsed() > STALL_TIMEOUT {
                warn!(
                    height,
                    "state sync: no chunk arrived for {STALL_TIMEOUT:?}; trying another snapshot"
                );
                return Ok(false);
            }
            if Instant::now() > give_up {
                warn!(
                    height,
                    "state sync: {done}/{total} chunks when this try's time ran out; trying again or another snapshot"
                );
                return Ok(false);
            }
            let Some((i, peer, result)) = in_flight.next().await else {
                // no source left: peers that still serve this very manifest
                if !self
                    .refresh(offer, banned, &failed, validators, &mut sources, give_up)
                    .await
                {
                    return Ok(false);
                }
                continue;
            };
            if let Some(n) = busy.get_mut(&peer) {
                *n = n.saturating_sub(1);
            }
            match result {
                Ok(Some(bytes)) => match m.verify_chunk(i, &bytes) {
                    Ok(_) => {
                        let tmp = dir.join(format!(".chunk-{i}"));
                        std::fs::write(&tmp, &bytes)
                            .and_then(|()| std::fs::rename(&tmp, dir.join(format!("chunk-{i}"))))
                            .map_err(|e| format!("saving chunk {i}: {e}"))?;
                        done += 1;
                        last_progress = Instant::now();
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
                _ => {
                    // it advertised the snapshot and did not deliver: not asked again
                    failed.insert(peer);
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

    /// Connected peers (neither banned nor failed) serving exactly `offer`'s manifest,
    /// looked for until [`FIND_TIMEOUT`] from now or `give_up`, whichever comes first.
    async fn refresh(
        &self,
        offer: &Offer,
        banned: &HashSet<PeerId>,
        failed: &HashSet<PeerId>,
        validators: &[PeerId],
        sources: &mut Vec<PeerId>,
        give_up: Instant,
    ) -> bool {
        let deadline = (Instant::now() + FIND_TIMEOUT).min(give_up);
        while Instant::now() < deadline {
            for peer in self.peers() {
                if Instant::now() >= deadline {
                    break;
                }
                if banned.contains(&peer) || failed.contains(&peer) {
                    continue;
                }
                let req = Request::GetSnapshot {
                    height: offer.manifest.height,
                };
                if let Ok(Some(bytes)) = self.ask(peer, &req, EVIDENCE_TIMEOUT).await
                    && bytes == offer.bytes
                {
                    sources.push(peer);
                }
            }
            if !sources.is_empty() {
                *sources = validators_first(sources, validators);
                return true;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if Instant::now() >= give_up {
            warn!(
                height = offer.manifest.height,
                "state sync: this try's time ran out while looking for servers"
            );
        } else {
            warn!(
                height = offer.manifest.height,
                "state sync: no peer serves this snapshot any more; looking for another"
            );
        }
        false
    }

    /// Write the verified chunks, the system state, the snapshot's block and every epoch
    /// end walked (with the validator sets the walk trusted) into the store.
    fn restore(
        &self,
        offer: &Offer,
        anchor: &LightClient,
        walked: &BTreeMap<u64, (FinalityEvidence, LightClient)>,
        height: u64,
    ) -> Result<(), String> {
        let m = &offer.manifest;
        let dir = self.chunk_dir(&offer.id);
        let store = &self.store;
        store.begin_restore(m.height).map_err(|e| e.to_string())?;
        for i in 0..m.chunks.len() {
            let bytes = std::fs::read(dir.join(format!("chunk-{i}")))
                .map_err(|e| format!("reading saved chunk {i}: {e}"))?;
            // checked again: the disk is not the peer, but it is not trusted either
            let accounts = m
                .verify_chunk(i, &bytes)
                .map_err(|e| format!("saved {e}"))?;
            store
                .restore_accounts(&accounts)
                .map_err(|e| e.to_string())?;
        }
        let mut ends: Vec<(BlockHeader, Vec<u8>)> = Vec::new();
        let mut sets: Vec<Vec<Validator>> = vec![anchor.validators().to_vec()];
        for (h, (ev, client)) in walked.range(..=height) {
            let certificate = ev
                .certificate
                .clone()
                .ok_or_else(|| format!("the evidence of block {h} has no certificate"))?;
            let proof = FinalityProof {
                proposal: ev.proposals[0],
                certificate,
            };
            ends.push((ev.header.clone(), proof.encode()));
            sets.push(client.validators().to_vec());
        }
        let (header, _) = ends
            .last()
            .cloned()
            .filter(|(h, _)| h.height == height)
            .ok_or_else(|| format!("block {height} was not walked"))?;
        store
            .finish_restore(&header, &ends, &m.system, &sets)
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The source the next chunk request goes to: the least busy with room (at most
/// [`PER_PEER`] requests each), validators before the others, then the order of
/// `sources`. Requests spread over every validator serving the snapshot, so a slow one
/// holds at most its share of the slots, and strangers get only what no validator has
/// room for.
fn pick_source(
    sources: &[PeerId],
    busy: &HashMap<PeerId, usize>,
    validators: &[PeerId],
) -> Option<PeerId> {
    sources
        .iter()
        .map(|p| (*p, busy.get(p).copied().unwrap_or(0)))
        .filter(|(_, n)| *n < PER_PEER)
        .min_by_key(|(p, n)| (!validators.contains(p), *n))
        .map(|(p, _)| p)
}

/// A walk to snapshot `id`'s block failed: the snapshot is dropped at once if that block
/// is `disproven` (validators holding more than a third of its epoch's power said it is
/// not final), and after [`FETCH_TRIES`] failed tries otherwise, so one byzantine
/// validator's "not here" (or a stranger's) costs an honest snapshot one try, not all of
/// them. `true` if it was dropped.
fn after_failed_walk(dropped: &mut Dropped, id: Hash, disproven: bool) -> bool {
    if disproven {
        dropped.reject(id);
        true
    } else {
        dropped.undelivered(id)
    }
}

/// How long one try of fetching a snapshot may take, with `left` chunks still to fetch,
/// before it is given up (the chunks saved stay for the next try): [`STALL_TIMEOUT`] and a
/// quarter of a second a chunk. A source answering each chunk just inside
/// [`REQUEST_TIMEOUT`] keeps the stall limit from running out, and alone would otherwise
/// hold the sync for `left` × 10 s. An honest peer serves a chunk (at most ~233 KB) within
/// an observer's budget in well under 100 ms (a million accounts, 257 chunks, were
/// restored in 21.6 s under load).
fn try_timeout(left: usize) -> Duration {
    STALL_TIMEOUT + Duration::from_millis(250 * left as u64)
}

/// Whether the chunks saved for snapshot `id` stay when `current` is fetched: its own, and
/// those of the snapshot tried just before (`last`) if it may be tried again. At most two
/// snapshots' chunks are on disk, however many variants of a manifest peers offer.
fn keeps_chunks(id: &Hash, current: Hash, last: Option<Hash>, dropped: &Dropped) -> bool {
    *id == current || (Some(*id) == last && dropped.undelivered.contains_key(id))
}

/// `peers` with those in `validators` first, each part in its own order.
fn validators_first(peers: &[PeerId], validators: &[PeerId]) -> Vec<PeerId> {
    let (mut out, others): (Vec<PeerId>, Vec<PeerId>) =
        peers.iter().partition(|p| validators.contains(p));
    out.extend(others);
    out
}

/// Chunks a release before folders per snapshot saved loose in `dir` (`chunk-N`, beside the
/// `manifest` they belong to) move into that manifest's folder, so an upgrade in the middle
/// of a state sync resumes them (each is checked against the manifest again before use).
fn adopt_loose_chunks(dir: &Path) -> std::io::Result<()> {
    let Ok(manifest) = std::fs::read(dir.join("manifest")) else {
        return Ok(());
    };
    let id = Hash(*blake3::hash(&manifest).as_bytes());
    let into = dir.join(format!("chunks-{}", id.to_hex()));
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("chunk-") {
            std::fs::create_dir_all(&into)?;
            std::fs::rename(entry.path(), into.join(name))?;
        }
    }
    Ok(())
}

/// Remove from the state-sync folder the chunk folders of snapshots `keep` rejects (and
/// the loose `chunk-N` files of releases before folders per snapshot); the manifest and
/// anything else stay.
fn clear_chunk_dirs(dir: &Path, keep: impl Fn(&Hash) -> bool) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(hex) = name.strip_prefix("chunks-") {
            if Hash::from_hex(hex).is_ok_and(|id| keep(&id)) {
                continue;
            }
            std::fs::remove_dir_all(entry.path())?;
        } else if name.starts_with("chunk-") || name.starts_with(".chunk-") {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Why finality evidence was not found.
#[derive(Debug)]
struct Unproven {
    /// The block whose evidence was asked for.
    height: u64,
    why: String,
    /// Peers that answered "not here" or with evidence that does not verify (silence and
    /// refusals are not counted: a busy or flooded peer is not a liar).
    denied: HashSet<PeerId>,
}

/// Whether the validators of `set` among `denied` hold more than a third of its voting
/// power (with fewer than a third byzantine, at least one honest validator among them).
fn denied_by_a_third(set: &[Validator], denied: &HashSet<PeerId>) -> bool {
    let total: u128 = set.iter().map(|v| u128::from(v.power)).sum();
    let against: u128 = set
        .iter()
        .filter(|v| crate::peer::peer_id_of(&v.key).is_some_and(|p| denied.contains(&p)))
        .map(|v| u128::from(v.power))
        .sum();
    total > 0 && against * 3 > total
}

/// A random starting place for [`rotate`] (0 if the OS has no randomness to give).
fn random_index() -> usize {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0;
    }
    u64::from_le_bytes(b) as usize
}

/// One round of asks for finality evidence, from `candidates` only: the first list of
/// `preferred` (up to [`PREFERRED_ASKS`]: all of them every round if there are no more),
/// then up to [`PARALLEL_ASKS`] of its second list in turn, then up to [`PARALLEL_ASKS`]
/// other candidates in turn from `start`; each group rotates with its own `asked` set (see
/// [`rotate`]). The first list is asked every round however many strangers come and go,
/// or copy a snapshot's manifest to join its offerers.
fn plan_round(
    candidates: &[PeerId],
    (always, offerers): (&[PeerId], &[PeerId]),
    asked: &mut [HashSet<PeerId>; 3],
    start: usize,
) -> Vec<PeerId> {
    let mut groups: [Vec<PeerId>; 3] = Default::default();
    for p in always {
        if candidates.contains(p) && !groups[0].contains(p) {
            groups[0].push(*p);
        }
    }
    for p in offerers {
        if candidates.contains(p) && !groups[0].contains(p) && !groups[1].contains(p) {
            groups[1].push(*p);
        }
    }
    groups[2] = candidates
        .iter()
        .filter(|p| !groups[0].contains(p) && !groups[1].contains(p))
        .copied()
        .collect();
    let [a0, a1, a2] = asked;
    let mut round = rotate(&groups[0], a0, 0, PREFERRED_ASKS);
    round.extend(rotate(&groups[1], a1, 0, PARALLEL_ASKS));
    round.extend(rotate(&groups[2], a2, start, PARALLEL_ASKS));
    round
}

/// The next up to `n` peers of `list` not in `asked` (which they join), in list order from
/// position `start` (mod the list's length), wrapping around. Once every peer of `list` was
/// asked, `asked` is emptied and the rotation begins again; so over rounds every peer of
/// the list is asked, whatever its order.
fn rotate(list: &[PeerId], asked: &mut HashSet<PeerId>, start: usize, n: usize) -> Vec<PeerId> {
    if list.iter().all(|p| asked.contains(p)) {
        asked.clear();
    }
    let len = list.len().max(1);
    let mut round: Vec<PeerId> = Vec::with_capacity(n.min(list.len()));
    for k in 0..list.len() {
        if round.len() == n {
            break;
        }
        let p = list[(start % len + k) % len];
        if asked.insert(p) {
            round.push(p);
        }
    }
    round
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Class;

    #[test]
    fn an_undelivered_snapshot_is_tried_again_and_fresh_failures_still_end_the_search() {
        let honest = Hash([1; 32]);
        let mut d = Dropped::default();
        // a stall (or no source left for a moment) does not drop the snapshot at once
        for _ in 1..FETCH_TRIES {
            assert!(!d.undelivered(honest));
            assert!(!d.ids.contains(&honest), "dropped after one hiccup");
        }
        assert!(d.undelivered(honest), "never dropped");
        assert!(d.ids.contains(&honest));
        // a snapshot shown false is dropped at once
        let fake = Hash([2; 32]);
        d.reject(fake);
        assert!(d.ids.contains(&fake));
        // fresh snapshots that never deliver are never dropped one by one before their
        // last try, yet every try counts: the search ends after MAX_FAILED_TRIES
        let mut tries = usize::try_from(FETCH_TRIES).unwrap() + 1;
        let mut k = 3u8;
        while !d.exhausted() {
            assert!(!d.undelivered(Hash([k; 32])));
            k += 1;
            tries += 1;
        }
        assert_eq!(tries, MAX_FAILED_TRIES);
        // the fresh ones were never dropped one by one: each had tries left
        assert_eq!(d.ids.len(), 2);
    }

    #[test]
    fn a_denial_by_too_few_to_mean_anything_leaves_a_snapshot_its_tries() {
        // one validator of four (or strangers) saying "not here" while the others are
        // silent: the snapshot keeps its tries, like one whose chunks did not arrive
        let set: Vec<Validator> = (1..=4u8)
            .map(|i| Validator {
                key: ledger::Keypair::from_secret([i; 32]).public(),
                power: 1,
                address: String::new(),
            })
            .collect();
        let peer = |i: usize| crate::peer::peer_id_of(&set[i].key).unwrap();
        let one: HashSet<PeerId> = [peer(3), PeerId::random()].into_iter().collect();
        assert!(!denied_by_a_third(&set, &one));
        let honest = Hash([1; 32]);
        let mut d = Dropped::default();
        for _ in 1..FETCH_TRIES {
            assert!(!after_failed_walk(
                &mut d,
                honest,
                denied_by_a_third(&set, &one)
            ));
        }
        assert!(after_failed_walk(&mut d, honest, false), "never dropped");
        // two of four (more than a third of the power, so one honest) drop it at once
        let two: HashSet<PeerId> = [peer(0), peer(3)].into_iter().collect();
        assert!(denied_by_a_third(&set, &two));
        let fake = Hash([2; 32]);
        assert!(after_failed_walk(
            &mut d,
            fake,
            denied_by_a_third(&set, &two)
        ));
        assert!(d.ids.contains(&fake));
    }

    #[test]
    fn a_trickling_source_cannot_hold_a_try_for_ever() {
        // a million accounts are 257 chunks: an honest restore took 21.6 s under load
        let t = try_timeout(257);
        assert!(t >= Duration::from_secs(150), "{t:?}");
        // a source answering each chunk just inside the request timeout, two at a time,
        // would hold the try for 257 × 20 s / 2; the deadline is a fraction of that, and
        // counts only the chunks left (a try that resumes saved ones is shorter)
        assert!(t < REQUEST_TIMEOUT * 257 / PER_PEER as u32 / 4, "{t:?}");
        assert!(try_timeout(10) < try_timeout(257));
        // the largest manifest (65,536 chunks) still ends a try within 5 hours
        assert!(try_timeout(65_536) < Duration::from_secs(5 * 3600));
    }

    #[test]
    fn silent_peers_with_the_lowest_ids_never_keep_the_others_from_being_asked() {
        // 8 peers that sort first (an attacker can grind keys for low IDs) never answer;
        // 12 others do. Whatever the start, every peer is asked within ⌈20/8⌉ rounds, and
        // nobody twice before everyone was asked once; then the rotation begins again.
        let mut peers: Vec<PeerId> = (0..20).map(|_| PeerId::random()).collect();
        peers.sort_unstable();
        for start in [0, 1, 7, 19, 20, 12_345] {
            let mut asked = HashSet::new();
            let mut seen: Vec<PeerId> = Vec::new();
            for _ in 0..3 {
                let r = rotate(&peers, &mut asked, start, PARALLEL_ASKS);
                assert!(r.len() <= PARALLEL_ASKS);
                assert!(r.iter().all(|p| !seen.contains(p)), "asked twice");
                seen.extend(r);
            }
            assert_eq!(seen.len(), 20, "start {start}");
            let again = rotate(&peers, &mut asked, start, PARALLEL_ASKS);
            assert_eq!(again.len(), PARALLEL_ASKS);
        }
        // the behaviour this replaces asked the first eight by ID every round
        let mut asked = HashSet::new();
        assert_eq!(rotate(&peers, &mut asked, 0, 8), peers[..8]);
        assert_eq!(rotate(&peers, &mut asked, 0, 8), peers[8..16]);
        assert!(rotate(&[], &mut HashSet::new(), 5, 8).is_empty());
    }

    #[test]
    fn validators_are_asked_every_round_while_strangers_change_keys() {
        // 3 validators and 30 observers whose keys are replaced after each round, so the
        // strangers' rotation never completes, and 32 observers that copied the snapshot's
        // manifest (offerers): the validators are still in every round, and first.
        let validators: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        let gone = PeerId::random(); // preferred but not connected: skipped
        let always: Vec<PeerId> = std::iter::once(gone)
            .chain(validators.iter().copied())
            .collect();
        // 32 observers copy the snapshot's manifest and so are offerers too
        let copiers: Vec<PeerId> = (0..32).map(|_| PeerId::random()).collect();
        let mut asked = Default::default();
        let mut offerers_asked = HashSet::new();
        for round in 0..10 {
            let mut candidates: Vec<PeerId> = (0..30).map(|_| PeerId::random()).collect();
            candidates.extend(&validators);
            candidates.extend(&copiers);
            candidates.sort_unstable();
            let r = plan_round(&candidates, (&always, &copiers), &mut asked, round);
            assert_eq!(r[..3], validators, "round {round}");
            assert_eq!(r.len(), 3 + 2 * PARALLEL_ASKS);
            assert!(!r.contains(&gone));
            offerers_asked.extend(r[3..3 + PARALLEL_ASKS].iter().copied());
        }
        // the offerers took turns: all asked within ⌈32/8⌉ rounds
        assert_eq!(offerers_asked.len(), copiers.len());
        // more always-asked peers than PREFERRED_ASKS: they take turns
        let many: Vec<PeerId> = (0..PREFERRED_ASKS + 4).map(|_| PeerId::random()).collect();
        let mut asked = Default::default();
        let a = plan_round(&many, (&many, &[]), &mut asked, 0);
        let b = plan_round(&many, (&many, &[]), &mut asked, 0);
        assert_eq!(a.len(), PREFERRED_ASKS);
        assert_eq!(b.len(), 4);
        assert!(a.iter().chain(&b).collect::<HashSet<_>>().len() == many.len());
    }

    #[test]
    fn only_more_than_a_third_of_the_power_saying_not_final_cuts_offers_off() {
        let keys: Vec<ledger::Keypair> = (1..=4u8)
            .map(|i| ledger::Keypair::from_secret([i; 32]))
            .collect();
        let set: Vec<Validator> = keys
            .iter()
            .map(|k| Validator {
                key: k.public(),
                power: 1,
                address: String::new(),
            })
            .collect();
        let peer = |i: usize| crate::peer::peer_id_of(&keys[i].public()).expect("a key");
        let observers: HashSet<PeerId> = (0..40).map(|_| PeerId::random()).collect();
        // one validator (perhaps the byzantine one) and any number of observers: no
        let mut denied = observers.clone();
        denied.insert(peer(3));
        assert!(!denied_by_a_third(&set, &denied));
        // two of four: at least one honest validator says it
        denied.insert(peer(1));
        assert!(denied_by_a_third(&set, &denied));
        // by power, not by count
        let mut weighted = set.clone();
        weighted[0].power = 10;
        assert!(!denied_by_a_third(&weighted, &denied));
        denied.insert(peer(0));
        assert!(denied_by_a_third(&weighted, &denied));
        assert!(!denied_by_a_third(&[], &denied));
    }

    #[test]
    fn the_pacer_keeps_each_peer_within_an_observers_state_sync_budget() {
        let pacer = Pacer::default();
        let (spacing, answer_rate) = Pacer::rates();
        let limit = Class::StateSync.limit(false).expect("a request budget");
        let answers = Class::StateSync
            .answer_limit(false)
            .expect("an answer budget");
        assert!(1.0 / spacing.as_secs_f64() < limit.msgs_per_s);
        assert!(answer_rate < answers.bytes_per_s);

        let (a, b) = (PeerId::random(), PeerId::random());
        let t0 = Instant::now();
        // a hundred requests to one peer are spread over a hundred slots
        let long = Duration::from_secs(3600);
        let slots: Vec<Instant> = (0..100).map(|_| pacer.reserve(a, long).unwrap()).collect();
        assert!(slots.windows(2).all(|w| w[1] - w[0] >= spacing));
        assert!(slots[99] >= t0 + spacing * 99);
        // another peer is not held up by them
        assert!(pacer.reserve(b, long).unwrap() < t0 + spacing);
        // 8 MiB of answers from b delay its next request by their share of the rate
        let before = pacer.reserve(b, long).unwrap();
        pacer.charge(b, 8 << 20);
        // a request whose time limit ends before b's slot is not sent (nor reserved)
        assert_eq!(pacer.reserve(b, Duration::from_millis(100)), None);
        let after = pacer.reserve(b, long).unwrap();
        let owed = Duration::from_secs_f64((8 << 20) as f64 / answer_rate);
        assert!(after >= before + spacing + owed);
        assert!(
            after < before + spacing * 2 + owed,
            "the refused request was reserved"
        );
        assert!(owed > Duration::from_secs(1));
    }

    #[test]
    fn the_pacer_forgets_fresh_keys_but_never_what_a_peer_still_owes() {
        let pacer = Pacer::default();
        let slow = PeerId::random();
        // 8 MiB of answers: the peer's next slot is seconds away
        let long = Duration::from_secs(3600);
        pacer.reserve(slow, long);
        pacer.charge(slow, 8 << 20);
        let owed = pacer.next.lock().unwrap()[&slow];
        assert!(owed > Instant::now() + Duration::from_secs(1));
        // two thousand fresh keys asked once each, a hundred per slot's spacing
        let (spacing, _) = Pacer::rates();
        for i in 0..2_000 {
            pacer.reserve(PeerId::random(), long);
            if i % 100 == 99 {
                std::thread::sleep(spacing);
            }
        }
        let next = pacer.next.lock().unwrap();
        assert!(
            next.len() <= PACER_KEPT + 100 + 1,
            "the map grew to {} peers",
            next.len()
        );
        assert_eq!(next.get(&slow), Some(&owed), "a peer's debt was forgotten");
    }

    #[test]
    fn chunk_requests_spread_over_the_validators_before_any_stranger() {
        let v: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        let strangers: Vec<PeerId> = (0..32).map(|_| PeerId::random()).collect();
        let sources = validators_first(&[strangers.clone(), v.clone()].concat(), &v);
        let mut busy: HashMap<PeerId, usize> = HashMap::new();
        // the first (perhaps slow, byzantine) validator never holds more than its share
        let mut first = Vec::new();
        for _ in 0..IN_FLIGHT {
            let p = pick_source(&sources, &busy, &v).unwrap();
            *busy.entry(p).or_default() += 1;
            first.push(p);
        }
        assert!(first.iter().all(|p| v.contains(p)), "a stranger was asked");
        let mut spread = first[..3].to_vec();
        spread.sort_unstable();
        let mut all = v.clone();
        all.sort_unstable();
        assert_eq!(
            spread, all,
            "one validator took a second slot before all had one"
        );
        // strangers get only what no validator has room for
        for p in &v {
            busy.insert(*p, PER_PEER);
        }
        assert_eq!(pick_source(&sources, &busy, &v), Some(strangers[0]));
        for p in &strangers {
            busy.insert(*p, PER_PEER);
        }
        assert_eq!(pick_source(&sources, &busy, &v), None);
    }

    #[test]
    fn validators_come_first_in_the_order_they_offered() {
        let p: Vec<PeerId> = (0..6).map(|_| PeerId::random()).collect();
        let validators = [p[4], p[1], PeerId::random()];
        let order = validators_first(&p, &validators);
        assert_eq!(order, vec![p[1], p[4], p[0], p[2], p[3], p[5]]);
        assert_eq!(validators_first(&p, &[]), p);
    }

    #[test]
    fn at_most_two_snapshots_keep_their_chunks() {
        let ids: Vec<Hash> = (1..=5u8).map(|i| Hash([i; 32])).collect();
        let mut d = Dropped::default();
        // snapshots 0..4 each failed once (so each may be tried again); 4 is fetched now,
        // 3 was tried last
        for id in &ids[..4] {
            d.undelivered(*id);
        }
        let kept: Vec<&Hash> = ids
            .iter()
            .filter(|id| keeps_chunks(id, ids[4], Some(ids[3]), &d))
            .collect();
        assert_eq!(kept, vec![&ids[3], &ids[4]]);
        // the one tried last is dropped for good: only the current one keeps its chunks
        d.reject(ids[3]);
        let kept: Vec<&Hash> = ids
            .iter()
            .filter(|id| keeps_chunks(id, ids[4], Some(ids[3]), &d))
            .collect();
        assert_eq!(kept, vec![&ids[4]]);
    }

    #[test]
    fn chunks_saved_before_folders_per_snapshot_are_kept_for_their_manifest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("manifest"), b"the manifest").unwrap();
        std::fs::write(dir.path().join("chunk-0"), b"zero").unwrap();
        std::fs::write(dir.path().join("chunk-7"), b"seven").unwrap();
        adopt_loose_chunks(dir.path()).unwrap();
        let id = Hash(*blake3::hash(b"the manifest").as_bytes());
        // a first fetch of that manifest keeps them
        clear_chunk_dirs(dir.path(), |i| *i == id).unwrap();
        let into = dir.path().join(format!("chunks-{}", id.to_hex()));
        assert_eq!(std::fs::read(into.join("chunk-0")).unwrap(), b"zero");
        assert_eq!(std::fs::read(into.join("chunk-7")).unwrap(), b"seven");
        assert!(!dir.path().join("chunk-0").exists());
        // without a manifest there is nothing to adopt them for
        let bare = tempfile::tempdir().unwrap();
        std::fs::write(bare.path().join("chunk-0"), b"zero").unwrap();
        adopt_loose_chunks(bare.path()).unwrap();
        assert!(bare.path().join("chunk-0").exists());
    }

    #[test]
    fn each_snapshot_keeps_its_own_chunks_and_dropped_ones_are_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (Hash([1; 32]), Hash([2; 32]), Hash([3; 32]));
        for id in [a, b, c] {
            let d = dir.path().join(format!("chunks-{}", id.to_hex()));
            std::fs::create_dir_all(&d).unwrap();
            // the same index in each snapshot: separate files
            std::fs::write(d.join("chunk-0"), id.0).unwrap();
        }
        // what a release before folders per snapshot left, and the manifest
        std::fs::write(dir.path().join("chunk-0"), b"old").unwrap();
        std::fs::write(dir.path().join(".chunk-1"), b"old").unwrap();
        std::fs::write(dir.path().join("manifest"), b"m").unwrap();
        std::fs::create_dir_all(dir.path().join("chunks-not-hex")).unwrap();
        clear_chunk_dirs(dir.path(), |id| *id == a || *id == c).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = vec![
            format!("chunks-{}", a.to_hex()),
            format!("chunks-{}", c.to_hex()),
            "manifest".to_string(),
        ];
        want.sort();
        assert_eq!(left, want);
        for id in [a, c] {
            let saved = std::fs::read(
                dir.path()
                    .join(format!("chunks-{}", id.to_hex()))
                    .join("chunk-0"),
            )
            .unwrap();
            assert_eq!(saved, id.0);
        }
    }
}
