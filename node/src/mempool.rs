//! The transaction pool: admission checks against the last finalized state, dedupe,
//! per-sender nonce ordering, a bound with eviction, and a record of recent refusals so
//! `tx_getStatus` can say why a transaction is not coming.
//!
//! Admission mirrors the ledger's authentication stage (signature, chain id, expiry, nonce,
//! sender) and the cheap operation checks (role, balance). It is a filter, not the rule:
//! execution decides, and a transaction admitted here may still be rejected in its block.

use std::collections::{BTreeMap, VecDeque};

use ledger::{Account, FastMap, Hash, LedgerState, PublicKey, RejectReason, SignedTransaction};

/// Why the mempool refused a transaction.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// A ledger rule it would fail.
    #[error("{0}")]
    Rule(RejectReason),
    /// Already in the pool.
    #[error("already in the mempool")]
    AlreadyKnown,
    /// Another transaction of this sender holds this nonce.
    #[error("another pending transaction has nonce {0}")]
    NonceTaken(u64),
    /// Already finalized.
    #[error("already finalized")]
    AlreadyFinalized,
    /// The pool is full and nothing may be evicted for it.
    #[error("mempool full ({0} transactions)")]
    Full(usize),
}

impl AdmitError {
    /// A stable, machine-readable name.
    pub fn reason(&self) -> &'static str {
        match self {
            AdmitError::Rule(r) => r.name(),
            AdmitError::AlreadyKnown => "already_known",
            AdmitError::NonceTaken(_) => "nonce_taken",
            AdmitError::AlreadyFinalized => "already_finalized",
            AdmitError::Full(_) => "mempool_full",
        }
    }
}

struct Entry {
    tx: SignedTransaction,
    /// When (monotonic ms) a client's transaction was admitted here (`None` for gossip).
    local_since: Option<u64>,
}

/// What a transaction is checked against: the last finalized state's height and its
/// sender's account in that state.
#[derive(Clone, Copy, Debug)]
pub struct Checked<'a> {
    /// The last finalized height.
    pub height: u64,
    /// The sender's account at that height (the default for an unknown sender).
    pub sender: &'a Account,
}

/// The pool.
pub struct Mempool {
    max_txs: usize,
    window: u64,
    /// Boxed: the table moves 40-byte slots when it grows or rehashes, not ~350-byte
    /// transactions.
    by_id: FastMap<Hash, Box<Entry>>,
    by_sender: FastMap<PublicKey, BTreeMap<u64, Hash>>,
    /// Each pending transaction's leaf (every signed byte) → its id: a proposed block names
    /// its transactions by leaf, so what is found here is exactly what the block holds.
    by_leaf: FastMap<Hash, Hash>,
    /// Admitted here, not yet sent to the other validators.
    outbox: Vec<SignedTransaction>,
    rejected: FastMap<Hash, String>,
    rejected_order: VecDeque<Hash>,
    /// No pending transaction expires before this height.
    min_expiry: u64,
    /// Visit senders in key order in [`Mempool::select`] (the simulator's pools, for
    /// reproducible blocks); a node's own pool visits them in its hash map's order, seeded
    /// per process, so no sender is always first or always last.
    ordered: bool,
}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool").finish_non_exhaustive()
    }
}

const REJECTED_KEPT: usize = 100_000;

impl Mempool {
    /// A pool of at most `max_txs`, with a nonce window of `window` per sender.
    pub fn new(max_txs: usize, window: u64) -> Mempool {
        Mempool {
            max_txs,
            window: window.max(1),
            by_id: FastMap::default(),
            by_sender: FastMap::default(),
            by_leaf: FastMap::default(),
            outbox: Vec::new(),
            rejected: FastMap::default(),
            rejected_order: VecDeque::new(),
            min_expiry: u64::MAX,
            ordered: false,
        }
    }

    /// How many transactions are held.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Whether `id` is pending here.
    pub fn contains(&self, id: &Hash) -> bool {
        self.by_id.contains_key(id)
    }

