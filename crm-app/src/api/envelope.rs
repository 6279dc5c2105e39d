//! The error envelope as the OpenAPI document describes it.
//!
//! Every error a route answers is an [`ops_kit::ApiError`], which writes
//! its own JSON; these two types only name that shape in the document, for
//! the `body = envelope::Error` of each error response.

use serde::Serialize;
use utoipa::ToSchema;

/// The error envelope.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Error {
    /// What went wrong, for people.
    pub error: String,
    /// What went wrong, for programs (`not_found`, `validation_failed`, `version_mismatch`, …).
    pub code: String,
    /// The request's id, also in `x-request-id`.
    pub request_id: String,
    /// One entry per rejected field (validation only).
    pub details: Option<Vec<FieldError>>,
}

/// A rejected field.
#[allow(missing_docs)]
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}
