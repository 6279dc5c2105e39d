//! crm-app: the CRM service for custom-cabinet and woodworking shops.
//!
//! `main` is thin: it sets up logging and calls [`run`]. Everything else is
//! here, so that tests build exactly the application that ships.

pub mod auth;
pub mod config;
pub mod migrate;
pub mod state;

use std::process::ExitCode;

use std::sync::Arc;

use axum::Router;
use ops_kit::App;
use ops_kit::audit::SqlSink;
use ops_kit::auth::{AuthLayer, Tokens};
use ops_kit::config::Env;
use ops_kit::sql::Pool;
use secrecy::ExposeSecret;

use crate::config::Config;
use crate::state::AppState;

/// The service's name in probes and logs.
pub const SERVICE_NAME: &str = "crm-app";

/// The service's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The token issuer and audience of crm-app.
pub const TOKEN_ISSUER: &str = "crm-app";
/// The audience of crm-app's tokens.
pub const TOKEN_AUDIENCE: &str = "crm-app-api";

/// The shared state for a configuration and a pool.
pub fn state(config: &Config, pool: Pool) -> AppState {
    AppState {
        pool,
        tokens: Arc::new(Tokens::new(
            &config.jwt_secret,
            TOKEN_ISSUER,
            TOKEN_AUDIENCE,
        )),
        dummy_hash: dummy_hash(),
    }
}

/// A real argon2 hash of a random password, computed once per process.
fn dummy_hash() -> Arc<str> {
    use argon2::PasswordHasher;
    let salt = password_hash::SaltString::generate(&mut password_hash::rand_core::OsRng);
    let secret = uuid::Uuid::new_v4().to_string();
    argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| Arc::from(h.to_string()))
        .expect("hashing a random password works")
}

/// The CRM's own routes (the probes are added by ops-kit), behind the
/// token check.
pub fn routes(state: AppState) -> Router {
    let auth = AuthLayer::new(state.tokens.clone());
    Router::new()
        .merge(auth::routes::router())
        .with_state(state)
        .layer(auth)
}

/// Builds the whole service for a validated configuration and an opened
/// (lazy) pool. Migrations run as the start-up task, while the probes
/// already answer.
pub fn build(config: &Config, pool: Pool) -> App {
    let migrating = pool.clone();
    App::new(SERVICE_NAME, VERSION)
        .configure(config.validated())
        .database(pool.clone())
        .audit_sink(SqlSink::new(pool.clone()))
        .on_startup(async move { migrate::run(&migrating).await })
        .router(routes(state(config, pool)))
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