    /// Whether the pool holds exactly these bytes (same leaf: every signed byte, the
    /// signature included), so their signature verified at admission. A transaction with
    /// the same id but another signature is not held exactly.
    pub fn holds_exactly(&self, tx: &SignedTransaction) -> bool {
        self.get_by_leaf(&tx.leaf()).is_some()
    }

    /// The pending transaction `id`.
    pub fn get(&self, id: &Hash) -> Option<&SignedTransaction> {
        self.by_id.get(id).map(|e| &e.tx)
    }

    /// The pending transaction whose leaf is `leaf`: exactly those signed bytes, whose
    /// signature verified at admission.
    pub fn get_by_leaf(&self, leaf: &Hash) -> Option<&SignedTransaction> {
        self.by_leaf.get(leaf).and_then(|id| self.get(id))
    }

    /// Remove `id` from the id and leaf maps (the caller keeps `by_sender` right).
    fn forget(&mut self, id: &Hash) -> Option<Box<Entry>> {
        let e = self.by_id.remove(id)?;
        self.by_leaf.remove(&e.tx.leaf());
        Some(e)
    }

    /// Why `id` was refused or dropped, if it was recently.
    pub fn rejection(&self, id: &Hash) -> Option<&str> {
        self.rejected.get(id).map(String::as_str)
    }

    /// Remember why `id` was refused (bounded).
    pub fn record_rejection(&mut self, id: Hash, reason: String) {
        if self.rejected.insert(id, reason).is_none() {
            self.rejected_order.push_back(id);
            while self.rejected_order.len() > REJECTED_KEPT {
                if let Some(old) = self.rejected_order.pop_front() {
                    self.rejected.remove(&old);
                }
            }
        }
    }

    /// [`Mempool::admit_at`] now, on the process's monotonic clock (tests only: the node
    /// passes its time in).
    #[cfg(test)]
    pub fn admit(
        &mut self,
        tx: SignedTransaction,
        sig_ok: bool,
        chain_id: &Hash,
        state: &LedgerState,
        gossip: bool,
    ) -> Result<Hash, AdmitError> {
        self.admit_at(tx, sig_ok, chain_id, state, gossip, crate::clock::mono_ms())
    }

    /// Check `tx` against `state` (the last finalized state; `chain_id` this chain) and add
    /// it at `now_ms` (monotonic). `sig_ok`: whether its signature verified. `gossip`:
    /// whether to pass it on to the other validators (a client's transaction: it settles
    /// before this node proposes it, see [`Mempool::select`]).
    pub fn admit_at(
        &mut self,
        tx: SignedTransaction,
        sig_ok: bool,
        chain_id: &Hash,
        state: &LedgerState,
        gossip: bool,
        now_ms: u64,
    ) -> Result<Hash, AdmitError> {
        let sender = state.account(&tx.tx().sender);
        let at = Checked {
            height: state.height,
            sender: &sender,
        };
        self.admit_with(tx, sig_ok, chain_id, at, gossip, now_ms)
    }

    /// [`Mempool::admit_at`] with the sender's account already looked up in the last
    /// finalized state (admission looks each sender up once per round).
    pub fn admit_with(
        &mut self,
        tx: SignedTransaction,
        sig_ok: bool,
        chain_id: &Hash,
        at: Checked<'_>,
        gossip: bool,
        now_ms: u64,
    ) -> Result<Hash, AdmitError> {
        let id = tx.id();
        let result = self.check(&tx, sig_ok, chain_id, at);
        match result {
            Ok(()) => {}
            Err(AdmitError::AlreadyKnown) => return Err(AdmitError::AlreadyKnown),
            Err(e) => {
                self.record_rejection(id, e.reason().to_owned());
                return Err(e);
            }
        }
        if self.by_id.len() >= self.max_txs && !self.evict_for(&tx.tx().sender) {
            let e = AdmitError::Full(self.by_id.len());
            self.record_rejection(id, e.reason().to_owned());
            return Err(e);
        }
        self.rejected.remove(&id);
        let t = tx.tx();
        self.min_expiry = self.min_expiry.min(t.expiry_height);
        self.by_sender
            .entry(t.sender)
            .or_default()
            .insert(t.nonce, id);
        if gossip {
            self.outbox.push(tx.clone());
        }
        let local_since = gossip.then_some(now_ms);
        self.by_leaf.insert(tx.leaf(), id);
        self.by_id.insert(id, Box::new(Entry { tx, local_since }));
        Ok(id)
    }

