//! The rules of a lead, for every front end: the functions the JSON routes
//! and the console call. Each takes the request's transaction and the
//! acting user, and answers a typed result or a [`LeadError`]; the
//! caller commits (or, for an unchanged lead, rolls back).
//!
//! A status move is made in one place, [`move_status`]: by a user through
//! [`transition`], checked against the pipeline, or by the service through
//! [`follow`], because of another record.

use ops_kit::FieldError;
use ops_kit::auth::Principal;
use ops_kit::sql::Transaction;
use uuid::Uuid;

use crate::api::etag::IfMatch;
use crate::api::fields::Errors;
use crate::api::now;
use crate::leads::input::{LeadInput, LeadPatch};
use crate::leads::model::{LeadRow, LeadStatus, LostReason};
use crate::leads::store::{self, Key, StatusEvent};

mod error;
mod read;

pub use error::LeadError;
pub use read::{ListFilters, get, list, statuses, summary, timeline};

/// A lead after a write, and whether the write changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The lead.
    pub lead: LeadRow,
    /// Whether anything changed (nothing to commit otherwise).
    pub changed: bool,
}

/// A lead after an upsert, and whether it was created.
#[derive(Debug, Clone, PartialEq)]
pub struct Upserted {
    /// The lead.
    pub lead: LeadRow,
    /// Created (or else updated).
    pub created: bool,
    /// Whether it was written (an update that changes no field is not).
    pub changed: bool,
}

/// A status move asked for by a user, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The new status.
    pub to: LeadStatus,
    /// Why it was lost (with `lost` only).
    pub lost_reason: Option<LostReason>,
    /// A note kept with the status event.
    pub note: Option<String>,
}

fn check_version(if_match: &IfMatch, lead: &LeadRow) -> Result<(), LeadError> {
    if if_match.holds(lead.version) {
        Ok(())
    } else {
        Err(LeadError::VersionMismatch {
            current: lead.version,
        })
    }
}

/// A live lead of the tenant, locked for the transaction.
async fn live_lead(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
) -> Result<LeadRow, LeadError> {
    match store::get_for_update(tx, actor.tenant_id, id).await? {
        Some(lead) if lead.deleted_at.is_none() => Ok(lead),
        _ => Err(LeadError::NotFound),
    }
}

/// Refuses an owner that is not a user of the tenant (unless unchanged).
async fn check_owner(
    tx: &mut Transaction,
    actor: &Principal,
    lead: &LeadRow,
    before: Option<&LeadRow>,
) -> Result<(), LeadError> {
    if let Some(owner) = lead.owner_user_id
        && before.is_none_or(|b| b.owner_user_id != Some(owner))
        && !store::user_exists(tx, actor.tenant_id, owner).await?
    {
        return Err(LeadError::Invalid(vec![FieldError::new(
            "ownerUserId",
            "is not a user of this tenant",
        )]));
    }
    Ok(())
}

/// Refuses a changed externalId or email that another lead of the tenant
/// holds.
async fn check_unique(
    tx: &mut Transaction,
    actor: &Principal,
    lead: &LeadRow,
    before: &LeadRow,
) -> Result<(), LeadError> {
    let keys = [
        (
            Key::ExternalId,
            lead.external_id.clone(),
            before.external_id.clone(),
            "externalId",
        ),
        (Key::EmailKey, lead.email_key(), before.email_key(), "email"),
    ];
    for (key, value, old, field) in keys {
        let Some(value) = value.filter(|v| old.as_ref() != Some(v)) else {
            continue;
        };
        if let Some(other) = store::find_by(tx, actor.tenant_id, key, &value).await?
            && other.id != lead.id
        {
            return Err(LeadError::Taken {
                field,
                other: other.id,
            });
        }
    }
    Ok(())
}

/// What an upsert of `input` would write, found and checked without
/// writing anything ([`plan_upsert`]): the lead as it would be, and the
/// lead it updates (`None` for a new lead).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedUpsert {
    /// The lead as the upsert would leave it.
    pub lead: LeadRow,
    /// The lead it matched, as it is now (locked for the transaction).
    pub existing: Option<LeadRow>,
}

