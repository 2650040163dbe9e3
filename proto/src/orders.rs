//! Orders a lead signs for the whole team, which every device verifies before obeying.
//!
//! - [`ShredOrder`]: crypto-shred documents (a person's erasure, or a retention purge). The
//!   hub deletes their ciphertext and wrapped keys and refuses new ones; every device deletes
//!   its copies and data keys; the order moves the team to a new key epoch so that no key that
//!   could unwrap an old copy of the documents survives anywhere.
//! - [`WipeOrder`]: destroy a lost device's store. The hub hands it to that device at its next
//!   contact (in the `revoked` refusal); the device checks the lead's signature and wipes.
//!
//! Both are signed by the issuing lead's device key over canonical bytes, so the hub can relay
//! them but can neither forge nor alter them.

use serde::{Deserialize, Serialize};

use crate::encoding::Canon;
use crate::error::CryptoError;
use crate::ids::{DeviceId, DocId, TeamId};
use crate::keys::{DeviceKeys, DevicePublicKeys};

const SHRED_SIG: &str = "outreach/v1/shred-order";
const WIPE_SIG: &str = "outreach/v1/wipe-order";

/// Most documents one shred order may name.
pub const MAX_SHRED_DOCS: usize = 10_000;

/// Why documents are shredded (shown in audit logs; the hub stores it as a small code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShredReason {
    /// A person's erasure (right to erasure; `outreach person erase`).
    Erasure,
    /// A retention purge: the documents outlived the team's retention policy.
    Retention,
}

impl ShredReason {
    /// Stable one-byte code (signed bytes, hub column).
    pub fn code(self) -> u8 {
        match self {
            ShredReason::Erasure => 1,
            ShredReason::Retention => 2,
        }
    }

    /// Inverse of [`ShredReason::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(ShredReason::Erasure),
            2 => Some(ShredReason::Retention),
            _ => None,
        }
    }
}

/// A lead's signed order to crypto-shred `doc_ids` and move the team to key epoch `epoch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShredOrder {
    /// Team.
    pub team_id: TeamId,
    /// Documents to destroy (1..=[`MAX_SHRED_DOCS`], no repeats).
    pub doc_ids: Vec<DocId>,
    /// The team-key epoch this order starts (current epoch + 1). Team keys of earlier epochs
    /// are destroyed by every device once it holds this one.
    pub epoch: u64,
    /// Why.
    pub reason: ShredReason,
    /// When the lead issued it, ms since the Unix epoch (lead's clock).
    pub issued_ms: i64,
    /// Issuing lead device.
    pub issued_by: DeviceId,
    /// Ed25519 signature of `issued_by` over [`ShredOrder::signed_bytes`].
    #[serde(with = "crate::encoding::b64_array")]
    pub sig: [u8; 64],
}

impl ShredOrder {
    /// Make and sign an order with the lead's keys.
    pub fn new(
        lead: &DeviceKeys,
        team_id: TeamId,
        doc_ids: Vec<DocId>,
        epoch: u64,
        reason: ShredReason,
        issued_ms: i64,
    ) -> Self {
        let mut order = ShredOrder { team_id, doc_ids, epoch, reason, issued_ms, issued_by: lead.device_id(), sig: [0u8; 64] };
        order.sig = lead.sign(&order.signed_bytes());
        order
    }

    /// Canonical bytes covered by the signature (every field but `sig`).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut c = Canon::new(SHRED_SIG);
        c.fixed(&self.team_id.0).u64(self.doc_ids.len() as u64);
        for d in &self.doc_ids {
            c.fixed(&d.0);
        }
        c.u64(self.epoch).u16(self.reason.code() as u16).i64(self.issued_ms).fixed(&self.issued_by.0);
        c.finish()
    }

    /// Check the order's shape (1..=MAX docs, no repeats) and that `lead` (who must be
    /// `issued_by`) signed it for `team_id`. Whether `lead` is a lead is the caller's check.
    pub fn verify(&self, team_id: &TeamId, lead: &DevicePublicKeys) -> Result<(), CryptoError> {
        if &self.team_id != team_id {
            return Err(CryptoError::Mismatch("team_id"));
        }
        if self.doc_ids.is_empty() || self.doc_ids.len() > MAX_SHRED_DOCS {
            return Err(CryptoError::Mismatch("doc_ids"));
        }
        let mut seen = std::collections::HashSet::with_capacity(self.doc_ids.len());
        if !self.doc_ids.iter().all(|d| seen.insert(d.0)) {
            return Err(CryptoError::Mismatch("doc_ids"));
        }
        if lead.device_id() != self.issued_by {
            return Err(CryptoError::Mismatch("issued_by"));
        }
        lead.verify_signature(&self.signed_bytes(), &self.sig)
    }
}