    /// This pool, visiting senders in key order when it selects (reproducible blocks).
    pub fn ordered(mut self) -> Mempool {
        self.ordered = true;
        self
    }

    /// Whether `tx` would be admitted if its signature verified (or is here already):
    /// gossip that fails this (another chain, expired, an unknown sender, a nonce outside
    /// the window, a missing role, …) is dropped before its signature is checked, so junk
    /// costs no verification.
    pub fn worth_verifying(
        &self,
        tx: &SignedTransaction,
        chain_id: &Hash,
        state: &LedgerState,
    ) -> bool {
        let sender = state.account(&tx.tx().sender);
        let at = Checked {
            height: state.height,
            sender: &sender,
        };
        self.worth_verifying_with(tx, chain_id, at)
    }

    /// [`Mempool::worth_verifying`] with the sender's account already looked up.
    pub fn worth_verifying_with(
        &self,
        tx: &SignedTransaction,
        chain_id: &Hash,
        at: Checked<'_>,
    ) -> bool {
        matches!(
            self.check(tx, true, chain_id, at),
            Ok(()) | Err(AdmitError::AlreadyKnown)
        )
    }

    fn check(
        &self,
        stx: &SignedTransaction,
        sig_ok: bool,
        chain_id: &Hash,
        at: Checked<'_>,
    ) -> Result<(), AdmitError> {
        let id = stx.id();
        if self.by_id.contains_key(&id) {
            return Err(AdmitError::AlreadyKnown);
        }
        let tx = stx.tx();
        // the ledger's own rules, with a window of nonces instead of exactly the next one
        ledger::authenticate(chain_id, at.height + 1, at.sender, stx, sig_ok, self.window)
            .and_then(|()| ledger::authorize(at.sender, &tx.kind))
            .map_err(AdmitError::Rule)?;
        if self
            .by_sender
            .get(&tx.sender)
            .is_some_and(|m| m.contains_key(&tx.nonce))
        {
            return Err(AdmitError::NonceTaken(tx.nonce));
        }
        Ok(())
    }

    /// Make room for one transaction of `sender`: drop the highest-nonce transaction of the
    /// sender holding the most, if that is someone holding more than `sender` does.
    fn evict_for(&mut self, sender: &PublicKey) -> bool {
        let mine = self.by_sender.get(sender).map_or(0, BTreeMap::len);
        let Some((victim, count)) = self
            .by_sender
            .iter()
            .map(|(k, m)| (*k, m.len()))
            .max_by_key(|(k, n)| (*n, *k))
        else {
            return false;
        };
        if count <= mine + 1 {
            return false;
        }
        let Some(id) = self
            .by_sender
            .get_mut(&victim)
            .and_then(|m| m.pop_last().map(|(_, id)| id))
        else {
            return false;
        };
        self.forget(&id);
        self.record_rejection(id, "evicted".to_owned());
        true
    }

    /// Up to `max` transactions that execute in order on `state`: per sender, consecutive
    /// nonces from the sender's next nonce, senders interleaved round by round. A client's
    /// transaction admitted here less than `settle` ago is left for a later block (and so
    /// are its sender's later nonces); gossiped ones are taken at once. Times are
    /// monotonic ms.
    pub fn select(
        &self,
        state: &LedgerState,
        max: usize,
        settle_ms: u64,
        now_ms: u64,
    ) -> Vec<SignedTransaction> {
        // each sender's run, looked up once: consecutive nonces, each settled
        let mut runs: Vec<Vec<&SignedTransaction>> = Vec::new();
        let mut senders: Vec<_> = self.by_sender.iter().collect();
        if self.ordered {
            senders.sort_unstable_by_key(|(k, _)| **k);
        }
        for (sender, by_nonce) in senders {
            let run: Vec<&SignedTransaction> = self
                .run(state, sender, by_nonce, settle_ms, now_ms)
                .collect();
            if !run.is_empty() {
                runs.push(run);
            }
        }
        let mut out = Vec::with_capacity(max.min(self.by_id.len()));
        let mut round = 0;
        while out.len() < max {
            let mut any = false;
            for run in &runs {
                if let Some(tx) = run.get(round) {
                    any = true;
                    out.push((*tx).clone());
                    if out.len() >= max {
                        break;
                    }
                }
            }
            if !any {
                break;
            }
            round += 1;
        }
        out
    }

