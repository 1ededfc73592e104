//! Execution: apply a block's transactions to a state version, producing receipts and the
//! next state version.
//!
//! Deterministic by construction: no clock, no randomness, no iteration over hash maps
//! where order matters, checked arithmetic everywhere. Two stages per transaction:
//!
//! 1. authentication (signature, chain id, expiry, nonce, sender exists): a failure here
//!    changes nothing;
//! 2. the operation (roles, balances, governance): a failure here changes nothing but the
//!    sender's nonce, which is consumed so the signed transaction can never be replayed.
//!
//! Execution never panics on any decodable transaction. It must not touch storage.

use crate::account::Account;
use crate::block::{Block, BlockHeader, Receipt, RejectReason, receipts_root, tx_root};
use crate::codec::Limits;
use crate::hash::{FastMap, Hash};
use crate::keys::PublicKey;
use crate::mining::MiningRules;
use crate::state::{
    Change, LedgerState, SystemState, Validator, ValidatorChange, validator_set_hash,
};
use crate::tx::{Role, SignedTransaction, TxKind, verify_signatures_unless};

/// The chain constants execution depends on (from genesis).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainParams {
    /// The chain id (genesis hash).
    pub chain_id: Hash,
    /// Validator-set changes take effect after blocks whose height is a multiple of this.
    pub epoch_length: u64,
    /// Decoding limits.
    pub limits: Limits,
    /// Mining reward, retargeting and claim expiry.
    pub mining: MiningRules,
}

/// The result of executing a block.
#[derive(Clone, Debug)]
pub struct BlockOutcome {
    /// The state after the block.
    pub state: LedgerState,
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
    /// The accounts that changed (`None`: removed), sorted by key.
    pub changes: Vec<Change>,
}

impl BlockOutcome {
    /// How many transactions took effect.
    pub fn succeeded(&self) -> usize {
        self.receipts.iter().filter(|r| r.outcome.is_ok()).count()
    }
}

/// Why a block is not a valid successor of a state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The header names another chain.
    #[error("block is for chain {got}, this chain is {expected}")]
    WrongChain {
        /// This chain.
        expected: Hash,
        /// The header's.
        got: Hash,
    },
    /// The height is not the parent's plus one.
    #[error("block height {got}, expected {expected}")]
    WrongHeight {
        /// Parent height + 1.
        expected: u64,
        /// The header's.
        got: u64,
    },
    /// A header field does not match what executing the block gives.
    #[error("header field {field} does not match: header has {header}, execution gives {computed}")]
    Mismatch {
        /// Which field.
        field: &'static str,
        /// The header's value.
        header: Hash,
        /// The computed value.
        computed: Hash,
    },
    /// Too many transactions.
    #[error("block has {got} transactions, the limit is {max}")]
    TooManyTxs {
        /// Count.
        got: usize,
        /// Limit.
        max: usize,
    },
    /// A transaction's signature does not verify: a proposer includes only transactions
    /// it verified, so such a block is invalid as a whole.
    #[error("transaction {index} ({id}) has a signature that does not verify")]
    BadSignature {
        /// Its position in the block.
        index: usize,
        /// Its id.
        id: Hash,
    },
    /// The timestamp is not after the parent's.
    #[error("timestamp {got} ms is not after the parent's {parent} ms")]
    TimestampNotAfterParent {
        /// The parent's timestamp.
        parent: u64,
        /// The header's.
        got: u64,
    },
}

/// Execute `txs` on top of `prev` as block `prev.height + 1`, whose parent (the block
/// that produced `prev`) has id `parent_id`. `sig_ok[i]` tells whether transaction `i`'s
/// signature verified (see [`verify_signatures`]); a missing entry counts as a bad
/// signature.
pub fn execute_block(
    params: &ChainParams,
    prev: &LedgerState,
    parent_id: Hash,
    txs: &[SignedTransaction],
    sig_ok: &[bool],
) -> BlockOutcome {
    let height = prev.height + 1;
    let mut system = prev.system.clone();
    system
        .mining
        .open_challenge(&params.mining, height, parent_id);
    let mut exec = Executor {
        params,
        height,
        base: prev,
        touched: FastMap::with_capacity_and_hasher(txs.len() * 2, Default::default()),
        system,
    };
    let mut receipts = Vec::with_capacity(txs.len());
    for (i, stx) in txs.iter().enumerate() {
        let outcome = exec.apply(stx, sig_ok.get(i).copied().unwrap_or(false));
        receipts.push(Receipt {
            tx_id: stx.id(),
            outcome,
        });
    }
    if params.epoch_length > 0 && height.is_multiple_of(params.epoch_length) {
        exec.system.apply_pending();
    }
    exec.system.mining.end_block(&params.mining, height);
    let changes = crate::state::normalize_changes(
        exec.touched
            .into_iter()
            .map(|(k, a)| (k, Some(a)))
            .collect(),
    );
    let accounts = prev.accounts.apply(&changes);
    BlockOutcome {
        state: LedgerState {
            accounts,
            system: exec.system,
            height,
        },
        receipts,
        changes,
    }
}

