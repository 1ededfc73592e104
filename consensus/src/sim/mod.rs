//! The deterministic simulator: real engines, real ed25519, a simulated network and clock.
//!
//! One seed fixes everything: latencies, losses, duplicates, partitions, crashes (which
//! lose every vote not yet persisted), clock skew, and the byzantine validators' choices.
//! Safety is checked at every finalization (no two nodes finalize different proposals at
//! one height); liveness after the faults heal (every honest node finalizes `liveness_blocks`
//! more within the window). The trace digest makes "same seed, same run" checkable.
//! Nothing here does IO or reads a clock.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use crate::engine::{Action, Config, Engine, Input, TimerKind};
use crate::messages::{Certificate, Certified, Message, Vote, VoteKind};
use crate::safety::{Rule, SafetyState};
use crate::scheme::{Ed25519Signer, Ed25519Verifier, Signature, Signer};
use crate::types::{Digest, Proposal, ValidatorIndex, ValidatorInfo, ValidatorSet, View};

mod byzantine;

/// A small deterministic PRNG (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.next_u64() % 100 < u64::from(percent)
    }
}

/// How a byzantine validator misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Sends nothing at all.
    Silent,
    /// Runs the engine, but as leader sends one proposal to half the validators and a
    /// different one to the other half.
    Equivocator,
    /// Runs the engine and also signs every vote it can: notarizes every proposal seen,
    /// nullifies every view seen, finalizes every proposal seen.
    DoubleVoter,
    /// Two nodes with the same key, each running an honest engine with its own safety state.
    Twins,
    /// Answers every message with votes and certificates carrying bad signatures and
    /// unknown signers.
    Garbage,
}

/// One simulation's settings.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed.
    pub seed: u64,
    /// Validators.
    pub validators: usize,
    /// Their voting powers (empty: 1 each).
    pub powers: Vec<u64>,
    /// Byzantine validators (at most f for the liveness check to apply).
    pub byzantine: Vec<(ValidatorIndex, Behavior)>,
    /// Message loss while faults are on, percent.
    pub loss_percent: u32,
    /// Message duplication, percent.
    pub duplicate_percent: u32,
    /// One-way latency range, ms (uniform: reorders messages).
    pub latency_ms: (u64, u64),
    /// Whether to partition the network while faults are on.
    pub partitions: bool,
    /// Whether to crash and restart honest validators while faults are on.
    pub crashes: bool,
    /// Instants (simulated ms) at which every honest validator crashes at once (an
    /// operator restarting the network); each comes back 300 to 800 ms later.
    pub crash_all_at: Vec<u64>,
    /// Timer skew per node, up to this percent slower or faster.
    pub clock_skew_percent: u32,
    /// How long faults last (simulated ms).
    pub fault_ms: u64,
    /// After the faults heal, every honest node must finalize this many more blocks...
    pub liveness_blocks: u64,
    /// ...within this long (simulated ms).
    pub liveness_ms: u64,
    /// TEST ONLY: switch off a safety rule in every engine.
    pub disabled_rule: Option<Rule>,
}

