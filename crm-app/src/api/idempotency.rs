//! `Idempotency-Key` on the POSTs that create something: a retried
//! request gets the first answer again instead of a second record.
//!
//! The key is claimed inside the request's transaction, before the work:
//! a row `(tenant, key)` is inserted, and a concurrent request with the
//! same key waits on it (PostgreSQL's unique index, SQLite's write lock)
//! until the first commits, then replays its answer. When the first fails
//! its transaction rolls back, the claim with it, and the retry does the
//! work. Answers are kept 24 hours; the same key with another request is a
//! 422. Keys belong to a tenant: two tenants never see each other's.
//!
//! A handler wraps its work in [`once`], which claims the key, runs the
//! work, stores its answer and hands it back, or hands back the stored
//! answer of the first request ([`Once::Replay`]). [`claim`] and
//! [`Claimed::store`] are the two halves `once` is made of.
//!
//! The lead restore (`leads::routes`), the activity create
//! (`activities::routes`) and the quote moves (`quotes::routes`) are its
//! users; its tests below run it against a real database.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::{HeaderName, HeaderValue, StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use ops_kit::ApiError;
use ops_kit::on_backend;
use ops_kit::sql::Transaction;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{db, etag};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The response header marking a replay.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long an answer is kept.
pub const RETENTION: Duration = Duration::hours(24);

/// The `Idempotency-Key` request header, as the OpenAPI document describes
/// it (what [`IdempotencyKey`] accepts).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// Replays the first answer for 24 hours: 1 to 255 visible ASCII
    /// characters.
    #[param(
        rename = "Idempotency-Key",
        nullable = false,
        pattern = "^[!-~]{1,255}$"
    )]
    #[allow(dead_code)]
    idempotency_key: Option<String>,
}

/// The request's `Idempotency-Key`, if it sent one (1 to 255 visible
/// ASCII characters; anything else is a 400).
#[derive(Debug, Clone, Default)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(HEADER) else {
            return Ok(Self(None));
        };
        let key = value.to_str().unwrap_or_default();
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::bad_request(
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(Self(Some(key.to_owned())))
    }
}

/// The outcome of claiming a key.
#[derive(Debug)]
pub enum Claim {
    /// No key was sent: just do the work.
    None,
    /// The key is ours: do the work, then [`Claimed::store`] the answer.
    Fresh(Claimed),
    /// The key was used before for this request: the stored answer.
    Replay(StoredResponse),
}

/// A claimed key, waiting for its answer.
#[derive(Debug)]
pub struct Claimed {
    tenant: Uuid,
    key: String,
}

/// An answer given before.
#[derive(Debug)]
pub struct StoredResponse {
    status: StatusCode,
    body: Value,
}

