//! A browser front end on another origin, in headless Chromium (Debian's `chromium`, which
//! the test command installs): a page served from one local origin lists connectors from
//! the real binary on another with `fetch`, follows `Link`, and reads `X-Request-Id`; a page
//! from an origin the operator did not allow can read nothing.

use std::process::Command;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use serde_json::{Value, json};

use crate::restart::{create_over_http, serve_with};

/// A page that lists every connector of `api`, page by page, and writes what it saw.
fn page(api: &str, key: &str) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="out">running</pre><script>
const api = "{api}";
async function run() {{
  const seen = {{statuses: [], ids: [], requestIds: [], links: 0}};
  let url = api + "/api/v2/connectors?limit=2";
  while (url) {{
    const r = await fetch(url, {{headers: {{"X-API-Key": "{key}"}}}});
    seen.statuses.push(r.status);
    seen.requestIds.push(r.headers.get("X-Request-Id"));
    for (const c of await r.json()) seen.ids.push(c.connector_id);
    const link = r.headers.get("Link");
    const next = link && link.match(/<([^>]+)>;\s*rel="next"/);
    if (next) seen.links += 1;
    url = next ? api + next[1] : null;
  }}
  return seen;
}}
run().then(
  seen => document.getElementById("out").textContent = JSON.stringify(seen),
  e => document.getElementById("out").textContent = "error: " + e.message);
</script></body></html>"#
    )
}

/// Serves `html` at `/` on a free loopback port; answers the page's origin.
async fn serve_page(html: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the page");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    let app = Router::new().route("/", get(move || async move { Html(html) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

/// Loads `url` in headless Chromium and answers what the page wrote into `#out`.
async fn what_the_page_saw(url: String) -> String {
    let profile = tempfile::tempdir().expect("a profile directory");
    let profile_arg = format!("--user-data-dir={}", profile.path().display());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=15000",
                &profile_arg,
                "--dump-dom",
                &url,
            ])
            .output()
    })
    .await
    .expect("task")
    .expect("chromium runs (the test command installs Debian's chromium)");
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    let start = dom
        .find("<pre id=\"out\">")
        .unwrap_or_else(|| panic!("no #out in the page: {dom}"));
    let rest = &dom[start + "<pre id=\"out\">".len()..];
    let end = rest.find("</pre>").expect("the end of #out");
    rest[..end].replace("&quot;", "\"").replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_an_allowed_origin_lists_connectors_follows_link_and_reads_the_request_id() {
    // The service must know the page's origin when it starts: pick a free port for it
    // first, and serve the page there once the service is up.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let allowed_origin = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve_with(
        std::path::Path::new(env!("CARGO_BIN_EXE_connectors")),
        dir.path(),
        &[("CORS_ALLOWED_ORIGINS", &allowed_origin)],
    );
    let key = server.key.clone().expect("a first key");
    let mut created = Vec::new();
    for name in ["One", "Two", "Three"] {
        let c = create_over_http(&server.base, &key, json!({ "name": name })).await;
        created.push(c["connector_id"].as_str().expect("id").to_owned());
    }
    created.reverse(); // newest first, as the list answers

    let html = page(&server.base, &key);
    let port = allowed_origin.rsplit(':').next().expect("a port");
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("the allowed origin's port");
    let page_html = html.clone();
    let app = Router::new().route("/", get(move || async move { Html(page_html) }));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let text = what_the_page_saw(format!("{allowed_origin}/")).await;
    let seen: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("the page wrote: {text}"));
    assert_eq!(seen["statuses"], json!([200, 200]), "{seen}");
    assert_eq!(seen["ids"], json!(created), "{seen}");
    assert_eq!(seen["links"], 1, "{seen}");
    let ids = seen["requestIds"].as_array().expect("request ids");
    assert_eq!(ids.len(), 2);
    assert!(
        ids.iter()
            .all(|id| id.as_str().is_some_and(|s| s.starts_with("req_"))),
        "{seen}"
    );

    // The same page from an origin the operator did not allow reads nothing.
    let refused_origin = serve_page(html).await;
    let text = what_the_page_saw(format!("{refused_origin}/")).await;
    assert!(text.starts_with("error:"), "{text}");
}
