//! Keys and signatures: ed25519 through ed25519-dalek.
//!
//! The validity rule for every signature on chain is `verify_strict` over the 32-byte
//! signing message. [`verify_batch`] gives the same answers faster: it only batches
//! signatures whose `R` is canonical and not of small order (where dalek's batch equation
//! and `verify_strict` provably agree, up to 2^-128), falls back to one-by-one checks when a
//! batch fails, and so names exactly the bad signatures. Every node gets the same answer
//! whichever path it takes; that is what keeps execution deterministic.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use thiserror::Error;

use crate::codec::{Decode, DecodeError, Encode, Reader};

/// An account or validator address: a 32-byte compressed ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PublicKey(pub [u8; 32]);

/// A 64-byte ed25519 signature (`R ‖ s`).
#[derive(Clone, Copy, PartialEq, Eq)]
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

/// Check one signature with the on-chain rule (`verify_strict`).
///
/// Computed as dalek's `verify_strict` is defined, without its second decompression of `R`:
/// `verify` already requires `R` to equal the canonical encoding of the recomputed point,
/// so the small-order test on `R` can be done on its bytes. A property test checks that
/// this agrees with `verify_strict` on valid, corrupted and small-order inputs.
pub fn verify(key: &PublicKey, message: &[u8], sig: &Signature) -> bool {
    let Some(vk) = verifying_key(key) else {
        return false;
    };
    if !r_is_batch_safe(&sig.0) {
        return false;
    }
    let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
    ed25519_dalek::Verifier::verify(&vk, message, &sig).is_ok()
}

/// Most decompressed keys kept per thread; the cache is emptied when it fills.
const KEY_CACHE_ENTRIES: usize = 16_384;

thread_local! {
    static KEY_CACHE: std::cell::RefCell<std::collections::HashMap<[u8; 32], Option<VerifyingKey>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The decompressed key, or `None` if the bytes are not a point or the point has small
/// order. Decompression costs about as much as a third of a verification, and senders sign
/// again and again, so results are cached per thread (only speed depends on the cache).
fn verifying_key(key: &PublicKey) -> Option<VerifyingKey> {
    KEY_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(vk) = cache.get(&key.0) {
            return *vk;
        }
        let vk = VerifyingKey::from_bytes(&key.0)
            .ok()
            .filter(|k| !k.is_weak());
        if cache.len() >= KEY_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key.0, vk);
        vk
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

/// Verify many signatures; `result[i]` tells whether `checks[i]` is valid.
///
/// Gives exactly the answers of [`verify`] for each item: signatures that dalek's batch
/// equation could treat differently (non-canonical or small-order `R`, weak or invalid
/// keys) are checked one by one; the rest go through batches of `chunk` (0 means one
/// batch), and a failing batch is re-checked one by one to find the bad signatures.
pub fn verify_batch(checks: &[SignatureCheck<'_>], chunk: usize) -> Vec<bool> {
    let mut result = vec![false; checks.len()];
    // Parallel lists of what can be batched, built once and sliced per chunk.
    let mut index: Vec<usize> = Vec::with_capacity(checks.len());
    let mut keys: Vec<VerifyingKey> = Vec::with_capacity(checks.len());
    let mut messages: Vec<&[u8]> = Vec::with_capacity(checks.len());
    let mut sigs: Vec<ed25519_dalek::Signature> = Vec::with_capacity(checks.len());
    for (i, c) in checks.iter().enumerate() {
        match verifying_key(c.key) {
            Some(vk) if r_is_batch_safe(&c.signature.0) && s_is_canonical(&c.signature.0) => {
                index.push(i);
                keys.push(vk);
                messages.push(c.message);
                sigs.push(ed25519_dalek::Signature::from_bytes(&c.signature.0));
            }
            _ => result[i] = verify(c.key, c.message, c.signature),
        }
    }
    let chunk = if chunk == 0 {
        index.len().max(1)
    } else {
        chunk
    };
    let mut start = 0;
    while start < index.len() {
        let end = (start + chunk).min(index.len());
        let ok = ed25519_dalek::verify_batch(
            &messages[start..end],
            &sigs[start..end],
            &keys[start..end],
        )
        .is_ok();
        for &i in &index[start..end] {
            let c = &checks[i];
            result[i] = ok || verify(c.key, c.message, c.signature);
        }
        start = end;
    }
    result
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
/// is not of small order, judged from its bytes alone. `true` means dalek's batch equation
/// and `verify_strict` agree on this signature.
fn r_is_batch_safe(sig: &[u8; 64]) -> bool {
    let mut y = [0u8; 32];
    y.copy_from_slice(&sig[..32]);
    y[31] &= 0x7f;
    // Canonical: y < p = 2^255 - 19, i.e. not in [p, 2^255 - 1].
    let non_canonical = y[31] == 0x7f && y[1..31].iter().all(|&b| b == 0xff) && y[0] >= 0xed;
    !non_canonical && !SMALL_ORDER_Y.contains(&y)
}

/// Whether `s` (the last 32 bytes) is below the group order ℓ; dalek rejects it otherwise
/// on both paths, but checking here keeps the batch free of signatures bound to fail.
fn s_is_canonical(sig: &[u8; 64]) -> bool {
    // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
    const L: [u8; 32] = hex32("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    for i in (0..32).rev() {
        let s = sig[32 + i];
        if s != L[i] {
            return s < L[i];
        }
    }
    false
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
        let checks: Vec<SignatureCheck> = (0..20)
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// `verify` and `verify_batch` give exactly dalek's `verify_strict` answers, for
        /// valid signatures, corrupted ones, small-order and non-canonical R and keys.
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
