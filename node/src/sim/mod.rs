//! A deterministic whole-node simulator: N real [`NodeCore`]s — the real engine,
//! execution, mempool, fetching, sync and epoch switches — over a simulated network
//! (latency ranges, loss, duplication, reordering, partitions that heal), with in-memory
//! stores that lose what was not yet durable when a node crashes, a byzantine node
//! ([`Behaviour`]), validator-set changes through governance, and wallets sending
//! transfers. [`check`] judges every step (agreement, no double sign) and the end (the
//! chain re-executes from genesis with every signature valid and the supply conserved;
//! liveness after the faults heal). One seed gives one run: the same seed gives the same
//! trace digest.
//!
//! Test code in the node crate: `palisade run` never reaches it.

mod byzantine;
mod check;
mod faults;
mod load;
mod net;
mod node;

use std::time::Instant;

use genesis::Genesis;
use genesis::{DevKeyKind, dev_keypair};
use ledger::{Hash, Keypair};

pub use byzantine::Behaviour;
pub use net::SimRng;

use crate::config::ConsensusSection;
use crate::core::{Committed, Effect, Event};
use check::Checks;
use faults::Fault;
use net::{Item, Links, Queue};
use node::{MemStore, MemVotes, SimNode};

/// Wallet accounts sending transfers (dev accounts 1..=ACCOUNTS; account 0 is the admin).
const ACCOUNTS: u32 = 16;
/// A request unanswered this long (ms) fails.
const REQUEST_TIMEOUT_MS: u64 = 3_000;
/// The core's housekeeping period (ms), as the runtime's.
const HOUSEKEEPING_MS: u64 = 20;
/// Every honest node must hold, at the end, what the best one held this long before (two
/// lost sync requests and two status intervals).
const CATCH_UP_MS: u64 = 2 * REQUEST_TIMEOUT_MS + 2_000;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Genesis validators.
    pub validators: usize,
    /// What the last genesis validator does (`None`: it is honest).
    pub byzantine: Option<Behaviour>,
    /// Simulated time with faults, ms.
    pub chaos_ms: u64,
    /// Simulated time without faults after it, ms (liveness is judged here).
    pub quiet_ms: u64,
    /// Whether to schedule partitions, crashes, clock skew and loss bursts.
    pub faults: bool,
    /// Wallet transactions per simulated second.
    pub load_tps: u64,
    /// Blocks per epoch.
    pub epoch_length: u64,
    /// Whether a node outside genesis joins the validators through governance (and
    /// leaves again), across epoch switches.
    pub joiner: bool,
    /// A planted bug, to show the checks catch it: a crashed validator comes back
    /// within a few hundred milliseconds with its votes forgotten (a safety log that
    /// was never fsynced).
    pub amnesia: bool,
}

impl SimConfig {
    /// The CI schedule: 4 validators, one of them byzantine as `behaviour` says.
    pub fn standard(validators: usize, byzantine: Option<Behaviour>) -> SimConfig {
        SimConfig {
            validators,
            byzantine,
            chaos_ms: 40_000,
            // longer than the longest timeout (30 s): after the faults, a validator that
            // backed off retries within it
            quiet_ms: 35_000,
            faults: true,
            load_tps: 40,
            epoch_length: 20,
            joiner: true,
            amnesia: false,
        }
    }
}

/// What one seed did.
#[derive(Clone, Debug)]
pub struct SimReport {
    /// The seed.
    pub seed: u64,
    /// Digest of every event handled and every block finalized, in order.
    pub digest: Hash,
    /// Each node's finalized (durable) height at the end.
    pub heights: Vec<u64>,
    /// Blocks the honest nodes agree on (the lowest honest height).
    pub blocks: u64,
    /// Transactions in them (successful ones).
    pub txs: u64,
    /// Faults injected, described.
    pub faults: Vec<String>,
    /// Events handled.
    pub events: u64,
    /// Simulated time, ms.
    pub sim_ms: u64,
    /// Wall time the run took, ms.
    pub wall_ms: u64,
    /// Penalties honest nodes gave the byzantine node, and each other.
    pub penalties: (u64, u64),
    /// Epochs the chain went through.
    pub epochs: u64,
    /// Epochs whose last block a re-proposal finalized (its view was cut by a fault).
    pub reproposed: u64,
    /// Votes each node sent (the byzantine node's not counted): the joiner's show it
    /// took part once governance made it a validator.
    pub votes: Vec<u64>,
    /// Broken invariants (empty: the run passed).
    pub violations: Vec<String>,
}

