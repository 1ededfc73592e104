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
