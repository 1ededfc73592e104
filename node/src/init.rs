//! `palisade init`, `palisade run` and the genesis editing commands.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use genesis::doc::{GenesisAccount, GenesisValidator};
use genesis::{GenesisDoc, read_key_file, write_key_file};
use ledger::{Keypair, PublicKey};
use node::config::{Config, LogFormat};

/// Arguments of `palisade init`.
#[derive(clap::Args)]
pub(crate) struct InitArgs {
    /// The node's home directory (created).
    #[arg(long)]
    home: PathBuf,
    /// A genesis.json to copy into the home.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// Use this key file instead of generating one (copied into the home).
    #[arg(long)]
    key: Option<PathBuf>,
    /// A config setting, `section.key=value` (repeatable), e.g. `--set p2p.listen=/ip4/0.0.0.0/tcp/26656`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Join by state sync: restore the newest snapshot peers serve (verified from genesis,
    /// or from `--set state_sync.trust_height=H --set state_sync.trust_hash=0x..`), then
    /// sync blocks from there (`state_sync.enabled = true`).
    #[arg(long)]
    state_sync: bool,
}

/// Apply `section.key=value` settings to a config (values parsed as TOML where they
/// parse, strings otherwise), and check the result against the schema.
pub(crate) fn apply_settings(cfg: &Config, settings: &[String]) -> Result<Config> {
    let mut table: toml::Table = toml::from_str(&toml::to_string(cfg)?)?;
    for s in settings {
        let (path, value) = s
            .split_once('=')
            .with_context(|| format!("--set {s:?}: expected section.key=value"))?;
        let (section, key) = path
            .split_once('.')
            .with_context(|| format!("--set {s:?}: expected section.key=value"))?;
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|t| t.get("v").cloned())
            .unwrap_or_else(|| toml::Value::String(value.to_owned()));
        let sec = table
            .entry(section.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(sec) = sec else {
            bail!("--set {s:?}: {section} is not a section");
        };
        sec.insert(key.to_owned(), value);
    }
    toml::from_str(&toml::to_string(&table)?).context("invalid --set")
}

pub(crate) fn run(args: InitArgs) -> Result<()> {
    let home = &args.home;
    std::fs::create_dir_all(home).with_context(|| format!("creating {}", home.display()))?;
    let cfg_path = home.join("config.toml");
    if cfg_path.exists() {
        bail!(
            "{} already exists; refusing to overwrite",
            cfg_path.display()
        );
    }
    let mut cfg = apply_settings(&Config::default(), &args.set)?;
    if args.state_sync {
        cfg.state_sync.enabled = true;
    }
    let key_path = Config::path(home, &cfg.node.key_file);
    let key = if key_path.exists() {
        read_key_file(&key_path)?
    } else if let Some(src) = &args.key {
        let key = read_key_file(src)?;
        let insecure = std::fs::read_to_string(src)?.contains("\"insecure\": true");
        write_key_file(&key_path, &key, insecure)?;
        key
    } else {
        let key = Keypair::generate().context("reading the OS random source")?;
        write_key_file(&key_path, &key, false)?;
        key
    };
    if let Some(g) = &args.genesis {
        let dst = Config::path(home, &cfg.node.genesis_file);
        let g = genesis::Genesis::load(g)?;
        genesis::durable::replace(&dst, g.to_doc().to_json().as_bytes(), 0o644)
            .with_context(|| format!("writing {}", dst.display()))?;
    }
    genesis::durable::replace(&cfg_path, cfg.to_toml()?.as_bytes(), 0o644)
        .with_context(|| format!("writing {}", cfg_path.display()))?;
    let peer = node::p2p::peer_id_of(&key.public()).context("key is not ed25519")?;
    println!("initialized {}", home.display());
    println!("public key: {}", key.public());
    println!("peer id:    {peer}");
    println!("p2p:        {}/p2p/{peer}", cfg.p2p.listen);
    if args.genesis.is_none() {
        println!("next: put the chain's genesis.json in {}", home.display());
    }
    Ok(())
}

pub(crate) fn run_node(home: PathBuf) -> Result<()> {
    let cfg = Config::load(&home)?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cfg.log.filter))
        .context("log.filter")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Plain => builder.with_ansi(false).init(),
    }
    if cfg.mempool.gossip_interval_ms.is_some() {
        tracing::warn!(
            "config: mempool.gossip_interval_ms is no longer used (transactions are gossiped as they are admitted); remove it"
        );
    }
    // signature checks run on rayon's pool; named threads make profiles readable
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("verify-{i}"))
        .build_global()
    {
        tracing::warn!("rayon pool: {e}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(node::runtime::run(home, cfg))?;
    Ok(())
}

fn load_doc(path: &Path) -> Result<GenesisDoc> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(GenesisDoc::from_json(&text)?)
}

fn save_doc(path: &Path, doc: &GenesisDoc) -> Result<()> {
    genesis::durable::replace(path, doc.to_json().as_bytes(), 0o644)
        .with_context(|| format!("writing {}", path.display()))
}

pub(crate) fn genesis_new(out: &Path, chain_name: &str) -> Result<()> {
    if out.exists() {
        bail!("{} already exists; refusing to overwrite", out.display());
    }
    // default consensus and mining parameters, no validators or accounts yet
    let mut doc = genesis::dev_genesis(chain_name, 1, 1, 26656, crate::now_ms()).to_doc();
    doc.validators.clear();
    doc.accounts.clear();
    doc.admins.clear();
    save_doc(out, &doc)?;
    println!(
        "wrote {}; add validators and accounts, then `palisade genesis validate`",
        out.display()
    );
    Ok(())
}

pub(crate) fn genesis_add_validator(
    path: &Path,
    key: &str,
    power: u64,
    address: &str,
) -> Result<()> {
    let key = PublicKey::from_hex(key).context("--key")?;
    let mut doc = load_doc(path)?;
    if doc.validators.iter().any(|v| v.public_key == key.to_hex()) {
        bail!("{key} is already a validator");
    }
    doc.validators.push(GenesisValidator {
        public_key: key.to_hex(),
        power,
        address: address.to_owned(),
    });
    save_doc(path, &doc)?;
    println!("added validator {key} (power {power}, {address})");
    Ok(())
}

pub(crate) fn genesis_add_account(
    path: &Path,
    key: &str,
    balance: &str,
    roles: &[String],
) -> Result<()> {
    let key = PublicKey::from_hex(key).context("--key")?;
    balance
        .parse::<u128>()
        .with_context(|| format!("--balance {balance:?} is not a decimal amount"))?;
    for r in roles {
        if ledger::Role::from_name(r).is_none() {
            bail!("unknown role {r:?} (roles: admin, transact, mine)");
        }
    }
    let mut doc = load_doc(path)?;
    if doc.accounts.iter().any(|a| a.public_key == key.to_hex()) {
        bail!("{key} already has an account");
    }
    doc.accounts.push(GenesisAccount {
        public_key: key.to_hex(),
        balance: balance.to_owned(),
        roles: roles.to_vec(),
    });
    save_doc(path, &doc)?;
    println!("added account {key} (balance {balance})");
    Ok(())
}
