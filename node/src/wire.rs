//! Wire messages between nodes: canonical bytes with a size limit per message type.
//!
//! Every request is one frame: a type tag and its body, encoded with the ledger's bounded
//! codec (the whole frame must be consumed). A frame over its type's limit, or that does not
//! decode, is malformed: the sender's score drops (see `p2p`).

use consensus::{Certificate, Certified, Message, Proposal, Signature, Vote, VoteKind};
use ledger::codec::{DecodeError, Encode, Limits, Reader, put_len};
use ledger::{Block, BlockHeader, Hash, SignedTransaction};

/// Largest consensus message (a certificate of up to [`MAX_VALIDATORS`] signatures).
pub const MAX_CONSENSUS_BYTES: usize = 16 + 1 + 88 + 4 + MAX_VALIDATORS * 68;
/// The most validators a certificate may list.
pub const MAX_VALIDATORS: usize = 1024;
/// Largest transaction batch frame.
pub const MAX_TX_BATCH_BYTES: usize = 8 << 20;
/// Most transactions in one batch.
pub const MAX_TX_BATCH: usize = 16_384;
/// Largest frame of any kind (a sync response of several blocks).
pub const MAX_FRAME_BYTES: usize = 64 << 20;
/// Largest frame on a peer's frames stream (votes, proposals, gossip): a transaction batch,
/// the largest pushed message, with room for its tag and length.
pub const MAX_PUSH_FRAME_BYTES: usize = MAX_TX_BATCH_BYTES + (64 << 10);
/// Largest request frame (a `GetTxs` naming every position of a 50,000-transaction block
/// takes about 200 KB).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Most blocks in one sync response.
pub const MAX_SYNC_BLOCKS: u32 = 256;
/// A sync response stops adding blocks past this many bytes.
pub const SYNC_RESPONSE_SOFT_BYTES: usize = 16 << 20;
/// …or, to finish a run of blocks finalized by the last one's certificate, this many.
pub const SYNC_RESPONSE_HARD_BYTES: usize = 48 << 20;

/// A request from one node to another.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Request {
    /// A consensus message for an epoch.
    Consensus {
        /// The epoch it belongs to.
        epoch: u64,
        /// The message.
        message: Message,
    },
    /// Transactions for the mempool.
    Txs(Vec<SignedTransaction>),
    /// "My last finalized height is this."
    Status {
        /// The sender's last finalized height.
        finalized_height: u64,
    },
    /// Finalized blocks with their finality proofs, from `from` up.
    GetBlocks {
        /// First height.
        from: u64,
        /// At most this many.
        max: u32,
    },
    /// A block by hash (finalized or proposed).
    GetBlock {
        /// Its hash.
        hash: Hash,
    },
    /// A proposed block as the leader of `view` broadcasts it: the header and the leaves
    /// of its transactions (`SignedTransaction::leaf`, every signed byte), which the
    /// validators mostly hold from gossip (missing ones are asked for with
    /// [`Request::GetTxs`]). Accepted only from the leader of `view` in `epoch`, one per
    /// view; the leaves are checked against the header's tx root.
    ProposedBlock {
        /// The epoch of the view.
        epoch: u64,
        /// The view it is proposed in.
        view: u64,
        /// The header.
        header: BlockHeader,
        /// Transaction leaves in execution order.
        leaves: Vec<Hash>,
    },
    /// Transactions of a proposed block, by position, from the block's leader.
    GetTxs {
        /// The block.
        block: Hash,
        /// Positions in the block.
        indices: Vec<u32>,
    },
    /// The finality evidence of the finalized block at `height` (`light::FinalityEvidence`
    /// bytes): what a joining node walks validator sets with.
    GetFinality {
        /// The block's height.
        height: u64,
    },
    /// The manifest of the state snapshot taken after block `height` (0: the newest this
    /// node serves).
    GetSnapshot {
        /// The snapshot's height, or 0.
        height: u64,
    },
    /// One chunk of the snapshot taken after block `height`.
    GetSnapshotChunk {
        /// The snapshot's height.
        height: u64,
        /// The chunk's index in the manifest.
        index: u32,
    },
}

