//! The inner proof-of-work hash for many nonces at once: one BLAKE3 compression per nonce,
//! `L` nonces side by side in SIMD lanes (AVX-512: 16, AVX2: 8, portable: 4 in plain arrays
//! the compiler vectorizes for the baseline target, scalar: 1).
//!
//! The input block is `seed (8 words) ‖ nonce lo, nonce hi ‖ padding (6 words)`; only the
//! two nonce words differ between lanes. The compression is BLAKE3's (IV as key, counter 0,
//! block length 64, flags CHUNK_START | CHUNK_END | ROOT), so each lane's output equals
//! `blake3::hash` of that lane's 64-byte block; the tests check every lane of every backend.

use ledger::mining::POW_PADDING;

/// BLAKE3's IV (SHA-256's).
const IV: [u32; 8] = [
    0x6A09_E667,
    0xBB67_AE85,
    0x3C6E_F372,
    0xA54F_F53A,
    0x510E_527F,
    0x9B05_688C,
    0x1F83_D9AB,
    0x5BE0_CD19,
];
/// CHUNK_START | CHUNK_END | ROOT.
const FLAGS: u32 = 1 | 2 | 8;
/// BLAKE3's message word order per round.
const SCHEDULE: [[usize; 16]; 7] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8],
    [3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1],
    [10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6],
    [12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4],
    [9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7],
    [11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13],
];

/// A vector of `LANES` u32 words: the operations the compression needs.
pub trait Lanes: Copy {
    /// Words per vector.
    const LANES: usize;
    /// Every lane `x`.
    fn splat(x: u32) -> Self;
    /// Lane `i` holds `base + i`.
    fn ramp(base: u32) -> Self;
    /// Lane-wise wrapping add.
    fn add(self, o: Self) -> Self;
    /// Lane-wise xor.
    fn xor(self, o: Self) -> Self;
    /// Rotate right by 16.
    fn ror16(self) -> Self;
    /// Rotate right by 12.
    fn ror12(self) -> Self;
    /// Rotate right by 8.
    fn ror8(self) -> Self;
    /// Rotate right by 7.
    fn ror7(self) -> Self;
    /// Write the lanes to `out[..LANES]`.
    fn store(self, out: &mut [u32]);
}

/// The seed and padding as message words (what stays fixed while nonces vary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    words: [u32; 16],
}

