//! Validator-set changes at epoch boundaries: each epoch runs its own engine (its own set and
//! namespace); the next epoch starts from the block at the previous epoch's last height.

use std::collections::{BTreeMap, VecDeque};

use consensus::sim::{sim_engine_config, sim_genesis};
use consensus::*;

type Eng = Engine<Ed25519Signer, Ed25519Verifier>;

fn secret(i: u32) -> [u8; 32] {
    [i as u8 + 1; 32]
}

fn key(i: u32) -> PublicKey {
    Ed25519Signer::from_secret(secret(i)).public_key()
}

/// Nodes of one epoch, keyed by identity; `members` are the validators, in set order.
struct Epoch {
    engines: BTreeMap<u32, Eng>,
    members: Vec<u32>,
    finalized: BTreeMap<u32, Vec<Proposal>>,
    ended: BTreeMap<u32, Proposal>,
}

fn epoch(
    number: u8,
    members: &[u32],
    followers: &[u32],
    start: Proposal,
    last_height: u64,
) -> Epoch {
    let set = ValidatorSet::new(
        members
            .iter()
            .map(|i| ValidatorInfo {
                key: key(*i),
                power: 1,
            })
            .collect(),
    )
    .expect("set");
    let mut cfg = sim_engine_config(None);
    cfg.namespace = [number; 32];
    cfg.last_height = last_height;
    let engines = members
        .iter()
        .chain(followers)
        .map(|i| {
            let e = Engine::new(
                cfg.clone(),
                set.clone(),
                Ed25519Signer::from_secret(secret(*i)),
                Ed25519Verifier,
                SafetyState::default(),
                start,
            );
            (*i, e)
        })
        .collect();
    Epoch {
        engines,
        members: members.to_vec(),
        finalized: BTreeMap::new(),
        ended: BTreeMap::new(),
    }
}

impl Epoch {
    /// Deliver everything until quiet (no faults, no timers needed); bounded.
    fn run(&mut self, extra: Vec<(u32, Message)>) {
        let mut queue: VecDeque<(u32, Input)> = VecDeque::new();
        for id in self.engines.keys() {
            queue.push_back((*id, Input::Start));
        }
        for (to, m) in extra {
            queue.push_back((
                to,
                Input::Message {
                    from: 0,
                    message: m,
                },
            ));
        }
        let ids: Vec<u32> = self.engines.keys().copied().collect();
        let mut steps = 0;
        while let Some((id, input)) = queue.pop_front() {
            steps += 1;
            assert!(steps < 200_000, "no quiescence");
            let from_index = self
                .members
                .iter()
                .position(|m| *m == id)
                .map(|p| p as ValidatorIndex)
                .unwrap_or(u32::MAX);
            let actions = self.engines.get_mut(&id).expect("engine").handle(input);
            for a in actions {
                match a {
                    Action::Broadcast(m) => {
                        for other in &ids {
                            if *other != id {
                                queue.push_back((
                                    *other,
                                    Input::Message {
                                        from: from_index,
                                        message: m.clone(),
                                    },
                                ));
                            }
                        }
                    }
                    Action::Send { to, message } => {
                        let target = self.members[to as usize];
                        queue.push_back((
                            target,
                            Input::Message {
                                from: from_index,
                                message,
                            },
                        ));
                    }
                    Action::Persist(v) => queue.push_back((id, Input::Persisted(v))),
                    Action::RequestPayload { view, .. } => queue.push_back((
                        id,
                        Input::Payload {
                            view,
                            payload: Digest(*blake3::hash(&view.to_le_bytes()).as_bytes()),
                        },
                    )),
                    Action::Verify(p) => queue.push_back((
                        id,
                        Input::Verified {
                            proposal: p,
                            valid: true,
                        },
                    )),
                    Action::Finalized { proposal, .. } => {
                        self.finalized.entry(id).or_default().push(proposal)
                    }
                    Action::EpochEnded { last } => {
                        self.ended.insert(id, last);
                    }
                    Action::SetTimer { .. } | Action::Fetch { .. } => {}
                    Action::Misbehaved { from, what } => {
                        panic!("honest validator {from} reported: {what:?}")
                    }
                }
            }
        }
    }
}

