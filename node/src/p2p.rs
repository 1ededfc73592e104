//! libp2p networking: TCP + noise + yamux carrying length-prefixed frames (see `wire`),
//! peer admission and scoring.
//!
//! Two protocols. Fire-and-forget messages (votes, certificates, proposals' block ids,
//! transaction gossip, status) go over one long-lived stream per peer and direction,
//! `/palisade/frames/1`: a writer task per peer writes whatever has queued in one write, so
//! under load many messages share a yamux frame and a syscall. Requests that want an
//! answer (blocks, transactions a proposal names) use request/response, `/palisade/1`, a
//! stream per request. (Before, every message was a request/response exchange: eight or so
//! yamux frames, each its own noise frame and syscall, plus the acknowledgement.)
//!
//! A node's libp2p identity is its ed25519 validator key, so a connection's `PeerId` names
//! the validator. Admission: validators of the current and next epoch are always accepted;
//! other peers only if `p2p.allow_observers` (and even then their consensus messages are
//! refused by the node). A peer whose score falls below `p2p.ban_score` is disconnected and
//! banned for `p2p.ban_seconds`. This task owns the swarm and nothing else: it does not
//! decode consensus messages or touch storage.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, identity, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::metrics::Metrics;
use crate::wire::MAX_FRAME_BYTES;

const PROTOCOL: &str = "/palisade/1";
/// The protocol of the long-lived per-peer streams of fire-and-forget frames.
const STREAM_PROTOCOL: &str = "/palisade/frames/1";
/// Frames queued for one peer's writer before more are dropped (a peer that does not read).
const WRITER_QUEUE: usize = 8192;
/// Most bytes a writer gathers from its queue into one write.
const WRITE_GATHER_BYTES: usize = 1 << 20;

/// The libp2p peer id of an ed25519 public key.
pub fn peer_id_of(key: &ledger::PublicKey) -> Option<PeerId> {
    let pk = identity::ed25519::PublicKey::try_from_bytes(&key.0).ok()?;
    Some(PeerId::from_public_key(&identity::PublicKey::from(pk)))
}

/// Frames: u32 little-endian length, then the bytes; anything over the limit is refused
/// before it is read.
#[derive(Clone, Default)]
pub struct FrameCodec;