impl Block {
    /// The message words for `seed`; the nonce words are filled per lane.
    pub fn new(seed: &[u8; 32]) -> Block {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(seed);
        bytes[40..].copy_from_slice(&POW_PADDING);
        let mut words = [0u32; 16];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *w = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Block { words }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn g<V: Lanes>(v: &mut [V; 16], a: usize, b: usize, c: usize, d: usize, x: V, y: V) {
    v[a] = v[a].add(v[b]).add(x);
    v[d] = v[d].xor(v[a]).ror16();
    v[c] = v[c].add(v[d]);
    v[b] = v[b].xor(v[c]).ror12();
    v[a] = v[a].add(v[b]).add(y);
    v[d] = v[d].xor(v[a]).ror8();
    v[c] = v[c].add(v[d]);
    v[b] = v[b].xor(v[c]).ror7();
}

#[inline(always)]
fn round<V: Lanes>(v: &mut [V; 16], m: &[V; 16], s: &[usize; 16]) {
    g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
}

/// The 8 output words of each lane for nonces `nonce + i` (`nonce` must be a multiple of
/// `V::LANES`, so the low word never carries into the high word inside one vector).
#[inline(always)]
pub fn compress<V: Lanes>(block: &Block, nonce: u64) -> [V; 8] {
    let w = &block.words;
    let lo = V::ramp(nonce as u32);
    let hi = V::splat((nonce >> 32) as u32);
    let s = V::splat;
    let m = [
        s(w[0]),
        s(w[1]),
        s(w[2]),
        s(w[3]),
        s(w[4]),
        s(w[5]),
        s(w[6]),
        s(w[7]),
        lo,
        hi,
        s(w[10]),
        s(w[11]),
        s(w[12]),
        s(w[13]),
        s(w[14]),
        s(w[15]),
    ];
    let mut v = [
        s(IV[0]),
        s(IV[1]),
        s(IV[2]),
        s(IV[3]),
        s(IV[4]),
        s(IV[5]),
        s(IV[6]),
        s(IV[7]),
        s(IV[0]),
        s(IV[1]),
        s(IV[2]),
        s(IV[3]),
        s(0),
        s(0),
        s(64),
        s(FLAGS),
    ];
    for sched in &SCHEDULE {
        round(&mut v, &m, sched);
    }
    [
        v[0].xor(v[8]),
        v[1].xor(v[9]),
        v[2].xor(v[10]),
        v[3].xor(v[11]),
        v[4].xor(v[12]),
        v[5].xor(v[13]),
        v[6].xor(v[14]),
        v[7].xor(v[15]),
    ]
}

/// Search `count` nonces from `start` (both multiples of `V::LANES`); push every nonce whose
/// hash's first 4 bytes, read big-endian, are ≤ `prefix` (the target's first 4 bytes). The
/// caller checks candidates in full. Returns how many nonces were hashed.
#[inline(always)]
pub fn scan<V: Lanes>(
    block: &Block,
    start: u64,
    count: u64,
    prefix: u32,
    found: &mut Vec<u64>,
) -> u64 {
    let step = V::LANES as u64;
    let mut first = [0u32; 16];
    let mut nonce = start;
    let end = start.saturating_add(count);
    while nonce < end {
        let out = compress::<V>(block, nonce);
        out[0].store(&mut first);
        for (i, w) in first[..V::LANES].iter().enumerate() {
            if w.swap_bytes() <= prefix {
                found.push(nonce + i as u64);
            }
        }
        nonce = nonce.wrapping_add(step);
    }
    nonce.wrapping_sub(start)
}

/// `N` words in a plain array: the portable backend (`N = 4` for SSE2/NEON-sized vectors the
/// compiler emits on its own, `N = 1` for the scalar path).
#[derive(Clone, Copy, Debug)]
pub struct Portable<const N: usize>([u32; N]);

impl<const N: usize> Lanes for Portable<N> {
    const LANES: usize = N;
    #[inline(always)]
    fn splat(x: u32) -> Self {
        Portable([x; N])
    }
    #[inline(always)]
    fn ramp(base: u32) -> Self {
        Portable(std::array::from_fn(|i| base.wrapping_add(i as u32)))
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Portable(std::array::from_fn(|i| self.0[i].wrapping_add(o.0[i])))
    }
    #[inline(always)]
    fn xor(self, o: Self) -> Self {
        Portable(std::array::from_fn(|i| self.0[i] ^ o.0[i]))
    }
    #[inline(always)]
    fn ror16(self) -> Self {
        Portable(self.0.map(|x| x.rotate_right(16)))
    }
    #[inline(always)]
    fn ror12(self) -> Self {
        Portable(self.0.map(|x| x.rotate_right(12)))
    }
    #[inline(always)]
    fn ror8(self) -> Self {
        Portable(self.0.map(|x| x.rotate_right(8)))
    }
    #[inline(always)]
    fn ror7(self) -> Self {
        Portable(self.0.map(|x| x.rotate_right(7)))
    }
    #[inline(always)]
    fn store(self, out: &mut [u32]) {
        out[..N].copy_from_slice(&self.0);
    }
}

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    //! AVX2 (8 lanes) and AVX-512F (16 lanes). The `Lanes` methods are `inline(always)`
    //! wrappers around intrinsics; they are only ever inlined into the
    //! `#[target_feature]` entry points below, which run only after run-time detection.
    #![allow(unsafe_code)]

    use std::arch::x86_64::*;

    use super::{Block, Lanes, scan};

    /// 8 lanes in a 256-bit register.
    #[derive(Clone, Copy, Debug)]
    pub struct Avx2(__m256i);

    /// 16 lanes in a 512-bit register.
    #[derive(Clone, Copy, Debug)]
    pub struct Avx512(__m512i);

    // SAFETY (every `unsafe` block in these two impls): the intrinsics need AVX2 resp.
    // AVX-512F; these methods are called only from `scan_avx2` / `scan_avx512`, which
    // carry the target feature and are only called after `is_x86_feature_detected!`.
    impl Lanes for Avx2 {
        const LANES: usize = 8;
        #[inline(always)]
        fn splat(x: u32) -> Self {
            Avx2(unsafe { _mm256_set1_epi32(x as i32) })
        }
        #[inline(always)]
        fn ramp(base: u32) -> Self {
            let b = base as i32;
            Avx2(unsafe {
                _mm256_add_epi32(
                    _mm256_set1_epi32(b),
                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                )
            })
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            Avx2(unsafe { _mm256_add_epi32(self.0, o.0) })
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            Avx2(unsafe { _mm256_xor_si256(self.0, o.0) })
        }
        #[inline(always)]
        fn ror16(self) -> Self {
            Avx2(unsafe {
                _mm256_shuffle_epi8(
                    self.0,
                    _mm256_setr_epi8(
                        2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4,
                        5, 10, 11, 8, 9, 14, 15, 12, 13,
                    ),
                )
            })
        }
        #[inline(always)]
        fn ror12(self) -> Self {
            Avx2(unsafe {
                _mm256_or_si256(_mm256_srli_epi32(self.0, 12), _mm256_slli_epi32(self.0, 20))
            })
        }
        #[inline(always)]
        fn ror8(self) -> Self {
            Avx2(unsafe {
                _mm256_shuffle_epi8(
                    self.0,
                    _mm256_setr_epi8(
                        1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12, 1, 2, 3, 0, 5, 6, 7,
                        4, 9, 10, 11, 8, 13, 14, 15, 12,
                    ),
                )
            })
        }
        #[inline(always)]
        fn ror7(self) -> Self {
            Avx2(unsafe {
                _mm256_or_si256(_mm256_srli_epi32(self.0, 7), _mm256_slli_epi32(self.0, 25))
            })
        }
        #[inline(always)]
        fn store(self, out: &mut [u32]) {
            let words: [u32; 8] = unsafe { std::mem::transmute(self.0) };
            out[..8].copy_from_slice(&words);
        }
    }

    impl Lanes for Avx512 {
        const LANES: usize = 16;
        #[inline(always)]
        fn splat(x: u32) -> Self {
            Avx512(unsafe { _mm512_set1_epi32(x as i32) })
        }
        #[inline(always)]
        fn ramp(base: u32) -> Self {
            let b = base as i32;
            Avx512(unsafe {
                _mm512_add_epi32(
                    _mm512_set1_epi32(b),
                    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                )
            })
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            Avx512(unsafe { _mm512_add_epi32(self.0, o.0) })
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            Avx512(unsafe { _mm512_xor_si512(self.0, o.0) })
        }
        #[inline(always)]
        fn ror16(self) -> Self {
            Avx512(unsafe { _mm512_ror_epi32::<16>(self.0) })
        }
        #[inline(always)]
        fn ror12(self) -> Self {
            Avx512(unsafe { _mm512_ror_epi32::<12>(self.0) })
        }
        #[inline(always)]
        fn ror8(self) -> Self {
            Avx512(unsafe { _mm512_ror_epi32::<8>(self.0) })
        }
        #[inline(always)]
        fn ror7(self) -> Self {
            Avx512(unsafe { _mm512_ror_epi32::<7>(self.0) })
        }
        #[inline(always)]
        fn store(self, out: &mut [u32]) {
            let words: [u32; 16] = unsafe { std::mem::transmute(self.0) };
            out[..16].copy_from_slice(&words);
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn scan_avx2(b: &Block, start: u64, n: u64, p: u32, f: &mut Vec<u64>) -> u64 {
        scan::<Avx2>(b, start, n, p, f)
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn scan_avx512(b: &Block, start: u64, n: u64, p: u32, f: &mut Vec<u64>) -> u64 {
        scan::<Avx512>(b, start, n, p, f)
    }

    #[target_feature(enable = "avx2")]
    unsafe fn words_avx2(b: &Block, nonce: u64) -> Vec<[u32; 8]> {
        super::lane_words::<Avx2>(b, nonce)
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn words_avx512(b: &Block, nonce: u64) -> Vec<[u32; 8]> {
        super::lane_words::<Avx512>(b, nonce)
    }

    /// [`scan`] with AVX2 lanes, or `None` on a CPU without AVX2 (detection is cached:
    /// one atomic load per call).
    pub fn try_scan_avx2(b: &Block, start: u64, n: u64, p: u32, f: &mut Vec<u64>) -> Option<u64> {
        // SAFETY: the CPU has AVX2 (detected here).
        is_x86_feature_detected!("avx2").then(|| unsafe { scan_avx2(b, start, n, p, f) })
    }

    /// [`scan`] with AVX-512F lanes, or `None` on a CPU without AVX-512F.
    pub fn try_scan_avx512(b: &Block, start: u64, n: u64, p: u32, f: &mut Vec<u64>) -> Option<u64> {
        // SAFETY: the CPU has AVX-512F (detected here).
        is_x86_feature_detected!("avx512f").then(|| unsafe { scan_avx512(b, start, n, p, f) })
    }

    /// Every lane's output words with AVX2, or `None` without AVX2.
    pub fn try_words_avx2(b: &Block, nonce: u64) -> Option<Vec<[u32; 8]>> {
        // SAFETY: the CPU has AVX2 (detected here).
        is_x86_feature_detected!("avx2").then(|| unsafe { words_avx2(b, nonce) })
    }

    /// Every lane's output words with AVX-512F, or `None` without AVX-512F.
    pub fn try_words_avx512(b: &Block, nonce: u64) -> Option<Vec<[u32; 8]>> {
        // SAFETY: the CPU has AVX-512F (detected here).
        is_x86_feature_detected!("avx512f").then(|| unsafe { words_avx512(b, nonce) })
    }
}

/// Transpose `compress`'s output into per-lane words.
#[inline(always)]
pub fn lane_words<V: Lanes>(block: &Block, nonce: u64) -> Vec<[u32; 8]> {
    let out = compress::<V>(block, nonce);
    let mut per_word = [[0u32; 16]; 8];
    for (w, v) in per_word.iter_mut().zip(out) {
        v.store(w);
    }
    (0..V::LANES)
        .map(|lane| std::array::from_fn(|w| per_word[w][lane]))
        .collect()
}

/// A way to hash nonces: which lanes this CPU can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One nonce at a time.
    Scalar,
    /// 4 lanes in plain arrays (the compiler's baseline vectors).
    Portable,
    /// 8 lanes, AVX2.
    Avx2,
    /// 16 lanes, AVX-512F.
    Avx512,
}

impl Backend {
    /// The widest backend this CPU runs.
    pub fn detect() -> Backend {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                return Backend::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") {
                return Backend::Avx2;
            }
        }
        Backend::Portable
    }

    /// Every backend this CPU runs, narrowest first.
    pub fn available() -> Vec<Backend> {
        let mut all = vec![Backend::Scalar, Backend::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                all.push(Backend::Avx2);
            }
            if std::is_x86_feature_detected!("avx512f") {
                all.push(Backend::Avx512);
            }
        }
        all
    }

    /// Nonces per step.
    pub fn lanes(self) -> usize {
        match self {
            Backend::Scalar => 1,
            Backend::Portable => 4,
            Backend::Avx2 => 8,
            Backend::Avx512 => 16,
        }
    }

    /// A short name (`avx512`, `avx2`, `portable`, `scalar`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Portable => "portable",
            Backend::Avx2 => "avx2",
            Backend::Avx512 => "avx512",
        }
    }

    /// Hash `count` nonces from `start` (both multiples of [`Backend::lanes`]); push the
    /// candidates whose first 4 hash bytes are ≤ `prefix`. Returns the nonces hashed.
    pub fn scan(
        self,
        block: &Block,
        start: u64,
        count: u64,
        prefix: u32,
        found: &mut Vec<u64>,
    ) -> u64 {
        let wide = match self {
            Backend::Scalar => return scan::<Portable<1>>(block, start, count, prefix, found),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => x86::try_scan_avx2(block, start, count, prefix, found),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => x86::try_scan_avx512(block, start, count, prefix, found),
            _ => None,
        };
        // a wide backend on a CPU without it: the portable path gives the same hashes
        wide.unwrap_or_else(|| scan::<Portable<4>>(block, start, count, prefix, found))
    }

    /// Every lane's 8 output words for nonces `nonce..nonce + lanes` (tests compare them
    /// with `blake3::hash`).
    pub fn lane_words(self, block: &Block, nonce: u64) -> Vec<[u32; 8]> {
        let wide = match self {
            Backend::Scalar => return lane_words::<Portable<1>>(block, nonce),
            Backend::Portable => return lane_words::<Portable<4>>(block, nonce),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => x86::try_words_avx2(block, nonce),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => x86::try_words_avx512(block, nonce),
            #[cfg(not(target_arch = "x86_64"))]
            _ => None,
        };
        wide.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::mining::{pow_hash, pow_input};

    fn words_of(hash: &[u8; 32]) -> [u32; 8] {
        std::array::from_fn(|i| {
            u32::from_le_bytes([
                hash[4 * i],
                hash[4 * i + 1],
                hash[4 * i + 2],
                hash[4 * i + 3],
            ])
        })
    }

    #[test]
    fn every_lane_of_every_backend_equals_blake3_hash() {
        let seeds = [[0u8; 32], [0xff; 32], *blake3::hash(b"seed").as_bytes()];
        // nonces around the low-word boundary and far up in the high word
        let starts = [
            0u64,
            16,
            0xffff_fff0,
            0x1_0000_0000,
            u64::MAX - 15,
            0x0123_4567_89ab_cde0,
        ];
        for backend in Backend::available() {
            for seed in &seeds {
                let block = Block::new(seed);
                for &start in &starts {
                    let lanes = backend.lane_words(&block, start);
                    assert_eq!(lanes.len(), backend.lanes(), "{backend:?}");
                    for (i, words) in lanes.iter().enumerate() {
                        let nonce = start + i as u64;
                        let expected = blake3::hash(&pow_input(seed, nonce));
                        assert_eq!(
                            *words,
                            words_of(expected.as_bytes()),
                            "{backend:?} lane {i} nonce {nonce:#x}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn scan_finds_exactly_the_candidates_a_plain_loop_finds() {
        let seed = *blake3::hash(b"another seed").as_bytes();
        let block = Block::new(&seed);
        let prefix = 0x0800_0000; // 1 in 32
        let expected: Vec<u64> = (4096..4096 + 2048)
            .filter(|n| {
                let h = pow_hash(&seed, *n);
                u32::from_be_bytes([h[0], h[1], h[2], h[3]]) <= prefix
            })
            .collect();
        assert!(expected.len() > 20);
        for backend in Backend::available() {
            let mut found = Vec::new();
            let hashed = backend.scan(&block, 4096, 2048, prefix, &mut found);
            assert_eq!(hashed, 2048, "{backend:?}");
            assert_eq!(found, expected, "{backend:?}");
        }
    }

    #[test]
    fn detect_picks_an_available_backend() {
        let b = Backend::detect();
        assert!(Backend::available().contains(&b));
        assert!(b.lanes() >= 4);
    }
}
