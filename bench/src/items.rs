//! The insert handler of the audit benchmark, plain and audited.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use ops_kit::audit::{self, SqlSink};
use ops_kit::auth::{Principal, Role};
use ops_kit::sql::{Pool, Transaction, Tx};
use ops_kit::{ApiError, App, audited, on_backend};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Deserialize)]
pub(crate) struct ItemInput {
    name: String,
}

async fn insert(tx: &mut Transaction, name: &str) -> Result<Uuid, ApiError> {
    let id = Uuid::new_v4();
    on_backend!(tx, conn => {
        sqlx::query("INSERT INTO bench_items (id, name) VALUES ($1, $2)")
            .bind(id)
            .bind(name)
            .execute(&mut **conn)
            .await
            .map_err(ApiError::internal)?;
    });
    Ok(id)
}

async fn items_create(
    mut tx: Tx,
    Json(input): Json<ItemInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = insert(tx.transaction().await?, &input.name).await?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "name": input.name })),
    ))
}

#[audited(action = "item.create")]
async fn items_create_audited(
    mut tx: Tx,
    Json(input): Json<ItemInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = insert(tx.transaction().await?, &input.name).await?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "name": input.name })),
    ))
}

async fn prepare(pool: Pool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    audit::migrate(&pool).await?;
    let mut tx = pool.begin().await?;
    on_backend!(&mut tx, conn => {
        sqlx::query("CREATE TABLE IF NOT EXISTS bench_items (id uuid PRIMARY KEY, name text NOT NULL)")
            .execute(&mut **conn)
            .await?;
    });
    tx.commit().await?;
    Ok(())
}

/// Stands in for authentication: request `n` acts for tenant `n % tenants`
/// (`BENCH_TENANTS`, default 100), as requests of a multi-tenant service
/// spread over its tenants.
async fn as_some_tenant(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static TENANTS: OnceLock<u64> = OnceLock::new();
    let tenants = *TENANTS.get_or_init(|| {
        std::env::var("BENCH_TENANTS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(100)
            .max(1)
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % tenants;
    req.extensions_mut().insert(Principal::new(
        Uuid::from_u128(1_000_000 + u128::from(n)),
        Uuid::from_u128(1 + u128::from(n)),
        Role::Admin,
    ));
    next.run(req).await
}

/// The benchmark's app: both variants act for authenticated users of
/// `BENCH_TENANTS` tenants.
pub(crate) fn app(url: &str, audited: bool) -> App {
    let pool = Pool::connect_lazy(url).expect("a valid DATABASE_URL");
    let route = if audited {
        post(items_create_audited)
    } else {
        post(items_create)
    };
    let routes = Router::new()
        .route("/items", route)
        .layer(axum::middleware::from_fn(as_some_tenant));
    App::new("bench-items", "0")
        .database(pool.clone())
        .audit_sink(SqlSink::new(pool.clone()))
        .on_startup(prepare(pool))
        .router(routes)
}
