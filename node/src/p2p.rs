//! libp2p networking: TCP + noise + yamux carrying length-prefixed frames (see `wire`),
//! peer admission and scoring.
//!
//! Two protocols. Fire-and-forget messages (votes, certificates, proposals' block ids,
//! transaction gossip, status) go over one long-lived stream per peer and direction,
//! `/palisade/frames/2`: a writer task per peer writes whatever has queued in one write, so
//! under load many messages share a yamux frame and a syscall. Requests that want an
//! answer (blocks, transactions a proposal names) use request/response, `/palisade/2`, a
//! stream per request. (Before, every message was a request/response exchange: eight or so
//! yamux frames, each its own noise frame and syscall, plus the acknowledgement.)
//!
//! A node's libp2p identity is its ed25519 validator key, so a connection's `PeerId` names
//! the validator. Admission: validators of the current and next epoch are always accepted;
//! other peers (observers) only if `p2p.allow_observers`, at most `p2p.max_observers` of
//! them and `p2p.max_observers_per_ip` from one address. Every message is charged to its
//! sender's budget for its kind (`budget`): a frames stream over budget is not read until
//! the budget allows (the sender is slowed down by TCP), a request over budget is refused,
//! and what only validators may send is refused from anyone else; each costs the peer score.
//! A peer whose score falls below `p2p.ban_score` is disconnected and banned for
//! `p2p.ban_seconds`; scores recover a point a second. Inbound messages leave in three
//! queues: validators' consensus messages and proposals (`priority`), the rest of the
//! fire-and-forget traffic (`bulk`), and requests that want an answer (`requests`, served
//! off the consensus task). This task owns the swarm and nothing else: it does not decode
//! consensus messages or touch storage.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, identity, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::budget::{Class, Over, PeerBudget};
use crate::metrics::Metrics;
use crate::wire::{MAX_FRAME_BYTES, MAX_PUSH_FRAME_BYTES, MAX_REQUEST_BYTES};

const PROTOCOL: &str = "/palisade/2";
/// The protocol of the long-lived per-peer streams of fire-and-forget frames.
const STREAM_PROTOCOL: &str = "/palisade/frames/2";
/// Frames queued for one peer's writer before more are dropped (a peer that does not read).
const WRITER_QUEUE: usize = 8192;
/// Most bytes a writer gathers from its queue into one write.
const WRITE_GATHER_BYTES: usize = 1 << 20;
/// What a frame read allocates before the bytes arrive.
const READ_CHUNK: usize = 64 * 1024;
/// A frame's bytes must all arrive within this long of its length (a peer that trickles a
/// frame does not hold its buffer forever).
const FRAME_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest frame an observer may push: its whole burst of transaction gossip
/// (`budget::Class::limit`), with room for the tag.
const MAX_OBSERVER_FRAME_BYTES: usize = (512 << 10) + 1024;
/// Inbound frames streams one peer may hold open at once (a reconnect may briefly overlap
/// the old stream); more are closed unread. The peer's budget is shared by its streams.
const MAX_FRAME_STREAMS_PER_PEER: usize = 2;
/// Concurrent request/response streams per connection, inbound and outbound.
const MAX_RR_STREAMS: usize = 256;
/// Connections one peer id may hold at once.
const MAX_CONNECTIONS_PER_PEER: u32 = 2;

pub use crate::peer::peer_id_of;

/// Frames: u32 little-endian length, then the bytes; anything over the limit is refused
/// before it is read.
#[derive(Clone, Default)]
pub struct FrameCodec;

/// Read one frame of at most `max` bytes. Memory grows with the bytes that actually
/// arrive, never with the length a peer announces: a peer that announces 8 MiB and sends
/// nothing costs nothing.
async fn read_frame<T: futures::AsyncRead + Unpin + Send>(
    io: &mut T,
    max: usize,
) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {max}"),
        ));
    }
    let body = async {
        let mut buf: Vec<u8> = Vec::new();
        while buf.len() < len {
            let start = buf.len();
            let want = (len - start).min(READ_CHUNK);
            // doubling growth, capped at the frame's length: exact steps of 64 KiB would
            // copy the buffer again at almost every chunk (~150 MiB of copying for an
            // 8 MiB frame)
            if buf.capacity() < start + want {
                let target = (buf.capacity() * 2).max(start + want).min(len);
                buf.reserve_exact(target - start);
            }
            buf.resize(start + want, 0);
            io.read_exact(&mut buf[start..]).await?;
        }
        Ok::<_, io::Error>(buf)
    };
    match tokio::time::timeout(FRAME_BODY_TIMEOUT, body).await {
        Ok(Ok(buf)) => Ok(buf),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame of {len} bytes cut short"),
        )),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("frame of {len} bytes not delivered within {FRAME_BODY_TIMEOUT:?}"),
        )),
    }
}

async fn write_frame<T: futures::AsyncWrite + Unpin + Send>(
    io: &mut T,
    bytes: &[u8],
) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    // one write: yamux sends each write as its own frame, and each frame costs a noise
    // frame and a syscall
    let mut frame = Vec::with_capacity(4 + bytes.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(bytes);
    io.write_all(&frame).await?;
    io.flush().await?;
    io.close().await
}

