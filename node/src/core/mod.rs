//! The node as a pure state machine: [`NodeCore::handle`] takes the time and one [`Event`]
//! and returns the [`Effect`]s to carry out. Inside: the consensus engine of the current
//! (and previous) epoch, the finalized chain in memory, the pool of proposed blocks,
//! block building, fetching, commit, sync and epoch switches.
//!
//! Must not touch tokio, libp2p's swarm, RocksDB, files or the clock: time comes in as an
//! argument, requests go out as [`Effect::Request`] with an id and come back as
//! [`Event::Answer`], votes go through the [`VoteStore`] the runtime gives it, and
//! everything else it wants done is an [`Effect`] (`crate::runtime` carries them out for a
//! real node, the simulator for simulated ones). What it shares with admission and RPC is
//! memory behind locks (`crate::handles`).
//!
//! | module | owns |
//! |---|---|
//! | `drive` | running the engine: its actions, timers, the progress loop |
//! | `pool` | the pool of proposed blocks: proposal checks, execution, invalid verdicts |
//! | `build` | building this node's proposals |
//! | `fetch` | proposals pushed by leaders, rebuilding blocks from ids, fetching blocks |
//! | `commit` | finality: commit in memory, hand-off to the store, durable reports |
//! | `sync` | height claims, readiness, catching up from peers |
//! | `epochs` | opening epochs, switching and restarting engines, whom to connect to |
//! | `inbound` | decoding peers' messages and dispatching them |

mod build;
mod commit;
mod drive;
pub mod epochs;
mod fetch;
mod inbound;
mod pool;
mod sync;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use consensus::{Digest, Input, Proposal, SafetyState, TimerKind, View, Vote};
use genesis::Genesis;
use ledger::{
    Block, BlockHeader, ChainParams, FastMap, Hash, Keypair, LedgerState, PublicKey, Receipt,
    SignedTransaction,
};
use libp2p::PeerId;

pub use epochs::{namespace, validator_set};

use crate::config::ConsensusSection;
use crate::handles::{BlockCache, ChainEvent, ChainView, IncludedTxs, Pool};
use crate::metrics::Metrics;
use crate::pace::BlockPace;
use crate::wire::FinalityProof;
use epochs::Epoch;

/// The longest a timeout may grow to with backoff.
const MAX_TIMEOUT_MS: u64 = 30_000;
/// Finalized blocks kept in memory to answer peers a little behind.
const RECENT_BLOCKS: u64 = 32;
/// Blocks asked for in one sync request.
const SYNC_BATCH: u32 = 128;
/// A block named by a proposal that has not arrived is asked for after this long (ms): its
/// leader pushes it with the proposal, and the two may arrive in either order.
const FETCH_GRACE_MS: u64 = 100;
/// An unanswered block request is sent again after this long (ms)…
const FETCH_RETRY_MS: u64 = 1000;
/// …this many times at most.
const MAX_FETCH_ATTEMPTS: u32 = 30;
/// How long (ms) a block rebuilt from ids waits for admission to catch up before the
/// leader is asked for the transactions still missing.
const ADMISSION_WAIT_MS: u64 = 50;
/// How long (ms) the height claims of a peer that did not deliver what it claimed are
/// ignored.
const DEMOTION_MS: u64 = 30_000;
/// How long a peer that took this node for an observer is asked for blocks at an
/// observer's pace.
const PACED_AS_OBSERVER_MS: u64 = 600_000;
/// A validator this many blocks behind the height its epoch's validators vouch for keeps
/// its consensus messages to itself while it syncs ([`NodeCore::silent`]).
const FAR_BEHIND: u64 = SYNC_BATCH as u64;
/// Status ticks after its start during which a validator that has heard no height claims
/// from validators with more than a third of the power stays silent ([`NodeCore::silent`]).
const QUIET_TICKS: u32 = 3;
/// Blocks kept for votes (see `keep_voted_block`) before the block log is rewritten
/// without the ones already stored.
pub(crate) const KEPT_COMPACT_AT: usize = 32;