/// A finalized block as served to syncing nodes: the block, the proposal that carried it,
/// and the finalization certificate of that proposal or of a descendant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FinalizedBlock {
    /// The block.
    pub block: Block,
    /// The finality proof bytes as stored ([`FinalityProof::encode`]).
    pub proof: Vec<u8>,
}

/// What a `Refused` answer says when the asker is over its budget for that request: the
/// asker should ask that peer more slowly (it may count the asker as an observer).
pub const OVER_BUDGET: &str = "over budget: slow down";

/// What a `Refused` answer says when the asker owes the server for the size of its last
/// answers (it counts as asking too fast, whoever the asker is).
pub const OVER_ANSWER_BUDGET: &str = "over its answer budget: slow down";

/// The answer to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Response {
    /// Received (fire-and-forget messages).
    Ack,
    /// Not accepted from this peer (with why: at most [`MAX_REFUSAL_BYTES`] are sent).
    Refused(String),
    /// Finalized blocks, in height order.
    Blocks(Vec<FinalizedBlock>),
    /// The block asked for, if known.
    Block(Option<Box<Block>>),
    /// The transactions asked for with [`Request::GetTxs`], in the order asked (empty if
    /// the block is unknown).
    Txs(Vec<SignedTransaction>),
    /// What [`Request::GetFinality`], [`Request::GetSnapshot`] or
    /// [`Request::GetSnapshotChunk`] asked for (encoded evidence, manifest or chunk), or
    /// `None` if this node does not hold it.
    Data(Option<Vec<u8>>),
}

/// The longest refusal reason sent, in bytes (within every node's string limit).
pub const MAX_REFUSAL_BYTES: usize = 200;

/// `why` cut to at most [`MAX_REFUSAL_BYTES`] bytes, at a character boundary. (Cutting at
/// 200 *characters* let a reason of multi-byte characters exceed the 256-byte string limit,
/// so the answer did not decode: found by the `roundtrip` fuzz target.)
pub fn refusal_text(why: &str) -> &str {
    let mut end = why.len().min(MAX_REFUSAL_BYTES);
    while !why.is_char_boundary(end) {
        end -= 1;
    }
    &why[..end]
}

/// Why a frame was rejected.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Too large for its type.
    #[error("{what} of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Message type.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Type tag of [`Request::Consensus`].
pub const T_CONSENSUS: u8 = 1;
// 2 was a whole proposed block pushed by its leader: never sent, retired
/// Type tag of [`Request::Txs`].
pub const T_TXS: u8 = 3;
/// Type tag of [`Request::Status`].
pub const T_STATUS: u8 = 4;
/// Type tag of [`Request::GetBlocks`].
pub const T_GET_BLOCKS: u8 = 5;
/// Type tag of [`Request::GetBlock`].
pub const T_GET_BLOCK: u8 = 6;
// 7 was the block ids of a proposal without its view: retired
/// Type tag of [`Request::GetTxs`].
pub const T_GET_TXS: u8 = 8;
/// Type tag of [`Request::ProposedBlock`].
pub const T_PROPOSED_BLOCK: u8 = 9;
/// Type tag of [`Request::GetFinality`].
pub const T_GET_FINALITY: u8 = 10;
/// Type tag of [`Request::GetSnapshot`].
pub const T_GET_SNAPSHOT: u8 = 11;
/// Type tag of [`Request::GetSnapshotChunk`].
pub const T_GET_SNAPSHOT_CHUNK: u8 = 12;

const R_ACK: u8 = 1;
const R_REFUSED: u8 = 2;
const R_BLOCKS: u8 = 3;
const R_BLOCK: u8 = 4;
const R_TXS: u8 = 5;
const R_DATA: u8 = 6;

