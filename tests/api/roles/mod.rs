//! IAM role connectors: the role setup a customer pastes into IAM, the connectors that
//! assume a role instead of keeping keys, and the whole flow against moto checking IAM.

mod connectors;
#[cfg(feature = "emulators")]
mod on_moto_checking_iam;
mod setup;
