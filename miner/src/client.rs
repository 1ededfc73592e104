//! The miner's RPC loop: follow finalized heads over WebSocket, fetch work for each new
//! block, hand it to the worker threads, sign and submit a ClaimMiningReward for each
//! solution, report hashrate, print progress, and stop cleanly when told to.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use ledger::mining::{self};
use ledger::{Encode, Hash, Keypair, Transaction, TxKind};
use rpc::{AccountApiClient, ChainApiClient, MiningApiClient, MiningWork, TxApiClient, TxState};

use crate::bench::human_rate;
use crate::lanes::Backend;
use crate::search::{Pool, Solution, Work};

/// How `palisade miner` runs.
#[derive(Debug)]
pub struct MinerConfig {
    /// The node's RPC URL (`http://…` or `ws://…`; WebSocket is used).
    pub rpc: String,
    /// The miner's account key (needs the `mine` role).
    pub key: Keypair,
    /// Worker threads.
    pub threads: usize,
    /// The hashing backend.
    pub backend: Backend,
    /// How often to print progress and report the hashrate.
    pub report_every: Duration,
}

/// What a run did, printed at the end.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Nonces hashed.
    pub hashes: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Claims the node admitted.
    pub accepted: u64,
    /// Claims the node refused.
    pub rejected: u64,
    /// Admitted claims that were finalized and paid.
    pub paid: u64,
    /// Admitted claims that were finalized without pay (another claim won).
    pub lost: u64,
    /// Finalized heads that became new work.
    pub switches: u64,
    /// The slowest switch to new work: from the head notification to the threads having it.
    pub max_switch: Duration,
}

fn parse32(what: &str, s: &str) -> Result<[u8; 32]> {
    ledger::keys::parse_hex::<32>(s).map_err(|e| anyhow!("the node sent a bad {what}: {e}"))
}

/// Check the node's work against our own derivation and turn it into a search job.
fn work_of(w: &MiningWork, key: &Keypair) -> Result<Work> {
    let challenge = Hash(parse32("challenge", &w.challenge)?);
    let seed = parse32("seed", &w.seed)?;
    if seed != mining::seed(&challenge, &key.public()) {
        bail!(
            "the node's seed {} is not this miner's seed for challenge {}",
            w.seed,
            w.challenge
        );
    }
    Ok(Work {
        height: w.height,
        seed,
        target: parse32("target", &w.target)?,
    })
}

struct Miner {
    client: WsClient,
    key: Keypair,
    public: String,
    chain_id: Hash,
    pool: Pool,
    /// The work being searched and its generation.
    work: Option<(u64, MiningWork)>,
    next_nonce: u64,
    /// Admitted claims not yet finalized.
    pending: Vec<String>,
    summary: Summary,
}

impl Miner {
    /// Fetch the newest work and give it to the threads if it is newer than ours.
    async fn refresh(&mut self, notified: Instant) -> Result<()> {
        let w = self
            .client
            .get_work(self.public.clone())
            .await
            .context("mining_getWork")?;
        if self
            .work
            .as_ref()
            .is_some_and(|(_, cur)| cur.height >= w.height)
        {
            return Ok(());
        }
        let job = work_of(&w, &self.key)?;
        let generation = self.pool.set_work(Some(job));
        self.work = Some((generation, w));
        let took = notified.elapsed();
        self.summary.switches += 1;
        self.summary.max_switch = self.summary.max_switch.max(took);
        Ok(())
    }

    async fn claim(&mut self, sol: Solution) -> Result<()> {
        let Some((generation, work)) = &self.work else {
            return Ok(());
        };
        if sol.generation != *generation {
            return Ok(()); // a solution for work we already left
        }
        let work = work.clone();
        // one reward per challenge: idle until the next block; solutions still in flight
        // carry the old generation and are dropped above
        let idle = self.pool.set_work(None);
        self.work = Some((idle, work.clone()));
        let chain_nonce = self.client.nonce(self.public.clone()).await?;
        if self.next_nonce < chain_nonce || self.next_nonce > chain_nonce + 64 {
            self.next_nonce = chain_nonce;
        }
        for _attempt in 0..8 {
            let tx = Transaction {
                chain_id: self.chain_id,
                sender: self.key.public(),
                nonce: self.next_nonce,
                expiry_height: work.expiry_height,
                kind: TxKind::ClaimMiningReward {
                    height: sol.height,
                    nonce: sol.nonce,
                },
            }
            .sign(&self.key);
            let raw = format!("0x{}", hex::encode(tx.encode()));
            let r = self
                .client
                .submit_work(raw, Some(work.seed.clone()))
                .await
                .context("mining_submitWork")?;
            if r.accepted {
                self.next_nonce += 1;
                self.summary.accepted += 1;
                self.pending.push(r.hash.clone());
                println!(
                    "claim accepted: block {} nonce {} hash 0x{} (tx {})",
                    sol.height,
                    sol.nonce,
                    hex::encode(sol.hash),
                    r.hash
                );
                return Ok(());
            }
            let reason = r.reason.unwrap_or_default();
            match reason.as_str() {
                "nonce_taken" => self.next_nonce += 1,
                "nonce_too_low" | "nonce_too_high" => {
                    self.next_nonce = self.client.nonce(self.public.clone()).await?;
                }
                _ => {
                    self.summary.rejected += 1;
                    println!(
                        "claim rejected: block {} nonce {}: {reason}: {}",
                        sol.height,
                        sol.nonce,
                        r.message.unwrap_or_default()
                    );
                    return Ok(());
                }
            }
        }
        self.summary.rejected += 1;
        println!("claim rejected: block {}: no free nonce", sol.height);
        Ok(())
    }