/// Blocks in a block log, by id: height and block.
type KeptBlocks = FastMap<Hash, (u64, Arc<Block>)>;

/// How an [`Event::Answer`] error starts when the request never left this node (its
/// network queue was full): nobody else's fault.
pub const LOCAL_FAILURE: &str = "local:";

/// The time as the core sees it: a monotonic clock for timers and a wall clock for block
/// timestamps, both in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Time {
    /// Milliseconds on a clock that never goes back (its zero is arbitrary).
    pub mono_ms: u64,
    /// Milliseconds since the Unix epoch, as this node's clock says.
    pub wall_ms: u64,
}

/// What happens to a node.
#[derive(Debug)]
pub enum Event {
    /// The node starts: start the engine, say whom to connect to, publish the chain.
    Start,
    /// A frame from a peer (`respond`: the id to answer a request with).
    Message {
        /// The sender.
        peer: PeerId,
        /// The frame.
        bytes: Vec<u8>,
        /// For requests: the id to answer with ([`Effect::Respond`]).
        respond: Option<u64>,
    },
    /// The answer to [`Effect::Request`] `id`, or why there is none.
    Answer {
        /// The request's id.
        id: u64,
        /// The response frame, or why none came.
        result: Result<Vec<u8>, String>,
    },
    /// Admission has admitted what was queued when [`Effect::AwaitAdmission`] was asked
    /// (or its wait ran out).
    AdmissionCaughtUp {
        /// The block being rebuilt.
        block: Hash,
    },
    /// A finalized block is on disk (or its write failed).
    Committed(Box<Committed>),
    /// Time passed: fire due timers and fetches (at [`NodeCore::next_deadline`] at the
    /// latest, and every few tens of milliseconds).
    Tick,
    /// Time to tell peers this node's height and recompute readiness.
    Status,
}

/// What the core wants done. The runtime carries effects out in order, after `handle`
/// returns.
#[derive(Debug)]
pub enum Effect {
    /// Send a frame to one peer.
    Send {
        /// The peer.
        to: PeerId,
        /// The frame.
        bytes: Vec<u8>,
    },
    /// Send a frame to several peers.
    Broadcast {
        /// The peers.
        to: Vec<PeerId>,
        /// The frame.
        bytes: Vec<u8>,
    },
    /// Send a frame to every connected peer.
    BroadcastConnected {
        /// The frame.
        bytes: Vec<u8>,
    },
    /// Send a request; its answer comes back as [`Event::Answer`] with the same id (always:
    /// an error if none arrives; one that starts with [`LOCAL_FAILURE`] if it never left
    /// this node).
    Request {
        /// Correlates the answer.
        id: u64,
        /// The peer.
        to: PeerId,
        /// The frame.
        bytes: Vec<u8>,
    },
    /// Answer a peer's request.
    Respond {
        /// The request's id ([`Event::Message::respond`]).
        id: u64,
        /// The response frame.
        bytes: Vec<u8>,
    },
    /// Lower a peer's score.
    Penalize {
        /// The peer.
        peer: PeerId,
        /// How much.
        points: i64,
        /// Why (logged).
        reason: String,
    },
    /// Stay connected to these validators (this epoch's and the next's), at these addresses
    /// (as genesis and governance give them; unparsed).
    SetValidators(Vec<(PeerId, String)>),
    /// Transactions a peer gossiped: hand them to admission.
    Gossip {
        /// The sender.
        from: PeerId,
        /// The transactions.
        txs: Vec<SignedTransaction>,
    },
    /// Report [`Event::AdmissionCaughtUp`] for `block` once admission has handled what is
    /// queued now, or after `within_ms`, whichever comes first.
    AwaitAdmission {
        /// The block being rebuilt.
        block: Hash,
        /// The longest wait.
        within_ms: u64,
    },
    /// Write a finalized block to the store; report [`Event::Committed`]. Jobs are written
    /// in the order given.
    Commit(Box<CommitJob>),
    /// What RPC and metrics read changed.
    Publish(Box<ChainView>),
    /// Whether the node is synced and serving.
    Ready(bool),
    /// Whom admitted client transactions are gossiped to.
    GossipTargets(Vec<PeerId>),
    /// Tell RPC subscribers.
    Chain(ChainEvent),
}

