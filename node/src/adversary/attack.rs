//! The byzantine validator: a real node whose outgoing traffic passes through
//! [`Attack::run`], which rewrites, withholds, duplicates and adds messages while the
//! campaign is on. Everything it sends is real protocol, signed with validator 3's real
//! key: an honest node cannot tell it from an attacker who wrote their own client.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use consensus::{
    Certificate, Ed25519Signer, Message, Signer, ValidatorIndex, ValidatorSet, View, Vote, VoteKind,
};
use ledger::{
    Block, BlockHeader, Hash, Keypair, Limits, PublicKey, SignedTransaction, Transaction,
};
use libp2p::PeerId;
use tokio::sync::mpsc;
use tracing::info;

use super::Campaign;
use crate::p2p::Command;
use crate::serve::BlockCache;
use crate::wire::{Request, Response};

/// A small deterministic generator for junk (no cryptographic use).
#[derive(Debug)]
pub struct Junk(u64);

impl Junk {
    /// Seeded.
    pub fn new(seed: u64) -> Junk {
        Junk(seed | 1)
    }

    /// The next 64 bits (splitmix64).
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 32 junk bytes.
    pub fn hash(&mut self) -> Hash {
        let mut h = [0u8; 32];
        for c in h.chunks_mut(8) {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        Hash(h)
    }
}

/// What the attacking validator knows and holds.
#[derive(Debug)]
pub struct Attack {
    /// The campaign.
    pub campaign: Campaign,
    /// On during the attack phase only.
    pub active: Arc<AtomicBool>,
    /// Validator 3's key.
    pub key: Keypair,
    /// Its index in the validator set.
    pub me: ValidatorIndex,
    /// The validator set (epoch 0: the campaigns are short).
    pub set: ValidatorSet,
    /// The chain id.
    pub chain_id: Hash,
    /// Honest accounts to forge transfers from.
    pub victims: Vec<PublicKey>,
    /// The other validators' peer ids.
    pub peers: Vec<PeerId>,
    /// Decoding limits.
    pub limits: Limits,
}

/// Where the node's outgoing messages go, and what the attack remembers.
struct State {
    attack: Attack,
    cache: Arc<BlockCache>,
    signer: Ed25519Signer,
    junk: Junk,
    /// The highest epoch and view seen in this node's own messages.
    epoch: u64,
    view: View,
    /// This node's real proposal → what it sent instead.
    replaced: Vec<(Hash, Hash)>,
    /// Certificates this node formed, to replay later.
    certificates: Vec<Certificate>,
    rewritten: u64,
}

/// What a forged transfer does: 1,000 coins to the attacker.
fn forgery_kind(attacker: &Keypair) -> ledger::TxKind {
    ledger::TxKind::Transfer {
        to: attacker.public(),
        amount: 1_000,
    }
}

/// The `forged-signature` proposal hook: while `active`, put first in each of the
/// attacker's proposals a transfer out of a victim's account (one holding enough), with
/// the nonce that account expects, signed with the attacker's key. The node builds the
/// block with it taken as signed, so nothing but the signature gives it away.
pub fn forging(
    attacker: Keypair,
    chain_id: Hash,
    victims: Vec<PublicKey>,
    active: Arc<AtomicBool>,
) -> crate::core::ProposalHook {
    let mut next = 0usize;
    Box::new(move |state, mut txs| {
        if !active.load(Ordering::Relaxed) || victims.is_empty() {
            return txs;
        }
        next = (next + 1) % victims.len();
        let victim = victims[next];
        let account = state.account(&victim);
        if account.balance < 1_000 {
            return txs;
        }
        let forged = Transaction {
            chain_id,
            sender: victim,
            nonce: account.nonce,
            expiry_height: u64::MAX,
            kind: forgery_kind(&attacker),
        }
        .sign(&attacker);
        txs.insert(0, forged);
        txs
    })
}

impl Attack {
    /// Wrap the node's network: returns the sender the node uses.
    pub fn wrap(self, net: mpsc::Sender<Command>, cache: Arc<BlockCache>) -> mpsc::Sender<Command> {
        let (tx, rx) = mpsc::channel(65_536);
        let signer = Ed25519Signer::from_secret(self.key.secret());
        let seed = u64::from_le_bytes(self.key.public().0[..8].try_into().unwrap_or([7; 8]));
        let state = State {
            attack: self,
            cache,
            signer,
            junk: Junk::new(seed),
            epoch: 0,
            view: 0,
            replaced: Vec::new(),
            certificates: Vec::new(),
            rewritten: 0,
        };
        tokio::spawn(state.run(rx, net));
        tx
    }
}

impl State {
    async fn run(mut self, mut from_node: mpsc::Receiver<Command>, net: mpsc::Sender<Command>) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut was_active = false;
        loop {
            let out = tokio::select! {
                cmd = from_node.recv() => match cmd {
                    Some(cmd) => self.rewrite(cmd),
                    None => return,
                },
                _ = tick.tick() => self.inject(),
            };
            let active = self.attack.active.load(Ordering::Relaxed);
            if active != was_active {
                info!(
                    campaign = self.attack.campaign.name(),
                    active,
                    rewritten = self.rewritten,
                    "attack switched"
                );
                was_active = active;
            }
            for c in out {
                if net.send(c).await.is_err() {
                    return;
                }
            }
        }
    }

