//! What the simulator's byzantine validators do besides voting: equivocate, vote twice,
//! and send garbage.

use super::*;

impl Sim {
    /// The byzantine leader sends its real proposal to half the nodes and a conflicting one
    /// to the other half.
    pub(super) fn equivocate(&mut self, node: usize, p: Proposal, real: Message) {
        let index = self.nodes[node].index;
        let mut other = p;
        other.payload.0[0] ^= 0xff;
        let signer = Ed25519Signer::from_secret(secret(index));
        let kind = VoteKind::Notarize(other);
        let fake = Message::Vote(Vote {
            kind,
            signer: index,
            signature: signer.sign(&kind.signing_message(&self.engine_cfg.namespace)),
        });
        self.faults += 1;
        for to in 0..self.nodes.len() {
            if to != node {
                let m = if to % 2 == 0 {
                    real.clone()
                } else {
                    fake.clone()
                };
                self.send(node, to, m);
            }
        }
    }

    /// A double voter signs whatever it sees, ignoring every safety rule.
    pub(super) fn double_vote(&mut self, node: usize, message: &Message) {
        let Message::Vote(v) = message else { return };
        let index = self.nodes[node].index;
        let signer = Ed25519Signer::from_secret(secret(index));
        let kinds: Vec<VoteKind> = match v.kind {
            VoteKind::Notarize(p) => {
                let mut rival = p;
                rival.payload.0[31] ^= 0x5a;
                vec![
                    VoteKind::Notarize(p),
                    VoteKind::Notarize(rival), // two blocks in one view
                    VoteKind::Nullify(p.view),
                    VoteKind::Finalize(p),
                ]
            }
            VoteKind::Nullify(view) => vec![VoteKind::Nullify(view)],
            VoteKind::Finalize(p) => vec![VoteKind::Finalize(p)],
        };
        for kind in kinds {
            if !self.double_signed.insert((node, kind)) {
                continue;
            }
            let vote = Vote {
                kind,
                signer: index,
                signature: signer.sign(&kind.signing_message(&self.engine_cfg.namespace)),
            };
            self.faults += 1;
            self.broadcast(node, Message::Vote(vote));
        }
    }

    /// Garbage: votes with bad signatures, unknown signers, and bogus certificates.
    pub(super) fn garbage(&mut self, node: usize) {
        if !self.rng.chance(20) {
            return;
        }
        let index = self.nodes[node].index;
        let mut sig = [0u8; 64];
        for chunk in sig.chunks_mut(8) {
            chunk.copy_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        let view = self.rng.range(1, 50);
        let p = Proposal {
            view,
            height: self.rng.range(1, 50),
            parent_view: view - 1,
            parent: Digest([3; 32]),
            payload: Digest([4; 32]),
        };
        let bad = [
            Message::Vote(Vote {
                kind: VoteKind::Notarize(p),
                signer: index,
                signature: Signature(sig),
            }),
            Message::Vote(Vote {
                kind: VoteKind::Nullify(view),
                signer: 999,
                signature: Signature(sig),
            }),
            Message::Certificate(Certificate {
                certified: Certified::Finalization(p),
                signatures: (0..self.set.len() as ValidatorIndex)
                    .map(|i| (i, Signature(sig)))
                    .collect(),
            }),
            Message::Certificate(Certificate {
                certified: Certified::Nullification(view),
                signatures: vec![(index, Signature(sig))],
            }),
        ];
        self.faults += 1;
        for m in bad {
            self.broadcast(node, m);
        }
    }
}
