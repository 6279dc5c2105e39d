//! The pipeline board: a column per status in pipeline order, with its
//! count and per-currency totals, the most recently changed cards first
//! and more on demand; moving a card (a form on each card, or drag and
//! drop through the script) calls the API's pipeline move.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use maud::{Markup, html};
use ops_kit::ApiError;
use ops_kit::audit::{self, AuditContext};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::form::{CsrfForm, PathId, if_match};
use super::labels;
use super::page::{self, Chrome, Flash, Nav};
use super::staff::{Staff, encode};
use crate::api::list::{Cursor, Sort};
use crate::api::money::Amount;
use crate::auth::store::{self as auth_store, UserRow};
use crate::leads::domain::{self, LeadError, ListFilters, Transition};
use crate::leads::model::{Lead, LeadSource, LeadStatus, LostReason, ProjectType, StatusSummary};
use crate::leads::store::{self, SORTS};
use crate::state::AppState;

/// Cards per column before "Show more".
pub(super) const CARDS_PER_COLUMN: i64 = 25;

/// A card is stale after this many days in an open stage.
pub(super) const STALE_AFTER_DAYS: i64 = 14;

/// The board's filters, as its form sends them (empty means any).
#[derive(Debug, Default, Deserialize)]
pub(super) struct BoardQuery {
    #[serde(default)]
    owner: String,
    #[serde(default)]
    project_type: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
}

impl BoardQuery {
    fn is_filtered(&self) -> bool {
        !(self.owner.is_empty()
            && self.project_type.is_empty()
            && self.source.is_empty()
            && self.q.trim().is_empty())
    }

    /// The filters as a query string (for links that keep them).
    fn query_string(&self) -> String {
        let mut parts = Vec::new();
        for (name, value) in [
            ("owner", &self.owner),
            ("project_type", &self.project_type),
            ("source", &self.source),
            ("q", &self.q),
        ] {
            if !value.is_empty() {
                parts.push(format!("{name}={}", encode(value)));
            }
        }
        parts.join("&")
    }

    fn filters<'q>(&'q self, status: LeadStatus) -> ListFilters<'q> {
        let some = |s: &'q String| (!s.trim().is_empty()).then_some(s.as_str());
        ListFilters {
            status: Some(status.as_str()),
            source: some(&self.source),
            project_type: some(&self.project_type),
            owner_user_id: self.owner.parse().ok(),
            q: some(&self.q),
            ..ListFilters::default()
        }
    }
}

/// One card as the board shows it.
struct Card {
    id: Uuid,
    name: String,
    company: Option<String>,
    project_type: ProjectType,
    value: Option<String>,
    owner: Option<String>,
    status: LeadStatus,
    days_in_stage: i64,
    version: i64,
}

impl Card {
    fn of(lead: &Lead<'_>, owners: &HashMap<Uuid, String>) -> Self {
        Self {
            id: lead.id,
            name: lead.name.to_owned(),
            company: lead.company.map(str::to_owned),
            project_type: lead.project_type,
            value: lead.estimated_value.map(|a| money(a, lead.currency)),
            owner: lead.owner_user_id.and_then(|o| owners.get(&o).cloned()),
            status: lead.status,
            days_in_stage: (Utc::now() - lead.status_changed_at).num_days(),
            version: lead.version,
        }
    }

    fn is_stale(&self) -> bool {
        !matches!(self.status, LeadStatus::Won | LeadStatus::Lost)
            && self.days_in_stage >= STALE_AFTER_DAYS
    }
}

struct Column {
    status: LeadStatus,
    cards: Vec<Card>,
    next: Option<String>,
}

/// `18450.00` as `18,450.00 USD`.
pub(super) fn money(amount: Amount, currency: Option<&str>) -> String {
    grouped(amount.format_to(&mut [0; 32]), currency.unwrap_or(""))
}