/// Finds the lead an upsert of `input` matches (by `id`, then
/// `externalId`, then `email`) and checks every rule [`upsert`] applies,
/// writing nothing: what it answers is what [`upsert`] would do in the
/// same transaction. A CSV import's preview asks this of each row.
pub async fn plan_upsert(
    tx: &mut Transaction,
    actor: &Principal,
    input: &LeadInput,
) -> Result<PlannedUpsert, LeadError> {
    let tenant = actor.tenant_id;
    let now = now();
    let mut scratch = LeadRow::new(tenant, input.id.unwrap_or_else(Uuid::new_v4), now);
    let mut errors = Errors::default();
    input.apply(&mut scratch, &mut errors);
    // `LeadInput::upsert` checked every field on a fresh lead already.
    errors.check()?;

    let mut found: Vec<(&'static str, LeadRow)> = Vec::new();
    if let Some(id) = input.id
        && let Some(lead) = store::get_for_update(tx, tenant, id).await?
    {
        found.push(("id", lead));
    }
    if let Some(ext) = scratch
        .external_id
        .clone()
        .filter(|_| input.external_id.is_some())
        && let Some(lead) = store::find_by(tx, tenant, Key::ExternalId, &ext).await?
    {
        found.push(("externalId", lead));
    }
    if let Some(key) = scratch.email_key().filter(|_| input.email.is_some())
        && let Some(lead) = store::find_by(tx, tenant, Key::EmailKey, &key).await?
    {
        found.push(("email", lead));
    }
    let mut ids: Vec<Uuid> = found.iter().map(|(_, l)| l.id).collect();
    // A client-chosen id that names no lead is a new lead's id: another
    // key matching an existing lead contradicts it.
    if let Some(id) = input.id {
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    if ids.len() > 1 {
        return Err(LeadError::KeysConflict(
            found.iter().map(|(k, l)| (*k, l.id)).collect(),
        ));
    }

    match found.into_iter().next() {
        Some((_, existing)) => {
            if existing.deleted_at.is_some() {
                return Err(LeadError::MatchDeleted(existing.id));
            }
            let mut lead = existing.clone();
            let mut errors = Errors::default();
            input.apply(&mut lead, &mut errors);
            errors.check()?;
            check_owner(tx, actor, &lead, Some(&existing)).await?;
            if lead != existing {
                lead.version += 1;
                lead.updated_at = now;
            }
            Ok(PlannedUpsert {
                lead,
                existing: Some(existing),
            })
        }
        None => {
            if input.name.is_none() {
                return Err(LeadError::Invalid(vec![FieldError::new(
                    "name",
                    "is required",
                )]));
            }
            check_owner(tx, actor, &scratch, None).await?;
            Ok(PlannedUpsert {
                lead: scratch,
                existing: None,
            })
        }
    }
}

/// Creates or updates a lead, matched by `id`, then `externalId`, then
/// `email` (the rules of [`plan_upsert`]). The status is never changed by
/// an upsert.
pub async fn upsert(
    tx: &mut Transaction,
    actor: &Principal,
    input: LeadInput,
) -> Result<Upserted, LeadError> {
    let PlannedUpsert { lead, existing } = plan_upsert(tx, actor, &input).await?;
    match existing {
        Some(existing) => {
            let changed = lead != existing;
            if changed {
                store::update(tx, &lead).await?;
            }
            Ok(Upserted {
                lead,
                created: false,
                changed,
            })
        }
        None => {
            store::insert(tx, &lead).await?;
            store::insert_event(
                tx,
                &StatusEvent {
                    tenant_id: actor.tenant_id,
                    id: Uuid::new_v4(),
                    lead_id: lead.id,
                    from_status: None,
                    to_status: lead.status,
                    lost_reason: None,
                    note: None,
                    user_id: Some(actor.user_id),
                    occurred_at: lead.created_at,
                },
            )
            .await?;
            Ok(Upserted {
                lead,
                created: true,
                changed: true,
            })
        }
    }
}

/// Changes a live lead's profile with a merge patch (absent fields stay,
/// `null` clears).
pub async fn update(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    patch: LeadPatch,
) -> Result<Written, LeadError> {
    let before = live_lead(tx, actor, id).await?;
    check_version(if_match, &before)?;
    let mut lead = before.clone();
    let mut errors = Errors::default();
    LeadInput::parse(patch.fields(), &mut errors).apply(&mut lead, &mut errors);
    errors.check()?;
    if lead == before {
        return Ok(Written {
            lead,
            changed: false,
        });
    }
    check_unique(tx, actor, &lead, &before).await?;
    check_owner(tx, actor, &lead, Some(&before)).await?;
    lead.version += 1;
    lead.updated_at = now();
    store::update(tx, &lead).await?;
    Ok(Written {
        lead,
        changed: true,
    })
}

/// Soft-deletes a live lead.
pub async fn delete(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<LeadRow, LeadError> {
    let mut lead = live_lead(tx, actor, id).await?;
    check_version(if_match, &lead)?;
    let now = now();
    lead.deleted_at = Some(now);
    lead.updated_at = now;
    lead.version += 1;
    store::update(tx, &lead).await?;
    Ok(lead)
}

/// Restores a soft-deleted lead; a live lead is returned unchanged.
pub async fn restore(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<LeadRow, LeadError> {
    let mut lead = store::get_for_update(tx, actor.tenant_id, id)
        .await?
        .ok_or(LeadError::NotFound)?;
    check_version(if_match, &lead)?;
    if lead.deleted_at.is_some() {
        lead.deleted_at = None;
        lead.updated_at = now();
        lead.version += 1;
        store::update(tx, &lead).await?;
    }
    Ok(lead)
}

/// Moves a live lead through the pipeline as a user asks: the move must be
/// one the pipeline allows from its status, and reopening a won lead is
/// for admins. Moving to the status it has changes nothing.
pub async fn transition(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    change: Transition,
) -> Result<Written, LeadError> {
    let mut lead = live_lead(tx, actor, id).await?;
    check_version(if_match, &lead)?;
    let from = lead.status;
    if from == change.to {
        return Ok(Written {
            lead,
            changed: false,
        });
    }
    if !from.allowed().contains(&change.to) {
        return Err(LeadError::IllegalTransition {
            from,
            to: change.to,
        });
    }
    if from.admin_only(change.to) && !actor.is_admin() {
        return Err(LeadError::AdminOnly);
    }
    move_status(tx, actor, &mut lead, change).await?;
    Ok(Written {
        lead,
        changed: true,
    })
}

/// Moves a live lead to `to` because of another record (a quote sent or
/// accepted, a contact activity completed), when its status is one of
/// `from`; records the status event with `note`. Returns the lead as
/// moved, or `None` when it was deleted, gone or not in `from`.
///
/// This is the service's own move: it is not checked against the
/// pipeline's manual moves ([`LeadStatus::allowed`]), only against `from`.
pub async fn follow(
    tx: &mut Transaction,
    actor: &Principal,
    lead_id: Uuid,
    to: LeadStatus,
    from: &[LeadStatus],
    note: String,
) -> Result<Option<LeadRow>, sqlx::Error> {
    let Some(mut lead) = store::get_for_update(tx, actor.tenant_id, lead_id).await? else {
        return Ok(None);
    };
    if lead.deleted_at.is_some() || !from.contains(&lead.status) {
        return Ok(None);
    }
    let change = Transition {
        to,
        lost_reason: None,
        note: Some(note),
    };
    move_status(tx, actor, &mut lead, change).await?;
    Ok(Some(lead))
}

/// The one step of every status move: the lead's status, lost reason,
/// times and version, and the status event.
async fn move_status(
    tx: &mut Transaction,
    actor: &Principal,
    lead: &mut LeadRow,
    change: Transition,
) -> Result<(), sqlx::Error> {
    let at = now();
    let event = StatusEvent {
        tenant_id: actor.tenant_id,
        id: Uuid::new_v4(),
        lead_id: lead.id,
        from_status: Some(lead.status),
        to_status: change.to,
        lost_reason: change.lost_reason,
        note: change.note,
        user_id: Some(actor.user_id),
        occurred_at: at,
    };
    lead.status = change.to;
    lead.lost_reason = change.lost_reason;
    lead.status_changed_at = at;
    lead.updated_at = at;
    lead.version += 1;
    store::update(tx, lead).await?;
    store::insert_event(tx, &event).await
}
