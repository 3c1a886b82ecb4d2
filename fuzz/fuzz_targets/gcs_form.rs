//! The GCS create's multipart form answers a client error or a success, never a server
//! error or a panic, whatever the bytes between its boundaries.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::target().client_error_or_success(
        "POST",
        "/api/v2/connectors/gcs",
        "multipart/form-data; boundary=fuzz",
        data.to_vec(),
    );
});
