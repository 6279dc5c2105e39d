//! The JSON error envelope and the error type that renders it.
//!
//! Every error response of a service behind [`OpsLayer`](crate::OpsLayer) has
//! the same shape:
//!
//! ```json
//! {"error": "lead not found", "code": "not_found", "requestId": "3f1c…"}
//! ```
//!
//! with an optional `details` list for validation failures and any extra
//! fields a service adds. Handlers return [`ApiError`]; errors that axum, the
//! router or the middleware produce (404, 405, rejected JSON, body limit,
//! timeout, panics) are turned into the same envelope by the layer.
//!
//! On 5xx the client sees a generic message while the cause is logged once,
//! with the request id, inside the request span.
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::get, extract::Path};
//! use ops_kit::ApiError;
//!
//! async fn lead(Path(id): Path<u32>) -> Result<String, ApiError> {
//!     if id == 7 {
//!         Ok("Kitchen remodel".into())
//!     } else {
//!         Err(ApiError::not_found("lead not found"))
//!     }
//! }
//!
//! let app: Router = Router::new().route("/leads/{id}", get(lead));
//! ```

use std::borrow::Cow;
use std::fmt;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::request_id;

/// `Retry-After` on a 503 for a database out of reach: a restart or a
/// failover takes seconds; a client that comes back at once only adds load.
pub(crate) const RETRY_UNAVAILABLE: &str = "5";

/// `Retry-After` on a 503 for a busy database: a lock is usually free again
/// within the second.
const RETRY_BUSY: &str = "1";

/// One rejected field of a request, listed under `details`.
///
/// # Example
///
/// ```
/// let detail = ops_kit::FieldError::new("email", "is not a valid email address");
/// assert_eq!(detail.field, "email");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name as the client spelled it (`camelCase`, dotted for nesting).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A rejection of `field` with `message`.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::FieldError;
    ///
    /// let detail = FieldError::new("address.zip", "must be 5 digits");
    /// assert_eq!(detail.message, "must be 5 digits");
    /// assert_eq!(
    ///     serde_json::to_value(&detail).unwrap(),
    ///     serde_json::json!({"field": "address.zip", "message": "must be 5 digits"})
    /// );
    /// ```
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error that renders as the JSON envelope.
///
/// The status decides the tone: for 4xx the message is shown to the client;
/// for 5xx the client reads `"internal server error"` while the message and
/// the source chain are logged.
///
/// # Example
///
/// ```
/// use http::StatusCode;
/// use ops_kit::{ApiError, FieldError};
///
/// let err = ApiError::validation(vec![FieldError::new("email", "is required")]);
/// assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
/// assert_eq!(err.code(), "validation_failed");
///
/// let err = ApiError::conflict("lead_conflict", "email and externalId match different leads")
///     .with_field("conflictingIds", serde_json::json!(["a", "b"]));
/// assert_eq!(err.status(), StatusCode::CONFLICT);
/// ```
pub struct ApiError {
    // Boxed so that `Result<T, ApiError>` stays small on the happy path.
    inner: Box<Inner>,
}