/// Thousands separators in a decimal string, then the currency.
pub(super) fn grouped(decimal: &str, currency: &str) -> String {
    let (int, frac) = decimal.split_once('.').unwrap_or((decimal, ""));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut out = String::from(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if !currency.is_empty() {
        out.push(' ');
        out.push_str(currency);
    }
    out
}

fn sort() -> Sort {
    Sort::parse(Some("-updatedAt"), SORTS, "-updatedAt").expect("a listed sort")
}

async fn column(
    tx: &mut ops_kit::sql::Transaction,
    staff: &Staff,
    query: &BoardQuery,
    status: LeadStatus,
    cursor: Option<&Cursor>,
    owners: &HashMap<Uuid, String>,
) -> Result<Column, ApiError> {
    let filter = query.filters(status).check()?;
    let sort = sort();
    let rows = domain::list(
        tx,
        &staff.principal,
        &filter,
        &sort,
        cursor,
        CARDS_PER_COLUMN,
    )
    .await?;
    let leads = rows.leads().map_err(ApiError::database)?;
    let more = leads.len() as i64 > CARDS_PER_COLUMN;
    let shown = &leads[..leads.len().min(CARDS_PER_COLUMN as usize)];
    let next = more
        .then(|| {
            shown
                .last()
                .map(|l| store::sort_key(l, &sort).encode(&sort))
        })
        .flatten();
    Ok(Column {
        status,
        cards: shown.iter().map(|l| Card::of(l, owners)).collect(),
        next,
    })
}

fn owner_names(users: &[UserRow]) -> HashMap<Uuid, String> {
    users.iter().map(|u| (u.id, u.name.clone())).collect()
}

/// `GET /`: the board.
pub(super) async fn board(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    Query(query): Query<BoardQuery>,
) -> Response {
    let loaded = crate::api::read(&state, &staff.principal, async |tx| {
        let users = auth_store::users(tx, staff.principal.tenant_id)
            .await
            .map_err(ApiError::database)?;
        let owners = owner_names(&users);
        let mut columns = Vec::with_capacity(LeadStatus::ALL.len());
        for &status in LeadStatus::ALL {
            columns.push(column(tx, &staff, &query, status, None, &owners).await?);
        }
        let summary = domain::summary(tx, &staff.principal).await?;
        Ok::<_, ApiError>((users, columns, summary.data))
    })
    .await;
    let (users, columns, summary) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => return board_problem(&staff, err),
    };
    let flash = Flash::from_headers(&headers);
    let cleared = flash.is_some();
    let markup = page::document(
        Chrome {
            title: "Pipeline",
            staff: Some(&staff),
            flash,
            nav: Nav::Board,
        },
        html! {
            h1 { "Pipeline" }
            (filters(&query, &users))
            div #announce.visually-hidden aria-live="assertive" {}
            div.board {
                @for column in &columns {
                    @let counts = if query.is_filtered() {
                        Counts::Shown
                    } else {
                        Counts::All(summary.iter().find(|s| s.status == column.status))
                    };
                    (column_markup(&staff, column, counts, &query))
                }
            }
        },
    );
    page::respond(StatusCode::OK, markup, cleared)
}

fn board_problem(staff: &Staff, err: ApiError) -> Response {
    if err.status() == StatusCode::UNPROCESSABLE_ENTITY || err.status() == StatusCode::BAD_REQUEST {
        return page::redirect(
            "/",
            Some(Flash::problem(format!(
                "Those filters could not be used: {}",
                page::sentence(err.message())
            ))),
        );
    }
    page::api_error(Some(staff), err)
}

