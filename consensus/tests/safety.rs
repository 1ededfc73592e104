//! Never double-sign: the safety state refuses conflicts and re-sends identical votes,
//! including across a restart from persisted votes.

use consensus::sim::{sim_engine_config, sim_genesis};
use consensus::*;

fn set(n: u32) -> (ValidatorSet, Vec<[u8; 32]>) {
    let secrets: Vec<[u8; 32]> = (0..n).map(|i| [i as u8 + 1; 32]).collect();
    let set = ValidatorSet::new(
        secrets
            .iter()
            .map(|s| ValidatorInfo {
                key: Ed25519Signer::from_secret(*s).public_key(),
                power: 1,
            })
            .collect(),
    )
    .expect("set");
    (set, secrets)
}

fn proposal(view: View, payload: u8) -> Proposal {
    let g = sim_genesis();
    Proposal {
        view,
        height: 1,
        parent_view: 0,
        parent: g.digest(),
        payload: Digest([payload; 32]),
    }
}

fn leader_vote(set: &ValidatorSet, secrets: &[[u8; 32]], p: Proposal) -> Message {
    let leader = set.leader(p.view);
    let kind = VoteKind::Notarize(p);
    let signer = Ed25519Signer::from_secret(secrets[leader as usize]);
    Message::Vote(Vote {
        kind,
        signer: leader,
        signature: signer.sign(&kind.signing_message(&sim_engine_config(None).namespace)),
    })
}

#[test]
fn safety_rules_refuse_conflicts_and_repeat_identical_votes() {
    let mut s = SafetyState::default();
    let sig = Signature([1; 64]);
    let a = VoteKind::Notarize(proposal(3, 1));
    let b = VoteKind::Notarize(proposal(3, 2));
    assert_eq!(s.check(&a, None), Decision::Allowed);
    let va = Vote {
        kind: a,
        signer: 0,
        signature: sig,
    };
    s.record(va);
    assert_eq!(s.check(&a, None), Decision::AlreadySigned(va));
    assert!(matches!(s.check(&b, None), Decision::Refused(_)));
    // nullify after notarize is allowed; then no finalize in that view
    assert_eq!(s.check(&VoteKind::Nullify(3), None), Decision::Allowed);
    s.record(Vote {
        kind: VoteKind::Nullify(3),
        signer: 0,
        signature: sig,
    });
    assert!(matches!(
        s.check(&VoteKind::Finalize(proposal(3, 1)), None),
        Decision::Refused(_)
    ));
    // the test-only switch really switches the rule off
    assert_eq!(
        s.check(
            &VoteKind::Finalize(proposal(3, 1)),
            Some(Rule::FinalizeExcludesNullify)
        ),
        Decision::Allowed
    );
    // finalize then no nullify
    let f = VoteKind::Finalize(proposal(4, 1));
    s.record(Vote {
        kind: f,
        signer: 0,
        signature: sig,
    });
    assert!(matches!(
        s.check(&VoteKind::Nullify(4), None),
        Decision::Refused(_)
    ));
    assert!(matches!(
        s.check(&VoteKind::Finalize(proposal(4, 9)), None),
        Decision::Refused(_)
    ));
}

/// A vote is released only after the host confirms it is persisted; a restarted engine
/// holding that vote refuses to notarize a conflicting proposal and re-sends the stored one.
#[test]
fn persist_before_broadcast_and_no_double_sign_after_restart() {
    let (set, secrets) = set(4);
    let me = 2u32;
    let view = 1;
    assert_ne!(set.leader(view), me);
    let mk = |safety: SafetyState| {
        Engine::new(
            sim_engine_config(None),
            set.clone(),
            Ed25519Signer::from_secret(secrets[me as usize]),
            Ed25519Verifier,
            safety,
            sim_genesis(),
        )
    };
    let mut engine = mk(SafetyState::default());
    engine.handle(Input::Start);
    let p = proposal(view, 1);
    let actions = engine.handle(Input::Message {
        from: set.leader(view),
        message: leader_vote(&set, &secrets, p),
    });
    assert!(actions.contains(&Action::Verify(p)), "{actions:?}");
    let actions = engine.handle(Input::Verified {
        proposal: p,
        valid: true,
    });
    let vote = match actions.as_slice() {
        [Action::Persist(v)] => *v,
        other => panic!("expected exactly one Persist, got {other:?}"),
    };
    assert_eq!(vote.kind, VoteKind::Notarize(p));
    let actions = engine.handle(Input::Persisted(vote));
    assert!(actions.contains(&Action::Broadcast(Message::Vote(vote))));

    // restart from what was persisted; the leader (byzantine) now shows another proposal
    let mut restarted = mk(engine.safety_state().clone());
    let actions = restarted.handle(Input::Start);
    assert!(
        actions.contains(&Action::Broadcast(Message::Vote(vote))),
        "re-sends the stored vote: {actions:?}"
    );
    let q = proposal(view, 2);
    let actions = restarted.handle(Input::Message {
        from: set.leader(view),
        message: leader_vote(&set, &secrets, q),
    });
    let actions2 = restarted.handle(Input::Verified {
        proposal: q,
        valid: true,
    });
    for a in actions.iter().chain(&actions2) {
        if let Action::Persist(v) | Action::Broadcast(Message::Vote(v)) = a {
            assert_ne!(
                v.kind,
                VoteKind::Notarize(q),
                "signed a conflicting notarize"
            );
        }
    }
}

