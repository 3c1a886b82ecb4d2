//! The protocol edge of the local server: hyper answers a request it cannot parse (a control
//! character in a header, more than 100 header fields, a malformed request line) itself,
//! with a bare status and no body, before any of the service runs. [`EdgeListener`] hands
//! hyper connections whose writes are watched: such an answer (the only kind without an
//! `X-Request-Id`, since the observing layer gives one to every other) is replaced by the
//! same status in the contract's envelope, with a request id, and logged.
//!
//! Under Lambda, API Gateway parses HTTP and these requests never reach the function.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener whose connections rewrite hyper's own error answers (see the module).
pub struct EdgeListener(pub TcpListener);

impl axum::serve::Listener for EdgeListener {
    type Io = Edge<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.0).await;
        // Small answers go out at once rather than waiting on Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        (Edge::new(stream), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection whose writes are watched for hyper's own error answers.
pub struct Edge<IO> {
    inner: IO,
    /// The envelope answer being written in place of hyper's, and how much of it is out.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<IO> Edge<IO> {
    pub fn new(inner: IO) -> Self {
        Self {
            inner,
            replacement: None,
        }
    }
}

/// The status of a response head hyper wrote itself: one that closes the connection, has no
/// body and no `X-Request-Id` (every answer of the service has one).
fn hyper_error_status(bytes: &[u8]) -> Option<u16> {
    let rest = bytes.strip_prefix(b"HTTP/1.1 ")?;
    let status = std::str::from_utf8(rest.get(..3)?)
        .ok()?
        .parse::<u16>()
        .ok()?;
    if !(400..600).contains(&status) {
        return None;
    }
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
    let closes = head.contains("\r\nconnection: close");
    let empty = head.contains("\r\ncontent-length: 0");
    let ours = head.contains("\r\nx-request-id:");
    (closes && empty && !ours).then_some(status)
}

/// The code and message of the envelope for a status hyper chose.
fn explain(status: u16) -> (&'static str, &'static str) {
    match status {
        431 => (
            "request_header_fields_too_large",
            "the request's header section is too large: at most 100 header fields",
        ),
        414 => ("uri_too_long", "the request target is too long"),
        _ => (
            "malformed_request",
            "the request is not valid HTTP/1.1: a header name or value with a control \
             character, or a malformed request line",
        ),
    }
}

/// The whole answer, in the envelope, with a fresh request id.
fn envelope(status: u16) -> Vec<u8> {
    let id = crate::domain::ids::fresh_ulid("req_");
    let (code, message) = explain(status);
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    tracing::warn!(
        request_id = %id,
        status,
        code,
        "a request that is not valid HTTP was refused before routing"
    );
    let body = serde_json::json!({
        "error": { "code": code, "message": message, "request_id": id }
    })
    .to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\nconnection: close\r\n\
         content-type: application/json; charset=utf-8\r\nx-request-id: {id}\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl<IO: AsyncWrite + Unpin> Edge<IO> {
    /// Writes what is left of the replacement; ready once it is all out.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.replacement {
            if *sent == bytes.len() {
                self.replacement = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Edge<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Edge<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_replacement(cx))?;
        if let Some(status) = hyper_error_status(buf) {
            // hyper's answer counts as written; ours goes out in its place.
            // It goes out on the flush that follows every write.
            self.replacement = Some((envelope(status), 0));
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then hands each answer over as one buffer, its head first, which
    // is what `hyper_error_status` reads.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bare_error_answers_are_recognised_and_the_services_are_not() {
        let hyper_400 = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Fri, 27 Nov 2026 08:24:29 GMT\r\n\r\n";
        assert_eq!(hyper_error_status(hyper_400), Some(400));
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hyper_error_status(hyper_431), Some(431));
        let ours = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\nx-request-id: req_1\r\n\r\n";
        assert_eq!(hyper_error_status(ours), None);
        let success = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hyper_error_status(success), None);
        let body_text = b"[{\"path\":\"HTTP/1.1 400 x\"}]";
        assert_eq!(hyper_error_status(body_text), None);
    }

    #[test]
    fn the_replacement_is_the_same_status_in_the_envelope_with_a_request_id() {
        let answer = String::from_utf8(envelope(431)).expect("text");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
        let id = v["error"]["request_id"].as_str().expect("an id");
        assert!(head.contains(&format!("x-request-id: {id}")));
        assert_eq!(v["error"]["code"], "request_header_fields_too_large");
    }
}