    /// Count finalized claims as paid or lost.
    async fn settle(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let statuses = self.client.get_status(self.pending.clone()).await?;
        let mut still = Vec::new();
        for st in statuses {
            match st.status {
                TxState::Finalized if st.success == Some(true) => self.summary.paid += 1,
                TxState::Finalized | TxState::Rejected => self.summary.lost += 1,
                _ => still.push(st.hash),
            }
        }
        self.pending = still;
        Ok(())
    }

    async fn report(&mut self, last: &mut (Instant, u64)) -> Result<()> {
        self.settle().await?;
        let hashes = self.pool.hashes();
        let rate = (hashes - last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-9);
        *last = (Instant::now(), hashes);
        // self-reported; a failure to report is not a reason to stop mining
        let _ = self
            .client
            .submit_hashrate(self.public.clone(), rate as u64)
            .await;
        let height = self.work.as_ref().map(|(_, w)| w.height).unwrap_or(0);
        println!(
            "mining: {} · work block {height} · accepted {} (paid {}, lost {}, pending {}) · \
             rejected {} · slowest work switch {:.1} ms",
            human_rate(rate),
            self.summary.accepted,
            self.summary.paid,
            self.summary.lost,
            self.pending.len(),
            self.summary.rejected,
            self.summary.max_switch.as_secs_f64() * 1e3,
        );
        Ok(())
    }
}

/// Mine until `shutdown` resolves (or the node goes away: an error).
pub async fn run(cfg: MinerConfig, shutdown: impl Future<Output = ()>) -> Result<Summary> {
    let url = rpc::ws_url(&cfg.rpc);
    let client = WsClientBuilder::default()
        .build(&url)
        .await
        .map_err(|e| anyhow!("cannot connect to {url}: {e}"))?;
    let public = cfg.key.public().to_hex();
    let info = client.chain_info().await.context("chain_getInfo")?;
    let chain_id = Hash::from_hex(&info.chain_id).map_err(|e| anyhow!("chain id: {e}"))?;
    let account = client.account_info(public.clone()).await?;
    if !account.roles.iter().any(|r| r == "mine") {
        bail!(
            "account {public} lacks the `mine` role (roles: {:?}); an admin can grant it with \
             `palisade wallet grant-role --account {public} --role mine`",
            account.roles
        );
    }
    let mut heads = client
        .subscribe_finalized_heads()
        .await
        .context("chain_subscribeFinalizedHeads")?;
    let (tx, mut solutions) = tokio::sync::mpsc::unbounded_channel();
    let pool = Pool::start(cfg.threads, cfg.backend, tx);
    println!(
        "miner {public}: {} threads, {} ({} lanes), node {url}",
        pool.threads(),
        cfg.backend.name(),
        cfg.backend.lanes()
    );
    let mut m = Miner {
        next_nonce: account.nonce,
        client,
        key: cfg.key,
        public,
        chain_id,
        pool,
        work: None,
        pending: Vec::new(),
        summary: Summary::default(),
    };
    let started = Instant::now();
    m.refresh(Instant::now()).await?;
    let mut ticker = tokio::time::interval(cfg.report_every);
    ticker.tick().await;
    let mut last = (Instant::now(), 0u64);
    tokio::pin!(shutdown);
    let result: Result<()> = loop {
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            head = heads.next() => match head {
                Some(Ok(_)) => {
                    if let Err(e) = m.refresh(Instant::now()).await {
                        break Err(e);
                    }
                }
                Some(Err(e)) => break Err(anyhow!("finalized heads: {e}")),
                None => break Err(anyhow!("the node closed the connection")),
            },
            Some(sol) = solutions.recv() => {
                if let Err(e) = m.claim(sol).await {
                    break Err(e);
                }
            }
            _ = ticker.tick() => {
                if let Err(e) = m.report(&mut last).await {
                    break Err(e);
                }
            }
        }
    };
    let _ = m.settle().await;
    m.summary.hashes = m.pool.hashes();
    m.summary.elapsed = started.elapsed();
    m.pool.stop();
    result.map(|()| m.summary)
}

impl Summary {
    /// The line printed when the miner stops.
    pub fn line(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        format!(
            "miner stopped: {} hashes in {:.1} s ({}), accepted {} (paid {}, lost {}), \
             rejected {}, {} work switches, slowest {:.1} ms",
            self.hashes,
            secs,
            human_rate(self.hashes as f64 / secs),
            self.accepted,
            self.paid,
            self.lost,
            self.rejected,
            self.switches,
            self.max_switch.as_secs_f64() * 1e3
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_from_another_seed_is_refused() {
        let key = Keypair::from_secret([1; 32]);
        let challenge = Hash([2; 32]);
        let seed = mining::seed(&challenge, &key.public());
        let mut w = MiningWork {
            height: 5,
            challenge: challenge.to_hex(),
            target: format!("0x{}", "ff".repeat(32)),
            seed: format!("0x{}", hex::encode(seed)),
            seed_derivation: String::new(),
            pow_input: String::new(),
            padding: String::new(),
            expiry_height: 55,
            reward: "1".into(),
            expected_hashes: 1.0,
        };
        let job = work_of(&w, &key).unwrap();
        assert_eq!((job.height, job.seed, job.target), (5, seed, [0xff; 32]));
        w.seed = format!("0x{}", "00".repeat(32));
        assert!(
            work_of(&w, &key)
                .unwrap_err()
                .to_string()
                .contains("not this miner's seed")
        );
    }
}
