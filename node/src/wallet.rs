//! `palisade wallet`: keys, balances and signed transactions over JSON-RPC, for a person at
//! a terminal. Every command is one RPC round trip or a short WebSocket session; errors are
//! one line (`insufficient balance: have 10, need 25`) and a non-zero exit code.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use genesis::{read_key_file, write_key_file};
use jsonrpsee::core::client::Error as ClientError;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use ledger::{Encode, Hash, Keypair, PublicKey, Role, Transaction, TxKind};
use rpc::{AccountApiClient, ChainApiClient, HeaderInfo, TxApiClient, TxState, TxStatus};

/// Options every wallet command takes.
#[derive(Args)]
pub(crate) struct WalletArgs {
    /// The node's JSON-RPC URL (HTTP; WebSocket uses the same host and port).
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:26756",
        env = "PALISADE_RPC"
    )]
    rpc: String,
    /// The key file that signs (and whose account `balance`/`nonce` show by default).
    #[arg(long, global = true, env = "PALISADE_KEY")]
    key: Option<PathBuf>,
    #[command(subcommand)]
    command: WalletCommand,
}

/// Options of commands that send a transaction.
#[derive(Args, Clone, Copy)]
pub(crate) struct SendOpts {
    /// Follow the transaction to finality over WebSocket and print its block.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Blocks from now after which the transaction expires.
    #[arg(long, default_value_t = 1000)]
    expiry_blocks: u64,
}

