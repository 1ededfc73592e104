//! The canonical binary encoding.
//!
//! Fixed-width little-endian integers, 32-byte keys and hashes as raw bytes, length-prefixed
//! (u32 LE) sequences bounded by [`Limits`], one-byte tags for enums, booleans as 0 or 1.
//! Every value has exactly one encoding, and [`decode_exact`] fails unless it consumes the
//! whole input. This module must never allocate more than the limits allow before the
//! bytes that justify the allocation have been seen.

use thiserror::Error;

/// Size limits applied while decoding untrusted bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded signed transaction, in bytes.
    pub max_tx_bytes: usize,
    /// Most transactions in one block.
    pub max_block_txs: usize,
    /// Largest encoded block, in bytes.
    pub max_block_bytes: usize,
    /// Longest string (e.g. a validator's network address), in bytes.
    pub max_string_bytes: usize,
    /// Most entries in any other list (validators, proof siblings, receipts…).
    pub max_list_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tx_bytes: 1024,
            max_block_txs: 50_000,
            max_block_bytes: 32 * 1024 * 1024,
            max_string_bytes: 256,
            max_list_len: 100_000,
        }
    }
}

/// Why bytes could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("unexpected end of input while reading {what}")]
    UnexpectedEnd {
        /// What was being read.
        what: &'static str,
    },
    /// Bytes were left over after the value.
    #[error("{left} trailing bytes after the value")]
    TrailingBytes {
        /// How many bytes were left.
        left: usize,
    },
    /// A length prefix exceeded its limit.
    #[error("{what} has length {len}, above the limit of {max}")]
    TooLong {
        /// What was being read.
        what: &'static str,
        /// The declared length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// An enum tag or flag byte had no meaning.
    #[error("invalid {what} tag {tag}")]
    InvalidTag {
        /// What was being read.
        what: &'static str,
        /// The byte found.
        tag: u8,
    },
    /// A format version this software does not know.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion {
        /// What was being read.
        what: &'static str,
        /// The version found.
        version: u8,
    },
    /// Bytes that decode but break a rule of the type (e.g. not UTF-8, not a valid key).
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What was being read.
        what: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// A cursor over untrusted bytes, carrying the limits in force.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The limits applied to every length prefix read through this reader.
    pub limits: Limits,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8], limits: Limits) -> Self {
        Reader {
            buf,
            pos: 0,
            limits,
        }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The current offset from the start.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes between two positions already read (`start <= end <= position`).
    pub fn consumed(&self, start: usize, end: usize) -> &'a [u8] {
        let end = end.min(self.pos);
        &self.buf[start.min(end)..end]
    }

    /// Read exactly `n` bytes.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::UnexpectedEnd { what });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Read a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    /// The next byte, without consuming it.
    pub fn peek_u8(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Read one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Read a little-endian u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// Read a little-endian u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// Read a little-endian u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Read a little-endian u128.
    pub fn u128(&mut self, what: &'static str) -> Result<u128, DecodeError> {
        Ok(u128::from_le_bytes(self.array(what)?))
    }

    /// Read a boolean: exactly 0 or 1.
    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::InvalidTag { what, tag }),
        }
    }

    /// Read a u32 length prefix and check it against `max`.
    pub fn len(&mut self, max: usize, what: &'static str) -> Result<usize, DecodeError> {
        let len = self.u32(what)? as usize;
        if len > max {
            return Err(DecodeError::TooLong { what, len, max });
        }
        Ok(len)
    }

    /// Read a length-prefixed UTF-8 string bounded by `max_string_bytes`.
    pub fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let len = self.len(self.limits.max_string_bytes, what)?;
        let raw = self.bytes(len, what)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Invalid {
                what,
                why: "not UTF-8",
            })
    }

    /// Read a length-prefixed list of at most `max` items.
    pub fn list<T: Decode>(
        &mut self,
        max: usize,
        what: &'static str,
    ) -> Result<Vec<T>, DecodeError> {
        let len = self.len(max, what)?;
        // Never reserve more than the remaining input could possibly hold, nor more than
        // 1,024 items before they are read (an item may be far larger in memory than in
        // its bytes: a transaction of ~100 bytes takes ~300); the vector grows as they are.
        let mut out = Vec::with_capacity(len.min(self.remaining()).min(1024));
        for _ in 0..len {
            out.push(T::decode(self)?);
        }
        Ok(out)
    }

    /// Fail unless every byte has been read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            left => Err(DecodeError::TrailingBytes { left }),
        }
    }
}

/// A value with one canonical byte encoding.
pub trait Encode {
    /// Append the encoding to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);

    /// The encoding as a new vector.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }
}

/// A value that can be read back from its canonical encoding.
pub trait Decode: Sized {
    /// Read one value from the reader.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// Decode a value that must occupy all of `bytes`.
pub fn decode_exact<T: Decode>(bytes: &[u8], limits: Limits) -> Result<T, DecodeError> {
    let mut r = Reader::new(bytes, limits);
    let value = T::decode(&mut r)?;
    r.finish()?;
    Ok(value)
}

/// Append a u32 length prefix.
pub fn put_len(out: &mut Vec<u8>, len: usize) {
    // Lengths are bounded by `Limits`, far below u32::MAX; saturate rather than wrap so an
    // impossible length can never encode as a small valid one.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

/// Append a length-prefixed string.
pub fn put_string(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Append a length-prefixed list.
pub fn put_list<T: Encode>(out: &mut Vec<u8>, items: &[T]) {
    put_len(out, items.len());
    for item in items {
        item.encode_to(out);
    }
}

impl Encode for crate::Hash {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for crate::Hash {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(crate::Hash(r.array("hash")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_rejects_other_bytes() {
        let mut r = Reader::new(&[2], Limits::default());
        assert!(matches!(
            r.bool("flag"),
            Err(DecodeError::InvalidTag { tag: 2, .. })
        ));
    }

    #[test]
    fn length_limit_is_checked_before_reading() {
        let limits = Limits {
            max_list_len: 3,
            ..Limits::default()
        };
        let mut bytes = Vec::new();
        put_len(&mut bytes, 4);
        let mut r = Reader::new(&bytes, limits);
        assert!(matches!(
            r.list::<crate::Hash>(limits.max_list_len, "hashes"),
            Err(DecodeError::TooLong { len: 4, max: 3, .. })
        ));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let h = crate::Hash([1; 32]);
        let mut bytes = h.encode();
        assert_eq!(
            decode_exact::<crate::Hash>(&bytes, Limits::default()),
            Ok(h)
        );
        bytes.push(0);
        assert_eq!(
            decode_exact::<crate::Hash>(&bytes, Limits::default()),
            Err(DecodeError::TrailingBytes { left: 1 })
        );
    }
}
