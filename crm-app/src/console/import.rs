//! Importing leads from a CSV file: the upload form, the preview (every
//! row checked by the API's rules and matched to the lead it would update,
//! nothing written), and the import's progress until it is done. The
//! rules are [`crate::leads::import`]'s; these handlers read the form,
//! call it, and show what it answers.

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use ops_kit::ApiError;
use ops_kit::audit::AuditContext;
use ops_kit::auth::Principal;
use ops_kit::web::csrf;
use uuid::Uuid;

use super::form::{CsrfForm, PathId, check_csrf, unreadable};
use super::labels;
use super::page::{self, Chrome, Flash, Nav};
use super::staff::Staff;
use crate::leads::import::{self, ImportError, ImportState, LeadImport, Problem, Refused};
use crate::state::AppState;

/// Where the file is posted.
pub(crate) const UPLOAD_PATH: &str = "/leads/import";

/// The largest file taken (20,000 rows of a dozen columns fit well).
pub(crate) const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// Rows of the file shown as a sample in the preview.
const SAMPLE: usize = 20;

/// Refused rows listed in full (the count says how many more).
const LISTED: usize = 500;

/// The currencies offered for values without one.
const CURRENCIES: &[&str] = &["USD", "CAD", "EUR", "GBP", "AUD", "NZD"];

/// `GET /leads/import`.
pub(super) async fn upload_page(staff: Staff, headers: HeaderMap) -> Response {
    let flash = Flash::from_headers(&headers);
    let cleared = flash.is_some();
    page::respond(StatusCode::OK, upload_form(&staff, flash, None), cleared)
}

fn upload_form(staff: &Staff, flash: Option<Flash>, problem: Option<&str>) -> Markup {
    let errors: Vec<(String, String)> = problem
        .map(|p| vec![("file".to_owned(), p.to_owned())])
        .unwrap_or_default();
    page::document(
        Chrome {
            title: "Import leads",
            staff: Some(staff),
            flash,
            nav: Nav::Leads,
        },
        html! {
            h1 { "Import leads from a CSV file" }
            (page::error_summary(&errors))
            p { "Nothing is written until you have seen the preview and chosen to import." }
            form.stack method="post" action=(UPLOAD_PATH) enctype="multipart/form-data" {
                input type="hidden" name=(csrf::FIELD) value=(staff.csrf_token());
                div.field {
                    label for="file" { "CSV file" }
                    p.help id="file-hint" {
                        "The first row names the columns. A row updates the lead with the same id, external id or email, and adds a new lead otherwise. Blank cells leave a field as it is."
                    }
                    (page::field_error(&errors, "file"))
                    input #file type="file" name="file" accept=".csv,text/csv" required
                        aria-describedby={ "file-hint" @if problem.is_some() { " file-error" } }
                        aria-invalid=[problem.map(|_| "true")];
                }
                div.field {
                    label for="currency" { "Currency of values without one" }
                    select #currency name="currency" {
                        @for c in CURRENCIES { option value=(c) { (c) } }
                    }
                }
                button.primary type="submit" { "Preview the import" }
            }
            h2 { "Columns" }
            p { "Headers are matched whatever their case or spacing; the console's own export can be imported as it is." }
            table {
                caption.visually-hidden { "The columns an import reads" }
                thead { tr { th scope="col" { "Column" } th scope="col" { "Also read as" } } }
                tbody {
                    tr { td { "name" } td { "Customer, Contact, Full name" } }
                    tr { td { "company" } td { "Business, Organisation" } }
                    tr { td { "email" } td { "Email address" } }
                    tr { td { "phone" } td { "Phone number, Telephone, Mobile" } }
                    tr { td { "external_id" } td { "Reference" } }
                    tr { td { "source" } td { "Lead source (Web form, Referral, Showroom…)" } }
                    tr { td { "project_type" } td { "Project, Job type (Kitchen, Built-in…)" } }
                    tr { td { "estimated_value" } td { "Value, Estimate, Amount ($18,450.00 is read as 18450.00)" } }
                    tr { td { "currency" } td { "" } }
                    tr { td { "owner" } td { "Owner email, Assigned to (a user's email or name)" } }
                    tr { td { "tags" } td { "Labels, separated by ; " } }
                    tr { td { "site_address" } td { "Address" } }
                    tr { td { "desired_install_date" } td { "Install date (YYYY-MM-DD)" } }
                    tr { td { "notes" } td { "Comments" } }
                }
            }
        },
    )
}

