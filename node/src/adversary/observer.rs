//! The hostile observers of `observer-flood`: fresh keys (more than one address may hold),
//! real libp2p connections to every validator, and while the attack is on, every 100 ms:
//! a batch of 2,000 transactions with junk signatures (from funded, idle accounts, with
//! nonces in their window: only the signature check can refuse them), a `GetBlocks` of 256 blocks from
//! height 1, and a status claiming a finalized height a trillion blocks ahead. Two of them
//! never read what the validators send them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use ledger::{Hash, Keypair, PublicKey, Signature, SignedTransaction, Transaction, TxKind};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

use super::attack::Junk;
use crate::p2p::{self, Command};
use crate::wire::Request;

/// How many hostile observers connect (the per-address cap lets some of them in).
pub const OBSERVERS: usize = 6;
/// Funded accounts the junk transactions claim to come from.
pub const JUNK_SENDERS: u32 = 2;

/// Start the observers against `validators` (listen address and public key); they act
/// while `active` is on, and stop when the returned handles are dropped... or the process
/// ends.
pub fn start(
    validators: &[(String, PublicKey)],
    chain_id: Hash,
    senders: &[PublicKey],
    active: Arc<AtomicBool>,
) -> Result<Vec<mpsc::Sender<Command>>> {
    anyhow::ensure!(!senders.is_empty(), "no accounts for the junk transactions");
    let mut targets: Vec<(PeerId, Multiaddr)> = Vec::new();
    for (addr, key) in validators {
        let peer = p2p::peer_id_of(key).context("validator key")?;
        let a: Multiaddr = format!("{addr}/p2p/{peer}").parse()?;
        targets.push((peer, a));
    }
    let mut junk = Junk::new(0x0b5e_1e55);
    let batch: Vec<SignedTransaction> = (0..2_000u64)
        .map(|i| {
            let n = senders.len() as u64;
            let tx = Transaction {
                chain_id,
                sender: senders[(i % n) as usize],
                nonce: i / n,
                expiry_height: u64::MAX,
                kind: TxKind::Transfer {
                    to: PublicKey(junk.hash().0),
                    amount: 1,
                },
            };
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&junk.hash().0);
            sig[32..].copy_from_slice(&junk.hash().0);
            SignedTransaction::new(tx, Signature(sig))
        })
        .collect();
    let gossip = Request::Txs(batch).encode();
    let sync = Request::GetBlocks { from: 1, max: 256 }.encode();
    let lie = Request::Status {
        finalized_height: 1 << 40,
    }
    .encode();
    let mut handles = Vec::new();
    for k in 0..OBSERVERS {
        let key = Keypair::from_secret(junk.hash().0);
        let (cmd, _queues) = p2p::spawn(
            p2p::P2pConfig {
                secret: key.secret(),
                listen: "/ip4/127.0.0.1/tcp/0".parse()?,
                peers: targets.iter().map(|(_, a)| a.clone()).collect(),
                allow_observers: true,
                max_observers: 0,
                max_observers_per_ip: 0,
                ban_score: i64::MIN,
                ban: Duration::from_secs(1),
                never_read: k < 2,
            },
            crate::metrics::Metrics::new(),
            Arc::default(),
        )?;
        let to: Vec<PeerId> = targets.iter().map(|(p, _)| *p).collect();
        let (gossip, sync, lie) = (gossip.clone(), sync.clone(), lie.clone());
        let active = active.clone();
        let net = cmd.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                if net.is_closed() {
                    return;
                }
                if !active.load(Ordering::Relaxed) {
                    continue;
                }
                let _ = net.try_send(Command::Broadcast {
                    to: to.clone(),
                    bytes: gossip.clone(),
                });
                let _ = net.try_send(Command::Broadcast {
                    to: to.clone(),
                    bytes: lie.clone(),
                });
                for p in &to {
                    let (reply, _) = tokio::sync::oneshot::channel();
                    let _ = net.try_send(Command::Request {
                        to: *p,
                        bytes: sync.clone(),
                        reply,
                    });
                }
            }
        });
        handles.push(cmd);
    }
    Ok(handles)
}