    fn active(&self) -> bool {
        self.attack.active.load(Ordering::Relaxed)
    }

    fn namespace(&self, epoch: u64) -> [u8; 32] {
        crate::core::namespace(&self.attack.chain_id, epoch)
    }

    fn vote(&self, epoch: u64, kind: VoteKind) -> Command {
        let vote = Vote {
            kind,
            signer: self.attack.me,
            signature: self
                .signer
                .sign(&kind.signing_message(&self.namespace(epoch))),
        };
        Command::Broadcast {
            to: self.attack.peers.clone(),
            bytes: Request::Consensus {
                epoch,
                message: Message::Vote(vote),
            }
            .encode(),
        }
    }

    /// A transfer out of a victim's account whose signature is not the victim's. With
    /// `block`, a victim that has transactions in it and the nonce of its first one there:
    /// the next nonce the victim's account expects, so the forgery would execute if its
    /// signature went unchecked.
    fn forged_tx(&mut self, block: Option<&Block>) -> SignedTransaction {
        let victims = &self.attack.victims;
        let in_block = block.and_then(|b| {
            b.txs
                .iter()
                .filter(|t| victims.contains(&t.tx().sender))
                .min_by_key(|t| t.tx().nonce)
                .map(|t| (t.tx().sender, t.tx().nonce))
        });
        let (victim, nonce) = in_block.unwrap_or_else(|| {
            let v = victims[(self.junk.next_u64() as usize) % victims.len().max(1)];
            // far ahead of the victim's nonce: not yet spent, so every node checks it
            (v, (1 << 40) + self.junk.next_u64() % 1_000)
        });
        Transaction {
            chain_id: self.attack.chain_id,
            sender: victim,
            nonce,
            expiry_height: u64::MAX,
            kind: ledger::TxKind::Transfer {
                to: self.attack.key.public(),
                amount: 1_000,
            },
        }
        .sign(&self.attack.key)
    }

    fn rewrite(&mut self, cmd: Command) -> Vec<Command> {
        // keep track of where the chain is from this node's own messages
        let decoded = match &cmd {
            Command::Broadcast { bytes, .. } | Command::Send { bytes, .. } => {
                Request::decode(bytes, self.attack.limits).ok()
            }
            _ => None,
        };
        match &decoded {
            Some(Request::Consensus { epoch, message }) => {
                self.epoch = self.epoch.max(*epoch);
                if let Message::Vote(v) = message {
                    self.view = self.view.max(v.kind.view());
                }
                if let Message::Certificate(c) = message
                    && self.certificates.len() < 256
                {
                    self.certificates.push(c.clone());
                }
            }
            Some(Request::ProposedBlock { epoch, view, .. }) => {
                self.epoch = self.epoch.max(*epoch);
                self.view = self.view.max(*view);
            }
            _ => {}
        }
        if !self.active() {
            return vec![cmd];
        }
        self.rewritten += 1;
        // its own clients' transactions are not passed on: its proposals carry transactions
        // only it has, which the others must ask it for
        if matches!(
            self.attack.campaign,
            Campaign::TamperedBodies | Campaign::Withholding
        ) && matches!(decoded, Some(Request::Txs(_)))
        {
            return Vec::new();
        }
        match self.attack.campaign {
            Campaign::ForgedSignature => self.forge(cmd, decoded),
            Campaign::TamperedBodies => vec![self.tamper(cmd)],
            Campaign::Equivocation => self.equivocate(cmd, decoded),
            Campaign::Withholding => self.withhold(cmd, decoded),
            Campaign::BlockFlood | Campaign::VoteSpam | Campaign::ObserverFlood => vec![cmd],
        }
    }

    /// Messages of its own the attack adds every 100 ms.
    fn inject(&mut self) -> Vec<Command> {
        if !self.active() {
            return Vec::new();
        }
        match self.attack.campaign {
            Campaign::BlockFlood => self.flood_blocks(),
            Campaign::VoteSpam => self.spam_votes(),
            _ => Vec::new(),
        }
    }

    /// This node's proposal as it really is, from the cache.
    fn own_block(&self, header: &BlockHeader) -> Option<Arc<Block>> {
        (header.proposer == self.attack.key.public())
            .then(|| self.cache.get(&header.id()))
            .flatten()
    }

