//! The handler's own account of a change, for the entry's `changes`.

use axum::response::{IntoResponseParts, ResponseParts};
use serde_json::Value;

/// Sets the audit entry's `changes` from the handler, instead of the
/// request body: for a change the body does not describe (an action route
/// with an empty body, a record created from another). Returned as part of
/// the response; it is redacted and capped as a body would be, and never
/// sent to the client.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use axum::{Router, body::Body, routing::post}; use tower::ServiceExt;
/// use axum::Json;
/// use ops_kit::{ApiError, App, audited, audit::{self, AuditChanges}, sql::Tx};
/// use serde_json::{Value, json};
///
/// #[audited(action = "note.copy", resource_id = body("id"))]
/// async fn copy(tx: Tx) -> Result<(AuditChanges, Json<Value>), ApiError> {
///     tx.commit().await.map_err(ApiError::database_commit)?;
///     Ok((AuditChanges(json!({ "copiedFrom": "n-1" })), Json(json!({ "id": "n-2" }))))
/// }
/// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// # audit::migrate(&pool).await?;
/// let app = App::new("notes", "1.0.0")
///     .database(pool.clone())
///     .audit_sink(audit::SqlSink::new(pool.clone()))
///     .router(Router::new().route("/notes/n-1/copy", post(copy)))
///     .into_router();
/// let response = app.oneshot(http::Request::post("/notes/n-1/copy").body(Body::empty())?).await?;
/// assert_eq!(response.status(), 200);
/// let mut tx = pool.begin().await?;
/// let (id, changes): (String, String) = ops_kit::on_backend!(&mut tx, conn => {
///     sqlx::query_as("SELECT resource_id, changes FROM audit_logs").fetch_one(&mut **conn).await?
/// });
/// assert_eq!(id, "n-2");
/// assert_eq!(serde_json::from_str::<Value>(&changes)?, json!({ "copiedFrom": "n-1" }));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AuditChanges(pub Value);

impl IntoResponseParts for AuditChanges {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}
