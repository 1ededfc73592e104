//! `mining_*`: work for miners, claim pre-checks before admission, hashrate reports and
//! statistics. The rules themselves are the ledger's (`ledger::mining`); this checks a claim
//! against the last finalized state as the next block would, so a miner hears at once why
//! a claim would fail instead of finding a rejected receipt later.

use std::time::{Duration, Instant};

use jsonrpsee::core::{RpcResult, async_trait};
use ledger::TxKind;
use ledger::mining::{self, POW_PADDING};
use rpc::{
    MiningApiServer, MiningClaimInfo, MiningEpochInfo, MiningStats, MiningWork, ReportedHashrate,
    ServerError, SubmitWorkResult,
};

use super::{Api, parse_key};

/// How long a reported hashrate is shown.
const HASHRATE_TTL: Duration = Duration::from_secs(300);
/// Most miners whose reports are kept (the oldest report goes first).
const MAX_HASHRATE_REPORTS: usize = 1024;

const SEED_DERIVATION: &str = "keyed BLAKE3 with key BLAKE3(\"palisade/v1/mining-seed\") over \
    challenge (32 bytes) ‖ miner public key (32 bytes)";
const POW_INPUT: &str = "BLAKE3 (plain, one 64-byte block = one compression) of seed (32 bytes) \
    ‖ nonce (u64 little-endian) ‖ padding (24 bytes); valid if the hash as a big-endian \
    number is ≤ target";

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", ::hex::encode(bytes))
}

impl Api {
    fn hashrates(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<ledger::PublicKey, (u64, Instant)>>
    {
        match self.shared.hashrates.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        }
    }
}

#[async_trait]
impl MiningApiServer for Api {
    async fn get_work(&self, public_key: String) -> RpcResult<MiningWork> {
        let miner = parse_key(&public_key)?;
        let c = self.shared.chain();
        let rules = &self.shared.params.mining;
        let challenge = c.header.id();
        // the target that block `height + 1` records for this challenge
        let target = c.state.system.mining.target;
        Ok(MiningWork {
            height: c.header.height,
            challenge: challenge.to_hex(),
            target: hex(&target),
            seed: hex(&mining::seed(&challenge, &miner)),
            seed_derivation: SEED_DERIVATION.into(),
            pow_input: POW_INPUT.into(),
            padding: hex(&POW_PADDING),
            expiry_height: c.header.height.saturating_add(rules.claim_expiry),
            reward: rules.reward.to_string(),
            expected_hashes: mining::expected_hashes(&target),
        })
    }

    async fn submit_work(&self, tx: String, seed: Option<String>) -> RpcResult<SubmitWorkResult> {
        let stx = self.decode_tx(&tx)?;
        let hash = stx.id().to_hex();
        let t = stx.tx();
        let TxKind::ClaimMiningReward { height, nonce } = t.kind else {
            return Err(ServerError::invalid_value(
                "transaction",
                format!("a {} is not a ClaimMiningReward", t.kind.name()),
            )
            .into());
        };
        let claimed_seed = seed
            .map(|s| ledger::keys::parse_hex::<32>(&s))
            .transpose()
            .map_err(|e| ServerError::invalid_value("seed", e))?;
        let reject = |reason: &str, message: String| {
            Ok(SubmitWorkResult {
                accepted: false,
                hash: hash.clone(),
                reason: Some(reason.to_owned()),
                message: Some(message),
            })
        };
        let c = self.shared.chain();
        let rules = &self.shared.params.mining;
        // what the next block sees: the window plus the last finalized block's challenge
        let next = c.state.height + 1;
        let mut m = c.state.system.mining.clone();
        m.open_challenge(rules, next, c.header.id());
        if let (Some(claimed), Some(ch)) = (
            claimed_seed,
            m.challenges.iter().find(|ch| ch.height == height),
        ) {
            let expected = mining::seed(&ch.challenge, &t.sender);
            if claimed != expected {
                return reject(
                    "wrong_seed",
                    format!(
                        "the nonce was searched with seed {}, but the sender's seed for the \
                         challenge of block {height} is {}",
                        hex(&claimed),
                        hex(&expected)
                    ),
                );
            }
        }
        // the ledger's rule for who may claim (the role), as admission and blocks apply it
        if let Err(r) = ledger::authorize(&c.state.account(&t.sender), &t.kind) {
            return reject(r.name(), r.to_string());
        }
        if let Err(r) = m.check_claim(rules, next, &t.sender, height, nonce) {
            return reject(r.name(), r.to_string());
        }
        match self.admit(stx).await {
            Ok(_) => Ok(SubmitWorkResult {
                accepted: true,
                hash,
                reason: None,
                message: None,
            }),
            Err(e) => {
                let reason = e.data["reason"].as_str().unwrap_or("rejected").to_owned();
                reject(&reason, e.message)
            }
        }
    }

    async fn submit_hashrate(&self, public_key: String, hashrate: u64) -> RpcResult<bool> {
        let miner = parse_key(&public_key)?;
        let mut reports = self.hashrates();
        let now = Instant::now();
        reports.retain(|_, (_, at)| now.duration_since(*at) <= HASHRATE_TTL);
        if reports.len() >= MAX_HASHRATE_REPORTS && !reports.contains_key(&miner) {
            let oldest = reports
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                reports.remove(&k);
            }
        }
        reports.insert(miner, (hashrate, now));
        Ok(true)
    }

    async fn stats(&self) -> RpcResult<MiningStats> {
        let c = self.shared.chain();
        let rules = &self.shared.params.mining;
        let m = &c.state.system.mining;
        let now = Instant::now();
        let mut hashrates: Vec<ReportedHashrate> = self
            .hashrates()
            .iter()
            .filter(|(_, (_, at))| now.duration_since(*at) <= HASHRATE_TTL)
            .map(|(k, (rate, at))| ReportedHashrate {
                miner: k.to_hex(),
                hashrate: *rate,
                age_ms: now.duration_since(*at).as_millis() as u64,
            })
            .collect();
        hashrates.sort_by_key(|r| r.age_ms);
        let e = rules.retarget_epoch_length.max(1);
        Ok(MiningStats {
            height: c.header.height,
            target: hex(&m.target),
            expected_hashes: mining::expected_hashes(&m.target),
            reward: rules.reward.to_string(),
            epoch_length: rules.retarget_epoch_length,
            target_solutions_per_epoch: rules.target_solutions_per_epoch,
            claim_expiry: rules.claim_expiry,
            epoch_solutions: m.epoch_solutions,
            next_retarget_height: (c.header.height / e + 1).saturating_mul(e),
            epochs: m
                .history
                .iter()
                .map(|r| MiningEpochInfo {
                    end_height: r.end_height,
                    solutions: r.solutions,
                    target: hex(&r.target),
                    next_target: hex(&r.next_target),
                })
                .collect(),
            recent_claims: m
                .challenges
                .iter()
                .filter_map(|ch| {
                    ch.winner.map(|w| MiningClaimInfo {
                        height: ch.height,
                        miner: w.to_hex(),
                    })
                })
                .collect(),
            open_challenges: m.challenges.iter().filter(|ch| ch.winner.is_none()).count() as u64,
            total_hashrate: hashrates.iter().map(|r| r.hashrate).sum(),
            hashrates,
        })
    }
}