async fn read_frame<T: futures::AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {MAX_FRAME_BYTES}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
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
        read_frame(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_frame(io).await
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

/// One inbound frames stream: each frame goes to the network task as `(peer, frame)`; a
/// frame over the limit ends the stream and is reported as an error.
async fn read_frames<S: futures::AsyncRead + Unpin + Send>(
    peer: PeerId,
    mut stream: S,
    to: mpsc::Sender<(PeerId, io::Result<Vec<u8>>)>,
) {
    loop {
        match read_frame(&mut stream).await {
            Ok(frame) => {
                if to.send((peer, Ok(frame))).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    let _ = to.send((peer, Err(e))).await;
                } else {
                    debug!(%peer, "inbound frames stream closed: {e}");
                }
                return;
            }
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
    /// Disconnect and ban below this score.
    pub ban_score: i64,
    /// Ban length.
    pub ban: Duration,
}

/// Start the network task. Returns the command sender and the stream of inbound frames.
pub fn spawn(
    cfg: P2pConfig,
    metrics: Metrics,
    info: Arc<NetInfo>,
) -> Result<(mpsc::Sender<Command>, mpsc::Receiver<Inbound>)> {
    let mut secret = cfg.secret;
    let key = identity::ed25519::SecretKey::try_from_bytes(&mut secret)
        .context("validator key as libp2p identity")?;
    let keypair = identity::Keypair::from(identity::ed25519::Keypair::from(key));
    let rr = request_response::Behaviour::with_codec(
        FrameCodec,
        [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(20))
            .with_max_concurrent_streams(4096),
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
    let (in_tx, in_rx) = mpsc::channel(65_536);
    let mut control = swarm.behaviour().streams.new_control();
    let mut incoming = control
        .accept(StreamProtocol::new(STREAM_PROTOCOL))
        .map_err(|e| anyhow::anyhow!("frames protocol: {e:?}"))?;
    let (frames_tx, frames_rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        while let Some((peer, stream)) = incoming.next().await {
            tokio::spawn(read_frames(peer, stream, frames_tx.clone()));
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
        inbound: in_tx,
        validators: HashMap::new(),
        extra,
        connected: HashSet::new(),
        addresses: HashMap::new(),
        scores: HashMap::new(),
        banned: HashMap::new(),
        pending_out: HashMap::new(),
        pending_in: HashMap::new(),
        next_in: 0,
        control,
        writers: HashMap::new(),
    };
    tokio::spawn(task.run(cmd_rx, frames_rx));
    Ok((cmd_tx, in_rx))
}

struct Net {
    swarm: Swarm<Behaviour>,
    cfg: P2pConfig,
    metrics: Metrics,
    info: Arc<NetInfo>,
    inbound: mpsc::Sender<Inbound>,
    validators: HashMap<PeerId, Option<Multiaddr>>,
    extra: Vec<(PeerId, Multiaddr)>,
    connected: HashSet<PeerId>,
    addresses: HashMap<PeerId, Multiaddr>,
    scores: HashMap<PeerId, i64>,
    banned: HashMap<PeerId, Instant>,
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
        mut frames: mpsc::Receiver<(PeerId, io::Result<Vec<u8>>)>,
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

    /// A frame from a peer's frames stream: handled as a request that wants no answer.
    fn frame(&mut self, peer: PeerId, frame: io::Result<Vec<u8>>) {
        let bytes = match frame {
            Ok(bytes) => bytes,
            Err(e) => {
                self.penalize(peer, 20, &format!("malformed frame: {e}"));
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
        let msg = Inbound {
            peer,
            bytes,
            respond: None,
        };
        if self.inbound.try_send(msg).is_err() {
            warn!(%peer, "inbound queue full: message dropped");
        }
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
        let score = self.scores.entry(peer).or_insert(0);
        *score -= points;
        warn!(%peer, score = *score, "peer misbehaved: {reason}");
        if *score < self.cfg.ban_score {
            warn!(%peer, "banning peer for {:?}", self.cfg.ban);
            self.metrics.peers_banned.inc();
            self.scores.remove(&peer);
            self.banned.insert(peer, Instant::now() + self.cfg.ban);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
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
                self.update_peers();
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rr(ev)) => self.rr_event(ev),
            SwarmEvent::NewListenAddr { address, .. } => debug!(%address, "listening"),
            _ => {}
        }
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

    fn rr_event(&mut self, ev: request_response::Event<Vec<u8>, Vec<u8>>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    if !self.connected.contains(&peer) {
                        // refused or banned while the stream was open
                        return;
                    }
                    let respond = if crate::wire::expects_answer(&request) {
                        self.next_in += 1;
                        self.pending_in.insert(self.next_in, channel);
                        Some(self.next_in)
                    } else {
                        let ack = crate::wire::Response::Ack.encode();
                        let _ = self.swarm.behaviour_mut().rr.send_response(channel, ack);
                        None
                    };
                    let msg = Inbound {
                        peer,
                        bytes: request,
                        respond,
                    };
                    if self.inbound.try_send(msg).is_err() {
                        warn!(%peer, "inbound queue full: message dropped");
                    }
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frames_stream_delivers_each_frame_and_reports_one_over_the_limit() {
        let peer = PeerId::random();
        let mut bytes = Vec::new();
        push_frame(&mut bytes, b"first");
        push_frame(&mut bytes, b"");
        push_frame(&mut bytes, &[7u8; 3000]);
        // then a length over the limit, and bytes that must not be read as a frame
        let over = u32::try_from(MAX_FRAME_BYTES + 1).unwrap_or(u32::MAX);
        bytes.extend_from_slice(&over.to_le_bytes());
        push_frame(&mut bytes, b"never");
        let (tx, mut rx) = mpsc::channel(16);
        read_frames(peer, futures::io::Cursor::new(bytes), tx).await;
        let mut got = Vec::new();
        while let Some((from, frame)) = rx.recv().await {
            assert_eq!(from, peer);
            got.push(frame);
        }
        assert_eq!(got.len(), 4, "three frames and one error");
        assert_eq!(got[0].as_ref().ok(), Some(&b"first".to_vec()));
        assert_eq!(got[1].as_ref().ok(), Some(&Vec::new()));
        assert_eq!(got[2].as_ref().ok(), Some(&vec![7u8; 3000]));
        let err = got[3].as_ref().err().map(io::Error::kind);
        assert_eq!(err, Some(io::ErrorKind::InvalidData));
    }

    #[tokio::test]
    async fn a_frames_stream_that_ends_mid_frame_reports_nothing_more() {
        let peer = PeerId::random();
        let mut bytes = Vec::new();
        push_frame(&mut bytes, b"whole");
        push_frame(&mut bytes, b"cut short");
        bytes.truncate(bytes.len() - 3);
        let (tx, mut rx) = mpsc::channel(16);
        read_frames(peer, futures::io::Cursor::new(bytes), tx).await;
        let first = rx.recv().await.map(|(_, f)| f.ok());
        assert_eq!(first, Some(Some(b"whole".to_vec())));
        // a connection that drops is not misbehaviour: no error is reported
        assert!(rx.recv().await.is_none());
    }
}
