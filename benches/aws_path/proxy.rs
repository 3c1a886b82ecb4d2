//! A loopback stand-in for the network between the service and AWS: an HTTPS proxy in
//! front of moto that holds every request a fixed time before forwarding it, and counts
//! the requests by the AWS service their signature names.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Requests seen, by the signing name in their SigV4 credential scope (`dynamodb`,
/// `secretsmanager`, `sts`, `s3`).
pub type Calls = BTreeMap<String, usize>;

/// A running proxy; it stops with the runtime.
#[derive(Clone)]
pub struct Proxy {
    pub url: String,
    calls: Arc<Mutex<Calls>>,
}

struct Upstream {
    base: Uri,
    delay: Duration,
    client: Client<HttpConnector, Incoming>,
    calls: Arc<Mutex<Calls>>,
}

impl Proxy {
    /// Listens on a free loopback port, with TLS when a certificate and key (PEM) are
    /// given, and forwards to `upstream` (plain HTTP) after `delay`.
    pub async fn start(upstream: &str, tls: Option<(&str, &str)>, delay: Duration) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let acceptor = tls.map(acceptor).transpose()?;
        let calls = Arc::new(Mutex::new(Calls::new()));
        let upstream = Arc::new(Upstream {
            base: upstream.parse().context("the upstream URL")?,
            delay,
            client: Client::builder(TokioExecutor::new()).build(upstream_connector()),
            calls: Arc::clone(&calls),
        });
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // As an AWS endpoint answers: without waiting to coalesce small writes.
                let _ = stream.set_nodelay(true);
                let (acceptor, upstream) = (acceptor.clone(), Arc::clone(&upstream));
                tokio::spawn(async move {
                    let service = service_fn(move |r| forward(Arc::clone(&upstream), r));
                    let http = hyper::server::conn::http1::Builder::new();
                    let _ = match acceptor {
                        Some(a) => match a.accept(stream).await {
                            Ok(s) => http.serve_connection(TokioIo::new(s), service).await,
                            Err(_) => return,
                        },
                        None => http.serve_connection(TokioIo::new(stream), service).await,
                    };
                });
            }
        });
        Ok(Self {
            url: format!("{scheme}://127.0.0.1:{}", addr.port()),
            calls,
        })
    }

    /// The calls counted since the last take, and a fresh count.
    pub fn take(&self) -> Calls {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn upstream_connector() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http
}

fn acceptor((cert, key): (&str, &str)) -> Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert)
        .context("the proxy's certificate")?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key).context("the proxy's key")?;
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The signing name in a SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20261127/us-east-1/dynamodb/aws4_request`).
fn signing_name(request: &Request<Incoming>) -> String {
    request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or("unsigned")
        .to_owned()
}

async fn forward(
    upstream: Arc<Upstream>,
    mut request: Request<Incoming>,
) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
    *upstream
        .calls
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(signing_name(&request))
        .or_default() += 1;
    tokio::time::sleep(upstream.delay).await;
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut parts = upstream.base.clone().into_parts();
    parts.path_and_query = path.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    // Hop-by-hop headers stay on their hop: moto's server closes every connection, an AWS
    // endpoint keeps it open, and the service must see the latter.
    request.headers_mut().remove(hyper::header::CONNECTION);
    let mut response = upstream.client.request(request).await?;
    response.headers_mut().remove(hyper::header::CONNECTION);
    response.headers_mut().remove("keep-alive");
    Ok(response)
}