/// Whether a request frame expects a real answer (the others are acknowledged at once).
pub fn expects_answer(frame: &[u8]) -> bool {
    matches!(
        frame.first(),
        Some(
            &(T_GET_BLOCKS
                | T_GET_BLOCK
                | T_GET_TXS
                | T_GET_FINALITY
                | T_GET_SNAPSHOT
                | T_GET_SNAPSHOT_CHUNK)
        )
    )
}

/// The limit for a request type tag.
fn request_limit(tag: u8, limits: &Limits) -> (&'static str, usize) {
    match tag {
        T_CONSENSUS => ("consensus message", MAX_CONSENSUS_BYTES),
        T_TXS => ("transaction batch", MAX_TX_BATCH_BYTES),
        T_STATUS => ("status", 16),
        T_GET_BLOCKS => ("block range request", 16),
        T_GET_BLOCK => ("block request", 40),
        T_PROPOSED_BLOCK => ("proposed block", 512 + limits.max_block_txs * 32),
        T_GET_TXS => ("transaction request", 48 + limits.max_block_txs * 4),
        T_GET_FINALITY => ("finality request", 9),
        T_GET_SNAPSHOT => ("snapshot request", 9),
        T_GET_SNAPSHOT_CHUNK => ("snapshot chunk request", 13),
        _ => ("unknown message", 1),
    }
}

impl Request {
    /// The frame bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Request::Consensus { epoch, message } => {
                out.push(T_CONSENSUS);
                out.extend_from_slice(&epoch.to_le_bytes());
                encode_message(message, &mut out);
            }
            Request::Txs(txs) => {
                out.push(T_TXS);
                put_len(&mut out, txs.len());
                for t in txs {
                    t.encode_to(&mut out);
                }
            }
            Request::Status { finalized_height } => {
                out.push(T_STATUS);
                out.extend_from_slice(&finalized_height.to_le_bytes());
            }
            Request::GetBlocks { from, max } => {
                out.push(T_GET_BLOCKS);
                out.extend_from_slice(&from.to_le_bytes());
                out.extend_from_slice(&max.to_le_bytes());
            }
            Request::GetBlock { hash } => {
                out.push(T_GET_BLOCK);
                out.extend_from_slice(hash.as_bytes());
            }
            Request::ProposedBlock {
                epoch,
                view,
                header,
                leaves,
            } => {
                out.reserve(320 + leaves.len() * 32);
                out.push(T_PROPOSED_BLOCK);
                out.extend_from_slice(&epoch.to_le_bytes());
                out.extend_from_slice(&view.to_le_bytes());
                header.encode_to(&mut out);
                put_len(&mut out, leaves.len());
                for leaf in leaves {
                    out.extend_from_slice(leaf.as_bytes());
                }
            }
            Request::GetTxs { block, indices } => {
                out.push(T_GET_TXS);
                out.extend_from_slice(block.as_bytes());
                put_len(&mut out, indices.len());
                for i in indices {
                    out.extend_from_slice(&i.to_le_bytes());
                }
            }
            Request::GetFinality { height } => {
                out.push(T_GET_FINALITY);
                out.extend_from_slice(&height.to_le_bytes());
            }
            Request::GetSnapshot { height } => {
                out.push(T_GET_SNAPSHOT);
                out.extend_from_slice(&height.to_le_bytes());
            }
            Request::GetSnapshotChunk { height, index } => {
                out.push(T_GET_SNAPSHOT_CHUNK);
                out.extend_from_slice(&height.to_le_bytes());
                out.extend_from_slice(&index.to_le_bytes());
            }
        }
        out
    }

    /// Decode a frame, enforcing its type's size limit.
    pub fn decode(bytes: &[u8], limits: Limits) -> Result<Request, WireError> {
        let tag = bytes.first().copied().unwrap_or(0);
        let (what, max) = request_limit(tag, &limits);
        if bytes.len() > max {
            return Err(WireError::TooLarge {
                what,
                len: bytes.len(),
                max,
            });
        }
        let mut r = Reader::new(bytes, limits);
        let tag = r.u8("message type")?;
        let req = match tag {
            T_CONSENSUS => Request::Consensus {
                epoch: r.u64("epoch")?,
                message: decode_message(&mut r)?,
            },
            T_TXS => Request::Txs(decode_txs(&mut r, MAX_TX_BATCH, "transaction batch")?),
            T_STATUS => Request::Status {
                finalized_height: r.u64("height")?,
            },
            T_GET_BLOCKS => Request::GetBlocks {
                from: r.u64("from")?,
                max: r.u32("max")?,
            },
            T_GET_BLOCK => Request::GetBlock {
                hash: Hash(r.array("hash")?),
            },
            T_PROPOSED_BLOCK => {
                let epoch = r.u64("epoch")?;
                let view = r.u64("view")?;
                let header = <BlockHeader as ledger::codec::Decode>::decode(&mut r)?;
                let n = r.len(limits.max_block_txs, "block transaction leaves")?;
                // reserve only what the remaining bytes can hold (32 per leaf)
                let mut leaves = Vec::with_capacity(n.min(r.remaining() / 32));
                for _ in 0..n {
                    leaves.push(Hash(r.array("transaction leaf")?));
                }
                Request::ProposedBlock {
                    epoch,
                    view,
                    header,
                    leaves,
                }
            }
            T_GET_TXS => {
                let block = Hash(r.array("block hash")?);
                let n = r.len(limits.max_block_txs, "transaction positions")?;
                let mut indices = Vec::with_capacity(n.min(r.remaining() / 4));
                for _ in 0..n {
                    indices.push(r.u32("transaction position")?);
                }
                Request::GetTxs { block, indices }
            }
            T_GET_FINALITY => Request::GetFinality {
                height: r.u64("height")?,
            },
            T_GET_SNAPSHOT => Request::GetSnapshot {
                height: r.u64("height")?,
            },
            T_GET_SNAPSHOT_CHUNK => Request::GetSnapshotChunk {
                height: r.u64("height")?,
                index: r.u32("chunk index")?,
            },
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "message type",
                    tag,
                }
                .into());
            }
        };
        r.finish()?;
        Ok(req)
    }
}

