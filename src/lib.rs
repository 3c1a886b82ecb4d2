//! The VideoVector Connectors API: customers register cloud storage (Amazon S3, Google
//! Cloud Storage, Azure Blob) as connectors, test access, and browse files.
//!
//! # Layout
//!
//! Each layer talks only to the one below it: `http` → `service` → the ports in `store` and
//! `providers` → their adapters; `startup` alone picks the adapters.
//!
//! - [`domain`]: values that parse (names, paths, scopes, globs, credentials, records).
//! - [`store`]: storage ports, one per concern (`ConnectorRecords`, `ApiKeys`,
//!   `IdempotencyRecords`, `ServiceKeys`, `RateCounters`, `SecretVault`) gathered in
//!   `Storage`; the embedded adapters (`embedded`, `embedded_vault`: redb) and the AWS ones
//!   (`dynamodb`, `secrets_manager`), and `cache` in front of them.
//! - [`providers`]: the `ObjectStore` port and the S3, GCS and Azure adapters, built per
//!   call; the egress guard and the AWS role sessions.
//! - [`service`]: the use cases over the ports — authentication and API keys, the
//!   idempotency protocol and the use cases that take a key (`use_cases`: create and test,
//!   each owning its steps), connectors (with the record/secret write protocol in one
//!   place, `write`), the access check (`access_check`), provider clients for saved
//!   connectors and the AWS role chain (`clients`), browse, reconcile — and
//!   `ServiceError`, their one error type.
//! - [`http`]: the axum router, one module per resource (`connectors`, `actions`), the
//!   extractors (auth, bodies, fingerprints), `ApiError` and the contract's envelope, and
//!   the observing layer (request id, access line, 5xx cause chains).
//! - [`startup`]: assembles the process from [`config`]: storage adapters, providers, `App`.
//! - [`config`], [`telemetry`], [`cli`], [`aws_http`]: settings, logs and metrics, the binary's
//!   commands, and the HTTPS client of the AWS SDKs.

pub mod aws_http;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod providers;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
