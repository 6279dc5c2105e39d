//! The HTTP/1 server under [`App`](crate::App): accepts connections, serves
//! each with hyper, and bounds what a client can hold.
//!
//! - **Header read timeout**: a connection gets this long, from its accept
//!   or from the first byte of a later request, to send a complete request
//!   head; a connection that sends nothing, or trickles its head a byte at
//!   a time, is closed.
//! - **Keep-alive timeout**: an idle connection between two requests is
//!   closed after this long.
//! - **Connection cap**: at most this many connections are open. At the
//!   cap, a new connection closes the oldest one that has no request in
//!   flight (waiting for a head or idle between requests), so a flood of
//!   idle or trickling sockets cannot lock out a probe that sends its
//!   request at once; when every connection has a request in flight, the
//!   new connection is closed at once.
//!
//! Graceful shutdown works as `axum::serve`'s: the listener closes, idle
//! connections close, and connections with a request in flight close once
//! it is answered.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! let app = ops_kit::App::new("svc", "1.0.0")
//!     .header_read_timeout(Duration::from_secs(5))
//!     .keep_alive_timeout(Duration::from_secs(65))
//!     .max_connections(4096);
//! assert!(ops_kit::server::default_max_connections() >= 16);
//! # let _ = app;
//! ```

mod conn;
mod rescue;
mod wire;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub(crate) use self::conn::ConnState;
pub use self::wire::{
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_KEEP_ALIVE_TIMEOUT, default_max_connections,
};
use crate::layer::OpsService;

/// The limits the server puts on connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            max_connections: default_max_connections(),
        }
    }
}

/// The open connections, oldest first.
#[derive(Debug, Default)]
struct Registry {
    open: Mutex<BTreeMap<u64, Arc<ConnState>>>,
}

impl Registry {
    /// Makes room for one more connection under `max`: closes the oldest
    /// connection without a request in flight if the cap is reached.
    /// `false` when every open connection is busy.
    fn make_room(&self, max: usize) -> bool {
        let mut open = self.open.lock().expect("registry lock");
        if open.len() < max {
            return true;
        }
        let idle = open
            .iter()
            .find(|(_, state)| !state.is_busy())
            .map(|(id, _)| *id);
        match idle.and_then(|id| open.remove(&id)) {
            Some(state) => {
                state.evict();
                true
            }
            None => false,
        }
    }

    fn insert(&self, id: u64, state: Arc<ConnState>) {
        self.open.lock().expect("registry lock").insert(id, state);
    }

    fn remove(&self, id: u64) {
        self.open.lock().expect("registry lock").remove(&id);
    }
}

/// Serves `service` on `listener` until `shutdown` resolves, then drains
/// (see the [module docs](self)). Returns once every connection is closed.
pub(crate) async fn serve(
    listener: TcpListener,
    service: OpsService<Router>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry::default());
    // Dropping the receiver tells every connection to finish gracefully;
    // every connection holds a `closed` receiver, so that the sender sees
    // when the last one is gone.
    let (graceful_tx, _) = watch::channel(());
    let (closed_tx, closed_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next_id = 0u64;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(&err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if !registry.make_room(limits.max_connections) {
            // Every connection has a request in flight: closing this one
            // at once tells its client to retry elsewhere, where waiting
            // in the backlog would only time out.
            drop(stream);
            continue;
        }
        next_id += 1;
        let id = next_id;
        let state = Arc::new(ConnState::new());
        registry.insert(id, state.clone());
        let service = service.for_peer(peer);
        let graceful = graceful_tx.subscribe();
        let closed = closed_rx.clone();
        let registry = registry.clone();
        tokio::spawn(async move {
            conn::serve(stream, service, state, limits, graceful).await;
            registry.remove(id);
            drop(closed);
        });
    }
    drop(listener);
    drop(graceful_tx);
    drop(closed_rx);
    closed_tx.closed().await;
    Ok(())
}

/// An accept error: one about a single connection (it went away before
/// being accepted) is ignored; running out of file descriptors is logged
/// and retried shortly, as connections close and free some.
async fn accept_failed(err: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(target: "ops_kit::server", "accept error: {err}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_connection_without_a_request_makes_room() {
        let registry = Registry::default();
        let states: Vec<Arc<ConnState>> = (0..3).map(|_| Arc::new(ConnState::new())).collect();
        for (id, state) in states.iter().enumerate() {
            registry.insert(id as u64, state.clone());
        }
        states[0].enter_busy_for_test();
        assert!(registry.make_room(3));
        let open = registry.open.lock().unwrap();
        // The busy one stays; the oldest idle one (1) was evicted.
        assert!(open.contains_key(&0) && !open.contains_key(&1) && open.contains_key(&2));
    }

    #[test]
    fn at_the_cap_with_every_connection_busy_there_is_no_room() {
        let registry = Registry::default();
        for id in 0..2 {
            let state = Arc::new(ConnState::new());
            state.enter_busy_for_test();
            registry.insert(id, state);
        }
        assert!(!registry.make_room(2));
        assert!(registry.make_room(3), "under the cap there is room");
    }
}