impl IntoResponse for StoredResponse {
    fn into_response(self) -> Response {
        let version = self.body.get("version").and_then(Value::as_i64);
        let mut response = (self.status, Json(self.body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            HeaderName::from_static(REPLAYED),
            HeaderValue::from_static("true"),
        );
        if let Some(version) = version {
            headers.insert(axum::http::header::ETAG, etag::etag(version));
        }
        response
    }
}

/// What [`once`] hands back.
#[derive(Debug)]
pub enum Once<T> {
    /// The work ran (once, now): its status and answer, stored for replays
    /// when a key was sent.
    Done(StatusCode, T),
    /// The key was used before for this request: the first answer, to send
    /// as it is. The transaction holds nothing of this request's; the
    /// handler rolls it back.
    Replay(StoredResponse),
}

/// Runs `work` once per `key`: claims the key for `route` and `body` in
/// `tx`, runs `work` in the same transaction, and stores the status and
/// JSON of what it returns, to be replayed to a retry until
/// [`RETENTION`] has passed. Without a key, `work` just runs.
///
/// The claim comes before `work` looks at anything: the same key with
/// another request is answered 422 `idempotency_key_reused` even when
/// that other request is invalid.
///
/// # Errors
///
/// The claim's errors ([`claim`]), `work`'s, and a failure to store the
/// answer.
pub async fn once<T, E>(
    tx: &mut Transaction,
    tenant: Uuid,
    key: &IdempotencyKey,
    route: &str,
    body: &Value,
    work: impl AsyncFnOnce(&mut Transaction) -> Result<(StatusCode, T), E>,
) -> Result<Once<T>, E>
where
    T: Serialize,
    E: From<ApiError>,
{
    let claimed = match claim(tx, tenant, key, route, body).await? {
        Claim::Replay(stored) => return Ok(Once::Replay(stored)),
        Claim::Fresh(claimed) => Some(claimed),
        Claim::None => None,
    };
    let (status, answer) = work(tx).await?;
    if let Some(claimed) = claimed {
        let shown = serde_json::to_value(&answer).map_err(|e| {
            ApiError::internal_message("the answer could not be kept for replays").with_source(e)
        })?;
        claimed.store(tx, status, &shown).await?;
    }
    Ok(Once::Done(status, answer))
}

/// Claims `key` for a request to `route` with `body`, in `tx`.
pub async fn claim(
    tx: &mut Transaction,
    tenant: Uuid,
    key: &IdempotencyKey,
    route: &str,
    body: &Value,
) -> Result<Claim, ApiError> {
    let Some(key) = key.0.clone() else {
        return Ok(Claim::None);
    };
    let hash = request_hash(route, body);
    let now = super::now();
    let inserted = on_backend!(tx, conn => {
        sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, key, route, request_hash, status, body, created_at) \
             VALUES ($1, $2, $3, $4, 0, '', $5) ON CONFLICT (tenant_id, key) DO NOTHING",
        )
        .bind(tenant)
        .bind(&key)
        .bind(route)
        .bind(&hash[..])
        .bind(now)
        .execute(&mut **conn)
        .await
        .map_err(db)?
        .rows_affected()
    });
    let claimed = Claimed { tenant, key };
    if inserted == 1 {
        return Ok(Claim::Fresh(claimed));
    }
    type Row = (String, Vec<u8>, i32, String, DateTime<Utc>);
    let row: Row = on_backend!(tx, conn => {
        sqlx::query_as(
            "SELECT route, request_hash, status, body, created_at FROM idempotency_keys \
             WHERE tenant_id = $1 AND key = $2",
        )
        .bind(tenant)
        .bind(&claimed.key)
        .fetch_one(&mut **conn)
        .await
        .map_err(db)?
    });
    let (stored_route, stored_hash, status, stored_body, created_at) = row;
    if created_at < now - RETENTION {
        // Expired: the key starts a new life.
        on_backend!(tx, conn => {
            sqlx::query(
                "UPDATE idempotency_keys SET route = $3, request_hash = $4, status = 0, body = '', \
                 created_at = $5 WHERE tenant_id = $1 AND key = $2",
            )
            .bind(tenant)
            .bind(&claimed.key)
            .bind(route)
            .bind(&hash[..])
            .bind(now)
            .execute(&mut **conn)
            .await
            .map_err(db)?;
        });
        return Ok(Claim::Fresh(claimed));
    }
    if stored_route != route || stored_hash != hash {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request",
        ));
    }
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|s| s.is_success());
    match (status, serde_json::from_str(&stored_body)) {
        (Some(status), Ok(body)) => Ok(Claim::Replay(StoredResponse { status, body })),
        // A claim row is only ever visible once its answer is stored (both
        // are written in one transaction); anything else is a broken row.
        _ => Err(ApiError::conflict(
            "idempotency_key_in_progress",
            "a request with this Idempotency-Key is still being processed",
        )),
    }
}

impl Claimed {
    /// Stores the answer, in the same transaction as the work, and removes
    /// this tenant's expired answers while at it.
    pub async fn store(
        &self,
        tx: &mut Transaction,
        status: StatusCode,
        body: &Value,
    ) -> Result<(), ApiError> {
        let text = body.to_string();
        let cutoff = super::now() - RETENTION;
        on_backend!(tx, conn => {
            sqlx::query("UPDATE idempotency_keys SET status = $3, body = $4 WHERE tenant_id = $1 AND key = $2")
                .bind(self.tenant)
                .bind(&self.key)
                .bind(i32::from(status.as_u16()))
                .bind(&text)
                .execute(&mut **conn)
                .await
                .map_err(db)?;
            sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND created_at < $2")
                .bind(self.tenant)
                .bind(cutoff)
                .execute(&mut **conn)
                .await
                .map_err(db)?;
        });
        Ok(())
    }
}