/// The block at height 0 that commits to the initial `state`: no transactions, no parent,
/// no proposer.
pub fn genesis_block(chain_id: Hash, timestamp_ms: u64, state: &LedgerState) -> Block {
    Block {
        header: BlockHeader {
            chain_id,
            height: 0,
            parent: Hash::ZERO,
            timestamp_ms,
            proposer: PublicKey::default(),
            tx_root: tx_root(&[]),
            receipts_root: receipts_root(&[]),
            state_root: state.root(),
            validators_hash: validator_set_hash(&state.system.validators),
        },
        txs: Vec::new(),
    }
}

/// Build the block a proposer would propose: execute `txs` on `prev`, then fill the header.
/// Transactions whose signatures do not verify are left out (a block carrying one is
/// invalid).
pub fn build_block(
    params: &ChainParams,
    prev: &LedgerState,
    parent: &BlockHeader,
    timestamp_ms: u64,
    proposer: PublicKey,
    txs: Vec<SignedTransaction>,
) -> (Block, BlockOutcome) {
    build_block_with(params, prev, parent, timestamp_ms, proposer, txs, &[])
}

/// [`build_block`], verifying only the signatures `known` does not vouch for (`known[i]`
/// for transaction `i`; missing entries count as unknown): a node passes the transactions
/// whose signatures it checked when it admitted them, so each is verified once per node.
/// `timestamp_ms` is raised to one past the parent's if it is not after it.
pub fn build_block_with(
    params: &ChainParams,
    prev: &LedgerState,
    parent: &BlockHeader,
    timestamp_ms: u64,
    proposer: PublicKey,
    txs: Vec<SignedTransaction>,
    known: &[bool],
) -> (Block, BlockOutcome) {
    let sig_ok = verify_signatures_unless(&txs, known);
    let txs: Vec<SignedTransaction> = txs
        .into_iter()
        .zip(&sig_ok)
        .filter_map(|(t, ok)| ok.then_some(t))
        .collect();
    let all_ok = vec![true; txs.len()];
    let outcome = execute_block(params, prev, parent.id(), &txs, &all_ok);
    let timestamp_ms = timestamp_ms.max(parent.timestamp_ms.saturating_add(1));
    let header = BlockHeader {
        chain_id: params.chain_id,
        height: prev.height + 1,
        parent: parent.id(),
        timestamp_ms,
        proposer,
        tx_root: tx_root(&txs),
        receipts_root: receipts_root(&outcome.receipts),
        state_root: outcome.state.root(),
        validators_hash: validator_set_hash(&outcome.state.system.validators),
    };
    (Block { header, txs }, outcome)
}

/// Check that `block` is a valid successor of `prev` (whose header is `parent`): chain,
/// height, parent link, a timestamp after the parent's, tx root, every signature (one
/// that fails makes the block invalid), and, by executing it, receipts root, state root and
/// validator set hash.
pub fn verify_block(
    params: &ChainParams,
    prev: &LedgerState,
    parent: &BlockHeader,
    block: &Block,
) -> Result<BlockOutcome, BlockError> {
    verify_block_with(params, prev, parent, block, &[])
}

