//! The integration suite. Without features it is hermetic: the router on the embedded
//! store, the real binary (its release build too), parsers. With `--features emulators`
//! (what `bash infra/test.sh` runs) it adds everything that needs the emulators: DynamoDB,
//! Secrets Manager and S3 in moto, fake-gcs-server, Azurite, cargo-lambda, and the replay of
//! every event in `events/`.

#[macro_use]
mod helpers;

mod abort;
mod access;
mod adversarial;
mod auth;
#[cfg(feature = "emulators")]
mod browser;
#[cfg(feature = "emulators")]
mod cargo_lambda;
#[cfg(feature = "emulators")]
mod clouds;
mod connectors;
mod cors;
mod edge;
mod errors;
mod events;
mod faults;
mod gcs_azure;
mod idempotency;
#[cfg(feature = "emulators")]
mod lambda_events;
#[cfg(feature = "emulators")]
mod lifecycle;
mod limits;
mod logging;
mod metrics;
mod openapi;
mod operator;
#[cfg(feature = "emulators")]
mod races;
mod restart;
mod roles;
#[cfg(feature = "emulators")]
mod round_trips;
mod s3_compatible;
mod store_contract;
