//! The fault schedule of a seed: partitions, crashes and restarts, clock skew and loss
//! bursts, drawn before the run and applied as it goes.

use super::World;
use super::net::Item;

/// A fault of the schedule.
#[derive(Clone, Debug)]
pub(super) enum Fault {
    Partition(Vec<u8>),
    Crash(usize),
    Skew(usize, i64),
    Loss(u64),
    /// A backlog lands in every live node's mempool at once: `per_sender` transfers from
    /// each of the dev accounts `senders`; with `gap`, their nonces start one past the
    /// account's, so none of them can ever go in. Tests schedule it; seeds never draw it.
    #[cfg(test)]
    Backlog {
        senders: std::ops::Range<u32>,
        per_sender: u64,
        gap: bool,
    },
}

impl World {
    /// Draw the fault schedule: one fault every 2–6 s of the chaos phase, each lasting
    /// 1–5 s, never more than one honest node crashed at once.
    pub(super) fn plan_faults(&mut self) {
        if !self.cfg.faults {
            return;
        }
        let n = self.nodes.len();
        let mut t = 3_000;
        let mut crashed_until = 0;
        while t < self.cfg.chaos_ms.saturating_sub(5_000) {
            let mut len = self.rng.range(1_000, 5_000);
            let kind = if self.cfg.amnesia {
                1
            } else {
                self.rng.below(4)
            };
            if self.cfg.amnesia {
                len = self.rng.range(5, 300);
            }
            let fault = match kind {
                0 => {
                    let mut side = vec![0u8; n];
                    // a random non-trivial cut
                    let cut = self.rng.range(1, (n - 1) as u64) as usize;
                    let mut order: Vec<usize> = (0..n).collect();
                    for i in (1..n).rev() {
                        let j = self.rng.below(i + 1);
                        order.swap(i, j);
                    }
                    for &i in &order[..cut] {
                        side[i] = 1;
                    }
                    Fault::Partition(side)
                }
                1 if t >= crashed_until => {
                    let candidates: Vec<usize> = (0..n).filter(|i| self.honest(*i)).collect();
                    crashed_until = t + len + 1;
                    Fault::Crash(candidates[self.rng.below(candidates.len())])
                }
                2 => {
                    let candidates: Vec<usize> = (0..n).filter(|i| self.honest(*i)).collect();
                    let skew = self.rng.range(500, 4_000) as i64;
                    let sign = if self.rng.chance(500) { -1 } else { 1 };
                    Fault::Skew(candidates[self.rng.below(candidates.len())], sign * skew)
                }
                _ => Fault::Loss(self.rng.range(50, 300)),
            };
            let index = self.schedule.len();
            self.schedule.push((t, t + len, fault));
            self.queue.push(t, Item::Fault { index, start: true });
            self.queue.push(
                t + len,
                Item::Fault {
                    index,
                    start: false,
                },
            );
            t += len
                + if self.cfg.amnesia {
                    self.rng.range(100, 1_000)
                } else {
                    self.rng.range(2_000, 6_000)
                };
        }
    }

    /// An honest validator sent the first finalize vote for an epoch's last block: in half
    /// of the epochs of the chaos phase, cut the network at once, the sender and one other
    /// validator on one side, for longer than the notarization timeout. Those who saw the
    /// notarization finalize, the others nullify the view: the cut that left the last block
    /// notarized but never finalized before re-proposals (`docs/consensus.md`, "Epochs").
    pub(super) fn maybe_cut_epoch_end(&mut self, sender: usize, height: u64) {
        let e = self.genesis.consensus.epoch_length.max(1);
        if !self.cfg.faults
            || self.cfg.amnesia
            || !height.is_multiple_of(e)
            || self.now >= self.cfg.chaos_ms
            || !self.cut_heights.insert(height)
            || !self.rng.chance(500)
        {
            return;
        }
        let n = self.nodes.len();
        let mut side = vec![0u8; n];
        side[sender] = 1;
        let others: Vec<usize> = (0..n).filter(|i| *i != sender).collect();
        side[others[self.rng.below(others.len())]] = 1;
        let until = self.now + self.rng.range(2_500, 5_000);
        let index = self.schedule.len();
        self.schedule
            .push((self.now, until, Fault::Partition(side)));
        self.queue
            .push(self.now, Item::Fault { index, start: true });
        self.queue.push(
            until,
            Item::Fault {
                index,
                start: false,
            },
        );
    }

    pub(super) fn fault(&mut self, index: usize, start: bool) {
        let (_, until, fault) = self.schedule[index].clone();
        if start {
            self.faults
                .push(format!("{} ms: {fault:?} until {until} ms", self.now));
        }
        match fault {
            Fault::Partition(side) => {
                self.links.side = if start {
                    side
                } else {
                    vec![0; self.nodes.len()]
                };
            }
            Fault::Crash(i) => {
                if start {
                    self.crash(i);
                } else {
                    self.start(i);
                }
            }
            Fault::Skew(i, ms) => self.nodes[i].skew_ms = if start { ms } else { 0 },
            Fault::Loss(per_mille) => self.links.loss = if start { per_mille } else { 5 },
            #[cfg(test)]
            Fault::Backlog {
                senders,
                per_sender,
                gap,
            } => {
                if start {
                    self.backlog(senders, per_sender, gap);
                }
            }
        }
    }

    /// [`Fault::Backlog`]: the same transactions into every live node's mempool, as if
    /// gossip had brought them all at once.
    #[cfg(test)]
    fn backlog(&mut self, senders: std::ops::Range<u32>, per_sender: u64, gap: bool) {
        use genesis::{DevKeyKind, dev_keypair};
        let Some(best) = (0..self.nodes.len()).max_by_key(|i| self.nodes[*i].store.height()) else {
            return;
        };
        let state = self.nodes[best].store.state.clone();
        let to = self.wallet[0].0.public();
        let mut txs = Vec::new();
        for a in senders {
            let key = dev_keypair(DevKeyKind::Account, a);
            let first = state.account(&key.public()).nonce + u64::from(gap);
            for nonce in first..first + per_sender {
                let tx = ledger::Transaction {
                    chain_id: self.chain_id,
                    sender: key.public(),
                    nonce,
                    expiry_height: u64::MAX,
                    kind: ledger::TxKind::Transfer { to, amount: 1 },
                };
                txs.push(tx.sign(&key));
            }
        }
        let (chain_id, now) = (self.chain_id, self.now);
        for node in &mut self.nodes {
            node.admit(txs.clone(), false, &chain_id, now);
        }
    }
}
