//! Latency and throughput of the read endpoints on the embedded store, next to an axum
//! hello-world served the same way on the same machine.
//!
//! `cargo bench --bench read_path` seeds 1,000 connectors through the API, serves the real
//! router and three baselines on loopback, and drives each with keep-alive HTTP/1.1
//! connections: one connection for latency, then many for throughput, the targets taking
//! turns in rounds. It first times each router in process, without a socket. Under
//! `cargo test` (no `--bench` argument) it runs a short smoke pass with a few connectors.
//! Words after `--` pick targets by label, e.g. `cargo bench --bench read_path -- {id}`;
//! `-- in-process` prints only the figures taken without a socket.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use connectors::config::Settings;
use connectors::domain::apikey::{ApiKeyRecord, KeyScope};
use connectors::domain::ids::TenantId;
use connectors::http::Api;
use connectors::startup::build_app;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rand::Rng;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

/// The binary's allocator, so the figures are the shipped binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Plan {
    connectors: usize,
    warmup: Duration,
    measure: Duration,
    /// Turns each target takes within `measure`.
    rounds: u32,
    concurrency: [usize; 2],
    /// Requests per target for the in-process figure.
    in_process: u32,
}

const FULL: Plan = Plan {
    connectors: 1_000,
    warmup: Duration::from_secs(1),
    measure: Duration::from_secs(5),
    rounds: 20,
    concurrency: [1, 32],
    in_process: 200_000,
};

const SMOKE: Plan = Plan {
    connectors: 5,
    warmup: Duration::from_millis(20),
    measure: Duration::from_millis(100),
    rounds: 2,
    concurrency: [1, 4],
    in_process: 200,
};

/// One endpoint to drive: where it is served, what to ask, and the key to ask with.
struct Target {
    label: String,
    addr: SocketAddr,
    path: String,
    api_key: Option<String>,
}

#[derive(Default)]
struct Figures {
    requests: usize,
    elapsed: Duration,
    bytes_per_response: usize,
    latencies_us: Vec<u32>,
}

impl Figures {
    fn add(&mut self, more: Figures) {
        self.requests += more.requests;
        self.elapsed += more.elapsed;
        self.bytes_per_response = more.bytes_per_response;
        self.latencies_us.extend(more.latencies_us);
    }

    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        f64::from(self.latencies_us[rank.min(self.latencies_us.len() - 1)])
    }
}

fn main() -> Result<()> {
    let plan = if std::env::args().any(|a| a == "--bench") {
        &FULL
    } else {
        &SMOKE
    };
    // `cargo bench --bench read_path -- {id}` drives only the targets whose label contains
    // the words given (and hello-world, the baseline), e.g. under a profiler.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    // The service logs one JSON line per request; the bench pays for it into a sink.
    connectors::telemetry::init_with(std::io::sink, "info");

    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let data = tempfile::tempdir()?;
    let (targets, listed, routers) =
        server.block_on(start_servers(data.path(), plan.connectors))?;

    // The load runs on its own thread and runtime, as a separate client process would.
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "{} connectors on the embedded store; GET /connectors answers {} bytes",
        plan.connectors, listed
    );
    in_process(&server, &routers, plan.in_process, plan.rounds)?;
    if only.is_empty() || only.iter().any(|w| w == "openapi") {
        openapi_build(plan.rounds);
    }
    println!(
        "{:<44} {:>5} {:>10} {:>9} {:>9} {:>8}",
        "target", "conns", "req/s", "p50 µs", "p99 µs", "bytes"
    );
    // `-- in-process` stops after the in-process figures.
    let network = if only.iter().any(|w| w == "in-process") {
        &[][..]
    } else {
        &plan.concurrency[..]
    };
    for &conns in network {
        let chosen: Vec<&Target> = targets
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                *i == 0 || only.is_empty() || only.iter().any(|w| t.label.contains(w.as_str()))
            })
            .map(|(_, t)| t)
            .collect();
        // Targets take turns, a slice of the measuring time each per round, so that a
        // machine whose speed drifts during the run slows every target alike.
        let mut figures: Vec<Figures> = chosen.iter().map(|_| Figures::default()).collect();
        for target in &chosen {
            client.block_on(drive(target, conns, plan.warmup))?;
        }
        for _ in 0..plan.rounds {
            for (target, total) in chosen.iter().zip(&mut figures) {
                let slice = client.block_on(drive(target, conns, plan.measure / plan.rounds))?;
                total.add(slice);
            }
        }
        let hello_rate = figures[0].per_second();
        for (i, (target, figures)) in chosen.iter().zip(&mut figures).enumerate() {
            figures.latencies_us.sort_unstable();
            let rate = figures.per_second();
            let ratio = if i == 0 {
                String::new()
            } else {
                format!("  {:.2}× hello-world time", hello_rate / rate)
            };
            println!(
                "{:<44} {:>5} {:>10.0} {:>9.0} {:>9.0} {:>8}{}",
                target.label,
                conns,
                rate,
                figures.percentile(50.0),
                figures.percentile(99.0),
                figures.bytes_per_response,
                ratio
            );
        }
    }
    drop(server);
    Ok(())
}

