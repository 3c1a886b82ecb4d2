//! A minimal Lambda runtime API on loopback: the endpoints a runtime polls and posts to,
//! handing out the events the bench invokes and returning each function's answer to the
//! invocation that sent it. Serves any number of concurrent pollers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot};

type Answer = oneshot::Sender<Result<Value, String>>;

struct Shared {
    events: Mutex<mpsc::UnboundedReceiver<(Value, Answer)>>,
    waiting: std::sync::Mutex<HashMap<String, Answer>>,
    next_id: AtomicU64,
}

/// Where a function finds the API (`AWS_LAMBDA_RUNTIME_API`), and how the bench invokes it.
pub struct RuntimeApi {
    pub address: String,
    events: mpsc::UnboundedSender<(Value, Answer)>,
}

impl RuntimeApi {
    pub async fn start() -> Result<Self> {
        let (events, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(receiver),
            waiting: std::sync::Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        });
        let routes = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        tokio::spawn(async move { axum::serve(listener, routes).await });
        Ok(Self { address, events })
    }

    /// Hands `event` to the next poller and waits (at most a minute) for its answer.
    pub async fn invoke(&self, event: Value) -> Result<Value> {
        let (answer, answered) = oneshot::channel();
        self.events
            .send((event, answer))
            .ok()
            .context("the runtime API stopped")?;
        match tokio::time::timeout(Duration::from_secs(60), answered).await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(e))) => bail!("the function reported an error: {e}"),
            Ok(Err(_)) => bail!("the runtime API dropped the invocation"),
            Err(_) => bail!("no answer within a minute"),
        }
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let Some((event, answer)) = shared.events.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), Vec::new());
    };
    let id = format!("bench-{}", shared.next_id.fetch_add(1, Ordering::Relaxed));
    shared
        .waiting
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), answer);
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() + 30_000);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = value.parse() {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", id);
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:connectors".into(),
    );
    put(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".into(),
    );
    put("content-type", "application/json".into());
    (StatusCode::OK, headers, event.to_string().into_bytes())
}

fn settle(shared: &Shared, id: &str, outcome: Result<Value, String>) -> StatusCode {
    let answer = shared
        .waiting
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    if let Some(answer) = answer {
        let _ = answer.send(outcome);
    }
    StatusCode::ACCEPTED
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let outcome = serde_json::from_slice(&body).map_err(|e| e.to_string());
    settle(&shared, &id, outcome)
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    settle(
        &shared,
        &id,
        Err(String::from_utf8_lossy(&body).into_owned()),
    )
}

async fn init_error(body: Bytes) -> StatusCode {
    eprintln!("init error: {}", String::from_utf8_lossy(&body));
    StatusCode::ACCEPTED
}
