//! The integration suite: the router on the embedded store, S3 against moto, and the binary.

#[macro_use]
mod helpers;

mod abort;
mod auth;
mod cargo_lambda;
mod clouds;
mod connectors;
mod errors;
mod faults;
mod gcs_azure;
mod idempotency;
mod lambda_events;
mod logging;
mod operator;
mod providers;
mod restart;
mod s3_provider;
mod store_contract;
