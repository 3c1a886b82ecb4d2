//! The binary's commands: Lambda (no command, under the Lambda runtime), `serve` (local
//! HTTP), and the operator's `keys create|list|revoke` and `reconcile`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::domain::apikey::KeyScope;
use crate::domain::ids::TenantId;
use crate::domain::timestamp::Timestamp;
use crate::service::{App, ServiceError};
use crate::startup::{StartupError, build_app};
use crate::telemetry::error_chain;

#[derive(Parser, Debug)]
#[command(name = "connectors", version, about = "The VideoVector Connectors API")]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the API over HTTP (default 127.0.0.1:3000).
    Serve {
        /// The address and port to listen on.
        #[arg(long, env = "BIND", default_value = "127.0.0.1:3000")]
        bind: SocketAddr,
    },
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Find and repair what a crash can leave: delete secrets no connector points at, and
    /// report connectors whose credentials cannot be read.
    Reconcile {
        /// Report only; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// How long a secret must stay without a record before it is deleted (a create in
        /// flight writes its secret first).
        #[arg(long, default_value_t = 60)]
        grace_seconds: u64,
    },
    /// Print the OpenAPI 3.1 document the service serves at /api/v2/openapi.json
    /// (`infra/openapi.json` is this output).
    Openapi,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Mint a key and print it once.
    Create {
        #[arg(long, value_parser = |s: &str| TenantId::parse(s).map_err(|e| e.to_string()))]
        tenant: TenantId,
        /// Comma-separated: read, write, admin, access (signed URLs and credentials for
        /// jobs: admin includes it, read and write do not); search grants nothing here.
        #[arg(long, value_delimiter = ',', value_parser = |s: &str| KeyScope::parse(s).map_err(|e| e.to_string()))]
        scopes: Vec<KeyScope>,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_in_days: Option<u32>,
    },
    /// List keys (never their plaintext).
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a key by its id.
    Revoke { key_id: String },
}

/// Parses the command line and runs it.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let outcome = match cli.command {
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => {
            serve_lambda(&cli.settings).await
        }
        None => serve_local(&cli.settings, default_bind()).await,
        Some(Command::Serve { bind }) => serve_local(&cli.settings, bind).await,
        Some(Command::Keys(cmd)) => keys(&cli.settings, cmd).await,
        Some(Command::Reconcile {
            dry_run,
            grace_seconds,
        }) => reconcile(&cli.settings, dry_run, grace_seconds).await,
        Some(Command::Openapi) => {
            print!("{}", crate::http::openapi::document());
            Ok(())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 3000))
}

async fn serve_lambda(settings: &Settings) -> Result<(), StartupError> {
    crate::telemetry::metrics::install(crate::telemetry::metrics::Writes::AfterEachRequest);
    let app = build_app(settings).await?;
    // One request at a time on classic Lambda; with `AWS_LAMBDA_MAX_CONCURRENCY` above 1
    // (Lambda Managed Instances) that many at once, on the same shared state. Answers then
    // cross threads, so each (already whole in memory) is handed over as bytes.
    let api = crate::http::api_for_origins(app, &settings.cors_allowed_origins);
    let handler = tower::ServiceExt::<lambda_http::Request>::and_then(
        api,
        |response: axum::response::Response| async {
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await?;
            Ok::<_, lambda_http::Error>(http::Response::from_parts(
                parts,
                lambda_http::Body::from(bytes.to_vec()),
            ))
        },
    );
    lambda_http::run_concurrent(handler)
        .await
        .map_err(|e| StartupError::caused("lambda runtime stopped", e))
}

/// The service failed while a command ran.
fn failed(e: ServiceError) -> StartupError {
    let message = e.to_string();
    StartupError::caused(message, e)
}

/// Mints the first admin key of an empty store, for tenant `local`, and shows it once.
async fn first_run_key(app: &App, bind: SocketAddr) -> Result<(), StartupError> {
    let tenant = TenantId::parse("local").map_err(|e| StartupError::new(e.0))?;
    let Some(key) = app.first_run_key(tenant).await.map_err(failed)? else {
        return Ok(());
    };
    println!("Created an admin API key for tenant 'local'. It is shown only this once:");
    println!();
    println!("    {}", key.reveal());
    println!();
    println!(
        "Try: curl -H \"X-API-Key: {}\" http://{bind}/api/v2/connectors",
        key.reveal()
    );
    Ok(())
}

async fn serve_local(settings: &Settings, bind: SocketAddr) -> Result<(), StartupError> {
    let app = build_app(settings).await?;
    first_run_key(&app, bind).await?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| StartupError::caused(format!("cannot listen on {bind}"), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartupError::caused("cannot read the listening address", e))?;
    println!("listening on http://{addr}");
    axum::serve(
        crate::http::edge::EdgeListener(listener),
        axum::ServiceExt::<axum::extract::Request>::into_make_service(
            crate::http::api_for_origins(Arc::clone(&app), &settings.cors_allowed_origins),
        ),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| StartupError::caused("server stopped", e))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

async fn reconcile(
    settings: &Settings,
    dry_run: bool,
    grace_seconds: u64,
) -> Result<(), StartupError> {
    let app = build_app(settings).await?;
    let report = app
        .reconcile(std::time::Duration::from_secs(grace_seconds), dry_run)
        .await
        .map_err(|e| StartupError::caused("reconcile stopped", e))?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    for name in &report.orphan_secrets {
        println!("{verb} orphan secret {name}");
    }
    for c in &report.records_without_credentials {
        println!("connector {c} has no readable credentials: PATCH new ones or delete it");
    }
    println!(
        "reconcile: {} orphan secret(s) {verb}, {} connector(s) without credentials",
        report.orphan_secrets.len(),
        report.records_without_credentials.len()
    );
    Ok(())
}

async fn keys(settings: &Settings, cmd: KeysCommand) -> Result<(), StartupError> {
    let app = build_app(settings).await?;
    match cmd {
        KeysCommand::Create {
            tenant,
            scopes,
            expires_in_days,
        } => {
            if scopes.is_empty() {
                return Err(StartupError::new(
                    "--scopes needs at least one of read, write, admin",
                ));
            }
            let expires =
                expires_in_days.map(|d| Timestamp::now().plus_seconds(i64::from(d) * 86_400));
            let key = app
                .mint_api_key(tenant, scopes, expires)
                .await
                .map_err(failed)?;
            println!("key_id: {}", key.record.key_id);
            println!("key:    {}", key.reveal());
            println!("(the key is shown only this once)");
        }
        KeysCommand::List { tenant } => {
            println!(
                "{:<32} {:<20} {:<18} {:<21} {:<21} revoked",
                "key_id", "tenant", "scopes", "created", "expires"
            );
            for k in app.api_keys(tenant.as_deref()).await.map_err(failed)? {
                let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
                let show = |t: Option<Timestamp>| t.map_or("-".to_owned(), |t| t.to_string());
                println!(
                    "{:<32} {:<20} {:<18} {:<21} {:<21} {}",
                    k.key_id,
                    k.tenant,
                    scopes.join(","),
                    k.created_at,
                    show(k.expires_at),
                    show(k.revoked_at)
                );
            }
        }
        KeysCommand::Revoke { key_id } => {
            app.revoke_api_key(&key_id).await.map_err(|e| match e {
                ServiceError::ApiKeyNotFound(_) => StartupError::new(e.to_string()),
                other => failed(other),
            })?;
            println!("revoked {key_id}");
        }
    }
    Ok(())
}
