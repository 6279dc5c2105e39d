//! crm-app: the CRM service for custom-cabinet and woodworking shops.
//!
//! `main` is thin: it sets up logging and calls [`run`]. Everything else is
//! here, so that tests build exactly the application that ships.

pub mod config;
pub mod db;

use std::process::ExitCode;

use axum::Router;
use ops_kit::App;
use ops_kit::config::Env;
use ops_kit::health::PoolCheck;
use secrecy::ExposeSecret;

use crate::config::Config;
use crate::db::Db;

/// The service's name in probes and logs.
pub const SERVICE_NAME: &str = "crm-app";

/// The service's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The CRM's own routes (the probes are added by ops-kit).
pub fn routes() -> Router {
    Router::new()
}

/// Builds the whole service for a validated configuration and an opened
/// database.
pub fn build(config: &Config, db: Db) -> App {
    let app = App::new(SERVICE_NAME, VERSION)
        .configure(config.validated())
        .router(routes());
    let app = match &db {
        Db::Postgres(pool) => app.readiness_check("database", PoolCheck::new(pool.clone())),
        Db::Sqlite(pool) => app.readiness_check("database", PoolCheck::new(pool.clone())),
    };
    let startup_db = db.clone();
    app.on_startup(async move { startup_db.ping().await })
        .on_shutdown("database pool", move || async move { db.close().await })
}

/// Validates the configuration, opens the database and serves until a
/// shutdown signal. Returns the process's exit status.
pub async fn run(env: Env) -> ExitCode {
    let config = match Config::load(&env) {
        Ok(config) => config,
        Err(rejected) => {
            rejected.log();
            ops_kit::telemetry::flush();
            return ExitCode::FAILURE;
        }
    };
    config.log();
    let db = match Db::connect_lazy(config.database_url.expose_secret()) {
        Ok(db) => db,
        Err(err) => {
            tracing::error!(target: "ops_kit::startup", "[STARTUP ERROR] FATAL: {err}");
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
    build(&config, db)
        .serve(config.listen.clone())
        .await
        .exit_code()
}
