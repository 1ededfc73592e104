//! The `palisade` binary: one command for every job (validator, wallet, miner, genesis
//! tooling, local testnet, benchmark). Today it offers the genesis and key tooling and a
//! ledger demo; the validator, testnet, wallet and miner subcommands arrive with their
//! issues. This file parses the command line and hands off; the work lives in the crates.

mod demo;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use genesis::{
    DevKeyKind, Genesis, INSECURE_WARNING, dev_genesis, dev_keypair, read_key_file, write_key_file,
};
use ledger::Keypair;

/// Palisade: a permissioned BFT blockchain node.
#[derive(Parser)]
#[command(name = "palisade", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create and check genesis documents.
    #[command(subcommand)]
    Genesis(GenesisCommand),
    /// Create and inspect key files.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Run the ledger end to end on a dev chain: genesis, signed transfer blocks executed,
    /// committed to RocksDB and proven. State is kept in --home between runs.
    ///
    /// Example: palisade demo --home ./demo --blocks 20 --txs 2000
    Demo(demo::DemoArgs),
}

#[derive(Subcommand)]
enum GenesisCommand {
    /// Write a dev genesis (INSECURE deterministic keys) and its validator key files.
    ///
    /// Example: palisade genesis dev --out ./devnet --validators 4 --accounts 8
    Dev {
        /// Directory to write genesis.json and keys/ into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Number of validators.
        #[arg(long, default_value_t = 4)]
        validators: u32,
        /// Number of prefunded dev accounts.
        #[arg(long, default_value_t = 8)]
        accounts: u32,
        /// First validator's TCP port on 127.0.0.1.
        #[arg(long, default_value_t = 26656)]
        base_port: u16,
        /// Chain name.
        #[arg(long, default_value = "palisade-devnet")]
        chain_name: String,
    },
    /// Validate a genesis.json and print its chain id.
    ///
    /// Example: palisade genesis validate ./devnet/genesis.json
    Validate {
        /// The genesis file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate a new ed25519 key file (mode 0600; never overwrites).
    ///
    /// Example: palisade keys generate --out ./validator.key.json
    Generate {
        /// Where to write the key file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public key of a key file.
    ///
    /// Example: palisade keys show ./validator.key.json
    Show {
        /// The key file.
        file: PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Genesis(GenesisCommand::Dev {
            out,
            validators,
            accounts,
            base_port,
            chain_name,
        }) => write_dev_genesis(&out, &chain_name, validators, accounts, base_port),
        Command::Genesis(GenesisCommand::Validate { file }) => {
            let g = Genesis::load(&file)?;
            println!("{}: valid", file.display());
            println!("chain name: {}", g.chain_name);
            println!("chain id:   {}", g.hash());
            println!(
                "validators: {}, accounts: {}",
                g.validators.len(),
                g.accounts.len()
            );
            Ok(())
        }
        Command::Keys(KeysCommand::Generate { out }) => {
            let key = Keypair::generate().context("reading the OS random source")?;
            write_key_file(&out, &key, false)?;
            println!("{}", key.public());
            Ok(())
        }
        Command::Keys(KeysCommand::Show { file }) => {
            println!("{}", read_key_file(&file)?.public());
            Ok(())
        }
        Command::Demo(args) => demo::run(args),
    }
}

/// Genesis time for dev chains: fixed, so every dev chain with the same shape has the same id.
pub const DEV_GENESIS_TIME_MS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn write_dev_genesis(
    out: &std::path::Path,
    name: &str,
    validators: u32,
    accounts: u32,
    base_port: u16,
) -> Result<()> {
    if validators == 0 {
        bail!("--validators must be at least 1");
    }
    if accounts == 0 {
        bail!("--accounts must be at least 1 (account 0 is the admin)");
    }
    let g = dev_genesis(name, validators, accounts, base_port, DEV_GENESIS_TIME_MS);
    g.to_doc()
        .validate()
        .context("dev genesis failed validation")?;
    std::fs::create_dir_all(out.join("keys"))
        .with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("genesis.json");
    if path.exists() {
        bail!("{} already exists; refusing to overwrite", path.display());
    }
    std::fs::write(&path, g.to_doc().to_json())
        .with_context(|| format!("writing {}", path.display()))?;
    for i in 0..validators {
        write_key_file(
            &out.join(format!("keys/validator-{i}.json")),
            &dev_keypair(DevKeyKind::Validator, i),
            true,
        )?;
    }
    for i in 0..accounts {
        write_key_file(
            &out.join(format!("keys/account-{i}.json")),
            &dev_keypair(DevKeyKind::Account, i),
            true,
        )?;
    }
    println!("wrote {} (chain id {})", path.display(), g.hash());
    print_dev_accounts(accounts);
    Ok(())
}

/// Print the dev accounts with their secrets, and the warning that they are public.
pub fn print_dev_accounts(accounts: u32) {
    println!("dev accounts ({INSECURE_WARNING}):");
    for i in 0..accounts {
        let k = dev_keypair(DevKeyKind::Account, i);
        let role = if i == 0 {
            "admin, transact, mine"
        } else {
            "transact, mine"
        };
        println!(
            "  [{i}] {}  secret 0x{}  ({role})  INSECURE",
            k.public(),
            hex::encode(k.secret())
        );
    }
}