impl SimConfig {
    /// A configuration with mixed faults chosen from the seed, for `validators` validators.
    pub fn mixed(seed: u64, validators: usize) -> SimConfig {
        let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(validators as u64));
        let f = (validators - 1) / 3;
        let behaviors = [
            Behavior::Silent,
            Behavior::Equivocator,
            Behavior::DoubleVoter,
            Behavior::Twins,
            Behavior::Garbage,
        ];
        // half the seeds weight the validators (power 1 to 3)
        let powers: Vec<u64> = if rng.chance(50) {
            vec![1; validators]
        } else {
            (0..validators).map(|_| rng.range(1, 3)).collect()
        };
        let total: u64 = powers.iter().sum();
        let faulty_power = total - (total * 2 / 3 + 1); // the most power that may be faulty
        let count = rng.range(0, f as u64) as usize;
        let mut byzantine: Vec<(ValidatorIndex, Behavior)> = Vec::new();
        let mut byzantine_power = 0;
        for _ in 0..4 * validators {
            if byzantine.len() >= count {
                break;
            }
            let who = rng.range(0, validators as u64 - 1) as ValidatorIndex;
            let power = powers[who as usize];
            if byzantine.iter().all(|(w, _)| *w != who) && byzantine_power + power <= faulty_power {
                byzantine_power += power;
                byzantine.push((who, behaviors[rng.range(0, 4) as usize]));
            }
        }
        SimConfig {
            seed,
            validators,
            powers,
            byzantine,
            loss_percent: rng.range(0, 30) as u32,
            duplicate_percent: rng.range(0, 10) as u32,
            latency_ms: (rng.range(1, 20), rng.range(20, 120)),
            partitions: rng.chance(40),
            crashes: rng.chance(40),
            crash_all_at: Vec::new(),
            clock_skew_percent: rng.range(0, 20) as u32,
            fault_ms: 6_000,
            liveness_blocks: 5,
            liveness_ms: 30_000,
            disabled_rule: None,
        }
    }
}

/// What a simulation found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReport {
    /// BLAKE3 of the trace: equal for equal seeds.
    pub trace_digest: [u8; 32],
    /// The highest view any node reached.
    pub views: View,
    /// The lowest finalized height among honest running nodes at the end.
    pub min_finalized: u64,
    /// Faults injected (drops, duplicates, crashes, partitions, byzantine messages).
    pub faults: u64,
    /// Messages delivered.
    pub messages: u64,
    /// A safety or liveness violation, if any.
    pub violation: Option<String>,
    /// Median time from a leader sending its proposal to a node finalizing it (ms).
    pub median_finality_ms: u64,
}

/// A run that delivers more messages than this is reported (a storm is a bug too).
const MESSAGE_BUDGET: u64 = 3_000_000;