#[async_trait::async_trait]
impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_REQUEST_BYTES).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_FRAME_BYTES).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    rr: request_response::Behaviour<FrameCodec>,
    streams: libp2p_stream::Behaviour,
}

/// Append one frame (u32 little-endian length, then the bytes) to `buf`.
fn push_frame(buf: &mut Vec<u8>, bytes: &[u8]) {
    // frames are built by this node under MAX_FRAME_BYTES, far below u32::MAX
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// One peer's writer: opens the frames stream and writes what `frames` delivers, gathering
/// everything queued into one write. Ends when the stream fails or `frames` closes (the
/// node then starts a new writer for the peer's next message).
async fn write_frames(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    mut frames: mpsc::Receiver<Vec<u8>>,
) {
    let mut stream = match control
        .open_stream(peer, StreamProtocol::new(STREAM_PROTOCOL))
        .await
    {
        Ok(s) => s,
        Err(e) => {
            debug!(%peer, "frames stream: {e}");
            return;
        }
    };
    let mut buf = Vec::new();
    while let Some(first) = frames.recv().await {
        buf.clear();
        push_frame(&mut buf, &first);
        while buf.len() < WRITE_GATHER_BYTES {
            match frames.try_recv() {
                Ok(more) => push_frame(&mut buf, &more),
                Err(_) => break,
            }
        }
        let written = async {
            stream.write_all(&buf).await?;
            stream.flush().await
        };
        if let Err(e) = written.await {
            debug!(%peer, "frames stream closed: {e}");
            return;
        }
    }
    let _ = stream.close().await;
}

/// What a frames reader tells the network task.
#[derive(Debug)]
enum FrameEvent {
    /// A frame within the peer's budget.
    Frame(Vec<u8>),
    /// A frame that does not parse as one (over the size limit): the stream ends.
    Malformed(io::Error),
    /// A frame of a kind this peer may not send: dropped.
    Refused(Class),
    /// The peer is over its budget for this kind: its stream is not read for a while (or,
    /// for a frame larger than any budget, the frame is dropped).
    OverBudget(Class),
}

/// Which connected peers are validators, shared with the frames readers.
type ValidatorSet = Arc<RwLock<HashSet<PeerId>>>;

/// One peer's budget, shared by its inbound frames streams.
type SharedBudget = Arc<std::sync::Mutex<PeerBudget>>;

/// The inbound frames streams open per peer, the budget they share, and when the last
/// one closed (a budget outlives its streams for [`BUDGET_MEMORY`], so closing and
/// reopening a stream does not buy a fresh burst).
type FrameReaders = Arc<std::sync::Mutex<HashMap<PeerId, (usize, SharedBudget, Instant)>>>;

/// How long a peer's frames budget is kept after its last stream closed.
const BUDGET_MEMORY: Duration = Duration::from_secs(60);

fn is_validator(set: &ValidatorSet, peer: &PeerId) -> bool {
    match set.read() {
        Ok(s) => s.contains(peer),
        Err(p) => p.into_inner().contains(peer),
    }
}

/// One inbound frames stream: each frame within the peer's budget goes to the network task
/// as `(peer, frame)`; a frame over budget waits until the budget allows (the stream is not
/// read meanwhile, which slows the sender), a frame of a kind the peer may not send is
/// dropped, both reported (over budget at most once a second); a frame over the size limit
/// ends the stream and is reported as an error.
async fn read_frames<S: futures::AsyncRead + Unpin + Send>(
    peer: PeerId,
    mut stream: S,
    to: mpsc::Sender<(PeerId, FrameEvent)>,
    validators: ValidatorSet,
    budget: SharedBudget,
) {
    let mut reported: Option<Instant> = None;
    loop {
        let max = if is_validator(&validators, &peer) {
            MAX_PUSH_FRAME_BYTES
        } else {
            MAX_OBSERVER_FRAME_BYTES
        };
        let frame = match read_frame(&mut stream, max).await {
            Ok(frame) => frame,
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    let _ = to.send((peer, FrameEvent::Malformed(e))).await;
                } else {
                    debug!(%peer, "inbound frames stream closed: {e}");
                }
                return;
            }
        };
        let validator = is_validator(&validators, &peer);
        let class = Class::of(&frame);
        let event = loop {
            let taken = {
                let mut budget = budget.lock().unwrap_or_else(|p| p.into_inner());
                budget.set_validator(validator);
                budget.take(class, frame.len(), Instant::now())
            };
            match taken {
                Ok(()) => break Some(FrameEvent::Frame(frame)),
                Err(Over::Refused) => break Some(FrameEvent::Refused(class)),
                Err(Over::Wait(wait)) => {
                    if reported.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        reported = Some(Instant::now());
                        if to
                            .send((peer, FrameEvent::OverBudget(class)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    // A validator's stream carries its votes too: waiting would hold them
                    // behind its gossip, so what is over budget is dropped (transactions
                    // are asked for again when a proposal names them). An observer's
                    // stream waits, and TCP slows the observer down.
                    if wait == Duration::MAX || validator {
                        break None;
                    }
                    tokio::time::sleep(wait.min(Duration::from_secs(10))).await;
                }
            }
        };
        if let Some(event) = event
            && to.send((peer, event)).await.is_err()
        {
            return;
        }
    }
}

/// What the node asks of the network.
pub enum Command {
    /// Send a fire-and-forget frame to one peer (dropped if not connected).
    Send {
        /// The peer.
        to: PeerId,
        /// The frame.
        bytes: Vec<u8>,
    },
    /// Send a frame to several peers (those connected).
    Broadcast {
        /// The peers.
        to: Vec<PeerId>,
        /// The frame.
        bytes: Vec<u8>,
    },
    /// Send to every connected peer.
    BroadcastConnected {
        /// The frame.
        bytes: Vec<u8>,
    },
    /// Send a request and deliver the response frame.
    Request {
        /// The peer.
        to: PeerId,
        /// The frame.
        bytes: Vec<u8>,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Vec<u8>, String>>,
    },
    /// Answer an inbound request (see [`Inbound::respond`]).
    Respond {
        /// The inbound request's id.
        id: u64,
        /// The response frame.
        bytes: Vec<u8>,
    },
    /// The validators to stay connected to (current and next epoch), with addresses.
    SetValidators(Vec<(PeerId, Option<Multiaddr>)>),
    /// Lower a peer's score for misbehaviour.
    Penalize {
        /// The peer.
        peer: PeerId,
        /// Points to subtract.
        points: i64,
        /// Why (logged).
        reason: String,
    },
}

/// A frame from a peer.
pub struct Inbound {
    /// The sender.
    pub peer: PeerId,
    /// The frame.
    pub bytes: Vec<u8>,
    /// For requests that expect an answer: the id to answer with [`Command::Respond`].
    pub respond: Option<u64>,
}

/// Network facts others read.
#[derive(Default)]
pub struct NetInfo {
    /// Connected peers.
    pub peers: AtomicUsize,
    /// The connected peers, for `node_peers`.
    pub list: std::sync::Mutex<Vec<PeerEntry>>,
}

/// A connected peer.
#[derive(Clone, Debug)]
pub struct PeerEntry {
    /// Its id.
    pub peer: PeerId,
    /// The connection's remote address.
    pub address: Multiaddr,
    /// Whether it is a validator of the current or next epoch.
    pub validator: bool,
}

/// The ed25519 key inside a peer id, if it has one.
pub fn public_key_of(peer: &PeerId) -> Option<ledger::PublicKey> {
    let pk = identity::PublicKey::try_decode_protobuf(peer.as_ref().digest()).ok()?;
    let bytes = pk.try_into_ed25519().ok()?.to_bytes();
    Some(ledger::PublicKey(bytes))
}

/// Settings for [`spawn`].
pub struct P2pConfig {
    /// The node's ed25519 secret key (its identity).
    pub secret: [u8; 32],
    /// Where to listen.
    pub listen: Multiaddr,
    /// Extra peers to keep dialing.
    pub peers: Vec<Multiaddr>,
    /// Accept non-validator peers.
    pub allow_observers: bool,
    /// Most observers connected at once.
    pub max_observers: usize,
    /// Most observers connected from one IP address.
    pub max_observers_per_ip: usize,
    /// Disconnect and ban below this score.
    pub ban_score: i64,
    /// Ban length.
    pub ban: Duration,
    /// Accept peers' frames streams but never read them: a peer that does not read. Only
    /// `palisade adversary` sets it; a node always reads.
    pub never_read: bool,
}

/// Inbound messages, by how urgent they are.
pub struct InboundQueues {
    /// Validators' consensus messages and proposals: handled before anything else.
    pub priority: mpsc::Receiver<Inbound>,
    /// Other fire-and-forget messages (transaction gossip, status) from any peer.
    pub bulk: mpsc::Receiver<Inbound>,
    /// Requests that want an answer (`Inbound::respond` is set), with whether the peer is a
    /// validator: served off the consensus task.
    pub requests: mpsc::Receiver<(Inbound, bool)>,
}

/// Start the network task. Returns the command sender and the inbound queues.
pub fn spawn(
    cfg: P2pConfig,
    metrics: Metrics,
    info: Arc<NetInfo>,
) -> Result<(mpsc::Sender<Command>, InboundQueues)> {
    let mut secret = cfg.secret;
    let key = identity::ed25519::SecretKey::try_from_bytes(&mut secret)
        .context("validator key as libp2p identity")?;
    let keypair = identity::Keypair::from(identity::ed25519::Keypair::from(key));
    let rr = request_response::Behaviour::with_codec(
        FrameCodec,
        [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(20))
            .with_max_concurrent_streams(MAX_RR_STREAMS),
    );
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .context("libp2p transport")?
        .with_behaviour(|_| Behaviour {
            rr,
            streams: libp2p_stream::Behaviour::new(),
        })
        .context("libp2p behaviour")?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(24 * 3600))
                // every message opens a substream: send the request with the protocol
                // proposal instead of waiting a round trip for the peer to confirm it
                .with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
        })
        .build();
    swarm
        .listen_on(cfg.listen.clone())
        .with_context(|| format!("listening on {}", cfg.listen))?;
    info!(peer_id = %swarm.local_peer_id(), listen = %cfg.listen, "p2p started");
    let (cmd_tx, cmd_rx) = mpsc::channel(65_536);
    let (priority_tx, priority_rx) = mpsc::channel(65_536);
    let (bulk_tx, bulk_rx) = mpsc::channel(65_536);
    let (requests_tx, requests_rx) = mpsc::channel(4096);
    let mut control = swarm.behaviour().streams.new_control();
    let mut incoming = control
        .accept(StreamProtocol::new(STREAM_PROTOCOL))
        .map_err(|e| anyhow::anyhow!("frames protocol: {e:?}"))?;
    let (frames_tx, frames_rx) = mpsc::channel(1024);
    let validator_set: ValidatorSet = Arc::default();
    let readers_see = validator_set.clone();
    let never_read = cfg.never_read;
    tokio::spawn(async move {
        let mut unread = Vec::new();
        let readers: FrameReaders = Arc::default();
        while let Some((peer, stream)) = incoming.next().await {
            if never_read {
                unread.push(stream);
                continue;
            }
            let budget = {
                let mut open = readers.lock().unwrap_or_else(|p| p.into_inner());
                if open.len() >= 1024 && !open.contains_key(&peer) {
                    open.retain(|_, (count, _, closed)| {
                        *count > 0 || closed.elapsed() < BUDGET_MEMORY
                    });
                }
                let (count, budget, _) = open.entry(peer).or_insert_with(|| {
                    let validator = is_validator(&readers_see, &peer);
                    let budget = Arc::new(std::sync::Mutex::new(PeerBudget::new(validator)));
                    (0, budget, Instant::now())
                });
                if *count >= MAX_FRAME_STREAMS_PER_PEER {
                    debug!(%peer, "refused a frames stream: {count} already open");
                    None
                } else {
                    *count += 1;
                    Some(budget.clone())
                }
            };
            // dropping the stream closes it
            let Some(budget) = budget else { continue };
            let (to, validators, readers) =
                (frames_tx.clone(), readers_see.clone(), readers.clone());
            tokio::spawn(async move {
                read_frames(peer, stream, to, validators, budget).await;
                let mut open = readers.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((count, _, closed)) = open.get_mut(&peer) {
                    *count = count.saturating_sub(1);
                    *closed = Instant::now();
                }
            });
        }
    });
    let mut extra = Vec::new();
    for addr in &cfg.peers {
        match addr.iter().last() {
            Some(libp2p::multiaddr::Protocol::P2p(peer)) => extra.push((peer, addr.clone())),
            _ => warn!(%addr, "peer address has no /p2p/<peer id>: ignored"),
        }
    }
    let task = Net {
        swarm,
        cfg,
        metrics,
        info,
        priority: priority_tx,
        bulk: bulk_tx,
        requests: requests_tx,
        validators: HashMap::new(),
        validator_set,
        budgets: HashMap::new(),
        extra,
        connected: HashSet::new(),
        addresses: HashMap::new(),
        scores: HashMap::new(),
        banned: HashMap::new(),
        banned_ips: HashMap::new(),
        pending_out: HashMap::new(),
        pending_in: HashMap::new(),
        next_in: 0,
        control,
        writers: HashMap::new(),
    };
    tokio::spawn(task.run(cmd_rx, frames_rx));
    Ok((
        cmd_tx,
        InboundQueues {
            priority: priority_rx,
            bulk: bulk_rx,
            requests: requests_rx,
        },
    ))
}