struct World {
    cfg: SimConfig,
    genesis: Genesis,
    consensus: ConsensusSection,
    limits: ledger::Limits,
    chain_id: Hash,
    nodes: Vec<SimNode>,
    byzantine: Option<usize>,
    rng: SimRng,
    queue: Queue,
    links: Links,
    now: u64,
    trace: blake3::Hasher,
    checks: Checks,
    schedule: Vec<(u64, u64, Fault)>,
    /// Epoch-end heights already considered for a cut ([`World::maybe_cut_epoch_end`]).
    cut_heights: std::collections::BTreeSet<u64>,
    faults: Vec<String>,
    events: u64,
    penalties: (u64, u64),
    wallet: Vec<(Keypair, u64)>,
    admin: (Keypair, u64),
    stopped: Vec<bool>,
}

/// Run one seed.
pub fn run(cfg: &SimConfig, seed: u64) -> SimReport {
    let started = Instant::now();
    let mut w = World::new(cfg.clone(), seed);
    w.run();
    w.report(seed, started.elapsed().as_millis() as u64)
}

/// The command that replays `seed` of `cfg`.
pub fn replay_command(cfg: &SimConfig, seed: u64) -> String {
    format!(
        "palisade sim --seed {seed} --seeds 1 --validators {} --byzantine {} --chaos {} --quiet {}{}{}",
        cfg.validators,
        cfg.byzantine.map_or("none", Behaviour::name),
        cfg.chaos_ms / 1000,
        cfg.quiet_ms / 1000,
        if cfg.faults { "" } else { " --no-faults" },
        if cfg.amnesia { " --amnesia" } else { "" }
    )
}

impl World {
    fn new(cfg: SimConfig, seed: u64) -> World {
        World::with_accounts(cfg, seed, ACCOUNTS + 1)
    }

    /// A world whose genesis funds `accounts` dev accounts (at least the admin and the
    /// wallets; the others send only what a test has them send).
    fn with_accounts(cfg: SimConfig, seed: u64, accounts: u32) -> World {
        let mut genesis = genesis::dev_genesis(
            "palisade-sim",
            cfg.validators as u32,
            accounts.max(ACCOUNTS + 1),
            0,
            0,
        );
        genesis.genesis_time_ms = node::GENESIS_MS;
        genesis.consensus.epoch_length = cfg.epoch_length.max(2);
        let params = genesis.chain_params();
        let total = cfg.validators + usize::from(cfg.joiner);
        let nodes: Vec<SimNode> = (0..total)
            .map(|i| {
                let key = dev_keypair(DevKeyKind::Validator, i as u32);
                SimNode {
                    peer: crate::peer::peer_id_of(&key.public())
                        .unwrap_or(libp2p::PeerId::random()),
                    key,
                    store: MemStore::new(&genesis),
                    votes: MemVotes::default(),
                    live: None,
                    incarnation: 0,
                    skew_ms: 0,
                    commits_at: 0,
                }
            })
            .collect();
        let consensus = ConsensusSection {
            min_block_interval_ms: 200,
            max_block_txs: 2_000,
            settle_ms: 100,
            status_interval_ms: 1_000,
            sync_timeout_ms: 5_000,
        };
        let mut w = World {
            byzantine: cfg.byzantine.map(|_| cfg.validators - 1),
            rng: SimRng::new(seed),
            queue: Queue::default(),
            links: Links::new(total),
            now: 0,
            trace: blake3::Hasher::new(),
            checks: Checks::default(),
            schedule: Vec::new(),
            cut_heights: Default::default(),
            faults: Vec::new(),
            events: 0,
            penalties: (0, 0),
            wallet: (1..=ACCOUNTS)
                .map(|i| (dev_keypair(DevKeyKind::Account, i), 0))
                .collect(),
            admin: (dev_keypair(DevKeyKind::Account, 0), 0),
            stopped: vec![false; total],
            limits: params.limits,
            chain_id: params.chain_id,
            consensus,
            genesis,
            nodes,
            cfg,
        };
        w.plan_faults();
        w
    }

