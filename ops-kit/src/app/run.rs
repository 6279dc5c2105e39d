//! Serving an [`App`]: the listeners, the start-up tasks, and the wait for
//! the shutdown trigger. What follows the trigger (the pre-stop delay, the
//! drain, the cleanup hooks) is [`shutdown::Drain`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, ToSocketAddrs};

use super::{App, ServeError, Served};
use crate::server;
use crate::shutdown::{self, Signal, Signals};

impl App {
    /// Binds `addr` and serves until SIGTERM or SIGINT, then shuts down
    /// gracefully (see [`shutdown`](crate::shutdown)).
    ///
    /// # Example
    ///
    /// ```no_run
    /// #[tokio::main]
    /// async fn main() -> std::process::ExitCode {
    ///     let served = ops_kit::App::new("svc", "1.0.0").serve("0.0.0.0:3000").await;
    ///     if let Some(err) = served.error() {
    ///         eprintln!("serving failed: {err}");
    ///     }
    ///     served.exit_code()
    /// }
    /// ```
    pub async fn serve(self, addr: impl ToSocketAddrs + fmt::Display) -> Served {
        let listener = match TcpListener::bind(&addr).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::error!(target: "ops_kit::startup", "[STARTUP ERROR] FATAL: cannot listen on {addr}: {err}");
                return Served(Err(ServeError::Bind(err)));
            }
        };
        self.serve_listener(listener).await
    }

    /// Serves on a listener the caller bound (port 0 in tests), until
    /// SIGTERM or SIGINT.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let port = listener.local_addr().unwrap().port();
    /// assert_ne!(port, 0); // the OS picked a free port
    /// let served = ops_kit::App::new("svc", "1.0.0").serve_listener(listener).await;
    /// assert!(served.is_ok(), "{:?}", served.error());
    /// # }
    /// ```
    pub async fn serve_listener(self, listener: TcpListener) -> Served {
        let signals = match Signals::new() {
            Ok(signals) => signals,
            Err(err) => return Served(Err(ServeError::Signals(err))),
        };
        self.run(listener, Trigger::Signals(signals)).await
    }

    /// Serves until `shutdown` resolves (instead of a signal), then shuts
    /// down gracefully. For embedding and tests.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let served = ops_kit::App::new("svc", "1.0.0")
    ///     .serve_with_shutdown(listener, async {})
    ///     .await;
    /// assert!(served.is_ok());
    /// # }
    /// ```
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Served {
        self.run(listener, Trigger::Future(Box::pin(shutdown)))
            .await
    }

    async fn run(mut self, listener: TcpListener, trigger: Trigger) -> Served {
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(err) => return Served(Err(ServeError::Bind(err))),
        };
        let service = self.assemble();
        let lifecycle = self.lifecycle.clone();
        let in_flight = self.ops.in_flight().clone();

        let (close_tx, close_rx) = tokio::sync::oneshot::channel::<()>();
        let server = server::serve(listener, service, self.limits, async move {
            let _ = close_rx.await;
        });
        let mut server = tokio::spawn(server);
        tracing::info!(
            target: "ops_kit::startup",
            service = &*self.name,
            version = &*self.version,
            "[STARTUP] Listening on http://{addr}"
        );
        // The metrics listener lives as long as this function.
        let _metrics_server = match (self.metrics_addr.take(), self.metrics_router.take()) {
            (Some(metrics_addr), Some(router)) => match TcpListener::bind(&metrics_addr).await {
                Ok(listener) => {
                    let bound = listener
                        .local_addr()
                        .map_or(metrics_addr.clone(), |a| a.to_string());
                    tracing::info!(target: "ops_kit::startup", "[STARTUP] Metrics on http://{bound}/metrics");
                    Some(AbortOnDrop(tokio::spawn(async move {
                        let _ = axum::serve(listener, router).await;
                    })))
                }
                Err(err) => {
                    tracing::error!(target: "ops_kit::startup", "[STARTUP ERROR] FATAL: cannot listen on METRICS_ADDR {metrics_addr}: {err}");
                    let _ = close_tx.send(());
                    let _ = server.await;
                    return Served(Err(ServeError::Bind(err)));
                }
            },
            _ => None,
        };

        let started = Instant::now();
        let startup = std::mem::take(&mut self.startup);
        let mut startup = tokio::spawn(async move {
            for task in startup {
                task.await?;
            }
            Ok::<(), String>(())
        });
        let mut startup_done = false;
        let mut trigger = trigger;
        let mut failure: Option<ServeError> = None;

        let reason: Option<Signal> = loop {
            tokio::select! {
                result = &mut startup, if !startup_done => {
                    startup_done = true;
                    match result {
                        Ok(Ok(())) => {
                            lifecycle.set_ready();
                            tracing::info!(
                                target: "ops_kit::startup",
                                "[STARTUP] Ready in {} ms",
                                started.elapsed().as_millis()
                            );
                        }
                        Ok(Err(message)) => {
                            tracing::error!(target: "ops_kit::startup", "[STARTUP ERROR] FATAL: start-up failed: {message}");
                            failure = Some(ServeError::Startup(message));
                            break None;
                        }
                        Err(join) => {
                            let message = format!("start-up task panicked: {join}");
                            tracing::error!(target: "ops_kit::startup", "[STARTUP ERROR] FATAL: {message}");
                            failure = Some(ServeError::Startup(message));
                            break None;
                        }
                    }
                }
                signal = trigger.wait() => break signal,
                result = &mut server => {
                    let err = match result {
                        Ok(Ok(())) => std::io::Error::other("server stopped unexpectedly"),
                        Ok(Err(err)) => err,
                        Err(join) => std::io::Error::other(join.to_string()),
                    };
                    tracing::error!(target: "ops_kit::shutdown", "[SHUTDOWN ERROR] HTTP server failed: {err}");
                    lifecycle.begin_shutdown();
                    let _ = shutdown::run_hooks(std::mem::take(&mut self.hooks), self.cleanup_timeout).await;
                    return Served(Err(ServeError::Server(err)));
                }
            }
        };

        lifecycle.begin_shutdown();
        match reason {
            Some(signal) => tracing::info!(
                target: "ops_kit::shutdown",
                "[SHUTDOWN] Received {}, starting graceful shutdown...",
                signal.name()
            ),
            None => tracing::info!(
                target: "ops_kit::shutdown",
                "[SHUTDOWN] Starting graceful shutdown..."
            ),
        }
        if !startup_done {
            startup.abort();
        }
        trigger.exit_on_second_signal();

        let drain = shutdown::Drain {
            // After a failed start-up there is nobody to deregister from.
            delay: if failure.is_none() {
                self.shutdown_delay
            } else {
                Duration::ZERO
            },
            timeout: self.shutdown_timeout,
            cleanup_timeout: self.cleanup_timeout,
            hooks: std::mem::take(&mut self.hooks),
            in_flight,
        };
        drain.run(close_tx, &mut server, failure).await
    }
}

enum Trigger {
    Signals(Signals),
    Future(Pin<Box<dyn Future<Output = ()> + Send>>),
    Fired,
}

impl Trigger {
    /// Waits for the first signal (or the custom future).
    async fn wait(&mut self) -> Option<Signal> {
        match self {
            Trigger::Signals(signals) => Some(signals.recv().await),
            Trigger::Future(fut) => {
                fut.as_mut().await;
                None
            }
            Trigger::Fired => std::future::pending().await,
        }
    }

    /// From now on, another signal ends the process at once.
    fn exit_on_second_signal(&mut self) {
        let signals = match std::mem::replace(self, Trigger::Fired) {
            Trigger::Signals(signals) => Some(signals),
            _ => Signals::new().ok(),
        };
        if let Some(mut signals) = signals {
            tokio::spawn(async move {
                let signal = signals.recv().await;
                tracing::error!(
                    target: "ops_kit::shutdown",
                    "[SHUTDOWN] Received {} during shutdown, exiting immediately",
                    signal.name()
                );
                crate::telemetry::flush();
                std::process::exit(1);
            });
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
