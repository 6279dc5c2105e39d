//! [`QuoteError`]: why a quote rule refused, and the envelope each reason
//! is answered with on the JSON API.

use chrono::NaiveDate;
use ops_kit::audit::AuditError;
use ops_kit::{ApiError, FieldError};
use serde_json::json;
use uuid::Uuid;

use super::model::{ACTIONS_INSTEAD, QuoteStatus};
use crate::api::db;
use crate::api::fields::Errors;
use crate::leads::model::LeadStatus;

/// Why a quote function refused.
#[derive(Debug, thiserror::Error)]
pub enum QuoteError {
    /// No live quote of the tenant has this id.
    #[error("quote not found")]
    NotFound,
    /// The body breaks the field rules; one entry per problem.
    #[error("the quote is invalid")]
    Invalid(Vec<FieldError>),
    /// A request convention refused, with the envelope the `api` module
    /// gives: `If-Match` names another version (412), or a list's limit,
    /// sort or cursor is bad.
    #[error("the request was refused: {}", .0.code())]
    Rejected(ApiError),
    /// Only drafts are changed or deleted.
    #[error("a {status} quote cannot be changed")]
    NotEditable {
        /// The quote's status.
        status: QuoteStatus,
    },
    /// The lifecycle does not allow this move from `status`.
    #[error("a {status} quote cannot be {action}")]
    IllegalTransition {
        /// The quote's status.
        status: QuoteStatus,
        /// What was asked, as a past participle (`sent`, `accepted`, …).
        action: &'static str,
    },
    /// `id` and `externalId` name two different quotes.
    #[error("id and externalId match different quotes")]
    KeysMatchDifferentQuotes {
        /// The quote with the id.
        by_id: Uuid,
        /// The quote with the external id.
        by_external_id: Uuid,
    },
    /// A new id with the external id of an existing quote.
    #[error("a new id with the externalId of another quote")]
    ExternalIdOfAnother {
        /// The quote with the external id.
        by_external_id: Uuid,
    },
    /// The quote the keys match is soft-deleted.
    #[error("the matching quote is deleted")]
    Deleted {
        /// That quote.
        quote_id: Uuid,
    },
    /// Another quote of the tenant has the external id asked for.
    #[error("another quote already has this externalId")]
    ExternalIdTaken,
    /// A quote without lines cannot be sent.
    #[error("a quote without lines cannot be sent")]
    Empty,
    /// A sent quote past its validity cannot be accepted.
    #[error("the quote expired")]
    Expired {
        /// Its last valid day.
        valid_until: NaiveDate,
    },
    /// The quote's lead is soft-deleted: restore it first.
    #[error("the quote's lead is deleted")]
    LeadDeleted {
        /// The lead.
        lead_id: Uuid,
    },
    /// The quote's lead is lost: reopen it first.
    #[error("the quote's lead is lost")]
    LeadLost {
        /// The lead.
        lead_id: Uuid,
        /// Its status (`lost`).
        status: LeadStatus,
    },
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// An audit entry could not be written.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl QuoteError {
    /// `Ok` when nothing was recorded in `errors`, [`QuoteError::Invalid`]
    /// otherwise.
    pub fn check(errors: Errors) -> Result<(), Self> {
        if errors.0.is_empty() {
            Ok(())
        } else {
            Err(Self::Invalid(errors.0))
        }
    }
}

impl From<QuoteError> for ApiError {
    fn from(err: QuoteError) -> Self {
        match err {
            QuoteError::NotFound => ApiError::not_found("quote not found"),
            QuoteError::Invalid(details) => ApiError::validation(details),
            QuoteError::Rejected(err) => err,
            QuoteError::NotEditable { status } => ApiError::conflict(
                "quote_not_editable",
                format!("a {status} quote cannot be changed; revise it instead"),
            )
            .with_field("currentStatus", json!(status)),
            QuoteError::IllegalTransition { status, action } => ApiError::conflict(
                "illegal_transition",
                format!("a {status} quote cannot be {action}"),
            )
            .with_field("currentStatus", json!(status)),
            QuoteError::KeysMatchDifferentQuotes {
                by_id,
                by_external_id,
            } => ApiError::conflict("quote_conflict", "id and externalId match different quotes")
                .with_field(
                    "matches",
                    json!({ "id": by_id, "externalId": by_external_id }),
                ),
            QuoteError::ExternalIdOfAnother { by_external_id } => ApiError::conflict(
                "quote_conflict",
                "a new id with the externalId of another quote",
            )
            .with_field("matches", json!({ "externalId": by_external_id })),
            QuoteError::Deleted { quote_id } => {
                ApiError::conflict("quote_deleted", "the matching quote is deleted")
                    .with_field("quoteId", json!(quote_id))
            }
            QuoteError::ExternalIdTaken => ApiError::conflict(
                "external_id_taken",
                "another quote already has this externalId",
            ),
            QuoteError::Empty => {
                ApiError::conflict("quote_empty", "a quote without lines cannot be sent")
            }
            QuoteError::Expired { valid_until } => ApiError::conflict(
                "quote_expired",
                "the quote expired; revise it to send a new one",
            )
            .with_field("validUntil", json!(valid_until)),
            QuoteError::LeadDeleted { lead_id } => ApiError::conflict(
                "lead_deleted",
                "the quote's lead is deleted; restore it before accepting the quote",
            )
            .with_field("leadId", json!(lead_id))
            .with_field("allowedActions", json!(ACTIONS_INSTEAD))
            .with_field("leadAllowedActions", json!(["restore"])),
            QuoteError::LeadLost { lead_id, status } => ApiError::conflict(
                "lead_lost",
                "the quote's lead is lost; reopen it before accepting the quote",
            )
            .with_field("leadId", json!(lead_id))
            .with_field("leadStatus", json!(status))
            .with_field("allowedActions", json!(ACTIONS_INSTEAD))
            .with_field("leadAllowedTransitions", json!(status.allowed())),
            QuoteError::Database(err) => db(err),
            QuoteError::Audit(err) => err.into(),
        }
    }
}