/// A finalized block to store.
#[derive(Debug)]
pub struct CommitJob {
    /// The block.
    pub block: Arc<Block>,
    /// Its receipts, one per transaction.
    pub receipts: Vec<Receipt>,
    /// The account changes it made.
    pub changes: Vec<ledger::state::Change>,
    /// The state after it.
    pub state: LedgerState,
    /// Its encoded finality proof.
    pub proof: Vec<u8>,
    /// The view that finalized it (for the log).
    pub view: u64,
}

/// A job done: the block is on disk, or why not.
#[derive(Debug)]
pub struct Committed {
    /// What was written.
    pub job: CommitJob,
    /// The store's answer.
    pub result: Result<(), ledger::store::StoreError>,
}

/// Where this validator's votes are kept: every vote it signs is appended, and durable,
/// before anyone hears of it.
pub trait VoteStore: Send {
    /// The votes kept for `epoch` (an empty state for an epoch never opened).
    fn open(&mut self, epoch: u64) -> Result<SafetyState, String>;
    /// Keep `vote` of `epoch`, durably, before returning.
    fn append(&mut self, epoch: u64, vote: &Vote) -> Result<(), String>;
    /// Keep the bytes of a block this validator is about to vote for in `epoch`, durably,
    /// before returning: if every validator stops at once, a notarized block that is not
    /// final yet must still be somewhere when they start again.
    fn keep_block(&mut self, epoch: u64, block: &[u8]) -> Result<(), String>;
    /// The blocks kept for `epoch` (damaged ones left out: they only help liveness).
    fn kept_blocks(&mut self, epoch: u64) -> Result<Vec<Vec<u8>>, String>;
    /// Replace the blocks kept for `epoch` with `blocks`, in one durable step (the ones
    /// dropped are final and stored).
    fn rewrite_blocks(&mut self, epoch: u64, blocks: &[Vec<u8>]) -> Result<(), String>;
    /// Epoch `epoch` is over for everyone: its votes may go.
    fn forget(&mut self, epoch: u64);
    /// Every epoch below `epoch` is over for everyone: their votes may go.
    fn forget_before(&mut self, epoch: u64);
}

/// Why the core stopped: each is this node's own problem or a break of the chain's
/// assumptions, never a peer's fault (peers' faults are penalties, not errors).
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The safety log could not be read or written: the node must not vote without it.
    #[error("safety log: {0}")]
    SafetyLog(String),
    /// An epoch's validator set cannot be formed from the state.
    #[error("validator set of epoch {epoch}: {why}")]
    ValidatorSet {
        /// The epoch.
        epoch: u64,
        /// Why.
        why: String,
    },
    /// A quorum finalized a block that breaks this node's rules.
    #[error(
        "a quorum finalized block {hash} at height {height}, which breaks the rules: {why}. \
         Either more than a third of the voting power is faulty, or this node runs other rules \
         than the quorum (check the binary version and the genesis). Refusing to continue."
    )]
    FinalizedInvalid {
        /// The block.
        hash: Hash,
        /// Its height.
        height: u64,
        /// The rule it breaks.
        why: String,
    },
    /// A finalized block does not extend the finalized head.
    #[error("finalized block {hash} at height {height} does not extend the finalized head")]
    FinalizedOffChain {
        /// The block.
        hash: Hash,
        /// Its height.
        height: u64,
    },
    /// The store failed to write a finalized block.
    #[error("committing finalized block {height}: {source}")]
    Commit {
        /// The block's height.
        height: u64,
        /// The store's error.
        #[source]
        source: ledger::store::StoreError,
    },
}

/// See [`crate::runtime::Hooks::rewrite_proposal`].
pub type ProposalHook = Box<
    dyn FnMut(&LedgerState, Vec<ledger::SignedTransaction>) -> Vec<ledger::SignedTransaction>
        + Send,
>;

