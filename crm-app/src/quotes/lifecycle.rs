//! The lifecycle of a quote, for every front end: send a draft, accept or
//! reject a sent quote, revise a sent or rejected one. Each move checks
//! `If-Match`, records a quote event, bumps the version, and moves the
//! quote's lead through [`leads::domain::follow`] where the move wins or
//! quotes it; the audit entry of that lead move is written here, in the
//! same transaction.
//!
//! Accepting a quote wins its lead, so it follows the lead pipeline: a
//! lead that is `lost` must be reopened first, and a soft-deleted lead
//! restored, before its quote can be accepted ([`check_lead`]).

use chrono::{DateTime, Utc};
use ops_kit::audit;
use ops_kit::auth::Principal;
use ops_kit::sql::Transaction;
use serde_json::json;
use uuid::Uuid;

use super::domain::{live, shown, today};
use super::error::QuoteError;
use super::model::{QuoteRow, QuoteStatus};
use super::store;
use super::view::Quote;
use crate::api::caller::Caller;
use crate::api::etag::IfMatch;
use crate::api::now;
use crate::leads;
use crate::leads::model::LeadStatus;

/// A lifecycle move, for [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// [`send`].
    Send,
    /// [`accept`].
    Accept,
    /// [`reject`], for this reason.
    Reject(String),
    /// [`revise`].
    Revise,
}

impl Move {
    /// The move's name, as routes and quote events know it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Accept => "accept",
            Self::Reject(_) => "reject",
            Self::Revise => "revise",
        }
    }
}

/// Makes `step` on the quote `id` (see each move's function); `caller`
/// is the acting user with the request's facts, for the audit entry of a
/// lead move.
pub async fn apply(
    tx: &mut Transaction,
    caller: &Caller,
    id: Uuid,
    if_match: &IfMatch,
    step: Move,
) -> Result<Quote, QuoteError> {
    match step {
        Move::Send => send(tx, caller, id, if_match).await,
        Move::Accept => accept(tx, caller, id, if_match).await,
        Move::Reject(reason) => reject(tx, &caller.principal, id, if_match, reason).await,
        Move::Revise => revise(tx, &caller.principal, id, if_match).await,
    }
}

/// `Ok` when the lead `lead_id`, in `status` and soft-deleted at
/// `deleted_at` (if it is), may be won by accepting its quote.
///
/// ```
/// use crm_app::quotes::lifecycle::check_lead;
/// use crm_app::quotes::error::QuoteError;
/// let lead = uuid::Uuid::new_v4();
/// use crm_app::leads::model::LeadStatus;
/// assert!(check_lead(lead, LeadStatus::Quoted, None).is_ok());
/// assert!(matches!(check_lead(lead, LeadStatus::Lost, None), Err(QuoteError::LeadLost { .. })));
/// assert!(matches!(check_lead(lead, LeadStatus::Quoted, Some(chrono::Utc::now())), Err(QuoteError::LeadDeleted { .. })));
/// ```
pub fn check_lead(
    lead_id: Uuid,
    status: LeadStatus,
    deleted_at: Option<DateTime<Utc>>,
) -> Result<(), QuoteError> {
    if deleted_at.is_some() {
        return Err(QuoteError::LeadDeleted { lead_id });
    }
    if status == LeadStatus::Lost {
        return Err(QuoteError::LeadLost { lead_id, status });
    }
    Ok(())
}

/// The live quote `id`, locked, once `if_match` holds for it and its
/// status is one of `from`; else the move to `action` (a past participle)
/// is refused.
async fn begin(
    tx: &mut Transaction,
    actor: &Principal,
    (id, if_match): (Uuid, &IfMatch),
    from: &[QuoteStatus],
    action: &'static str,
) -> Result<QuoteRow, QuoteError> {
    let quote = live(tx, actor, id).await?;
    if_match
        .check(quote.version)
        .map_err(QuoteError::Rejected)?;
    if !from.contains(&quote.status) {
        return Err(QuoteError::IllegalTransition {
            status: quote.status,
            action,
        });
    }
    Ok(quote)
}

/// Saves the moved quote with its new version and the event `action`.
async fn finish(
    tx: &mut Transaction,
    actor: &Principal,
    quote: &mut QuoteRow,
    action: &str,
    at: DateTime<Utc>,
) -> Result<(), QuoteError> {
    quote.updated_at = at;
    quote.version += 1;
    store::update(tx, quote).await?;
    store::insert_event(tx, quote, action, actor.user_id, at).await?;
    Ok(())
}