#[test]
fn a_validator_set_change_takes_effect_at_the_epoch_boundary() {
    // Epoch 1: validators 0..=3, node 4 follows as an observer; heights 1..=5.
    let mut e1 = epoch(1, &[0, 1, 2, 3], &[4], sim_genesis(), 5);
    e1.run(vec![]);
    let chain1 = e1.finalized[&0].clone();
    assert_eq!(
        chain1.iter().map(|p| p.height).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    for id in 0..=4 {
        assert_eq!(e1.finalized[&id], chain1, "node {id} disagrees in epoch 1");
        assert_eq!(
            e1.ended[&id], chain1[4],
            "node {id} did not end epoch 1 at height 5"
        );
    }
    // After the end, an engine ignores votes and timers (it only answers requests).
    let idle = e1
        .engines
        .get_mut(&1)
        .expect("engine")
        .handle(Input::Timeout {
            view: 100,
            kind: TimerKind::Leader,
        });
    assert!(idle.is_empty());

    // Epoch 2: validator 0 removed, 4 added; starts from the last block of epoch 1.
    let boundary = chain1[4];
    let mut e2 = epoch(2, &[1, 2, 3, 4], &[], boundary, 10);
    // a vote signed by removed validator 0 in epoch 1's namespace must have no effect
    let stray = e1.engines[&0].safety_state().clone();
    let stray_votes: Vec<(u32, Message)> = stray
        .views
        .values()
        .flat_map(|v| [v.notarize, v.nullify, v.finalize])
        .flatten()
        .map(|v| (1u32, Message::Vote(v)))
        .collect();
    e2.run(stray_votes);
    let chain2 = e2.finalized[&1].clone();
    assert_eq!(
        chain2.iter().map(|p| p.height).collect::<Vec<_>>(),
        vec![6, 7, 8, 9, 10]
    );
    assert_eq!(
        chain2[0].parent,
        boundary.digest(),
        "epoch 2 extends the boundary block"
    );
    assert!(
        chain2[0].view > boundary.view,
        "views keep increasing across epochs"
    );
    for id in 1..=4 {
        assert_eq!(e2.finalized[&id], chain2, "node {id} disagrees in epoch 2");
    }
    // validator 4, new in epoch 2, signed votes; validator 0 signed none
    assert!(!e2.engines[&4].safety_state().views.is_empty());
}

/// Deliver `queue` until quiet; a vote or certificate of view `cut` to a `late` validator
/// is held back (in `held`) unless it is the leader's notarize vote (its proposal).
fn deliver(
    e: &mut Epoch,
    mut queue: VecDeque<(u32, Input)>,
    (late, cut): (&[u32], View),
    held: &mut Vec<(u32, Input)>,
) {
    let ids: Vec<u32> = e.engines.keys().copied().collect();
    let set = e.engines[&ids[0]].validators().clone();
    let mut steps = 0;
    while let Some((id, input)) = queue.pop_front() {
        steps += 1;
        assert!(steps < 200_000, "no quiescence");
        if let Input::Message { from, message } = &input
            && late.contains(&id)
        {
            let proposal = matches!(message, Message::Vote(v)
                if matches!(v.kind, VoteKind::Notarize(p) if set.leader(p.view) == *from));
            let of_cut = match message {
                Message::Vote(v) => v.kind.view() == cut,
                Message::Certificate(c) => c.certified.view() == cut,
                Message::Request { .. } => false,
            };
            if of_cut && !proposal {
                held.push((id, input));
                continue;
            }
        }
        let from = e.members.iter().position(|m| *m == id).unwrap_or(99) as ValidatorIndex;
        for a in e.engines.get_mut(&id).expect("engine").handle(input) {
            match a {
                Action::Broadcast(m) => {
                    for other in ids.iter().filter(|o| **o != id) {
                        let message = m.clone();
                        queue.push_back((*other, Input::Message { from, message }));
                    }
                }
                Action::Send { to, message } => {
                    queue.push_back((e.members[to as usize], Input::Message { from, message }))
                }
                Action::Persist(v) => queue.push_back((id, Input::Persisted(v))),
                Action::RequestPayload { view, .. } => {
                    let payload = Digest(*blake3::hash(&view.to_le_bytes()).as_bytes());
                    queue.push_back((id, Input::Payload { view, payload }))
                }
                Action::Verify(p) => queue.push_back((
                    id,
                    Input::Verified {
                        proposal: p,
                        valid: true,
                    },
                )),
                Action::Finalized {
                    proposal,
                    certificate,
                } => {
                    let Certified::Finalization(q) = certificate.certified else {
                        panic!("finalized by a {:?}", certificate.certified);
                    };
                    assert!(
                        q == proposal || q.repeats(&proposal),
                        "{q:?} for {proposal:?}"
                    );
                    e.finalized.entry(id).or_default().push(proposal)
                }
                Action::EpochEnded { last } => {
                    e.ended.insert(id, last);
                }
                Action::SetTimer { .. } | Action::Fetch { .. } => {}
                Action::Misbehaved { from, what } => panic!("{from} reported: {what:?}"),
            }
        }
    }
}

#[test]
fn the_last_block_of_an_epoch_notarized_in_a_cut_view_is_finalized_by_a_re_proposal() {
    // (Without re-proposals nobody ever ends this epoch.)
    // Epoch of one block. Two validators see the block's notarization and sign finalize;
    // the other two time out first and nullify the view: neither a finalization nor a
    // nullification of view 1 can ever form. Nothing may be built above the last height,
    // so only a re-proposal of the same block in a later view can finalize it.
    let mut e = epoch(1, &[0, 1, 2, 3], &[], sim_genesis(), 1);
    let set = e.engines[&0].validators().clone();
    let leader1 = e.members[set.leader(1) as usize];
    let late: Vec<u32> = e
        .members
        .iter()
        .copied()
        .filter(|m| *m != leader1)
        .take(2)
        .collect();
    let mut held = Vec::new();
    let start = e.engines.keys().map(|id| (*id, Input::Start)).collect();
    deliver(&mut e, start, (&late, 1), &mut held);
    assert!(
        e.ended.is_empty(),
        "view 1 finalized with two finalize votes"
    );
    for id in &late {
        assert_eq!(e.engines[id].view(), 1);
    }
    // the late ones time out and nullify view 1, then hear everything
    let timeouts = late
        .iter()
        .map(|id| {
            let t = Input::Timeout {
                view: 1,
                kind: TimerKind::Notarization,
            };
            (*id, t)
        })
        .collect();
    deliver(&mut e, timeouts, (&late, 1), &mut held);
    for id in &late {
        assert!(e.engines[id].safety_state().views[&1].nullify.is_some());
    }
    deliver(&mut e, held.drain(..).collect(), (&[], 0), &mut held);
    // everyone is in view 2, where nothing can happen: no new block may be built, and
    // view 1 can never be finalized. Its leader waits (a finalization usually follows a
    // notarization at once); the view times out and the next leader re-proposes.
    assert!(e.ended.is_empty(), "view 1 was finalized after all");
    for id in 0..4 {
        assert_eq!(e.engines[&id].view(), 2, "node {id}");
    }
    let timeouts = (0..4)
        .map(|id| {
            let t = Input::Timeout {
                view: 2,
                kind: TimerKind::Leader,
            };
            (id, t)
        })
        .collect();
    deliver(&mut e, timeouts, (&[], 0), &mut held);
    let block = e
        .ended
        .get(&leader1)
        .copied()
        .expect("the leader ended the epoch");
    assert_eq!(
        (block.view, block.height),
        (1, 1),
        "the original proposal ends it"
    );
    let vote = e.engines[&0].safety_state().views[&3].finalize;
    let Some(Vote {
        kind: VoteKind::Finalize(r),
        ..
    }) = vote
    else {
        panic!("no finalize vote in view 3: {vote:?}");
    };
    assert!(r.repeats(&block), "view 3 re-proposed the block: {r:?}");
    for id in 0..4 {
        assert_eq!(
            e.ended.get(&id),
            Some(&block),
            "node {id} did not end the epoch"
        );
        assert_eq!(e.finalized[&id], vec![block], "node {id}");
    }
}

/// Two validators other than `view`'s leader.
fn late_in(e: &Epoch, view: View) -> Vec<u32> {
    let leader = e.members[e.engines[&e.members[0]].validators().leader(view) as usize];
    e.members
        .iter()
        .copied()
        .filter(|m| *m != leader)
        .take(2)
        .collect()
}

fn timeouts(ids: &[u32], view: View, kind: TimerKind) -> VecDeque<(u32, Input)> {
    ids.iter()
        .map(|id| (*id, Input::Timeout { view, kind }))
        .collect()
}

#[test]
fn a_re_proposal_cut_again_is_followed_by_a_re_proposal_of_the_original_block() {
    // View 1 notarizes the epoch's only block P and is cut (two finalize, two nullify);
    // view 2 passes without a proposal; view 3 re-proposes P as R1, and is cut the same
    // way; view 4 passes; view 5 re-proposes P again — the original block, not R1 — with
    // view 3's notarization of R1 counting like a nullification between them.
    let mut e = epoch(1, &[0, 1, 2, 3], &[], sim_genesis(), 1);
    let all = e.members.clone();
    let mut held = Vec::new();
    let start = e.engines.keys().map(|id| (*id, Input::Start)).collect();
    for (cut, first) in [(1, start), (3, timeouts(&all, 2, TimerKind::Leader))] {
        let late = late_in(&e, cut);
        deliver(&mut e, first, (&late, cut), &mut held);
        let t = timeouts(&late, cut, TimerKind::Notarization);
        deliver(&mut e, t, (&late, cut), &mut held);
        deliver(&mut e, held.drain(..).collect(), (&[], 0), &mut held);
        assert!(e.ended.is_empty(), "view {cut} was finalized");
        for id in &all {
            assert_eq!(e.engines[id].view(), cut + 1, "node {id}");
        }
    }
    deliver(
        &mut e,
        timeouts(&all, 4, TimerKind::Leader),
        (&[], 0),
        &mut held,
    );
    let block = e.ended.get(&0).copied().expect("the epoch ended");
    assert_eq!((block.view, block.height), (1, 1));
    // some validator finalized R1 in view 3 (the others nullified it), all R2 in view 5
    let finalized_in = |view: View| {
        let votes = all.iter().filter_map(|id| {
            match e.engines[id].safety_state().views.get(&view)?.finalize {
                Some(Vote {
                    kind: VoteKind::Finalize(r),
                    ..
                }) => Some(r),
                _ => None,
            }
        });
        votes.collect::<Vec<_>>()
    };
    let (r1s, r2s) = (finalized_in(3), finalized_in(5));
    assert_eq!((r1s.len(), r2s.len()), (2, 4), "{r1s:?} {r2s:?}");
    let (r1, r2) = (r1s[0], r2s[0]);
    assert!(r1.repeats(&block) && r2.repeats(&block), "{r1:?} {r2:?}");
    for id in &all {
        assert_eq!(e.ended.get(id), Some(&block), "node {id}");
        assert_eq!(e.finalized[id], vec![block], "node {id}");
    }
}