struct Net {
    swarm: Swarm<Behaviour>,
    cfg: P2pConfig,
    metrics: Metrics,
    info: Arc<NetInfo>,
    priority: mpsc::Sender<Inbound>,
    bulk: mpsc::Sender<Inbound>,
    requests: mpsc::Sender<(Inbound, bool)>,
    validators: HashMap<PeerId, Option<Multiaddr>>,
    /// The same peers, for the frames readers.
    validator_set: ValidatorSet,
    /// Each peer's budget of requests (frames are budgeted by their readers).
    budgets: HashMap<PeerId, PeerBudget>,
    extra: Vec<(PeerId, Multiaddr)>,
    connected: HashSet<PeerId>,
    addresses: HashMap<PeerId, Multiaddr>,
    scores: HashMap<PeerId, i64>,
    banned: HashMap<PeerId, Instant>,
    /// Addresses of banned observers: no observer connects from them until then (a fresh
    /// key is free, an address is not).
    banned_ips: HashMap<IpAddr, Instant>,
    pending_out: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>, String>>>,
    pending_in: HashMap<u64, ResponseChannel<Vec<u8>>>,
    next_in: u64,
    /// Opens the per-peer frames streams.
    control: libp2p_stream::Control,
    /// Each connected peer's writer (see [`write_frames`]).
    writers: HashMap<PeerId, Writer>,
}