/// [`verify_block`], verifying only the signatures `known` does not vouch for. `known[i]`
/// may be `true` only if this node has already verified transaction `i`'s exact signature
/// (not just its id: the id does not cover the signature).
pub fn verify_block_with(
    params: &ChainParams,
    prev: &LedgerState,
    parent: &BlockHeader,
    block: &Block,
    known: &[bool],
) -> Result<BlockOutcome, BlockError> {
    let h = &block.header;
    if h.chain_id != params.chain_id {
        return Err(BlockError::WrongChain {
            expected: params.chain_id,
            got: h.chain_id,
        });
    }
    if h.height != prev.height + 1 {
        return Err(BlockError::WrongHeight {
            expected: prev.height + 1,
            got: h.height,
        });
    }
    if block.txs.len() > params.limits.max_block_txs {
        return Err(BlockError::TooManyTxs {
            got: block.txs.len(),
            max: params.limits.max_block_txs,
        });
    }
    check(h.parent, parent.id(), "parent")?;
    if h.timestamp_ms <= parent.timestamp_ms {
        return Err(BlockError::TimestampNotAfterParent {
            parent: parent.timestamp_ms,
            got: h.timestamp_ms,
        });
    }
    check(h.tx_root, tx_root(&block.txs), "tx_root")?;
    let sig_ok = verify_signatures_unless(&block.txs, known);
    if let Some(index) = sig_ok.iter().position(|ok| !ok) {
        return Err(BlockError::BadSignature {
            index,
            id: block.txs[index].id(),
        });
    }
    let outcome = execute_block(params, prev, h.parent, &block.txs, &sig_ok);
    check(
        h.receipts_root,
        receipts_root(&outcome.receipts),
        "receipts_root",
    )?;
    check(h.state_root, outcome.state.root(), "state_root")?;
    check(
        h.validators_hash,
        validator_set_hash(&outcome.state.system.validators),
        "validators_hash",
    )?;
    Ok(outcome)
}

fn check(header: Hash, computed: Hash, field: &'static str) -> Result<(), BlockError> {
    if header == computed {
        Ok(())
    } else {
        Err(BlockError::Mismatch {
            field,
            header,
            computed,
        })
    }
}

struct Executor<'a> {
    params: &'a ChainParams,
    height: u64,
    base: &'a LedgerState,
    touched: FastMap<PublicKey, Account>,
    system: SystemState,
}

impl Executor<'_> {
    fn account(&self, key: &PublicKey) -> Account {
        match self.touched.get(key) {
            Some(a) => *a,
            None => self.base.account(key),
        }
    }

    fn put(&mut self, key: PublicKey, account: Account) {
        self.touched.insert(key, account);
    }

    fn apply(&mut self, stx: &SignedTransaction, sig_ok: bool) -> Result<(), RejectReason> {
        let tx = stx.tx();
        let mut sender = self.account(&tx.sender);
        // Stage 1: authentication. Nothing changes on failure.
        authenticate(&self.params.chain_id, self.height, &sender, stx, sig_ok, 1)?;
        // Stage 2: the nonce is consumed whatever happens next.
        sender.nonce = sender.nonce.checked_add(1).ok_or(RejectReason::Overflow)?;
        self.put(tx.sender, sender);
        self.operate(&tx.sender, &tx.kind)
    }

    /// Apply the operation; every check happens before the first write, so a rejection
    /// leaves everything (but the nonce, already consumed) as it was.
    fn operate(&mut self, from: &PublicKey, kind: &TxKind) -> Result<(), RejectReason> {
        let sender = self.account(from);
        // the sender's role, and its balance for what it spends
        authorize(&sender, kind)?;
        match kind {
            TxKind::Transfer { to, amount } => {
                if to == from {
                    return Ok(());
                }
                let mut recipient = self.account(to);
                recipient.balance = recipient
                    .balance
                    .checked_add(*amount)
                    .ok_or(RejectReason::Overflow)?;
                let mut sender = sender;
                sender.balance -= amount;
                self.put(*from, sender);
                self.put(*to, recipient);
                Ok(())
            }
            TxKind::Mint { to, amount } => {
                let supply = self
                    .system
                    .total_supply
                    .checked_add(*amount)
                    .ok_or(RejectReason::Overflow)?;
                let mut recipient = self.account(to);
                recipient.balance = recipient
                    .balance
                    .checked_add(*amount)
                    .ok_or(RejectReason::Overflow)?;
                self.put(*to, recipient);
                self.system.total_supply = supply;
                Ok(())
            }
            TxKind::Burn { amount } => {
                let mut sender = sender;
                sender.balance -= amount;
                self.put(*from, sender);
                // supply >= any balance, so this cannot underflow; saturate to be safe
                self.system.total_supply = self.system.total_supply.saturating_sub(*amount);
                Ok(())
            }
            TxKind::SetRole {
                account,
                role,
                granted,
            } => {
                let mut target = self.account(account);
                target.set_role(*role, *granted);
                self.put(*account, target);
                Ok(())
            }
            TxKind::AddValidator {
                key,
                power,
                address,
            } => {
                if *power == 0 {
                    return Err(RejectReason::ZeroVotingPower);
                }
                if address.trim().is_empty() {
                    return Err(RejectReason::EmptyValidatorAddress);
                }
                let next = self.system.validators_after_pending();
                if next.iter().any(|v| v.key == *key) {
                    return Err(RejectReason::ValidatorExists);
                }
                let total = next
                    .iter()
                    .try_fold(*power, |acc, v| acc.checked_add(v.power));
                if total.is_none() {
                    return Err(RejectReason::Overflow);
                }
                if !key.is_valid_point() {
                    return Err(RejectReason::InvalidValidatorKey);
                }
                self.system
                    .pending_changes
                    .push(ValidatorChange::Add(Validator {
                        key: *key,
                        power: *power,
                        address: address.clone(),
                    }));
                Ok(())
            }
            TxKind::RemoveValidator { key } => {
                let next = self.system.validators_after_pending();
                if !next.iter().any(|v| v.key == *key) {
                    return Err(RejectReason::ValidatorUnknown);
                }
                if next.len() == 1 {
                    return Err(RejectReason::LastValidator);
                }
                self.system
                    .pending_changes
                    .push(ValidatorChange::Remove(*key));
                Ok(())
            }
            TxKind::ClaimMiningReward { height, nonce } => {
                let rules = &self.params.mining;
                let index =
                    self.system
                        .mining
                        .check_claim(rules, self.height, from, *height, *nonce)?;
                let reward = rules.reward;
                let supply = self
                    .system
                    .total_supply
                    .checked_add(reward)
                    .ok_or(RejectReason::Overflow)?;
                let mut miner = self.account(from);
                miner.balance = miner
                    .balance
                    .checked_add(reward)
                    .ok_or(RejectReason::Overflow)?;
                self.put(*from, miner);
                self.system.total_supply = supply;
                self.system.mining.record_claim(index, *from);
                Ok(())
            }
        }
    }
}