struct Queued {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Clone, Debug)]
enum Event {
    Deliver {
        to: usize,
        from: ValidatorIndex,
        message: Message,
    },
    Timer {
        node: usize,
        life: u64,
        view: View,
        kind: TimerKind,
    },
    Persisted {
        node: usize,
        life: u64,
        vote: Vote,
    },
    Payload {
        node: usize,
        life: u64,
        view: View,
    },
    Verified {
        node: usize,
        life: u64,
        proposal: Proposal,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
}

struct Node {
    index: ValidatorIndex,
    behavior: Option<Behavior>,
    engine: Option<Engine<Ed25519Signer, Ed25519Verifier>>,
    /// Votes on "disk": survive crashes.
    durable: SafetyState,
    /// Finalized proposals on "disk", by height (1-based: element 0 is height 1).
    log: Vec<Proposal>,
    /// Incremented at every crash: events of an earlier life are dropped.
    life: u64,
    skew_percent: i64,
}

fn secret(index: ValidatorIndex) -> [u8; 32] {
    *blake3::hash(&[b"sim-validator".as_slice(), &index.to_le_bytes()].concat()).as_bytes()
}

/// Record `p` as the proposal at its height unless one is recorded already; returns the
/// recorded one if it differs (a safety violation).
fn first_at_height(seen: &mut BTreeMap<u64, Digest>, p: &Proposal) -> Option<Digest> {
    let digest = p.digest();
    let first = *seen.entry(p.height).or_insert(digest);
    (first != digest).then_some(first)
}

/// The engine configuration the simulator uses.
pub fn sim_engine_config(disabled_rule: Option<Rule>) -> Config {
    Config {
        namespace: [7; 32],
        leader_timeout_ms: 500,
        notarization_timeout_ms: 1000,
        nullify_retry_ms: 500,
        timeout_backoff_percent: 150,
        max_timeout_ms: 5_000,
        last_height: u64::MAX,
        disabled_rule,
    }
}

/// The genesis proposal every simulated chain starts from.
pub fn sim_genesis() -> Proposal {
    Proposal::genesis(Digest([0; 32]))
}

struct Sim {
    cfg: SimConfig,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Queued>>,
    /// Votes each double voter already signed (it signs each statement once).
    double_signed: std::collections::HashSet<(usize, VoteKind)>,
    nodes: Vec<Node>,
    set: ValidatorSet,
    engine_cfg: Config,
    /// height → the proposal finalized there (by anyone)
    finalized: BTreeMap<u64, Digest>,
    /// height → the proposal of the first finalization certificate formed at that height
    certified: BTreeMap<u64, Digest>,
    /// When each proposal left its leader.
    proposed_at: std::collections::HashMap<Digest, u64>,
    finality_samples: Vec<u64>,
    trace: blake3::Hasher,
    faults: u64,
    messages: u64,
    violation: Option<String>,
    partition: Option<Vec<u8>>, // group per node while partitioned
    faults_on: bool,
}

/// Run one simulation.
pub fn run(cfg: SimConfig) -> SimReport {
    let n = cfg.validators;
    let set = match ValidatorSet::new(
        (0..n as ValidatorIndex)
            .map(|i| ValidatorInfo {
                key: Ed25519Signer::from_secret(secret(i)).public_key(),
                power: cfg.powers.get(i as usize).copied().unwrap_or(1),
            })
            .collect(),
    ) {
        Ok(s) => s,
        Err(e) => {
            return SimReport {
                trace_digest: [0; 32],
                views: 0,
                min_finalized: 0,
                faults: 0,
                messages: 0,
                violation: Some(format!("bad validator set: {e}")),
                median_finality_ms: 0,
            };
        }
    };
    let mut rng = Rng::new(cfg.seed);
    let mut nodes = Vec::new();
    for i in 0..n as ValidatorIndex {
        let behavior = cfg.byzantine.iter().find(|(w, _)| *w == i).map(|(_, b)| *b);
        let copies = if behavior == Some(Behavior::Twins) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let skew = rng.range(0, 2 * u64::from(cfg.clock_skew_percent)) as i64
                - i64::from(cfg.clock_skew_percent);
            nodes.push(Node {
                index: i,
                behavior,
                engine: None,
                durable: SafetyState::default(),
                log: Vec::new(),
                life: 0,
                skew_percent: skew,
            });
        }
    }
    let engine_cfg = sim_engine_config(cfg.disabled_rule);
    let sim = Sim {
        cfg,
        rng,
        now: 0,
        seq: 0,
        queue: BinaryHeap::new(),
        double_signed: std::collections::HashSet::new(),
        nodes,
        set,
        engine_cfg,
        finalized: BTreeMap::new(),
        certified: BTreeMap::new(),
        proposed_at: std::collections::HashMap::new(),
        finality_samples: Vec::new(),
        trace: blake3::Hasher::new(),
        faults: 0,
        messages: 0,
        violation: None,
        partition: None,
        faults_on: true,
    };
    sim.run()
}