impl Response {
    /// The frame bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Response::Ack => out.push(R_ACK),
            Response::Refused(why) => {
                out.push(R_REFUSED);
                ledger::codec::put_string(&mut out, refusal_text(why));
            }
            Response::Blocks(blocks) => {
                out.push(R_BLOCKS);
                put_len(&mut out, blocks.len());
                for b in blocks {
                    b.block.encode_to(&mut out);
                    put_len(&mut out, b.proof.len());
                    out.extend_from_slice(&b.proof);
                }
            }
            Response::Block(b) => {
                out.push(R_BLOCK);
                match b {
                    None => out.push(0),
                    Some(b) => {
                        out.push(1);
                        b.encode_to(&mut out);
                    }
                }
            }
            Response::Txs(txs) => {
                out.push(R_TXS);
                put_len(&mut out, txs.len());
                for t in txs {
                    t.encode_to(&mut out);
                }
            }
            Response::Data(d) => {
                out.push(R_DATA);
                match d {
                    None => out.push(0),
                    Some(bytes) => {
                        out.push(1);
                        put_len(&mut out, bytes.len());
                        out.extend_from_slice(bytes);
                    }
                }
            }
        }
        out
    }

    /// Decode a response frame.
    pub fn decode(bytes: &[u8], limits: Limits) -> Result<Response, WireError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(WireError::TooLarge {
                what: "response",
                len: bytes.len(),
                max: MAX_FRAME_BYTES,
            });
        }
        let mut r = Reader::new(bytes, limits);
        let resp = match r.u8("response type")? {
            R_ACK => Response::Ack,
            R_REFUSED => Response::Refused(r.string("reason")?),
            R_BLOCKS => {
                let n = r.len(MAX_SYNC_BLOCKS as usize, "blocks")?;
                let mut blocks = Vec::with_capacity(n);
                for _ in 0..n {
                    let block = <Block as ledger::codec::Decode>::decode(&mut r)?;
                    let len = r.len(MAX_CONSENSUS_BYTES, "finality proof")?;
                    let proof = r.bytes(len, "finality proof")?.to_vec();
                    blocks.push(FinalizedBlock { block, proof });
                }
                Response::Blocks(blocks)
            }
            R_TXS => Response::Txs(decode_txs(&mut r, limits.max_block_txs, "transactions")?),
            R_DATA => match r.u8("data option")? {
                0 => Response::Data(None),
                1 => {
                    let n = r.len(MAX_FRAME_BYTES, "data length")?;
                    Response::Data(Some(r.bytes(n, "data")?.to_vec()))
                }
                tag => {
                    return Err(DecodeError::InvalidTag {
                        what: "data option",
                        tag,
                    }
                    .into());
                }
            },
            R_BLOCK => match r.u8("block option")? {
                0 => Response::Block(None),
                1 => Response::Block(Some(Box::new(<Block as ledger::codec::Decode>::decode(
                    &mut r,
                )?))),
                tag => {
                    return Err(DecodeError::InvalidTag {
                        what: "block option",
                        tag,
                    }
                    .into());
                }
            },
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "response type",
                    tag,
                }
                .into());
            }
        };
        r.finish()?;
        Ok(resp)
    }
}

