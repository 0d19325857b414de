//! Read-only work: what looks at a deployment and changes nothing. `status` (every host
//! at a glance) and `audit` (the audit trail); the restore test (`restore`) and the hardening
//! audit (`harden`) too. Not for anything that changes a deployment: that is an action, in
//! `actions/`, with a plan, steps, undo and the journal.

pub mod audit;
pub mod harden;
pub mod restore;
pub mod status;