/// Any of the services benchmarked (the API or a baseline router), boxed alike, as axum
/// boxes each route.
type Boxed = BoxCloneSyncService<Request<Body>, Response, Infallible>;

/// A service called in process, without a socket: the request's cost to the service alone.
struct Local {
    label: &'static str,
    service: Boxed,
    path: String,
    api_key: Option<String>,
}

/// Calls each router `requests` times through `oneshot`, in batches that take turns, and
/// prints the mean time per call of each router's fastest batch: the figure least
/// disturbed by whatever else the machine is doing.
/// What building the OpenAPI document costs, the work a cold start would pay if the document
/// were built with the router; it is built on its first request instead.
fn openapi_build(rounds: u32) {
    let mut best = Duration::MAX;
    let mut bytes = 0;
    for _ in 0..rounds.max(3) {
        let started = Instant::now();
        bytes = connectors::http::openapi::build().len();
        best = best.min(started.elapsed());
    }
    println!(
        "the OpenAPI document ({bytes} bytes), built afresh: {:.2} ms (best of {})",
        best.as_secs_f64() * 1e3,
        rounds.max(3)
    );
}

fn in_process(
    server: &tokio::runtime::Runtime,
    targets: &[Local],
    requests: u32,
    rounds: u32,
) -> Result<()> {
    println!(
        "in process, one request at a time, no socket ({requests} requests each, best of {rounds} batches):"
    );
    let batch = (requests / rounds).max(1);
    let run = |t: &Local, calls: u32| {
        server.block_on(async {
            let started = Instant::now();
            for _ in 0..calls {
                let mut request = authorized(&t.path, t.api_key.as_deref().unwrap_or(""));
                if t.api_key.is_none() {
                    request.headers_mut().remove("x-api-key");
                }
                let response = t.service.clone().oneshot(request).await?;
                if response.status() != StatusCode::OK {
                    bail!("{} answered {}", t.path, response.status());
                }
                response.into_body().collect().await?;
            }
            Ok::<_, anyhow::Error>(started.elapsed())
        })
    };
    let mut best = vec![Duration::MAX; targets.len()];
    for t in targets {
        run(t, batch)?;
    }
    for _ in 0..rounds {
        for (t, best) in targets.iter().zip(&mut best) {
            *best = (*best).min(run(t, batch)?);
        }
    }
    for (t, best) in targets.iter().zip(&best) {
        println!(
            "  {:<42} {:>8.2} µs per request",
            t.label,
            best.as_secs_f64() * 1e6 / f64::from(batch)
        );
    }
    Ok(())
}

