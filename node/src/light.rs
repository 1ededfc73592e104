//! Trust without trusting the node: the finality evidence of a block (its header, the
//! proposals linking it to a finalization certificate, the validator sets involved),
//! assembled from the store, and the checks a light client runs on it starting from a
//! trust anchor (the genesis block's hash, or a checkpoint at an epoch's last block).
//!
//! Serving side ([`evidence_at`]) reads only committed data; checking side ([`LightClient`])
//! trusts nothing but its anchor and the epoch length. `docs/light-client.md` specifies the
//! same checks byte by byte for clients in other languages.

use consensus::{Certificate, Certified, Ed25519Verifier, Proposal};
use ledger::{BlockHeader, Hash, Store, StoreError, Validator};

use crate::core::epochs::{namespace, validator_set};
use crate::wire::FinalityProof;

/// The most proposals one piece of evidence chains (a certificate finalizes a descendant
/// within its epoch, so an epoch length longer than this could need more: such a block is
/// answered with the evidence of the block that closes the chain, which the caller asks for).
pub const MAX_PROPOSALS: usize = 1024;

/// What makes one finalized block trustworthy to whoever trusts its epoch's validators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalityEvidence {
    /// The block's header.
    pub header: BlockHeader,
    /// The block's proposal, then each descendant's up to the one the certificate is of
    /// (or repeats, at an epoch's last height). Empty for genesis.
    pub proposals: Vec<Proposal>,
    /// A finalization of the last proposal (or of a re-proposal of it); `None` for genesis,
    /// which is trusted by its hash.
    pub certificate: Option<Certificate>,
    /// The validators that sign the block's epoch (named by the parent header); `None` for
    /// genesis.
    pub signers: Option<Vec<Validator>>,
    /// The validators the header names (`validators_hash`): those of the next block's
    /// epoch, a new set only after an epoch's last block.
    pub next: Vec<Validator>,
}

/// Why evidence cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// No finalized block at that height here.
    #[error("no finalized block at height {0}")]
    Missing(u64),
    /// The certificate covering the block is of a descendant not committed yet.
    #[error("the finalization covering block {height} is of a block not committed here yet; retry")]
    Incomplete {
        /// The block asked about.
        height: u64,
    },
    /// The store does not hold what the evidence needs (written before it was kept, or
    /// pruned).
    #[error("{0}")]
    Unavailable(String),
    /// Deleted by pruning: the oldest block held (epoch ends and genesis are kept).
    #[error("block {height} is pruned here; the oldest held is {oldest}")]
    Pruned {
        /// The block asked about.
        height: u64,
        /// The oldest block held.
        oldest: u64,
    },
    /// The store failed or is corrupt.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Assemble the finality evidence of the finalized block at `height` from `store`, in a
/// chain of `epoch_length`-block epochs. Works on a pruned store for every epoch's last
/// block (their headers and proofs are kept) and for the blocks still held.
pub fn evidence_at(
    store: &Store,
    height: u64,
    epoch_length: u64,
) -> Result<FinalityEvidence, EvidenceError> {
    let Some(header) = store.header_by_height(height)? else {
        let oldest = store.oldest()?.block;
        let head = store.finalized_height()?.unwrap_or(0);
        return Err(if height < oldest && height <= head {
            EvidenceError::Pruned { height, oldest }
        } else {
            EvidenceError::Missing(height)
        });
    };
    let next = store
        .validator_set(&header.validators_hash)?
        .ok_or_else(|| {
            EvidenceError::Unavailable(format!(
                "the validator set named by block {height} is not recorded here"
            ))
        })?;
    if height == 0 {
        return Ok(FinalityEvidence {
            header,
            proposals: Vec::new(),
            certificate: None,
            signers: None,
            next,
        });
    }
    // sets change only after an epoch's last block: the one that opened this epoch (or
    // genesis) names the signers, and its header is kept however much is pruned
    let e = epoch_length.max(1);
    let opened = (height - 1) / e * e;
    let opener = store.header_by_height(opened)?.ok_or_else(|| {
        EvidenceError::Unavailable(format!("the header of block {opened} is not here"))
    })?;
    let signers = store
        .validator_set(&opener.validators_hash)?
        .ok_or_else(|| {
            EvidenceError::Unavailable(format!(
                "the validator set that signs block {height} is not recorded here"
            ))
        })?;
    let mut proposals = Vec::new();
    let mut at = height;
    loop {
        let bytes = store
            .certificate(at)?
            .ok_or(EvidenceError::Incomplete { height })?;
        let proof = FinalityProof::decode(&bytes).map_err(|e| {
            StoreError::Corrupt(format!("stored finality proof of block {at}: {e}"))
        })?;
        proposals.push(proof.proposal);
        if proof.closes() {
            return Ok(FinalityEvidence {
                header,
                proposals,
                certificate: Some(proof.certificate),
                signers: Some(signers),
                next,
            });
        }
        if proposals.len() >= MAX_PROPOSALS {
            return Err(EvidenceError::Unavailable(format!(
                "the finalization covering block {height} is more than {MAX_PROPOSALS} blocks later"
            )));
        }
        at += 1;
    }
}

