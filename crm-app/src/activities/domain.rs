//! The rules of activities, for every front end: recording one on a live
//! lead, changing, completing, deleting and restoring it, reading and
//! listing them, and what is due for someone ([`due_for`]).
//!
//! Each function takes the request's transaction, the acting user and a
//! typed input, and answers with the activity as clients see it or an
//! [`ActivityError`]; the caller commits. Completing a call, an email, a
//! meeting or a site visit moves a `new` lead to `contacted`
//! ([`leads::domain::follow`]), in the same transaction.

use ops_kit::auth::Principal;
use ops_kit::sql::Transaction;
use ops_kit::{ApiError, FieldError};
use uuid::Uuid;

use super::input::{ActivityInput, ActivityPatch, Parsed};
use super::model::{Activity, ActivityRow, Due};
use super::store::{self, Filter};
use crate::api::etag::IfMatch;
use crate::api::fields::Errors;
use crate::api::list::{self, Cursor, Deleted, Page, Sort};
use crate::api::sql::Arg;
use crate::api::{db, now};
use crate::leads;
use crate::leads::model::LeadStatus;

/// Why an activity step was refused.
#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    /// No such activity in the tenant (or it is deleted, for a change).
    #[error("activity not found")]
    NotFound,
    /// The fields, one entry per problem.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// `If-Match` names another version than `current`.
    #[error("the activity is at version {current}")]
    VersionMismatch {
        /// The stored version.
        current: i64,
    },
    /// A restore of an activity whose lead is deleted.
    #[error("the activity's lead is deleted")]
    LeadDeleted,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<ActivityError> for ApiError {
    fn from(err: ActivityError) -> Self {
        match err {
            ActivityError::NotFound => ApiError::not_found("activity not found"),
            ActivityError::Invalid(details) => ApiError::validation(details),
            // The 412 `If-Match` itself answers, with the current version
            // and its ETag: the one place that words it.
            ActivityError::VersionMismatch { current } => IfMatch::Versions(Vec::new())
                .check(current)
                .err()
                .unwrap_or_else(|| ApiError::internal_message("a version mismatch matched")),
            ActivityError::LeadDeleted => ApiError::validation(vec![FieldError::new(
                "leadId",
                "the activity's lead is deleted; restore the lead first",
            )]),
            ActivityError::Database(err) => db(err),
        }
    }
}

/// The outcome of a change.
#[derive(Debug)]
pub enum Changed {
    /// Stored, with a new version.
    Saved(Activity),
    /// The change changes nothing: nothing was written, and nothing needs
    /// keeping (the caller may roll back).
    Unchanged(Activity),
}

fn finish(errors: Errors) -> Result<(), ActivityError> {
    if errors.0.is_empty() {
        Ok(())
    } else {
        Err(ActivityError::Invalid(errors.0))
    }
}

fn check_version(if_match: &IfMatch, current: i64) -> Result<(), ActivityError> {
    if_match
        .check(current)
        .map_err(|_| ActivityError::VersionMismatch { current })
}

/// Adds a problem when `user` is set and is not a user of the tenant.
async fn check_user(
    tx: &mut Transaction,
    actor: &Principal,
    user: Option<Uuid>,
    errors: &mut Errors,
) -> Result<(), ActivityError> {
    if let Some(user) = user
        && !leads::store::user_exists(tx, actor.tenant_id, user).await?
    {
        errors.add("assignedUserId", "is not a user of this tenant");
    }
    Ok(())
}

/// Moves the activity's lead from `new` to `contacted` when it is a
/// contact and was completed just now.
async fn follow(
    tx: &mut Transaction,
    actor: &Principal,
    before: Option<&ActivityRow>,
    after: &ActivityRow,
) -> Result<(), ActivityError> {
    let completed_now =
        after.completed_at.is_some() && before.is_none_or(|b| b.completed_at.is_none());
    if completed_now && after.kind.is_contact() {
        leads::domain::follow(
            tx,
            actor,
            after.lead_id,
            LeadStatus::Contacted,
            &[LeadStatus::New],
            format!("activity {} completed", after.id),
        )
        .await?;
    }
    Ok(())
}

/// Records an activity on a live lead of the actor's tenant, by the actor.
pub async fn create(
    tx: &mut Transaction,
    actor: &Principal,
    parsed: Parsed<ActivityInput>,
) -> Result<Activity, ActivityError> {
    let lead_read = !parsed.refused("leadId");
    let Parsed { input, mut invalid } = parsed;
    let now = now();
    let mut activity = ActivityRow::new(
        actor.tenant_id,
        input.lead_id,
        input.kind,
        actor.user_id,
        now,
    );
    input.changes().apply(&mut activity, now, &mut invalid);
    if lead_read {
        match leads::store::get_for_update(tx, actor.tenant_id, input.lead_id).await? {
            Some(lead) if lead.deleted_at.is_none() => {}
            Some(_) => invalid.add("leadId", "is a deleted lead"),
            None => invalid.add("leadId", "is not a lead of this tenant"),
        }
    }
    check_user(tx, actor, activity.assigned_user_id, &mut invalid).await?;
    finish(invalid)?;
    store::insert(tx, &activity).await?;
    follow(tx, actor, None, &activity).await?;
    Ok(activity.show(now))
}