/// What a core starts from.
pub struct Setup {
    /// `[consensus]` of the config.
    pub consensus: ConsensusSection,
    /// The chain's genesis.
    pub genesis: Genesis,
    /// This node's key.
    pub key: Keypair,
    /// The finalized state on disk.
    pub state: LedgerState,
    /// The finalized header on disk.
    pub header: BlockHeader,
    /// The proposal that finalized it (the genesis proposal at height 0).
    pub proposal: Proposal,
    /// Seeds the core's choices (which peer to sync from).
    pub seed: [u8; 32],
    /// `palisade adversary` only.
    pub rewrite_proposal: Option<ProposalHook>,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup").finish_non_exhaustive()
    }
}

/// The memory the core shares with admission, RPC and the peer server.
#[derive(Clone, Debug)]
pub struct Handles {
    /// The mempool.
    pub pool: Pool,
    /// Transactions in executed, unfinalized blocks.
    pub included: IncludedTxs,
    /// Blocks peers may fetch from memory.
    pub cache: Arc<BlockCache>,
    /// The finalized height on disk (for the peer server).
    pub durable_height: Arc<AtomicU64>,
    /// Metrics.
    pub metrics: Metrics,
}

/// A block executed on its parent's state.
struct Executed {
    block: Arc<Block>,
    state: LedgerState,
    receipts: Vec<Receipt>,
    changes: Vec<ledger::state::Change>,
}

impl Executed {
    fn new(block: Arc<Block>, outcome: ledger::BlockOutcome) -> Executed {
        Executed {
            block,
            state: outcome.state,
            receipts: outcome.receipts,
            changes: outcome.changes,
        }
    }
}

/// The engine asked this node for a proposal on `parent` in `view` of `epoch`.
#[derive(Clone, Copy, Debug)]
struct PendingPayload {
    epoch: u64,
    view: View,
    parent: Proposal,
    /// When (monotonic ms) the engine asked.
    asked_ms: u64,
    /// When (monotonic ms) the interval after the parent is out, if the parent was here
    /// when the engine asked (else worked out once it is).
    due_ms: Option<u64>,
    /// Whether the mempool held `max_block_txs` transactions then: the proposal may go
    /// before the interval is out, if a block's worth can go in.
    full: bool,
}