/// Why evidence does not prove a block final.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LightError {
    /// The anchor's header is not the trusted one.
    #[error("the anchor header's hash is {got}, the trusted one is {trusted}")]
    WrongAnchor {
        /// The hash trusted.
        trusted: Hash,
        /// The header's hash.
        got: Hash,
    },
    /// A checkpoint must be genesis or an epoch's last block.
    #[error("height {0} is not an epoch's last block: a checkpoint must be one (or genesis)")]
    NotEpochEnd(u64),
    /// The header is of another chain.
    #[error("the header is of chain {got}, not {expected}")]
    WrongChain {
        /// The trusted chain.
        expected: Hash,
        /// The header's.
        got: Hash,
    },
    /// The block is outside the epoch whose validators the client trusts.
    #[error("block {height} is not in epoch {epoch}, the one whose validators are trusted")]
    WrongEpoch {
        /// The block's height.
        height: u64,
        /// The trusted epoch.
        epoch: u64,
    },
    /// A validator list does not hash to what a trusted header names.
    #[error("the {which} validator set does not hash to the header's validators_hash")]
    WrongSet {
        /// Which list.
        which: &'static str,
    },
    /// The proposals do not link the header to the certificate.
    #[error("proposals: {0}")]
    BadLink(String),
    /// The certificate is missing, not a finalization, or its signatures fail.
    #[error("certificate: {0}")]
    BadCertificate(String),
}

/// A light client's trusted position: the validators of one epoch, and the header that
/// named them.
#[derive(Clone, Debug)]
pub struct LightClient {
    chain_id: Hash,
    epoch_length: u64,
    /// The epoch whose validators are trusted.
    epoch: u64,
    validators: Vec<Validator>,
    /// The last trusted header (genesis, a checkpoint, or the last epoch end walked).
    anchor: BlockHeader,
}

impl LightClient {
    /// Trust the block with hash `trusted` (genesis, or the last block of an epoch) in a
    /// chain whose epochs are `epoch_length` blocks long; `evidence` is that block's (only
    /// its header and `next` are used: the hash is the trust).
    pub fn anchored(
        trusted: Hash,
        epoch_length: u64,
        evidence: &FinalityEvidence,
    ) -> Result<LightClient, LightError> {
        let e = epoch_length.max(1);
        let header = &evidence.header;
        let got = header.id();
        if got != trusted {
            return Err(LightError::WrongAnchor { trusted, got });
        }
        if !header.height.is_multiple_of(e) {
            return Err(LightError::NotEpochEnd(header.height));
        }
        if ledger::state::validator_set_hash(&evidence.next) != header.validators_hash {
            return Err(LightError::WrongSet { which: "next" });
        }
        Ok(LightClient {
            chain_id: header.chain_id,
            epoch_length: e,
            epoch: header.height / e,
            validators: evidence.next.clone(),
            anchor: header.clone(),
        })
    }

    /// The epoch whose validators are trusted.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The height of the last block of the trusted epoch.
    pub fn epoch_end(&self) -> u64 {
        (self.epoch + 1).saturating_mul(self.epoch_length)
    }

    /// The validators trusted (those of [`LightClient::epoch`]).
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// The last header trusted as an anchor.
    pub fn anchor(&self) -> &BlockHeader {
        &self.anchor
    }