    fn honest(&self, i: usize) -> bool {
        self.byzantine != Some(i)
    }

    fn end(&self) -> u64 {
        self.cfg.chaos_ms + self.cfg.quiet_ms
    }

    fn run(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
        if self.cfg.load_tps > 0 {
            self.queue.push(1_000, Item::Client);
        }
        let mut chaos_height = None;
        let mut late_height = None;
        while let Some((at, item)) = self.queue.pop() {
            if at > self.end() {
                break;
            }
            if chaos_height.is_none() && at >= self.cfg.chaos_ms {
                chaos_height = Some(self.max_honest_height());
            }
            if late_height.is_none() && at + CATCH_UP_MS >= self.end() {
                late_height = Some(self.max_honest_height());
            }
            self.now = at;
            self.events += 1;
            let (tag, who) = item.tag();
            self.trace.update(&at.to_le_bytes());
            self.trace.update(&[tag]);
            self.trace.update(&(who as u64).to_le_bytes());
            self.handle(item);
            if self.events.is_multiple_of(10_000) {
                let view = self
                    .nodes
                    .iter()
                    .filter_map(|n| n.live.as_ref())
                    .map(|l| l.core.view())
                    .max();
                self.checks.prune(view.unwrap_or(0));
            }
        }
        self.now = self.end();
        self.judge_liveness(chaos_height.unwrap_or(0), late_height.unwrap_or(0));
    }

    fn max_honest_height(&self) -> u64 {
        (0..self.nodes.len())
            .filter(|i| self.honest(*i))
            .map(|i| self.nodes[i].store.height())
            .max()
            .unwrap_or(0)
    }

    /// After the quiet phase every honest node is live and has caught up (to where the
    /// best one was [`CATCH_UP_MS`] before the end: a node that is no validator learns of
    /// blocks at its peers' status interval), and the chain moved on from where the faults
    /// left it.
    fn judge_liveness(&mut self, chaos_height: u64, late_height: u64) {
        let best = self.max_honest_height();
        if best < chaos_height + 5 {
            self.checks.violations.push(format!(
                "liveness: the honest nodes finalized {best} at the end, {chaos_height} when the faults stopped"
            ));
        }
        for i in 0..self.nodes.len() {
            if !self.honest(i) {
                continue;
            }
            let h = self.nodes[i].store.height();
            if self.nodes[i].live.is_none() || h < late_height {
                self.checks.violations.push(format!(
                    "liveness: node {i} is at height {h} (live: {}), the best honest node was at {late_height} {CATCH_UP_MS} ms before the end",
                    self.nodes[i].live.is_some()
                ));
            }
        }
    }

    fn start(&mut self, i: usize) {
        let seed = self.rng.bytes32();
        let rewrite = match (self.byzantine == Some(i), self.cfg.byzantine) {
            (true, Some(b)) if b == Behaviour::Forge || b == Behaviour::Mixed => {
                Some(crate::adversary::attack::forging(
                    Keypair::from_secret(self.nodes[i].key.secret()),
                    self.chain_id,
                    self.wallet.iter().map(|(k, _)| k.public()).collect(),
                    std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
                ))
            }
            _ => None,
        };
        let (genesis, consensus) = (self.genesis.clone(), self.consensus.clone());
        if let Err(e) = self.nodes[i].start(&genesis, &consensus, seed, rewrite) {
            self.checks
                .violations
                .push(format!("node {i} cannot start: {e}"));
            return;
        }
        let inc = self.nodes[i].incarnation;
        let at = self.now;
        self.queue.push(
            at + 1,
            Item::Housekeeping {
                node: i,
                incarnation: inc,
            },
        );
        self.queue.push(
            at + 1 + self.rng.range(0, 999),
            Item::Status {
                node: i,
                incarnation: inc,
            },
        );
        self.step(i, Event::Start);
    }

