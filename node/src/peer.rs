//! Peer identities: a node's libp2p peer id is derived from its ed25519 key, so validators
//! named in genesis and governance by key are known peers before they connect. Pure: no
//! networking here.

pub use libp2p::PeerId;
use libp2p::identity;

/// The libp2p peer id of an ed25519 public key (`None` if the bytes are no ed25519 key).
pub fn peer_id_of(key: &ledger::PublicKey) -> Option<PeerId> {
    let pk = identity::ed25519::PublicKey::try_from_bytes(&key.0).ok()?;
    Some(PeerId::from_public_key(&identity::PublicKey::from(pk)))
}