    /// Check that `evidence` proves its block final in the trusted epoch; returns the
    /// header, now trusted.
    pub fn verify<'a>(
        &self,
        evidence: &'a FinalityEvidence,
    ) -> Result<&'a BlockHeader, LightError> {
        let header = &evidence.header;
        if header.chain_id != self.chain_id {
            return Err(LightError::WrongChain {
                expected: self.chain_id,
                got: header.chain_id,
            });
        }
        let first = self.epoch.saturating_mul(self.epoch_length) + 1;
        let last = self.epoch_end();
        if header.height < first || header.height > last {
            return Err(LightError::WrongEpoch {
                height: header.height,
                epoch: self.epoch,
            });
        }
        let Some(p0) = evidence.proposals.first() else {
            return Err(LightError::BadLink("none".into()));
        };
        if p0.height != header.height || p0.payload.0 != header.id().0 {
            return Err(LightError::BadLink(
                "the first proposal is not the header's".into(),
            ));
        }
        for w in evidence.proposals.windows(2) {
            if w[1].parent != w[0].digest() || w[1].height != w[0].height + 1 {
                return Err(LightError::BadLink(format!(
                    "the proposal at height {} does not extend the one before",
                    w[1].height
                )));
            }
        }
        let tip = evidence.proposals[evidence.proposals.len() - 1];
        if tip.height > last {
            return Err(LightError::BadLink("the proposals leave the epoch".into()));
        }
        let Some(cert) = &evidence.certificate else {
            return Err(LightError::BadCertificate("missing".into()));
        };
        let Certified::Finalization(q) = cert.certified else {
            return Err(LightError::BadCertificate("not a finalization".into()));
        };
        // a re-proposal (same height and payload, later view) exists only at an epoch's end
        if q != tip && !(q.repeats(&tip) && tip.height == last) {
            return Err(LightError::BadCertificate(
                "it finalizes another proposal".into(),
            ));
        }
        let set = validator_set(&self.validators).map_err(LightError::BadCertificate)?;
        cert.verify(
            &set,
            &namespace(&self.chain_id, self.epoch),
            &Ed25519Verifier,
        )
        .map_err(|e| LightError::BadCertificate(e.to_string()))?;
        Ok(header)
    }

    /// Move to the next epoch with the evidence of the trusted epoch's last block: checks
    /// it, then trusts the validators its header names.
    pub fn advance(&mut self, evidence: &FinalityEvidence) -> Result<(), LightError> {
        let header = self.verify(evidence)?;
        if header.height != self.epoch_end() {
            return Err(LightError::NotEpochEnd(header.height));
        }
        if ledger::state::validator_set_hash(&evidence.next) != header.validators_hash {
            return Err(LightError::WrongSet { which: "next" });
        }
        self.anchor = header.clone();
        self.validators = evidence.next.clone();
        self.epoch += 1;
        Ok(())
    }
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn encode_set(vs: &[Validator]) -> String {
    let mut out = Vec::new();
    ledger::codec::put_list(&mut out, vs);
    hex0x(&out)
}

fn unhex(what: &str, s: &str) -> Result<Vec<u8>, String> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(s).map_err(|e| format!("{what}: {e}"))
}

fn decode_set(what: &'static str, s: &str) -> Result<Vec<Validator>, String> {
    let bytes = unhex(what, s)?;
    let mut r = ledger::codec::Reader::new(&bytes, ledger::Limits::default());
    let list = r
        .list(crate::wire::MAX_VALIDATORS, what)
        .map_err(|e| format!("{what}: {e}"))?;
    r.finish().map_err(|e| format!("{what}: {e}"))?;
    Ok(list)
}