impl NodeCore {
    /// When (monotonic ms) the block interval after a parent stamped `parent_ts` is out
    /// for a proposal asked for at `asked_ms`: the interval after the parent's stamp by
    /// this node's wall clock, but at most one interval after the ask (a parent stamped in
    /// the future — a byzantine leader may stamp up to the 10 s tolerance ahead — must not
    /// stall this proposer; the builder stamps the block after its parent anyway). A
    /// leader whose mempool looked full proposes before it only with a block worth it
    /// ([`BlockPace::ready`]).
    fn interval_out(&self, parent_ts: u64, asked_ms: u64) -> u64 {
        let interval = self.cfg.min_block_interval_ms;
        let left = parent_ts
            .saturating_add(interval)
            .saturating_sub(self.now.wall_ms);
        self.now
            .mono_ms
            .saturating_add(left)
            .min(asked_ms.saturating_add(interval))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Engine {
        epoch: u64,
        view: View,
        kind: TimerKind,
    },
    Propose {
        epoch: u64,
        view: View,
    },
}

/// What an outstanding [`Effect::Request`] was for.
#[derive(Clone, Copy, Debug)]
enum Asked {
    /// A block by hash (`GetBlock`).
    Block { hash: Hash, peer: PeerId },
    /// The transactions a block being rebuilt lacks (`GetTxs` to its leader).
    Txs { hash: Hash },
    /// Finalized blocks (`GetBlocks`) from height `from`.
    Sync { peer: PeerId, from: u64 },
}

/// A proposed block being rebuilt from its transactions' leaves: the mempool had some of
/// them, the rest come from gossip still queued for admission or are asked of the leader.
struct Partial {
    header: BlockHeader,
    leaves: Vec<Hash>,
    txs: Vec<Option<SignedTransaction>>,
    /// Which slots were filled from the mempool (their signatures verified at admission).
    from_pool: Vec<bool>,
    /// The leader that sent the ids.
    leader: PeerId,
}

/// The node core: everything a node decides.
pub struct NodeCore {
    cfg: ConsensusSection,
    genesis: Genesis,
    params: ChainParams,
    key: Keypair,
    my_peer: PeerId,
    h: Handles,
    votes: Box<dyn VoteStore>,
    /// The time of the event being handled.
    now: Time,
    /// What this event produced so far.
    effects: Vec<Effect>,
    seed: [u8; 32],
    draws: u64,
    next_request: u64,
    asked: FastMap<u64, Asked>,
    // finalized chain (in memory; the store may be a few blocks behind)
    state: LedgerState,
    header: BlockHeader,
    proposal: Proposal,
    /// The finalized head on disk: what RPC and peers are shown.
    durable_state: LedgerState,
    durable_header: BlockHeader,
    // consensus
    epoch: Epoch,
    previous: Option<Epoch>,
    timers: BinaryHeap<Reverse<(u64, Timer)>>,
    pending_payload: Option<PendingPayload>,
    pending_verify: Vec<Proposal>,
    finalize_queue: VecDeque<FinalityProof>,
    pending_inputs: Vec<Input>,
    // blocks not yet final
    blocks: FastMap<Hash, Arc<Block>>,
    /// Blocks of this epoch written to the [`VoteStore`] before a vote for them (by id:
    /// their height and the block, which a rewrite of the log needs while it is final in
    /// memory and not yet stored).
    kept: KeptBlocks,
    /// Blocks of the next epoch restored from its block log at the start.
    kept_next: Option<(u64, KeptBlocks)>,
    /// The engine's restart re-sent its votes while this node was silent (dropped): send
    /// them again once it speaks.
    resend_when_heard: bool,
    /// The block log is rewritten without the stored blocks once `kept` holds this many.
    kept_compact_at: usize,
    /// For blocks rebuilt from leaves: which transactions came from the mempool (verified
    /// at admission), so execution checks only the others' signatures.
    pool_known: FastMap<Hash, Vec<bool>>,
    /// `palisade adversary` only (see [`crate::runtime::Hooks::rewrite_proposal`]).
    rewrite_proposal: Option<ProposalHook>,
    executed: FastMap<Hash, Executed>,
    /// Blocks found to break the rules, with why. A header id names exactly one body (the
    /// tx root covers every signed byte, and bodies are checked against it on arrival), so
    /// this is a verdict on the block itself, never on someone's bad copy of it.
    invalid: FastMap<Hash, (u64, String)>,
    /// The proposal taken for each view of this epoch (one per view: a second, different
    /// one from the leader is equivocation evidence).
    proposed_in: BTreeMap<View, Hash>,
    /// Blocks to ask peers for: when next (mono ms), and how often asked so far.
    fetching: FastMap<Hash, (u64, u32)>,
    partial: FastMap<Hash, Partial>,
    // sync
    /// Finalized heights peers claim, and when (mono ms) they said so. Claims only pick
    /// whom to ask for blocks (what is adopted is verified) and, from f+1 validators, say
    /// when this node is behind.
    peer_heights: HashMap<PeerId, (u64, u64)>,
    /// Peers that claimed blocks and did not deliver them: their claims are ignored until
    /// then (mono ms).
    demoted: HashMap<PeerId, u64>,
    heard_status: bool,
    /// The epoch in which a validator of it was last heard speaking in the next one (see
    /// [`NodeCore::sync_to_epoch_end`]).
    next_epoch_heard: Option<u64>,
    /// The sync request out: when it was sent (mono ms) and its id.
    sync_inflight: Option<(u64, u64)>,
    /// When (mono ms) each peer was last asked for blocks: a peer is asked again only
    /// within the `get_blocks` budget it grants this node (see [`NodeCore::sync_spacing_ms`]).
    sync_sent: HashMap<PeerId, u64>,
    /// The peer drawn for the next request for blocks, waiting until its budget lets it
    /// be asked, and the gap (blocks behind) that request was for.
    sync_next: Option<(PeerId, u64)>,
    /// This node's copy of the budget each peer asked for blocks keeps for its answers
    /// (bytes): a peer is asked again only when it would answer (see
    /// [`crate::budget::AnswerMirror`]); copies that are full again are forgotten.
    sync_answers: HashMap<PeerId, crate::budget::AnswerMirror>,
    /// Peers that refused a request for blocks as over budget, and until when (mono ms)
    /// they are asked at an observer's pace: this node's copies of their budgets were
    /// behind (they may count it as an observer: it was removed at an epoch boundary it
    /// has not reached yet). Refused again meanwhile, this node demotes them.
    sync_paced_as_observer: HashMap<PeerId, u64>,
    /// Status ticks since this node started.
    status_ticks: u32,
    /// The finalized height and when (mono ms) it was first seen at a status tick.
    stuck_since: (u64, u64),
    /// When this node last told its peers its height (`None`: not yet).
    status_sent_ms: Option<u64>,
    head_height: u64,
    /// The highest block announced to subscribers.
    announced_head: u64,
    /// What consensus finalized lately: caps this node's proposals (see [`BlockPace`]).
    pace: BlockPace,
}

impl std::fmt::Debug for NodeCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCore")
            .field("height", &self.header.height)
            .field("epoch", &self.epoch.number)
            .field("view", &self.epoch.engine.view())
            .field("peer", &self.my_peer)
            .finish_non_exhaustive()
    }
}

