//! Votes and certificates coming in: checked (signer, signature, equivocation), counted,
//! turned into certificates at a quorum, and acted on (entering views, signing finalize,
//! finalizing).

use std::collections::BTreeMap;

use super::{Action, Engine, MAX_VIEWS_AHEAD, Misbehavior};
use crate::messages::{Certificate, Certified, Message, Vote, VoteKind};
use crate::scheme::{Signature, Signer, Verifier};
use crate::types::{ValidatorIndex, View};

impl<S: Signer, V: Verifier> Engine<S, V> {
    pub(super) fn on_message(
        &mut self,
        from: ValidatorIndex,
        message: Message,
        out: &mut Vec<Action>,
    ) {
        match message {
            Message::Vote(vote) => {
                let view = vote.kind.view();
                if view <= self.finalized.view || view > self.view + MAX_VIEWS_AHEAD {
                    return;
                }
                if vote.signer != from {
                    out.push(Action::Misbehaved {
                        from,
                        what: Misbehavior::ForeignVote,
                    });
                    return;
                }
                if self.equivocator_in(view, from) {
                    // evidence is on record: its further votes in the view are not checked
                    return;
                }
                if self.has_vote(&vote) {
                    // this signer's vote for exactly this is on record, verified: a repeat,
                    // or the same vote signed again (a byzantine signer may vary its
                    // nonce), is nothing new and costs no signature check
                    return;
                }
                if !vote.verify(&self.set, &self.cfg.namespace, &self.verifier) {
                    out.push(Action::Misbehaved {
                        from,
                        what: Misbehavior::BadSignature,
                    });
                    return;
                }
                self.add_vote(vote, out);
            }
            Message::Certificate(cert) => {
                if cert.certified.view() <= self.finalized.view
                    && !matches!(cert.certified, Certified::Finalization(_))
                {
                    return;
                }
                // a finalization below the finalized height changes nothing: not checked
                if let Certified::Finalization(p) = cert.certified
                    && p.height < self.finalized.height
                {
                    return;
                }
                if self.has_certificate(&cert.certified) {
                    return;
                }
                if cert
                    .verify(&self.set, &self.cfg.namespace, &self.verifier)
                    .is_err()
                {
                    out.push(Action::Misbehaved {
                        from,
                        what: Misbehavior::InvalidCertificate,
                    });
                    return;
                }
                self.add_certificate(cert, false, out);
            }
            Message::Request { view } => {
                let mut certs: Vec<Certificate> =
                    self.history.get(&view).cloned().unwrap_or_default();
                if let Some(st) = self.views.get(&view) {
                    certs.extend(
                        [&st.notarization, &st.nullification, &st.finalization]
                            .into_iter()
                            .flatten()
                            .cloned(),
                    );
                }
                for c in certs {
                    out.push(Action::Send {
                        to: from,
                        message: Message::Certificate(c),
                    });
                }
            }
        }
    }

    pub(super) fn has_certificate(&self, c: &Certified) -> bool {
        let Some(st) = self.views.get(&c.view()) else {
            return false;
        };
        match c {
            Certified::Notarization(_) => st.notarization.is_some(),
            Certified::Nullification(_) => st.nullification.is_some(),
            Certified::Finalization(_) => st.finalization.is_some(),
        }
    }

    /// Whether a vote of this signer for exactly this kind (same proposal, or the same
    /// view's nullify) is on record, whatever its signature bytes.
    pub(super) fn has_vote(&self, vote: &Vote) -> bool {
        let Some(st) = self.views.get(&vote.kind.view()) else {
            return false;
        };
        let recorded = match vote.kind {
            VoteKind::Notarize(p) => st
                .notarize
                .get(&p.digest())
                .filter(|(q, _)| *q == p)
                .and_then(|(_, s)| s.get(&vote.signer)),
            VoteKind::Finalize(p) => st
                .finalize
                .get(&p.digest())
                .filter(|(q, _)| *q == p)
                .and_then(|(_, s)| s.get(&vote.signer)),
            VoteKind::Nullify(_) => st.nullify.get(&vote.signer),
        };
        recorded.is_some()
    }

    /// Whether `signer` is on record as an equivocator in `view`.
    pub(super) fn equivocator_in(&self, view: View, signer: ValidatorIndex) -> bool {
        self.views
            .get(&view)
            .is_some_and(|st| st.equivocators.contains(&signer))
    }