impl FinalityEvidence {
    /// The bytes peers exchange: header (241) ‖ u32 proposal count ‖ proposals (88 each)
    /// ‖ certificate (u8 0 | 1 ‖ u32 length ‖ bytes) ‖ signers (u8 0 | 1 ‖ validator
    /// list) ‖ next validator list.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = ledger::Encode::encode(&self.header);
        ledger::codec::put_len(&mut out, self.proposals.len());
        for p in &self.proposals {
            out.extend_from_slice(&p.encode());
        }
        match &self.certificate {
            None => out.push(0),
            Some(c) => {
                out.push(1);
                let bytes = crate::wire::encode_certificate_bytes(c);
                ledger::codec::put_len(&mut out, bytes.len());
                out.extend_from_slice(&bytes);
            }
        }
        match &self.signers {
            None => out.push(0),
            Some(list) => {
                out.push(1);
                ledger::codec::put_list(&mut out, list);
            }
        }
        ledger::codec::put_list(&mut out, &self.next);
        out
    }

    /// Decode [`FinalityEvidence::encode`]'s bytes (the whole input).
    pub fn decode(bytes: &[u8]) -> Result<FinalityEvidence, String> {
        use ledger::codec::Decode;
        let mut r = ledger::codec::Reader::new(bytes, ledger::Limits::default());
        let e = |e: ledger::DecodeError| e.to_string();
        let header = BlockHeader::decode(&mut r).map_err(e)?;
        let n = r.len(MAX_PROPOSALS, "proposals").map_err(e)?;
        let mut proposals = Vec::with_capacity(n.min(r.remaining() / 88));
        for _ in 0..n {
            proposals.push(Proposal::decode(&r.array::<88>("proposal").map_err(e)?));
        }
        let certificate = match r.u8("certificate option").map_err(e)? {
            0 => None,
            1 => {
                let len = r
                    .len(crate::wire::MAX_CONSENSUS_BYTES, "certificate length")
                    .map_err(e)?;
                let raw = r.bytes(len, "certificate").map_err(e)?;
                Some(
                    crate::wire::decode_certificate_bytes(raw)
                        .map_err(|w| format!("certificate: {w}"))?,
                )
            }
            tag => return Err(format!("certificate option tag {tag}")),
        };
        let signers = match r.u8("signers option").map_err(e)? {
            0 => None,
            1 => Some(r.list(crate::wire::MAX_VALIDATORS, "signers").map_err(e)?),
            tag => return Err(format!("signers option tag {tag}")),
        };
        let next = r
            .list(crate::wire::MAX_VALIDATORS, "next validators")
            .map_err(e)?;
        r.finish().map_err(e)?;
        Ok(FinalityEvidence {
            header,
            proposals,
            certificate,
            signers,
            next,
        })
    }

    /// The JSON form `chain_getFinalityProof` answers with, for a chain of `epoch_length`.
    pub fn to_info(&self, epoch_length: u64) -> rpc::FinalityProofInfo {
        let height = self.header.height;
        rpc::FinalityProofInfo {
            height,
            block_hash: self.header.id().to_hex(),
            epoch: height.saturating_sub(1) / epoch_length.max(1),
            header: hex0x(&ledger::Encode::encode(&self.header)),
            proposals: self.proposals.iter().map(|p| hex0x(&p.encode())).collect(),
            certificate: self
                .certificate
                .as_ref()
                .map(|c| hex0x(&crate::wire::encode_certificate_bytes(c))),
            signers: self.signers.as_deref().map(encode_set),
            next_validators: encode_set(&self.next),
        }
    }

    /// Decode the JSON form (what a client received: decoding checks only the bytes).
    pub fn from_info(info: &rpc::FinalityProofInfo) -> Result<FinalityEvidence, String> {
        let header_bytes = unhex("header", &info.header)?;
        let header: BlockHeader = ledger::codec::decode_exact(&header_bytes, Default::default())
            .map_err(|e| format!("header: {e}"))?;
        let proposals = info
            .proposals
            .iter()
            .map(|p| {
                let b: [u8; 88] = unhex("proposal", p)?
                    .try_into()
                    .map_err(|_| "proposal: not 88 bytes".to_string())?;
                Ok(Proposal::decode(&b))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let certificate = match &info.certificate {
            None => None,
            Some(c) => Some(
                crate::wire::decode_certificate_bytes(&unhex("certificate", c)?)
                    .map_err(|e| format!("certificate: {e}"))?,
            ),
        };
        let signers = match &info.signers {
            None => None,
            Some(s) => Some(decode_set("signers", s)?),
        };
        Ok(FinalityEvidence {
            header,
            proposals,
            certificate,
            signers,
            next: decode_set("next validators", &info.next_validators)?,
        })
    }
}

/// A small chain with real signatures, for tests and the published vectors: `validators`
/// equal-power validators from dev keys, epochs of `epoch_length` blocks, one validator
/// added at the end of the first epoch, and the evidence of every block (a certificate on
/// every other block, so half the evidence chains a descendant's proposal).
pub fn sample_chain(validators: u32, epoch_length: u64, blocks: u64) -> Vec<FinalityEvidence> {
    use consensus::{Ed25519Signer, Signer, VoteKind};
    use genesis::dev::{DevKeyKind, dev_keypair};
    let keys: Vec<ledger::Keypair> = (0..=validators)
        .map(|i| dev_keypair(DevKeyKind::Validator, i))
        .collect();
    let entry = |i: usize| Validator {
        key: keys[i].public(),
        power: 1,
        address: format!("/ip4/10.0.0.{}/tcp/26656", i + 1),
    };
    let first: Vec<Validator> = (0..validators as usize).map(entry).collect();
    let mut second = first.clone();
    second.push(entry(validators as usize));
    let chain_id = ledger::Domain::Genesis.hash(b"palisade light-client sample chain");
    let set_at = |height: u64| {
        if height < epoch_length {
            &first
        } else {
            &second
        }
    };
    let mut headers = vec![BlockHeader {
        chain_id,
        height: 0,
        parent: Hash::ZERO,
        timestamp_ms: 1_790_000_000_000,
        proposer: ledger::PublicKey([0; 32]),
        tx_root: Hash::ZERO,
        receipts_root: Hash::ZERO,
        state_root: ledger::Domain::StateRoot.hash(b"sample genesis state"),
        validators_hash: ledger::state::validator_set_hash(&first),
    }];
    let mut proposals = vec![Proposal::genesis(consensus::Digest(headers[0].id().0))];
    for h in 1..=blocks {
        let prev = &headers[h as usize - 1];
        let header = BlockHeader {
            chain_id,
            height: h,
            parent: prev.id(),
            timestamp_ms: prev.timestamp_ms + 250,
            proposer: keys[(h % u64::from(validators)) as usize].public(),
            tx_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            state_root: ledger::Domain::StateRoot.hash(&h.to_le_bytes()),
            validators_hash: ledger::state::validator_set_hash(set_at(h)),
        };
        let parent = proposals[h as usize - 1];
        proposals.push(Proposal {
            view: h * 2,
            height: h,
            parent_view: parent.view,
            parent: parent.digest(),
            payload: consensus::Digest(header.id().0),
        });
        headers.push(header);
    }
    let certify = |p: Proposal| {
        let epoch = (p.height - 1) / epoch_length;
        let signers = set_at(p.height - 1);
        let message = VoteKind::Finalize(p).signing_message(&namespace(&chain_id, epoch));
        let quorum = signers.len() * 2 / 3 + 1;
        Certificate {
            certified: Certified::Finalization(p),
            signatures: (0..quorum)
                .map(|i| {
                    let signer = Ed25519Signer::from_secret(
                        keys.iter()
                            .find(|k| k.public() == signers[i].key)
                            .expect("a dev key")
                            .secret(),
                    );
                    (i as u32, signer.sign(&message))
                })
                .collect(),
        }
    };
    let mut out = vec![FinalityEvidence {
        header: headers[0].clone(),
        proposals: Vec::new(),
        certificate: None,
        signers: None,
        next: first.clone(),
    }];
    for h in 1..=blocks {
        // certificates on even heights and at every epoch's end (which must close)
        let mut tip = h;
        while tip % 2 == 1 && !tip.is_multiple_of(epoch_length) && tip < blocks {
            tip += 1;
        }
        out.push(FinalityEvidence {
            header: headers[h as usize].clone(),
            proposals: proposals[h as usize..=tip as usize].to_vec(),
            certificate: Some(certify(proposals[tip as usize])),
            signers: Some(set_at(h - 1).clone()),
            next: set_at(h).clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: u64 = 4;

    fn walk(chain: &[FinalityEvidence], to: u64) -> Result<LightClient, LightError> {
        let mut client = LightClient::anchored(chain[0].header.id(), E, &chain[0])?;
        while client.epoch_end() < to {
            let end = client.epoch_end() as usize;
            client.advance(&chain[end])?;
        }
        Ok(client)
    }

    #[test]
    fn every_block_verifies_from_genesis_across_a_set_change() {
        let chain = sample_chain(4, E, 11);
        for h in 1..=11u64 {
            let client = walk(&chain, h).expect("walk");
            assert_eq!(client.verify(&chain[h as usize]).expect("verify").height, h);
        }
        let client = walk(&chain, 11).expect("walk");
        assert_eq!(client.validators().len(), 5);
        assert_eq!(client.epoch(), 2);
        // through the JSON form and the bytes peers exchange too
        for ev in &chain {
            let info = ev.to_info(E);
            assert_eq!(&FinalityEvidence::from_info(&info).expect("decode"), ev);
            assert_eq!(&FinalityEvidence::decode(&ev.encode()).expect("decode"), ev);
        }
        let bytes = chain[6].encode();
        assert!(FinalityEvidence::decode(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn a_checkpoint_is_an_epoch_end_and_is_trusted_by_hash() {
        let chain = sample_chain(4, E, 11);
        let cp = &chain[E as usize];
        let client = LightClient::anchored(cp.header.id(), E, cp).expect("anchor");
        assert_eq!(client.epoch(), 1);
        client.verify(&chain[6]).expect("a block of epoch 1");
        assert!(matches!(
            LightClient::anchored(chain[3].header.id(), E, &chain[3]),
            Err(LightError::NotEpochEnd(3))
        ));
        assert!(matches!(
            LightClient::anchored(Hash([1; 32]), E, cp),
            Err(LightError::WrongAnchor { .. })
        ));
        let mut lying = cp.clone();
        lying.next.pop();
        assert_eq!(
            LightClient::anchored(cp.header.id(), E, &lying).err(),
            Some(LightError::WrongSet { which: "next" })
        );
    }

    #[test]
    fn tampered_evidence_is_refused() {
        let chain = sample_chain(4, E, 11);
        let client = walk(&chain, 3).expect("walk");
        let good = &chain[1]; // certified through block 2's proposal
        assert_eq!(good.proposals.len(), 2);
        client.verify(good).expect("untouched");
        let mut cases: Vec<(&str, FinalityEvidence)> = Vec::new();
        let mut e = good.clone();
        e.header.state_root = Hash([9; 32]);
        cases.push(("another state root", e));
        let mut e = good.clone();
        e.proposals.pop();
        cases.push(("a proposal left out", e));
        let mut e = good.clone();
        e.proposals.swap(0, 1);
        cases.push(("proposals reordered", e));
        let mut e = good.clone();
        if let Some(c) = e.certificate.as_mut() {
            c.signatures[0].1.0[5] ^= 1;
        }
        cases.push(("a flipped signature bit", e));
        let mut e = good.clone();
        if let Some(c) = e.certificate.as_mut() {
            c.signatures.pop();
        }
        cases.push(("below the quorum", e));
        let mut e = good.clone();
        if let Some(c) = e.certificate.as_mut() {
            let s = c.signatures[0];
            c.signatures.push(s);
        }
        cases.push(("a signer twice", e));
        let mut e = good.clone();
        if let Some(c) = e.certificate.as_mut()
            && let Certified::Finalization(q) = c.certified
        {
            c.certified = Certified::Notarization(q);
        }
        cases.push(("a notarization", e));
        let mut e = good.clone();
        e.certificate = None;
        cases.push(("no certificate", e));
        // a block of another epoch, with its own (valid) certificate
        cases.push(("another epoch's block", chain[6].clone()));
        let mut e = good.clone();
        e.header.chain_id = Hash([3; 32]);
        cases.push(("another chain", e));
        for (what, e) in cases {
            assert!(client.verify(&e).is_err(), "accepted {what}");
        }
        // an epoch end with a next set that is not the header's
        let mut client = walk(&chain, 3).expect("walk");
        let mut end = chain[E as usize].clone();
        end.next.truncate(4);
        assert_eq!(
            client.advance(&end).err(),
            Some(LightError::WrongSet { which: "next" })
        );
        // advancing with a block that is not the epoch's last
        assert!(matches!(
            client.advance(&chain[2]),
            Err(LightError::NotEpochEnd(2))
        ));
    }

    /// The certificate signed by the old epoch's set does not prove a block of the next
    /// epoch: the namespace differs, and the new validator's key is not in the old set.
    #[test]
    fn the_old_set_cannot_certify_the_next_epoch() {
        let chain = sample_chain(4, E, 11);
        let client = walk(&chain, 3).expect("epoch 0");
        assert!(matches!(
            client.verify(&chain[5]),
            Err(LightError::WrongEpoch { .. })
        ));
    }
}
