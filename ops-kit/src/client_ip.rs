//! The client's address, as an extractor.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
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
        let peer = RequestScope::peer_ip(&parts.extensions);
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
    use crate::App;

    /// Serves `app` on a fresh port, sends one `GET path` from a real TCP
    /// connection and returns the client's own address and the response.
    async fn get_over_tcp(app: App, path: &str) -> (SocketAddr, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.serve_with_shutdown(listener, async {
            let _ = stopped.await;
        }));

        let mut client = TcpStream::connect(addr).await.unwrap();
        let local = client.local_addr().unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        client.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        client.read_to_string(&mut response).await.unwrap();

        stop.send(()).unwrap();
        assert!(server.await.unwrap().is_ok());
        (local, response)
    }

    async fn peer(ConnectInfo(peer): ConnectInfo<SocketAddr>, ClientIp(ip): ClientIp) -> String {
        format!("{peer} {}", ip.map_or("none".into(), |ip| ip.to_string()))
    }

    async fn ip(ClientIp(ip): ClientIp) -> String {
        ip.map_or("none".into(), |ip| ip.to_string())
    }

    #[tokio::test]
    async fn a_served_app_gives_handlers_the_peer_address_as_client_ip() {
        let app = App::new("svc", "1.0.0").router(Router::new().route("/ip", get(ip)));
        let (_, response) = get_over_tcp(app, "/ip").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("\r\n\r\n127.0.0.1"), "{response}");
    }

    #[tokio::test]
    async fn an_app_that_asks_for_connect_info_gives_handlers_axums_extractor_too() {
        let app = App::new("svc", "1.0.0")
            .connect_info()
            .router(Router::new().route("/peer", get(peer)));
        let (local, response) = get_over_tcp(app, "/peer").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response.ends_with(&format!("\r\n\r\n{local} 127.0.0.1")),
            "{response}"
        );
    }

    #[tokio::test]
    async fn axums_connect_info_is_not_there_unless_the_app_asks_for_it() {
        let app = App::new("svc", "1.0.0").router(Router::new().route("/peer", get(peer)));
        let (_, response) = get_over_tcp(app, "/peer").await;
        assert!(response.starts_with("HTTP/1.1 500"), "{response}");
    }
}
