//! Keys and signatures: ed25519 keys and RFC 8032 signing through ed25519-dalek, the
//! on-chain verification rule over curve25519-dalek.
//!
//! The validity rule for every signature on chain, over the 32-byte signing message `M`:
//! the cofactored equation `[8](s·B − k·A − R) = 0` with `k = SHA-512(R ‖ A ‖ M) mod ℓ`
//! (the equation of ZIP-215), and strict encodings: `s` canonical (below ℓ), `R` the
//! canonical encoding of a point not of small order, `A` a point not of small order. Every
//! RFC 8032 signer's signatures pass.
//!
//! [`verify_batch`] checks many signatures at once with the same equation, summed with
//! random 128-bit weights and multiplied by the cofactor, so a batch passes exactly when
//! every signature in it passes alone (a bad one slips through with probability 2^-128):
//! the answer never depends on which signatures share a batch, which differs from node to
//! node (what their mempools already vouch for, how many threads they have). A failing
//! batch is re-checked one by one to name the bad signatures. That is what keeps execution
//! deterministic. (An earlier version paired dalek's cofactorless batch equation with
//! `verify_strict`; for a signature whose `R` or `A` has a small-order component the two
//! disagree, and the batch's answer depended on the batch's other members.)

use std::fmt;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha512};
use thiserror::Error;

use crate::codec::{Decode, DecodeError, Encode, Reader};

/// An account or validator address: a 32-byte compressed ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PublicKey(pub [u8; 32]);

/// A 64-byte ed25519 signature (`R ‖ s`).
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Signature(pub [u8; 64]);

/// Why a hex string was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HexError {
    /// Not hexadecimal.
    #[error("not hex: {0}")]
    NotHex(String),
    /// Hex of the wrong length.
    #[error("expected {expected} bytes of hex, got {got}")]
    WrongLength {
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        got: usize,
    },
}

/// Parse `0x`-prefixed or bare hex into exactly `N` bytes.
pub fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let body = s.strip_prefix("0x").unwrap_or(s);
    let raw = hex::decode(body).map_err(|e| HexError::NotHex(e.to_string()))?;
    raw.as_slice()
        .try_into()
        .map_err(|_| HexError::WrongLength {
            expected: N,
            got: raw.len(),
        })
}

pub(crate) fn parse_hex_32(s: &str) -> Result<[u8; 32], HexError> {
    parse_hex::<32>(s)
}

impl PublicKey {
    /// Lowercase hex with a `0x` prefix.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// Parse hex of exactly 32 bytes (any bytes: use [`PublicKey::is_valid_point`] to check
    /// that they are an ed25519 key).
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        parse_hex_32(s).map(PublicKey)
    }

    /// Whether the bytes decompress to a curve point that is not of small order.
    pub fn is_valid_point(&self) -> bool {
        VerifyingKey::from_bytes(&self.0).is_ok_and(|k| !k.is_weak())
    }

    /// Bit `i` of the key, most significant bit of byte 0 first: the account tree's path.
    pub fn bit(&self, i: usize) -> bool {
        (self.0[i / 8] >> (7 - (i % 8))) & 1 == 1
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl Signature {
    /// Lowercase hex with a `0x` prefix.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// Parse hex of exactly 64 bytes.
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        parse_hex::<64>(s).map(Signature)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl Encode for PublicKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for PublicKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PublicKey(r.array("public key")?))
    }
}

impl Encode for Signature {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for Signature {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Signature(r.array("signature")?))
    }
}

/// An ed25519 secret key with its public key.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        write!(f, "Keypair({})", self.public())
    }
}

impl Keypair {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(Self::from_secret(seed))
    }

    /// The key whose 32-byte secret (the RFC 8032 seed) is `secret`.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Keypair {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    /// The 32-byte secret (RFC 8032 seed). Handle with care.
    pub fn secret(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Sign a message (for transactions, the 32-byte signing message).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }
}

