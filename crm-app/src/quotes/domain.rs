//! The rules of a quote's content, for every front end: create or replace
//! a draft, change its header, delete it, compute totals, and read quotes.
//! Each function takes the request's transaction and the acting user and
//! answers with the quote as shown or a [`QuoteError`]; the lifecycle
//! (send, accept, reject, revise) is in [`super::lifecycle`].

use chrono::NaiveDate;
use ops_kit::FieldError;
use ops_kit::auth::Principal;
use ops_kit::sql::Transaction;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::body::QuoteListQuery;
use super::error::QuoteError;
use super::input::{self, COMPUTED, HEADER_FIELDS, READ_ONLY};
use super::model::{LineRow, QuoteRow, QuoteStatus};
use super::store::{self, Filter};
use super::view::{Quote, QuotePage, QuoteRevisions, QuoteTotals};
use crate::api::etag::IfMatch;
use crate::api::fields::{self, Errors};
use crate::api::list::{self, Cursor, Deleted, KeyKind, Sort, SortField};
use crate::api::now;
use crate::api::sql::Arg;
use crate::leads;

/// The orders `GET /quotes` sorts by.
pub const SORTS: &[SortField] = &[
    ("createdAt", "created_at", KeyKind::Time),
    ("updatedAt", "updated_at", KeyKind::Time),
];

/// Today, for `isExpired`.
pub fn today() -> NaiveDate {
    now().date_naive()
}

/// A quote as shown, with its lines.
pub(super) async fn shown(tx: &mut Transaction, q: &QuoteRow) -> Result<Quote, QuoteError> {
    let lines = store::lines(tx, q.tenant_id, &[q.id]).await?;
    Ok(Quote::of(q, &lines, today()))
}

/// A live quote of the actor's tenant, locked; [`QuoteError::NotFound`]
/// otherwise.
pub(super) async fn live(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
) -> Result<QuoteRow, QuoteError> {
    match store::get_for_update(tx, actor.tenant_id, id).await? {
        Some(q) if q.deleted_at.is_none() => Ok(q),
        _ => Err(QuoteError::NotFound),
    }
}

/// `Ok` for a draft; [`QuoteError::NotEditable`] otherwise.
fn editable(q: &QuoteRow) -> Result<(), QuoteError> {
    if q.status == QuoteStatus::Draft {
        Ok(())
    } else {
        Err(QuoteError::NotEditable { status: q.status })
    }
}

/// What [`upsert`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Upserted {
    /// The quote after the change.
    pub quote: Quote,
    /// Whether it was created (else replaced).
    pub created: bool,
}

