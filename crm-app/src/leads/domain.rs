//! The rules of a lead, for every front end: the functions the JSON routes
//! and the console call. Each takes the request's transaction and the
//! acting user, and answers a typed result or a [`LeadError`]; the
//! caller commits (or, for an unchanged lead, rolls back).
//!
//! A status move is made in one place, [`move_status`]: by a user through
//! [`transition`], checked against the pipeline, or by the service through
//! [`follow`], because of another record.

use ops_kit::auth::Principal;
use ops_kit::sql::Transaction;
use ops_kit::{ApiError, FieldError};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::input::{self, LeadFields};
use super::model::{
    CurrencyTotal, LeadRow, LeadSource, LeadStatus, LeadStatuses, LeadSummary, LostReason,
    ProjectType, StatusMoves, StatusSummary, TimelineEntry,
};
use super::store::{self, Filter, Key, StatusEvent};
use crate::api::etag::{self, IfMatch};
use crate::api::fields::{self, Errors};
use crate::api::list::{self, Cursor, Deleted, Page, Sort};
use crate::api::{money, now};

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

/// A lead of the tenant, shown when `deleted` shows it.
pub async fn get(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    deleted: Deleted,
) -> Result<LeadRow, LeadError> {
    store::get(tx, actor.tenant_id, id)
        .await?
        .filter(|l| deleted.shows(l.deleted_at.as_ref()))
        .ok_or(LeadError::NotFound)
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

/// Creates or updates a lead, matched by `id`, then `externalId`, then
/// `email`. The status is never changed by an upsert.
pub async fn upsert(
    tx: &mut Transaction,
    actor: &Principal,
    input: LeadFields,
) -> Result<Upserted, LeadError> {
    let tenant = actor.tenant_id;
    let now = now();
    let profile = input.fields;
    // Every field was checked (on a scratch lead) before any lookup.
    let mut scratch = LeadRow::new(tenant, input.id.unwrap_or_else(Uuid::new_v4), now);
    input::apply(&profile, &mut scratch, &mut Errors::default());

    let mut found: Vec<(&'static str, LeadRow)> = Vec::new();
    if let Some(id) = input.id
        && let Some(lead) = store::get_for_update(tx, tenant, id).await?
    {
        found.push(("id", lead));
    }
    if let Some(ext) = scratch
        .external_id
        .clone()
        .filter(|_| profile.contains_key("externalId"))
        && let Some(lead) = store::find_by(tx, tenant, Key::ExternalId, &ext).await?
    {
        found.push(("externalId", lead));
    }
    if let Some(key) = scratch
        .email_key()
        .filter(|_| profile.contains_key("email"))
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
            input::apply(&profile, &mut lead, &mut errors);
            errors.check()?;
            check_owner(tx, actor, &lead, Some(&existing)).await?;
            if lead != existing {
                lead.version += 1;
                lead.updated_at = now;
                store::update(tx, &lead).await?;
            }
            Ok(Upserted {
                lead,
                created: false,
            })
        }
        None => {
            if !profile.contains_key("name") {
                return Err(LeadError::Invalid(vec![FieldError::new(
                    "name",
                    "is required",
                )]));
            }
            let lead = scratch;
            check_owner(tx, actor, &lead, None).await?;
            store::insert(tx, &lead).await?;
            store::insert_event(
                tx,
                &StatusEvent {
                    tenant_id: tenant,
                    id: Uuid::new_v4(),
                    lead_id: lead.id,
                    from_status: None,
                    to_status: lead.status,
                    lost_reason: None,
                    note: None,
                    user_id: Some(actor.user_id),
                    occurred_at: now,
                },
            )
            .await?;
            Ok(Upserted {
                lead,
                created: true,
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
    patch: LeadFields,
) -> Result<Written, LeadError> {
    let before = live_lead(tx, actor, id).await?;
    check_version(if_match, &before)?;
    let mut lead = before.clone();
    let mut errors = Errors::default();
    input::apply(&patch.fields, &mut lead, &mut errors);
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

/// The filters of the lead list as a query string gives them.
#[derive(Debug, Clone, Default)]
pub struct ListFilters<'q> {
    /// Statuses, comma-separated.
    pub status: Option<&'q str>,
    /// A source.
    pub source: Option<&'q str>,
    /// The owning user.
    pub owner_user_id: Option<Uuid>,
    /// Text searched in name, company, email and phone.
    pub q: Option<&'q str>,
    /// An RFC 3339 time.
    pub updated_after: Option<&'q str>,
    /// Soft-deleted leads shown or not.
    pub deleted: Deleted,
}

impl ListFilters<'_> {
    /// The filters, checked: every problem in one refusal, except a bad
    /// `q`, refused alone.
    pub fn check(&self) -> Result<Filter, LeadError> {
        let mut errors = Errors::default();
        let statuses = match self.status {
            Some(raw) => list::one_of("status", raw, LeadStatus::NAMES, &mut errors)
                .into_iter()
                .filter_map(LeadStatus::parse)
                .collect(),
            None => Vec::new(),
        };
        let source = self.source.and_then(|source| {
            let parsed = LeadSource::parse(source);
            if parsed.is_none() {
                errors.add(
                    "source",
                    format!("must be one of {}", LeadSource::NAMES.join(", ")),
                );
            }
            parsed
        });
        let contains = match self.q {
            Some(q) => {
                let mut q_errors = Errors::default();
                let text = fields::clean("q", q, 1, fields::MAX_QUERY, &mut q_errors);
                q_errors.check()?;
                text.map(|t| crate::api::sql::contains_pattern(&t))
            }
            None => None,
        };
        let updated_after = self
            .updated_after
            .and_then(|after| fields::timestamp("updatedAfter", after, &mut errors));
        errors.check()?;
        Ok(Filter {
            statuses,
            source,
            owner_user_id: self.owner_user_id,
            contains,
            updated_after,
            deleted: self.deleted,
        })
    }
}

/// A page of the tenant's leads (`limit + 1` rows: see [`list::page`]).
pub async fn list(
    tx: &mut Transaction,
    actor: &Principal,
    filter: &Filter,
    sort: &Sort,
    cursor: Option<&Cursor>,
    limit: i64,
) -> Result<store::Rows, LeadError> {
    Ok(store::list(tx, actor.tenant_id, filter, sort, cursor, limit).await?)
}

/// Per status: how many live leads, and their estimated value per currency.
pub async fn summary(tx: &mut Transaction, actor: &Principal) -> Result<LeadSummary, LeadError> {
    let rows = store::summary(tx, actor.tenant_id).await?;
    let data = LeadStatus::ALL
        .iter()
        .map(|&status| {
            let mine = rows.iter().filter(|r| r.0 == status);
            let count: i64 = mine.clone().map(|r| r.2).sum();
            let totals = mine
                .filter_map(|(_, currency, count, sum)| {
                    let currency = currency.as_deref()?;
                    let decimals = money::decimals(currency).unwrap_or(2);
                    Some(CurrencyTotal {
                        currency: currency.to_owned(),
                        count: *count,
                        estimated_value: money::format_digits(sum, decimals)?,
                    })
                })
                .collect();
            StatusSummary {
                status,
                count,
                totals,
            }
        })
        .collect();
    Ok(LeadSummary { data })
}

/// The statuses and their allowed moves, for user interfaces.
pub fn statuses() -> LeadStatuses {
    LeadStatuses {
        data: LeadStatus::ALL
            .iter()
            .map(|&status| StatusMoves {
                status,
                allowed_transitions: status.allowed(),
                admin_only_transitions: status
                    .allowed()
                    .iter()
                    .copied()
                    .filter(|&to| status.admin_only(to))
                    .collect(),
            })
            .collect(),
        lost_reasons: LostReason::ALL,
        sources: LeadSource::ALL,
        project_types: ProjectType::ALL,
    }
}

/// A page of a live lead's timeline: its activities, status changes and
/// quote events, newest first.
pub async fn timeline(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    sort: &Sort,
    cursor: Option<&Cursor>,
    limit: i64,
) -> Result<Page<TimelineEntry>, LeadError> {
    let tenant = actor.tenant_id;
    match store::get(tx, tenant, id).await? {
        Some(lead) if lead.deleted_at.is_none() => {}
        _ => return Err(LeadError::NotFound),
    }
    let keys = store::timeline(tx, tenant, id, sort, cursor, limit).await?;
    let shown = &keys[..keys.len().min(limit as usize)];
    let ids =
        |kind: &str| -> Vec<Uuid> { shown.iter().filter(|k| k.0 == kind).map(|k| k.1).collect() };
    let events = store::events(tx, tenant, &ids("status_change")).await?;
    let activities = crate::activities::store::by_ids(tx, tenant, &ids("activity")).await?;
    let quote_events = crate::quotes::store::events(tx, tenant, &ids("quote_event")).await?;
    let now = now();
    Ok(list::page(
        &keys,
        limit,
        sort,
        |(_, id, at)| Cursor {
            key: crate::api::sql::Arg::Time(*at),
            id: *id,
        },
        |(kind, id, at)| {
            let item = match kind.as_str() {
                "activity" => activities.iter().find(|a| a.id == *id).map(|a| a.view(now)),
                "quote_event" => quote_events.iter().find(|e| e.0 == *id).map(
                    |(id, quote, action, user, at)| {
                        json!({ "id": id, "quoteId": quote, "action": action, "userId": user, "occurredAt": at })
                    },
                ),
                _ => events
                    .iter()
                    .find(|e| e.id == *id)
                    .map(|e| serde_json::to_value(e).unwrap_or_default()),
            };
            TimelineEntry {
                kind: kind.clone(),
                id: *id,
                at: *at,
                item: item.unwrap_or_default(),
            }
        },
    ))
}