/// What makes a finalized block final: the proposal that carried it and a finalization of
/// that proposal, of a descendant, or (at an epoch's last height) of a re-proposal of it
/// ([`Proposal::repeats`]). Stored with every committed block.
///
/// Bytes: the proposal (88), then the certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FinalityProof {
    /// The block's proposal.
    pub proposal: Proposal,
    /// The finalization covering it.
    pub certificate: Certificate,
}

impl FinalityProof {
    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(88 + 100 + self.certificate.signatures.len() * 68);
        out.extend_from_slice(&self.proposal.encode());
        encode_certificate(&self.certificate, &mut out);
        out
    }

    /// Decode (the whole input).
    pub fn decode(bytes: &[u8]) -> Result<FinalityProof, WireError> {
        let mut r = Reader::new(bytes, Limits::default());
        let proposal = decode_proposal(&mut r)?;
        let certificate = decode_certificate(&mut r)?;
        r.finish()?;
        Ok(FinalityProof {
            proposal,
            certificate,
        })
    }

    /// Whether the certificate finalizes this block itself (its proposal, or a
    /// re-proposal of it), rather than only a descendant. Checks the link, not the
    /// signatures, nor that the block is at an epoch's last height (the only height a
    /// re-proposal may have: the caller knows the epoch length).
    pub fn closes(&self) -> bool {
        matches!(self.certificate.certified,
            Certified::Finalization(q) if q == self.proposal || q.repeats(&self.proposal))
    }

    /// Whether the certificate is of a re-proposal of the block.
    pub fn by_re_proposal(&self) -> bool {
        matches!(self.certificate.certified,
            Certified::Finalization(q) if q.repeats(&self.proposal))
    }
}

/// A length-prefixed list of at most `max` signed transactions.
fn decode_txs(
    r: &mut Reader<'_>,
    max: usize,
    what: &'static str,
) -> Result<Vec<SignedTransaction>, DecodeError> {
    let n = r.len(max, what)?;
    // every transaction takes more than 64 bytes: a lying count cannot reserve much
    let mut txs = Vec::with_capacity(n.min(r.remaining() / 64 + 1));
    for _ in 0..n {
        txs.push(<SignedTransaction as ledger::codec::Decode>::decode(r)?);
    }
    Ok(txs)
}