fn filters(query: &BoardQuery, users: &[UserRow]) -> Markup {
    html! {
        form.filters method="get" action="/" role="search" aria-label="Filter the board" {
            div.field {
                label for="f-q" { "Search" }
                input #f-q type="search" name="q" value=(query.q) placeholder="Name, company, email or phone";
            }
            div.field {
                label for="f-owner" { "Owner" }
                select #f-owner name="owner" {
                    option value="" { "Anyone" }
                    @for user in users {
                        option value=(user.id) selected[query.owner == user.id.to_string()] { (user.name) }
                    }
                }
            }
            div.field {
                label for="f-project" { "Project type" }
                select #f-project name="project_type" {
                    option value="" { "Any" }
                    @for kind in ProjectType::ALL {
                        option value=(kind.as_str()) selected[query.project_type == kind.as_str()] { (labels::project_type(*kind)) }
                    }
                }
            }
            div.field {
                label for="f-source" { "Source" }
                select #f-source name="source" {
                    option value="" { "Any" }
                    @for source in LeadSource::ALL {
                        option value=(source.as_str()) selected[query.source == source.as_str()] { (labels::source(*source)) }
                    }
                }
            }
            button type="submit" { "Filter" }
            @if query.is_filtered() {
                a href="/" { "Clear filters" }
            }
        }
    }
}

/// "A new lead can move to contacted, qualified or lost."
fn moves_sentence(status: LeadStatus) -> String {
    format!(
        "A {} lead can move to {}.",
        labels::status(status).to_lowercase(),
        labels::statuses_or(status.allowed())
    )
}

/// What a column's header counts.
enum Counts<'a> {
    /// Every lead of the status (the board without filters).
    All(Option<&'a StatusSummary>),
    /// The cards shown (filtered, or a page of more cards).
    Shown,
}

fn column_markup(staff: &Staff, column: &Column, counts: Counts<'_>, query: &BoardQuery) -> Markup {
    let status = column.status;
    let heading = format!("col-{}", status.as_str());
    html! {
        section.column data-status=(status.as_str()) aria-labelledby=(heading) {
            header {
                h2 id=(heading) { (labels::status(status)) }
                @match counts {
                    Counts::Shown => {
                        p.count { (column.cards.len()) @if column.next.is_some() { "+" } " shown" }
                    }
                    Counts::All(Some(summary)) => {
                        p.count { (summary.count) @if summary.count == 1 { " lead" } @else { " leads" } }
                        @for total in &summary.totals {
                            p.total { (grouped(&total.estimated_value, &total.currency)) }
                        }
                    }
                    Counts::All(None) => { p.count { "0 leads" } }
                }
            }
            ol.cards {
                @for card in &column.cards {
                    (card_markup(staff, card))
                }
            }
            @if let Some(next) = &column.next {
                @let filters = query.query_string();
                a.more href={ "/board/" (status.as_str()) "?cursor=" (encode(next)) @if !filters.is_empty() { "&" (filters) } } {
                    "Show more " (labels::status(status).to_lowercase()) " leads"
                }
            }
        }
    }
}

/// The moves `staff` may make from `status` (reopening a won lead is for
/// admins, as in the API).
pub(super) fn moves_for(staff: &Staff, status: LeadStatus) -> Vec<LeadStatus> {
    status
        .allowed()
        .iter()
        .copied()
        .filter(|to| staff.is_admin() || !status.admin_only(*to))
        .collect()
}