impl NodeCore {
    /// A core at the finalized head of `setup`, its current epoch's votes read from
    /// `votes`.
    pub fn new(
        setup: Setup,
        handles: Handles,
        mut votes: Box<dyn VoteStore>,
    ) -> Result<NodeCore, CoreError> {
        let params = setup.genesis.chain_params();
        let my_peer = crate::peer::peer_id_of(&setup.key.public()).unwrap_or(PeerId::random());
        let epoch = epochs::open(
            &setup.genesis,
            &params,
            &setup.key,
            votes.as_mut(),
            &setup.state,
            setup.proposal,
            None,
        )?;
        // the votes of epochs before the previous one are not needed (as `next_epoch`
        // forgets them; after a restart there is no previous engine to do it)
        votes.forget_before(epoch.number.saturating_sub(1));
        // blocks voted for in this epoch, and in the next one: a block finalized only in
        // memory when everyone stopped may have ended this epoch, and the next one's first
        // blocks then wait for it to be finalized again
        let next_kept = votes
            .kept_blocks(epoch.number + 1)
            .map_err(CoreError::SafetyLog)?;
        let kept_blocks = votes
            .kept_blocks(epoch.number)
            .map_err(CoreError::SafetyLog)?;
        let mut core = NodeCore {
            cfg: setup.consensus,
            params,
            key: setup.key,
            my_peer,
            h: handles,
            votes,
            now: Time::default(),
            effects: Vec::new(),
            seed: setup.seed,
            draws: 0,
            next_request: 0,
            asked: FastMap::default(),
            head_height: setup.header.height,
            announced_head: setup.header.height,
            pace: BlockPace::new(),
            durable_state: setup.state.clone(),
            durable_header: setup.header.clone(),
            state: setup.state,
            header: setup.header,
            proposal: setup.proposal,
            genesis: setup.genesis,
            epoch,
            previous: None,
            timers: BinaryHeap::new(),
            pending_payload: None,
            pending_verify: Vec::new(),
            finalize_queue: VecDeque::new(),
            pending_inputs: Vec::new(),
            blocks: FastMap::default(),
            kept: FastMap::default(),
            kept_next: None,
            resend_when_heard: true,
            kept_compact_at: KEPT_COMPACT_AT,
            pool_known: FastMap::default(),
            rewrite_proposal: setup.rewrite_proposal,
            executed: FastMap::default(),
            invalid: FastMap::default(),
            proposed_in: BTreeMap::new(),
            fetching: FastMap::default(),
            partial: FastMap::default(),
            peer_heights: HashMap::new(),
            demoted: HashMap::new(),
            heard_status: false,
            next_epoch_heard: None,
            sync_inflight: None,
            sync_sent: HashMap::new(),
            sync_next: None,
            sync_answers: HashMap::new(),
            sync_paced_as_observer: HashMap::new(),
            status_ticks: 0,
            stuck_since: (0, 0),
            status_sent_ms: None,
        };
        core.restore_kept_blocks(kept_blocks, true);
        core.restore_kept_blocks(next_kept, false);
        Ok(core)
    }

