//! The verdicts of a campaign that need the honest nodes' stores: read after the nodes
//! stopped, the finalized chains must be one chain, and that chain must be valid from
//! genesis under the ledger's rules, re-executed here: every signature verifies (so every
//! debit is its account's own), every state root matches, and the coin supply is genesis
//! plus what was minted and paid to miners minus what was burned, equal to the sum of all
//! balances.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use genesis::Genesis;
use ledger::{Block, Store, TxKind};

/// What the stores showed.
#[derive(Clone, Debug, Default)]
pub struct ChainCheck {
    /// Heights every honest node finalized (and that were compared and re-executed).
    pub common_height: u64,
    /// Finalized heights per honest node.
    pub heights: Vec<u64>,
    /// Transactions re-executed, each signature also checked on its own.
    pub txs: u64,
    /// Supply at the common height.
    pub supply: u128,
    /// Genesis supply + mints + mining rewards − burns.
    pub expected_supply: u128,
    /// The sum of every account's balance at the common height.
    pub balances: u128,
}

impl ChainCheck {
    /// The JSON form (u128 amounts as decimal strings).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "common_height": self.common_height,
            "heights": self.heights,
            "txs_reexecuted": self.txs,
            "supply": self.supply.to_string(),
            "expected_supply": self.expected_supply.to_string(),
            "balances": self.balances.to_string(),
        })
    }
}

/// Compare the honest nodes' stores (data directories `homes[i]/data/db`) and re-execute
/// their common chain from `genesis`. `Err` names the first disagreement or invalid block.
pub fn check_chains(genesis_path: &Path, homes: &[&Path]) -> Result<ChainCheck> {
    let genesis = Genesis::load(genesis_path).context("genesis")?;
    let params = genesis.chain_params();
    let mut stores = Vec::new();
    for h in homes {
        let path = h.join("data").join("db");
        stores.push(
            Store::open(&path, params.limits)
                .with_context(|| format!("opening {}", path.display()))?,
        );
    }
    let heights: Vec<u64> = stores
        .iter()
        .map(|s| s.finalized_height().map(|h| h.unwrap_or(0)))
        .collect::<Result<_, _>>()?;
    let common = heights.iter().copied().min().unwrap_or(0);
    let mut state = genesis.initial_state();
    let mut parent = genesis.genesis_block().header;
    let genesis_supply = state.system.total_supply;
    let (mut minted, mut burned, mut rewards) = (0u128, 0u128, 0u128);
    let mut txs = 0u64;
    for height in 1..=common {
        let mut blocks: Vec<Block> = Vec::new();
        for (i, s) in stores.iter().enumerate() {
            blocks.push(
                s.block_by_height(height)?
                    .ok_or_else(|| anyhow!("node {i} has no block {height}"))?,
            );
        }
        let block = &blocks[0];
        for (i, b) in blocks.iter().enumerate().skip(1) {
            if b != block {
                bail!(
                    "nodes 0 and {i} finalized different blocks at height {height}: {} and {}",
                    block.id(),
                    b.id()
                );
            }
        }
        // every signature on its own first, so a forgery is named even if block
        // verification were to let it through
        for tx in &block.txs {
            if !tx.verify_signature() {
                bail!(
                    "finalized block {height} carries transaction {} from {} whose signature does not verify",
                    tx.id(),
                    tx.tx().sender
                );
            }
        }
        let outcome = ledger::verify_block(&params, &state, &parent, block)
            .map_err(|e| anyhow!("finalized block {height} is invalid: {e}"))?;
        for (tx, r) in block.txs.iter().zip(&outcome.receipts) {
            if r.outcome.is_err() {
                continue;
            }
            match tx.tx().kind {
                TxKind::Mint { amount, .. } => minted += amount,
                TxKind::Burn { amount } => burned += amount,
                TxKind::ClaimMiningReward { .. } => rewards += params.mining.reward,
                _ => {}
            }
        }
        txs += block.txs.len() as u64;
        state = outcome.state;
        parent = block.header.clone();
    }
    let mut balances = 0u128;
    state.accounts.for_each(|_, a| balances += a.balance);
    Ok(ChainCheck {
        common_height: common,
        heights,
        txs,
        supply: state.system.total_supply,
        expected_supply: genesis_supply + minted + rewards - burned,
        balances,
    })
}
