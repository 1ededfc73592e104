//! Accounts: balance, next nonce and roles, keyed by public key.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::tx::Role;

/// The encoded size of an account: balance u128 ‖ nonce u64 ‖ roles u8.
pub const ACCOUNT_BYTES: usize = 25;

/// One account's state. An account whose fields are all zero does not exist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Coins held.
    pub balance: u128,
    /// The nonce its next transaction must carry.
    pub nonce: u64,
    /// Role bits (see [`Role::bit`]).
    pub roles: u8,
}

impl Account {
    /// Whether the account holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles & role.bit() != 0
    }

    /// Grant or revoke `role`.
    pub fn set_role(&mut self, role: Role, granted: bool) {
        if granted {
            self.roles |= role.bit();
        } else {
            self.roles &= !role.bit();
        }
    }

    /// The roles held, in tag order.
    pub fn role_list(&self) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|r| self.has_role(*r))
            .collect()
    }

    /// Whether every field is zero (such an account is removed from state).
    pub fn is_empty(&self) -> bool {
        *self == Account::default()
    }

    /// The fixed-size encoding.
    pub fn to_bytes(&self) -> [u8; ACCOUNT_BYTES] {
        let mut out = [0u8; ACCOUNT_BYTES];
        out[..16].copy_from_slice(&self.balance.to_le_bytes());
        out[16..24].copy_from_slice(&self.nonce.to_le_bytes());
        out[24] = self.roles;
        out
    }
}

/// Any account whose role bits name roles (the only accounts that decode), for the fuzz
/// targets.
#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Account {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Account {
            balance: u.arbitrary()?,
            nonce: u.arbitrary()?,
            roles: u.arbitrary::<u8>()? & ROLE_BITS,
        })
    }
}

/// Every role bit (no other bit may be set).
pub const ROLE_BITS: u8 = (1 << Role::ALL.len()) - 1;

impl Encode for Account {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }
}

impl Decode for Account {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let balance = r.u128("balance")?;
        let nonce = r.u64("nonce")?;
        let roles = r.u8("roles")?;
        if roles & !ROLE_BITS != 0 {
            return Err(DecodeError::InvalidTag {
                what: "role bits",
                tag: roles,
            });
        }
        Ok(Account {
            balance,
            nonce,
            roles,
        })
    }
}