    fn crash(&mut self, i: usize) {
        self.nodes[i].live = None;
        self.nodes[i].incarnation += 1;
        if self.cfg.amnesia {
            self.nodes[i].votes = MemVotes::default();
        }
    }

    fn live(&self, i: usize, incarnation: u64) -> bool {
        self.nodes[i].live.is_some() && self.nodes[i].incarnation == incarnation
    }

    fn handle(&mut self, item: Item) {
        match item {
            // a frame still on its way when its link was cut is lost (a request's loss
            // already answered with its timeout when it was sent over a cut link)
            Item::Frame {
                from,
                to,
                request: None,
                ..
            } if !self.links.connected(from, to) => {}
            Item::Frame {
                from,
                to,
                bytes,
                request,
            } => self.deliver(from, to, bytes, request),
            Item::Answer {
                to,
                incarnation,
                id,
                result,
            } => {
                if self.live(to, incarnation) {
                    self.step(to, Event::Answer { id, result });
                }
            }
            Item::Tick { node, incarnation } => {
                if self.live(node, incarnation) {
                    if let Some(l) = self.nodes[node].live.as_mut() {
                        l.tick_at = u64::MAX;
                    }
                    self.step(node, Event::Tick);
                }
            }
            Item::Housekeeping { node, incarnation } => {
                if self.live(node, incarnation) {
                    self.queue.push(
                        self.now + HOUSEKEEPING_MS,
                        Item::Housekeeping { node, incarnation },
                    );
                    self.step(node, Event::Tick);
                    self.flood(node);
                }
            }
            Item::Status { node, incarnation } => {
                if self.live(node, incarnation) {
                    let every = self.consensus.status_interval_ms;
                    self.queue
                        .push(self.now + every, Item::Status { node, incarnation });
                    self.step(node, Event::Status);
                }
            }
            Item::Admitted {
                node,
                incarnation,
                block,
            } => {
                if self.live(node, incarnation) {
                    self.step(node, Event::AdmissionCaughtUp { block });
                }
            }
            Item::Committed {
                node,
                incarnation,
                job,
            } => {
                if self.live(node, incarnation) {
                    if let Err(e) = self.nodes[node].store.commit(&job) {
                        self.checks.violations.push(format!("node {node}: {e}"));
                        return;
                    }
                    self.trace.update(&job.block.id().0);
                    self.step(
                        node,
                        Event::Committed(Box::new(Committed {
                            job: *job,
                            result: Ok(()),
                        })),
                    );
                }
            }
            Item::Client => {
                let every = (1_000 / self.cfg.load_tps.max(1)).max(1);
                self.queue.push(self.now + every, Item::Client);
                self.client();
            }
            Item::Fault { index, start } => self.fault(index, start),
        }
    }

    /// Give node `i` one event and carry out its effects.
    fn step(&mut self, i: usize, event: Event) {
        let _span = tracing::info_span!("sim", node = i, at = self.now).entered();
        let t = self.nodes[i].time(self.now);
        let Some(live) = self.nodes[i].live.as_mut() else {
            return;
        };
        let effects = match live.core.handle(t, event) {
            Ok(e) => e,
            Err(e) => {
                if self.honest(i) {
                    self.checks
                        .violations
                        .push(format!("node {i} stopped at {} ms: {e}", self.now));
                }
                self.stopped[i] = true;
                self.crash(i);
                return;
            }
        };
        let deadline = live.core.next_deadline();
        if let Some(d) = deadline
            && d < live.tick_at
        {
            let at = d.max(self.now + 1);
            live.tick_at = at;
            let inc = self.nodes[i].incarnation;
            self.queue.push(
                at,
                Item::Tick {
                    node: i,
                    incarnation: inc,
                },
            );
        }
        for e in effects {
            self.effect(i, e);
        }
    }

    fn index_of(&self, peer: &libp2p::PeerId) -> Option<usize> {
        self.nodes.iter().position(|n| n.peer == *peer)
    }