    /// The blocks this validator voted for before it stopped, back in its pool (and
    /// served to peers): one of them may be the parent the next proposal needs. `current`:
    /// they are in the current epoch's block log.
    fn restore_kept_blocks(&mut self, kept: Vec<Vec<u8>>, current: bool) {
        let mut restored = 0;
        for bytes in kept {
            let Ok(block) = Block::decode_bytes(&bytes, self.params.limits) else {
                continue;
            };
            let id = block.id();
            if block.header.height <= self.header.height || !block.body_matches_header() {
                continue;
            }
            let block = Arc::new(block);
            self.head_height = self.head_height.max(block.header.height);
            self.h.cache.insert(block.clone());
            let entry = (block.header.height, block.clone());
            if current {
                self.kept.insert(id, entry);
            } else {
                let next = self.epoch.number + 1;
                let (_, map) = self
                    .kept_next
                    .get_or_insert_with(|| (next, FastMap::default()));
                map.insert(id, entry);
            }
            self.blocks.insert(id, block);
            restored += 1;
        }
        if restored > 0 {
            tracing::info!(
                blocks = restored,
                "blocks voted for before the restart restored"
            );
        }
    }

    /// Handle one event at `now`; returns what to do, in order. An error means the node
    /// must stop (see [`CoreError`]); the effects of that event are dropped.
    pub fn handle(&mut self, now: Time, event: Event) -> Result<Vec<Effect>, CoreError> {
        self.now = now;
        self.effects.clear();
        match event {
            Event::Start => {
                self.announce_validators();
                self.drive(Some(Input::Start))?;
                self.publish();
            }
            Event::Message {
                peer,
                bytes,
                respond,
            } => self.on_inbound(peer, &bytes, respond)?,
            Event::Answer { id, result } => self.on_answer(id, result)?,
            Event::AdmissionCaughtUp { block } => self.on_admission_caught_up(block)?,
            Event::Committed(c) => self.on_committed(*c)?,
            Event::Tick => {
                self.fire_timers()?;
                if self.resend_when_heard && self.is_validator() && !self.silent() {
                    self.resend_when_heard = false;
                    self.drive(Some(Input::Resend))?;
                }
                if let Some((_, gap)) = self.sync_next {
                    self.sync_if_behind(gap);
                }
                let size = self.h.pool.lock().len();
                self.h.metrics.mempool_size.set(size as i64);
            }
            Event::Status => self.status_tick()?,
        }
        Ok(std::mem::take(&mut self.effects))
    }

    /// The earliest time (mono ms) something is due: an engine timer, a proposal, a fetch.
    pub fn next_deadline(&self) -> Option<u64> {
        let timer = self.timers.peek().map(|Reverse((at, _))| *at);
        let fetch = self.fetching.values().map(|(at, _)| *at).min();
        match (timer, fetch) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The finalized height in memory (the store may be a few blocks behind).
    pub fn finalized_height(&self) -> u64 {
        self.header.height
    }

    /// The finalized header in memory.
    pub fn finalized_header(&self) -> &BlockHeader {
        &self.header
    }

    /// The finalized state in memory.
    pub fn finalized_state(&self) -> &LedgerState {
        &self.state
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch.number
    }

    /// The engine's view.
    pub fn view(&self) -> View {
        self.epoch.engine.view()
    }

    // ---------------------------------------------------------------- helpers

    fn emit(&mut self, e: Effect) {
        self.effects.push(e);
    }

    fn penalize(&mut self, peer: PeerId, points: i64, reason: impl Into<String>) {
        self.emit(Effect::Penalize {
            peer,
            points,
            reason: reason.into(),
        });
    }

    /// Send request `bytes` to `to`; its answer comes back as [`Event::Answer`] and is
    /// handled as `what` says. Returns the request's id.
    fn ask(&mut self, to: PeerId, bytes: Vec<u8>, what: Asked) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        self.asked.insert(id, what);
        self.emit(Effect::Request { id, to, bytes });
        id
    }

