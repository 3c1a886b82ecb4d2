//! CORS for browser front ends on other origins: preflights answered for the origins the
//! operator allows (none by default), and the headers clients read exposed to pages.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::wire::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, X_API_KEY, X_NEXT_CURSOR, X_REQUEST_ID};

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The layer for `origins`, or `None` when no origin is allowed (then a browser on
/// another origin can read nothing, as without CORS).
pub fn layer(origins: &[String]) -> Option<CorsLayer> {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter(|o| !o.is_empty())
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if allowed.is_empty() {
        return None;
    }
    let requested: [HeaderName; 5] = [
        header::CONTENT_TYPE,
        header::AUTHORIZATION,
        header::IF_MATCH,
        X_API_KEY,
        IDEMPOTENCY_KEY,
    ];
    let exposed: [HeaderName; 7] = [
        header::ETAG,
        header::LINK,
        header::LOCATION,
        header::RETRY_AFTER,
        X_NEXT_CURSOR,
        X_REQUEST_ID,
        IDEMPOTENT_REPLAYED,
    ];
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers(requested)
            .expose_headers(exposed)
            .max_age(PREFLIGHT_MAX_AGE),
    )
}