    fn effect(&mut self, i: usize, effect: Effect) {
        let inc = self.nodes[i].incarnation;
        match effect {
            Effect::Send { to, bytes } => {
                if let Some(j) = self.index_of(&to) {
                    self.send(i, vec![j], bytes);
                }
            }
            Effect::Broadcast { to, bytes } => {
                let to: Vec<usize> = to.iter().filter_map(|p| self.index_of(p)).collect();
                self.send(i, to, bytes);
            }
            Effect::BroadcastConnected { bytes } => {
                let to: Vec<usize> = (0..self.nodes.len()).filter(|j| *j != i).collect();
                self.send(i, to, bytes);
            }
            Effect::Request { id, to, bytes } => match self.index_of(&to) {
                Some(j) if tracing::enabled!(tracing::Level::TRACE) => {
                    tracing::trace!(to = j, id, kind = bytes.first().copied(), "sim: request");
                    self.transmit(i, j, bytes, Some(id))
                }
                Some(j) => self.transmit(i, j, bytes, Some(id)),
                None => self.queue.push(
                    self.now + 1,
                    Item::Answer {
                        to: i,
                        incarnation: inc,
                        id,
                        result: Err("unknown peer".into()),
                    },
                ),
            },
            Effect::Penalize { peer, .. } => {
                if self.honest(i) {
                    match self.index_of(&peer) {
                        Some(j) if !self.honest(j) => self.penalties.0 += 1,
                        _ => self.penalties.1 += 1,
                    }
                }
            }
            Effect::Gossip { txs, .. } => {
                let chain_id = self.chain_id;
                let now = self.now;
                self.nodes[i].admit(txs, false, &chain_id, now);
            }
            Effect::AwaitAdmission { block, .. } => self.queue.push(
                self.now + 1,
                Item::Admitted {
                    node: i,
                    incarnation: inc,
                    block,
                },
            ),
            Effect::Commit(job) => {
                if self.honest(i) {
                    self.checks
                        .finalized(self.now, i, job.block.header.height, job.block.id());
                }
                // one write after the other, as the commit thread does them
                let at = (self.now + self.rng.range(1, 8)).max(self.nodes[i].commits_at);
                self.nodes[i].commits_at = at;
                self.queue.push(
                    at,
                    Item::Committed {
                        node: i,
                        incarnation: inc,
                        job,
                    },
                );
            }
            Effect::GossipTargets(to) => {
                if let Some(l) = self.nodes[i].live.as_mut() {
                    l.gossip_to = to;
                }
            }
            Effect::Respond { .. }
            | Effect::SetValidators(_)
            | Effect::Publish(_)
            | Effect::Ready(_)
            | Effect::Chain(_) => {}
        }
    }

    /// Node `from` sends `bytes` to each of `to` (a byzantine sender's frames pass through
    /// its behaviour; an honest sender's votes through the double-sign check).
    fn send(&mut self, from: usize, to: Vec<usize>, bytes: Vec<u8>) {
        if self.honest(from)
            && let Some(consensus::VoteKind::Finalize(p)) =
                self.checks.sent(self.now, from, &bytes, self.limits)
        {
            self.maybe_cut_epoch_end(from, p.height);
        }
        for (rank, j) in to.into_iter().enumerate() {
            let frame = match (self.byzantine == Some(from), self.cfg.byzantine) {
                (true, Some(b)) => b.outgoing(bytes.clone(), rank, self.limits, &mut self.rng),
                _ => Some(bytes.clone()),
            };
            if let Some(f) = frame {
                self.transmit(from, j, f, None);
            }
        }
    }

    /// One frame over the link `from` → `to`: lost, delayed, perhaps duplicated. A lost
    /// request fails at its timeout.
    fn transmit(&mut self, from: usize, to: usize, bytes: Vec<u8>, request: Option<u64>) {
        let lost =
            from == to || !self.links.connected(from, to) || self.rng.chance(self.links.loss);
        if lost {
            if let Some(id) = request {
                tracing::debug!(from, to, id, side = ?self.links.side, loss = self.links.loss, "sim: request lost");
                let inc = self.nodes[from].incarnation;
                self.queue.push(
                    self.now + REQUEST_TIMEOUT_MS,
                    Item::Answer {
                        to: from,
                        incarnation: inc,
                        id,
                        result: Err("timed out".into()),
                    },
                );
            }
            return;
        }
        let (lo, hi) = self.links.latency;
        let at = self.now + self.rng.range(lo, hi);
        if request.is_none() && self.rng.chance(self.links.duplicate) {
            let again = self.now + self.rng.range(lo, hi * 2);
            self.queue.push(
                again,
                Item::Frame {
                    from,
                    to,
                    bytes: bytes.clone(),
                    request,
                },
            );
        }
        self.queue.push(
            at,
            Item::Frame {
                from,
                to,
                bytes,
                request,
            },
        );
    }

