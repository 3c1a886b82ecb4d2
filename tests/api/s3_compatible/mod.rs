//! S3-compatible services named by a connector's own `endpoint_url`: the egress guard that
//! keeps the service from calling inside a network, and the whole flow against moto over
//! HTTPS standing for such a service.

mod egress;
#[cfg(feature = "emulators")]
mod on_moto_over_https;