fn decode_proposal(r: &mut Reader<'_>) -> Result<Proposal, DecodeError> {
    Ok(Proposal::decode(&r.array::<88>("proposal")?))
}

fn encode_kind(kind: &VoteKind, out: &mut Vec<u8>) {
    match kind {
        VoteKind::Notarize(p) => {
            out.push(1);
            out.extend_from_slice(&p.encode());
        }
        VoteKind::Nullify(v) => {
            out.push(2);
            out.extend_from_slice(&v.to_le_bytes());
        }
        VoteKind::Finalize(p) => {
            out.push(3);
            out.extend_from_slice(&p.encode());
        }
    }
}

fn decode_kind(r: &mut Reader<'_>) -> Result<VoteKind, DecodeError> {
    Ok(match r.u8("vote kind")? {
        1 => VoteKind::Notarize(decode_proposal(r)?),
        2 => VoteKind::Nullify(r.u64("view")?),
        3 => VoteKind::Finalize(decode_proposal(r)?),
        tag => {
            return Err(DecodeError::InvalidTag {
                what: "vote kind",
                tag,
            });
        }
    })
}

/// Append a vote's bytes (also the safety log's record format).
pub fn encode_vote(v: &Vote, out: &mut Vec<u8>) {
    encode_kind(&v.kind, out);
    out.extend_from_slice(&v.signer.to_le_bytes());
    out.extend_from_slice(&v.signature.0);
}

/// Read a vote.
pub fn decode_vote(r: &mut Reader<'_>) -> Result<Vote, DecodeError> {
    Ok(Vote {
        kind: decode_kind(r)?,
        signer: r.u32("signer")?,
        signature: Signature(r.array("signature")?),
    })
}

/// A certificate's bytes: the vote kind it certifies (as in a vote), the signature count
/// (u32 LE), then each `(signer u32 LE, signature 64)` in increasing signer order.
pub fn encode_certificate_bytes(c: &Certificate) -> Vec<u8> {
    let mut out = Vec::with_capacity(100 + c.signatures.len() * 68);
    encode_certificate(c, &mut out);
    out
}

/// Decode a certificate (the whole input).
pub fn decode_certificate_bytes(bytes: &[u8]) -> Result<Certificate, WireError> {
    let mut r = Reader::new(bytes, Limits::default());
    let c = decode_certificate(&mut r)?;
    r.finish()?;
    Ok(c)
}

fn encode_certificate(c: &Certificate, out: &mut Vec<u8>) {
    let kind = c.certified.vote_kind();
    encode_kind(&kind, out);
    put_len(out, c.signatures.len());
    for (i, s) in &c.signatures {
        out.extend_from_slice(&i.to_le_bytes());
        out.extend_from_slice(&s.0);
    }
}

fn decode_certificate(r: &mut Reader<'_>) -> Result<Certificate, DecodeError> {
    let certified = match decode_kind(r)? {
        VoteKind::Notarize(p) => Certified::Notarization(p),
        VoteKind::Nullify(v) => Certified::Nullification(v),
        VoteKind::Finalize(p) => Certified::Finalization(p),
    };
    let n = r.len(MAX_VALIDATORS, "signatures")?;
    let mut signatures = Vec::with_capacity(n.min(r.remaining() / 68));
    for _ in 0..n {
        signatures.push((r.u32("signer")?, Signature(r.array("signature")?)));
    }
    Ok(Certificate {
        certified,
        signatures,
    })
}

fn encode_message(m: &Message, out: &mut Vec<u8>) {
    match m {
        Message::Vote(v) => {
            out.push(1);
            encode_vote(v, out);
        }
        Message::Certificate(c) => {
            out.push(2);
            encode_certificate(c, out);
        }
        Message::Request { view } => {
            out.push(3);
            out.extend_from_slice(&view.to_le_bytes());
        }
    }
}

