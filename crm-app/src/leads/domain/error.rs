//! Why a lead operation is refused, and the envelope the JSON API sends
//! for each refusal.

use ops_kit::{ApiError, FieldError};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::api::etag;
use crate::api::fields::Errors;
use crate::leads::model::LeadStatus;

/// Why a lead operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum LeadError {
    /// No such live lead of the tenant.
    #[error("lead not found")]
    NotFound,
    /// Fields were refused, each with its message.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// An upsert's keys (`id`, `externalId`, `email`) name different leads.
    #[error("the lead's keys match different leads")]
    KeysConflict(Vec<(&'static str, Uuid)>),
    /// An upsert's keys name a deleted lead.
    #[error("the matching lead is deleted; restore it first")]
    MatchDeleted(Uuid),
    /// Another lead holds the `externalId` or email.
    #[error("another lead already has this {field}")]
    Taken {
        /// The field (`externalId`, `email`).
        field: &'static str,
        /// The other lead.
        other: Uuid,
    },
    /// The pipeline does not allow the move.
    #[error("a {from} lead cannot move to {to}")]
    IllegalTransition {
        /// The lead's status.
        from: LeadStatus,
        /// The status asked for.
        to: LeadStatus,
    },
    /// The move is for admins.
    #[error("only an admin can reopen a won lead")]
    AdminOnly,
    /// `If-Match` names another version.
    #[error("the lead is at version {current}")]
    VersionMismatch {
        /// The lead's version.
        current: i64,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<Errors> for LeadError {
    fn from(errors: Errors) -> Self {
        LeadError::Invalid(errors.0)
    }
}

/// The envelope of each refusal, as the JSON API has always sent it.
impl From<LeadError> for ApiError {
    fn from(err: LeadError) -> Self {
        match err {
            LeadError::NotFound => ApiError::not_found("lead not found"),
            LeadError::Invalid(details) => ApiError::validation(details),
            LeadError::KeysConflict(matches) => {
                let matches: Map<String, Value> = matches
                    .into_iter()
                    .map(|(k, id)| (k.to_owned(), json!(id)))
                    .collect();
                ApiError::conflict("lead_conflict", "the lead's keys match different leads")
                    .with_field("matches", Value::Object(matches))
            }
            LeadError::MatchDeleted(id) => ApiError::conflict(
                "lead_deleted",
                "the matching lead is deleted; restore it first",
            )
            .with_field("leadId", json!(id)),
            LeadError::Taken { field, other } => {
                let code = match field {
                    "email" => "email_taken",
                    _ => "external_id_taken",
                };
                ApiError::conflict(code, format!("another lead already has this {field}"))
                    .with_field("field", json!(field))
                    .with_field("conflictingId", json!(other))
            }
            LeadError::IllegalTransition { from, to } => ApiError::conflict(
                "illegal_transition",
                format!("a {from} lead cannot move to {to}"),
            )
            .with_field("currentStatus", json!(from))
            .with_field("allowedTransitions", json!(from.allowed())),
            LeadError::AdminOnly => ApiError::forbidden("only an admin can reopen a won lead"),
            LeadError::VersionMismatch { current } => etag::mismatch(current),
            LeadError::Db(err) => crate::api::db(err),
        }
    }
}
