//! The reads of leads: one lead, a page of the list, the pipeline
//! summary, the statuses and a lead's timeline.

use ops_kit::auth::Principal;
use ops_kit::sql::Transaction;
use serde_json::json;
use uuid::Uuid;

use super::LeadError;
use crate::api::fields::{self, Errors};
use crate::api::list::{self, Cursor, Deleted, Page, Sort};
use crate::api::{money, now};
use crate::leads::kinds::TimelineKind;
use crate::leads::model::{
    CurrencyTotal, LeadRow, LeadSource, LeadStatus, LeadStatuses, LeadSummary, LostReason,
    ProjectType, StatusMoves, StatusSummary, TimelineEntry,
};
use crate::leads::store::{self, Filter};

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

/// The filters of the lead list as a query string gives them.
#[derive(Debug, Clone, Default)]
pub struct ListFilters<'q> {
    /// Statuses, comma-separated.
    pub status: Option<&'q str>,
    /// A source.
    pub source: Option<&'q str>,
    /// A project type.
    pub project_type: Option<&'q str>,
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
        let project_type = self.project_type.and_then(|kind| {
            let parsed = ProjectType::parse(kind);
            if parsed.is_none() {
                errors.add(
                    "projectType",
                    format!("must be one of {}", ProjectType::NAMES.join(", ")),
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
            project_type,
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
    let ids = |kind: TimelineKind| -> Vec<Uuid> {
        shown.iter().filter(|k| k.0 == kind).map(|k| k.1).collect()
    };
    let events = store::events(tx, tenant, &ids(TimelineKind::StatusChange)).await?;
    let activities =
        crate::activities::store::by_ids(tx, tenant, &ids(TimelineKind::Activity)).await?;
    let quote_events =
        crate::quotes::store::events(tx, tenant, &ids(TimelineKind::QuoteEvent)).await?;
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
            let item = match kind {
                TimelineKind::Activity => activities.iter().find(|a| a.id == *id).map(|a| a.view(now)),
                TimelineKind::QuoteEvent => quote_events.iter().find(|e| e.0 == *id).map(
                    |(id, quote, action, user, at)| {
                        json!({ "id": id, "quoteId": quote, "action": action, "userId": user, "occurredAt": at })
                    },
                ),
                TimelineKind::StatusChange => events
                    .iter()
                    .find(|e| e.id == *id)
                    .map(|e| serde_json::to_value(e).unwrap_or_default()),
            };
            TimelineEntry {
                kind: *kind,
                id: *id,
                at: *at,
                item: item.unwrap_or_default(),
            }
        },
    ))
}