    /// Whether [`Mempool::select`] would find at least `n` transactions on `state` now,
    /// counted without copying any and stopping at `n`: a leader whose mempool is full
    /// asks this before the block interval is out (the mempool may be full of
    /// transactions that cannot go in, which a peer can send at no cost).
    pub fn has_ready(&self, state: &LedgerState, n: usize, settle_ms: u64, now_ms: u64) -> bool {
        let mut found = 0;
        for (sender, by_nonce) in &self.by_sender {
            if found >= n {
                break;
            }
            found += self
                .run(state, sender, by_nonce, settle_ms, now_ms)
                .take(n - found)
                .count();
        }
        found >= n
    }

    /// `sender`'s transactions that execute in order on `state`: consecutive nonces from
    /// its next one, up to a gap or a client's transaction not yet settled.
    fn run<'a>(
        &'a self,
        state: &LedgerState,
        sender: &PublicKey,
        by_nonce: &'a BTreeMap<u64, Hash>,
        settle_ms: u64,
        now_ms: u64,
    ) -> impl Iterator<Item = &'a SignedTransaction> + 'a {
        let first = state.account(sender).nonce;
        (first..)
            .zip(by_nonce.range(first..))
            .map_while(move |(want, (nonce, id))| {
                let e = self.by_id.get(id).filter(|_| want == *nonce)?;
                e.local_since
                    .is_none_or(|t| now_ms.saturating_sub(t) >= settle_ms)
                    .then_some(&e.tx)
            })
    }

    /// A block was finalized: drop its transactions, and every pending transaction that
    /// can no longer execute on `state` (nonce used, or expired).
    pub fn finalized(&mut self, txs: &[SignedTransaction], state: &LedgerState) {
        let mut senders: Vec<PublicKey> = Vec::with_capacity(txs.len());
        for t in txs {
            let id = t.id();
            let tx = t.tx();
            self.forget(&id);
            // its nonce, unless another transaction holds it here (which is then dropped
            // below if the nonce is spent)
            if let Some(m) = self.by_sender.get_mut(&tx.sender)
                && let std::collections::btree_map::Entry::Occupied(e) = m.entry(tx.nonce)
                && *e.get() == id
            {
                e.remove();
            }
            senders.push(tx.sender);
        }
        senders.sort_unstable();
        senders.dedup();
        for s in senders {
            let next = state.account(&s).nonce;
            let Some(m) = self.by_sender.get_mut(&s) else {
                continue;
            };
            let kept = m.split_off(&next);
            let stale = std::mem::replace(m, kept);
            if m.is_empty() {
                self.by_sender.remove(&s);
            }
            for id in stale.into_values() {
                // finalized ones were removed above; these lost their nonce to another tx
                if self.forget(&id).is_some() {
                    self.record_rejection(id, "nonce_too_low".to_owned());
                }
            }
        }
        // expiry sweep, when something may have expired
        let height = state.height + 1;
        if height <= self.min_expiry {
            return;
        }
        self.min_expiry = self
            .by_id
            .values()
            .map(|e| e.tx.tx().expiry_height)
            .filter(|&x| x >= height)
            .min()
            .unwrap_or(u64::MAX);
        let expired: Vec<Hash> = self
            .by_id
            .iter()
            .filter(|(_, e)| e.tx.tx().expiry_height < height)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(e) = self.forget(&id) {
                let t = e.tx.tx();
                if let Some(m) = self.by_sender.get_mut(&t.sender) {
                    m.remove(&t.nonce);
                    if m.is_empty() {
                        self.by_sender.remove(&t.sender);
                    }
                }
                self.record_rejection(id, "expired".to_owned());
            }
        }
    }

    /// Check the pool's own bookkeeping (tests and the fuzz targets): every pending
    /// transaction is indexed once by id, by leaf and under its sender's nonce; no sender
    /// is listed without transactions; the pool is within its bound; no pending
    /// transaction expires before the recorded earliest expiry; and each can still
    /// execute after `state`, the last finalized state (its nonce unused, not expired).
    pub fn check_invariants(&self, state: &LedgerState) -> Result<(), String> {
        if self.by_id.len() > self.max_txs {
            return Err(format!(
                "{} transactions held, the bound is {}",
                self.by_id.len(),
                self.max_txs
            ));
        }
        if self.by_leaf.len() != self.by_id.len() {
            return Err(format!(
                "{} leaves for {} transactions",
                self.by_leaf.len(),
                self.by_id.len()
            ));
        }
        let mut indexed = 0;
        for (sender, by_nonce) in &self.by_sender {
            if by_nonce.is_empty() {
                return Err(format!("sender {sender} listed with no transaction"));
            }
            for (nonce, id) in by_nonce {
                let Some(e) = self.by_id.get(id) else {
                    return Err(format!("sender {sender} nonce {nonce}: {id} is not held"));
                };
                let t = e.tx.tx();
                if t.sender != *sender || t.nonce != *nonce {
                    return Err(format!("{id} is listed under another sender or nonce"));
                }
                indexed += 1;
            }
        }
        if indexed != self.by_id.len() {
            return Err(format!(
                "{indexed} transactions by sender, {} by id",
                self.by_id.len()
            ));
        }
        for (id, e) in &self.by_id {
            if e.tx.id() != *id {
                return Err(format!("{id} holds transaction {}", e.tx.id()));
            }
            if self.by_leaf.get(&e.tx.leaf()) != Some(id) {
                return Err(format!("{id} is not found by its leaf"));
            }
            let t = e.tx.tx();
            if t.expiry_height < self.min_expiry {
                return Err(format!("{id} expires before the recorded earliest expiry"));
            }
            if t.expiry_height <= state.height {
                return Err(format!(
                    "{id} expired at {} and is still held",
                    t.expiry_height
                ));
            }
            if t.nonce < state.account(&t.sender).nonce {
                return Err(format!("{id} has nonce {}, already used", t.nonce));
            }
        }
        Ok(())
    }

    /// Take what must be gossiped.
    pub fn take_outbox(&mut self) -> Vec<SignedTransaction> {
        std::mem::take(&mut self.outbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::{Account, Keypair, Role, Transaction, TxKind};

    fn setup(n: usize) -> (Vec<Keypair>, LedgerState, Hash) {
        let keys: Vec<Keypair> = (0..n as u8)
            .map(|i| Keypair::from_secret([i + 1; 32]))
            .collect();
        let mut accounts: Vec<(PublicKey, Account)> = keys
            .iter()
            .map(|k| {
                let mut a = Account {
                    balance: 1000,
                    nonce: 0,
                    roles: 0,
                };
                a.set_role(Role::Transact, true);
                (k.public(), a)
            })
            .collect();
        accounts.sort_by_key(|a| a.0);
        let state = LedgerState {
            accounts: ledger::state::AccountTree::from_sorted(&accounts),
            system: ledger::SystemState::default(),
            height: 0,
        };
        (keys, state, Hash([7; 32]))
    }

    fn transfer(k: &Keypair, nonce: u64, amount: u128, chain: Hash) -> SignedTransaction {
        Transaction {
            chain_id: chain,
            sender: k.public(),
            nonce,
            expiry_height: 100,
            kind: TxKind::Transfer {
                to: PublicKey([9; 32]),
                amount,
            },
        }
        .sign(k)
    }

    #[test]
    fn only_the_exact_bytes_admitted_count_as_verified() {
        let (keys, state, chain) = setup(2);
        let mut mp = Mempool::new(10, 5);
        let t = transfer(&keys[0], 0, 1, chain);
        let mut sig = t.signature().0;
        sig[40] ^= 1;
        let forged = SignedTransaction::new(t.tx().clone(), ledger::Signature(sig));
        assert_eq!(forged.id(), t.id());
        assert!(!mp.holds_exactly(&t));
        mp.admit(t.clone(), true, &chain, &state, true).unwrap();
        assert!(mp.holds_exactly(&t));
        // same id, another signature: a copy admission must verify itself
        assert!(mp.contains(&forged.id()));
        assert!(!mp.holds_exactly(&forged));
        // once the original is gone, nothing of it counts as verified
        mp.finalized(std::slice::from_ref(&t), &state);
        assert!(!mp.holds_exactly(&t));
        assert!(!mp.holds_exactly(&forged));
    }

    #[test]
    fn admission_orders_dedupes_and_refuses() {
        let (keys, state, chain) = setup(2);
        let mut mp = Mempool::new(10, 5);
        // out of order nonces are held and selected in order
        for n in [2, 0, 1] {
            mp.admit(transfer(&keys[0], n, 1, chain), true, &chain, &state, true)
                .unwrap();
        }
        let t = transfer(&keys[0], 0, 1, chain);
        assert_eq!(
            mp.admit(t, true, &chain, &state, true),
            Err(AdmitError::AlreadyKnown)
        );
        assert_eq!(
            mp.admit(transfer(&keys[0], 0, 2, chain), true, &chain, &state, true),
            Err(AdmitError::NonceTaken(0))
        );
        let bad = [
            (transfer(&keys[1], 0, 1, chain), false, "bad_signature"),
            (transfer(&keys[1], 0, 1, Hash([1; 32])), true, "wrong_chain"),
            (transfer(&keys[1], 5, 1, chain), true, "nonce_too_high"),
            (
                transfer(&keys[1], 0, 5000, chain),
                true,
                "insufficient_balance",
            ),
            (
                transfer(&Keypair::from_secret([99; 32]), 0, 1, chain),
                true,
                "unknown_sender",
            ),
        ];
        for (tx, sig, reason) in bad {
            let id = tx.id();
            let e = mp.admit(tx, sig, &chain, &state, true).unwrap_err();
            assert_eq!(e.reason(), reason);
            assert_eq!(mp.rejection(&id), Some(reason));
        }
        // a gap stops the sender's run
        mp.admit(transfer(&keys[1], 1, 1, chain), true, &chain, &state, true)
            .unwrap();
        let sel = mp.select(&state, 100, 0, 0);
        assert_eq!(sel.len(), 3);
        assert!(mp.has_ready(&state, 3, 0, 0) && !mp.has_ready(&state, 4, 0, 0));
        assert!(sel.iter().all(|t| t.tx().sender == keys[0].public()));
        assert_eq!(
            sel.iter().map(|t| t.tx().nonce).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(mp.take_outbox().len(), 4);
    }

    #[test]
    fn full_pool_evicts_the_largest_sender_only() {
        let (keys, state, chain) = setup(2);
        let mut mp = Mempool::new(3, 10);
        for n in 0..3 {
            mp.admit(transfer(&keys[0], n, 1, chain), true, &chain, &state, false)
                .unwrap();
        }
        // sender 1 holds nothing: sender 0's highest nonce makes room
        mp.admit(transfer(&keys[1], 0, 1, chain), true, &chain, &state, false)
            .unwrap();
        assert_eq!(mp.len(), 3);
        let evicted = transfer(&keys[0], 2, 1, chain).id();
        assert_eq!(mp.rejection(&evicted), Some("evicted"));
        // sender 0 (2 pending) cannot push out sender 1 (1 pending) nor itself
        assert_eq!(
            mp.admit(transfer(&keys[0], 2, 1, chain), true, &chain, &state, false)
                .unwrap_err()
                .reason(),
            "mempool_full"
        );
    }

    #[test]
    fn finalized_transactions_leave() {
        let (keys, state, chain) = setup(1);
        let mut mp = Mempool::new(10, 10);
        let txs: Vec<_> = (0..3).map(|n| transfer(&keys[0], n, 1, chain)).collect();
        for t in &txs {
            mp.admit(t.clone(), true, &chain, &state, false).unwrap();
        }
        let params = ledger::ChainParams {
            chain_id: chain,
            epoch_length: 100,
            limits: ledger::Limits::default(),
            mining: Default::default(),
        };
        let out =
            ledger::execute::execute_block(&params, &state, Hash::ZERO, &txs[..2], &[true, true]);
        mp.finalized(&txs[..2], &out.state);
        assert_eq!(mp.len(), 1);
        assert!(mp.contains(&txs[2].id()));
        assert_eq!(mp.select(&out.state, 10, 0, 0).len(), 1);
    }

    #[test]
    fn a_clients_transaction_is_proposed_once_settled_gossip_at_once() {
        let (keys, state, chain) = setup(2);
        let mut mp = Mempool::new(10, 10);
        // sender 0's first transaction came from a client of this node, its second by
        // gossip: the second waits behind the first; sender 1's (gossip) goes at once
        let t0 = 1_000;
        mp.admit_at(
            transfer(&keys[0], 0, 1, chain),
            true,
            &chain,
            &state,
            true,
            t0,
        )
        .unwrap();
        mp.admit_at(
            transfer(&keys[0], 1, 1, chain),
            true,
            &chain,
            &state,
            false,
            t0,
        )
        .unwrap();
        mp.admit_at(
            transfer(&keys[1], 0, 1, chain),
            true,
            &chain,
            &state,
            false,
            t0,
        )
        .unwrap();
        let settle = 200;
        let now = mp.select(&state, 10, settle, t0);
        assert_eq!(now.len(), 1);
        assert_eq!(now[0].tx().sender, keys[1].public());
        assert_eq!(mp.select(&state, 10, 0, t0).len(), 3);
        assert_eq!(mp.select(&state, 10, settle, t0 + settle).len(), 3);
        // the count without copies agrees
        assert!(mp.has_ready(&state, 1, settle, t0) && !mp.has_ready(&state, 2, settle, t0));
        assert!(mp.has_ready(&state, 3, settle, t0 + settle));
        assert!(!mp.has_ready(&state, 4, settle, t0 + settle));
        assert!(mp.has_ready(&state, 0, settle, t0));
    }

    #[test]
    fn transactions_are_found_by_leaf_only_with_the_exact_signed_bytes() {
        let (keys, state, chain) = setup(2);
        let mut mp = Mempool::new(3, 10);
        let held = transfer(&keys[0], 0, 1, chain);
        mp.admit(held.clone(), true, &chain, &state, false).unwrap();
        assert_eq!(mp.get_by_leaf(&held.leaf()), Some(&held));
        // the same transaction with other signature bytes: same id, not the same leaf
        let mut sig = *held.signature();
        sig.0[40] ^= 0x08;
        let other = SignedTransaction::new(held.tx().clone(), sig);
        assert_eq!(other.id(), held.id());
        assert_eq!(mp.get_by_leaf(&other.leaf()), None);
        // the leaf index follows every way out of the pool: eviction, finality, expiry
        for n in 1..3 {
            mp.admit(transfer(&keys[0], n, 1, chain), true, &chain, &state, false)
                .unwrap();
        }
        let evicted = transfer(&keys[0], 2, 1, chain);
        mp.admit(transfer(&keys[1], 0, 1, chain), true, &chain, &state, false)
            .unwrap();
        assert_eq!(mp.get_by_leaf(&evicted.leaf()), None);
        let params = ledger::ChainParams {
            chain_id: chain,
            epoch_length: 100,
            limits: ledger::Limits::default(),
            mining: Default::default(),
        };
        let out = ledger::execute::execute_block(
            &params,
            &state,
            Hash::ZERO,
            std::slice::from_ref(&held),
            &[true],
        );
        mp.finalized(std::slice::from_ref(&held), &out.state);
        assert_eq!(mp.get_by_leaf(&held.leaf()), None);
        assert_eq!(mp.by_leaf.len(), mp.by_id.len());
        let mut late = out.state.clone();
        late.height = 1_000; // past every expiry
        mp.finalized(&[], &late);
        assert!(mp.is_empty());
        assert!(mp.by_leaf.is_empty());
    }
}
