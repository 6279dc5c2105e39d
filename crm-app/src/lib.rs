//! crm-app: the CRM service for custom-cabinet and woodworking shops.
//!
//! `main` is thin: it sets up logging and calls [`run`]. Everything else is
//! here, so that tests build exactly the application that ships.

pub mod activities;
pub mod api;
pub mod audit_logs;
pub mod auth;
pub mod commands;
pub mod config;
pub mod console;
pub mod grants;
pub mod leads;
pub mod migrate;
pub mod openapi;
pub mod quotes;
pub mod seed;
pub mod state;
pub mod users;

use std::process::ExitCode;

use std::sync::Arc;

use axum::Router;
use ops_kit::App;
use ops_kit::audit::SqlSink;
use ops_kit::auth::{AuthLayer, TokenEpochs, Tokens};
use ops_kit::cache::Cache;
use ops_kit::config::Env;
use ops_kit::sql::Pool;
use secrecy::ExposeSecret;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::throttle::Throttle;
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

/// The cache: Redis when `REDIS_URL` is set, this process's memory
/// otherwise (the start-up warning says so).
pub fn cache(config: &Config) -> Cache {
    match &config.redis_url {
        // The URL's scheme was validated; a URL the client still refuses is
        // reported and the service runs on the in-memory cache.
        Some(url) => Cache::redis(url.expose_secret()).unwrap_or_else(|err| {
            tracing::error!(target: "ops_kit::startup", "[STARTUP] WARNING: {err}; using the in-memory cache");
            Cache::memory()
        }),
        None => Cache::memory(),
    }
}

/// The shared state for a configuration, a pool and a cache.
pub fn state(config: &Config, pool: Pool, cache: Cache) -> AppState {
    let pool_for_sessions = pool.clone();
    AppState {
        epochs: TokenEpochs::new(cache.clone(), auth::epochs::UserEpochs::new(pool.clone())),
        pool,
        tokens: Arc::new(Tokens::new(
            &config.jwt_secret,
            TOKEN_ISSUER,
            TOKEN_AUDIENCE,
        )),
        dummy_hash: dummy_hash(),
        throttle: Throttle::new(cache),
        sessions: ops_kit::web::Sessions::new(
            pool_for_sessions,
            if config.mode.is_production() {
                ops_kit::web::SessionConfig::production()
            } else {
                ops_kit::web::SessionConfig::development()
            },
        ),
        development: !config.mode.is_production(),
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
/// token check, which includes the user's token epoch.
pub fn routes(state: AppState, bypass_auth: bool) -> Router {
    let mut auth = AuthLayer::new(state.tokens.clone()).check_epochs(state.epochs.clone());
    if bypass_auth {
        auth = auth.bypass_as(seed::dev_admin());
    }
    let (public, mut doc) = public_api().split_for_parts();
    let (protected, protected_doc) = protected_api().split_for_parts();
    doc.merge(protected_doc);
    let document =
        axum::body::Bytes::from(serde_json::to_vec(&doc).expect("the OpenAPI document serializes"));
    let openapi_json = move || {
        let document = document.clone();
        async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                document,
            )
        }
    };
    let production = !state.development;
    Router::new()
        .merge(public)
        .merge(protected.layer(auth))
        .merge(console::router(state.clone(), production))
        .route("/api/openapi.json", axum::routing::get(openapi_json))
        .with_state(state)
}

/// The routes anyone may call, with their description.
fn public_api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi()).merge(auth::routes::public_router())
}

/// The routes behind the token check, with their description.
fn protected_api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::routes::router())
        .merge(users::router())
        .merge(leads::routes::router())
        .merge(activities::routes::router())
        .merge(quotes::routes::router())
        .merge(audit_logs::router())
}

/// The service's OpenAPI 3.1 document, as `GET /api/openapi.json` serves it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = public_api().split_for_parts();
    doc.merge(protected_api().split_for_parts().1);
    doc
}

/// Builds the whole service for a validated configuration and an opened
/// (lazy) pool. Migrations run as the start-up task, while the probes
/// already answer.
pub fn build(config: &Config, pool: Pool) -> App {
    let migrating = pool.clone();
    let cache = cache(config);
    let app = App::new(SERVICE_NAME, VERSION)
        .configure(config.validated())
        .trusted_proxy_hops(config.trusted_proxy_hops)
        .database(pool.clone())
        .audit_sink(SqlSink::new(pool.clone()))
        // A CSV file of leads is larger than any JSON body; it may take
        // as long to arrive as a request may take.
        .body_limit_for(
            console::IMPORT_PATH,
            console::IMPORT_MAX_BYTES,
            std::time::Duration::from_secs(30),
        );
    // Redis is a dependency worth a readiness line; memory is not.
    let app = if cache.backend() == "redis" {
        app.readiness_check("cache", cache.clone())
    } else {
        app
    };
    let development = !config.mode.is_production();
    let migration_url = config.migration_url.clone();
    app.on_startup(async move {
        match migration_url {
            // The owner migrates over a connection of its own, closed after.
            Some(url) => {
                let owner = Pool::connect_lazy(url.expose_secret())
                    .map_err(|_| "MIGRATION_DATABASE_URL is not a valid database URL")?;
                let migrated = migrate::run(&owner).await;
                owner.close().await;
                migrated?;
            }
            None => migrate::run(&migrating).await?,
        }
        // After the migrations, which may have added tables.
        grants::check(&migrating).await?;
        if development {
            seed::run(&migrating).await?;
        }
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    })
    .router(routes(state(config, pool, cache), config.bypass_auth))
}

/// Validates the configuration, opens the database and serves until a
/// shutdown signal. Returns the process's exit status.
pub async fn run(env: Env) -> ExitCode {
    let config = match Config::validator().check(&env) {
        Ok(validated) => Config::from_validated(validated),
        Err(exit) => return exit,
    };
    let pool = match Pool::connect_lazy_sized(
        config.database_url.expose_secret(),
        config.database_max_connections,
    ) {
        Ok(pool) => pool,
        Err(err) => {
            tracing::error!(target: "ops_kit::startup", "[STARTUP ERROR] FATAL: DATABASE_URL: {err}");
            tracing::error!(target: "ops_kit::startup", "[STARTUP] Aborting due to critical configuration errors");
            ops_kit::telemetry::flush();
            return ExitCode::FAILURE;
        }
    };
    if config.bypass_auth {
        tracing::warn!(
            target: "ops_kit::startup",
            "[STARTUP] WARNING: BYPASS_AUTH is on: requests without a token act as {} (development only)",
            seed::DEV_ADMIN_EMAIL
        );
    }
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