/// The queue into one peer's writer task, and how many frames were dropped in a row
/// because it was full.
struct Writer {
    tx: mpsc::Sender<Vec<u8>>,
    dropped: u64,
}

impl Net {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut frames: mpsc::Receiver<(PeerId, FrameEvent)>,
    ) {
        let mut redial = tokio::time::interval(Duration::from_millis(1000));
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                Some((peer, frame)) = frames.recv() => self.frame(peer, frame),
                event = self.swarm.select_next_some() => self.event(event),
                _ = redial.tick() => self.redial(),
            }
        }
        debug!("p2p task stopped");
    }

    fn admitted(&self, peer: &PeerId) -> bool {
        self.validators.contains_key(peer)
            || self.extra.iter().any(|(p, _)| p == peer)
            || self.cfg.allow_observers
    }

    fn redial(&mut self) {
        let now = Instant::now();
        self.banned.retain(|_, until| *until > now);
        self.banned_ips.retain(|_, until| *until > now);
        // a peer's score recovers a point a second: rare slips are forgiven, sustained
        // misbehaviour still ends in a ban
        for s in self.scores.values_mut() {
            *s = (*s + 1).min(0);
        }
        self.scores.retain(|_, s| *s < 0);
        let targets: Vec<(PeerId, Multiaddr)> = self
            .validators
            .iter()
            .filter_map(|(p, a)| a.clone().map(|a| (*p, a)))
            .chain(self.extra.iter().cloned())
            .filter(|(p, _)| p != self.swarm.local_peer_id() && !self.connected.contains(p))
            .collect();
        for (peer, addr) in targets {
            let opts = DialOpts::peer_id(peer).addresses(vec![addr]).build();
            if let Err(e) = self.swarm.dial(opts) {
                debug!(%peer, "dial: {e}");
            }
        }
    }

    /// Send a fire-and-forget frame to a connected peer over its frames stream (a frame
    /// that wants an answer goes as a request; its answer is not awaited).
    fn send(&mut self, to: &PeerId, bytes: Vec<u8>) {
        if !self.connected.contains(to) {
            return;
        }
        if crate::wire::expects_answer(&bytes) {
            self.swarm.behaviour_mut().rr.send_request(to, bytes);
            return;
        }
        let mut bytes = bytes;
        // a writer whose stream failed has ended: start a new one (at most once per frame)
        for _ in 0..2 {
            let writer = self.writers.entry(*to).or_insert_with(|| {
                let (tx, rx) = mpsc::channel(WRITER_QUEUE);
                tokio::spawn(write_frames(self.control.clone(), *to, rx));
                Writer { tx, dropped: 0 }
            });
            match writer.tx.try_send(bytes) {
                Ok(()) => {
                    if writer.dropped > 0 {
                        info!(peer = %to, dropped = writer.dropped, "peer reading again");
                        writer.dropped = 0;
                    }
                    return;
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    writer.dropped += 1;
                    // one warning per run of drops, then one per 1,000
                    if writer.dropped % 1000 == 1 {
                        warn!(peer = %to, dropped = writer.dropped, "peer is not reading: messages dropped");
                    }
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(b)) => {
                    self.writers.remove(to);
                    bytes = b;
                }
            }
        }
    }

    /// What a peer's frames reader reports: a frame is handled as a request that wants no
    /// answer, into the priority queue if it is a validator's consensus message or proposal.
    fn frame(&mut self, peer: PeerId, event: FrameEvent) {
        let bytes = match event {
            FrameEvent::Frame(bytes) => bytes,
            FrameEvent::Malformed(e) => {
                self.penalize(peer, 20, &format!("malformed frame: {e}"));
                return;
            }
            FrameEvent::Refused(class) => {
                self.refused(peer, class);
                return;
            }
            FrameEvent::OverBudget(class) => {
                self.over_budget(peer, class);
                return;
            }
        };
        if !self.connected.contains(&peer) {
            // refused or banned while the stream was open
            return;
        }
        if crate::wire::expects_answer(&bytes) {
            self.penalize(peer, 20, "request sent where no answer can go");
            return;
        }
        let urgent = matches!(Class::of(&bytes), Class::Consensus | Class::Proposal)
            && self.validators.contains_key(&peer);
        let msg = Inbound {
            peer,
            bytes,
            respond: None,
        };
        let queue = if urgent { &self.priority } else { &self.bulk };
        if queue.try_send(msg).is_err() {
            warn!(%peer, urgent, "inbound queue full: message dropped");
        }
    }

    /// A peer sent a kind of message only validators may send.
    fn refused(&mut self, peer: PeerId, class: Class) {
        self.metrics.p2p_refused.inc();
        self.penalize(
            peer,
            10,
            &format!(
                "sent a {} message, which only validators may send",
                class.name()
            ),
        );
    }

    /// A peer went over its budget for a kind of message (reported at most once a second
    /// per frames stream, once per refused request).
    /// A peer went over its budget: counted; an observer also loses score. A validator
    /// does not: its excess is dropped, which bounds what it costs, and an honest validator
    /// under a burst of client load must never be banned (its votes would go with it).
    fn over_budget(&mut self, peer: PeerId, class: Class) {
        self.metrics.p2p_throttled.inc();
        if self.validators.contains_key(&peer) {
            debug!(%peer, "validator over its budget of {} messages: excess dropped", class.name());
            return;
        }
        self.penalize(
            peer,
            10,
            &format!("over its budget of {} messages", class.name()),
        );
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Send { to, bytes } => self.send(&to, bytes),
            Command::Broadcast { to, bytes } => {
                for p in &to {
                    self.send(p, bytes.clone());
                }
            }
            Command::BroadcastConnected { bytes } => {
                let peers: Vec<PeerId> = self.connected.iter().copied().collect();
                for p in &peers {
                    self.send(p, bytes.clone());
                }
            }
            Command::Request { to, bytes, reply } => {
                if !self.connected.contains(&to) {
                    let _ = reply.send(Err(format!("not connected to {to}")));
                    return;
                }
                let id = self.swarm.behaviour_mut().rr.send_request(&to, bytes);
                self.pending_out.insert(id, reply);
            }
            Command::Respond { id, bytes } => {
                if let Some(ch) = self.pending_in.remove(&id) {
                    let _ = self.swarm.behaviour_mut().rr.send_response(ch, bytes);
                }
            }
            Command::SetValidators(list) => {
                self.validators = list.into_iter().collect();
                let set: HashSet<PeerId> = self.validators.keys().copied().collect();
                match self.validator_set.write() {
                    Ok(mut s) => *s = set,
                    Err(p) => *p.into_inner() = set,
                }
                if !self.cfg.allow_observers {
                    let drop: Vec<PeerId> = self
                        .connected
                        .iter()
                        .filter(|p| !self.admitted(p))
                        .copied()
                        .collect();
                    for p in drop {
                        warn!(peer = %p, "disconnecting: no longer a validator");
                        let _ = self.swarm.disconnect_peer_id(p);
                    }
                }
            }
            Command::Penalize {
                peer,
                points,
                reason,
            } => self.penalize(peer, points, &reason),
        }
    }

    fn penalize(&mut self, peer: PeerId, points: i64, reason: &str) {
        self.metrics.peer_penalties.inc();
        let score = self.scores.entry(peer).or_insert(0);
        *score -= points;
        warn!(%peer, score = *score, "peer misbehaved: {reason}");
        if *score < self.cfg.ban_score {
            warn!(%peer, "banning peer for {:?}", self.cfg.ban);
            self.metrics.peers_banned.inc();
            self.scores.remove(&peer);
            let until = Instant::now() + self.cfg.ban;
            self.banned.insert(peer, until);
            if !self.validators.contains_key(&peer)
                && let Some(ip) = self.addresses.get(&peer).and_then(ip_of)
            {
                self.banned_ips.insert(ip, until);
            }
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                connection_id,
                num_established,
                ..
            } => {
                if num_established.get() > MAX_CONNECTIONS_PER_PEER {
                    // one key, many connections: each would bring its own streams
                    debug!(peer = %peer_id, "refused connection: {num_established} open");
                    self.metrics.p2p_refused.inc();
                    self.swarm.close_connection(connection_id);
                    return;
                }
                if self.banned.contains_key(&peer_id) {
                    debug!(peer = %peer_id, "refused connection: banned");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if !self.admitted(&peer_id) {
                    warn!(peer = %peer_id, addr = %endpoint.get_remote_address(), "refused connection from unknown peer (not a validator; observers not allowed)");
                    self.metrics.p2p_refused.inc();
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                let addr = endpoint.get_remote_address();
                if !self.connected.contains(&peer_id)
                    && let Some(why) = self.observer_full(&peer_id, addr)
                {
                    debug!(peer = %peer_id, %addr, "refused observer: {why}");
                    self.metrics.p2p_refused.inc();
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                self.addresses
                    .insert(peer_id, endpoint.get_remote_address().clone());
                if self.connected.insert(peer_id) {
                    info!(peer = %peer_id, validator = self.validators.contains_key(&peer_id), "peer connected");
                }
                self.update_peers();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } if self.connected.remove(&peer_id) => {
                info!(peer = %peer_id, "peer disconnected");
                self.writers.remove(&peer_id);
                self.addresses.remove(&peer_id);
                self.budgets.remove(&peer_id);
                self.update_peers();
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rr(ev)) => self.rr_event(ev),
            SwarmEvent::NewListenAddr { address, .. } => debug!(%address, "listening"),
            _ => {}
        }
    }

    /// Why a new connection of `peer` from `addr` is one observer too many, if it is: a
    /// fresh key must not buy a fresh connection without limit.
    fn observer_full(&self, peer: &PeerId, addr: &Multiaddr) -> Option<&'static str> {
        if self.validators.contains_key(peer) || self.extra.iter().any(|(p, _)| p == peer) {
            return None;
        }
        let observers: Vec<&PeerId> = self
            .connected
            .iter()
            .filter(|p| {
                !self.validators.contains_key(*p) && !self.extra.iter().any(|(e, _)| e == *p)
            })
            .collect();
        if observers.len() >= self.cfg.max_observers {
            return Some("too many observers");
        }
        let ip = ip_of(addr);
        if ip.is_some_and(|ip| self.banned_ips.contains_key(&ip)) {
            return Some("an observer from this address was banned");
        }
        let same_ip = observers
            .iter()
            .filter(|p| self.addresses.get(**p).and_then(ip_of) == ip && ip.is_some())
            .count();
        if same_ip >= self.cfg.max_observers_per_ip {
            return Some("too many observers from this address");
        }
        None
    }

    fn update_peers(&self) {
        self.info
            .peers
            .store(self.connected.len(), Ordering::Relaxed);
        self.metrics.peers.set(self.connected.len() as i64);
        let list: Vec<PeerEntry> = self
            .connected
            .iter()
            .filter_map(|p| {
                Some(PeerEntry {
                    peer: *p,
                    address: self.addresses.get(p)?.clone(),
                    validator: self.validators.contains_key(p),
                })
            })
            .collect();
        match self.info.list.lock() {
            Ok(mut l) => *l = list,
            Err(e) => *e.into_inner() = list,
        }
    }

    /// A request stream from a peer: charged to its budget; one that wants an answer goes
    /// to the `requests` queue, anything else is acknowledged and handled as a frame.
    fn request(&mut self, peer: PeerId, request: Vec<u8>, channel: ResponseChannel<Vec<u8>>) {
        if !self.connected.contains(&peer) {
            // refused or banned while the stream was open
            return;
        }
        let validator = self.validators.contains_key(&peer);
        let class = Class::of(&request);
        let budget = self
            .budgets
            .entry(peer)
            .or_insert_with(|| PeerBudget::new(validator));
        budget.set_validator(validator);
        let refuse = |net: &mut Net, channel, why: &str| {
            let no = crate::wire::Response::Refused(why.to_owned()).encode();
            let _ = net.swarm.behaviour_mut().rr.send_response(channel, no);
        };
        match budget.take(class, request.len(), Instant::now()) {
            Ok(()) => {}
            Err(Over::Refused) => {
                refuse(self, channel, "not accepted from this peer");
                self.refused(peer, class);
                return;
            }
            Err(Over::Wait(_)) => {
                refuse(self, channel, "over budget: slow down");
                self.over_budget(peer, class);
                return;
            }
        }
        if !crate::wire::expects_answer(&request) {
            let ack = crate::wire::Response::Ack.encode();
            let _ = self.swarm.behaviour_mut().rr.send_response(channel, ack);
            self.frame(peer, FrameEvent::Frame(request));
            return;
        }
        self.next_in += 1;
        let id = self.next_in;
        let msg = Inbound {
            peer,
            bytes: request,
            respond: Some(id),
        };
        match self.requests.try_send((msg, validator)) {
            Ok(()) => {
                self.pending_in.insert(id, channel);
            }
            Err(_) => {
                warn!(%peer, "request queue full: refused");
                refuse(self, channel, "busy");
            }
        }
    }

    fn rr_event(&mut self, ev: request_response::Event<Vec<u8>, Vec<u8>>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.request(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.pending_out.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(%peer, "request failed: {error}");
                if let Some(reply) = self.pending_out.remove(&request_id) {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                if let request_response::InboundFailure::Io(e) = &error
                    && e.kind() == io::ErrorKind::InvalidData
                {
                    self.penalize(peer, 20, &format!("malformed frame: {e}"));
                } else {
                    debug!(%peer, "inbound failure: {error}");
                }
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}

/// The address a multiaddr's per-address caps and bans count against: its IPv4 address,
/// or its IPv6 /64 (one host gets a whole /64, so single IPv6 addresses are free).
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        libp2p::multiaddr::Protocol::Ip6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => Some(IpAddr::V4(v4)),
            None => Some(IpAddr::V6(std::net::Ipv6Addr::from(
                ip.to_bits() & !u128::from(u64::MAX),
            ))),
        },
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_of_one_slash_64_count_as_one() {
        let a: Multiaddr = "/ip6/2001:db8:1:2::5/tcp/1".parse().expect("addr");
        let b: Multiaddr = "/ip6/2001:db8:1:2:ffff::9/tcp/2".parse().expect("addr");
        let c: Multiaddr = "/ip6/2001:db8:1:3::5/tcp/1".parse().expect("addr");
        let d: Multiaddr = "/ip4/10.0.0.1/tcp/1".parse().expect("addr");
        assert_eq!(ip_of(&a), ip_of(&b));
        assert_ne!(ip_of(&a), ip_of(&c));
        assert_eq!(
            ip_of(&d),
            Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)))
        );
    }

    fn budget(validator: bool) -> SharedBudget {
        Arc::new(std::sync::Mutex::new(PeerBudget::new(validator)))
    }

    #[tokio::test]
    async fn a_frame_costs_the_bytes_that_arrived_not_the_length_announced() {
        // announces the largest frame, sends three bytes and ends
        let mut bytes = u32::try_from(MAX_PUSH_FRAME_BYTES)
            .unwrap_or(u32::MAX)
            .to_le_bytes()
            .to_vec();
        bytes.extend_from_slice(b"abc");
        let mut io = futures::io::Cursor::new(bytes);
        let err = read_frame(&mut io, MAX_PUSH_FRAME_BYTES)
            .await
            .expect_err("cut short");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        // a request over the request limit is refused before any of it is read
        let mut bytes = u32::try_from(MAX_REQUEST_BYTES + 1)
            .unwrap_or(u32::MAX)
            .to_le_bytes()
            .to_vec();
        bytes.extend_from_slice(&[0u8; 16]);
        let mut io = futures::io::Cursor::new(bytes);
        let err = read_frame(&mut io, MAX_REQUEST_BYTES)
            .await
            .expect_err("over the limit");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(io.position(), 4, "nothing past the length was read");
    }

    #[tokio::test]
    async fn a_validator_over_budget_loses_the_excess_without_holding_its_votes() {
        let peer = PeerId::random();
        let status = crate::wire::Request::Status {
            finalized_height: 9,
        }
        .encode();
        let mut bytes = Vec::new();
        // a validator may send 40 statuses at once, then 20 a second
        for _ in 0..100 {
            push_frame(&mut bytes, &status);
        }
        let (tx, mut rx) = mpsc::channel(256);
        let validators: ValidatorSet = Arc::new(RwLock::new(HashSet::from([peer])));
        let t = std::time::Instant::now();
        read_frames(
            peer,
            futures::io::Cursor::new(bytes),
            tx,
            validators,
            budget(true),
        )
        .await;
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        let mut frames = 0;
        let mut over = 0;
        while let Some((_, event)) = rx.recv().await {
            match event {
                FrameEvent::Frame(_) => frames += 1,
                FrameEvent::OverBudget(Class::Status) => over += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!((40..45).contains(&frames), "{frames}");
        assert_eq!(over, 1, "reported once a second at most");
    }

    #[tokio::test]
    async fn a_frames_stream_delivers_each_frame_and_reports_one_over_the_limit() {
        let peer = PeerId::random();
        let mut bytes = Vec::new();
        push_frame(&mut bytes, b"first");
        push_frame(&mut bytes, b"");
        push_frame(&mut bytes, &[7u8; 3000]);
        // then a length over the limit, and bytes that must not be read as a frame
        let over = u32::try_from(MAX_PUSH_FRAME_BYTES + 1).unwrap_or(u32::MAX);
        bytes.extend_from_slice(&over.to_le_bytes());
        push_frame(&mut bytes, b"never");
        let (tx, mut rx) = mpsc::channel(16);
        let validators: ValidatorSet = Arc::new(RwLock::new(HashSet::from([peer])));
        read_frames(
            peer,
            futures::io::Cursor::new(bytes),
            tx,
            validators,
            budget(true),
        )
        .await;
        let mut got = Vec::new();
        while let Some((from, event)) = rx.recv().await {
            assert_eq!(from, peer);
            got.push(event);
        }
        // "first" and "" are no message this node reads: refused; then a consensus-sized
        // frame of an unknown kind, refused too; then the error
        assert_eq!(got.len(), 4, "three frames and one error: {got:?}");
        assert!(
            matches!(got[0], FrameEvent::Refused(Class::Unknown)),
            "{got:?}"
        );
        assert!(
            matches!(got[1], FrameEvent::Refused(Class::Unknown)),
            "{got:?}"
        );
        assert!(
            matches!(got[2], FrameEvent::Refused(Class::Unknown)),
            "{got:?}"
        );
        let FrameEvent::Malformed(e) = &got[3] else {
            panic!("{got:?}");
        };
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn a_frames_stream_delivers_what_the_peer_may_send_and_slows_a_flood() {
        let peer = PeerId::random();
        let status = crate::wire::Request::Status {
            finalized_height: 9,
        }
        .encode();
        let vote = vec![crate::wire::T_CONSENSUS, 0, 0];
        let mut bytes = Vec::new();
        push_frame(&mut bytes, &vote);
        // an observer may send 8 statuses at once, then 4 a second
        for _ in 0..10 {
            push_frame(&mut bytes, &status);
        }
        let (tx, mut rx) = mpsc::channel(64);
        let observer: ValidatorSet = Arc::default();
        let t = std::time::Instant::now();
        read_frames(
            peer,
            futures::io::Cursor::new(bytes),
            tx,
            observer,
            budget(false),
        )
        .await;
        let took = t.elapsed();
        let mut got = Vec::new();
        while let Some((_, event)) = rx.recv().await {
            got.push(event);
        }
        assert!(
            matches!(got[0], FrameEvent::Refused(Class::Consensus)),
            "{got:?}"
        );
        let frames = got
            .iter()
            .filter(|e| matches!(e, FrameEvent::Frame(f) if *f == status))
            .count();
        assert_eq!(frames, 10, "every status arrives, late: {got:?}");
        assert!(
            got.iter()
                .any(|e| matches!(e, FrameEvent::OverBudget(Class::Status))),
            "{got:?}"
        );
        // the ninth and tenth waited a quarter second each
        assert!(took >= Duration::from_millis(450), "{took:?}");
    }

    #[tokio::test]
    async fn a_frames_stream_that_ends_mid_frame_reports_nothing_more() {
        let peer = PeerId::random();
        let mut bytes = Vec::new();
        push_frame(&mut bytes, b"whole");
        push_frame(&mut bytes, b"cut short");
        bytes.truncate(bytes.len() - 3);
        let (tx, mut rx) = mpsc::channel(16);
        read_frames(
            peer,
            futures::io::Cursor::new(bytes),
            tx,
            Arc::default(),
            budget(false),
        )
        .await;
        let first = rx.recv().await.map(|(_, f)| f);
        assert!(
            matches!(first, Some(FrameEvent::Refused(Class::Unknown))),
            "{first:?}"
        );
        // a connection that drops is not misbehaviour: no error is reported
        assert!(rx.recv().await.is_none());
    }
}