#[test]
fn certificates_are_checked_against_the_validator_set() {
    let (set, secrets) = set(4);
    let ns = sim_engine_config(None).namespace;
    let p = proposal(1, 1);
    let kind = VoteKind::Notarize(p);
    let sigs: Vec<(ValidatorIndex, Signature)> = (0..3u32)
        .map(|i| {
            (
                i,
                Ed25519Signer::from_secret(secrets[i as usize]).sign(&kind.signing_message(&ns)),
            )
        })
        .collect();
    let cert = Certificate {
        certified: Certified::Notarization(p),
        signatures: sigs.clone(),
    };
    assert_eq!(cert.verify(&set, &ns, &Ed25519Verifier), Ok(()));
    let short = Certificate {
        certified: cert.certified,
        signatures: sigs[..2].to_vec(),
    };
    assert!(matches!(
        short.verify(&set, &ns, &Ed25519Verifier),
        Err(CertificateError::NoQuorum { got: 2, need: 3 })
    ));
    let mut dup = sigs.clone();
    dup[2] = dup[1];
    let dup = Certificate {
        certified: cert.certified,
        signatures: dup,
    };
    assert_eq!(
        dup.verify(&set, &ns, &Ed25519Verifier),
        Err(CertificateError::Unsorted)
    );
    let other = Certificate {
        certified: Certified::Notarization(proposal(1, 2)),
        signatures: sigs,
    };
    assert!(matches!(
        other.verify(&set, &ns, &Ed25519Verifier),
        Err(CertificateError::BadSignature(0))
    ));
}

#[test]
fn quorums_are_by_voting_power() {
    let info = |i: u32, power: u64| ValidatorInfo {
        key: Ed25519Signer::from_secret([i as u8 + 1; 32]).public_key(),
        power,
    };
    // equal powers: 2f+1 of 3f+1
    for (n, q) in [(4u32, 3u64), (7, 5), (10, 7)] {
        let set = ValidatorSet::new((0..n).map(|i| info(i, 1)).collect()).expect("set");
        assert_eq!(set.quorum(), q, "n = {n}");
    }
    // weighted: total 8, quorum is the smallest power above 2/3 = 6
    let set = ValidatorSet::new(vec![info(0, 5), info(1, 1), info(2, 1), info(3, 1)]).expect("set");
    assert_eq!(set.total_power(), 8);
    assert_eq!(set.quorum(), 6);
    // a heavy validator plus one light one certify; the three light ones do not
    let (_, secrets) = (0, [[1u8; 32], [2; 32], [3; 32], [4; 32]]);
    let ns = [9u8; 32];
    let p = proposal(1, 1);
    let kind = VoteKind::Nullify(p.view);
    let sign = |i: u32| {
        (
            i,
            Ed25519Signer::from_secret(secrets[i as usize]).sign(&kind.signing_message(&ns)),
        )
    };
    let heavy = Certificate {
        certified: Certified::Nullification(1),
        signatures: vec![sign(0), sign(1)],
    };
    assert_eq!(heavy.verify(&set, &ns, &Ed25519Verifier), Ok(()));
    let light = Certificate {
        certified: Certified::Nullification(1),
        signatures: vec![sign(1), sign(2), sign(3)],
    };
    assert!(matches!(
        light.verify(&set, &ns, &Ed25519Verifier),
        Err(CertificateError::NoQuorum { got: 3, need: 6 })
    ));
    assert!(ValidatorSet::new(vec![]).is_err());
    assert!(ValidatorSet::new(vec![info(0, 0)]).is_err());
    assert!(ValidatorSet::new(vec![info(0, 1), info(0, 2)]).is_err());
}

