//! Votes, certificates and requests: everything validators send each other.
//!
//! A vote signs `namespace ‖ kind ‖ view ‖ proposal` hashed in the consensus-vote domain;
//! a certificate is a proposal (or view) with votes from distinct validators whose power
//! reaches the quorum. Anyone holding the validator set can check a certificate.

use crate::scheme::{Signature, Verifier};
use crate::types::{DOMAIN_VOTE, Digest, Proposal, ValidatorIndex, ValidatorSet, View, domain_key};

/// What a vote says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum VoteKind {
    /// "This proposal is a valid extension in its view." The leader's notarize vote is its
    /// proposal.
    Notarize(Proposal),
    /// "This view failed; move on without a block."
    Nullify(View),
    /// "I saw this proposal notarized and did not nullify its view."
    Finalize(Proposal),
}

impl VoteKind {
    /// The view voted on.
    pub fn view(&self) -> View {
        match self {
            VoteKind::Notarize(p) | VoteKind::Finalize(p) => p.view,
            VoteKind::Nullify(v) => *v,
        }
    }

    /// The bytes a vote signs, bound to a chain by `namespace`.
    pub fn signing_message(&self, namespace: &[u8; 32]) -> [u8; 32] {
        let mut h = blake3::Hasher::new_keyed(&domain_key(DOMAIN_VOTE));
        h.update(namespace);
        match self {
            VoteKind::Notarize(p) => {
                h.update(&[1]);
                h.update(&p.encode());
            }
            VoteKind::Nullify(v) => {
                h.update(&[2]);
                h.update(&v.to_le_bytes());
            }
            VoteKind::Finalize(p) => {
                h.update(&[3]);
                h.update(&p.encode());
            }
        }
        *h.finalize().as_bytes()
    }
}

/// A signed vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Vote {
    /// What it says.
    pub kind: VoteKind,
    /// Who signed (index in the validator set).
    pub signer: ValidatorIndex,
    /// The signature over [`VoteKind::signing_message`].
    pub signature: Signature,
}

impl Vote {
    /// Whether the signer is a validator and the signature is theirs.
    pub fn verify(
        &self,
        set: &ValidatorSet,
        namespace: &[u8; 32],
        verifier: &dyn Verifier,
    ) -> bool {
        match set.get(self.signer) {
            Some(v) => verifier.verify(
                &v.key,
                &self.kind.signing_message(namespace),
                &self.signature,
            ),
            None => false,
        }
    }
}

/// What a certificate certifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Certified {
    /// A quorum notarized this proposal.
    Notarization(Proposal),
    /// A quorum nullified this view.
    Nullification(View),
    /// A quorum finalized this proposal (and so its ancestors).
    Finalization(Proposal),
}

impl Certified {
    /// The vote each signature in the certificate is over.
    pub fn vote_kind(&self) -> VoteKind {
        match *self {
            Certified::Notarization(p) => VoteKind::Notarize(p),
            Certified::Nullification(v) => VoteKind::Nullify(v),
            Certified::Finalization(p) => VoteKind::Finalize(p),
        }
    }

    /// The view certified.
    pub fn view(&self) -> View {
        self.vote_kind().view()
    }
}

/// Votes from distinct validators reaching the quorum, on one statement.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Certificate {
    /// The statement.
    pub certified: Certified,
    /// `(signer, signature)` pairs, sorted by signer.
    pub signatures: Vec<(ValidatorIndex, Signature)>,
}

/// Why a certificate does not certify anything.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// A signer is listed twice or out of order.
    #[error("signers are not strictly increasing")]
    Unsorted,
    /// A signer is not in the validator set.
    #[error("signer {0} is not a validator")]
    UnknownSigner(ValidatorIndex),
    /// A signature does not verify.
    #[error("signature of validator {0} does not verify")]
    BadSignature(ValidatorIndex),
    /// The signers' power is below the quorum.
    #[error("signers hold {got} power, the quorum is {need}")]
    NoQuorum {
        /// Power of the signers.
        got: u64,
        /// Quorum.
        need: u64,
    },
}

impl Certificate {
    /// Check every signature and the quorum, trusting nothing but the validator set.
    pub fn verify(
        &self,
        set: &ValidatorSet,
        namespace: &[u8; 32],
        verifier: &dyn Verifier,
    ) -> Result<(), CertificateError> {
        let message = self.certified.vote_kind().signing_message(namespace);
        let mut power: u64 = 0;
        let mut last: Option<ValidatorIndex> = None;
        for (signer, signature) in &self.signatures {
            if last.is_some_and(|l| l >= *signer) {
                return Err(CertificateError::Unsorted);
            }
            last = Some(*signer);
            let v = set
                .get(*signer)
                .ok_or(CertificateError::UnknownSigner(*signer))?;
            if !verifier.verify(&v.key, &message, signature) {
                return Err(CertificateError::BadSignature(*signer));
            }
            power = power.saturating_add(v.power);
        }
        if power < set.quorum() {
            return Err(CertificateError::NoQuorum {
                got: power,
                need: set.quorum(),
            });
        }
        Ok(())
    }
}

/// A message between validators.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Message {
    /// One validator's vote.
    Vote(Vote),
    /// A certificate, forwarded so lagging validators can move on.
    Certificate(Certificate),
    /// "Send me the certificates you hold for this view" (catch-up).
    Request {
        /// The view asked about.
        view: View,
    },
}

/// The digest that identifies a proposal in maps.
pub fn proposal_key(p: &Proposal) -> (View, Digest) {
    (p.view, p.digest())
}
