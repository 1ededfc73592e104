//! Proof-of-work mining rules: challenges, seeds, the inner hash, targets, reward claims and
//! difficulty retargeting. Validators run these checks on every ClaimMiningReward; the miner
//! crate searches for solutions but never decides what a valid one is.
//!
//! - The challenge of block `h` is its block id. It becomes claimable in block `h + 1` (the
//!   first block that names it as parent) and stays claimable through block `h + K`
//!   (`claim_expiry`). A block including a claim is finalized only with all its ancestors,
//!   so a claim that lands in a finalized block always names a finalized challenge.
//! - `seed = H_mining-seed(challenge ‖ miner public key)` (keyed BLAKE3, see [`Domain`]).
//! - `pow = BLAKE3(seed ‖ nonce as u64 LE ‖ POW_PADDING)`: exactly one 64-byte block, so one
//!   compression, and a miner can hash many nonces at once in SIMD lanes.
//! - A solution is valid when `pow`, read as a 256-bit big-endian number, is ≤ the target in
//!   force when the challenge block was made. One reward per challenge: the first claim
//!   executed wins, later ones are rejected with [`RejectReason::AlreadyClaimed`].
//! - Every `retarget_epoch_length` blocks the target is scaled by
//!   `target_solutions_per_epoch / solutions`, clamped to ×4 / ÷4 (see [`retarget`]).
//!
//! `docs/mining.md` has the same rules with worked numbers.

use crate::block::RejectReason;
use crate::codec::{Decode, DecodeError, Encode, Reader, put_list};
use crate::hash::{Domain, Hash};
use crate::keys::PublicKey;

#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod wide {
    uint::construct_uint! {
        /// An unsigned 256-bit integer (targets).
        pub struct U256(4);
    }
}
use wide::U256;

/// The 24 fixed bytes that fill the inner hash's 64-byte block after seed and nonce.
pub const POW_PADDING: [u8; 24] = *b"palisade/v1/pow-padding\0";

/// How many closed retarget epochs [`MiningState::history`] keeps.
pub const EPOCH_HISTORY: usize = 16;

/// The mining constants from genesis that execution needs (the initial target lives in the
/// genesis state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiningRules {
    /// Coins minted per accepted claim.
    pub reward: u128,
    /// Blocks per retarget epoch (E).
    pub retarget_epoch_length: u64,
    /// Accepted claims per epoch the target aims for (S).
    pub target_solutions_per_epoch: u64,
    /// A challenge of block `h` may be claimed in blocks `h+1 ..= h+K` (K).
    pub claim_expiry: u64,
}

impl Default for MiningRules {
    /// The dev chain's rules: 50,000 coins, E = 100, S = 20, K = 50.
    fn default() -> Self {
        MiningRules {
            reward: 50_000,
            retarget_epoch_length: 100,
            target_solutions_per_epoch: 20,
            claim_expiry: 50,
        }
    }
}

/// A miner's seed for a challenge: `H_mining-seed(challenge ‖ public key)`.
pub fn seed(challenge: &Hash, miner: &PublicKey) -> [u8; 32] {
    Domain::MiningSeed.hash_pair(challenge, &Hash(miner.0)).0
}

/// The 64-byte block the inner hash compresses: `seed ‖ nonce (u64 LE) ‖ POW_PADDING`.
pub fn pow_input(seed: &[u8; 32], nonce: u64) -> [u8; 64] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(seed);
    block[32..40].copy_from_slice(&nonce.to_le_bytes());
    block[40..].copy_from_slice(&POW_PADDING);
    block
}

/// The inner hash: plain BLAKE3 of [`pow_input`] (a single compression).
pub fn pow_hash(seed: &[u8; 32], nonce: u64) -> [u8; 32] {
    *blake3::hash(&pow_input(seed, nonce)).as_bytes()
}

/// Whether `hash` (big-endian) is ≤ `target` (big-endian). Byte-wise comparison of two
/// equal-length big-endian numbers is numeric comparison.
pub fn meets_target(hash: &[u8; 32], target: &[u8; 32]) -> bool {
    hash <= target
}

/// The expected number of hashes per solution at `target`: `2^256 / (target + 1)`, as an
/// f64 (for display and hashrate estimates).
pub fn expected_hashes(target: &[u8; 32]) -> f64 {
    let t = U256::from_big_endian(target);
    let mut f = 0f64;
    for limb in t.0.iter().rev() {
        f = f * 2f64.powi(64) + *limb as f64;
    }
    2f64.powi(256) / (f + 1.0)
}

