//! The real binary at the protocol edge: a request hyper cannot parse is answered in the
//! contract's envelope with an `X-Request-Id`, not with hyper's bare status.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::restart::serve_with;

/// Sends raw bytes and reads the whole answer (the server closes the connection).
fn exchange(base: &str, request: &[u8]) -> (u16, Vec<(String, String)>, Value) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8(answer).expect("a text answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find_map(|(k, v)| (k == name).then_some(v.as_str()))
}

#[test]
fn requests_hyper_cannot_parse_are_answered_in_the_envelope_with_a_request_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve_with(
        std::path::Path::new(env!("CARGO_BIN_EXE_connectors")),
        dir.path(),
        &[],
    );
    let many_headers: Vec<u8> = (0..120)
        .flat_map(|i| format!("X-Field-{i}: v\r\n").into_bytes())
        .collect();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "a control character in a header value",
            b"GET /api/v2/connectors HTTP/1.1\r\nHost: x\r\nX-Api-Key: sk\x01live\r\n\r\n".to_vec(),
            400,
            "malformed_request",
        ),
        (
            "120 header fields",
            [
                &b"GET /api/v2/connectors HTTP/1.1\r\nHost: x\r\n"[..],
                &many_headers,
                b"\r\n",
            ]
            .concat(),
            431,
            "request_header_fields_too_large",
        ),
        (
            "a request line that is not HTTP",
            b"NONSENSE\r\n\r\n".to_vec(),
            400,
            "malformed_request",
        ),
    ];
    for (case, request, status, code) in cases {
        let (got, headers, body) = exchange(&server.base, &request);
        assert_eq!(got, status, "{case}");
        assert_eq!(body["error"]["code"], code, "{case}");
        assert!(body["error"]["message"].is_string(), "{case}");
        let id = body["error"]["request_id"].as_str().expect("a request id");
        assert_eq!(header(&headers, "x-request-id"), Some(id), "{case}");
        assert_eq!(header(&headers, "connection"), Some("close"), "{case}");
        assert!(
            header(&headers, "content-type").is_some_and(|c| c.starts_with("application/json")),
            "{case}"
        );
    }
    // A well-formed request on a fresh connection is answered by the service as before.
    let (status, headers, body) = exchange(
        &server.base,
        b"GET /api/v2/connectors HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "authentication_required");
    assert!(header(&headers, "x-request-id").is_some());
}