/// Check one signature with the on-chain rule (see the module docs).
pub fn verify(key: &PublicKey, message: &[u8], sig: &Signature) -> bool {
    let Some(a) = key_point(key) else {
        return false;
    };
    let Some((r, s)) = parse_signature(sig) else {
        return false;
    };
    let k = challenge(&sig.0, key, message);
    // s·B − k·A − R, times the cofactor
    let residue = EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-k), &a, &s) - r;
    residue.mul_by_cofactor().is_identity()
}

/// `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
fn challenge(sig: &[u8; 64], key: &PublicKey, message: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(&sig[..32]);
    h.update(key.0);
    h.update(message);
    let wide: [u8; 64] = h.finalize().into();
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// `R` and `s` of a signature with strict encodings, or `None`.
fn parse_signature(sig: &Signature) -> Option<(EdwardsPoint, Scalar)> {
    if !r_is_canonical_and_not_small(&sig.0) {
        return None;
    }
    let mut s = [0u8; 32];
    s.copy_from_slice(&sig.0[32..]);
    let s: Option<Scalar> = Scalar::from_canonical_bytes(s).into();
    let mut r = [0u8; 32];
    r.copy_from_slice(&sig.0[..32]);
    Some((CompressedEdwardsY(r).decompress()?, s?))
}

/// Most decompressed keys kept per thread; the cache is emptied when it fills.
const KEY_CACHE_ENTRIES: usize = 16_384;

thread_local! {
    static KEY_CACHE: std::cell::RefCell<std::collections::HashMap<[u8; 32], Option<EdwardsPoint>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The key as a point, or `None` if the bytes are not a point or the point has small
/// order. Decompression costs about as much as a third of a verification, and senders sign
/// again and again, so results are cached per thread (only speed depends on the cache).
fn key_point(key: &PublicKey) -> Option<EdwardsPoint> {
    KEY_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(a) = cache.get(&key.0) {
            return *a;
        }
        let a = VerifyingKey::from_bytes(&key.0)
            .ok()
            .filter(|k| !k.is_weak())
            .map(|k| k.to_edwards());
        if cache.len() >= KEY_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key.0, a);
        a
    })
}

/// Empty this thread's cache of decompressed keys (benchmarks use it to measure cold keys).
pub fn clear_key_cache() {
    KEY_CACHE.with(|cache| cache.borrow_mut().clear());
}

/// One signature to check: who signed, what, and the signature.
#[derive(Clone, Copy, Debug)]
pub struct SignatureCheck<'a> {
    /// The claimed signer.
    pub key: &'a PublicKey,
    /// The signed message.
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
}

/// One parsed signature of a batch.
struct Parsed<'a> {
    index: usize,
    /// The encodings as signed, for the batch weights (compressing points again would cost
    /// two field inversions per signature).
    key: &'a [u8; 32],
    sig: &'a [u8; 64],
    a: EdwardsPoint,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// Verify many signatures; `result[i]` tells whether `checks[i]` is valid, exactly as
/// [`verify`] would say. Signatures that do not parse (bad encodings, small-order or invalid
/// keys) are invalid at once; the rest are checked in batches of `chunk` (0 means one
/// batch) with the cofactored batch equation, and a failing batch is re-checked one by one.
pub fn verify_batch(checks: &[SignatureCheck<'_>], chunk: usize) -> Vec<bool> {
    let mut result = vec![false; checks.len()];
    let mut parsed: Vec<Parsed<'_>> = Vec::with_capacity(checks.len());
    for (index, c) in checks.iter().enumerate() {
        if let (Some(a), Some((r, s))) = (key_point(c.key), parse_signature(c.signature)) {
            let k = challenge(&c.signature.0, c.key, c.message);
            parsed.push(Parsed {
                index,
                key: &c.key.0,
                sig: &c.signature.0,
                a,
                r,
                s,
                k,
            });
        }
    }
    let chunk = if chunk == 0 {
        parsed.len().max(1)
    } else {
        chunk
    };
    for batch in parsed.chunks(chunk) {
        let ok = batch_holds(batch);
        for p in batch {
            result[p.index] = ok || {
                let residue =
                    EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-p.k), &p.a, &p.s) - p.r;
                residue.mul_by_cofactor().is_identity()
            };
        }
    }
    result
}