fn card_markup(staff: &Staff, card: &Card) -> Markup {
    let allowed = moves_for(staff, card.status);
    let allowed = allowed.as_slice();
    let allowed_names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    let menu = format!("move-{}", card.id);
    html! {
        li.card.stale[card.is_stale()] id={ "card-" (card.id) } draggable="true"
            data-lead=(card.id) data-status=(card.status.as_str())
            data-allowed=(allowed_names.join(" ")) data-explain=(moves_sentence(card.status)) {
            a.card-name href={ "/leads/" (card.id) } { (card.name) }
            @if let Some(company) = &card.company { p.company { (company) } }
            p.meta {
                span { (labels::project_type(card.project_type)) }
                @if let Some(value) = &card.value { " · " span.value { (value) } }
            }
            p.meta {
                span { (card.owner.as_deref().unwrap_or("No owner")) }
                " · "
                span.age { (card.days_in_stage) @if card.days_in_stage == 1 { " day" } @else { " days" } " in stage" }
                @if card.is_stale() { " · " strong.stale-flag { "stale" } }
            }
            @if !allowed.is_empty() {
                details.move {
                    summary aria-controls=(menu) { "Move" span.visually-hidden { " " (card.name) } }
                    form.move-form id=(menu) method="post" action={ "/leads/" (card.id) "/status" } {
                        input type="hidden" name="csrf_token" value=(staff.csrf_token());
                        input type="hidden" name="version" value=(card.version);
                        div.field {
                            label for={ (menu) "-to" } { "Move to" }
                            select id={ (menu) "-to" } name="to" {
                                @for to in allowed {
                                    option value=(to.as_str()) { (labels::status(*to)) }
                                }
                            }
                        }
                        @if allowed.contains(&LeadStatus::Lost) {
                            div.field.lost-reason {
                                label for={ (menu) "-reason" } { "Reason, if lost" }
                                select id={ (menu) "-reason" } name="lost_reason" {
                                    option value="" { "Choose a reason" }
                                    @for reason in LostReason::ALL {
                                        option value=(reason.as_str()) { (labels::lost_reason(*reason)) }
                                    }
                                }
                            }
                        }
                        button type="submit" { "Move lead" }
                    }
                }
            }
        }
    }
}

/// `GET /board/{status}`: the next cards of one column.
pub(super) async fn column_page(
    State(state): State<AppState>,
    staff: Staff,
    Path(status): Path<String>,
    Query(query): Query<BoardQuery>,
) -> Response {
    let Some(status) = LeadStatus::parse(&status) else {
        return page::problem(
            StatusCode::NOT_FOUND,
            Some(&staff),
            "Not found",
            "There is no such column on the board.",
        );
    };
    let cursor = match (!query.cursor.is_empty())
        .then(|| Cursor::decode(&query.cursor, &sort()))
        .transpose()
    {
        Ok(cursor) => cursor,
        Err(_) => {
            return page::redirect(
                "/",
                Some(Flash::problem(
                    "That page of the board has expired; here is the board as it is now.",
                )),
            );
        }
    };
    let loaded = crate::api::read(&state, &staff.principal, async |tx| {
        let users = auth_store::users(tx, staff.principal.tenant_id)
            .await
            .map_err(ApiError::database)?;
        column(
            tx,
            &staff,
            &query,
            status,
            cursor.as_ref(),
            &owner_names(&users),
        )
        .await
    })
    .await;
    let column = match loaded {
        Ok(column) => column,
        Err(err) => return board_problem(&staff, err),
    };
    let title = format!("{} leads", labels::status(status));
    let markup = page::document(
        Chrome {
            title: &title,
            staff: Some(&staff),
            flash: None,
            nav: Nav::Board,
        },
        html! {
            h1 { (title) }
            p { a href={ "/?" (query.query_string()) } { "Back to the board" } }
            div.board.single {
                (column_markup(&staff, &column, Counts::Shown, &query))
            }
        },
    );
    page::respond(StatusCode::OK, markup, false)
}

/// The move form of a card.
#[derive(Debug, Deserialize)]
pub(super) struct MoveForm {
    to: String,
    #[serde(default)]
    lost_reason: String,
    version: Option<i64>,
    #[serde(default)]
    back: String,
}