/// Moves the quote's lead to `to` when its status is one of `from`, with
/// the status event and its own `lead.status_update` audit entry.
async fn lead_follows(
    tx: &mut Transaction,
    caller: &Caller,
    q: &QuoteRow,
    to: LeadStatus,
    from: &[LeadStatus],
    cause: &str,
) -> Result<(), QuoteError> {
    let note = format!("{cause} {}", q.number());
    let Some(lead) =
        leads::domain::follow(tx, &caller.principal, q.lead_id, to, from, note).await?
    else {
        return Ok(());
    };
    let mut entry = caller.entry("lead.status_update", "lead", lead.id.to_string());
    entry.changes = Some(json!({ "status": to.as_str(), "cause": cause, "quoteId": q.id }));
    audit::record(tx, &entry).await?;
    Ok(())
}

/// Moves the quote's lead to `to` when it is in one of `from` (see
/// [`lead_follows`]; the move's cause is `quote.<action>`), then saves the
/// quote with the event `action`; answers with the quote as shown.
async fn finish_with_lead(
    tx: &mut Transaction,
    caller: &Caller,
    q: &mut QuoteRow,
    action: &str,
    (to, from): (LeadStatus, &[LeadStatus]),
) -> Result<Quote, QuoteError> {
    let cause = format!("quote.{action}");
    lead_follows(tx, caller, q, to, from, &cause).await?;
    finish(tx, &caller.principal, q, action, now()).await?;
    shown(tx, q).await
}

/// Sends a draft with lines to the customer; its lead moves to `quoted`
/// when it was new, contacted or qualified.
pub async fn send(
    tx: &mut Transaction,
    caller: &Caller,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<Quote, QuoteError> {
    let actor = &caller.principal;
    let from = [QuoteStatus::Draft];
    let mut q = begin(tx, actor, (id, if_match), &from, "sent").await?;
    if q.total_minor == 0 && store::lines(tx, q.tenant_id, &[q.id]).await?.is_empty() {
        return Err(QuoteError::Empty);
    }
    q.status = QuoteStatus::Sent;
    q.sent_at = Some(now());
    let leads_from = [
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Qualified,
    ];
    finish_with_lead(
        tx,
        caller,
        &mut q,
        "send",
        (LeadStatus::Quoted, &leads_from),
    )
    .await
}

/// The customer accepted a sent quote that has not expired; its lead
/// moves to `won`. Accepted quotes are locked. A quote whose lead is lost
/// or soft-deleted is refused ([`check_lead`]).
pub async fn accept(
    tx: &mut Transaction,
    caller: &Caller,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<Quote, QuoteError> {
    let actor = &caller.principal;
    let from = [QuoteStatus::Sent];
    let mut q = begin(tx, actor, (id, if_match), &from, "accepted").await?;
    if q.is_expired(today()) {
        return Err(QuoteError::Expired {
            valid_until: q.valid_until,
        });
    }
    if let Some(lead) = leads::store::get_for_update(tx, actor.tenant_id, q.lead_id).await? {
        check_lead(lead.id, lead.status, lead.deleted_at)?;
    }
    q.status = QuoteStatus::Accepted;
    q.accepted_at = Some(now());
    let leads_from = [
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Qualified,
        LeadStatus::Quoted,
    ];
    finish_with_lead(tx, caller, &mut q, "accept", (LeadStatus::Won, &leads_from)).await
}

/// The customer rejected a sent quote, for `reason` (checked by
/// [`Rejection::reason`](super::body::Rejection::reason)).
pub async fn reject(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    reason: String,
) -> Result<Quote, QuoteError> {
    let from = [QuoteStatus::Sent];
    let mut q = begin(tx, actor, (id, if_match), &from, "rejected").await?;
    q.status = QuoteStatus::Rejected;
    q.rejected_at = Some(now());
    q.rejection_reason = Some(reason);
    finish(tx, actor, &mut q, "reject", now()).await?;
    shown(tx, &q).await
}

/// Starts a new revision of a sent or rejected quote: a draft with the
/// same number, `revision + 1` and copies of the same lines, which takes
/// over the external id; the old one is superseded. Answers with the new
/// revision.
pub async fn revise(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<Quote, QuoteError> {
    let from = [QuoteStatus::Sent, QuoteStatus::Rejected];
    let mut q = begin(tx, actor, (id, if_match), &from, "revised").await?;
    let new = q.next_revision(actor.user_id, now());
    q.status = QuoteStatus::Superseded;
    let at = now();
    finish(tx, actor, &mut q, "revise", at).await?;
    // The old revision has given up its externalId (unique per tenant)
    // before the new one takes it.
    store::insert(tx, &new).await?;
    let mut lines = store::lines(tx, q.tenant_id, &[q.id]).await?;
    for line in &mut lines {
        line.id = Uuid::new_v4();
        line.quote_id = new.id;
    }
    store::replace_lines(tx, &new, &lines).await?;
    store::insert_event(tx, &new, "created", actor.user_id, at).await?;
    Ok(Quote::of(&new, &lines, today()))
}
