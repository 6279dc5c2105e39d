//! The client's address, as an extractor.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;

use crate::context::RequestScope;

/// The address of the client that sent the request: the TCP peer, or,
/// behind [`App::trusted_proxy_hops`](crate::App::trusted_proxy_hops)
/// trusted proxies, the address the outermost of them saw in
/// `X-Forwarded-For`. `None` when the server was not started with peer
/// addresses (as in `Router::oneshot` tests).
///
/// # Example
///
/// ```
/// use axum::{Router, routing::get};
/// use ops_kit::ClientIp;
///
/// async fn where_from(ClientIp(ip): ClientIp) -> String {
///     ip.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into())
/// }
/// let app: Router = Router::new().route("/ip", get(where_from));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let hops = RequestScope::of(&parts.extensions).map_or(0, |s| s.services.proxy_hops);
        let forwarded = crate::audit::request::forwarded_for(&parts.headers);
        Ok(Self(crate::audit::request::client_ip(
            peer,
            forwarded.as_ref(),
            hops,
        )))
    }
}
