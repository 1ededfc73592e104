//! What the rest of the node sees of the network task: the commands it takes, what it
//! delivers, its settings and start-up errors, and the facts it publishes.

use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId, identity};
use tokio::sync::{mpsc, oneshot};

/// What the node asks of the network.
#[derive(Debug)]
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
#[derive(Debug)]
pub struct Inbound {
    /// The sender.
    pub peer: PeerId,
    /// The frame.
    pub bytes: Vec<u8>,
    /// For requests that expect an answer: the id to answer with [`Command::Respond`].
    pub respond: Option<u64>,
}

/// Network facts others read.
#[derive(Default, Debug)]
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

/// Settings for [`spawn`] (`Debug` leaves the secret out).
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

impl std::fmt::Debug for P2pConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P2pConfig")
            .field("listen", &self.listen)
            .field("peers", &self.peers)
            .field("allow_observers", &self.allow_observers)
            .field("max_observers", &self.max_observers)
            .field("max_observers_per_ip", &self.max_observers_per_ip)
            .field("ban_score", &self.ban_score)
            .field("ban", &self.ban)
            .field("never_read", &self.never_read)
            .finish_non_exhaustive()
    }
}

/// Inbound messages, by how urgent they are.
#[derive(Debug)]
pub struct InboundQueues {
    /// Validators' consensus messages and proposals: handled before anything else.
    pub priority: mpsc::Receiver<Inbound>,
    /// Other fire-and-forget messages (transaction gossip, status) from any peer.
    pub bulk: mpsc::Receiver<Inbound>,
    /// Requests that want an answer (`Inbound::respond` is set), with whether the peer is a
    /// validator: served off the consensus task.
    pub requests: mpsc::Receiver<(Inbound, bool)>,
}

/// Why the network could not start.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// The validator key is not a libp2p ed25519 identity.
    #[error("validator key as libp2p identity: {0}")]
    Identity(String),
    /// libp2p refused the transport or behaviour.
    #[error("libp2p {what}: {why}")]
    Setup {
        /// The part.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// The listen address could not be used.
    #[error("listening on {addr}: {why}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        why: String,
    },
}

pub(super) fn setup(what: &'static str, e: impl std::fmt::Display) -> P2pError {
    P2pError::Setup {
        what,
        why: e.to_string(),
    }
}
