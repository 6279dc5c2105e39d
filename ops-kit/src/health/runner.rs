use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::Mutex;

use super::check::DynCheck;

/// The default time a check may take before it counts as failed; below the
/// 1 s default probe timeout of Kubernetes.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use axum::body::Body;
/// use ops_kit::health::{CheckError, DEFAULT_CHECK_TIMEOUT, READY_PATH};
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// assert_eq!(DEFAULT_CHECK_TIMEOUT, Duration::from_millis(800));
/// let hung = || async { tokio::time::sleep(Duration::from_secs(5)).await; Ok::<(), CheckError>(()) };
/// let router = ops_kit::App::new("svc", "1.0.0").readiness_check("db", hung).into_router();
/// let response = router.oneshot(http::Request::get(READY_PATH).body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(response.status(), 503); // the check counted as failed after 800 ms
/// # }
/// ```
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// The default time a result is shared between probes.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// use axum::body::Body;
/// use ops_kit::health::{CheckError, DEFAULT_CHECK_CACHE_TTL, READY_PATH};
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// static RUNS: AtomicUsize = AtomicUsize::new(0);
/// let check = || async { RUNS.fetch_add(1, SeqCst); Ok::<(), CheckError>(()) };
/// let router = ops_kit::App::new("svc", "1.0.0").readiness_check("db", check).into_router();
/// let probe = || router.clone().oneshot(http::Request::get(READY_PATH).body(Body::empty()).unwrap());
/// probe().await.unwrap();
/// probe().await.unwrap();
/// assert_eq!(RUNS.load(SeqCst), 1); // the second probe reused the first result
/// tokio::time::advance(DEFAULT_CHECK_CACHE_TTL).await;
/// probe().await.unwrap();
/// assert_eq!(RUNS.load(SeqCst), 2);
/// # }
/// ```
pub const DEFAULT_CHECK_CACHE_TTL: Duration = Duration::from_secs(1);

/// The outcome of one check.
#[derive(Debug, Clone)]
pub(crate) struct CheckResult {
    pub(crate) name: String,
    pub(crate) healthy: bool,
    pub(crate) label: &'static str,
    pub(crate) latency: Duration,
    pub(crate) error: Option<String>,
}

/// The outcome of one run of every check.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) results: Vec<CheckResult>,
    // tokio's clock, so that tests can move it.
    at: tokio::time::Instant,
}

impl Report {
    pub(crate) fn healthy(&self) -> bool {
        self.results.iter().all(|r| r.healthy)
    }
}

struct Registered {
    name: String,
    check: Arc<dyn DynCheck>,
}

/// Runs the registered checks concurrently, each under a timeout, and shares
/// a recent report between probes: while one run is in progress, other
/// probes wait for it instead of starting their own, so a probe storm never
/// becomes a storm on the dependencies.
pub(crate) struct Checks {
    checks: Vec<Registered>,
    timeout: Duration,
    ttl: Duration,
    last: Mutex<Option<Arc<Report>>>,
}

impl std::fmt::Debug for Checks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checks")
            .field(
                "names",
                &self.checks.iter().map(|c| &c.name).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl Checks {
    pub(crate) fn new(
        checks: Vec<(String, Arc<dyn DynCheck>)>,
        timeout: Duration,
        ttl: Duration,
    ) -> Self {
        Self {
            checks: checks
                .into_iter()
                .map(|(name, check)| Registered { name, check })
                .collect(),
            timeout,
            ttl,
            last: Mutex::new(None),
        }
    }

    /// A report no older than the TTL.
    pub(crate) async fn report(&self) -> Arc<Report> {
        let mut last = self.last.lock().await;
        if let Some(report) = last.as_ref()
            && report.at.elapsed() < self.ttl
        {
            return report.clone();
        }
        let report = Arc::new(self.run().await);
        *last = Some(report.clone());
        report
    }

    async fn run(&self) -> Report {
        let timeout = self.timeout;
        let results = join_all(self.checks.iter().map(|registered| async move {
            let started = Instant::now();
            let outcome = tokio::time::timeout(timeout, registered.check.check_boxed()).await;
            let latency = started.elapsed();
            let (healthy, error) = match outcome {
                Ok(Ok(())) => (true, None),
                Ok(Err(err)) => (false, Some(err.to_string())),
                Err(_) => (
                    false,
                    Some(format!("timed out after {} ms", timeout.as_millis())),
                ),
            };
            if let Some(error) = &error {
                tracing::warn!(target: "ops_kit::health", check = %registered.name, error = %error, "readiness check failed");
            }
            CheckResult {
                name: registered.name.clone(),
                healthy,
                label: if healthy {
                    registered.check.healthy_label()
                } else {
                    registered.check.unhealthy_label()
                },
                latency,
                error,
            }
        }))
        .await;
        Report {
            results,
            at: tokio::time::Instant::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::CheckError;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn checks_of(list: Vec<(&str, Arc<dyn DynCheck>)>, ttl: Duration) -> Checks {
        Checks::new(
            list.into_iter().map(|(n, c)| (n.to_owned(), c)).collect(),
            Duration::from_millis(100),
            ttl,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_check_reads_as_failed_after_the_timeout() {
        let hung: Arc<dyn DynCheck> = Arc::new(|| async {
            std::future::pending::<()>().await;
            Ok::<(), CheckError>(())
        });
        let checks = checks_of(vec![("database", hung)], Duration::ZERO);
        let report = checks.report().await;
        assert!(!report.healthy());
        assert_eq!(report.results[0].label, "failed");
        assert_eq!(
            report.results[0].error.as_deref(),
            Some("timed out after 100 ms")
        );
    }

    #[tokio::test]
    async fn concurrent_probes_share_one_run_of_the_checks() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted: Arc<dyn DynCheck> = Arc::new({
            let runs = runs.clone();
            move || {
                let runs = runs.clone();
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok::<(), CheckError>(())
                }
            }
        });
        let checks = Arc::new(checks_of(vec![("db", counted)], Duration::from_secs(5)));
        let probes: Vec<_> = (0..50)
            .map(|_| {
                let checks = checks.clone();
                tokio::spawn(async move { checks.report().await.healthy() })
            })
            .collect();
        for probe in probes {
            assert!(probe.await.unwrap());
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn runs_the_checks_again_once_the_result_is_stale() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted: Arc<dyn DynCheck> = Arc::new({
            let runs = runs.clone();
            move || {
                runs.fetch_add(1, Ordering::SeqCst);
                async { Ok::<(), CheckError>(()) }
            }
        });
        let checks = checks_of(vec![("db", counted)], Duration::from_secs(1));
        checks.report().await;
        checks.report().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_millis(1001)).await;
        checks.report().await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn runs_checks_concurrently_not_one_after_another() {
        let slow = || -> Arc<dyn DynCheck> {
            Arc::new(|| async {
                tokio::time::sleep(Duration::from_millis(60)).await;
                Ok::<(), CheckError>(())
            })
        };
        let checks = checks_of(
            vec![("a", slow()), ("b", slow()), ("c", slow())],
            Duration::ZERO,
        );
        let started = tokio::time::Instant::now();
        let report = checks.report().await;
        assert!(report.healthy());
        // Three 60 ms checks in series would exceed the 100 ms timeout.
        assert!(started.elapsed() < Duration::from_millis(100));
    }
}
