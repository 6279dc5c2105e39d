//! The lead list: the API's list (filters, sort, cursor pages) as a table,
//! and the same filter as a CSV file.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use ops_kit::ApiError;
use serde::Deserialize;

use super::board::money;
use super::labels;
use super::page::{self, Chrome, Flash, Nav};
use super::staff::{Staff, encode};
use crate::api::list::{Cursor, Deleted, Sort};
use crate::auth::store as auth_store;
use crate::leads::domain::{self, ListFilters};
use crate::leads::model::{Lead, LeadSource, LeadStatus, ProjectType};
use crate::leads::store::{self, SORTS};
use crate::state::AppState;

/// Rows per page of the table.
const PAGE: i64 = 50;

/// The most rows one CSV export holds: as many as one import takes.
const EXPORT_LIMIT: usize = crate::leads::import::MAX_ROWS;

/// Rows read per query while exporting.
const EXPORT_PAGE: i64 = 200;

/// The list's query string (empty means any).
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    deleted: String,
    #[serde(default)]
    cursor: String,
}

impl ListQuery {
    fn sort(&self) -> Result<Sort, ApiError> {
        let requested = (!self.sort.is_empty()).then_some(self.sort.as_str());
        Sort::parse(requested, SORTS, "-createdAt")
    }

    fn filters(&self) -> ListFilters<'_> {
        fn some(s: &str) -> Option<&str> {
            (!s.trim().is_empty()).then_some(s)
        }
        ListFilters {
            status: some(&self.status),
            source: some(&self.source),
            owner_user_id: self.owner.parse().ok(),
            q: some(&self.q),
            deleted: match self.deleted.as_str() {
                "include" => Deleted::Include,
                "only" => Deleted::Only,
                _ => Deleted::Exclude,
            },
            ..ListFilters::default()
        }
    }

    /// The filters and sort as a query string, without the cursor.
    fn query_string(&self) -> String {
        [
            ("q", &self.q),
            ("status", &self.status),
            ("owner", &self.owner),
            ("source", &self.source),
            ("sort", &self.sort),
            ("deleted", &self.deleted),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| format!("{n}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
    }
}

struct Row {
    id: uuid::Uuid,
    external_id: String,
    name: String,
    company: String,
    email: String,
    phone: String,
    status: LeadStatus,
    source: LeadSource,
    project_type: ProjectType,
    /// Shown: `18,450.00 USD`.
    value: String,
    /// As the API writes it: `18450.00`.
    amount: String,
    currency: String,
    owner: String,
    owner_email: String,
    tags: String,
    site_address: String,
    desired_install_date: String,
    notes: String,
    updated: String,
}

async fn rows(
    state: &AppState,
    staff: &Staff,
    query: &ListQuery,
    limit: i64,
) -> Result<(Vec<Row>, Option<String>, Vec<auth_store::UserRow>), ApiError> {
    let sort = query.sort()?;
    let filter = query.filters().check()?;
    let cursor = (!query.cursor.is_empty())
        .then(|| Cursor::decode(&query.cursor, &sort))
        .transpose()?;
    crate::api::read(state, &staff.principal, async |tx| {
        let users = auth_store::users(tx, staff.principal.tenant_id)
            .await
            .map_err(ApiError::database)?;
        let found =
            domain::list(tx, &staff.principal, &filter, &sort, cursor.as_ref(), limit).await?;
        let leads = found.leads().map_err(ApiError::database)?;
        let shown = &leads[..leads.len().min(limit as usize)];
        let next = (leads.len() as i64 > limit)
            .then(|| {
                shown
                    .last()
                    .map(|l| store::sort_key(l, &sort).encode(&sort))
            })
            .flatten();
        let owner = |l: &Lead<'_>| {
            l.owner_user_id
                .and_then(|o| users.iter().find(|u| u.id == o))
        };
        let rows = shown
            .iter()
            .map(|l| Row {
                id: l.id,
                external_id: l.external_id.unwrap_or_default().to_owned(),
                name: l.name.to_owned(),
                company: l.company.unwrap_or_default().to_owned(),
                email: l.email.unwrap_or_default().to_owned(),
                phone: l.phone.unwrap_or_default().to_owned(),
                status: l.status,
                source: l.source,
                project_type: l.project_type,
                value: l
                    .estimated_value
                    .map(|a| money(a, l.currency))
                    .unwrap_or_default(),
                amount: l
                    .estimated_value
                    .map(|a| a.format_to(&mut [0; 32]).to_owned())
                    .unwrap_or_default(),
                currency: l.currency.unwrap_or_default().to_owned(),
                owner: owner(l).map(|u| u.name.clone()).unwrap_or_default(),
                owner_email: owner(l).map(|u| u.email.clone()).unwrap_or_default(),
                tags: l.tags.join("; "),
                site_address: l.site_address.unwrap_or_default().to_owned(),
                desired_install_date: l
                    .desired_install_date
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                notes: l.notes.unwrap_or_default().to_owned(),
                updated: l.updated_at.format("%Y-%m-%d").to_string(),
            })
            .collect();
        Ok::<_, ApiError>((rows, next, users))
    })
    .await
}

