//! What goes into the engine and what comes out: its settings ([`Config`]), the
//! [`Input`]s a host feeds it, and the [`Action`]s it asks the host to carry out.

use crate::messages::{Certificate, Message, Vote};
use crate::safety::Rule;
use crate::types::{Digest, Proposal, ValidatorIndex, View};

/// Engine settings (from genesis).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Binds every vote to one chain (the chain id).
    pub namespace: [u8; 32],
    /// Wait this long for the leader's proposal before nullifying the view.
    pub leader_timeout_ms: u64,
    /// Wait this long for the view's notarization before nullifying it.
    pub notarization_timeout_ms: u64,
    /// Re-send this validator's votes and the latest certificates this often while stuck.
    pub nullify_retry_ms: u64,
    /// Timeouts grow by this percentage per consecutive nullified view (100 = constant).
    pub timeout_backoff_percent: u32,
    /// Upper bound on any timeout.
    pub max_timeout_ms: u64,
    /// The last height of this engine's epoch (`u64::MAX` for none): nothing above it is
    /// proposed or notarized, and finalizing it ends the epoch ([`Action::EpochEnded`]).
    /// The next epoch runs in a new engine, with its own validator set and namespace,
    /// starting from that block. A block at this height that is notarized but not
    /// finalized (a partition cut its view: some validators finalized, some nullified) is
    /// *re-proposed* by the next leaders (see [`Proposal`]'s re-proposal rule) until a
    /// finalization covers it: without that the epoch, and the chain, would stop there.
    pub last_height: u64,
    /// TEST ONLY: switch off one safety rule, to show the simulator catches the violation.
    /// Must be `None` everywhere else.
    pub disabled_rule: Option<Rule>,
}

/// Which timer fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// No proposal from the leader in time.
    Leader,
    /// No notarization in time.
    Notarization,
    /// Time to re-send votes and certificates.
    Retry,
}

/// Something that happened to the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Begin (or resume after a restart): enter the current view and set its timers.
    Start,
    /// Send again every vote signed above the finalized view: the host dropped what the
    /// engine sent at [`Input::Start`] (it was not speaking to peers yet).
    Resend,
    /// A message from validator `from` (as authenticated by the transport).
    Message {
        /// The sender.
        from: ValidatorIndex,
        /// The message.
        message: Message,
    },
    /// A timer set with [`Action::SetTimer`] fired.
    Timeout {
        /// Its view.
        view: View,
        /// Its kind.
        kind: TimerKind,
    },
    /// The application built the payload asked for with [`Action::RequestPayload`].
    Payload {
        /// The view it is for.
        view: View,
        /// Its digest.
        payload: Digest,
    },
    /// The application checked a proposal's payload ([`Action::Verify`]).
    Verified {
        /// The proposal.
        proposal: Proposal,
        /// Whether the payload is valid on top of its parent.
        valid: bool,
    },
    /// The host has durably stored this vote ([`Action::Persist`]); it may now be sent.
    Persisted(Vote),
}

/// Something the host must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send to every other validator.
    Broadcast(Message),
    /// Send to one validator.
    Send {
        /// The recipient.
        to: ValidatorIndex,
        /// The message.
        message: Message,
    },
    /// Fire [`Input::Timeout`] after this long (earlier timers of the view stay valid).
    SetTimer {
        /// The view.
        view: View,
        /// The kind.
        kind: TimerKind,
        /// Delay in milliseconds.
        after_ms: u64,
    },
    /// Build a payload on top of `parent` for `view` and answer with [`Input::Payload`].
    RequestPayload {
        /// The view this validator leads.
        view: View,
        /// The proposal to extend.
        parent: Proposal,
    },
    /// Check the payload of `proposal` and answer with [`Input::Verified`].
    Verify(Proposal),
    /// Store this vote durably (fsync), then answer [`Input::Persisted`].
    Persist(Vote),
    /// `proposal` is final. Emitted once per height, in height order; `certificate` is the
    /// finalization of this proposal or of a descendant.
    Finalized {
        /// The finalized proposal.
        proposal: Proposal,
        /// The finalization that covers it: of this proposal, of a descendant, or (at an
        /// epoch's last height) of a re-proposal of it ([`Proposal::repeats`]).
        certificate: Certificate,
    },
    /// The block at the epoch's last height is final: this engine is done (it still
    /// answers requests). Start the next epoch's engine from `last`.
    EpochEnded {
        /// The last proposal of the epoch (the original proposal of its last block, never a
        /// re-proposal).
        last: Proposal,
    },
    /// Certificates for `view` are missing: ask peers (answer with their certificates as
    /// [`Input::Message`]; the engine checks them itself).
    Fetch {
        /// The view.
        view: View,
    },
    /// Validator `from` sent what no honest validator sends: a vote signed by someone else,
    /// or (with its valid signature: evidence) a second, different notarize or finalize vote
    /// in one view. The vote is dropped; the host counts it and penalizes the sender.
    Misbehaved {
        /// The sender.
        from: ValidatorIndex,
        /// What it did.
        what: Misbehavior,
    },
}

/// What a misbehaving validator did (see [`Action::Misbehaved`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehavior {
    /// It sent a vote whose signer is another validator (honest validators send only their
    /// own votes).
    ForeignVote,
    /// It signed two different notarize (or two different finalize) votes in one view.
    Equivocation(View),
    /// It sent its own vote with a signature that does not verify (noise authenticates the
    /// connection, so the bytes are the sender's).
    BadSignature,
    /// It sent a certificate that does not verify against the epoch's validator set (an
    /// honest validator sends only certificates it built or checked).
    InvalidCertificate,
}