    pub(super) fn add_vote(&mut self, vote: Vote, out: &mut Vec<Action>) {
        let view = vote.kind.view();
        let leader = self.set.leader(view);
        let st = self.state(view);
        // one notarize and one finalize per signer and view: a second, different one is
        // evidence of equivocation (and cannot grow the view's state)
        let conflict = match vote.kind {
            VoteKind::Notarize(p) => st
                .notarize
                .iter()
                .any(|(d, (_, s))| *d != p.digest() && s.contains_key(&vote.signer)),
            VoteKind::Finalize(p) => st
                .finalize
                .iter()
                .any(|(d, (_, s))| *d != p.digest() && s.contains_key(&vote.signer)),
            VoteKind::Nullify(_) => false,
        };
        if conflict {
            st.equivocators.insert(vote.signer);
            out.push(Action::Misbehaved {
                from: vote.signer,
                what: Misbehavior::Equivocation(view),
            });
            return;
        }
        match vote.kind {
            VoteKind::Notarize(p) => {
                let entry = st
                    .notarize
                    .entry(p.digest())
                    .or_insert_with(|| (p, BTreeMap::new()));
                entry.1.insert(vote.signer, vote.signature);
                if vote.signer == leader && st.proposal.is_none() {
                    st.proposal = Some(p);
                }
            }
            VoteKind::Nullify(_) => {
                st.nullify.insert(vote.signer, vote.signature);
            }
            VoteKind::Finalize(p) => {
                let entry = st
                    .finalize
                    .entry(p.digest())
                    .or_insert_with(|| (p, BTreeMap::new()));
                entry.1.insert(vote.signer, vote.signature);
            }
        }
        self.try_verify(view, out);
        self.check_quorums(view, out);
    }

    pub(super) fn power(&self, signers: &BTreeMap<ValidatorIndex, Signature>) -> u64 {
        signers.keys().map(|i| self.set.power(*i)).sum()
    }

    pub(super) fn check_quorums(&mut self, view: View, out: &mut Vec<Action>) {
        let Some(st) = self.views.get(&view) else {
            return;
        };
        let quorum = self.set.quorum();
        let mut formed = Vec::new();
        if st.notarization.is_none() {
            for (p, sigs) in st.notarize.values() {
                if self.power(sigs) >= quorum {
                    formed.push(certificate(Certified::Notarization(*p), sigs));
                }
            }
        }
        if st.nullification.is_none() && self.power(&st.nullify) >= quorum {
            formed.push(certificate(Certified::Nullification(view), &st.nullify));
        }
        if st.finalization.is_none() {
            for (p, sigs) in st.finalize.values() {
                if self.power(sigs) >= quorum {
                    formed.push(certificate(Certified::Finalization(*p), sigs));
                }
            }
        }
        for c in formed {
            if !self.has_certificate(&c.certified) {
                self.add_certificate(c, true, out);
            }
        }
    }

    pub(super) fn add_certificate(
        &mut self,
        cert: Certificate,
        formed_here: bool,
        out: &mut Vec<Action>,
    ) {
        let certified = cert.certified;
        let view = certified.view();
        if formed_here {
            out.push(Action::Broadcast(Message::Certificate(cert.clone())));
        }
        match certified {
            Certified::Notarization(p) => {
                self.notarized.insert(p.digest(), p);
                self.state(view).notarization = Some(cert);
                if view >= self.view {
                    self.enter_view(view + 1, false, out);
                }
                // The safety state refuses it if this validator nullified the view.
                if view > self.finalized.view {
                    self.sign(VoteKind::Finalize(p), out);
                }
            }
            Certified::Nullification(_) => {
                self.state(view).nullification = Some(cert);
                if view >= self.view {
                    self.enter_view(view + 1, true, out);
                }
            }
            Certified::Finalization(p) => {
                self.notarized.insert(p.digest(), p);
                if view > self.finalized.view {
                    self.state(view).finalization = Some(cert.clone());
                }
                if view >= self.view {
                    self.enter_view(view + 1, false, out);
                }
                self.finalize(p, cert, out);
            }
        }
        // a certificate may complete what a waiting proposal or finalization needed
        if let Some((p, c)) = self.pending_finalization.take() {
            self.finalize(p, c, out);
        }
        self.try_propose(self.view, out);
        self.try_verify(self.view, out);
    }
}

fn certificate(certified: Certified, sigs: &BTreeMap<ValidatorIndex, Signature>) -> Certificate {
    Certificate {
        certified,
        signatures: sigs.iter().map(|(i, s)| (*i, *s)).collect(),
    }
}