    fn proposal(epoch: u64, view: View, block: &Block) -> Vec<u8> {
        Request::ProposedBlock {
            epoch,
            view,
            header: block.header.clone(),
            leaves: block.txs.iter().map(SignedTransaction::leaf).collect(),
        }
        .encode()
    }

    /// Our notarize vote for `real`, re-signed for what was sent instead (if anything).
    fn renotarize(&self, epoch: u64, v: &Vote) -> Option<(Command, Hash)> {
        let VoteKind::Notarize(p) = v.kind else {
            return None;
        };
        let real = Hash(p.payload.0);
        let (_, instead) = self.replaced.iter().find(|(r, _)| *r == real)?;
        let mut q = p;
        q.payload = consensus::Digest(instead.0);
        Some((self.vote(epoch, VoteKind::Notarize(q)), *instead))
    }

    /// forged-signature: its proposals carry a transfer out of an honest account signed
    /// with the attacker's key, built in by [`forging`] so the header is consistent with it
    /// (state root included); the forgery is gossiped too, and GetTxs/GetBlock answers
    /// serve the block as it is.
    fn forge(&mut self, cmd: Command, decoded: Option<Request>) -> Vec<Command> {
        let Command::Broadcast { to, .. } = &cmd else {
            return vec![cmd];
        };
        let to = to.clone();
        let Some(Request::ProposedBlock { header, .. }) = decoded else {
            return vec![cmd];
        };
        let forged: Vec<SignedTransaction> = self
            .own_block(&header)
            .map(|b| {
                b.txs
                    .iter()
                    .filter(|t| {
                        t.tx().kind == forgery_kind(&self.attack.key) && !t.verify_signature()
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if forged.is_empty() {
            return vec![cmd];
        }
        vec![
            cmd,
            Command::Broadcast {
                to,
                bytes: Request::Txs(forged).encode(),
            },
        ]
    }

    /// tampered-bodies: every block and transaction it serves has a flipped signature
    /// byte, two transactions swapped, or one swapped for a forgery.
    fn tamper(&mut self, cmd: Command) -> Command {
        let Command::Respond { id, bytes } = cmd else {
            return cmd;
        };
        let Ok(resp) = Response::decode(&bytes, self.attack.limits) else {
            return Command::Respond { id, bytes };
        };
        let how = self.junk.next_u64() % 3;
        let forged = self.forged_tx(None);
        let spoil = |txs: &mut Vec<SignedTransaction>| {
            if txs.is_empty() {
                txs.push(forged.clone());
                return;
            }
            let i = (id as usize) % txs.len();
            match how {
                0 => {
                    let mut sig = *txs[i].signature();
                    sig.0[17] ^= 0x04;
                    txs[i] = SignedTransaction::new(txs[i].tx().clone(), sig);
                }
                1 if txs.len() > 1 => {
                    let last = txs.len() - 1;
                    txs.swap(0, last);
                }
                _ => txs[i] = forged.clone(),
            }
        };
        let resp = match resp {
            Response::Txs(mut txs) => {
                spoil(&mut txs);
                Response::Txs(txs)
            }
            Response::Block(Some(mut b)) => {
                spoil(&mut b.txs);
                Response::Block(Some(b))
            }
            Response::Blocks(mut blocks) => {
                if let Some(fb) = blocks.first_mut() {
                    spoil(&mut fb.block.txs);
                }
                Response::Blocks(blocks)
            }
            other => other,
        };
        Command::Respond {
            id,
            bytes: resp.encode(),
        }
    }

    /// equivocation: two different proposals (and notarize votes) for each view it leads,
    /// to everyone; a second, different vote for every notarize and finalize it signs.
    fn equivocate(&mut self, cmd: Command, decoded: Option<Request>) -> Vec<Command> {
        let Command::Broadcast { to, .. } = &cmd else {
            return vec![cmd];
        };
        let to = to.clone();
        match decoded {
            Some(Request::ProposedBlock {
                epoch,
                view,
                header,
                ..
            }) => {
                let Some(real) = self.own_block(&header) else {
                    return vec![cmd];
                };
                let mut alt = (*real).clone();
                alt.header.timestamp_ms += 1;
                let alt_id = alt.id();
                self.cache.insert(Arc::new(alt.clone()));
                self.replaced.push((real.id(), alt_id));
                vec![
                    cmd,
                    Command::Broadcast {
                        to,
                        bytes: Self::proposal(epoch, view, &alt),
                    },
                ]
            }
            Some(Request::Consensus {
                epoch,
                message: Message::Vote(v),
            }) if v.signer == self.attack.me => {
                let second = match (self.renotarize(epoch, &v), v.kind) {
                    (Some((c, _)), _) => Some(c),
                    (None, VoteKind::Notarize(mut p)) => {
                        p.payload.0[31] ^= 0x5a;
                        Some(self.vote(epoch, VoteKind::Notarize(p)))
                    }
                    (None, VoteKind::Finalize(mut p)) => {
                        p.payload.0[31] ^= 0x5a;
                        Some(self.vote(epoch, VoteKind::Finalize(p)))
                    }
                    (None, VoteKind::Nullify(_)) => None,
                };
                std::iter::once(cmd).chain(second).collect()
            }
            _ => vec![cmd],
        }
    }

    /// withholding: its proposals carry its own clients' transactions, which it does not
    /// gossip and does not serve (nor any block); it never votes for others' proposals.
    fn withhold(&mut self, cmd: Command, decoded: Option<Request>) -> Vec<Command> {
        match (&cmd, decoded) {
            (Command::Respond { id, bytes }, _) => {
                let empty = match Response::decode(bytes, self.attack.limits) {
                    Ok(Response::Txs(_)) => Response::Txs(Vec::new()),
                    Ok(Response::Block(_)) => Response::Block(None),
                    Ok(Response::Blocks(_)) => Response::Blocks(Vec::new()),
                    _ => return vec![cmd],
                };
                vec![Command::Respond {
                    id: *id,
                    bytes: empty.encode(),
                }]
            }
            (
                Command::Broadcast { .. },
                Some(Request::Consensus {
                    message: Message::Vote(v),
                    ..
                }),
            ) if v.signer == self.attack.me => {
                let own_proposal = matches!(v.kind, VoteKind::Notarize(p) if self.attack.set.leader(p.view) == self.attack.me);
                // its own proposal's notarize goes out; votes for others' never do
                if own_proposal { vec![cmd] } else { Vec::new() }
            }
            _ => vec![cmd],
        }
    }

    /// block-flood: every 100 ms, proposals for views far ahead and long past (most of them
    /// views it does not lead), and one full-size proposal of 50,000 transactions nobody
    /// has for a view it does lead.
    fn flood_blocks(&mut self) -> Vec<Command> {
        let epoch = self.epoch;
        let mut out = Vec::new();
        let (chain_id, proposer) = (self.attack.chain_id, self.attack.key.public());
        let header = |junk: &mut Junk, leaves: &[Hash]| BlockHeader {
            chain_id,
            height: junk.next_u64() % 100_000 + 1,
            parent: junk.hash(),
            timestamp_ms: junk.next_u64(),
            proposer,
            tx_root: ledger::hash::list_root(leaves),
            receipts_root: junk.hash(),
            state_root: junk.hash(),
            validators_hash: junk.hash(),
        };
        for k in 0..20u64 {
            let view = if k % 2 == 0 {
                self.view + 1_000 + k
            } else {
                self.view.saturating_sub(500 + k)
            };
            let leaves: Vec<Hash> = (0..256).map(|_| self.junk.hash()).collect();
            let h = header(&mut self.junk, &leaves);
            out.push(Command::Broadcast {
                to: self.attack.peers.clone(),
                bytes: Request::ProposedBlock {
                    epoch,
                    view,
                    header: h,
                    leaves,
                }
                .encode(),
            });
        }
        // the next view it leads, near enough to be taken
        if let Some(view) =
            (self.view + 1..self.view + 32).find(|v| self.attack.set.leader(*v) == self.attack.me)
        {
            let leaves: Vec<Hash> = (0..50_000).map(|_| self.junk.hash()).collect();
            let h = header(&mut self.junk, &leaves);
            out.push(Command::Broadcast {
                to: self.attack.peers.clone(),
                bytes: Request::ProposedBlock {
                    epoch,
                    view,
                    header: h,
                    leaves,
                }
                .encode(),
            });
        }
        out
    }

    /// vote-spam: every 100 ms, twenty notarize and twenty finalize votes with distinct
    /// digests for each of the next views, and replays of old certificates.
    fn spam_votes(&mut self) -> Vec<Command> {
        let epoch = self.epoch;
        let mut out = Vec::new();
        for view in self.view..self.view + 5 {
            for _ in 0..20 {
                let p = consensus::Proposal {
                    view,
                    height: self.junk.next_u64() % 1_000 + 1,
                    parent_view: view.saturating_sub(1),
                    parent: consensus::Digest(self.junk.hash().0),
                    payload: consensus::Digest(self.junk.hash().0),
                };
                out.push(self.vote(epoch, VoteKind::Notarize(p)));
                out.push(self.vote(epoch, VoteKind::Finalize(p)));
            }
        }
        for c in self.certificates.iter().take(8) {
            out.push(Command::Broadcast {
                to: self.attack.peers.clone(),
                bytes: Request::Consensus {
                    epoch,
                    message: Message::Certificate(c.clone()),
                }
                .encode(),
            });
        }
        out
    }
}