/// Creates or replaces a draft quote (header and every line) from `body`,
/// a `QuoteInput` object, matched by `id`, then `externalId`. Totals sent
/// are ignored; nothing is written when a replacement changes nothing.
pub async fn upsert(
    tx: &mut Transaction,
    actor: &Principal,
    body: &Map<String, Value>,
) -> Result<Upserted, QuoteError> {
    let tenant = actor.tenant_id;
    let mut errors = Errors::default();
    let mut writable = HEADER_FIELDS.to_vec();
    writable.extend(["id", "leadId", "lineItems"]);
    writable.extend(COMPUTED);
    fields::known_keys(body, &writable, READ_ONLY, &mut errors);
    let id = body
        .get("id")
        .and_then(|v| fields::uuid("id", v, &mut errors));
    let lead_id = body
        .get("leadId")
        .and_then(|v| fields::uuid("leadId", v, &mut errors));
    let external_id = body
        .get("externalId")
        .and_then(|v| fields::opt_text("externalId", v, super::model::MAX_NAME, &mut errors))
        .flatten();
    QuoteError::check(errors)?;

    let by_id = match id {
        Some(id) => store::get_for_update(tx, tenant, id).await?,
        None => None,
    };
    let by_external = match &external_id {
        Some(ext) => store::by_external_id(tx, tenant, ext).await?,
        None => None,
    };
    let existing = match (id, by_id, by_external) {
        (_, Some(a), Some(b)) if a.id != b.id => {
            return Err(QuoteError::KeysMatchDifferentQuotes {
                by_id: a.id,
                by_external_id: b.id,
            });
        }
        (Some(_), None, Some(b)) => {
            return Err(QuoteError::ExternalIdOfAnother {
                by_external_id: b.id,
            });
        }
        (_, Some(q), _) | (_, None, Some(q)) => Some(q),
        _ => None,
    };
    let now = now();
    let (mut quote, mut lines, created) = match existing {
        Some(q) => {
            if q.deleted_at.is_some() {
                return Err(QuoteError::Deleted { quote_id: q.id });
            }
            editable(&q)?;
            if lead_id.is_some_and(|l| l != q.lead_id) {
                return Err(QuoteError::Invalid(vec![FieldError::new(
                    "leadId",
                    "cannot change; create a new quote",
                )]));
            }
            let lines = store::lines(tx, tenant, &[q.id]).await?;
            (q, lines, false)
        }
        None => {
            let mut errors = Errors::default();
            match lead_id {
                None => errors.add("leadId", "is required"),
                Some(lead) => match leads::store::get(tx, tenant, lead).await? {
                    Some(l) if l.deleted_at.is_none() => {}
                    _ => errors.add("leadId", "is not a lead of this tenant"),
                },
            }
            for required in ["title", "currency"] {
                if !body.contains_key(required) {
                    errors.add(required, "is required");
                }
            }
            QuoteError::check(errors)?;
            let quote = QuoteRow::draft(
                tenant,
                id.unwrap_or_else(Uuid::new_v4),
                lead_id.unwrap_or_default(),
                Some(actor.user_id),
                now,
            );
            (quote, Vec::new(), true)
        }
    };
    let before = (quote.clone(), lines.clone());
    let mut errors = Errors::default();
    input::apply_header(body, &mut quote, &mut errors);
    if let Some(items) = body.get("lineItems")
        && let Some(new_lines) = input::lines(items, &quote, &mut errors)
    {
        lines = new_lines;
    }
    QuoteError::check(errors)?;
    input::recompute(&mut quote, &mut lines);
    if created {
        quote.quote_number = store::next_number(tx, tenant).await?;
        store::insert(tx, &quote).await?;
        store::replace_lines(tx, &quote, &lines).await?;
        store::insert_event(tx, &quote, "created", actor.user_id, now).await?;
    } else if (quote.clone(), lines.clone()) != before {
        quote.version += 1;
        quote.updated_at = now;
        store::update(tx, &quote).await?;
        store::replace_lines(tx, &quote, &lines).await?;
    }
    Ok(Upserted {
        quote: Quote::of(&quote, &lines, today()),
        created,
    })
}

/// The totals of a quote body (its `currency`, `discount` and
/// `lineItems`; the rest is ignored), computed without saving anything.
pub fn calculate(actor: &Principal, body: &Map<String, Value>) -> Result<QuoteTotals, QuoteError> {
    // A scratch draft: only its currency, discount and lines are used.
    let mut quote = QuoteRow::draft(actor.tenant_id, Uuid::nil(), Uuid::nil(), None, now());
    quote.currency = String::new();
    let mut errors = Errors::default();
    if !body.contains_key("currency") {
        errors.add("currency", "is required");
    }
    let mut only: Map<String, Value> = Map::new();
    for key in ["currency", "discount"] {
        if let Some(v) = body.get(key) {
            only.insert(key.into(), v.clone());
        }
    }
    input::apply_header(&only, &mut quote, &mut errors);
    let mut lines = match body.get("lineItems") {
        Some(items) => input::lines(items, &quote, &mut errors).unwrap_or_default(),
        None => Vec::new(),
    };
    QuoteError::check(errors)?;
    input::recompute(&mut quote, &mut lines);
    Ok(Quote::of(&quote, &lines, today()).into())
}

/// Changes a live draft's header fields from `body`, a JSON Merge Patch
/// (`QuotePatch`); its lines stay (they are replaced through [`upsert`]).
pub async fn update(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    body: &Map<String, Value>,
) -> Result<Quote, QuoteError> {
    let mut errors = Errors::default();
    let mut read_only = READ_ONLY.to_vec();
    read_only.extend(["id", "leadId", "lineItems"]);
    fields::known_keys(body, HEADER_FIELDS, &read_only, &mut errors);
    QuoteError::check(errors)?;
    let before = live(tx, actor, id).await?;
    if_match
        .check(before.version)
        .map_err(QuoteError::Rejected)?;
    editable(&before)?;
    let mut quote = before.clone();
    let mut errors = Errors::default();
    input::apply_header(body, &mut quote, &mut errors);
    QuoteError::check(errors)?;
    let mut lines = store::lines(tx, actor.tenant_id, &[quote.id]).await?;
    input::recompute(&mut quote, &mut lines);
    if quote != before {
        if let Some(ext) = &quote.external_id
            && before.external_id.as_ref() != Some(ext)
            && store::by_external_id(tx, actor.tenant_id, ext)
                .await?
                .is_some()
        {
            return Err(QuoteError::ExternalIdTaken);
        }
        quote.version += 1;
        quote.updated_at = now();
        store::update(tx, &quote).await?;
        store::replace_lines(tx, &quote, &lines).await?;
    }
    Ok(Quote::of(&quote, &lines, today()))
}