/// `POST /leads/import`: reads the file and shows its preview.
pub(super) async fn upload(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let mut token = None;
    let mut currency = String::from("USD");
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return unreadable(Some(&staff)),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let Ok(bytes) = field.bytes().await else {
            return unreadable(Some(&staff));
        };
        match name.as_str() {
            csrf::FIELD => token = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "currency" => currency = String::from_utf8_lossy(&bytes).into_owned(),
            "file" => file = Some((file_name.unwrap_or_default(), bytes.to_vec())),
            _ => {}
        }
    }
    if let Err(refused) = check_csrf(&state, Some(&staff), &headers, token.as_deref()) {
        return *refused;
    }
    if !CURRENCIES.contains(&currency.as_str()) {
        return unreadable(Some(&staff));
    }
    let Some((file_name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return page::respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            upload_form(&staff, None, Some("Choose a CSV file to import.")),
            false,
        );
    };
    let previewed = async {
        let mut tx = state
            .pool
            .begin_for_tenant(staff.principal.tenant_id)
            .await?;
        let import =
            import::preview(&mut tx, &staff.principal, &file_name, &bytes, &currency).await?;
        tx.commit().await?;
        Ok::<_, ImportError>(import)
    };
    match previewed.await {
        Ok(import) => page::redirect(&import_path(import.id), None),
        Err(ImportError::Sheet(problem)) => page::respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            upload_form(
                &staff,
                None,
                Some(&format!(
                    "The file could not be read: {problem}. Save it from your spreadsheet as “CSV UTF-8” and try again."
                )),
            ),
            false,
        ),
        Err(err) => failed(&staff, err),
    }
}

fn import_path(id: Uuid) -> String {
    format!("/leads/imports/{id}")
}

fn failed(staff: &Staff, err: ImportError) -> Response {
    match err {
        ImportError::NotFound => page::problem(
            StatusCode::NOT_FOUND,
            Some(staff),
            "Not found",
            "There is no such import. It may have been discarded.",
        ),
        ImportError::Lead(err) => page::api_error(Some(staff), err.into()),
        ImportError::Db(err) => page::api_error(Some(staff), ApiError::database(err)),
        other => page::api_error(Some(staff), ApiError::internal(other)),
    }
}

