//! Every JSON body the API reads (the S3 and Azure creates, PATCH, browse) answers a client
//! error or a success, never a server error or a panic, whatever the bytes.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let target = common::target();
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let browse = format!("{}/browse", target.connector);
    let (method, path) = match which % 4 {
        0 => ("POST", "/api/v2/connectors/s3"),
        1 => ("POST", "/api/v2/connectors/azure"),
        2 => ("PATCH", target.connector.as_str()),
        _ => ("POST", browse.as_str()),
    };
    target.client_error_or_success(method, path, "application/json", body.to_vec());
});
