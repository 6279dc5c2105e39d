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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;
    use axum::{Router, routing::get};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::ClientIp;

    async fn peer(ConnectInfo(peer): ConnectInfo<SocketAddr>, ClientIp(ip): ClientIp) -> String {
        format!("{peer} {}", ip.map_or("none".into(), |ip| ip.to_string()))
    }

    #[tokio::test]
    async fn a_served_app_gives_handlers_the_connections_peer_address() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(
            crate::App::new("svc", "1.0.0")
                .router(Router::new().route("/peer", get(peer)))
                .serve_with_shutdown(listener, async {
                    let _ = stopped.await;
                }),
        );

        let mut client = TcpStream::connect(addr).await.unwrap();
        let local = client.local_addr().unwrap();
        client
            .write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        client.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response.ends_with(&format!("\r\n\r\n{local} 127.0.0.1")),
            "{response}"
        );

        stop.send(()).unwrap();
        assert!(server.await.unwrap().is_ok());
    }
}