/// `GET /leads/imports/{id}`: the preview, the progress or the result.
pub(super) async fn import_page(
    State(state): State<AppState>,
    staff: Staff,
    facts: AuditContext,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Response {
    let found = async {
        let mut tx = state
            .pool
            .begin_for_tenant(staff.principal.tenant_id)
            .await?;
        let taken = import::take_over(&mut tx, &staff.principal, id).await?;
        let import = import::get(&mut tx, &staff.principal, id).await?;
        tx.commit().await?;
        Ok::<_, ImportError>((import, taken))
    };
    let (import, taken) = match found.await {
        Ok(found) => found,
        Err(err) => return failed(&staff, err),
    };
    if taken {
        // Its task stopped (a restart, say): this request's carries on.
        spawn(&state, staff.principal.clone(), facts, id);
    }
    let flash = Flash::from_headers(&headers);
    let cleared = flash.is_some();
    let title = match import.state() {
        ImportState::Previewed => "Import preview",
        ImportState::Running => "Importing leads",
        ImportState::Done => "Import finished",
    };
    let markup = page::document(
        Chrome {
            title,
            staff: Some(&staff),
            flash,
            nav: Nav::Leads,
        },
        match import.state() {
            ImportState::Previewed => preview(&staff, &import),
            ImportState::Running => progress(&import),
            ImportState::Done => result(&import),
        },
    );
    page::respond(StatusCode::OK, markup, cleared)
}

fn count(n: usize, one: &str, many: &str) -> String {
    let n_text = super::board::grouped(&n.to_string(), "");
    format!("{n_text} {}", if n == 1 { one } else { many })
}

fn preview(staff: &Staff, import: &LeadImport) -> Markup {
    let rows = &import.rows.0;
    let updates = rows.iter().filter(|r| r.matches.is_some()).count();
    let again = rows.iter().filter(|r| r.after_line.is_some()).count();
    let new = rows.len() - updates - again;
    let refused = &import.refused.0;
    html! {
        h1 { "Import preview: " (import.file_name) }
        p { "Nothing has been written yet." }
        ul.summary {
            li { (count(new, "new lead", "new leads")) }
            li { (count(updates, "row updates an existing lead", "rows update existing leads")) }
            @if again > 0 {
                li { (count(again, "row updates a lead an earlier row of the file writes", "rows update leads earlier rows of the file write")) }
            }
            li { (count(refused.len(), "row will not be imported", "rows will not be imported")) }
        }
        @if !import.ignored.0.is_empty() {
            h2 { "Columns not imported" }
            ul {
                @for column in &import.ignored.0 {
                    li { "“" (column.column) "”: " (column.why) "." }
                }
            }
        }
        @if !refused.is_empty() {
            (refused_table("Rows that will not be imported", refused))
        }
        @if !rows.is_empty() {
            h2 { "The first rows" }
            table {
                caption.visually-hidden { "The first rows of the file" }
                thead { tr {
                    th scope="col" { "Line" } th scope="col" { "Name" } th scope="col" { "Email" }
                    th scope="col" { "Company" } th scope="col" { "What happens" }
                } }
                tbody {
                    @for row in rows.iter().take(SAMPLE) {
                        tr {
                            td { (row.line) }
                            td { (text(row, "name")) }
                            td { (text(row, "email")) }
                            td { (text(row, "company")) }
                            td {
                                @if let Some(lead) = row.matches {
                                    "Updates " a href={ "/leads/" (lead) } { "this lead" }
                                } @else if let Some(line) = row.after_line {
                                    "Updates the lead of line " (line)
                                } @else {
                                    "New lead"
                                }
                            }
                        }
                    }
                }
            }
        }
        div.actions {
            @if !rows.is_empty() {
                form method="post" action={ (import_path(import.id)) "/start" } {
                    input type="hidden" name=(csrf::FIELD) value=(staff.csrf_token());
                    button.primary type="submit" { "Import " (count(rows.len(), "lead", "leads")) }
                }
            }
            form method="post" action={ (import_path(import.id)) "/discard" } {
                input type="hidden" name=(csrf::FIELD) value=(staff.csrf_token());
                button type="submit" { "Discard this import" }
            }
        }
    }
}

fn text<'a>(row: &'a import::Row, field: &str) -> &'a str {
    row.fields
        .get(field)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
}

fn refused_table(title: &str, refused: &[Refused]) -> Markup {
    html! {
        h2 { (title) }
        table {
            caption.visually-hidden { (title) }
            thead { tr { th scope="col" { "Line" } th scope="col" { "Name" } th scope="col" { "Why" } } }
            tbody {
                @for row in refused.iter().take(LISTED) {
                    tr {
                        td { (row.line) }
                        td { (row.name) }
                        td { (problems(&row.problems)) }
                    }
                }
            }
        }
        @if refused.len() > LISTED {
            p { "And " (count(refused.len() - LISTED, "more row", "more rows")) "." }
        }
    }
}

