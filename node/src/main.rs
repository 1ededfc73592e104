//! The `palisade` binary: one command for every job (validator, local testnet, genesis
//! tooling, keys, wallet, miner). This file parses the command line and hands off; the
//! work lives in the crates.

mod bench_state;
mod demo;
mod init;
mod miner_cmd;
mod wallet;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use genesis::{DevKeyKind, Genesis, dev_genesis, dev_keypair, read_key_file, write_key_file};
use ledger::Keypair;

/// mimalloc: a node allocates and frees many small objects per transaction (decoding,
/// mempool entries, JSON), across threads; glibc's malloc took ~7% of a loaded testnet's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Create a node home: key file (kept if present), config.toml, genesis.json.
    ///
    /// Example: palisade init --home ./node --genesis ./genesis.json --set rpc.listen=0.0.0.0:8545
    Init(init::InitArgs),
    /// Run a node (validator if its key is in the current validator set, observer otherwise)
    /// until SIGINT/SIGTERM.
    ///
    /// Example: palisade run --home ./node
    Run {
        /// The node's home directory (config.toml, genesis.json, key file, data/).
        #[arg(long)]
        home: PathBuf,
    },
    /// Start a local testnet of validators on 127.0.0.1, each its own process; print their
    /// addresses and the dev accounts; Ctrl-C stops all. The next run resumes the chain.
    ///
    /// Ports of validator i: p2p BASE+i, JSON-RPC BASE+100+i, metrics BASE+200+i.
    ///
    /// Example: palisade testnet --validators 4 --reset
    Testnet {
        /// Number of validators.
        #[arg(long, default_value_t = 4)]
        validators: u32,
        /// Number of prefunded dev accounts.
        #[arg(long, default_value_t = 8)]
        accounts: u32,
        /// Directory holding genesis, keys and each validator's home.
        #[arg(long, default_value = ".palisade-testnet")]
        home: PathBuf,
        /// Delete the testnet's directory first (a new chain).
        #[arg(long)]
        reset: bool,
        /// First port (BASE).
        #[arg(long, default_value_t = 26656)]
        base_port: u16,
        /// A config.toml setting for every validator, `section.key=value` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// A genesis.json field for a new testnet, `section.key=value` (repeatable), e.g.
        /// `--genesis-set mining.retarget_epoch_length=20`.
        #[arg(long = "genesis-set", value_name = "KEY=VALUE")]
        genesis_set: Vec<String>,
    },
    /// Benchmark: open-loop load of pre-signed transfers at --rate for --duration, in
    /// tx_submitMany calls over every validator of a fresh local testnet (or of --rpc
    /// endpoints); prints finalized tx/s, submit to finalized latency p50/p90/p99, block
    /// time, CPU and peak RSS per node, and lost transactions.
    ///
    /// Reference run: palisade bench --validators 4 --rate 25000 --duration 60 --json
    Bench {
        /// Number of validators.
        #[arg(long, default_value_t = 4)]
        validators: u32,
        /// Offered load, transactions per second (with --sweep: the first rate).
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// Seconds of load.
        #[arg(long, default_value_t = 30)]
        duration: u64,
        /// Sending accounts (dev accounts 1..=N); each sends to one validator.
        #[arg(long, default_value_t = 256)]
        senders: u32,
        /// Transactions per tx_submitMany call (at most 1,000; 1 sends single tx_submit
        /// calls).
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Raise the rate by a quarter per run (each on a fresh testnet) until a run loses
        /// a transaction, its p99 passes 1 s or it finalizes under 95% of the rate; report
        /// the saturation point.
        #[arg(long)]
        sweep: bool,
        /// SIGKILL the last validator this many seconds into the load.
        #[arg(long, value_name = "SECONDS")]
        kill_at: Option<f64>,
        /// Start the killed validator again this many seconds into the load.
        #[arg(long, value_name = "SECONDS", requires = "kill_at")]
        restart_at: Option<f64>,
        /// Send to these running nodes instead of starting a testnet (repeatable; a dev
        /// genesis whose dev accounts 1..=senders are funded).
        #[arg(long = "rpc", value_name = "URL")]
        rpc: Vec<String>,
        /// Send each transfer to a new account instead of one sink (the state grows by an
        /// account per transaction).
        #[arg(long)]
        fresh_recipients: bool,
        /// Directory for the benchmark testnet (wiped first).
        #[arg(long, default_value = ".palisade-bench")]
        home: PathBuf,
        /// First port.
        #[arg(long, default_value_t = 27656)]
        base_port: u16,
        /// A config.toml setting for every validator, `section.key=value` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Attack a fresh local 4-validator testnet under steady wallet load, as validator 3
    /// (its real key: one byzantine validator of four) or as hostile observers, and judge
    /// the honest nodes: none exited, they agree on a chain valid from genesis, the supply
    /// adds up, throughput held and recovered, the attacker was penalized. Exits non-zero
    /// if a verdict fails. `--list` names the campaigns.
    ///
    /// Example: palisade adversary --campaign equivocation --duration 30 --json
    Adversary {
        /// Name the campaigns and what each does, and exit.
        #[arg(long)]
        list: bool,
        /// The campaign to run.
        #[arg(long, required_unless_present = "list")]
        campaign: Option<String>,
        /// Seconds of baseline (the attacker behaves), then as many of attack.
        #[arg(long, default_value_t = 30.0)]
        duration: f64,
        /// Offered load, transfers per second, to the honest validators.
        #[arg(long, default_value_t = 400)]
        rate: u64,
        /// Sending accounts (dev accounts 1..=N).
        #[arg(long, default_value_t = 8)]
        senders: u32,
        /// Directory for the testnet (wiped first); the attacker's own log goes to
        /// `<home>.log`.
        #[arg(long, default_value = ".palisade-adversary")]
        home: PathBuf,
        /// First port.
        #[arg(long, default_value_t = 28656)]
        base_port: u16,
        /// Print one JSON object instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Run a fault schedule against a 4-validator network of containers (compose.yaml)
    /// under wallet load: partitions, an isolated leader, a one-way cut, latency and loss,
    /// kill and restart, pause, clock skew, a full disk; then check that every acknowledged
    /// transaction is final exactly once everywhere, the validators agree on one valid
    /// chain, the supply is conserved, and finalization resumed within the bound after each
    /// heal. Needs a Docker Engine, the image (scripts/docker-image.sh) and root (nsenter,
    /// mount). Exits non-zero if a verdict fails.
    ///
    /// Example: palisade nemesis --seed 7 --duration 600 --json
    Nemesis {
        /// Name the faults and what each does, and exit.
        #[arg(long)]
        list: bool,
        /// Seeds the schedule (fault order, targets).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Seconds of faults (every fault once in a seeded order, then again, …).
        #[arg(long, default_value_t = 180)]
        duration: u64,
        /// Seconds each fault is held before it is healed.
        #[arg(long, default_value_t = 10)]
        hold: u64,
        /// Offered load, transfers per second.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// Only these faults (comma-separated names; default all).
        #[arg(long, value_delimiter = ',')]
        faults: Vec<String>,
        /// Directory of the run (validator homes, logs); wiped first, removed after a pass.
        #[arg(long, default_value = "/tmp/palisade-nemesis")]
        work: PathBuf,
        /// The compose file.
        #[arg(long, default_value = "compose.yaml")]
        compose_file: PathBuf,
        /// The image.
        #[arg(long, default_value = "palisade:latest")]
        image: String,
        /// First three octets of the run's own /24 network.
        #[arg(long, default_value = "10.214.0")]
        subnet: String,
        /// Host ports on 127.0.0.1: JSON-RPC BASE+i, metrics BASE+100+i.
        #[arg(long, default_value_t = 24600)]
        port_base: u16,
        /// Keep the run's directory after a pass.
        #[arg(long)]
        keep: bool,
        /// Print one JSON object instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Run the deterministic whole-node simulator: real node cores (engine, execution,
    /// mempool, fetching, sync, epochs) over a simulated network with partitions, loss,
    /// crashes and clock skew, one byzantine validator, a validator joining and leaving,
    /// and wallet load; checks agreement, no double sign, valid signatures and supply at
    /// every seed. Prints each failing seed with the command that replays it; exits
    /// non-zero if any seed fails.
    ///
    /// Example: palisade sim --seeds 20 --validators 7 --byzantine mixed
    Sim {
        /// The first seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many seeds (seed, seed+1, …).
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// Genesis validators.
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// What the last validator does: none, or one of forge, tamper, equivocate,
        /// withhold, flood, lie, mixed; `cycle` takes each in turn, seed by seed.
        #[arg(long, default_value = "cycle")]
        byzantine: String,
        /// Simulated seconds with faults.
        #[arg(long, default_value_t = 40)]
        chaos: u64,
        /// Simulated seconds without faults after them (liveness is judged at the end:
        /// keep it above the 30 s longest timeout).
        #[arg(long, default_value_t = 35)]
        quiet: u64,
        /// No partitions, crashes, skew or loss bursts.
        #[arg(long)]
        no_faults: bool,
        /// Plant a bug to see the checks catch it: validators crash and come back within
        /// milliseconds with their votes forgotten.
        #[arg(long)]
        amnesia: bool,
        /// Print one JSON object per seed.
        #[arg(long)]
        json: bool,
        /// Log what the nodes do (`RUST_LOG` filter, e.g. `info` or `node=debug`) to stderr.
        #[arg(long, value_name = "FILTER")]
        log: Option<String>,
    },
    /// Keys, balances and signed transactions over JSON-RPC (default: the local testnet).
    ///
    /// Example: palisade wallet --key alice.key.json transfer --to 0x1f… --amount 25 --wait
    Wallet(wallet::WalletArgs),
    /// Mine: search proofs of work on every core and claim the rewards (needs `mine`).
    /// `--bench` measures hashes/s instead.
    ///
    /// Example: palisade miner --key ./testnet/keys/account-1.json
    Miner(miner_cmd::MinerArgs),
    /// Run the ledger end to end on a dev chain: genesis, signed transfer blocks executed,
    /// committed to RocksDB and proven. State is kept in --home between runs.
    ///
    /// Example: palisade demo --home ./demo --blocks 20 --txs 2000
    Demo(demo::DemoArgs),
    /// Measure what a large state costs: building the account tree, the start-up rebuild
    /// from RocksDB, writing a snapshot (and its size), and restoring it as a joining node
    /// does; real RocksDB and files in --dir (removed after).
    ///
    /// Example: palisade bench-state --accounts 100000,1000000
    BenchState {
        /// State sizes to measure, in accounts.
        #[arg(long, value_delimiter = ',', default_values_t = [100_000u64, 1_000_000])]
        accounts: Vec<u64>,
        /// Scratch directory.
        #[arg(long, default_value = "/tmp/palisade-bench-state")]
        dir: PathBuf,
        /// Accounts per snapshot chunk.
        #[arg(long, default_value_t = ledger::snapshot::DEFAULT_CHUNK_ACCOUNTS)]
        chunk_accounts: usize,
        /// Start-ups measured per size (the median is reported).
        #[arg(long, default_value_t = 3)]
        restarts: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
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
        /// First validator's TCP port on 127.0.0.1 (validator i listens on BASE+i); with
        /// `--hosts`, the port every validator listens on at its own address.
        #[arg(long, default_value_t = 26656)]
        base_port: u16,
        /// Validators on separate hosts: validator i's IP address is the i-th of this
        /// comma-separated list (one per validator), e.g. `--hosts 10.0.0.1,10.0.0.2,…`.
        #[arg(long, value_delimiter = ',', value_name = "IP,IP,…")]
        hosts: Vec<std::net::IpAddr>,
        /// Chain name.
        #[arg(long, default_value = "palisade-devnet")]
        chain_name: String,
        /// Override a genesis.json field, `section.key=value` (repeatable), e.g.
        /// `--set mining.claim_expiry=20 --set mining.reward=100`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Start a genesis.json with no validators and no accounts (add them next).
    ///
    /// Example: palisade genesis new --out ./genesis.json --chain-name mychain
    New {
        /// The file to write (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Chain name.
        #[arg(long)]
        chain_name: String,
    },
    /// Add a validator to a genesis.json.
    ///
    /// Example: palisade genesis add-validator --genesis ./genesis.json --key 0xab.. --address /ip4/10.0.0.1/tcp/26656
    AddValidator {
        /// The genesis file (edited in place).
        #[arg(long)]
        genesis: PathBuf,
        /// The validator's public key (0x hex), e.g. from `palisade keys show`.
        #[arg(long)]
        key: String,
        /// Voting power.
        #[arg(long, default_value_t = 1)]
        power: u64,
        /// Its libp2p address.
        #[arg(long)]
        address: String,
    },
    /// Add a prefunded account to a genesis.json.
    ///
    /// Example: palisade genesis add-account --genesis ./genesis.json --key 0xab.. --balance 1000 --roles admin,transact
    AddAccount {
        /// The genesis file (edited in place).
        #[arg(long)]
        genesis: PathBuf,
        /// The account's public key (0x hex).
        #[arg(long)]
        key: String,
        /// Balance (decimal).
        #[arg(long, default_value = "0")]
        balance: String,
        /// Roles, comma-separated: admin, transact, mine.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
    },
    /// Change genesis.json fields in place, `section.key=value` (repeatable), e.g. the
    /// epoch length or a timeout every validator must agree on.
    ///
    /// Example: palisade genesis set --genesis ./genesis.json consensus.epoch_length=1000
    Set {
        /// The genesis file (edited in place).
        #[arg(long)]
        genesis: PathBuf,
        /// `section.key=value` settings.
        #[arg(required = true, value_name = "KEY=VALUE")]
        set: Vec<String>,
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
    // No transparent huge pages for this process (and the nodes it starts, which inherit
    // the flag): mimalloc asks for them, and the kernel then zeroes 2 MiB at each first
    // touch while a node's memory grows. With them, the first seconds of a 25,000 tx/s load
    // built a queue that took 10-20 s to drain (the admission thread spent most of its time
    // clearing pages); without, the first second's p50 is ~250 ms, and at 20,000 tx/s the
    // nodes use ~3% less CPU and ~25% less memory (BENCHMARKS.md).
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
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
            hosts,
            chain_name,
            set,
        }) => write_dev_genesis(
            &out,
            &chain_name,
            (validators, accounts),
            base_port,
            &hosts,
            &set,
        ),
        Command::Genesis(GenesisCommand::New { out, chain_name }) => {
            init::genesis_new(&out, &chain_name)
        }
        Command::Genesis(GenesisCommand::AddValidator {
            genesis,
            key,
            power,
            address,
        }) => init::genesis_add_validator(&genesis, &key, power, &address),
        Command::Genesis(GenesisCommand::Set { genesis, set }) => {
            let text = std::fs::read_to_string(&genesis)
                .with_context(|| format!("reading {}", genesis.display()))?;
            let doc = override_genesis(&genesis::GenesisDoc::from_json(&text)?, &set)?;
            genesis::durable::replace(&genesis, doc.to_json().as_bytes(), 0o644)
                .with_context(|| format!("writing {}", genesis.display()))?;
            println!("updated {}: {}", genesis.display(), set.join(", "));
            Ok(())
        }
        Command::Genesis(GenesisCommand::AddAccount {
            genesis,
            key,
            balance,
            roles,
        }) => init::genesis_add_account(&genesis, &key, &balance, &roles),
        Command::Init(args) => init::run(args),
        Command::Run { home } => init::run_node(home),
        Command::Testnet {
            validators,
            accounts,
            home,
            reset,
            base_port,
            set,
            genesis_set,
        } => {
            let binary = std::env::current_exe().context("locating the palisade binary")?;
            let mut opts = testnet::TestnetOptions::new(binary, home);
            opts.validators = validators;
            opts.accounts = accounts;
            opts.reset = reset;
            opts.base_port = base_port;
            opts.config = set;
            opts.genesis = genesis_set;
            tokio::runtime::Runtime::new()?.block_on(testnet::status::run_interactive(opts))
        }
        Command::Sim {
            seed,
            seeds,
            validators,
            byzantine,
            chaos,
            quiet,
            no_faults,
            amnesia,
            json,
            log,
        } => {
            if let Some(filter) = log {
                tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                    .with_ansi(false)
                    .with_writer(std::io::stderr)
                    .init();
            }
            sim_command(
                seed, seeds, validators, &byzantine, chaos, quiet, no_faults, amnesia, json,
            )
        }
        Command::Adversary {
            list,
            campaign,
            duration,
            rate,
            senders,
            home,
            base_port,
            json,
        } => {
            use node::adversary::{Campaign, Options, run};
            if list {
                for c in Campaign::ALL {
                    println!("{:18} {}", c.name(), c.about());
                }
                return Ok(());
            }
            let name = campaign.unwrap_or_default();
            let Some(campaign) = Campaign::parse(&name) else {
                let names: Vec<&str> = Campaign::ALL.iter().map(|c| c.name()).collect();
                bail!("no campaign {name:?}; the campaigns: {}", names.join(", "));
            };
            let log_path = PathBuf::from(format!("{}.log", home.display()));
            if let Some(dir) = log_path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let log = std::fs::File::create(&log_path)
                .with_context(|| format!("creating {}", log_path.display()))?;
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(log))
                .init();
            let binary = std::env::current_exe().context("locating the palisade binary")?;
            let opts = Options {
                campaign,
                duration_s: duration,
                rate,
                senders,
                home,
                base_port,
                binary,
            };
            let report = tokio::runtime::Runtime::new()?.block_on(run(opts))?;
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.table());
            }
            if !report.ok() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Nemesis {
            list,
            seed,
            duration,
            hold,
            rate,
            faults,
            work,
            compose_file,
            image,
            subnet,
            port_base,
            keep,
            json,
        } => {
            use node::nemesis::{Fault, Options, run};
            if list {
                for f in Fault::ALL {
                    println!("{:17} {}", f.name(), f.about());
                }
                return Ok(());
            }
            let faults = faults
                .iter()
                .map(|name| {
                    Fault::parse(name).with_context(|| {
                        let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                        format!("no fault {name:?}; the faults: {}", names.join(", "))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let opts = Options {
                seed,
                duration_s: duration,
                hold_s: hold,
                rate,
                faults,
                work,
                compose_file,
                image,
                subnet,
                port_base,
                keep,
            };
            let report = tokio::runtime::Runtime::new()?.block_on(run(opts))?;
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.table());
            }
            if !report.ok() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Bench {
            validators,
            rate,
            duration,
            senders,
            batch,
            sweep,
            kill_at,
            restart_at,
            rpc,
            fresh_recipients,
            home,
            base_port,
            set,
            json,
        } => {
            let target = if rpc.is_empty() {
                let binary = std::env::current_exe().context("locating the palisade binary")?;
                let mut t = testnet::TestnetOptions::new(binary, home);
                t.validators = validators;
                t.base_port = base_port;
                t.reset = true;
                t.config = set;
                testnet::bench::Target::Local(t)
            } else {
                testnet::bench::Target::Endpoints(rpc)
            };
            let opts = testnet::bench::BenchOptions {
                target,
                rate,
                duration_s: duration,
                senders,
                batch,
                kill_at_s: kill_at,
                restart_at_s: restart_at,
                fresh_recipients,
            };
            let rt = tokio::runtime::Runtime::new()?;
            if sweep {
                let report = rt.block_on(testnet::bench::sweep(opts))?;
                if json {
                    println!("{}", report.to_json());
                } else {
                    println!("{}", report.table());
                }
            } else {
                let report = rt.block_on(testnet::bench::run(opts))?;
                if json {
                    println!("{}", report.to_json());
                } else {
                    println!("{}", report.table());
                }
            }
            Ok(())
        }
        Command::Genesis(GenesisCommand::Validate { file }) => {
            let g = Genesis::load(&file)?;
            println!("{}: valid", file.display());
            println!("chain name: {}", g.chain_name);
            println!("chain id:   {}", g.hash());
            // a light client's trust anchor (docs/light-client.md)
            println!("genesis hash (block 0): {}", g.genesis_block().id());
            println!("epoch length: {}", g.consensus.epoch_length);
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
        Command::BenchState {
            accounts,
            dir,
            chunk_accounts,
            restarts,
            json,
        } => {
            let mut out = Vec::new();
            for n in accounts {
                let r = bench_state::run(n, &dir, chunk_accounts, restarts)?;
                if !json {
                    println!(
                        "{} accounts: tree build {:.2} s, store write {:.2} s, start-up {:.2} s (median of {}), snapshot {:.2} s / {:.1} MB / {} chunks, restore {:.2} s",
                        r.accounts,
                        r.tree_build_s,
                        r.store_write_s,
                        r.startup_s,
                        r.restarts,
                        r.snapshot_write_s,
                        r.snapshot_bytes as f64 / 1e6,
                        r.snapshot_chunks,
                        r.restore_s
                    );
                }
                out.push(r);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
            Ok(())
        }
        Command::Wallet(args) => wallet::run(args),
        Command::Miner(args) => miner_cmd::run(args),
    }
}

/// Genesis time for dev chains: fixed, so every dev chain with the same shape has the same id.
pub const DEV_GENESIS_TIME_MS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn write_dev_genesis(
    out: &std::path::Path,
    name: &str,
    (validators, accounts): (u32, u32),
    base_port: u16,
    hosts: &[std::net::IpAddr],
    overrides: &[String],
) -> Result<()> {
    if !hosts.is_empty() && hosts.len() != validators as usize {
        bail!(
            "--hosts names {} addresses for {validators} validators: give one per validator",
            hosts.len()
        );
    }
    if validators == 0 {
        bail!("--validators must be at least 1");
    }
    if accounts == 0 {
        bail!("--accounts must be at least 1 (account 0 is the admin)");
    }
    let mut g = dev_genesis(name, validators, accounts, base_port, DEV_GENESIS_TIME_MS);
    for (v, ip) in g.validators.iter_mut().zip(hosts) {
        v.address = match ip {
            std::net::IpAddr::V4(a) => format!("/ip4/{a}/tcp/{base_port}"),
            std::net::IpAddr::V6(a) => format!("/ip6/{a}/tcp/{base_port}"),
        };
    }
    let g = override_genesis(&g.to_doc(), overrides)?
        .validate()
        .context("dev genesis failed validation")?;
    std::fs::create_dir_all(out.join("keys"))
        .with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("genesis.json");
    if path.exists() {
        bail!("{} already exists; refusing to overwrite", path.display());
    }
    genesis::durable::replace(&path, g.to_doc().to_json().as_bytes(), 0o644)
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

/// Apply `section.key=value` overrides to a genesis document (text for string fields, JSON
/// for the others); an unknown field is an error.
fn override_genesis(
    doc: &genesis::GenesisDoc,
    overrides: &[String],
) -> Result<genesis::GenesisDoc> {
    let mut v = serde_json::to_value(doc)?;
    for o in overrides {
        let (path, value) = o
            .split_once('=')
            .with_context(|| format!("--set {o:?}: expected section.key=value"))?;
        let mut at = &mut v;
        for part in path.split('.') {
            at = at
                .get_mut(part)
                .with_context(|| format!("--set {o:?}: genesis has no field {path:?}"))?;
        }
        // a string field (amounts, hex) takes the text as is; others take JSON
        *at = if at.is_string() {
            serde_json::Value::String(value.trim_matches('"').to_owned())
        } else {
            serde_json::from_str(value)
                .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()))
        };
    }
    serde_json::from_value(v).context("genesis overrides")
}

/// Print the dev accounts with their secrets, and the warning that they are public.
pub fn print_dev_accounts(accounts: u32) {
    println!("{}", genesis::dev::dev_accounts_table(accounts));
}

/// The wall clock in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    node::clock::now_ms()
}

/// `palisade sim`.
#[allow(clippy::too_many_arguments)]
fn sim_command(
    first: u64,
    seeds: u64,
    validators: usize,
    byzantine: &str,
    chaos: u64,
    quiet: u64,
    no_faults: bool,
    amnesia: bool,
    json: bool,
) -> Result<()> {
    use node::sim::{Behaviour, SimConfig, replay_command, run};
    if validators < 1 {
        bail!("--validators must be at least 1");
    }
    let cycle = byzantine == "cycle";
    let fixed = match byzantine {
        "none" | "cycle" => None,
        name => Some(Behaviour::parse(name).ok_or_else(|| {
            let names: Vec<&str> = Behaviour::ALL.iter().map(|(n, _)| *n).collect();
            anyhow::anyhow!(
                "no behaviour {name:?}; use none, cycle or one of {}",
                names.join(", ")
            )
        })?),
    };
    let started = std::time::Instant::now();
    let (mut failed, mut blocks, mut faults, mut sim_ms) = (0u64, 0u64, 0usize, 0u64);
    for seed in first..first.saturating_add(seeds) {
        let behaviour = if cycle {
            Some(Behaviour::ALL[(seed % Behaviour::ALL.len() as u64) as usize].1)
        } else {
            fixed
        };
        let cfg = SimConfig {
            chaos_ms: chaos * 1000,
            quiet_ms: quiet * 1000,
            faults: !no_faults,
            amnesia,
            ..SimConfig::standard(validators, behaviour.filter(|_| validators >= 4))
        };
        let r = run(&cfg, seed);
        blocks += r.blocks;
        faults += r.faults.len();
        sim_ms += r.sim_ms;
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "seed": r.seed,
                    "validators": validators,
                    "byzantine": cfg.byzantine.map_or("none", Behaviour::name),
                    "digest": r.digest.to_hex(),
                    "heights": r.heights,
                    "blocks": r.blocks,
                    "txs": r.txs,
                    "epochs": r.epochs,
                    "reproposed": r.reproposed,
                    "votes": r.votes,
                    "faults": r.faults,
                    "events": r.events,
                    "sim_ms": r.sim_ms,
                    "wall_ms": r.wall_ms,
                    "penalties_of_attacker": r.penalties.0,
                    "penalties_of_honest": r.penalties.1,
                    "violations": r.violations,
                })
            );
        } else {
            println!(
                "seed {:>6}  {:10}  blocks {:>4}  txs {:>5}  epochs {:>2} (re-proposed {})  joiner's votes {:>4}  faults {:>2}  {:>6} ms wall  {}",
                r.seed,
                cfg.byzantine.map_or("none", Behaviour::name),
                r.blocks,
                r.txs,
                r.epochs,
                r.reproposed,
                r.votes.last().copied().unwrap_or(0),
                r.faults.len(),
                r.wall_ms,
                if r.violations.is_empty() {
                    "ok"
                } else {
                    "FAILED"
                }
            );
        }
        if !r.violations.is_empty() {
            failed += 1;
            for v in &r.violations {
                eprintln!("  seed {seed}: {v}");
            }
            eprintln!("  replay: {}", replay_command(&cfg, seed));
        }
    }
    let wall = started.elapsed().as_secs_f64();
    if !json {
        println!(
            "{seeds} seeds, {failed} failed; {blocks} simulated blocks, {faults} faults; \
             {:.0} seeds/hour; simulated/wall time {:.1}×",
            seeds as f64 * 3600.0 / wall.max(1e-9),
            sim_ms as f64 / 1000.0 / wall.max(1e-9)
        );
    }
    if failed > 0 {
        bail!("{failed} of {seeds} seeds broke an invariant");
    }
    Ok(())
}