/// The target for the next epoch: `old × S / n`, clamped to `[old / 4, old × 4]` and to
/// `[1, 2^256 − 1]`. An epoch without a solution (`n = 0`) eases by the full ×4.
pub fn retarget(old: &[u8; 32], solutions: u64, target_solutions: u64) -> [u8; 32] {
    let old = U256::from_big_endian(old);
    let max = U256::MAX;
    let upper = old.checked_mul(U256::from(4u8)).unwrap_or(max);
    let lower = old / U256::from(4u8);
    let scaled = if solutions == 0 {
        upper
    } else {
        // old × S / n, computed without overflow: split old into quotient and remainder by n
        let n = U256::from(solutions);
        let s = U256::from(target_solutions);
        let (q, r) = (old / n, old % n);
        match q.checked_mul(s) {
            // r < n ≤ 2^64 and S < 2^64, so r × S < 2^128 never overflows
            Some(qs) => qs.checked_add(r * s / n).unwrap_or(max),
            None => max,
        }
    };
    let new = scaled.clamp(lower, upper).max(U256::one());
    new.to_big_endian()
}

/// One claimable challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Challenge {
    /// The block whose id is the challenge.
    pub height: u64,
    /// That block's id.
    pub challenge: Hash,
    /// The target in force when the block was made.
    pub target: [u8; 32],
    /// Who was paid for it (`None`: still open).
    pub winner: Option<PublicKey>,
}

/// A closed retarget epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct EpochRecord {
    /// Its last block.
    pub end_height: u64,
    /// Claims accepted in its blocks.
    pub solutions: u64,
    /// The target in force during it.
    pub target: [u8; 32],
    /// The target set for the next epoch.
    pub next_target: [u8; 32],
}

/// The mining part of the system state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MiningState {
    /// The target for challenges of blocks made in the current epoch.
    pub target: [u8; 32],
    /// Claims accepted in the current epoch so far.
    pub epoch_solutions: u64,
    /// The claimable challenges (the last `K` blocks), oldest first.
    pub challenges: Vec<Challenge>,
    /// The last [`EPOCH_HISTORY`] closed epochs, oldest first.
    pub history: Vec<EpochRecord>,
}

impl Default for MiningState {
    /// Target 2^256 − 1 (every hash wins), nothing claimable yet.
    fn default() -> Self {
        MiningState::new([0xff; 32])
    }
}

impl MiningState {
    /// The genesis mining state with `initial_target`.
    pub fn new(initial_target: [u8; 32]) -> Self {
        MiningState {
            target: initial_target,
            epoch_solutions: 0,
            challenges: Vec::new(),
            history: Vec::new(),
        }
    }

    /// At the start of block `height` (whose parent has id `parent_id`): the parent's
    /// challenge becomes claimable and challenges older than `K` blocks drop out.
    pub fn open_challenge(&mut self, rules: &MiningRules, height: u64, parent_id: Hash) {
        let parent_height = height.saturating_sub(1);
        let target = self.target;
        self.challenges.push(Challenge {
            height: parent_height,
            challenge: parent_id,
            target,
            winner: None,
        });
        let oldest = height.saturating_sub(rules.claim_expiry);
        self.challenges.retain(|c| c.height >= oldest);
    }

    /// Check a claim by `miner` for the challenge of block `claim_height` with `nonce`,
    /// included in block `height`; nothing changes. On success, the index of the challenge.
    pub fn check_claim(
        &self,
        rules: &MiningRules,
        height: u64,
        miner: &PublicKey,
        claim_height: u64,
        nonce: u64,
    ) -> Result<usize, RejectReason> {
        if claim_height >= height {
            return Err(RejectReason::ClaimNotFinalized {
                height: claim_height,
                block_height: height,
            });
        }
        let expiry_height = claim_height.saturating_add(rules.claim_expiry);
        let found = self
            .challenges
            .iter()
            .position(|c| c.height == claim_height);
        let Some(i) = found.filter(|_| height <= expiry_height) else {
            return Err(RejectReason::ClaimExpired {
                height: claim_height,
                expiry_height,
            });
        };
        let c = &self.challenges[i];
        if c.winner.is_some() {
            return Err(RejectReason::AlreadyClaimed {
                height: claim_height,
            });
        }
        let hash = pow_hash(&seed(&c.challenge, miner), nonce);
        if !meets_target(&hash, &c.target) {
            return Err(RejectReason::AboveTarget {
                height: claim_height,
            });
        }
        Ok(i)
    }

    /// Record an accepted claim (after [`MiningState::check_claim`] returned `index`).
    pub fn record_claim(&mut self, index: usize, miner: PublicKey) {
        self.challenges[index].winner = Some(miner);
        self.epoch_solutions += 1;
    }

