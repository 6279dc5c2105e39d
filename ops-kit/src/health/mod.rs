//! Health probes: liveness, readiness and a combined report.
//!
//! [`App`](crate::App) mounts three routes, outside any authentication the
//! service adds:
//!
//! | route | answers |
//! |---|---|
//! | `GET /api/health/live` | always 200 `{"status":"alive","timestamp":…,"uptime":…}`; checks nothing |
//! | `GET /api/health/ready` | 200 `{"status":"ready",…,"checks":{"database":"connected"}}` when every check passes; 503 with `status` `not_ready`, `starting` or `shutting_down` otherwise |
//! | `GET /api/health` | the same status code, plus `service`, `version`, `uptime` and each check's status, latency and error |
//!
//! Checks implement [`HealthCheck`]. They run concurrently, each bounded by a
//! timeout (default 800 ms, below Kubernetes' 1 s probe timeout), and their
//! results are shared by all probes for a second, with concurrent probes
//! waiting on one in-flight run.
//!
//! # Example
//!
//! ```
//! use ops_kit::health::CheckError;
//!
//! let app = ops_kit::App::new("svc", "1.2.3")
//!     .readiness_check("queue", || async { Ok::<(), CheckError>(()) })
//!     .check_timeout(std::time::Duration::from_millis(500));
//! # let _ = app;
//! ```

mod check;
pub(crate) mod routes;
pub(crate) mod runner;
mod sqlx;

pub(crate) use self::check::DynCheck;
pub use self::check::{CheckError, HealthCheck};
pub use self::routes::{HEALTH_PATH, LIVE_PATH, READY_PATH};
pub use self::runner::{DEFAULT_CHECK_CACHE_TTL, DEFAULT_CHECK_TIMEOUT};
pub use self::sqlx::PoolCheck;

#[cfg(test)]
mod tests;