struct Inner {
    status: StatusCode,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    details: Vec<FieldError>,
    extra: Map<String, Value>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    /// An error with an explicit status, machine-readable code and message.
    ///
    /// # Example
    ///
    /// ```
    /// use http::StatusCode;
    /// let err = ops_kit::ApiError::new(StatusCode::PAYMENT_REQUIRED, "plan_limit", "upgrade your plan");
    /// assert_eq!(err.message(), "upgrade your plan");
    /// ```
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            inner: Box::new(Inner {
                status,
                code: code.into(),
                message: message.into(),
                details: Vec::new(),
                extra: Map::new(),
                headers: Vec::new(),
                source: None,
            }),
        }
    }

    /// 400 `bad_request`.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(ops_kit::ApiError::bad_request("bad cursor").status(), 400);
    /// ```
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401 `unauthorized`.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(ops_kit::ApiError::unauthorized("invalid token").status(), 401);
    /// ```
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(ops_kit::ApiError::forbidden("admins only").status(), 403);
    /// ```
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(ops_kit::ApiError::not_found("lead not found").status(), 404);
    /// ```
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 with a specific `code`.
    ///
    /// # Example
    ///
    /// ```
    /// let err = ops_kit::ApiError::conflict("email_taken", "email already registered");
    /// assert_eq!(err.code(), "email_taken");
    /// ```
    pub fn conflict(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422 `validation_failed` with one entry per rejected field.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::{ApiError, FieldError};
    /// let err = ApiError::validation(vec![FieldError::new("name", "must not be empty")]);
    /// assert_eq!(err.details().len(), 1);
    /// ```
    pub fn validation(details: Vec<FieldError>) -> Self {
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "the request is invalid",
        );
        err.inner.details = details;
        err
    }

    /// 503 `service_unavailable`: a dependency is down; the client may retry.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(ops_kit::ApiError::unavailable("database unavailable").status(), 503);
    /// ```
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            message,
        )
    }

    /// A database error as the client hears it, for a request whose
    /// transaction did not commit: 503 `service_unavailable` with
    /// `Retry-After` when the database is out of reach, the connection was
    /// lost or the database is busy (see [`DbFault`](crate::sql::DbFault)),
    /// saying that nothing was saved; 500 `internal_error` otherwise. The
    /// error is kept as the source, logged, never shown.
    ///
    /// A service that maps some errors its own way (a unique violation to
    /// 409) does so first and hands the rest here.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::ApiError;
    ///
    /// let err = ApiError::database(sqlx::Error::PoolTimedOut);
    /// assert_eq!(err.status(), 503);
    /// assert_eq!(err.code(), "service_unavailable");
    /// assert!(err.message().contains("nothing was saved"));
    /// assert_eq!(ApiError::database(sqlx::Error::RowNotFound).status(), 500);
    /// ```
    pub fn database(err: sqlx::Error) -> Self {
        use crate::sql::DbFault;
        match DbFault::of(&err) {
            DbFault::Unavailable => {
                Self::unavailable("the database is unavailable; nothing was saved; try again later")
                    .with_header(
                        header::RETRY_AFTER,
                        HeaderValue::from_static(RETRY_UNAVAILABLE),
                    )
                    .with_source(err)
            }
            DbFault::Busy => {
                Self::unavailable("the database is busy; nothing was saved; try again")
                    .with_header(header::RETRY_AFTER, HeaderValue::from_static(RETRY_BUSY))
                    .with_source(err)
            }
            _ => Self::internal(err),
        }
    }

    /// [`database`](Self::database) for an error of `COMMIT` itself. When
    /// the connection broke while the `COMMIT` or its answer was on the
    /// wire, nobody can tell whether it took effect: the 503 says so, and
    /// that the client should read the record back before retrying (the
    /// envelope carries `"saved": "unknown"`). An error the server
    /// answered with means nothing was committed, as `database` says.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::ApiError;
    ///
    /// let lost = sqlx::Error::Io(std::io::ErrorKind::UnexpectedEof.into());
    /// let err = ApiError::database_commit(lost);
    /// assert_eq!(err.status(), 503);
    /// assert!(err.message().contains("may have been saved"));
    ///
    /// let closed = ApiError::database_commit(sqlx::Error::PoolClosed);
    /// assert!(closed.message().contains("nothing was saved"));
    /// ```
    pub fn database_commit(err: sqlx::Error) -> Self {
        if crate::sql::DbFault::commit_outcome_unknown(&err) {
            return Self::unavailable(
                "the connection to the database was lost while committing; the change may have \
                 been saved: read it back before trying again",
            )
            .with_field("saved", Value::from("unknown"))
            .with_header(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_UNAVAILABLE),
            )
            .with_source(err);
        }
        Self::database(err)
    }

    /// 500 `internal_error` caused by `source`; the client sees a generic message.
    ///
    /// # Example
    ///
    /// ```
    /// let io = std::io::Error::other("disk full");
    /// let err = ops_kit::ApiError::internal(io);
    /// assert_eq!(err.status(), 500);
    /// ```
    pub fn internal(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        let mut err = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal server error",
        );
        err.inner.source = Some(Box::new(source));
        err
    }

    /// 500 `internal_error` described by a message that is logged, never shown.
    ///
    /// # Example
    ///
    /// ```
    /// let err = ops_kit::ApiError::internal_message("invariant broken: total < 0");
    /// assert_eq!(err.code(), "internal_error");
    /// ```
    pub fn internal_message(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    /// Adds a field to the envelope (for example `allowedTransitions`).
    ///
    /// `error`, `code`, `requestId` and `details` are reserved and not overwritten.
    ///
    /// # Example
    ///
    /// ```
    /// let err = ops_kit::ApiError::new(http::StatusCode::PRECONDITION_FAILED, "version_mismatch", "stale")
    ///     .with_field("currentVersion", 4.into());
    /// ```
    #[must_use]
    pub fn with_field(mut self, key: impl Into<String>, value: Value) -> Self {
        let key = key.into();
        if !matches!(key.as_str(), "error" | "code" | "requestId" | "details") {
            self.inner.extra.insert(key, value);
        }
        self
    }

    /// Adds a response header (for example `Retry-After` on a 429).
    ///
    /// # Example
    ///
    /// ```
    /// use http::{StatusCode, HeaderValue, header::RETRY_AFTER};
    /// let err = ops_kit::ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", "slow down")
    ///     .with_header(RETRY_AFTER, HeaderValue::from_static("30"));
    /// ```
    #[must_use]
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.inner.headers.push((name, value));
        self
    }

    /// Attaches the underlying cause, logged on 5xx.
    ///
    /// # Example
    ///
    /// ```
    /// let err = ops_kit::ApiError::unavailable("database unavailable")
    ///     .with_source(std::io::Error::other("connection refused"));
    /// ```
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// The HTTP status.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use http::StatusCode;
    ///
    /// let err = ops_kit::ApiError::not_found("lead not found");
    /// assert_eq!(err.status(), StatusCode::NOT_FOUND);
    /// assert_eq!(err.into_response().status(), StatusCode::NOT_FOUND);
    /// ```
    pub fn status(&self) -> StatusCode {
        self.inner.status
    }

    /// The machine-readable code.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::ApiError;
    ///
    /// assert_eq!(ApiError::unauthorized("token expired").code(), "unauthorized");
    /// assert_eq!(ApiError::conflict("email_taken", "email already registered").code(), "email_taken");
    /// ```
    pub fn code(&self) -> &str {
        &self.inner.code
    }

    /// The message (for 5xx, the logged one; clients read a generic text).
    ///
    /// # Example
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = ops_kit::ApiError::internal_message("invariant broken: total < 0");
    /// assert_eq!(err.message(), "invariant broken: total < 0");
    ///
    /// let body = axum::body::to_bytes(err.into_response().into_body(), usize::MAX).await.unwrap();
    /// let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    /// assert_eq!(body["error"], "internal server error");
    /// # }
    /// ```
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The per-field rejections.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::{ApiError, FieldError};
    ///
    /// let err = ApiError::validation(vec![
    ///     FieldError::new("email", "is required"),
    ///     FieldError::new("name", "must not be empty"),
    /// ]);
    /// assert_eq!(err.details()[0], FieldError::new("email", "is required"));
    /// assert_eq!(err.details().len(), 2);
    /// assert!(ApiError::not_found("lead not found").details().is_empty());
    /// ```
    pub fn details(&self) -> &[FieldError] {
        &self.inner.details
    }

    fn public_message(&self) -> &str {
        if self.inner.status.is_server_error() && self.inner.code == "internal_error" {
            "internal server error"
        } else {
            &self.inner.message
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.inner.status)
            .field("code", &self.inner.code)
            .field("message", &self.inner.message)
            .field("details", &self.inner.details)
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.inner.status.as_u16(),
            self.inner.code,
            self.inner.message
        )
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.inner.status.is_server_error() {
            log_server_error(&self);
        }
        let mut body = Map::with_capacity(4 + self.inner.extra.len());
        body.insert("error".into(), Value::from(self.public_message()));
        body.insert("code".into(), Value::from(self.inner.code.as_ref()));
        body.insert("requestId".into(), current_request_id());
        if !self.inner.details.is_empty() {
            body.insert(
                "details".into(),
                serde_json::to_value(&self.inner.details).unwrap_or(Value::Null),
            );
        }
        body.extend(self.inner.extra);
        let mut response = json_response(self.inner.status, &Value::Object(body));
        for (name, value) in self.inner.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}