#[derive(Subcommand)]
enum WalletCommand {
    /// Create a new key file (mode 0600, never overwrites) and print its address.
    ///
    /// Example: palisade wallet keygen --out alice.key.json
    Keygen {
        /// Where to write the key file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the address (public key) of --key.
    ///
    /// Example: palisade wallet --key alice.key.json address
    Address,
    /// Print an account's balance (default: the --key account).
    ///
    /// Example: palisade wallet balance 0x1f…
    Balance {
        /// The account, 0x hex.
        address: Option<String>,
    },
    /// Print the nonce an account's next transaction must carry.
    Nonce {
        /// The account, 0x hex.
        address: Option<String>,
    },
    /// Send coins.
    ///
    /// Example: palisade wallet --key alice.key.json transfer --to 0x1f… --amount 25 --wait
    Transfer {
        /// Recipient, 0x hex.
        #[arg(long)]
        to: String,
        /// Amount (integer).
        #[arg(long)]
        amount: u128,
        #[command(flatten)]
        opts: SendOpts,
    },
    /// Create coins (admin).
    Mint {
        /// Recipient, 0x hex.
        #[arg(long)]
        to: String,
        /// Amount.
        #[arg(long)]
        amount: u128,
        #[command(flatten)]
        opts: SendOpts,
    },
    /// Destroy coins of the --key account.
    Burn {
        /// Amount.
        #[arg(long)]
        amount: u128,
        #[command(flatten)]
        opts: SendOpts,
    },
    /// Grant a role (admin): admin, transact or mine.
    GrantRole {
        /// The account, 0x hex.
        #[arg(long)]
        account: String,
        /// The role.
        #[arg(long)]
        role: String,
        #[command(flatten)]
        opts: SendOpts,
    },
    /// Revoke a role (admin).
    RevokeRole {
        /// The account, 0x hex.
        #[arg(long)]
        account: String,
        /// The role.
        #[arg(long)]
        role: String,
        #[command(flatten)]
        opts: SendOpts,
    },
    /// Add a validator (admin); it joins at the next epoch boundary (docs/deploy.md).
    ///
    /// Example: palisade wallet --key admin.key.json add-validator --validator 0x1f… --power 1 --address /ip4/10.0.0.5/tcp/26656 --wait
    AddValidator {
        /// The validator's public key (`palisade keys show`), 0x hex.
        #[arg(long)]
        validator: String,
        /// Voting power.
        #[arg(long, default_value_t = 1)]
        power: u64,
        /// Where peers reach it, a libp2p multiaddr (/ip4/…/tcp/…).
        #[arg(long)]
        address: String,
        #[command(flatten)]
        opts: SendOpts,
    },
    /// Remove a validator (admin); it leaves at the next epoch boundary.
    ///
    /// Example: palisade wallet --key admin.key.json remove-validator --validator 0x1f… --wait
    RemoveValidator {
        /// The validator's public key, 0x hex.
        #[arg(long)]
        validator: String,
        #[command(flatten)]
        opts: SendOpts,
    },
    /// Print a transaction's status.
    ///
    /// Example: palisade wallet status 0x9a…
    Status {
        /// The transaction hash.
        hash: String,
    },
    /// Print every new finalized block until Ctrl-C (`--heads`: every executed block).
    Watch {
        /// Follow executed blocks before finality too.
        #[arg(long)]
        heads: bool,
        /// Stop after this many blocks.
        #[arg(long)]
        count: Option<u64>,
    },
}

/// Run a wallet command.
pub(crate) fn run(args: WalletArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

fn http(url: &str) -> Result<HttpClient> {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(30))
        .build(url)
        .with_context(|| format!("RPC URL {url}"))
}

async fn ws(url: &str) -> Result<WsClient> {
    let url = rpc::ws_url(url);
    WsClientBuilder::default()
        .build(&url)
        .await
        .map_err(|e| anyhow!("cannot connect to {url}: {}", one_line(&e)))
}

/// One clear line for an RPC error: the server's reason with its numbers where it has them.
fn one_line(e: &ClientError) -> String {
    let ClientError::Call(obj) = e else {
        return match e {
            ClientError::Transport(t) => format!("cannot reach the node: {t}"),
            other => other.to_string(),
        };
    };
    let data: serde_json::Value = obj
        .data()
        .and_then(|d| serde_json::from_str(d.get()).ok())
        .unwrap_or_default();
    let s = |k: &str| match &data[k] {
        serde_json::Value::String(v) => v.clone(),
        v => v.to_string(),
    };
    match data["reason"].as_str() {
        Some("insufficient_balance") => {
            format!(
                "insufficient balance: have {}, need {}",
                s("have"),
                s("need")
            )
        }
        Some("nonce_too_low") => format!(
            "nonce too low: the account's next nonce is {}, got {}",
            s("expected"),
            s("got")
        ),
        Some("nonce_too_high") => format!(
            "nonce too high: the account's next nonce is {}, got {}",
            s("expected"),
            s("got")
        ),
        Some("missing_role") => format!("the sender lacks the `{}` role", s("role")),
        Some("wrong_chain") => format!("wrong chain: this node serves chain {}", s("expected")),
        Some("expired") => format!(
            "expired: expiry height {} is below the next height {}",
            s("expiryHeight"),
            s("height")
        ),
        Some(reason) => format!("{} ({reason})", obj.message()),
        None => obj.message().to_owned(),
    }
}

fn rpc_err(e: ClientError) -> anyhow::Error {
    anyhow!(one_line(&e))
}

fn key_of(args: &WalletArgs) -> Result<Keypair> {
    let path = args
        .key
        .as_ref()
        .ok_or_else(|| anyhow!("this command signs: pass --key FILE (or set PALISADE_KEY)"))?;
    Ok(read_key_file(path)?)
}

fn address_or_key(args: &WalletArgs, address: &Option<String>) -> Result<PublicKey> {
    match address {
        Some(a) => parse_key(a),
        None => Ok(key_of(args)?.public()),
    }
}

fn parse_key(s: &str) -> Result<PublicKey> {
    PublicKey::from_hex(s).map_err(|e| anyhow!("invalid address {s:?}: {e}"))
}

fn parse_role(s: &str) -> Result<Role> {
    Role::from_name(s).ok_or_else(|| anyhow!("unknown role {s:?}: use admin, transact or mine"))
}

async fn run_async(args: WalletArgs) -> Result<()> {
    let client = || http(&args.rpc);
    match &args.command {
        WalletCommand::Keygen { out } => {
            let key = Keypair::generate().context("reading the OS random source")?;
            write_key_file(out, &key, false)?;
            println!("{}", key.public());
        }
        WalletCommand::Address => println!("{}", key_of(&args)?.public()),
        WalletCommand::Balance { address } => {
            let who = address_or_key(&args, address)?;
            let b = client()?.balance(who.to_hex()).await.map_err(rpc_err)?;
            println!("{b}");
        }
        WalletCommand::Nonce { address } => {
            let who = address_or_key(&args, address)?;
            let n = client()?.nonce(who.to_hex()).await.map_err(rpc_err)?;
            println!("{n}");
        }
        WalletCommand::Transfer { to, amount, opts } => {
            let kind = TxKind::Transfer {
                to: parse_key(to)?,
                amount: *amount,
            };
            send(&args, kind, *opts).await?;
        }
        WalletCommand::Mint { to, amount, opts } => {
            let kind = TxKind::Mint {
                to: parse_key(to)?,
                amount: *amount,
            };
            send(&args, kind, *opts).await?;
        }
        WalletCommand::AddValidator {
            validator,
            power,
            address,
            opts,
        } => {
            let kind = TxKind::AddValidator {
                key: parse_key(validator)?,
                power: *power,
                address: address.clone(),
            };
            send(&args, kind, *opts).await?;
        }
        WalletCommand::RemoveValidator { validator, opts } => {
            let kind = TxKind::RemoveValidator {
                key: parse_key(validator)?,
            };
            send(&args, kind, *opts).await?;
        }
        WalletCommand::Burn { amount, opts } => {
            send(&args, TxKind::Burn { amount: *amount }, *opts).await?;
        }
        WalletCommand::GrantRole {
            account,
            role,
            opts,
        }
        | WalletCommand::RevokeRole {
            account,
            role,
            opts,
        } => {
            let granted = matches!(args.command, WalletCommand::GrantRole { .. });
            let kind = TxKind::SetRole {
                account: parse_key(account)?,
                role: parse_role(role)?,
                granted,
            };
            send(&args, kind, *opts).await?;
        }
        WalletCommand::Status { hash } => {
            Hash::from_hex(hash).map_err(|e| anyhow!("invalid hash {hash:?}: {e}"))?;
            let st = client()?
                .get_status(vec![hash.clone()])
                .await
                .map_err(rpc_err)?;
            let st = st
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("the node returned no status"))?;
            println!("{}", describe(&st));
        }
        WalletCommand::Watch { heads, count } => {
            let c = ws(&args.rpc).await?;
            let mut sub = if *heads {
                c.subscribe_new_heads().await
            } else {
                c.subscribe_finalized_heads().await
            }
            .map_err(rpc_err)?;
            let mut seen = 0u64;
            loop {
                let item: Option<Result<HeaderInfo, _>> = tokio::select! {
                    h = sub.next() => h,
                    _ = tokio::signal::ctrl_c() => break,
                };
                match item {
                    Some(Ok(h)) => println!(
                        "height {} hash {} txs {} proposer {}",
                        h.height, h.hash, h.tx_count, h.proposer
                    ),
                    Some(Err(e)) => bail!("subscription: {e}"),
                    None => bail!("the node closed the subscription"),
                }
                seen += 1;
                if count.is_some_and(|c| seen >= c) {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// One line for a status.
fn describe(st: &TxStatus) -> String {
    let at = match (st.height, &st.block_hash, st.index) {
        (Some(h), Some(b), Some(i)) => format!(" in block {h} ({b}) at index {i}"),
        _ => String::new(),
    };
    match st.status {
        TxState::Pending => format!("{} pending", st.hash),
        TxState::Included => format!("{} included{at}", st.hash),
        TxState::Finalized => match st.success {
            Some(false) => format!(
                "{} finalized{at}, failed: {}",
                st.hash,
                st.reason.as_deref().unwrap_or("unknown reason")
            ),
            _ => format!("{} finalized{at}", st.hash),
        },
        TxState::Rejected => format!(
            "{} rejected: {}",
            st.hash,
            st.reason.as_deref().unwrap_or("no reason recorded")
        ),
        TxState::Unknown => format!("{} unknown to this node", st.hash),
    }
}

/// Sign `kind` with the next free nonce and submit it; with `--wait`, follow it.
async fn send(args: &WalletArgs, kind: TxKind, opts: SendOpts) -> Result<()> {
    let key = key_of(args)?;
    let c = http(&args.rpc)?;
    let info = c.chain_info().await.map_err(rpc_err)?;
    let chain_id =
        Hash::from_hex(&info.chain_id).map_err(|e| anyhow!("node sent a bad chain id: {e}"))?;
    let mut nonce = c.nonce(key.public().to_hex()).await.map_err(rpc_err)?;
    let sign = |nonce: u64| {
        let tx = Transaction {
            chain_id,
            sender: key.public(),
            nonce,
            expiry_height: info.finalized_height.saturating_add(opts.expiry_blocks),
            kind: kind.clone(),
        };
        format!("0x{}", hex::encode(tx.sign(&key).encode()))
    };
    if !opts.wait {
        // pending transactions of this sender hold the next nonces: take the first free one
        for _ in 0..1000 {
            match c.submit(sign(nonce)).await {
                Ok(hash) => {
                    println!("{hash}");
                    return Ok(());
                }
                Err(e) if reason(&e) == Some("nonce_taken") => nonce += 1,
                Err(e) => return Err(rpc_err(e)),
            }
        }
        bail!("no free nonce among this sender's next 1000");
    }
    let w = ws(&args.rpc).await?;
    let mut sub = loop {
        match w.submit_and_watch(sign(nonce)).await {
            Ok(s) => break s,
            Err(e) if reason(&e) == Some("nonce_taken") && nonce < u64::MAX => nonce += 1,
            Err(e) => return Err(rpc_err(e)),
        }
    };
    let deadline = tokio::time::sleep(Duration::from_secs(opts.timeout));
    tokio::pin!(deadline);
    loop {
        let next = tokio::select! {
            n = sub.next() => n,
            _ = &mut deadline => bail!("gave up after {} s; the transaction may still finalize", opts.timeout),
        };
        let st: TxStatus = match next {
            Some(Ok(st)) => st,
            Some(Err(e)) => bail!("watching the transaction: {e}"),
            None => bail!("the node closed the subscription before the transaction was final"),
        };
        println!("{}", describe(&st));
        match st.status {
            TxState::Finalized if st.success == Some(false) => bail!(
                "the transaction was finalized but failed: {}",
                st.reason.as_deref().unwrap_or("unknown reason")
            ),
            TxState::Finalized => return Ok(()),
            TxState::Rejected => bail!(
                "the transaction was rejected: {}",
                st.reason.as_deref().unwrap_or("unknown reason")
            ),
            _ => {}
        }
    }
}

fn reason(e: &ClientError) -> Option<&str> {
    let ClientError::Call(obj) = e else {
        return None;
    };
    let d = obj.data()?.get();
    // the reason is a plain string field; find it without allocating a Value per call
    let v: serde_json::Value = serde_json::from_str(d).ok()?;
    match v.get("reason")?.as_str()? {
        "nonce_taken" => Some("nonce_taken"),
        _ => Some("other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonrpsee::types::ErrorObjectOwned;

    fn call_error(data: serde_json::Value) -> ClientError {
        ClientError::Call(ErrorObjectOwned::owned(
            -32020,
            "transaction rejected",
            Some(data),
        ))
    }

    #[test]
    fn errors_read_as_one_clear_line() {
        let e = call_error(
            serde_json::json!({"reason": "insufficient_balance", "have": "10", "need": "25"}),
        );
        assert_eq!(one_line(&e), "insufficient balance: have 10, need 25");
        let e = call_error(serde_json::json!({"reason": "nonce_too_low", "expected": 7, "got": 3}));
        assert_eq!(
            one_line(&e),
            "nonce too low: the account's next nonce is 7, got 3"
        );
        let e = call_error(serde_json::json!({"reason": "bad_signature"}));
        assert_eq!(one_line(&e), "transaction rejected (bad_signature)");
        assert_eq!(
            reason(&call_error(serde_json::json!({"reason": "nonce_taken"}))),
            Some("nonce_taken")
        );
    }

    #[test]
    fn websocket_url_follows_the_http_one() {
        assert_eq!(
            rpc::ws_url("http://127.0.0.1:26756"),
            "ws://127.0.0.1:26756"
        );
        assert_eq!(
            rpc::ws_url("https://node.example:443"),
            "wss://node.example:443"
        );
    }
}