/// `POST /leads/{id}/status`: the pipeline move, as the API makes it, then
/// back to the board (or the lead's page) with what happened.
pub(super) async fn lead_move(
    State(state): State<AppState>,
    staff: Staff,
    facts: AuditContext,
    PathId(id): PathId,
    CsrfForm(form): CsrfForm<MoveForm>,
) -> Response {
    let back = if form.back.starts_with("/leads/") && !form.back.starts_with("//") {
        form.back.clone()
    } else {
        "/".to_owned()
    };
    let Some(to) = LeadStatus::parse(&form.to) else {
        return page::redirect(
            &back,
            Some(Flash::problem("Choose a stage to move the lead to.")),
        );
    };
    let lost_reason = LostReason::parse(&form.lost_reason);
    if to == LeadStatus::Lost && lost_reason.is_none() {
        return page::redirect(
            &back,
            Some(Flash::problem(
                "Choose why the lead was lost before moving it to Lost.",
            )),
        );
    }
    let if_match = if_match(form.version);
    let change = Transition {
        to,
        lost_reason: if to == LeadStatus::Lost {
            lost_reason
        } else {
            None
        },
        note: None,
    };
    let moved = async {
        let mut tx = state
            .pool
            .begin_for_tenant(staff.principal.tenant_id)
            .await
            .map_err(MoveError::Database)?;
        let written = domain::transition(&mut tx, &staff.principal, id, &if_match, change)
            .await
            .map_err(MoveError::Lead)?;
        if written.changed {
            let mut entry = facts.entry("lead.status_update", "lead", id.to_string());
            entry.changes = Some(json!({
                "status": to.as_str(),
                "lostReason": lost_reason.map(|r| r.as_str()),
            }));
            audit::record(&mut tx, &entry)
                .await
                .map_err(|e| MoveError::Api(e.into()))?;
            tx.commit().await.map_err(MoveError::Database)?;
        } else {
            tx.rollback().await.map_err(MoveError::Database)?;
        }
        Ok::<_, MoveError>(written.lead)
    };
    match moved.await {
        Ok(lead) => page::redirect(
            &back,
            Some(Flash::done(format!(
                "Moved “{}” to {}.",
                lead.name,
                labels::status(to)
            ))),
        ),
        Err(MoveError::Lead(err)) => match refusal(&err) {
            Some(text) => page::redirect(&back, Some(Flash::problem(text))),
            None => page::api_error(Some(&staff), err.into()),
        },
        Err(MoveError::Database(err)) => page::api_error(Some(&staff), ApiError::database(err)),
        Err(MoveError::Api(err)) => page::api_error(Some(&staff), err),
    }
}

enum MoveError {
    Lead(LeadError),
    Database(sqlx::Error),
    Api(ApiError),
}

/// What staff read when the pipeline refuses a move.
fn refusal(err: &LeadError) -> Option<String> {
    Some(match err {
        LeadError::IllegalTransition { from, to } => format!(
            "A lead can't move from {} to {}. {}",
            labels::status(*from),
            labels::status(*to),
            moves_sentence(*from)
        ),
        LeadError::VersionMismatch { .. } => {
            "Someone else changed this lead a moment ago, so it was not moved. The board shows it as it is now: try again if the move still makes sense.".into()
        }
        LeadError::AdminOnly => "Only an admin can reopen a won lead.".into(),
        LeadError::NotFound => "That lead no longer exists.".into(),
        LeadError::Invalid(fields) => fields
            .iter()
            .map(|f| page::sentence(&format!("{} {}", f.field, f.message)))
            .collect::<Vec<_>>()
            .join(" "),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_grouped_by_thousands() {
        assert_eq!(grouped("18450.00", "USD"), "18,450.00 USD");
        assert_eq!(grouped("950.5", ""), "950.5");
        assert_eq!(grouped("1234567", "JPY"), "1,234,567 JPY");
        assert_eq!(grouped("-1000.00", "EUR"), "-1,000.00 EUR");
    }

    #[test]
    fn a_refused_move_names_the_allowed_ones() {
        let err = LeadError::IllegalTransition {
            from: LeadStatus::New,
            to: LeadStatus::Won,
        };
        assert_eq!(
            refusal(&err).unwrap(),
            "A lead can't move from New to Won. A new lead can move to contacted, qualified or lost."
        );
    }
}
