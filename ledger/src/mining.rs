//! Mining reward claims: the proof-of-work check validators run on a ClaimMiningReward.
//!
//! The rules (challenge per finalized block, seed derivation, single-compression inner
//! hash, target, one reward per challenge, expiry, retargeting) belong to the mining issue.
//! Until it lands, [`verify_mining_solution`] rejects every claim with a reason, so no coin
//! is ever minted by a claim that nobody checked.

use crate::keys::PublicKey;

/// A claim to check: who mined, which block's challenge, which nonce.
#[derive(Clone, Copy, Debug)]
pub struct MiningClaim {
    /// The miner (the claiming transaction's sender).
    pub miner: PublicKey,
    /// The finalized block whose challenge was solved.
    pub height: u64,
    /// The nonce found.
    pub nonce: u64,
    /// The height of the block that includes the claim.
    pub current_height: u64,
}

/// Check a claim's proof of work; on success, the reward to mint.
///
/// Not implemented yet: every claim is rejected with the reason returned here.
pub fn verify_mining_solution(claim: &MiningClaim) -> Result<u128, String> {
    let _ = claim;
    Err("proof-of-work verification is not enabled on this chain yet".to_owned())
}
