//! What the simulated world does to the nodes besides the network: wallets sending
//! transfers, the admin changing the validator set, and a byzantine flooder's junk.

use ledger::{Keypair, PublicKey, Transaction, TxKind};

use super::World;
use crate::wire::Request;

impl World {
    /// A byzantine flooder's junk at its housekeeping tick.
    pub(super) fn flood(&mut self, node: usize) {
        let (true, Some(b)) = (self.byzantine == Some(node), self.cfg.byzantine) else {
            return;
        };
        let victims: Vec<PublicKey> = self.wallet.iter().map(|(k, _)| k.public()).collect();
        let frames = b.flood(self.chain_id, &victims, &mut self.rng);
        for f in frames {
            let to: Vec<usize> = (0..self.nodes.len()).filter(|j| *j != node).collect();
            for j in to {
                self.transmit(node, j, f.clone(), None);
            }
        }
    }

    /// A wallet sends a transfer to a random live honest node; now and then the admin
    /// changes the validator set instead (the joiner in, then out again).
    pub(super) fn client(&mut self) {
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.honest(*i) && self.nodes[*i].live.is_some())
            .collect();
        if live.is_empty() {
            return;
        }
        let target = live[self.rng.below(live.len())];
        let height = self.nodes[target].store.height();
        let state = self.nodes[target].store.state.clone();
        // the joiner is added once the chain passes its first epoch and removed once it
        // passes its third (each takes effect at the next epoch boundary)
        let e = self.genesis.consensus.epoch_length.max(1);
        let joiner_phase = if !self.cfg.joiner || height < e {
            None
        } else {
            Some(height < 3 * e)
        };
        let joiner_key = self.nodes[self.nodes.len() - 1].key.public();
        let joined = state
            .system
            .validators_after_pending()
            .iter()
            .any(|v| v.key == joiner_key);
        let governance = match joiner_phase {
            Some(true) if !joined => Some(TxKind::AddValidator {
                key: joiner_key,
                power: 1,
                address: "/memory/joiner".into(),
            }),
            Some(false) if joined => Some(TxKind::RemoveValidator { key: joiner_key }),
            _ => None,
        };
        // the admin sends the governance change now and then; a wallet a transfer
        let (who, kind) = match governance {
            Some(kind) if self.rng.chance(200) => (None, Some(kind)),
            _ => (Some(self.rng.below(self.wallet.len())), None),
        };
        let key = match who {
            None => Keypair::from_secret(self.admin.0.secret()),
            Some(a) => Keypair::from_secret(self.wallet[a].0.secret()),
        };
        let sender = key.public();
        let base = state.account(&sender).nonce;
        let slot = match who {
            None => &mut self.admin.1,
            Some(a) => &mut self.wallet[a].1,
        };
        // a wallet's view of its nonce: at least the chain's, and not far past it (what a
        // crashed node lost is sent again)
        if *slot < base || *slot > base + 32 {
            *slot = base;
        }
        let nonce = *slot;
        let kind = kind.unwrap_or_else(|| {
            let to = self.wallet[self.rng.below(self.wallet.len())].0.public();
            TxKind::Transfer {
                to,
                amount: u128::from(self.rng.range(1, 1_000)),
            }
        });
        let tx = Transaction {
            chain_id: self.chain_id,
            sender,
            nonce,
            expiry_height: height + 200,
            kind,
        }
        .sign(&key);
        let id = tx.id();
        let chain_id = self.chain_id;
        let now = self.now;
        let out = self.nodes[target].admit(vec![tx], true, &chain_id, now);
        let admitted = self.nodes[target]
            .live
            .as_ref()
            .is_some_and(|l| l.pool.lock().contains(&id));
        if admitted {
            match who {
                None => self.admin.1 += 1,
                Some(a) => self.wallet[a].1 += 1,
            }
        }
        if !out.is_empty() {
            let to: Vec<usize> = self.nodes[target]
                .live
                .as_ref()
                .map(|l| {
                    l.gossip_to
                        .iter()
                        .filter_map(|p| self.index_of(p))
                        .collect()
                })
                .unwrap_or_default();
            let bytes = Request::Txs(out).encode();
            for j in to {
                self.transmit(target, j, bytes.clone(), None);
            }
        }
    }
}