fn decode_message(r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    Ok(match r.u8("consensus message type")? {
        1 => Message::Vote(decode_vote(r)?),
        2 => Message::Certificate(decode_certificate(r)?),
        3 => Message::Request {
            view: r.u64("view")?,
        },
        tag => {
            return Err(DecodeError::InvalidTag {
                what: "consensus message type",
                tag,
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use consensus::Digest;

    /// Fuzz regression (`roundtrip`): a refusal of multi-byte characters was cut to 200
    /// characters (400 bytes here), over the 256-byte string limit, and did not decode.
    #[test]
    fn a_long_multibyte_refusal_decodes() {
        for why in ["é".repeat(300), "x".repeat(300), "€".repeat(67) + "é"] {
            let bytes = Response::Refused(why.clone()).encode();
            match Response::decode(&bytes, Limits::default()).unwrap() {
                Response::Refused(got) => {
                    assert!(got.len() <= MAX_REFUSAL_BYTES && why.starts_with(&got));
                    assert!(got.len() > MAX_REFUSAL_BYTES - 4);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    fn proposal() -> Proposal {
        Proposal {
            view: 7,
            height: 5,
            parent_view: 4,
            parent: Digest([1; 32]),
            payload: Digest([2; 32]),
        }
    }

    #[test]
    fn consensus_messages_round_trip() {
        let p = proposal();
        let msgs = [
            Message::Vote(Vote {
                kind: VoteKind::Notarize(p),
                signer: 3,
                signature: Signature([9; 64]),
            }),
            Message::Vote(Vote {
                kind: VoteKind::Nullify(11),
                signer: 0,
                signature: Signature([8; 64]),
            }),
            Message::Certificate(Certificate {
                certified: Certified::Finalization(p),
                signatures: vec![(0, Signature([1; 64])), (2, Signature([3; 64]))],
            }),
            Message::Request { view: 99 },
        ];
        for m in msgs {
            let req = Request::Consensus {
                epoch: 2,
                message: m,
            };
            let bytes = req.encode();
            assert_eq!(Request::decode(&bytes, Limits::default()).unwrap(), req);
            // every truncation fails cleanly, and so does a trailing byte
            for cut in 0..bytes.len() {
                assert!(Request::decode(&bytes[..cut], Limits::default()).is_err());
            }
            let mut long = bytes.clone();
            long.push(0);
            assert!(Request::decode(&long, Limits::default()).is_err());
        }
    }

    #[test]
    fn compact_blocks_and_transaction_requests_round_trip() {
        use ledger::{Keypair, PublicKey, Transaction, TxKind};
        let k = Keypair::from_secret([4; 32]);
        let txs: Vec<SignedTransaction> = (0..3)
            .map(|nonce| {
                Transaction {
                    chain_id: Hash([1; 32]),
                    sender: k.public(),
                    nonce,
                    expiry_height: 10,
                    kind: TxKind::Transfer {
                        to: PublicKey([9; 32]),
                        amount: 5,
                    },
                }
                .sign(&k)
            })
            .collect();
        let header = BlockHeader {
            chain_id: Hash([1; 32]),
            height: 3,
            parent: Hash([2; 32]),
            timestamp_ms: 77,
            proposer: k.public(),
            tx_root: ledger::block::tx_root(&txs),
            receipts_root: Hash([3; 32]),
            state_root: Hash([4; 32]),
            validators_hash: Hash([5; 32]),
        };
        let requests = [
            Request::ProposedBlock {
                epoch: 1,
                view: 12,
                header,
                leaves: txs.iter().map(SignedTransaction::leaf).collect(),
            },
            Request::GetTxs {
                block: Hash([6; 32]),
                indices: vec![0, 2],
            },
        ];
        assert!(!expects_answer(&requests[0].encode()));
        assert!(expects_answer(&requests[1].encode()));
        assert!(expects_answer(
            &Request::GetBlock {
                hash: Hash([0; 32])
            }
            .encode()
        ));
        for req in requests {
            let bytes = req.encode();
            assert_eq!(Request::decode(&bytes, Limits::default()).unwrap(), req);
            for cut in 0..bytes.len() {
                assert!(Request::decode(&bytes[..cut], Limits::default()).is_err());
            }
        }
        let resp = Response::Txs(txs);
        let bytes = resp.encode();
        assert_eq!(Response::decode(&bytes, Limits::default()).unwrap(), resp);
        for cut in 0..bytes.len() {
            assert!(Response::decode(&bytes[..cut], Limits::default()).is_err());
        }
        // more leaves than a block may hold is refused before anything is allocated for them
        let small = Limits {
            max_block_txs: 2,
            ..Limits::default()
        };
        let ids = Request::ProposedBlock {
            epoch: 0,
            view: 1,
            header: BlockHeader {
                chain_id: Hash([1; 32]),
                height: 1,
                parent: Hash([0; 32]),
                timestamp_ms: 1,
                proposer: k.public(),
                tx_root: Hash([0; 32]),
                receipts_root: Hash([0; 32]),
                state_root: Hash([0; 32]),
                validators_hash: Hash([0; 32]),
            },
            leaves: vec![Hash([7; 32]); 3],
        };
        assert!(Request::decode(&ids.encode(), small).is_err());
        // the retired whole-block push (tag 2) and id list (tag 7) are unknown messages
        for tag in [2u8, 7] {
            assert!(matches!(
                Request::decode(&[tag, 0, 0], Limits::default()),
                Err(WireError::Decode(_)) | Err(WireError::TooLarge { .. })
            ));
        }
    }

    #[test]
    fn oversized_frames_are_refused_by_type() {
        let mut status = Request::Status {
            finalized_height: 1,
        }
        .encode();
        status.extend_from_slice(&[0; 64]);
        assert!(matches!(
            Request::decode(&status, Limits::default()),
            Err(WireError::TooLarge { .. })
        ));
    }

    #[test]
    fn finality_proof_round_trips() {
        let proof = FinalityProof {
            proposal: proposal(),
            certificate: Certificate {
                certified: Certified::Finalization(proposal()),
                signatures: vec![(1, Signature([5; 64]))],
            },
        };
        assert_eq!(FinalityProof::decode(&proof.encode()).unwrap(), proof);
        assert!(proof.closes());
    }

    #[test]
    fn a_finality_proof_closes_through_one_re_proposal_only() {
        let p = proposal();
        let again = |q: Proposal, view| Proposal {
            view,
            parent_view: q.view,
            parent: q.digest(),
            ..q
        };
        let (r1, r2) = (again(p, 9), again(again(p, 9), 12));
        let proof = |q: Proposal| FinalityProof {
            proposal: p,
            certificate: Certificate {
                certified: Certified::Finalization(q),
                signatures: vec![(1, Signature([5; 64]))],
            },
        };
        assert!(proof(r1).closes() && proof(r1).by_re_proposal());
        assert!(proof(p).closes() && !proof(p).by_re_proposal());
        // a re-proposal of a re-proposal is never built, and never closes
        assert!(!proof(r2).closes());
        // a re-proposal repeats the payload and the height
        let other = Proposal {
            payload: Digest([7; 32]),
            ..r1
        };
        assert!(!proof(other).closes());
        let higher = Proposal {
            height: p.height + 1,
            ..r1
        };
        assert!(!proof(higher).closes());
        assert_eq!(
            FinalityProof::decode(&proof(r1).encode()).unwrap(),
            proof(r1)
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed = 1u64;
        for len in 0..600 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (seed >> 56) as u8
                })
                .collect();
            for tag in 1..=9u8 {
                let mut b = bytes.clone();
                if !b.is_empty() {
                    b[0] = tag;
                }
                let _ = Request::decode(&b, Limits::default());
                let _ = Response::decode(&b, Limits::default());
            }
        }
    }
}