/// A lead's signed order that `device_id` destroy its store at its next contact with the hub.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WipeOrder {
    /// Team.
    pub team_id: TeamId,
    /// Device to wipe.
    pub device_id: DeviceId,
    /// When the lead issued it, ms since the Unix epoch.
    pub issued_ms: i64,
    /// Issuing lead device.
    pub issued_by: DeviceId,
    /// Ed25519 signature of `issued_by` over [`WipeOrder::signed_bytes`].
    #[serde(with = "crate::encoding::b64_array")]
    pub sig: [u8; 64],
}

impl WipeOrder {
    /// Make and sign an order with the lead's keys.
    pub fn new(lead: &DeviceKeys, team_id: TeamId, device_id: DeviceId, issued_ms: i64) -> Self {
        let mut order = WipeOrder { team_id, device_id, issued_ms, issued_by: lead.device_id(), sig: [0u8; 64] };
        order.sig = lead.sign(&order.signed_bytes());
        order
    }

    /// Canonical bytes covered by the signature.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut c = Canon::new(WIPE_SIG);
        c.fixed(&self.team_id.0).fixed(&self.device_id.0).i64(self.issued_ms).fixed(&self.issued_by.0);
        c.finish()
    }

    /// Check that `lead` (who must be `issued_by`) signed this order for `team_id`. Whether
    /// `lead` is a lead, and whether `device_id` is the checking device, are the caller's checks.
    pub fn verify(&self, team_id: &TeamId, lead: &DevicePublicKeys) -> Result<(), CryptoError> {
        if &self.team_id != team_id {
            return Err(CryptoError::Mismatch("team_id"));
        }
        if lead.device_id() != self.issued_by {
            return Err(CryptoError::Mismatch("issued_by"));
        }
        lead.verify_signature(&self.signed_bytes(), &self.sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u8) -> Vec<DocId> {
        (0..n).map(|i| DocId([i; DocId::LEN])).collect()
    }

    #[test]
    fn shred_orders_verify_only_unaltered_and_for_their_team() {
        let lead = DeviceKeys::generate();
        let team = TeamId::random();
        let order = ShredOrder::new(&lead, team, ids(3), 4, ShredReason::Erasure, 1_700_000_000_000);
        order.verify(&team, &lead.public()).unwrap();
        assert!(order.verify(&TeamId::random(), &lead.public()).is_err());
        let other = DeviceKeys::generate();
        assert!(order.verify(&team, &other.public()).is_err());
        let mut altered = order.clone();
        altered.doc_ids.pop();
        assert!(altered.verify(&team, &lead.public()).is_err());
        let mut altered = order.clone();
        altered.reason = ShredReason::Retention;
        assert!(altered.verify(&team, &lead.public()).is_err());
        let mut altered = order.clone();
        altered.epoch += 1;
        assert!(altered.verify(&team, &lead.public()).is_err());
    }

    #[test]
    fn shred_orders_refuse_empty_and_repeated_lists() {
        let lead = DeviceKeys::generate();
        let team = TeamId::random();
        let empty = ShredOrder::new(&lead, team, vec![], 1, ShredReason::Retention, 0);
        assert!(empty.verify(&team, &lead.public()).is_err());
        let mut twice = ids(2);
        twice.push(twice[0]);
        let repeated = ShredOrder::new(&lead, team, twice, 1, ShredReason::Retention, 0);
        assert!(repeated.verify(&team, &lead.public()).is_err());
    }

    #[test]
    fn wipe_orders_verify_only_unaltered() {
        let lead = DeviceKeys::generate();
        let team = TeamId::random();
        let target = DeviceKeys::generate().device_id();
        let order = WipeOrder::new(&lead, team, target, 5);
        order.verify(&team, &lead.public()).unwrap();
        let mut altered = order.clone();
        altered.device_id = lead.device_id();
        assert!(altered.verify(&team, &lead.public()).is_err());
        assert!(order.verify(&team, &DeviceKeys::generate().public()).is_err());
    }
}