    fn on_answer(&mut self, id: u64, result: Result<Vec<u8>, String>) -> Result<(), CoreError> {
        match self.asked.remove(&id) {
            Some(Asked::Block { hash, peer }) => self.on_fetched(hash, peer, result),
            Some(Asked::Txs { hash }) => self.on_fetched_txs(hash, result),
            Some(Asked::Sync { peer, from }) => self.on_synced(id, peer, from, result),
            None => Ok(()),
        }
    }

    /// A uniform draw in `0..n` (n > 0) from the core's seeded stream.
    fn draw(&mut self, n: usize) -> usize {
        let mut h = blake3::Hasher::new_keyed(&self.seed);
        h.update(&self.draws.to_le_bytes());
        self.draws += 1;
        let mut b = [0u8; 8];
        b.copy_from_slice(&h.finalize().as_bytes()[..8]);
        (u64::from_le_bytes(b) % n as u64) as usize
    }

    /// This epoch's validators but this node.
    fn other_validators(&self) -> Vec<PeerId> {
        self.epoch
            .peers
            .iter()
            .filter(|p| **p != self.my_peer)
            .copied()
            .collect()
    }

    /// Whether this validator keeps its votes and proposals to itself. It does while the
    /// other validators of its epoch with more than a third of the power vouch for a
    /// height more than [`FAR_BEHIND`] blocks above its own, or more than two above and
    /// at or past its epoch's last block; and, for the first [`QUIET_TICKS`] status ticks
    /// after it starts, until they have said anything (it may have been down across a
    /// boundary that removed it). Its messages there help nobody, and peers that have gone
    /// on to an epoch without it refuse them as an observer's and ban it. It syncs
    /// instead, and speaks again once close to the head in an epoch the others are still
    /// in. At least one of those claims is honest (more than a third of the power), so
    /// the most advanced honest validator is never silent.
    pub(super) fn silent(&self) -> bool {
        if self.epoch.validators.len() == 1 {
            return false;
        }
        let me = self.header.height;
        let epoch_last =
            (self.epoch.number + 1).saturating_mul(self.genesis.consensus.epoch_length.max(1));
        match self.vouched(false) {
            None => self.status_ticks < QUIET_TICKS,
            Some(v) => {
                v > me.saturating_add(FAR_BEHIND) || (v > me.saturating_add(2) && v >= epoch_last)
            }
        }
    }

    fn is_validator(&self) -> bool {
        self.epoch
            .set
            .index_of(&consensus::PublicKey(self.key.public().0))
            .is_some()
    }

    /// Update what RPC and metrics read.
    fn publish(&mut self) {
        let m = &self.h.metrics;
        m.finalized_height.set(self.durable_header.height as i64);
        m.height.set(self.head_height as i64);
        m.epoch.set(self.epoch.number as i64);
        let best = self.vouched_height().unwrap_or(0);
        let view = ChainView {
            state: self.durable_state.clone(),
            header: self.durable_header.clone(),
            head_height: self.head_height,
            view: self.epoch.engine.view(),
            epoch: self.epoch.number,
            validators: self.epoch.validators.clone(),
            is_validator: self.is_validator(),
            best_peer_height: best,
        };
        self.emit(Effect::Publish(Box::new(view)));
    }
}

fn digest(h: &Hash) -> Digest {
    Digest(h.0)
}

fn hash(d: &Digest) -> Hash {
    Hash(d.0)
}

/// Whether `key` is this epoch's leader of `view`'s key.
fn leader_key(set: &consensus::ValidatorSet, view: View) -> Option<PublicKey> {
    set.get(set.leader(view)).map(|v| PublicKey(v.key.0))
}
