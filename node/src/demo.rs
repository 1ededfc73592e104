//! `palisade demo`: the ledger end to end on a dev chain, until the node exists.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use genesis::{DevKeyKind, dev_genesis, dev_keypair};
use ledger::light::verify_account_proof;
use ledger::store::Commit;
use ledger::{Store, Transaction, TxKind, build_block};

/// Arguments of `palisade demo`.
#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    /// Directory for the demo chain's data (kept between runs).
    #[arg(long, default_value = ".palisade-demo")]
    home: PathBuf,
    /// Blocks to produce in this run.
    #[arg(long, default_value_t = 10)]
    blocks: u64,
    /// Signed transfers per block.
    #[arg(long, default_value_t = 1000)]
    txs: u64,
    /// Delete the demo chain's data first.
    #[arg(long)]
    reset: bool,
}

const ACCOUNTS: u32 = 8;

pub(crate) fn run(args: DemoArgs) -> Result<()> {
    if args.reset && args.home.exists() {
        std::fs::remove_dir_all(&args.home)
            .with_context(|| format!("removing {}", args.home.display()))?;
    }
    std::fs::create_dir_all(&args.home)?;
    let genesis = dev_genesis(
        "palisade-demo",
        4,
        ACCOUNTS,
        26656,
        crate::DEV_GENESIS_TIME_MS,
    );
    let params = genesis.chain_params();
    println!("chain palisade-demo, chain id {}", params.chain_id);
    crate::print_dev_accounts(ACCOUNTS);

    let store = Store::open(&args.home.join("data"), params.limits).context("opening RocksDB")?;
    store.init_genesis(&genesis.genesis_block(), &genesis.initial_state())?;
    let (mut state, mut head) = store
        .load_state()
        .context("recovering the last committed block")?;
    println!(
        "recovered height {} (state root {})",
        head.height, head.state_root
    );

    let keys: Vec<_> = (0..ACCOUNTS)
        .map(|i| dev_keypair(DevKeyKind::Account, i))
        .collect();
    let proposer = dev_keypair(DevKeyKind::Validator, 0).public();
    for _ in 0..args.blocks {
        let height = head.height + 1;
        let mut nonces: Vec<u64> = keys
            .iter()
            .map(|k| state.account(&k.public()).nonce)
            .collect();
        let start = Instant::now();
        let txs: Vec<_> = (0..args.txs)
            .map(|i| {
                let from = (i % u64::from(ACCOUNTS)) as usize;
                let to = ((i * 3 + height) % u64::from(ACCOUNTS)) as usize;
                let tx = Transaction {
                    chain_id: params.chain_id,
                    sender: keys[from].public(),
                    nonce: nonces[from],
                    expiry_height: height + 10,
                    kind: TxKind::Transfer {
                        to: keys[to].public(),
                        amount: 1 + from as u128 * 10,
                    },
                };
                nonces[from] += 1;
                tx.sign(&keys[from])
            })
            .collect();
        let signed = start.elapsed();
        let start = Instant::now();
        let timestamp = crate::DEV_GENESIS_TIME_MS + height * 1000;
        let (block, outcome) = build_block(&params, &state, &head, timestamp, proposer, txs);
        let executed = start.elapsed();
        let start = Instant::now();
        store.commit(&Commit {
            block: &block,
            receipts: &outcome.receipts,
            changes: &outcome.changes,
            system: &outcome.state.system,
            certificate: &[],
        })?;
        println!(
            "block {height}: {} txs ({} ok), signed in {:.1?}, verified+executed in {:.1?}, committed (sync) in {:.1?}, state root {}",
            block.txs.len(),
            outcome.succeeded(),
            signed,
            executed,
            start.elapsed(),
            block.header.state_root
        );
        state = outcome.state;
        head = block.header;
    }

    let who = keys[1].public();
    let proof = state.prove(&who);
    let proven = verify_account_proof(&head, &who, &proof)?;
    println!(
        "proof for account [1] against block {} verifies: balance {}, nonce {}",
        head.height,
        proven.map(|a| a.balance).unwrap_or(0),
        proven.map(|a| a.nonce).unwrap_or(0)
    );
    println!("balances at height {}:", head.height);
    for (i, k) in keys.iter().enumerate() {
        println!(
            "  [{i}] {}  {}",
            k.public(),
            store.account(&k.public())?.balance
        );
    }
    println!(
        "data kept in {} (run again to continue, --reset to start over)",
        args.home.display()
    );
    Ok(())
}