impl Sim {
    fn push(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at,
            seq: self.seq,
            event,
        }));
    }

    fn start_node(&mut self, node: usize) {
        let nd = &self.nodes[node];
        if matches!(
            nd.behavior,
            Some(Behavior::Silent) | Some(Behavior::Garbage)
        ) {
            return;
        }
        let finalized = nd.log.last().copied().unwrap_or_else(sim_genesis);
        let engine = Engine::new(
            self.engine_cfg.clone(),
            self.set.clone(),
            Ed25519Signer::from_secret(secret(nd.index)),
            Ed25519Verifier,
            nd.durable.clone(),
            finalized,
        );
        self.nodes[node].engine = Some(engine);
        self.step(node, Input::Start);
    }

    fn run(mut self) -> SimReport {
        for node in 0..self.nodes.len() {
            self.start_node(node);
        }
        let fault_end = self.cfg.fault_ms;
        if self.cfg.partitions {
            // split at a seeded moment, heal at the end of the fault phase
            let groups: Vec<u8> = (0..self.nodes.len())
                .map(|_| (self.rng.next_u64() % 2) as u8)
                .collect();
            self.partition = Some(groups);
            self.faults += 1;
        }
        if self.cfg.crashes {
            let honest: Vec<usize> = (0..self.nodes.len())
                .filter(|i| self.nodes[*i].behavior.is_none())
                .collect();
            for _ in 0..2 {
                let node = honest[self.rng.range(0, honest.len() as u64 - 1) as usize];
                let at = self.rng.range(500, fault_end.saturating_sub(1000).max(600));
                let back = at + self.rng.range(200, 3000);
                self.push(at, Event::Crash { node });
                self.push(back.min(fault_end), Event::Restart { node });
            }
        }
        for at in self.cfg.crash_all_at.clone() {
            for node in 0..self.nodes.len() {
                if self.nodes[node].behavior.is_none() {
                    let back = at + self.rng.range(300, 800);
                    self.push(at, Event::Crash { node });
                    self.push(back, Event::Restart { node });
                }
            }
        }
        let mut healed_at_heights: Option<Vec<u64>> = None;
        let end = fault_end + self.cfg.liveness_ms;
        while let Some(Reverse(Queued { at, event, .. })) = self.queue.pop() {
            if at > end || self.violation.is_some() {
                break;
            }
            // stop as soon as liveness is shown: every honest node has its blocks
            if let Some(before) = &healed_at_heights
                && self.nodes.iter().enumerate().all(|(i, n)| {
                    n.behavior.is_some()
                        || n.log.len() as u64 >= before[i] + self.cfg.liveness_blocks
                })
            {
                break;
            }
            self.now = at;
            if self.faults_on && at >= fault_end {
                self.faults_on = false;
                self.partition = None;
                healed_at_heights = Some(self.nodes.iter().map(|n| n.log.len() as u64).collect());
            }
            self.process(event);
            if self.messages > MESSAGE_BUDGET {
                self.violation = Some(format!("message storm: over {MESSAGE_BUDGET} messages"));
            }
        }
        let honest_running: Vec<&Node> = self
            .nodes
            .iter()
            .filter(|n| n.behavior.is_none() && n.engine.is_some())
            .collect();
        let min_finalized = honest_running
            .iter()
            .map(|n| n.log.len() as u64)
            .min()
            .unwrap_or(0);
        if self.violation.is_none()
            && let Some(before) = healed_at_heights
        {
            for (i, n) in self.nodes.iter().enumerate() {
                if n.behavior.is_none()
                    && (n.log.len() as u64) < before[i] + self.cfg.liveness_blocks
                {
                    self.violation = Some(format!(
                        "liveness: node {i} finalized {} blocks in {} ms after healing (needed {})",
                        n.log.len() as u64 - before[i],
                        self.cfg.liveness_ms,
                        self.cfg.liveness_blocks
                    ));
                    break;
                }
            }
        }
        let views = self
            .nodes
            .iter()
            .filter_map(|n| n.engine.as_ref().map(|e| e.view()))
            .max()
            .unwrap_or(0);
        self.finality_samples.sort_unstable();
        let median_finality_ms = self
            .finality_samples
            .get(self.finality_samples.len() / 2)
            .copied()
            .unwrap_or(0);
        SimReport {
            trace_digest: *self.trace.finalize().as_bytes(),
            views,
            min_finalized,
            faults: self.faults,
            messages: self.messages,
            violation: self.violation,
            median_finality_ms,
        }
    }

    fn alive(&self, node: usize, life: u64) -> bool {
        self.nodes[node].life == life && self.nodes[node].engine.is_some()
    }

    fn process(&mut self, event: Event) {
        match event {
            Event::Deliver { to, from, message } => {
                self.messages += 1;
                self.trace.update(&self.now.to_le_bytes());
                self.trace.update(&[1, to as u8, from as u8]);
                if self.nodes[to].behavior == Some(Behavior::Garbage) {
                    let sender_is_garbage = self
                        .cfg
                        .byzantine
                        .iter()
                        .any(|(w, b)| *w == from && *b == Behavior::Garbage);
                    if !sender_is_garbage {
                        self.garbage(to);
                    }
                    return;
                }
                if self.nodes[to].engine.is_none() {
                    return;
                }
                if self.nodes[to].behavior == Some(Behavior::DoubleVoter) {
                    self.double_vote(to, &message);
                }
                self.step(to, Input::Message { from, message });
            }
            Event::Timer {
                node,
                life,
                view,
                kind,
            } => {
                if self.alive(node, life) {
                    self.step(node, Input::Timeout { view, kind });
                }
            }
            Event::Persisted { node, life, vote } => {
                if self.alive(node, life) {
                    self.nodes[node].durable.record(vote);
                    self.step(node, Input::Persisted(vote));
                }
            }
            Event::Payload { node, life, view } => {
                if self.alive(node, life) {
                    let payload = Digest(
                        *blake3::hash(
                            &[&view.to_le_bytes()[..], &(node as u64).to_le_bytes()].concat(),
                        )
                        .as_bytes(),
                    );
                    self.step(node, Input::Payload { view, payload });
                }
            }
            Event::Verified {
                node,
                life,
                proposal,
            } => {
                if self.alive(node, life) {
                    self.step(
                        node,
                        Input::Verified {
                            proposal,
                            valid: true,
                        },
                    );
                }
            }
            Event::Crash { node } => {
                self.faults += 1;
                self.trace.update(&[9, node as u8]);
                let nd = &mut self.nodes[node];
                nd.engine = None; // everything not persisted is gone
                nd.life += 1;
            }
            Event::Restart { node } => {
                if self.nodes[node].engine.is_none() {
                    if !self.cfg.crash_all_at.is_empty() {
                        self.sync_before_start(node);
                    }
                    self.start_node(node);
                }
            }
        }
    }

    fn step(&mut self, node: usize, input: Input) {
        let Some(engine) = self.nodes[node].engine.as_mut() else {
            return;
        };
        let actions = engine.handle(input);
        for a in actions {
            self.act(node, a);
        }
    }

    fn delay(&mut self) -> u64 {
        let (lo, hi) = self.cfg.latency_ms;
        self.rng.range(lo, hi)
    }

    fn send(&mut self, from_node: usize, to: usize, message: Message) {
        let from = self.nodes[from_node].index;
        if self.faults_on {
            if let Some(groups) = &self.partition
                && groups[from_node] != groups[to]
            {
                self.faults += 1;
                return;
            }
            if self.rng.chance(self.cfg.loss_percent) {
                self.faults += 1;
                return;
            }
            if self.rng.chance(self.cfg.duplicate_percent) {
                self.faults += 1;
                let d = self.delay();
                self.push(
                    self.now + d,
                    Event::Deliver {
                        to,
                        from,
                        message: message.clone(),
                    },
                );
            }
        }
        let d = self.delay();
        self.push(self.now + d, Event::Deliver { to, from, message });
    }

    fn broadcast(&mut self, from_node: usize, message: Message) {
        for to in 0..self.nodes.len() {
            if to != from_node {
                self.send(from_node, to, message.clone());
            }
        }
    }

    fn act(&mut self, node: usize, action: Action) {
        let life = self.nodes[node].life;
        match action {
            Action::Broadcast(m) => {
                if let Message::Vote(v) = &m
                    && let VoteKind::Notarize(p) = v.kind
                    && self.set.leader(p.view) == v.signer
                {
                    self.proposed_at.entry(p.digest()).or_insert(self.now);
                }
                if let Message::Certificate(c) = &m
                    && let Certified::Finalization(p) = c.certified
                {
                    self.check_final_certificate(node, p);
                }
                if self.nodes[node].behavior == Some(Behavior::Equivocator)
                    && let Message::Vote(v) = &m
                    && let VoteKind::Notarize(p) = v.kind
                    && self.set.leader(p.view) == v.signer
                {
                    self.equivocate(node, p, m.clone());
                    return;
                }
                self.broadcast(node, m);
            }
            Action::Send { to, message } => {
                for target in 0..self.nodes.len() {
                    if self.nodes[target].index == to && target != node {
                        self.send(node, target, message.clone());
                    }
                }
            }
            Action::SetTimer {
                view,
                kind,
                after_ms,
            } => {
                let skewed =
                    (after_ms as i64 * (100 + self.nodes[node].skew_percent) / 100).max(1) as u64;
                self.push(
                    self.now + skewed,
                    Event::Timer {
                        node,
                        life,
                        view,
                        kind,
                    },
                );
            }
            Action::RequestPayload { view, .. } => {
                self.push(self.now + 1, Event::Payload { node, life, view })
            }
            Action::Verify(proposal) => self.push(
                self.now + 1,
                Event::Verified {
                    node,
                    life,
                    proposal,
                },
            ),
            Action::Persist(vote) => {
                let d = self.rng.range(0, 3);
                self.push(self.now + d, Event::Persisted { node, life, vote })
            }
            Action::Finalized { proposal, .. } => self.record_finalized(node, proposal),
            Action::Fetch { view } => self.broadcast(node, Message::Request { view }),
            // the simulator runs a single epoch with no last height
            Action::EpochEnded { .. } => {}
            // evidence must only ever name byzantine validators
            Action::Misbehaved { from, what } => {
                let honest = self
                    .nodes
                    .iter()
                    .any(|n| n.index == from && n.behavior.is_none());
                if honest && self.violation.is_none() {
                    self.violation = Some(format!(
                        "node {node} reported honest validator {from} as misbehaving: {what:?}"
                    ));
                }
            }
        }
    }

    /// Any finalization certificate an engine formed must agree with every other one at its
    /// height, even if no node output both blocks (a node ignores a conflicting finalization).
    fn check_final_certificate(&mut self, node: usize, p: Proposal) {
        if let Some(other) = first_at_height(&mut self.certified, &p) {
            self.violation = Some(format!(
                "safety: conflicting finalization certificates at height {} (node {node} formed one for {:?}, another exists for {other:?})",
                p.height,
                p.digest()
            ));
        }
    }

    /// What a node's block sync does before its engine starts: take the finalized blocks
    /// it lacks from the running honest node furthest ahead. Engines keep certificates only in
    /// memory, so after every validator restarted at once a node behind could get them
    /// from no engine any more (a real node reads them from a peer's store).
    fn sync_before_start(&mut self, node: usize) {
        let have = self.nodes[node].log.len();
        let Some(ahead) = self
            .nodes
            .iter()
            .filter(|n| n.behavior.is_none() && n.engine.is_some() && n.log.len() > have)
            .max_by_key(|n| n.log.len())
            .map(|n| n.log[have..].to_vec())
        else {
            return;
        };
        for p in ahead {
            self.record_finalized(node, p);
        }
    }

    fn record_finalized(&mut self, node: usize, p: Proposal) {
        self.trace.update(&[7, node as u8]);
        self.trace.update(&p.digest().0);
        let nd = &mut self.nodes[node];
        if p.height != nd.log.len() as u64 + 1 {
            self.violation = Some(format!(
                "node {node} finalized height {} after height {} (seed {})",
                p.height,
                nd.log.len(),
                self.cfg.seed
            ));
            return;
        }
        nd.log.push(p);
        let digest = p.digest();
        if let Some(t) = self.proposed_at.get(&digest) {
            self.finality_samples.push(self.now - t);
        }
        if let Some(other) = first_at_height(&mut self.finalized, &p) {
            self.violation = Some(format!(
                "safety: two different proposals finalized at height {} (node {node} finalized {digest:?}, another node {other:?})",
                p.height
            ));
        }
    }
}