/// `GET /leads`.
pub(super) async fn list(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let (rows, next, users) = match rows(&state, &staff, &query, PAGE).await {
        Ok(found) => found,
        Err(err) if err.status().is_client_error() => {
            return page::redirect(
                "/leads",
                Some(Flash::problem(format!(
                    "Those filters could not be used: {}",
                    page::sentence(err.message())
                ))),
            );
        }
        Err(err) => return page::api_error(Some(&staff), err),
    };
    let flash = Flash::from_headers(&headers);
    let cleared = flash.is_some();
    let qs = query.query_string();
    let markup = page::document(
        Chrome {
            title: "Leads",
            staff: Some(&staff),
            flash,
            nav: Nav::Leads,
        },
        html! {
            h1 { "Leads" }
            (filters(&query, &users))
            p.actions {
                a href={ "/leads.csv" @if !qs.is_empty() { "?" (qs) } } download { "Export these leads as CSV" }
                a href="/leads/import" { "Import leads from a CSV file" }
            }
            @if rows.is_empty() {
                p { "No leads match." }
            } @else {
                table {
                    caption.visually-hidden { "Leads" }
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Company" } th scope="col" { "Status" }
                        th scope="col" { "Source" } th scope="col" { "Estimated value" } th scope="col" { "Owner" } th scope="col" { "Updated" }
                    } }
                    tbody {
                        @for row in &rows {
                            tr {
                                td { a href={ "/leads/" (row.id) } { (row.name) } }
                                td { (row.company) }
                                td { (labels::status(row.status)) }
                                td { (labels::source(row.source)) }
                                td { (row.value) }
                                td { (row.owner) }
                                td { (row.updated) }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = &next {
                p { a.more href={ "/leads?" @if !qs.is_empty() { (qs) "&" } "cursor=" (encode(next)) } { "Next " (PAGE) " leads" } }
            }
        },
    );
    page::respond(StatusCode::OK, markup, cleared)
}

fn filters(query: &ListQuery, users: &[auth_store::UserRow]) -> Markup {
    html! {
        form.filters method="get" action="/leads" role="search" aria-label="Filter the leads" {
            div.field {
                label for="l-q" { "Search" }
                input #l-q type="search" name="q" value=(query.q);
            }
            div.field {
                label for="l-status" { "Status" }
                select #l-status name="status" {
                    option value="" { "Any" }
                    @for s in LeadStatus::ALL { option value=(s.as_str()) selected[query.status == s.as_str()] { (labels::status(*s)) } }
                }
            }
            div.field {
                label for="l-owner" { "Owner" }
                select #l-owner name="owner" {
                    option value="" { "Anyone" }
                    @for u in users { option value=(u.id) selected[query.owner == u.id.to_string()] { (u.name) } }
                }
            }
            div.field {
                label for="l-source" { "Source" }
                select #l-source name="source" {
                    option value="" { "Any" }
                    @for s in LeadSource::ALL { option value=(s.as_str()) selected[query.source == s.as_str()] { (labels::source(*s)) } }
                }
            }
            div.field {
                label for="l-sort" { "Sort" }
                select #l-sort name="sort" {
                    @for (value, label) in [("-createdAt", "Newest first"), ("createdAt", "Oldest first"), ("-updatedAt", "Recently changed"), ("name", "Name A–Z"), ("-name", "Name Z–A")] {
                        option value=(value) selected[query.sort == value] { (label) }
                    }
                }
            }
            div.field {
                label for="l-deleted" { "Deleted leads" }
                select #l-deleted name="deleted" {
                    option value="" { "Hidden" }
                    option value="include" selected[query.deleted == "include"] { "Shown too" }
                    option value="only" selected[query.deleted == "only"] { "Only deleted" }
                }
            }
            button type="submit" { "Filter" }
        }
    }
}

/// A CSV field, quoted when it must be, and never read as a formula by a
/// spreadsheet (a leading `=`, `+`, `-` or `@` is prefixed with `'`).
pub(super) fn csv_field(value: &str) -> String {
    let value = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// The columns of the export, in the import's words: an exported file
/// can be edited in a spreadsheet and imported again.
const EXPORT_COLUMNS: &str = "id,external_id,name,company,email,phone,status,source,project_type,\
     estimated_value,currency,owner,tags,site_address,desired_install_date,notes,updated_at";

/// `GET /leads.csv`: the list's filter as CSV, in its order, up to
/// [`EXPORT_LIMIT`] rows (what one import takes).
pub(super) async fn export(
    State(state): State<AppState>,
    staff: Staff,
    Query(mut query): Query<ListQuery>,
) -> Response {
    let mut out = format!("{EXPORT_COLUMNS}\r\n");
    let mut written = 0;
    loop {
        let (rows, next, _) = match rows(&state, &staff, &query, EXPORT_PAGE).await {
            Ok(found) => found,
            Err(err) => return page::api_error(Some(&staff), err),
        };
        for row in &rows {
            let fields = [
                row.id.to_string(),
                row.external_id.clone(),
                row.name.clone(),
                row.company.clone(),
                row.email.clone(),
                row.phone.clone(),
                row.status.as_str().to_owned(),
                row.source.as_str().to_owned(),
                row.project_type.as_str().to_owned(),
                row.amount.clone(),
                row.currency.clone(),
                row.owner_email.clone(),
                row.tags.clone(),
                row.site_address.clone(),
                row.desired_install_date.clone(),
                row.notes.clone(),
                row.updated.clone(),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
        written += rows.len();
        match next {
            Some(next) if written < EXPORT_LIMIT => query.cursor = next,
            _ => break,
        }
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"leads.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_field_is_quoted_and_never_a_formula() {
        assert_eq!(csv_field("Oak & Ash"), "Oak & Ash");
        assert_eq!(csv_field("Smith, Jones"), "\"Smith, Jones\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    }
}
