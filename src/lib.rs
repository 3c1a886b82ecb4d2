//! The VideoVector Connectors API: customers register cloud storage (Amazon S3, Google
//! Cloud Storage, Azure Blob) as connectors, test access, and browse files.
//!
//! # Layout
//!
//! Each layer talks only to the one below it: `http` → `service` → the ports in `store` and
//! `providers` → their adapters, all over the values of `domain`; `startup` alone picks the
//! adapters.
//!
//! Everything that is one provider's own is in its folder, `providers::{s3, gcs, azure}`,
//! one file per layer, each using only the layers below its own: `names`, `location` and
//! `credentials` (domain values), `adapter` (the `ObjectStore`), `wire` (its create and
//! PATCH fields and its columns of the connector view) and `schema` (its part of the
//! OpenAPI document), which only `http` uses; S3 adds `endpoint` and the role setup
//! (`setup`, service; `setup_route`, http). The rest of the crate names a provider only in
//! registration lines (an enum variant, a match arm, a route): docs/adding-a-provider.md
//! lists them.
//!
//! - [`domain`]: values that parse (names, paths, scopes, globs, the connector record and
//!   its `Location`, `Credentials` and the vault's payload), composed of each provider's.
//! - [`store`]: storage ports, one per concern (`ConnectorRecords`, `ApiKeys`,
//!   `IdempotencyRecords`, `ServiceKeys`, `RateCounters`, `SecretVault`) gathered in
//!   `Storage`; the embedded adapters (`embedded`, `embedded_vault`: redb) and the AWS ones
//!   (`dynamodb`, `secrets_manager`), and `cache` in front of them.
//! - [`providers`]: the `ObjectStore` port and the factory that opens a provider's adapter
//!   per call; the shared machinery: the egress guard, the AWS role sessions and the
//!   service's principal, one HTTPS client for Google and Azure; and the providers' folders.
//! - [`service`]: the use cases over the ports — authentication and API keys, the
//!   idempotency protocol and the use cases that take a key (`use_cases`: create and test,
//!   each owning its steps), connectors (with the record/secret write protocol in one
//!   place, `write`), the access check (`access_check`), provider clients for saved
//!   connectors and the AWS role chain (`clients`), browse, reconcile — and
//!   `ServiceError`, their one error type.
//! - [`http`]: the axum router, with every operation named once in `routes` (its path and
//!   methods read from its OpenAPI attribute, which the document lists from the same
//!   place), one module per resource (`connectors`, `actions`), the extractors (auth, bodies, fingerprints), the field parser, `ApiError` and the
//!   contract's envelope, the connector view, the OpenAPI document's shared schemas, and
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
