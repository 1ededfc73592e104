//! Helpers shared by the ledger's integration tests: a small chain with known keys.
#![allow(dead_code, missing_docs, unreachable_pub)] // helpers, not an API

use ledger::block::BlockHeader;
use ledger::state::AccountTree;
use ledger::*;

pub fn key(i: u8) -> Keypair {
    Keypair::from_secret([i.wrapping_add(1); 32])
}

pub const ADMIN: u8 = 0;
pub const ALICE: u8 = 1;
pub const BOB: u8 = 2;
pub const MINER: u8 = 3;
pub const NOBODY: u8 = 4; // exists with a balance but no roles
pub const VALIDATOR: u8 = 10;

pub struct Chain {
    pub params: ChainParams,
    pub state: LedgerState,
    pub head: BlockHeader,
    pub genesis: LedgerState,
}

pub fn account(balance: u128, roles: &[Role]) -> Account {
    let mut a = Account {
        balance,
        nonce: 0,
        roles: 0,
    };
    for r in roles {
        a.set_role(*r, true);
    }
    a
}

impl Chain {
    pub fn new() -> Chain {
        Self::with_accounts(vec![
            (key(ADMIN).public(), account(1_000, &[Role::Admin])),
            (key(ALICE).public(), account(1_000, &[Role::Transact])),
            (key(BOB).public(), account(500, &[Role::Transact])),
            (key(MINER).public(), account(0, &[Role::Mine])),
            (key(NOBODY).public(), account(100, &[])),
        ])
    }

    pub fn with_accounts(mut accounts: Vec<(PublicKey, Account)>) -> Chain {
        accounts.sort_by_key(|a| a.0);
        let params = ChainParams {
            chain_id: Hash([42; 32]),
            epoch_length: 10,
            limits: Limits::default(),
            mining: mining::MiningRules {
                reward: 50,
                retarget_epoch_length: 5,
                target_solutions_per_epoch: 1,
                claim_expiry: 3,
            },
        };
        let state = LedgerState {
            accounts: AccountTree::from_sorted(&accounts),
            system: SystemState {
                validators: vec![Validator {
                    key: key(VALIDATOR).public(),
                    power: 1,
                    address: "/ip4/127.0.0.1/tcp/1".into(),
                }],
                pending_changes: vec![],
                total_supply: accounts.iter().map(|(_, a)| a.balance).sum(),
                // 2^252: one solution per 16 hashes on average
                mining: mining::MiningState::new({
                    let mut t = [0u8; 32];
                    t[0] = 0x10;
                    t
                }),
            },
            height: 0,
        };
        let head = genesis_block(params.chain_id, 0, &state).header;
        Chain {
            params,
            genesis: state.clone(),
            state,
            head,
        }
    }

    pub fn genesis_block(&self) -> Block {
        genesis_block(self.params.chain_id, 0, &self.genesis)
    }

    pub fn nonce(&self, who: u8) -> u64 {
        self.state.account(&key(who).public()).nonce
    }

    pub fn balance(&self, who: u8) -> u128 {
        self.state.account(&key(who).public()).balance
    }

    /// A signed tx from `who` with its current nonce, valid until height 1000.
    pub fn tx(&self, who: u8, kind: TxKind) -> SignedTransaction {
        self.tx_with(who, self.nonce(who), 1000, kind)
    }

    pub fn tx_with(&self, who: u8, nonce: u64, expiry: u64, kind: TxKind) -> SignedTransaction {
        Transaction {
            chain_id: self.params.chain_id,
            sender: key(who).public(),
            nonce,
            expiry_height: expiry,
            kind,
        }
        .sign(&key(who))
    }

    /// Build, verify (as another validator would) and apply a block; return its receipts.
    pub fn block(&mut self, txs: Vec<SignedTransaction>) -> (Block, BlockOutcome) {
        let (block, outcome) = build_block(
            &self.params,
            &self.state,
            &self.head,
            self.head.timestamp_ms + 1,
            key(VALIDATOR).public(),
            txs,
        );
        let verified = verify_block(&self.params, &self.state, &self.head, &block)
            .expect("own block verifies");
        assert_eq!(verified.state.root(), outcome.state.root());
        self.state = outcome.state.clone();
        self.head = block.header.clone();
        (block, outcome)
    }

    /// Apply one tx in its own block and return its outcome.
    pub fn run(&mut self, tx: SignedTransaction) -> Result<(), RejectReason> {
        let (_, outcome) = self.block(vec![tx]);
        outcome.receipts[0].outcome.clone()
    }
}

pub fn transfer(to: u8, amount: u128) -> TxKind {
    TxKind::Transfer {
        to: key(to).public(),
        amount,
    }
}