/// Whether `tx`, signed (`sig_ok`: its signature verified) by `sender` (its account now),
/// may execute on chain `chain_id` in a block at `height`: the signature, the chain, the
/// expiry, a known sender, and a nonce in `sender.nonce .. sender.nonce + window`
/// (execution takes `window` 1: exactly the next nonce; the mempool holds a window of
/// later ones). One rule for blocks and the mempool: the pool admits nothing blocks would
/// refuse for these reasons, and refuses nothing they would take.
pub fn authenticate(
    chain_id: &Hash,
    height: u64,
    sender: &Account,
    tx: &SignedTransaction,
    sig_ok: bool,
    window: u64,
) -> Result<(), RejectReason> {
    let tx = tx.tx();
    if !sig_ok {
        return Err(RejectReason::BadSignature);
    }
    if tx.chain_id != *chain_id {
        return Err(RejectReason::WrongChain {
            expected: *chain_id,
        });
    }
    if height > tx.expiry_height {
        return Err(RejectReason::Expired {
            expiry_height: tx.expiry_height,
            height,
        });
    }
    if sender.is_empty() {
        return Err(RejectReason::UnknownSender);
    }
    if tx.nonce < sender.nonce {
        return Err(RejectReason::NonceTooLow {
            expected: sender.nonce,
            got: tx.nonce,
        });
    }
    // (no overflow: tx.nonce >= sender.nonce here)
    if tx.nonce - sender.nonce >= window.max(1) {
        return Err(RejectReason::NonceTooHigh {
            expected: sender.nonce,
            got: tx.nonce,
        });
    }
    Ok(())
}

/// The role an operation needs of its sender: a transfer needs `transact`; a burn
/// `transact` or `admin`; minting, roles and validator changes `admin`; a mining claim
/// `mine`.
pub fn required_roles(kind: &TxKind) -> &'static [Role] {
    match kind {
        TxKind::Transfer { .. } => &[Role::Transact],
        TxKind::Burn { .. } => &[Role::Transact, Role::Admin],
        TxKind::Mint { .. }
        | TxKind::SetRole { .. }
        | TxKind::AddValidator { .. }
        | TxKind::RemoveValidator { .. } => &[Role::Admin],
        TxKind::ClaimMiningReward { .. } => &[Role::Mine],
    }
}

/// Whether `sender` (its account now) may do `kind`: one of its [`required_roles`], and
/// the balance for what it spends (a transfer's or a burn's amount). The checks of an
/// operation that depend on nothing but the sender's account; the rest (supply overflow,
/// validator-set rules, a mining claim's proof) are execution's alone.
pub fn authorize(sender: &Account, kind: &TxKind) -> Result<(), RejectReason> {
    let roles = required_roles(kind);
    if !roles.iter().any(|r| sender.has_role(*r)) {
        return Err(RejectReason::MissingRole { role: roles[0] });
    }
    if let TxKind::Transfer { amount, .. } | TxKind::Burn { amount } = kind
        && sender.balance < *amount
    {
        return Err(RejectReason::InsufficientBalance {
            have: sender.balance,
            need: *amount,
        });
    }
    Ok(())
}
