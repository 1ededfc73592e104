//! The BFT consensus engine (Simplex) as a pure, deterministic state machine, and its
//! simulator: `Engine::handle(Input) -> Vec<Action>`.
//!
//! Owns views, votes, certificates, leader rotation, timeouts as requested timers, and the
//! safety state that must be persisted before any vote leaves the node. Must not depend on
//! tokio, libp2p, rocksdb, a clock, or randomness it is not handed.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod engine;
pub mod io;
pub mod messages;
pub mod safety;
pub mod scheme;
pub mod sim;
pub mod types;

pub use engine::{Action, Config, Engine, Input, Misbehavior, TimerKind};
pub use messages::{Certificate, CertificateError, Certified, Message, Vote, VoteKind};
pub use safety::{Decision, Rule, SafetyState};
pub use scheme::{Ed25519Signer, Ed25519Verifier, PublicKey, Signature, Signer, Verifier};
pub use types::{Digest, Proposal, ValidatorIndex, ValidatorInfo, ValidatorSet, View};
