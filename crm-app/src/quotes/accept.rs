//! Whether a quote's lead lets the quote be accepted.
//!
//! Accepting a quote wins its lead, so it follows the lead pipeline: a lead
//! that is `lost` must be reopened first (its pipeline allows `new` and
//! `contacted`), and a soft-deleted lead restored, before its quote can be
//! accepted. The refusal is a 409 that names what may be done instead,
//! with the quote (`allowedActions`) and with the lead
//! (`leadAllowedTransitions`).

use chrono::{DateTime, Utc};
use ops_kit::ApiError;
use serde_json::json;
use uuid::Uuid;

use crate::leads::pipeline;

/// What a sent quote still allows when it cannot be accepted.
pub const ACTIONS_INSTEAD: &[&str] = &["reject", "revise"];

/// `Ok` when the lead `id`, in `status` and soft-deleted at `deleted_at`
/// (if it is), may be won by accepting its quote.
///
/// ```
/// use crm_app::quotes::accept::check_lead;
/// let lead = uuid::Uuid::new_v4();
/// assert!(check_lead(lead, "quoted", None).is_ok());
/// assert_eq!(check_lead(lead, "lost", None).unwrap_err().code(), "lead_lost");
/// assert_eq!(check_lead(lead, "quoted", Some(chrono::Utc::now())).unwrap_err().code(), "lead_deleted");
/// ```
pub fn check_lead(
    id: Uuid,
    status: &str,
    deleted_at: Option<DateTime<Utc>>,
) -> Result<(), ApiError> {
    if deleted_at.is_some() {
        return Err(ApiError::conflict(
            "lead_deleted",
            "the quote's lead is deleted; restore it before accepting the quote",
        )
        .with_field("leadId", json!(id))
        .with_field("allowedActions", json!(ACTIONS_INSTEAD))
        .with_field("leadAllowedActions", json!(["restore"])));
    }
    if status == "lost" {
        return Err(ApiError::conflict(
            "lead_lost",
            "the quote's lead is lost; reopen it before accepting the quote",
        )
        .with_field("leadId", json!(id))
        .with_field("leadStatus", json!(status))
        .with_field("allowedActions", json!(ACTIONS_INSTEAD))
        .with_field("leadAllowedTransitions", json!(pipeline::allowed(status))));
    }
    Ok(())
}
