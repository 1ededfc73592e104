//! libp2p networking: TCP + noise + yamux, one request/response protocol carrying
//! length-prefixed frames (see `wire`), peer admission and scoring.
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
    io.write_all(&len.to_le_bytes()).await?;
    io.write_all(bytes).await?;
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
        .with_behaviour(|_| Behaviour { rr })
        .context("libp2p behaviour")?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(24 * 3600)))
        .build();
    swarm
        .listen_on(cfg.listen.clone())
        .with_context(|| format!("listening on {}", cfg.listen))?;
    info!(peer_id = %swarm.local_peer_id(), listen = %cfg.listen, "p2p started");
    let (cmd_tx, cmd_rx) = mpsc::channel(65_536);
    let (in_tx, in_rx) = mpsc::channel(65_536);
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
    };
    tokio::spawn(task.run(cmd_rx));
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
}

impl Net {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut redial = tokio::time::interval(Duration::from_millis(1000));
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
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

    fn send(&mut self, to: &PeerId, bytes: Vec<u8>) {
        if self.connected.contains(to) {
            self.swarm.behaviour_mut().rr.send_request(to, bytes);
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