/// Seeds the store through the API, then serves the router and the baselines on free ports.
async fn start_servers(
    dir: &std::path::Path,
    connectors: usize,
) -> Result<(Vec<Target>, usize, Vec<Local>)> {
    // The bench seeds its connectors faster than an account may create them.
    let settings = Settings {
        rate_limit_creates_per_minute: 0,
        ..Settings::embedded(dir)
    };
    let app = build_app(&settings).await?;
    let tenant = TenantId::parse("bench").context("tenant")?;
    let key = ApiKeyRecord::mint(tenant, vec![KeyScope::Admin], None);
    app.storage.api_keys.put_api_key(&key.record).await?;
    let api_key = key.reveal().to_owned();
    let router = connectors::http::api(app);

    let mut last_id = String::new();
    for i in 0..connectors {
        last_id = seed_one(&router, &api_key, i).await?;
    }
    let listed = router
        .clone()
        .oneshot(authorized("/api/v2/connectors", &api_key))
        .await?
        .into_body()
        .collect()
        .await?
        .to_bytes();

    let one = router
        .clone()
        .oneshot(authorized(
            &format!("/api/v2/connectors/{last_id}"),
            &api_key,
        ))
        .await?;
    let one_headers = one.headers().clone();
    let one_body = one.into_body().collect().await?.to_bytes();
    let canned_one = Router::new().route(
        "/",
        get(move || {
            let headers = one_headers.clone();
            let body = one_body.clone();
            async move { (headers, body) }
        }),
    );

    let hello = Router::new().route("/", get(|| async { "Hello, World!" }));
    let same_bytes = listed.clone();
    let canned = Router::new().route(
        "/",
        get(move || {
            let body = same_bytes.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    );

    let locals = vec![
        Local {
            label: "axum hello-world",
            service: Boxed::new(hello.clone()),
            path: "/".into(),
            api_key: None,
        },
        Local {
            label: "GET /api/v2/connectors/{id}",
            service: Boxed::new(router.clone()),
            path: format!("/api/v2/connectors/{last_id}"),
            api_key: Some(api_key.clone()),
        },
    ];
    let hello_addr = serve(hello).await?;
    let canned_addr = serve(canned).await?;
    let canned_one_addr = serve(canned_one).await?;
    let api_addr = serve(router).await?;
    let with_key = |label: &str, path: String| Target {
        label: label.to_owned(),
        addr: api_addr,
        path,
        api_key: Some(api_key.clone()),
    };
    let targets = vec![
        Target {
            label: "axum hello-world".into(),
            addr: hello_addr,
            path: "/".into(),
            api_key: None,
        },
        with_key(
            "GET /api/v2/connectors/{id}",
            format!("/api/v2/connectors/{last_id}"),
        ),
        Target {
            label: "axum, same bytes and headers as {id}".into(),
            addr: canned_one_addr,
            path: "/".into(),
            api_key: None,
        },
        with_key(
            "GET /api/v2/connectors?limit=20",
            "/api/v2/connectors?limit=20".into(),
        ),
        with_key(
            "GET /api/v2/connectors (all, default limit)",
            "/api/v2/connectors".into(),
        ),
        Target {
            label: "axum, same bytes as the full list".into(),
            addr: canned_addr,
            path: "/".into(),
            api_key: None,
        },
    ];
    Ok((targets, listed.len(), locals))
}

async fn seed_one(router: &Api, api_key: &str, i: usize) -> Result<String> {
    let mut rng = rand::rng();
    let upper = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let key_id: String = (0..16)
        .map(|_| char::from(upper[rng.random_range(0..upper.len())]))
        .collect();
    let secret: String = (0..40)
        .map(|_| char::from(upper[rng.random_range(0..upper.len())]))
        .collect();
    let body = serde_json::json!({
        "name": format!("Archive {i}"),
        "bucket": "media-archive",
        "region": "us-east-1",
        "aws_access_key_id": format!("AKIA{key_id}"),
        "aws_secret_access_key": secret,
        "export_base_path": format!("exports/{i}"),
        "scopes": ["import", "export"],
    });
    let request = Request::post("/api/v2/connectors/s3")
        .header("x-api-key", api_key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))?;
    let response = router.clone().oneshot(request).await?;
    if response.status() != StatusCode::CREATED {
        bail!("seeding connector {i} answered {}", response.status());
    }
    let created: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
    created["connector_id"]
        .as_str()
        .map(str::to_owned)
        .context("the created connector has no id")
}

fn authorized(path: &str, api_key: &str) -> Request<Body> {
    let mut request = Request::new(Body::empty());
    *request.uri_mut() = path.parse().unwrap_or_default();
    if let Ok(v) = api_key.parse() {
        request.headers_mut().insert("x-api-key", v);
    }
    request
}

async fn serve<S>(service: S) -> Result<SocketAddr>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let service = axum::ServiceExt::<Request<Body>>::into_make_service(service);
    tokio::spawn(async move {
        let _ = axum::serve(listener, service).await;
    });
    Ok(addr)
}

/// Drives `target` over `conns` keep-alive connections for `duration`.
async fn drive(target: &Target, conns: usize, duration: Duration) -> Result<Figures> {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        tasks.spawn(one_connection(
            target.addr,
            target.path.clone(),
            target.api_key.clone(),
            deadline,
        ));
    }
    let mut latencies_us = Vec::new();
    let mut bytes_per_response = 0;
    while let Some(done) = tasks.join_next().await {
        let (lat, bytes) = done??;
        latencies_us.extend(lat);
        bytes_per_response = bytes;
    }
    let elapsed = started.elapsed();
    Ok(Figures {
        requests: latencies_us.len(),
        elapsed,
        bytes_per_response,
        latencies_us,
    })
}

async fn one_connection(
    addr: SocketAddr,
    path: String,
    api_key: Option<String>,
    deadline: Instant,
) -> Result<(Vec<u32>, usize)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut latencies = Vec::new();
    let mut bytes = 0;
    while Instant::now() < deadline {
        let mut request = hyper::Request::get(path.as_str()).header(header::HOST, "127.0.0.1");
        if let Some(key) = &api_key {
            request = request.header("x-api-key", key);
        }
        let request = request.body(Empty::new())?;
        let sent = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        let took = sent.elapsed();
        if status != StatusCode::OK {
            bail!(
                "{path} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        bytes = body.len();
        latencies.push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
    }
    Ok((latencies, bytes))
}