fn problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| {
            if p.field.is_empty() {
                page::sentence(&p.message)
            } else {
                page::sentence(&format!("{} {}", labels::lead_field(&p.field), p.message))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn progress(import: &LeadImport) -> Markup {
    let processed = import.processed.max(0) as usize;
    let total = import.total.max(0) as usize;
    html! {
        h1 { "Importing " (import.file_name) }
        div #import-progress data-poll="1" role="status" {
            label for="import-bar" { (count(processed, "row", "rows")) " of " (super::board::grouped(&total.to_string(), "")) " written" }
            progress #import-bar max=(total.max(1)) value=(processed) { (processed) " of " (total) }
            p { (count(import.created as usize, "new lead", "new leads")) ", " (count(import.updated as usize, "lead updated", "leads updated")) "." }
        }
        p { "You can leave this page: the import goes on. " a href="" { "Show the latest progress" } }
    }
}

fn result(import: &LeadImport) -> Markup {
    let failed = &import.failed.0;
    html! {
        h1 { "Imported " (import.file_name) }
        ul.summary {
            li { (count(import.created as usize, "new lead", "new leads")) }
            li { (count(import.updated as usize, "lead updated", "leads updated")) }
            li { (count(import.unchanged as usize, "lead already as in the file", "leads already as in the file")) }
            li { (count(import.refused.0.len() + failed.len(), "row not imported", "rows not imported")) }
        }
        @if !failed.is_empty() {
            (refused_table("Rows that could not be written", failed))
        }
        @if !import.refused.0.is_empty() {
            (refused_table("Rows refused at preview", &import.refused.0))
        }
        p { a href="/leads?sort=-updatedAt" { "See the leads, most recently changed first" } }
    }
}

/// The start and discard buttons' form: the CSRF token only.
#[derive(Debug, serde::Deserialize)]
pub(super) struct Confirm {}

/// `POST /leads/imports/{id}/start`.
pub(super) async fn import_start(
    State(state): State<AppState>,
    staff: Staff,
    facts: AuditContext,
    PathId(id): PathId,
    CsrfForm(Confirm {}): CsrfForm<Confirm>,
) -> Response {
    let started = async {
        let mut tx = state
            .pool
            .begin_for_tenant(staff.principal.tenant_id)
            .await?;
        import::start(&mut tx, &staff.principal, id).await?;
        tx.commit().await?;
        Ok::<_, ImportError>(())
    };
    match started.await {
        Ok(()) => {
            spawn(&state, staff.principal.clone(), facts, id);
            page::redirect(&import_path(id), None)
        }
        // A second click: the import is on its way already.
        Err(ImportError::Started) => page::redirect(&import_path(id), None),
        Err(err) => failed(&staff, err),
    }
}

/// `POST /leads/imports/{id}/discard`.
pub(super) async fn import_discard(
    State(state): State<AppState>,
    staff: Staff,
    PathId(id): PathId,
    CsrfForm(Confirm {}): CsrfForm<Confirm>,
) -> Response {
    let discarded = async {
        let mut tx = state
            .pool
            .begin_for_tenant(staff.principal.tenant_id)
            .await?;
        import::discard(&mut tx, &staff.principal, id).await?;
        tx.commit().await?;
        Ok::<_, ImportError>(())
    };
    match discarded.await {
        Ok(()) => page::redirect(
            "/leads",
            Some(Flash::done(
                "The import was discarded; nothing was written.",
            )),
        ),
        Err(ImportError::Started) => page::redirect(
            &import_path(id),
            Some(Flash::problem(
                "The import has started, so it can no longer be discarded.",
            )),
        ),
        Err(err) => failed(&staff, err),
    }
}

/// Runs the import in a task of its own: the request that started it
/// answers at once, and the page shows the task's progress.
fn spawn(state: &AppState, actor: Principal, facts: AuditContext, id: Uuid) {
    let pool = state.pool.clone();
    tokio::spawn(async move {
        if let Err(err) = import::run(&pool, &actor, &facts, id).await {
            tracing::error!(error = %err, import = %id, "a lead import stopped; it goes on when its page is opened again");
        }
    });
}