/// A live activity, locked for a change.
async fn live(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
) -> Result<ActivityRow, ActivityError> {
    match store::get_for_update(tx, actor.tenant_id, id).await? {
        Some(a) if a.deleted_at.is_none() => Ok(a),
        _ => Err(ActivityError::NotFound),
    }
}

/// Changes a live activity as `patch` says, when `if_match` holds;
/// completing a contact moves a new lead on.
pub async fn update(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    patch: Parsed<ActivityPatch>,
) -> Result<Changed, ActivityError> {
    let Parsed { input, mut invalid } = patch;
    let before = live(tx, actor, id).await?;
    check_version(if_match, before.version)?;
    let now = now();
    let mut activity = before.clone();
    input.apply(&mut activity, now, &mut invalid);
    if activity.assigned_user_id != before.assigned_user_id {
        check_user(tx, actor, activity.assigned_user_id, &mut invalid).await?;
    }
    finish(invalid)?;
    if activity == before {
        return Ok(Changed::Unchanged(activity.show(now)));
    }
    activity.touch(now);
    store::update(tx, &activity).await?;
    follow(tx, actor, Some(&before), &activity).await?;
    Ok(Changed::Saved(activity.show(now)))
}

/// Soft-deletes a live activity, when `if_match` holds.
pub async fn delete(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<Activity, ActivityError> {
    let mut activity = live(tx, actor, id).await?;
    check_version(if_match, activity.version)?;
    let now = now();
    activity.deleted_at = Some(now);
    activity.touch(now);
    store::update(tx, &activity).await?;
    Ok(activity.show(now))
}

/// Restores a soft-deleted activity whose lead is live, when `if_match`
/// holds; a live activity is answered unchanged.
pub async fn restore(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<Activity, ActivityError> {
    let mut activity = store::get_for_update(tx, actor.tenant_id, id)
        .await?
        .ok_or(ActivityError::NotFound)?;
    check_version(if_match, activity.version)?;
    let now = now();
    if activity.deleted_at.is_some() {
        match leads::store::get(tx, actor.tenant_id, activity.lead_id).await? {
            Some(lead) if lead.deleted_at.is_none() => {}
            _ => return Err(ActivityError::LeadDeleted),
        }
        activity.deleted_at = None;
        activity.touch(now);
        store::update(tx, &activity).await?;
    }
    Ok(activity.show(now))
}

/// An activity of the actor's tenant; a deleted one only when `deleted`
/// shows it.
pub async fn get(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    deleted: Deleted,
) -> Result<Activity, ActivityError> {
    store::get(tx, actor.tenant_id, id)
        .await?
        .filter(|a| deleted.shows(a.deleted_at.as_ref()))
        .map(|a| a.show(now()))
        .ok_or(ActivityError::NotFound)
}

/// A page of the actor's tenant's activities matching `filter`, in `sort`
/// order, after `cursor`.
pub async fn list(
    tx: &mut Transaction,
    actor: &Principal,
    filter: &Filter,
    sort: &Sort,
    cursor: Option<&Cursor>,
    limit: i64,
) -> Result<Page<Activity>, ActivityError> {
    let now = now();
    let rows = store::list(tx, actor.tenant_id, filter, now, sort, cursor, limit).await?;
    Ok(list::page(
        &rows,
        limit,
        sort,
        |a| Cursor {
            key: Arg::Time(if sort.column == "updated_at" {
                a.updated_at
            } else {
                a.created_at
            }),
            id: a.id,
        },
        |a| a.show(now),
    ))
}

/// The actor's open activities (assigned to them, not completed) that are
/// due before `until`, on the tenant's live leads, soonest first: up to
/// `limit` of them, each with its lead's name. Overdue ones are those due
/// before now, as `isOverdue` says.
pub async fn due_for(
    tx: &mut Transaction,
    actor: &Principal,
    until: chrono::DateTime<chrono::Utc>,
    limit: i64,
) -> Result<Vec<Due>, ActivityError> {
    let now = now();
    let rows = store::due_for(tx, actor.tenant_id, actor.user_id, until, limit).await?;
    Ok(rows
        .into_iter()
        .map(|row| Due {
            activity: row.activity.show(now),
            lead_name: row.lead_name,
        })
        .collect())
}
