//! What a light client needs: check an account proof against a header it trusts.

use crate::account::Account;
use crate::block::BlockHeader;
use crate::keys::PublicKey;
use crate::state::{AccountProof, ProofError};

/// Check that `proof` shows `key`'s account (`Some`) or its absence (`None`) in the state
/// after the block of `header`. The caller must trust the header (e.g. it is finalized).
pub fn verify_account_proof(
    header: &BlockHeader,
    key: &PublicKey,
    proof: &AccountProof,
) -> Result<Option<Account>, ProofError> {
    proof.verify(&header.state_root, key)
}
