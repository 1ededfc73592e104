//! The executor against a model of balances, nonces and roles, and against the mempool's
//! admission: for any sequence of transactions (each in its own block) the executor gives
//! the receipt and the accounts the model predicts, total supply always equals the sum of
//! balances, and admission refuses exactly what execution refuses for the reasons it
//! checks (signature, chain, expiry, sender, nonce, role, balance) and nothing else.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use ledger::{
    Account, Hash, Keypair, PublicKey, RejectReason, Role, Signature, SignedTransaction,
    Transaction, TxKind, Validator,
};
use libfuzzer_sys::fuzz_target;
use node::mempool::{AdmitError, Mempool};
use palisade_fuzz::{CHAIN, initial_state, key, params};

/// Real ed25519 keys for validators (an added validator's key must be a curve point).
fn validator_keys() -> &'static [PublicKey] {
    static KEYS: OnceLock<Vec<PublicKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (1..=4u8)
            .map(|i| Keypair::from_secret([i; 32]).public())
            .collect()
    })
}

#[derive(Arbitrary, Debug)]
struct Spec {
    sender: u8,
    nonce_ahead: i8,
    expiry_ahead: i8,
    other_chain: bool,
    sig_ok: bool,
    kind: u8,
    target: u8,
    amount: u8,
    huge: bool,
    flag: bool,
    address: String,
}

impl Spec {
    fn build(&self, state: &ledger::LedgerState) -> SignedTransaction {
        let sender = key(self.sender % 7);
        let base = state.account(&sender).nonce;
        let nonce = base.saturating_add_signed(i64::from(self.nonce_ahead % 3));
        let expiry = (state.height + 1).saturating_add_signed(i64::from(self.expiry_ahead % 3));
        let to = key(self.target % 7);
        let amount = if self.huge {
            u128::MAX - u128::from(self.amount)
        } else {
            u128::from(self.amount) * 10
        };
        let vkey = match validator_keys().get(usize::from(self.target % 6)) {
            Some(k) => *k,
            None => PublicKey([self.target; 32]),
        };
        let kind = match self.kind % 8 {
            0 | 1 => TxKind::Transfer { to, amount },
            2 => TxKind::Mint { to, amount },
            3 => TxKind::Burn { amount },
            4 => TxKind::SetRole {
                account: to,
                role: Role::ALL[usize::from(self.amount) % Role::ALL.len()],
                granted: self.flag,
            },
            5 => TxKind::AddValidator {
                key: vkey,
                power: if self.huge {
                    u64::MAX
                } else {
                    u64::from(self.amount % 3)
                },
                address: self.address.chars().take(40).collect(),
            },
            6 => TxKind::RemoveValidator { key: vkey },
            _ => TxKind::ClaimMiningReward {
                height: state.height.saturating_sub(u64::from(self.amount % 4)),
                nonce: u64::from(self.amount),
            },
        };
        let tx = Transaction {
            chain_id: if self.other_chain {
                Hash([1; 32])
            } else {
                CHAIN
            },
            sender,
            nonce,
            expiry_height: expiry,
            kind,
        };
        SignedTransaction::new(tx, Signature([0; 64]))
    }
}

/// What the model says about accounts and supply.
struct Model {
    accounts: BTreeMap<PublicKey, Account>,
    supply: u128,
}

impl Model {
    fn get(&self, k: &PublicKey) -> Account {
        self.accounts.get(k).copied().unwrap_or_default()
    }

    fn put(&mut self, k: PublicKey, a: Account) {
        if a.is_empty() {
            self.accounts.remove(&k);
        } else {
            self.accounts.insert(k, a);
        }
    }