    fn deliver(&mut self, from: usize, to: usize, bytes: Vec<u8>, request: Option<u64>) {
        let inc_from = self.nodes[from].incarnation;
        let Some(id) = request else {
            let peer = self.nodes[from].peer;
            self.step(
                to,
                Event::Message {
                    peer,
                    bytes,
                    respond: None,
                },
            );
            return;
        };
        // a request: the peer server answers (a node that is down never does)
        let answer = match self.nodes[to].serve(&bytes, self.limits) {
            Some(r) => {
                let r = match (self.byzantine == Some(to), self.cfg.byzantine) {
                    (true, Some(b)) => b.answer(r, &mut self.rng),
                    _ => r,
                };
                Ok(r.encode())
            }
            None if self.nodes[to].live.is_none() => Err("timed out".to_owned()),
            None => Ok(crate::wire::Response::Refused("not a request".into()).encode()),
        };
        let back_lost = !self.links.connected(from, to) || self.rng.chance(self.links.loss);
        let (at, result) = match answer {
            Ok(bytes) if !back_lost => {
                let (lo, hi) = self.links.latency;
                (self.now + self.rng.range(lo, hi), Ok(bytes))
            }
            Ok(_) | Err(_) => {
                tracing::debug!(from, to, id, "sim: answer lost");
                (self.now + REQUEST_TIMEOUT_MS, Err("timed out".to_owned()))
            }
        };
        self.queue.push(
            at,
            Item::Answer {
                to: from,
                incarnation: inc_from,
                id,
                result,
            },
        );
    }