/// SHA-256 of the route and the body in canonical form (object keys
/// sorted), so that the same request written with its keys in another
/// order is still the same request.
pub fn request_hash(route: &str, body: &Value) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update([0]);
    canonical(body, &mut hasher);
    hasher.finalize().into()
}

fn canonical(value: &Value, hasher: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for key in keys {
                hasher.update(serde_json::to_string(key).unwrap_or_default().as_bytes());
                hasher.update(b":");
                canonical(&map[key], hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        other => hasher.update(other.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A fresh SQLite database with the CRM's tables, on one connection.
    async fn database() -> ops_kit::sql::Pool {
        let pool = ops_kit::sql::Pool::connect_lazy_sized("sqlite::memory:", Some(1)).unwrap();
        crate::migrate::run(&pool).await.unwrap();
        pool
    }

    #[tokio::test]
    async fn once_runs_the_work_once_and_replays_its_answer_to_a_retry() {
        let pool = database().await;
        let tenant = Uuid::new_v4();
        let key = IdempotencyKey(Some("k-1".into()));
        let mut runs = 0;
        let mut answers = Vec::new();
        for _ in 0..2 {
            let mut tx = pool.begin_for_tenant(tenant).await.unwrap();
            let body = json!({"a": 1});
            let answer = once(&mut tx, tenant, &key, "POST /x", &body, async |_tx| {
                runs += 1;
                Ok::<_, ApiError>((StatusCode::CREATED, json!({"id": 7, "version": 1})))
            })
            .await
            .unwrap();
            tx.commit().await.unwrap();
            answers.push(answer);
        }
        assert!(matches!(&answers[0], Once::Done(StatusCode::CREATED, _)));
        let Once::Replay(stored) = &answers[1] else {
            panic!("the retry is a replay")
        };
        assert_eq!(stored.status, StatusCode::CREATED);
        assert_eq!(stored.body, json!({"id": 7, "version": 1}));
        assert_eq!(runs, 1);
    }

    #[tokio::test]
    async fn once_refuses_a_key_used_for_another_request_and_runs_freely_without_a_key() {
        let pool = database().await;
        let tenant = Uuid::new_v4();
        let key = IdempotencyKey(Some("k-2".into()));
        let work = async |_: &mut Transaction| Ok::<_, ApiError>((StatusCode::OK, json!({})));
        let mut tx = pool.begin_for_tenant(tenant).await.unwrap();
        once(&mut tx, tenant, &key, "POST /x", &json!(1), work)
            .await
            .unwrap();
        let reused = once(&mut tx, tenant, &key, "POST /x", &json!(2), work).await;
        assert_eq!(reused.unwrap_err().code(), "idempotency_key_reused");
        let none = IdempotencyKey(None);
        for _ in 0..2 {
            let done = once(&mut tx, tenant, &none, "POST /x", &json!(1), work).await;
            assert!(matches!(done, Ok(Once::Done(StatusCode::OK, _))));
        }
    }

    #[test]
    fn key_order_does_not_change_the_request_hash() {
        let a = json!({"a": 1, "b": {"x": [1, 2], "y": null}});
        let b = json!({"b": {"y": null, "x": [1, 2]}, "a": 1});
        assert_eq!(request_hash("r", &a), request_hash("r", &b));
    }

    #[test]
    fn another_body_or_route_changes_the_request_hash() {
        let a = json!({"a": 1});
        assert_ne!(request_hash("r", &a), request_hash("r", &json!({"a": 2})));
        assert_ne!(request_hash("r", &a), request_hash("s", &a));
        assert_ne!(
            request_hash("r", &json!([1, 2])),
            request_hash("r", &json!([2, 1]))
        );
    }
}
