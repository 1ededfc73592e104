//! Peers' frames: decoded (a malformed one is penalized) and dispatched — consensus
//! messages to the engine of their epoch, proposals to intake, gossip to admission, height
//! claims to sync. Requests for blocks are served by `crate::serve`, never here.

use consensus::{Action, Input, Message, Misbehavior};
use libp2p::PeerId;
use tracing::{debug, warn};

use super::{CoreError, Effect, NodeCore};
use crate::wire::{Request, Response};

impl NodeCore {
    pub(super) fn on_inbound(
        &mut self,
        peer: PeerId,
        bytes: &[u8],
        respond: Option<u64>,
    ) -> Result<(), CoreError> {
        let req = match Request::decode(bytes, self.params.limits) {
            Ok(r) => r,
            Err(e) => {
                self.penalize(peer, 20, format!("malformed message: {e}"));
                if let Some(id) = respond {
                    let bytes = Response::Refused(format!("malformed: {e}")).encode();
                    self.emit(Effect::Respond { id, bytes });
                }
                return Ok(());
            }
        };
        match req {
            Request::Consensus { epoch, message } => self.on_consensus(peer, epoch, message)?,
            Request::ProposedBlock {
                epoch,
                view,
                header,
                leaves,
            } => self.on_proposed_block(peer, epoch, view, header, leaves)?,
            // answered by the server (`serve`), never here
            Request::GetTxs { .. }
            | Request::GetBlocks { .. }
            | Request::GetBlock { .. }
            | Request::GetFinality { .. }
            | Request::GetSnapshot { .. }
            | Request::GetSnapshotChunk { .. } => {}
            Request::Txs(txs) => self.emit(Effect::Gossip { from: peer, txs }),
            Request::Status { finalized_height } => self.on_status(peer, finalized_height),
        }
        Ok(())
    }

    /// Count and penalize what a validator did that no honest one does (an engine's
    /// [`Action::Misbehaved`], of this epoch or the previous one).
    pub(super) fn misbehaved(&mut self, peer: PeerId, from: u32, epoch: u64, what: Misbehavior) {
        match what {
            Misbehavior::Equivocation(view) => {
                self.h.metrics.equivocations.inc();
                warn!(%peer, validator = from, view, epoch, "equivocation: the validator signed two different votes of one kind in one view");
                self.penalize(peer, 50, "equivocation: two different votes in one view");
            }
            Misbehavior::ForeignVote => {
                self.penalize(peer, 25, "sent a vote signed by another validator")
            }
            Misbehavior::BadSignature => {
                self.penalize(peer, 25, "sent its own vote with a bad signature")
            }
            Misbehavior::InvalidCertificate => {
                self.penalize(peer, 25, "sent a certificate that does not verify")
            }
        }
    }

    /// Refuse what `peer` sent, counting and penalizing it.
    pub(super) fn refuse(&mut self, peer: PeerId, what: &str) {
        self.h.metrics.p2p_refused.inc();
        warn!(%peer, "refused {what}");
        self.penalize(peer, 25, what.to_owned());
    }

    fn on_consensus(
        &mut self,
        peer: PeerId,
        epoch: u64,
        message: Message,
    ) -> Result<(), CoreError> {
        if epoch == self.epoch.number {
            let Some(from) = self.epoch.peers.iter().position(|p| *p == peer) else {
                self.refuse(
                    peer,
                    "consensus message from a peer that is not a validator",
                );
                return Ok(());
            };
            self.drive(Some(Input::Message {
                from: from as u32,
                message,
            }))?;
        } else if let Some(prev) = self.previous.as_mut()
            && prev.number == epoch
        {
            let Some(from) = prev.peers.iter().position(|p| *p == peer) else {
                self.refuse(
                    peer,
                    "consensus message from a peer that is not a validator",
                );
                return Ok(());
            };
            // the previous epoch's engine only answers requests
            let actions = prev.engine.handle(Input::Message {
                from: from as u32,
                message,
            });
            let mut sends = Vec::new();
            let mut faults = Vec::new();
            for a in actions {
                match a {
                    Action::Send { to, message } => {
                        if let Some(p) = prev.peers.get(to as usize).copied() {
                            let bytes = Request::Consensus { epoch, message }.encode();
                            sends.push(Effect::Send { to: p, bytes });
                        }
                    }
                    Action::Misbehaved { from, what } => {
                        if let Some(p) = prev.peers.get(from as usize).copied() {
                            faults.push((p, from, what));
                        }
                    }
                    _ => {}
                }
            }
            self.effects.extend(sends);
            for (p, from, what) in faults {
                self.misbehaved(p, from, epoch, what);
            }
        } else if epoch == self.epoch.number + 1 && self.epoch.peers.contains(&peer) {
            debug!(%peer, epoch, "message from the next epoch: syncing to this one's end");
            self.sync_to_epoch_end();
        } else if epoch > self.epoch.number {
            self.maybe_sync();
        }
        Ok(())
    }
}