    fn report(mut self, seed: u64, wall_ms: u64) -> SimReport {
        let heights: Vec<u64> = self.nodes.iter().map(|n| n.store.height()).collect();
        let honest: Vec<usize> = (0..self.nodes.len()).filter(|i| self.honest(*i)).collect();
        let blocks = honest.iter().map(|i| heights[*i]).min().unwrap_or(0);
        let (mut txs, mut reproposed) = (0, 0);
        // the longest honest store re-executes from genesis
        if let Some(best) = honest.iter().copied().max_by_key(|i| heights[*i]) {
            match check::audit(&self.genesis, &self.nodes[best].store) {
                Ok(a) => (txs, reproposed) = (a.ok_txs, a.reproposed),
                Err(e) => self.checks.violations.push(format!("node {best}: {e}")),
            }
        }
        for h in &heights {
            self.trace.update(&h.to_le_bytes());
        }
        let epochs =
            heights.iter().max().copied().unwrap_or(0) / self.genesis.consensus.epoch_length.max(1);
        SimReport {
            seed,
            digest: Hash(*self.trace.finalize().as_bytes()),
            heights,
            blocks,
            txs,
            faults: self.faults,
            events: self.events,
            sim_ms: self.now,
            wall_ms,
            penalties: self.penalties,
            epochs,
            reproposed,
            votes: (0..self.nodes.len())
                .map(|i| self.checks.votes_sent.get(&i).copied().unwrap_or(0))
                .collect(),
            violations: self.checks.violations,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a panic is a failed test

    use super::*;

    /// Four validators, no scheduled faults, no joiner, 12 s before the quiet phase.
    fn quiet() -> SimConfig {
        let mut cfg = SimConfig::standard(4, None);
        cfg.faults = false;
        cfg.joiner = false;
        cfg.chaos_ms = 12_000;
        cfg
    }

    /// A world where every validator stops at `at` and the first `back` of them start
    /// again 800 ms later (the others stay down).
    fn stopped_together(cfg: SimConfig, seed: u64, at: u64, back: usize) -> World {
        let mut w = World::new(cfg, seed);
        for i in 0..w.cfg.validators {
            let index = w.schedule.len();
            w.schedule.push((at, at + 800, Fault::Crash(i)));
            w.queue.push(at, Item::Fault { index, start: true });
            if i < back {
                let end = Item::Fault {
                    index,
                    start: false,
                };
                w.queue.push(at + 800, end);
            }
        }
        w
    }

    /// A world of `quiet()` with `max_block_txs` 400 (so a block is ready early with 134)
    /// and, at `at` ms, a backlog in every pool: 40 transfers from each of `ready` accounts
    /// that can go in, and 40 after a nonce gap from each of `gapped` accounts.
    fn backlogged(seed: u64, at: u64, ready: u32, gapped: u32) -> World {
        let mut cfg = quiet();
        cfg.quiet_ms = 8_000;
        let first = ACCOUNTS + 1;
        let mut w = World::with_accounts(cfg, seed, first + ready + gapped);
        w.consensus.max_block_txs = 400;
        let backlogs = [
            (first..first + ready, false),
            (first + ready..first + ready + gapped, true),
        ];
        for (senders, gap) in backlogs {
            let index = w.schedule.len();
            let backlog = Fault::Backlog {
                senders,
                per_sender: 40,
                gap,
            };
            w.schedule.push((at, at, backlog));
            w.queue.push(at, Item::Fault { index, start: true });
        }
        w
    }

    /// Blocks of `w`'s node 0 that hold at least `n` transactions and are stamped less
    /// than the 200-ms interval after their parent.
    fn early_blocks(w: &World, n: usize) -> usize {
        w.nodes[0]
            .store
            .blocks
            .windows(2)
            .filter(|b| {
                b[1].0.txs.len() >= n
                    && b[1].0.header.timestamp_ms < b[0].0.header.timestamp_ms + 200
            })
            .count()
    }

    /// A mempool holding `max_block_txs` transactions that can never go in (nonces after a
    /// gap) made every leader propose at once whatever few could: ~118 blocks a second of
    /// ~170 transactions in a 30-minute run that fell behind (BENCHMARKS.md, 2026-12-04,
    /// seventeenth session; 340 blocks in these 20 s). Blocks come one per interval, and
    /// the wallets' transfers still go in.
    #[test]
    fn a_mempool_full_of_gapped_nonces_cuts_no_storm_of_tiny_blocks() {
        for seed in 0..3u64 {
            let mut w = backlogged(500 + seed, 2_000, 0, 10);
            w.run();
            let pooled = w.nodes[0].live.as_ref().map_or(0, |l| l.pool.lock().len());
            let report = w.report(500 + seed, 0);
            assert!(report.violations.is_empty(), "{:?}", report.violations);
            assert!(pooled >= 400, "the gapped backlog stayed pooled: {pooled}");
            let intervals = report.sim_ms / 200;
            let best = report.heights.iter().copied().max().unwrap_or(0);
            assert!(
                best * 10 <= intervals * 13 && best * 10 >= intervals * 6,
                "{best} blocks in {} ms of 200-ms intervals",
                report.sim_ms
            );
            // 40 transfers a second from the second second on
            assert!(
                report.txs * 10 >= (report.sim_ms / 1_000 - 1) * 40 * 9,
                "{} wallet transfers in {} ms",
                report.txs,
                report.sim_ms
            );
        }
    }

    /// A full mempool whose transactions can go in, in part, is still proposed without
    /// waiting out the interval once a block's worth (a third of the cap) can: 600 that can
    /// go in beside 320 that cannot; once a block of 400 took most, the next leader finds
    /// the mempool full and 200 that can go in, short of the cap, and proposes at once.
    #[test]
    fn a_backlog_that_can_go_in_is_proposed_without_waiting_for_the_interval() {
        for seed in 0..3u64 {
            let mut w = backlogged(600 + seed, 3_000, 15, 8);
            w.run();
            let early = early_blocks(&w, 134);
            let pooled = w.nodes[0].live.as_ref().map_or(0, |l| l.pool.lock().len());
            let report = w.report(600 + seed, 0);
            assert!(report.violations.is_empty(), "{:?}", report.violations);
            assert!(
                early >= 1,
                "no block of a third of the cap proposed before the interval was out"
            );
            assert!(
                (320..400).contains(&pooled),
                "{pooled} transactions left in the pool"
            );
            assert!(report.txs >= 600, "{} transactions finalized", report.txs);
        }
    }

    /// Every validator stops at once and starts again (an operator restarting the whole
    /// testnet): the chain goes on from where it was, whichever instant the stop hit. A
    /// block notarized but not yet finalized at that instant is the next proposal's parent;
    /// held only in memory, it was gone from every node and the chain stalled for good
    /// (BENCHMARKS.md, 2026-12-04, sixteenth session).
    #[test]
    fn the_chain_goes_on_after_every_validator_restarts_at_once() {
        for k in 0..30u64 {
            let at = 6_000 + k * 7;
            let mut w = stopped_together(quiet(), 100 + k, at, 4);
            w.run();
            let report = w.report(100 + k, 0);
            assert!(
                report.violations.is_empty(),
                "all stopped at {at} ms: {:?} (heights {:?})",
                report.violations,
                report.heights
            );
        }
    }

    /// Three validators stop at once and come back 800 ms later while the fourth stays
    /// down: the three (a bare quorum) go on alone. Each must count the votes it signed
    /// before the stop, and send them all again: a quorum that needs its own vote, or the
    /// finalize votes of a block notarized before the stop, formed nowhere else. With
    /// epochs of 200 blocks the block log is rewritten on the way and must stay small.
    #[test]
    fn three_validators_restarted_at_once_go_on_without_the_fourth() {
        for k in 0..12u64 {
            let mut cfg = quiet();
            cfg.quiet_ms = 20_000;
            cfg.epoch_length = 200;
            let at = 6_000 + k * 11;
            let mut w = stopped_together(cfg, 300 + k, at, 3);
            w.run();
            let kept: Vec<usize> = (0..3)
                .map(|i| {
                    let logs = w.nodes[i].votes.1.lock().unwrap();
                    logs.values().map(Vec::len).max().unwrap_or(0)
                })
                .collect();
            let report = w.report(300 + k, 0);
            let others: Vec<&String> = report
                .violations
                .iter()
                .filter(|v| !v.starts_with("liveness: node 3 "))
                .collect();
            let stopped_at = report.heights[3];
            assert!(
                others.is_empty() && report.heights[..3].iter().all(|h| *h >= stopped_at + 40),
                "three of four back at {} ms: {others:?} (heights {:?})",
                at + 800,
                report.heights
            );
            assert!(
                kept.iter().all(|n| *n <= 2 * crate::core::KEPT_COMPACT_AT),
                "block logs of {kept:?} blocks (heights {:?})",
                report.heights
            );
        }
    }

    /// Status ticks that come in a burst (the node's loop was busy, say replaying large
    /// synced blocks) send one status message, not one each: peers budget an observer's at
    /// 4 a second and banned a block-syncing observer for such a burst.
    #[test]
    fn status_ticks_in_a_burst_send_one_status_message() {
        let mut w = World::new(SimConfig::standard(4, None), 7);
        let (genesis, consensus) = (w.genesis.clone(), w.consensus.clone());
        w.nodes[0]
            .start(&genesis, &consensus, [7; 32], None)
            .unwrap();
        let time = |ms: u64| crate::core::Time {
            mono_ms: ms,
            wall_ms: node::GENESIS_MS + ms,
        };
        let core = &mut w.nodes[0].live.as_mut().unwrap().core;
        core.handle(time(0), Event::Start).unwrap();
        let mut sent = |at: u64| {
            core.handle(time(at), Event::Status)
                .unwrap()
                .iter()
                .filter(|e| matches!(e, Effect::BroadcastConnected { .. }))
                .count()
        };
        assert_eq!(sent(1_000), 1);
        // ten ticks in the same millisecond, then more within half an interval
        let burst: usize = (0..10).map(|_| sent(5_000)).sum();
        assert_eq!(burst, 1, "a burst of ticks");
        assert_eq!(sent(5_300), 0);
        // half the 1-s interval on, the next goes out
        assert_eq!(sent(5_500), 1);
        assert_eq!(sent(6_500), 1);
    }
}