/// Whether `[8](Σ zᵢ·(sᵢ·B − kᵢ·Aᵢ − Rᵢ)) = 0` for weights `zᵢ` derived from every input
/// of the batch (128 bits each): true when every signature satisfies its own equation,
/// false but with probability 2^-128 otherwise.
fn batch_holds(batch: &[Parsed<'_>]) -> bool {
    let mut transcript = blake3::Hasher::new_derive_key("palisade/v1 signature batch weights");
    for p in batch {
        // k binds the message; the signature holds R and s
        transcript.update(p.k.as_bytes());
        transcript.update(p.sig);
        transcript.update(p.key);
    }
    let mut xof = transcript.finalize_xof();
    let z: Vec<Scalar> = batch
        .iter()
        .map(|_| {
            let mut w = [0u8; 16];
            xof.fill(&mut w);
            Scalar::from(u128::from_le_bytes(w))
        })
        .collect();
    let b_coefficient: Scalar = batch.iter().zip(&z).map(|(p, z)| z * p.s).sum();
    let scalars = std::iter::once(-b_coefficient)
        .chain(z.iter().copied())
        .chain(batch.iter().zip(&z).map(|(p, z)| z * p.k));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(batch.iter().map(|p| p.r))
        .chain(batch.iter().map(|p| p.a));
    // Σ z·R + Σ z·k·A − (Σ z·s)·B = −Σ zᵢ·(residueᵢ)
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

/// The y-coordinates (sign bit cleared) of the eight points of small order, as compressed
/// ed25519 encodings. A test checks each against curve25519-dalek.
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    // identity (y = 1)
    hex32("0100000000000000000000000000000000000000000000000000000000000000"),
    // order 2 (y = -1)
    hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    // order 4 (y = 0)
    hex32("0000000000000000000000000000000000000000000000000000000000000000"),
    // order 8
    hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
];

const fn hex32(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

// Only ever evaluated at compile time on constant strings: a bad digit fails the build.
#[allow(clippy::panic)]
const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("bad hex digit in constant"),
    }
}