fn log_server_error(err: &ApiError) {
    let mut chain = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if !chain.is_empty() {
            chain.push_str(": ");
        }
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    if chain.is_empty() {
        tracing::error!(status = err.inner.status.as_u16(), code = %err.inner.code, "{}", err.inner.message);
    } else {
        tracing::error!(status = err.inner.status.as_u16(), code = %err.inner.code, cause = %chain, "{}", err.inner.message);
    }
}

fn current_request_id() -> Value {
    request_id::current()
        .map(|id| Value::from(id.as_str()))
        .unwrap_or(Value::Null)
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    json_text_response(status, bytes)
}

/// A response with an already serialized JSON body.
pub(crate) fn json_text_response(
    status: StatusCode,
    body: impl Into<axum::body::Body>,
) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The envelope for an error that was not produced by [`ApiError`]: the
/// router's 404/405, axum's rejections, the body limit, timeouts and panics.
pub(crate) fn envelope(status: StatusCode, message: &str, request_id: &str) -> Response {
    let mut body = Map::with_capacity(3);
    body.insert("error".into(), Value::from(message));
    body.insert("code".into(), Value::from(code_for(status)));
    body.insert("requestId".into(), Value::from(request_id));
    json_response(status, &Value::Object(body))
}

/// The machine-readable code of a bare status.
pub(crate) fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::LENGTH_REQUIRED => "length_required",
        StatusCode::PRECONDITION_FAILED => "precondition_failed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable_entity",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::INTERNAL_SERVER_ERROR => "internal_error",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        StatusCode::GATEWAY_TIMEOUT => "gateway_timeout",
        s if s.is_client_error() => "client_error",
        _ => "server_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_json(response: Response) -> Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn renders_the_envelope_with_the_current_request_id() {
        let id = crate::RequestId::from_client(Some(b"req-42")).unwrap();
        let response = request_id::scope(id, async {
            ApiError::not_found("lead not found").into_response()
        })
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = body_json(response).await;
        assert_eq!(
            body,
            serde_json::json!({"error": "lead not found", "code": "not_found", "requestId": "req-42"})
        );
    }

    #[tokio::test]
    async fn hides_the_message_of_an_internal_error_from_the_client() {
        let response =
            ApiError::internal(std::io::Error::other("password=hunter2 leaked")).into_response();
        let body = body_json(response).await;
        assert_eq!(body["error"], "internal server error");
        assert!(!body.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn lists_validation_details_and_extra_fields() {
        let response = ApiError::validation(vec![FieldError::new("email", "is required")])
            .with_field("hint", Value::from("see docs"))
            .with_field("error", Value::from("cannot overwrite"))
            .into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = body_json(response).await;
        assert_eq!(body["details"][0]["field"], "email");
        assert_eq!(body["hint"], "see docs");
        assert_eq!(body["error"], "the request is invalid");
    }

    #[test]
    fn maps_bare_statuses_to_codes() {
        assert_eq!(code_for(StatusCode::NOT_FOUND), "not_found");
        assert_eq!(code_for(StatusCode::IM_A_TEAPOT), "client_error");
        assert_eq!(code_for(StatusCode::BAD_GATEWAY), "server_error");
    }
}