/// Soft-deletes a live draft.
pub async fn delete(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<Quote, QuoteError> {
    let mut quote = live(tx, actor, id).await?;
    if_match
        .check(quote.version)
        .map_err(QuoteError::Rejected)?;
    editable(&quote)?;
    let now = now();
    quote.deleted_at = Some(now);
    quote.updated_at = now;
    quote.version += 1;
    store::update(tx, &quote).await?;
    shown(tx, &quote).await
}

/// One quote of the actor's tenant, with its lines; a deleted one only
/// when `deleted` shows it.
pub async fn get(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    deleted: Deleted,
) -> Result<Quote, QuoteError> {
    let quote = store::get(tx, actor.tenant_id, id)
        .await?
        .filter(|q| deleted.shows(q.deleted_at.as_ref()))
        .ok_or(QuoteError::NotFound)?;
    shown(tx, &quote).await
}

/// A checked `GET /quotes` query: what [`list()`] reads.
#[derive(Debug, Clone)]
pub struct Listing {
    limit: i64,
    sort: Sort,
    filter: Filter,
    cursor: Option<Cursor>,
}

impl Listing {
    /// Checks `query`: its limit, sort, filters (every problem in one
    /// 422) and cursor, in that order.
    pub fn parse(query: &QuoteListQuery) -> Result<Self, QuoteError> {
        let limit = list::limit(query.limit).map_err(QuoteError::Rejected)?;
        let sort = Sort::parse(query.sort.as_deref(), SORTS, "-createdAt")
            .map_err(QuoteError::Rejected)?;
        let mut errors = Errors::default();
        let mut filter = Filter {
            lead_id: query.lead_id,
            deleted: query.deleted.unwrap_or_default(),
            ..Filter::default()
        };
        if let Some(statuses) = &query.status {
            filter.statuses = list::one_of("status", statuses, QuoteStatus::NAMES, &mut errors)
                .into_iter()
                .filter_map(QuoteStatus::parse)
                .collect();
        }
        if let Some(before) = &query.valid_before
            && let Some(Some(date)) =
                fields::opt_date("validBefore", &Value::from(before.as_str()), &mut errors)
        {
            filter.valid_before = Some(date);
        }
        QuoteError::check(errors)?;
        let cursor = match &query.cursor {
            Some(cursor) => Some(Cursor::decode(cursor, &sort).map_err(QuoteError::Rejected)?),
            None => None,
        };
        Ok(Self {
            limit,
            sort,
            filter,
            cursor,
        })
    }
}

/// A page of the actor's tenant's quotes, with their lines.
pub async fn list(
    tx: &mut Transaction,
    actor: &Principal,
    listing: &Listing,
) -> Result<QuotePage, QuoteError> {
    let Listing {
        limit,
        sort,
        filter,
        cursor,
    } = listing;
    let tenant = actor.tenant_id;
    let rows = store::list(tx, tenant, filter, sort, cursor.as_ref(), *limit).await?;
    let ids: Vec<Uuid> = rows.iter().take(*limit as usize).map(|q| q.id).collect();
    let lines = store::lines(tx, tenant, &ids).await?;
    let today = today();
    let page = list::page(
        &rows,
        *limit,
        sort,
        |q| Cursor {
            key: Arg::Time(if sort.column == "updated_at" {
                q.updated_at
            } else {
                q.created_at
            }),
            id: q.id,
        },
        |q| Quote::of(q, &lines, today),
    );
    Ok(QuotePage {
        data: page.data,
        page_info: page.page_info,
    })
}

/// Every revision of the number of quote `id` (any of them), oldest first.
pub async fn revisions(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
) -> Result<QuoteRevisions, QuoteError> {
    let tenant = actor.tenant_id;
    let quote = store::get(tx, tenant, id)
        .await?
        .ok_or(QuoteError::NotFound)?;
    let rows = store::revisions(tx, tenant, quote.quote_number).await?;
    let ids: Vec<Uuid> = rows.iter().map(|q| q.id).collect();
    let lines: Vec<LineRow> = store::lines(tx, tenant, &ids).await?;
    let today = today();
    Ok(QuoteRevisions {
        data: rows.iter().map(|q| Quote::of(q, &lines, today)).collect(),
    })
}