    /// Apply `stx` in a block at `height`; `op_result` is the executor's verdict for the
    /// operations the model leaves to it (validator changes, mining claims). Returns the
    /// receipt the model expects.
    fn apply(
        &mut self,
        stx: &SignedTransaction,
        sig_ok: bool,
        height: u64,
        reward: u128,
        op_result: &Result<(), RejectReason>,
    ) -> Result<(), RejectReason> {
        let t = stx.tx();
        let mut sender = self.get(&t.sender);
        if !sig_ok {
            return Err(RejectReason::BadSignature);
        }
        if t.chain_id != CHAIN {
            return Err(RejectReason::WrongChain { expected: CHAIN });
        }
        if height > t.expiry_height {
            return Err(RejectReason::Expired {
                expiry_height: t.expiry_height,
                height,
            });
        }
        if sender.is_empty() {
            return Err(RejectReason::UnknownSender);
        }
        if t.nonce < sender.nonce {
            return Err(RejectReason::NonceTooLow {
                expected: sender.nonce,
                got: t.nonce,
            });
        }
        if t.nonce > sender.nonce {
            return Err(RejectReason::NonceTooHigh {
                expected: sender.nonce,
                got: t.nonce,
            });
        }
        sender.nonce += 1;
        self.put(t.sender, sender);
        let needs: &[Role] = match &t.kind {
            TxKind::Transfer { .. } => &[Role::Transact],
            TxKind::Burn { .. } => &[Role::Transact, Role::Admin],
            TxKind::ClaimMiningReward { .. } => &[Role::Mine],
            _ => &[Role::Admin],
        };
        if !needs.iter().any(|r| sender.has_role(*r)) {
            return Err(RejectReason::MissingRole { role: needs[0] });
        }
        match &t.kind {
            TxKind::Transfer { to, amount } | TxKind::Mint { to, amount } => {
                let mint = matches!(t.kind, TxKind::Mint { .. });
                if !mint && sender.balance < *amount {
                    return Err(RejectReason::InsufficientBalance {
                        have: sender.balance,
                        need: *amount,
                    });
                }
                if !mint && *to == t.sender {
                    return Ok(());
                }
                let supply = if mint {
                    self.supply
                        .checked_add(*amount)
                        .ok_or(RejectReason::Overflow)?
                } else {
                    self.supply
                };
                let mut recipient = self.get(to);
                recipient.balance = recipient
                    .balance
                    .checked_add(*amount)
                    .ok_or(RejectReason::Overflow)?;
                if !mint {
                    sender.balance -= amount;
                    self.put(t.sender, sender);
                }
                self.put(*to, recipient);
                self.supply = supply;
                Ok(())
            }
            TxKind::Burn { amount } => {
                if sender.balance < *amount {
                    return Err(RejectReason::InsufficientBalance {
                        have: sender.balance,
                        need: *amount,
                    });
                }
                sender.balance -= amount;
                self.put(t.sender, sender);
                self.supply -= amount;
                Ok(())
            }
            TxKind::SetRole {
                account,
                role,
                granted,
            } => {
                let mut target = self.get(account);
                target.set_role(*role, *granted);
                self.put(*account, target);
                Ok(())
            }
            TxKind::ClaimMiningReward { .. } => {
                if op_result.is_ok() {
                    sender.balance += reward;
                    self.put(t.sender, sender);
                    self.supply += reward;
                }
                op_result.clone()
            }
            TxKind::AddValidator { .. } | TxKind::RemoveValidator { .. } => op_result.clone(),
        }
    }
}

/// The reasons admission checks (authentication and authorization).
fn admission_checks(r: &RejectReason) -> bool {
    matches!(
        r,
        RejectReason::BadSignature
            | RejectReason::WrongChain { .. }
            | RejectReason::Expired { .. }
            | RejectReason::UnknownSender
            | RejectReason::NonceTooLow { .. }
            | RejectReason::NonceTooHigh { .. }
            | RejectReason::MissingRole { .. }
            | RejectReason::InsufficientBalance { .. }
    )
}

fuzz_target!(|specs: Vec<Spec>| {
    let params = params();
    let validators: Vec<Validator> = validator_keys()[..2]
        .iter()
        .map(|k| Validator {
            key: *k,
            power: 1,
            address: "/ip4/127.0.0.1/tcp/1".into(),
        })
        .collect();
    let mut state = initial_state(validators);
    let mut model = Model {
        accounts: BTreeMap::new(),
        supply: state.system.total_supply,
    };
    state.accounts.for_each(|k, a| {
        model.accounts.insert(*k, *a);
    });
    let mut parent = Hash::ZERO;
    for spec in specs.into_iter().take(48) {
        let stx = spec.build(&state);
        let admitted =
            Mempool::new(64, 1).admit_at(stx.clone(), spec.sig_ok, &CHAIN, &state, false, 0);
        let outcome = ledger::execute_block(
            &params,
            &state,
            parent,
            std::slice::from_ref(&stx),
            &[spec.sig_ok],
        );
        let got = outcome.receipts[0].outcome.clone();
        match &admitted {
            Err(AdmitError::Rule(r)) => {
                assert_eq!(
                    got.as_ref().err(),
                    Some(r),
                    "admission refused {r}, execution gave {got:?}"
                );
            }
            Ok(_) => {
                if let Err(e) = &got {
                    assert!(
                        !admission_checks(e),
                        "admitted, then refused by execution for {e}"
                    );
                }
            }
            Err(other) => panic!("a fresh pool refused with {other}"),
        }
        let expected = model.apply(
            &stx,
            spec.sig_ok,
            state.height + 1,
            params.mining.reward,
            &got,
        );
        assert_eq!(got, expected, "receipt of {:?}", stx.tx().kind);
        state = outcome.state;
        parent = Hash(*blake3::hash(&parent.0).as_bytes());
        assert_eq!(state.system.total_supply, model.supply);
        let mut sum: u128 = 0;
        let mut count = 0;
        state.accounts.for_each(|k, a| {
            assert_eq!(model.accounts.get(k), Some(a), "account {k}");
            sum = sum
                .checked_add(a.balance)
                .expect("balances sum within supply");
            count += 1;
        });
        assert_eq!(count, model.accounts.len());
        assert_eq!(
            sum, state.system.total_supply,
            "supply is not the sum of balances"
        );
        assert!(!state.system.validators.is_empty());
        assert!(!state.system.validators_after_pending().is_empty());
    }
});
