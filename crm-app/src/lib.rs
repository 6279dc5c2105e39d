//! crm-app: the CRM service for custom-cabinet and woodworking shops.
//!
//! `main` is thin: it sets up logging and calls [`run`]. Everything else is
//! here, so that tests build exactly the application that ships.

pub mod config;

use std::process::ExitCode;

use axum::Router;
use ops_kit::App;
use ops_kit::audit::{self, SqlSink};
use ops_kit::config::Env;
use ops_kit::sql::Pool;
use secrecy::ExposeSecret;

use crate::config::Config;

/// The service's name in probes and logs.
pub const SERVICE_NAME: &str = "crm-app";

/// The service's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The CRM's own routes (the probes are added by ops-kit).
pub fn routes() -> Router {
    Router::new()
}

/// Builds the whole service for a validated configuration and an opened
/// (lazy) pool. Migrations run as the start-up task, while the probes
/// already answer.
pub fn build(config: &Config, pool: Pool) -> App {
    let migrating = pool.clone();
    App::new(SERVICE_NAME, VERSION)
        .configure(config.validated())
        .database(pool.clone())
        .audit_sink(SqlSink::new(pool))
        .on_startup(async move { audit::migrate(&migrating).await })
        .router(routes())
}

/// Validates the configuration, opens the database and serves until a
/// shutdown signal. Returns the process's exit status.
pub async fn run(env: Env) -> ExitCode {
    let config = match Config::validator().check(&env) {
        Ok(validated) => Config::from_validated(validated),
        Err(exit) => return exit,
    };
    let pool = match Pool::connect_lazy(config.database_url.expose_secret()) {
        Ok(pool) => pool,
        Err(err) => {
            tracing::error!(target: "ops_kit::startup", "[STARTUP ERROR] FATAL: DATABASE_URL: {err}");
            tracing::error!(target: "ops_kit::startup", "[STARTUP] Aborting due to critical configuration errors");
            ops_kit::telemetry::flush();
            return ExitCode::FAILURE;
        }
    };
    if config.database_is_default {
        tracing::info!(
            target: "ops_kit::startup",
            "[STARTUP] Using the embedded SQLite database at {}",
            config::DEFAULT_SQLITE_URL
        );
    }
    build(&config, pool)
        .serve(config.listen.clone())
        .await
        .exit_code()
}
