//! The rules of a lead, for every front end: the functions the JSON routes
//! and the console call, each taking the request's transaction and the
//! acting user.

use ops_kit::auth::Principal;
use ops_kit::sql::Transaction;
use uuid::Uuid;

use super::model::LeadRow;
use super::store::{self, StatusEvent};
use crate::api::now;

/// Moves a live lead to `to` because of another record (a quote sent or
/// accepted, a contact activity completed), when its status is one of
/// `from`; records the status event with `note`. Returns the lead as
/// moved, or `None` when it was deleted, gone or not in `from`.
///
/// This is the service's own move: it is not checked against the
/// pipeline's manual moves ([`super::pipeline::allowed`]), only against
/// `from`.
pub async fn follow(
    tx: &mut Transaction,
    actor: &Principal,
    lead_id: Uuid,
    to: &str,
    from: &[&str],
    note: String,
) -> Result<Option<LeadRow>, sqlx::Error> {
    let Some(mut lead) = store::get(tx, actor.tenant_id, lead_id, true).await? else {
        return Ok(None);
    };
    if lead.deleted_at.is_some() || !from.contains(&lead.status.as_str()) {
        return Ok(None);
    }
    let at = now();
    let event = StatusEvent {
        tenant_id: actor.tenant_id,
        id: Uuid::new_v4(),
        lead_id: lead.id,
        from_status: Some(lead.status.clone()),
        to_status: to.to_owned(),
        lost_reason: None,
        note: Some(note),
        user_id: Some(actor.user_id),
        occurred_at: at,
    };
    lead.status = to.to_owned();
    lead.lost_reason = None;
    lead.status_changed_at = at;
    lead.updated_at = at;
    lead.version += 1;
    store::update(tx, &lead).await?;
    store::insert_event(tx, &event).await?;
    Ok(Some(lead))
}
