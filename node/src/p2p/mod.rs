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
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, identity, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::budget::{Class, Over, PeerBudget};
use crate::metrics::Metrics;

const PROTOCOL: &str = "/palisade/2";
/// The protocol of the long-lived per-peer streams of fire-and-forget frames.
const STREAM_PROTOCOL: &str = "/palisade/frames/2";
/// Frames queued for one peer's writer before more are dropped (a peer that does not read).
const WRITER_QUEUE: usize = 8192;
/// Inbound frames streams one peer may hold open at once (a reconnect may briefly overlap
/// the old stream); more are closed unread. The peer's budget is shared by its streams.
const MAX_FRAME_STREAMS_PER_PEER: usize = 2;
/// Concurrent request/response streams per connection, inbound and outbound.
const MAX_RR_STREAMS: usize = 256;
/// Connections one peer id may hold at once.
const MAX_CONNECTIONS_PER_PEER: u32 = 2;

pub use crate::peer::peer_id_of;

mod api;
mod frames;
#[cfg(test)]
mod tests;

use api::setup;
pub use api::{
    Command, Inbound, InboundQueues, NetInfo, P2pConfig, P2pError, PeerEntry, public_key_of,
};
use frames::{
    BUDGET_MEMORY, FrameEvent, FrameReaders, ValidatorSet, is_validator, read_frames, write_frames,
};
pub use frames::{FrameCodec, read_frame};

#[derive(NetworkBehaviour)]
struct Behaviour {
    rr: request_response::Behaviour<FrameCodec>,
    streams: libp2p_stream::Behaviour,
}

/// Start the network task. Returns the command sender and the inbound queues.
pub fn spawn(
    cfg: P2pConfig,
    metrics: Metrics,
    info: Arc<NetInfo>,
) -> Result<(mpsc::Sender<Command>, InboundQueues), P2pError> {
    let mut secret = cfg.secret;
    let key = identity::ed25519::SecretKey::try_from_bytes(&mut secret)
        .map_err(|e| P2pError::Identity(e.to_string()))?;
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
        .map_err(|e| setup("transport", e))?
        .with_behaviour(|_| Behaviour {
            rr,
            streams: libp2p_stream::Behaviour::new(),
        })
        .map_err(|e| setup("behaviour", e))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(24 * 3600))
                // every message opens a substream: send the request with the protocol
                // proposal instead of waiting a round trip for the peer to confirm it
                .with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
        })
        .build();
    swarm
        .listen_on(cfg.listen.clone())
        .map_err(|e| P2pError::Listen {
            addr: cfg.listen.clone(),
            why: e.to_string(),
        })?;
    info!(peer_id = %swarm.local_peer_id(), listen = %cfg.listen, "p2p started");
    let (cmd_tx, cmd_rx) = mpsc::channel(65_536);
    let (priority_tx, priority_rx) = mpsc::channel(65_536);
    let (bulk_tx, bulk_rx) = mpsc::channel(65_536);
    let (requests_tx, requests_rx) = mpsc::channel(4096);
    let mut control = swarm.behaviour().streams.new_control();
    let mut incoming = control
        .accept(StreamProtocol::new(STREAM_PROTOCOL))
        .map_err(|e| setup("frames protocol", format!("{e:?}")))?;
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
                refuse(self, channel, crate::wire::OVER_BUDGET);
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
