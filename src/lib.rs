//! The VideoVector Connectors API: customers register cloud storage (Amazon S3, Google
//! Cloud Storage, Azure Blob) as connectors, test access, and browse files.
//!
//! # Layout
//!
//! - [`domain`]: values that parse (names, paths, scopes, globs, credentials, records).
//! - [`store`]: storage ports (`ConnectorStore`, `SecretVault`) and embedded adapters.
//! - [`providers`]: the `ObjectStore` port and the provider adapters, built per call.
//! - [`service`]: the use cases, over the ports.
//! - [`http`]: the axum router, extractors, handlers and the error envelope.
//! - [`config`], [`telemetry`], [`cli`]: settings, logs, and the binary's commands.

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