/// A second, different notarize (or finalize) from one validator in one view is evidence:
/// reported once, dropped, and that validator's further votes in the view are not checked;
/// a vote relayed by another validator than its signer is refused and reported.
#[test]
fn equivocation_and_foreign_votes_are_reported_and_dropped() {
    let (set, secrets) = set(4);
    let me = 0u32;
    let view = 1;
    let leader = set.leader(view);
    assert_ne!(leader, me);
    let mut engine = Engine::new(
        sim_engine_config(None),
        set.clone(),
        Ed25519Signer::from_secret(secrets[me as usize]),
        Ed25519Verifier,
        SafetyState::default(),
        sim_genesis(),
    );
    engine.handle(Input::Start);
    let first = engine.handle(Input::Message {
        from: leader,
        message: leader_vote(&set, &secrets, proposal(view, 1)),
    });
    assert!(
        !first.iter().any(|a| matches!(a, Action::Misbehaved { .. })),
        "{first:?}"
    );
    // the same vote again is no evidence
    let again = engine.handle(Input::Message {
        from: leader,
        message: leader_vote(&set, &secrets, proposal(view, 1)),
    });
    assert!(!again.iter().any(|a| matches!(a, Action::Misbehaved { .. })));
    // a second proposal for the view: evidence, and it does not replace the first
    let second = engine.handle(Input::Message {
        from: leader,
        message: leader_vote(&set, &secrets, proposal(view, 2)),
    });
    assert!(
        second.contains(&Action::Misbehaved {
            from: leader,
            what: Misbehavior::Equivocation(view),
        }),
        "{second:?}"
    );
    assert!(
        !second
            .iter()
            .any(|a| matches!(a, Action::Verify(p) if p.payload == Digest([2; 32]))),
        "{second:?}"
    );
    // a third: dropped unchecked, no second report
    let third = engine.handle(Input::Message {
        from: leader,
        message: leader_vote(&set, &secrets, proposal(view, 3)),
    });
    assert!(third.is_empty(), "{third:?}");
    // validator 3 relays the leader's vote: refused, and it is the relay that is reported
    let relay = 3u32;
    assert_ne!(relay, leader);
    let relayed = engine.handle(Input::Message {
        from: relay,
        message: leader_vote(&set, &secrets, proposal(view, 1)),
    });
    assert_eq!(
        relayed,
        vec![Action::Misbehaved {
            from: relay,
            what: Misbehavior::ForeignVote,
        }]
    );
}

/// A verifier that counts its calls.
#[derive(Clone, Default)]
struct Counting(std::rc::Rc<std::cell::Cell<usize>>);

impl Verifier for Counting {
    fn verify(&self, key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
        self.0.set(self.0.get() + 1);
        Ed25519Verifier.verify(key, message, signature)
    }
}

/// A validator's own vote with a bad signature, and a certificate that does not verify,
/// are reported (the connection is authenticated, so the sender made them); a repeat of a
/// vote on record is dropped without a second signature check.
#[test]
fn bad_signatures_and_bad_certificates_are_reported_and_repeats_are_not_rechecked() {
    let (set, secrets) = set(4);
    let me = 0u32;
    let view = 1;
    let leader = set.leader(view);
    assert_ne!(leader, me);
    let counting = Counting::default();
    let mut engine = Engine::new(
        sim_engine_config(None),
        set.clone(),
        Ed25519Signer::from_secret(secrets[me as usize]),
        counting.clone(),
        SafetyState::default(),
        sim_genesis(),
    );
    engine.handle(Input::Start);
    let Message::Vote(good) = leader_vote(&set, &secrets, proposal(view, 1)) else {
        unreachable!()
    };
    let mut bad = good;
    bad.signature.0[40] ^= 1;
    let out = engine.handle(Input::Message {
        from: leader,
        message: Message::Vote(bad),
    });
    assert!(
        out.contains(&Action::Misbehaved {
            from: leader,
            what: Misbehavior::BadSignature,
        }),
        "{out:?}"
    );
    // the good vote is still taken (the bad one recorded nothing)
    let out = engine.handle(Input::Message {
        from: leader,
        message: Message::Vote(good),
    });
    assert!(
        !out.iter().any(|a| matches!(a, Action::Misbehaved { .. })),
        "{out:?}"
    );
    let checked = counting.0.get();
    for _ in 0..10 {
        let out = engine.handle(Input::Message {
            from: leader,
            message: Message::Vote(good),
        });
        assert!(
            !out.iter().any(|a| matches!(a, Action::Misbehaved { .. })),
            "{out:?}"
        );
    }
    assert_eq!(counting.0.get(), checked, "repeats are not verified again");
    // a nullification signed by one validator only: no quorum
    let ns = sim_engine_config(None).namespace;
    let kind = VoteKind::Nullify(view);
    let cert = Certificate {
        certified: Certified::Nullification(view),
        signatures: vec![(
            leader,
            Ed25519Signer::from_secret(secrets[leader as usize]).sign(&kind.signing_message(&ns)),
        )],
    };
    let out = engine.handle(Input::Message {
        from: leader,
        message: Message::Certificate(cert),
    });
    assert_eq!(
        out,
        vec![Action::Misbehaved {
            from: leader,
            what: Misbehavior::InvalidCertificate,
        }]
    );
}