    /// At the end of block `height`: if it closes a retarget epoch, set the next target.
    pub fn end_block(&mut self, rules: &MiningRules, height: u64) {
        let e = rules.retarget_epoch_length;
        if e == 0 || height == 0 || !height.is_multiple_of(e) {
            return;
        }
        let next = retarget(
            &self.target,
            self.epoch_solutions,
            rules.target_solutions_per_epoch,
        );
        self.history.push(EpochRecord {
            end_height: height,
            solutions: self.epoch_solutions,
            target: self.target,
            next_target: next,
        });
        if self.history.len() > EPOCH_HISTORY {
            self.history.remove(0);
        }
        self.target = next;
        self.epoch_solutions = 0;
    }
}

impl Encode for Challenge {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.height.to_le_bytes());
        self.challenge.encode_to(out);
        out.extend_from_slice(&self.target);
        match &self.winner {
            None => out.push(0),
            Some(k) => {
                out.push(1);
                k.encode_to(out);
            }
        }
    }
}

impl Decode for Challenge {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Challenge {
            height: r.u64("challenge height")?,
            challenge: Hash::decode(r)?,
            target: r.array("challenge target")?,
            winner: if r.bool("challenge claimed")? {
                Some(PublicKey::decode(r)?)
            } else {
                None
            },
        })
    }
}

impl Encode for EpochRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.end_height.to_le_bytes());
        out.extend_from_slice(&self.solutions.to_le_bytes());
        out.extend_from_slice(&self.target);
        out.extend_from_slice(&self.next_target);
    }
}

impl Decode for EpochRecord {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(EpochRecord {
            end_height: r.u64("epoch end")?,
            solutions: r.u64("epoch solutions")?,
            target: r.array("epoch target")?,
            next_target: r.array("next target")?,
        })
    }
}

impl Encode for MiningState {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.target);
        out.extend_from_slice(&self.epoch_solutions.to_le_bytes());
        put_list(out, &self.challenges);
        put_list(out, &self.history);
    }
}