/// Whether `R` (the first 32 bytes of the signature) is a canonical encoding of a point that
/// is not of small order, judged from its bytes alone (a non-point fails to decompress).
fn r_is_canonical_and_not_small(sig: &[u8; 64]) -> bool {
    let mut y = [0u8; 32];
    y.copy_from_slice(&sig[..32]);
    y[31] &= 0x7f;
    // Canonical: y < p = 2^255 - 19, i.e. not in [p, 2^255 - 1].
    let non_canonical = y[31] == 0x7f && y[1..31].iter().all(|&b| b == 0xff) && y[0] >= 0xed;
    !non_canonical && !SMALL_ORDER_Y.contains(&y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::edwards::CompressedEdwardsY;

    #[test]
    fn small_order_table_matches_dalek() {
        for y in SMALL_ORDER_Y {
            for sign in [0u8, 0x80] {
                let mut enc = y;
                enc[31] |= sign;
                if let Some(p) = CompressedEdwardsY(enc).decompress() {
                    assert!(
                        p.is_small_order(),
                        "{} is not small order",
                        hex::encode(enc)
                    );
                }
            }
        }
        // and every small-order point is in the table: multiples of an order-8 point
        let p8 = CompressedEdwardsY(SMALL_ORDER_Y[3])
            .decompress()
            .expect("point");
        let mut acc = p8;
        for _ in 0..8 {
            let mut y = acc.compress().to_bytes();
            y[31] &= 0x7f;
            assert!(SMALL_ORDER_Y.contains(&y));
            acc += p8;
        }
    }

    #[test]
    fn batch_agrees_with_single_and_names_bad_signatures() {
        let keys: Vec<Keypair> = (0..20u8).map(|i| Keypair::from_secret([i; 32])).collect();
        let msgs: Vec<[u8; 32]> = (0..20u8).map(|i| [i.wrapping_mul(3); 32]).collect();
        let pubs: Vec<PublicKey> = keys.iter().map(Keypair::public).collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        sigs[3].0[40] ^= 1; // corrupt s
        sigs[11].0[2] ^= 1; // corrupt R
        sigs[17] = keys[16].sign(&msgs[17]); // wrong signer
        let checks: Vec<SignatureCheck<'_>> = (0..20)
            .map(|i| SignatureCheck {
                key: &pubs[i],
                message: &msgs[i],
                signature: &sigs[i],
            })
            .collect();
        for chunk in [0, 1, 4, 64] {
            let got = verify_batch(&checks, chunk);
            let want: Vec<bool> = checks
                .iter()
                .map(|c| verify(c.key, c.message, c.signature))
                .collect();
            assert_eq!(got, want);
            assert_eq!(got.iter().filter(|ok| !**ok).count(), 3);
            assert!(!got[3] && !got[11] && !got[17]);
        }
    }

    fn dalek_strict(key: &PublicKey, message: &[u8], sig: &Signature) -> bool {
        VerifyingKey::from_bytes(&key.0).is_ok_and(|vk| {
            vk.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig.0))
                .is_ok()
        })
    }

    /// A signature whose `R` has an order-2 component (`R = r·B + T₂`), and one by a key
    /// with an order-2 component (`A' = A + T₂`): valid under the cofactored rule, and the
    /// kind of input on which a cofactorless batch and a cofactored (or strict) single
    /// check disagree depending on the batch's other members.
    fn mixed_order_signatures(msg: &[u8; 32]) -> Vec<(PublicKey, Signature)> {
        let t2 = CompressedEdwardsY(SMALL_ORDER_Y[1])
            .decompress()
            .expect("the order-2 point");
        assert!(t2.is_small_order() && !t2.is_identity());
        let mut out = Vec::new();
        for i in 0..8u8 {
            let sk = SigningKey::from_bytes(&[i + 40; 32]);
            let a = sk.to_scalar();
            let r = Scalar::from(1_000_003u64 * u64::from(i) + 7);
            // torsion in R
            let big_r = EdwardsPoint::mul_base(&r) + t2;
            let key = PublicKey(sk.verifying_key().to_bytes());
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(big_r.compress().as_bytes());
            let k = challenge(&sig, &key, msg);
            sig[32..].copy_from_slice((r + k * a).as_bytes());
            out.push((key, Signature(sig)));
            // torsion in A
            let twisted = PublicKey((EdwardsPoint::mul_base(&a) + t2).compress().to_bytes());
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(EdwardsPoint::mul_base(&r).compress().as_bytes());
            let k = challenge(&sig, &twisted, msg);
            sig[32..].copy_from_slice((r + k * a).as_bytes());
            out.push((twisted, Signature(sig)));
        }
        out
    }

    #[test]
    fn torsion_never_makes_the_answer_depend_on_the_batch() {
        let msg = [7u8; 32];
        let special = mixed_order_signatures(&msg);
        // the cofactored rule accepts them all; verify_strict refuses every torsioned R
        assert!(special.iter().all(|(k, s)| verify(k, &msg, s)));
        assert!(
            special
                .iter()
                .step_by(2)
                .all(|(k, s)| !dalek_strict(k, &msg, s)),
            "verify_strict must refuse R with torsion, or this test proves nothing"
        );
        // mixed with honest and bad signatures, in every grouping, the batch answer is the
        // single answer
        let honest: Vec<(PublicKey, Signature)> = (0..8u8)
            .map(|i| {
                let k = Keypair::from_secret([i; 32]);
                (k.public(), k.sign(&msg))
            })
            .collect();
        let mut bad = honest[3];
        bad.1.0[33] ^= 4;
        let mut all: Vec<(PublicKey, Signature)> = special;
        all.extend(honest);
        all.push(bad);
        for rotation in 0..all.len() {
            all.rotate_left(1);
            let checks: Vec<SignatureCheck<'_>> = all
                .iter()
                .map(|(k, s)| SignatureCheck {
                    key: k,
                    message: &msg,
                    signature: s,
                })
                .collect();
            let single: Vec<bool> = all.iter().map(|(k, s)| verify(k, &msg, s)).collect();
            for chunk in [0, 1, 2, 3, 5, 8] {
                assert_eq!(
                    verify_batch(&checks, chunk),
                    single,
                    "rotation {rotation}, chunk {chunk}"
                );
            }
            assert_eq!(single.iter().filter(|ok| !**ok).count(), 1);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// On every input without a small-order component in `R` or `A` (honest signatures,
        /// corrupted ones, small-order and non-canonical `R` and keys, `s ≥ ℓ`), `verify` and
        /// `verify_batch` give exactly dalek's `verify_strict` answers.
        #[test]
        fn verify_agrees_with_verify_strict(
            secret in proptest::prelude::any::<[u8; 32]>(),
            msg in proptest::prelude::any::<[u8; 32]>(),
            mutation in 0u8..8,
            pos in 0usize..64,
            which in 0usize..5,
        ) {
            let kp = Keypair::from_secret(secret);
            let mut key = kp.public();
            let mut sig = kp.sign(&msg);
            match mutation {
                0 | 1 => {}
                2 => sig.0[pos] ^= 1 << (pos % 8),
                3 => { sig.0[..32].copy_from_slice(&SMALL_ORDER_Y[which]); }
                4 => { sig.0[..32].copy_from_slice(&SMALL_ORDER_Y[which]); sig.0[31] |= 0x80; }
                5 => key = PublicKey(SMALL_ORDER_Y[which]),
                6 => { sig.0[..32].fill(0xff); sig.0[0] = 0xed + (pos % 18) as u8; sig.0[31] = 0x7f; }
                _ => sig.0[32..].copy_from_slice(&hex32("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")),
            }
            let want = dalek_strict(&key, &msg, &sig);
            proptest::prop_assert_eq!(verify(&key, &msg, &sig), want);
            let c = [SignatureCheck { key: &key, message: &msg, signature: &sig }];
            proptest::prop_assert_eq!(verify_batch(&c, 0), vec![want]);
        }
    }

    #[test]
    fn small_order_key_is_rejected() {
        let weak = PublicKey(SMALL_ORDER_Y[0]);
        assert!(!weak.is_valid_point());
        let sig = Signature([0; 64]);
        assert!(!verify(&weak, b"m", &sig));
        let c = [SignatureCheck {
            key: &weak,
            message: b"m",
            signature: &sig,
        }];
        assert_eq!(verify_batch(&c, 0), vec![false]);
        // identity key, identity R, s = 0: dalek's plain `verify` accepts this "signature"
        // on any message; the on-chain rule must not.
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(&SMALL_ORDER_Y[0]);
        let forged = Signature(forged);
        let vk = VerifyingKey::from_bytes(&weak.0).expect("identity decompresses");
        let plain = ed25519_dalek::Verifier::verify(
            &vk,
            b"any message",
            &ed25519_dalek::Signature::from_bytes(&forged.0),
        );
        assert!(
            plain.is_ok(),
            "the crafted case must fool plain verify, or this test proves nothing"
        );
        assert!(!verify(&weak, b"any message", &forged));
        assert!(!dalek_strict(&weak, b"any message", &forged));
        let c = [SignatureCheck {
            key: &weak,
            message: b"any message",
            signature: &forged,
        }];
        assert_eq!(verify_batch(&c, 0), vec![false]);
    }

    #[test]
    fn hex_round_trip() {
        let k = Keypair::from_secret([9; 32]).public();
        assert_eq!(PublicKey::from_hex(&k.to_hex()), Ok(k));
        assert!(matches!(
            PublicKey::from_hex("0x12"),
            Err(HexError::WrongLength { .. })
        ));
        assert!(matches!(
            PublicKey::from_hex("0xzz"),
            Err(HexError::NotHex(_))
        ));
    }
}
