//! Every operation of the API, each named once. The router takes an operation's path and
//! methods from its own `#[utoipa::path]`, and the OpenAPI document takes its paths from the
//! same list, so the two cannot disagree. Registering a route reads only the path and the
//! methods; the document itself is still built when it is first asked for, never at a cold
//! start.

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter};
use utoipa::openapi::path::HttpMethod;

use super::State;

/// Declares the operations: `routes()`, the router of every one, and `Operations`, whose
/// document holds every one's path. Each entry is `module::path => handler`.
macro_rules! operations {
    ($($($module:ident)::+ => $handler:ident),* $(,)?) => {
        pastey::paste! {
            /// The router of every operation, at the path and methods its document gives.
            pub(super) fn routes() -> Router<State> {
                let router = Router::new();
                $(
                    let router = route::<$($module)::+::[<__path_ $handler>], _, _>(
                        router,
                        $($module)::+::$handler,
                    );
                )*
                router
            }

            /// The document's paths: every operation's.
            #[derive(utoipa::OpenApi)]
            #[openapi(paths($($($module)::+::$handler),*))]
            pub(super) struct Operations;
        }
    };
}

operations! {
    super::connectors::create => create_s3,
    super::connectors::create => create_gcs,
    super::connectors::create => create_azure,
    crate::providers::s3::setup_route => role_setup,
    crate::providers::gcs::setup_route => gcs_identity_setup,
    crate::providers::azure::setup_route => azure_identity_setup,
    super::connectors => list_connectors,
    super::connectors => get_connector,
    super::connectors => update_connector,
    super::events => list_events,
    super::actions => test_connector,
    super::actions => browse_connector,
    super::access => grant_access,
    super::connectors => delete_connector,
}

/// Adds `handler` to `router` at the path and methods of its operation `P`. Operations on
/// one path (get, update and delete of a connector) share its method router.
fn route<P, H, T>(router: Router<State>, handler: H) -> Router<State>
where
    P: utoipa::Path,
    H: Handler<T, State>,
    T: 'static,
{
    let methods = P::methods()
        .into_iter()
        .fold(MethodRouter::new(), |methods, method| {
            methods.on(filter(&method), handler.clone())
        });
    router.route(&P::path(), methods)
}

/// The axum filter of an OpenAPI method.
fn filter(method: &HttpMethod) -> MethodFilter {
    match method {
        HttpMethod::Get => MethodFilter::GET,
        HttpMethod::Post => MethodFilter::POST,
        HttpMethod::Put => MethodFilter::PUT,
        HttpMethod::Delete => MethodFilter::DELETE,
        HttpMethod::Options => MethodFilter::OPTIONS,
        HttpMethod::Head => MethodFilter::HEAD,
        HttpMethod::Patch => MethodFilter::PATCH,
        HttpMethod::Trace => MethodFilter::TRACE,
    }
}