impl Decode for MiningState {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let max = r.limits.max_list_len;
        Ok(MiningState {
            target: r.array("mining target")?,
            epoch_solutions: r.u64("epoch solutions")?,
            challenges: r.list(max, "challenges")?,
            history: r.list(EPOCH_HISTORY, "epoch history")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Limits, decode_exact};

    fn pow2(bits: u32) -> [u8; 32] {
        (U256::one() << bits).to_big_endian()
    }

    #[test]
    fn pow_hash_is_one_block_of_plain_blake3() {
        let seed = [7u8; 32];
        let input = pow_input(&seed, 0x0102_0304_0506_0708);
        assert_eq!(input.len(), 64);
        assert_eq!(&input[32..40], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&input[40..], b"palisade/v1/pow-padding\0");
        assert_eq!(
            pow_hash(&seed, 0x0102_0304_0506_0708),
            *blake3::hash(&input).as_bytes()
        );
    }

    #[test]
    fn seeds_differ_per_miner_and_challenge() {
        let (a, b) = (PublicKey([1; 32]), PublicKey([2; 32]));
        let (c1, c2) = (Hash([3; 32]), Hash([4; 32]));
        assert_ne!(seed(&c1, &a), seed(&c1, &b));
        assert_ne!(seed(&c1, &a), seed(&c2, &a));
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(&c1.0);
        buf[32..].copy_from_slice(&a.0);
        assert_eq!(seed(&c1, &a), Domain::MiningSeed.hash(&buf).0);
    }

    #[test]
    fn targets_compare_as_big_endian_numbers() {
        let t = pow2(240);
        let mut below = [0u8; 32];
        below[1] = 0x00;
        below[2] = 0xff;
        assert!(meets_target(&below, &t));
        assert!(meets_target(&t, &t));
        let mut above = t;
        above[31] = 1;
        assert!(!meets_target(&above, &t));
        assert!((expected_hashes(&pow2(240)) - 65536.0).abs() < 1e-6);
    }

    #[test]
    fn retarget_scales_and_clamps() {
        let t = pow2(240);
        // on rate: unchanged
        assert_eq!(retarget(&t, 20, 20), t);
        // twice the rate: half the target
        assert_eq!(retarget(&t, 40, 20), pow2(239));
        // half the rate: twice the target
        assert_eq!(retarget(&t, 10, 20), pow2(241));
        // 100× the rate: clamped to ÷4
        assert_eq!(retarget(&t, 2000, 20), pow2(238));
        // none at all: ×4
        assert_eq!(retarget(&t, 0, 20), pow2(242));
        // 3/20 of the rate: ×4 clamp (20/3 > 4)
        assert_eq!(retarget(&t, 3, 20), pow2(242));
        // never above the maximum, never zero
        assert_eq!(retarget(&[0xff; 32], 0, 20), [0xff; 32]);
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(retarget(&one, 1000, 1), one);
        // docs/mining.md's worked numbers: 64 solutions for S = 20, then 100 (÷4 clamp)
        let mut t1 = [0u8; 32];
        t1[2] = 0x50;
        assert_eq!(retarget(&t, 64, 20), t1);
        let mut t2 = [0u8; 32];
        t2[2] = 0x14;
        assert_eq!(retarget(&t1, 100, 20), t2);
        assert!((expected_hashes(&t1) - 209_715.2).abs() < 1e-3);
        // exact for a target that is not a power of two: 3·2^200 × 20 / 30 = 2^201
        let t3 = (U256::from(3u8) << 200).to_big_endian();
        assert_eq!(retarget(&t3, 30, 20), pow2(201));
    }

    fn rules() -> MiningRules {
        MiningRules {
            reward: 10,
            retarget_epoch_length: 4,
            target_solutions_per_epoch: 2,
            claim_expiry: 3,
        }
    }

    /// A nonce whose hash meets (`want = true`) or misses `target` for this seed.
    fn nonce_for(seed: &[u8; 32], target: &[u8; 32], want: bool) -> u64 {
        (0u64..)
            .find(|n| meets_target(&pow_hash(seed, *n), target) == want)
            .unwrap()
    }

    #[test]
    fn claims_follow_the_rules() {
        let r = rules();
        let miner = PublicKey([9; 32]);
        let other = PublicKey([8; 32]);
        let mut m = MiningState::new(pow2(250));
        for h in 1..=5u64 {
            m.open_challenge(&r, h, Hash([h as u8; 32]));
        }
        // at block 5 the claimable challenges are those of blocks 2, 3, 4
        let heights: Vec<u64> = m.challenges.iter().map(|c| c.height).collect();
        assert_eq!(heights, [2, 3, 4]);
        let s4 = seed(&Hash([5; 32]), &miner); // block 4's id, as opened at height 5
        let good = nonce_for(&s4, &pow2(250), true);
        let bad = nonce_for(&s4, &pow2(250), false);
        assert_eq!(
            m.check_claim(&r, 5, &miner, 5, good),
            Err(RejectReason::ClaimNotFinalized {
                height: 5,
                block_height: 5
            })
        );
        assert_eq!(
            m.check_claim(&r, 5, &miner, 1, good),
            Err(RejectReason::ClaimExpired {
                height: 1,
                expiry_height: 4
            })
        );
        assert_eq!(
            m.check_claim(&r, 5, &miner, 4, bad),
            Err(RejectReason::AboveTarget { height: 4 })
        );
        // the same nonce under another miner's seed is (almost surely) not a solution
        let s4_other = seed(&Hash([5; 32]), &other);
        if !meets_target(&pow_hash(&s4_other, good), &pow2(250)) {
            assert_eq!(
                m.check_claim(&r, 5, &other, 4, good),
                Err(RejectReason::AboveTarget { height: 4 })
            );
        }
        let i = m.check_claim(&r, 5, &miner, 4, good).unwrap();
        m.record_claim(i, miner);
        assert_eq!(m.epoch_solutions, 1);
        assert_eq!(
            m.check_claim(&r, 5, &miner, 4, good),
            Err(RejectReason::AlreadyClaimed { height: 4 })
        );
    }

    #[test]
    fn epochs_retarget_and_keep_history() {
        let r = rules();
        let mut m = MiningState::new(pow2(240));
        m.epoch_solutions = 8; // 4× the aimed 2 per epoch
        m.end_block(&r, 3);
        assert_eq!(m.target, pow2(240), "not an epoch boundary");
        m.end_block(&r, 4);
        assert_eq!(m.target, pow2(238));
        assert_eq!(m.epoch_solutions, 0);
        assert_eq!(
            m.history,
            [EpochRecord {
                end_height: 4,
                solutions: 8,
                target: pow2(240),
                next_target: pow2(238)
            }]
        );
        for e in 2..=40u64 {
            m.end_block(&r, e * 4);
        }
        assert_eq!(m.history.len(), EPOCH_HISTORY);
        assert_eq!(m.history.last().unwrap().end_height, 160);
    }

    #[test]
    fn mining_state_round_trips() {
        let r = rules();
        let mut m = MiningState::new(pow2(200));
        for h in 1..=4u64 {
            m.open_challenge(&r, h, Hash([h as u8; 32]));
        }
        m.record_claim(1, PublicKey([5; 32]));
        m.end_block(&r, 4);
        let bytes = m.encode();
        assert_eq!(
            decode_exact::<MiningState>(&bytes, Limits::default()).unwrap(),
            m
        );
    }
}
