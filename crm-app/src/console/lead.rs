//! A lead's page: every field in one form (saved through the API's merge
//! patch, with its version rule: an edit that crossed someone else's is
//! shown again with what they saved, nothing typed lost), its moves, its
//! timeline, and logging and completing its activities.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use ops_kit::ApiError;
use ops_kit::audit::{self, AuditContext};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::board::money;
use super::form::{CsrfForm, PathId, if_match};
use super::labels;
use super::page::{self, Chrome, Flash, Nav};
use super::staff::Staff;
use crate::activities::model::ActivityKind;
use crate::api::list::{Deleted, Sort};
use crate::api::money::Amount;
use crate::auth::store::{self as auth_store, UserRow};
use crate::leads::domain::{self, LeadError};
use crate::leads::input::LeadPatch;
use crate::leads::kinds::TimelineKind;
use crate::leads::model::{
    LeadRow, LeadSource, LeadStatus, LostReason, ProjectType, TimelineEntry,
};
use crate::leads::store::TIMELINE_SORT;
use crate::state::AppState;

/// The lead form's fields: the API's names, so that its errors name them.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct LeadForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    source: String,
    #[serde(default, rename = "projectType")]
    project_type: String,
    #[serde(default, rename = "estimatedValue")]
    estimated_value: String,
    #[serde(default)]
    currency: String,
    #[serde(default, rename = "siteAddress")]
    site_address: String,
    #[serde(default, rename = "desiredInstallDate")]
    desired_install_date: String,
    #[serde(default, rename = "ownerUserId")]
    owner_user_id: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    notes: String,
    version: Option<i64>,
}

impl LeadForm {
    /// The form as the lead holds it now.
    fn of(lead: &LeadRow) -> Self {
        let view = lead.view();
        Self {
            name: lead.name.clone(),
            company: lead.company.clone().unwrap_or_default(),
            email: lead.email.clone().unwrap_or_default(),
            phone: lead.phone.clone().unwrap_or_default(),
            source: lead.source.as_str().into(),
            project_type: lead.project_type.as_str().into(),
            estimated_value: view
                .estimated_value
                .map(|a| a.format_to(&mut [0; 32]).to_owned())
                .unwrap_or_default(),
            currency: lead.currency.clone().unwrap_or_default(),
            site_address: lead.site_address.clone().unwrap_or_default(),
            desired_install_date: lead
                .desired_install_date
                .map(|d| d.to_string())
                .unwrap_or_default(),
            owner_user_id: lead
                .owner_user_id
                .map(|u| u.to_string())
                .unwrap_or_default(),
            tags: lead.tags.0.join(", "),
            notes: lead.notes.clone().unwrap_or_default(),
            version: Some(lead.version),
        }
    }

    /// The fields as `(API name, label, value)`.
    fn fields(&self) -> [(&'static str, &'static str, &str); 13] {
        [
            ("name", "Name", &self.name),
            ("company", "Company", &self.company),
            ("email", "Email", &self.email),
            ("phone", "Phone", &self.phone),
            ("source", "Source", &self.source),
            ("projectType", "Project type", &self.project_type),
            ("estimatedValue", "Estimated value", &self.estimated_value),
            ("currency", "Currency", &self.currency),
            ("siteAddress", "Site address", &self.site_address),
            (
                "desiredInstallDate",
                "Desired install date",
                &self.desired_install_date,
            ),
            ("ownerUserId", "Owner", &self.owner_user_id),
            ("tags", "Tags", &self.tags),
            ("notes", "Notes", &self.notes),
        ]
    }

    fn set(&mut self, name: &str, value: String) {
        let slot = match name {
            "name" => &mut self.name,
            "company" => &mut self.company,
            "email" => &mut self.email,
            "phone" => &mut self.phone,
            "source" => &mut self.source,
            "projectType" => &mut self.project_type,
            "estimatedValue" => &mut self.estimated_value,
            "currency" => &mut self.currency,
            "siteAddress" => &mut self.site_address,
            "desiredInstallDate" => &mut self.desired_install_date,
            "ownerUserId" => &mut self.owner_user_id,
            "tags" => &mut self.tags,
            "notes" => &mut self.notes,
            _ => return,
        };
        *slot = value;
    }

    /// The posted form and the values it was shown with (`was.<field>`),
    /// from the form's pairs.
    fn from_pairs(pairs: Vec<(String, String)>) -> (Self, Self) {
        let mut typed = Self::default();
        let mut was = Self::default();
        for (name, value) in pairs {
            match name.strip_prefix("was.") {
                Some(field) => was.set(field, value),
                None if name == "version" => typed.version = value.parse().ok(),
                None => typed.set(&name, value),
            }
        }
        (typed, was)
    }

    /// The names of the fields changed since the form was shown.
    fn changed(&self, was: &Self) -> Vec<&'static str> {
        self.fields()
            .iter()
            .zip(was.fields())
            .filter(|((_, _, now), (_, _, then))| now.trim() != then.trim())
            .map(|((name, _, _), _)| *name)
            .collect()
    }

    /// The merge patch of the fields changed since the form was shown
    /// (`was`), an emptied one cleared: what someone else saved meanwhile
    /// in the other fields stays.
    fn patch(&self, was: &Self) -> Value {
        let changed = self.changed(was);
        let mut map = Map::new();
        for (name, _, value) in self.fields() {
            if !changed.contains(&name) {
                continue;
            }
            let value = value.trim();
            let json = match name {
                _ if value.is_empty() => match name {
                    "tags" => json!([]),
                    _ => Value::Null,
                },
                "tags" => Value::Array(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(|t| Value::String(t.to_owned()))
                        .collect(),
                ),
                _ => Value::String(value.to_owned()),
            };
            map.insert(name.to_owned(), json);
        }
        Value::Object(map)
    }
}

struct Loaded {
    lead: LeadRow,
    users: Vec<UserRow>,
    timeline: Vec<TimelineEntry>,
}

async fn load(state: &AppState, staff: &Staff, id: Uuid) -> Result<Loaded, ApiError> {
    crate::api::read(state, &staff.principal, async |tx| {
        let lead = domain::get(tx, &staff.principal, id, Deleted::Exclude).await?;
        let users = auth_store::users(tx, staff.principal.tenant_id)
            .await
            .map_err(ApiError::database)?;
        let sort = Sort::parse(None, TIMELINE_SORT, "-at")?;
        let timeline = domain::timeline(tx, &staff.principal, id, &sort, None, 100).await?;
        Ok::<_, ApiError>(Loaded {
            lead,
            users,
            timeline: timeline.data,
        })
    })
    .await
}

/// What the page shows besides the lead as stored.
#[derive(Default)]
struct Shown {
    form: Option<LeadForm>,
    /// The fields the person changed.
    typed: Vec<&'static str>,
    errors: Vec<(String, String)>,
    conflict: bool,
}

/// `GET /leads/{id}`.
pub(super) async fn lead_page(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Response {
    match load(&state, &staff, id).await {
        Ok(loaded) => {
            let flash = Flash::from_headers(&headers);
            let cleared = flash.is_some();
            page::respond(
                StatusCode::OK,
                render(&staff, &loaded, Shown::default(), flash),
                cleared,
            )
        }
        Err(err) => page::api_error(Some(&staff), err),
    }
}

/// `POST /leads/{id}`: the form saved as the API's merge patch.
pub(super) async fn lead_save(
    State(state): State<AppState>,
    staff: Staff,
    facts: AuditContext,
    PathId(id): PathId,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let (form, was) = LeadForm::from_pairs(pairs);
    let patch_body = form.patch(&was);
    let if_match = if_match(form.version);
    let saved = async {
        let patch = LeadPatch::new(patch_body.clone()).map_err(LeadError::from)?;
        let mut tx = state
            .pool
            .begin_for_tenant(staff.principal.tenant_id)
            .await
            .map_err(ApiError::database)?;
        let written = domain::update(&mut tx, &staff.principal, id, &if_match, patch).await?;
        if written.changed {
            let mut entry = facts.entry("lead.update", "lead", id.to_string());
            entry.changes = Some(patch_body.clone());
            audit::record(&mut tx, &entry).await?;
            tx.commit().await.map_err(ApiError::database_commit)?;
        } else {
            tx.rollback().await.map_err(ApiError::database)?;
        }
        Ok::<_, ApiError>(written)
    };
    let failed = match saved.await {
        Ok(written) => {
            let text = if written.changed {
                "Saved."
            } else {
                "Nothing had changed."
            };
            return page::redirect(&format!("/leads/{id}"), Some(Flash::done(text)));
        }
        Err(err) => err,
    };
    let status = failed.status();
    let conflict = status == StatusCode::PRECONDITION_FAILED;
    if !conflict && status != StatusCode::UNPROCESSABLE_ENTITY && status != StatusCode::CONFLICT {
        return page::api_error(Some(&staff), failed);
    }
    let loaded = match load(&state, &staff, id).await {
        Ok(loaded) => loaded,
        Err(err) => return page::api_error(Some(&staff), err),
    };
    let errors = if conflict {
        Vec::new()
    } else if failed.details().is_empty() {
        vec![("name".to_owned(), page::sentence(failed.message()))]
    } else {
        failed
            .details()
            .iter()
            .map(|e| {
                let label = LeadForm::default()
                    .fields()
                    .iter()
                    .find(|(n, _, _)| *n == e.field)
                    .map_or(e.field.as_str(), |(_, l, _)| *l)
                    .to_owned();
                (e.field.clone(), format!("{label} {}", e.message))
            })
            .collect()
    };
    let changed = form.changed(&was);
    let form = if conflict {
        // What was typed stays; the other fields show what was saved
        // meanwhile. Saving again saves the typed fields over the other
        // edit, knowingly (the version is the one now stored).
        let mut merged = LeadForm::of(&loaded.lead);
        for (name, _, value) in form.fields() {
            if changed.contains(&name) {
                merged.set(name, value.to_owned());
            }
        }
        merged
    } else {
        form
    };
    let shown = Shown {
        form: Some(form),
        typed: changed,
        errors,
        conflict,
    };
    page::respond(status, render(&staff, &loaded, shown, None), false)
}

fn render(staff: &Staff, loaded: &Loaded, shown: Shown, flash: Option<Flash>) -> Markup {
    let lead = &loaded.lead;
    let stored = LeadForm::of(lead);
    let form = shown.form.as_ref().unwrap_or(&stored);
    let errors = &shown.errors;
    page::document(
        Chrome {
            title: &lead.name,
            staff: Some(staff),
            flash,
            nav: Nav::Board,
        },
        html! {
            p { a href="/" { "Back to the pipeline" } }
            h1 { (lead.name) }
            p.lead-status {
                "Status: " strong { (labels::status(lead.status)) }
                @if let Some(reason) = lead.lost_reason { " (" (labels::lost_reason(reason)) ")" }
                @if let Some(value) = Amount::shown(lead.estimated_value_e4, lead.currency.as_deref()) {
                    " · " (money(value, lead.currency.as_deref()))
                }
            }
            @if shown.conflict {
                div.error-summary.conflict role="alert" tabindex="-1" {
                    h2 { "Someone else saved this lead while you were editing" }
                    p { "Your changes are below and are not saved yet. Where they differ from what was saved, the saved value is shown under the field. Save again to keep yours." }
                }
            }
            (page::error_summary(errors))
            div.lead-layout {
                section aria-labelledby="details-h" {
                    h2 #details-h { "Details" }
                    form.lead-form method="post" action={ "/leads/" (lead.id) } {
                        input type="hidden" name="csrf_token" value=(staff.csrf_token());
                        input type="hidden" name="version" value=[form.version];
                        @for (name, label, value) in form.fields() {
                            @let saved = stored.fields().iter().find(|(n, _, _)| *n == name).map(|(_, _, v)| v.to_string()).unwrap_or_default();
                            div.field {
                                label for=(name) { (label) }
                                (page::field_error(errors, name))
                                (input(name, value, &loaded.users, errors))
                                input type="hidden" name={ "was." (name) } value=(saved);
                                @if shown.conflict && shown.typed.contains(&name) && saved.trim() != value.trim() {
                                    p.saved-value { "Saved by the other edit: " strong { @if saved.is_empty() { "(empty)" } @else { (display(name, &saved, &loaded.users)) } } }
                                }
                            }
                        }
                        button.primary type="submit" { "Save lead" }
                    }
                }
                aside {
                    (moves(staff, lead))
                    (log_form(staff, lead, &loaded.users))
                    (timeline(staff, lead, &loaded.timeline, &loaded.users))
                }
            }
        },
    )
}

fn display(name: &str, value: &str, users: &[UserRow]) -> String {
    match name {
        "ownerUserId" => users
            .iter()
            .find(|u| u.id.to_string() == value)
            .map_or(value.to_owned(), |u| u.name.clone()),
        "source" => LeadSource::parse(value).map_or(value.to_owned(), |s| labels::source(s).into()),
        "projectType" => {
            ProjectType::parse(value).map_or(value.to_owned(), |p| labels::project_type(p).into())
        }
        _ => value.to_owned(),
    }
}

fn input(name: &str, value: &str, users: &[UserRow], errors: &[(String, String)]) -> Markup {
    let invalid = errors.iter().any(|(f, _)| f == name);
    let described = invalid.then(|| format!("{name}-error"));
    let invalid = invalid.then_some("true");
    html! {
        @match name {
            "source" => select id=(name) name=(name) aria-invalid=[invalid] aria-describedby=[described] {
                @for s in LeadSource::ALL { option value=(s.as_str()) selected[value == s.as_str()] { (labels::source(*s)) } }
            },
            "projectType" => select id=(name) name=(name) aria-invalid=[invalid] aria-describedby=[described] {
                @for p in ProjectType::ALL { option value=(p.as_str()) selected[value == p.as_str()] { (labels::project_type(*p)) } }
            },
            "ownerUserId" => select id=(name) name=(name) aria-invalid=[invalid] aria-describedby=[described] {
                option value="" { "No owner" }
                @for u in users { option value=(u.id) selected[value == u.id.to_string()] { (u.name) } }
            },
            "notes" => textarea id=(name) name=(name) rows="4" aria-invalid=[invalid] aria-describedby=[described] { (value) },
            "desiredInstallDate" => input id=(name) name=(name) type="date" value=(value) aria-invalid=[invalid] aria-describedby=[described];,
            "email" => input id=(name) name=(name) type="email" value=(value) aria-invalid=[invalid] aria-describedby=[described];,
            "estimatedValue" => input id=(name) name=(name) inputmode="decimal" value=(value) aria-invalid=[invalid] aria-describedby=[described];,
            _ => input id=(name) name=(name) type="text" value=(value) aria-invalid=[invalid] aria-describedby=[described];,
        }
    }
}

fn moves(staff: &Staff, lead: &LeadRow) -> Markup {
    let allowed = super::board::moves_for(staff, lead.status);
    let allowed = allowed.as_slice();
    html! {
        section aria-labelledby="move-h" {
            h2 #move-h { "Move in the pipeline" }
            @if allowed.is_empty() {
                p { "A " (labels::status(lead.status).to_lowercase()) " lead stays where it is." }
            } @else {
                form method="post" action={ "/leads/" (lead.id) "/status" } {
                    input type="hidden" name="csrf_token" value=(staff.csrf_token());
                    input type="hidden" name="version" value=(lead.version);
                    input type="hidden" name="back" value={ "/leads/" (lead.id) };
                    div.field {
                        label for="move-to" { "Move to" }
                        select #move-to name="to" {
                            @for to in allowed { option value=(to.as_str()) { (labels::status(*to)) } }
                        }
                    }
                    @if allowed.contains(&LeadStatus::Lost) {
                        div.field {
                            label for="move-reason" { "Reason, if lost" }
                            select #move-reason name="lost_reason" {
                                option value="" { "Choose a reason" }
                                @for r in LostReason::ALL { option value=(r.as_str()) { (labels::lost_reason(*r)) } }
                            }
                        }
                    }
                    button type="submit" { "Move lead" }
                }
            }
        }
    }
}

fn log_form(staff: &Staff, lead: &LeadRow, users: &[UserRow]) -> Markup {
    html! {
        section aria-labelledby="log-h" {
            h2 #log-h { "Log an activity" }
            form method="post" action={ "/leads/" (lead.id) "/activities" } {
                input type="hidden" name="csrf_token" value=(staff.csrf_token());
                div.field {
                    label for="a-type" { "Kind" }
                    select #a-type name="type" {
                        @for k in ActivityKind::ALL { option value=(k.as_str()) { (labels::activity(*k)) } }
                    }
                }
                div.field {
                    label for="a-subject" { "Subject" }
                    input #a-subject name="subject" type="text" required;
                }
                div.field {
                    label for="a-body" { "Details" }
                    textarea #a-body name="body" rows="3" {}
                }
                div.field {
                    label for="a-due" { "Due (tasks), UTC" }
                    input #a-due name="due" type="datetime-local";
                }
                div.field {
                    label for="a-assignee" { "Assigned to" }
                    select #a-assignee name="assignee" {
                        option value="" { "Nobody" }
                        @for u in users { option value=(u.id) selected[u.id == staff.principal.user_id] { (u.name) } }
                    }
                }
                button type="submit" { "Log activity" }
            }
        }
    }
}

fn timeline(staff: &Staff, lead: &LeadRow, entries: &[TimelineEntry], users: &[UserRow]) -> Markup {
    let name_of = |id: Option<&str>| {
        id.and_then(|id| users.iter().find(|u| u.id.to_string() == id))
            .map(|u| u.name.clone())
    };
    html! {
        section aria-labelledby="timeline-h" {
            h2 #timeline-h { "Timeline" }
            ol.timeline {
                @for entry in entries {
                    li {
                        time datetime=(entry.at.to_rfc3339()) { (entry.at.format("%Y-%m-%d %H:%M")) }
                        " "
                        @match entry.kind {
                            TimelineKind::StatusChange => {
                                @let to = entry.item["toStatus"].as_str().and_then(LeadStatus::parse);
                                @let from = entry.item["fromStatus"].as_str().and_then(LeadStatus::parse);
                                @match (from, to) {
                                    (Some(from), Some(to)) => { "Moved from " (labels::status(from)) " to " (labels::status(to)) }
                                    (None, Some(to)) => { "Created as " (labels::status(to)) }
                                    _ => { "Status changed" }
                                }
                                @if let Some(reason) = entry.item["lostReason"].as_str().and_then(LostReason::parse) {
                                    " (" (labels::lost_reason(reason)) ")"
                                }
                                @if let Some(who) = name_of(entry.item["userId"].as_str()) { " by " (who) }
                            }
                            TimelineKind::Activity => {
                                @let kind = entry.item["type"].as_str().and_then(|k| k.parse::<ActivityKind>().ok());
                                strong { (kind.map_or("Activity", labels::activity)) ": " }
                                (entry.item["subject"].as_str().unwrap_or(""))
                                @if let Some(due) = entry.item["dueAt"].as_str() {
                                    " · due " (due.get(..16).unwrap_or(due).replace('T', " "))
                                }
                                @if let Some(who) = name_of(entry.item["assignedUserId"].as_str()) { " · " (who) }
                                @if entry.item["completedAt"].is_string() {
                                    " · " span.done-flag { "done" }
                                } @else if kind == Some(ActivityKind::Task) {
                                    (super::activities::complete_form(staff, entry.id, entry.item["version"].as_i64(), &format!("/leads/{}", lead.id), entry.item["subject"].as_str().unwrap_or("")))
                                }
                            }
                            TimelineKind::QuoteEvent => {
                                "Quote " (entry.item["action"].as_str().unwrap_or("event").replace('_', " "))
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_field_is_cleared_and_tags_are_split() {
        let was = LeadForm {
            name: "Ada".into(),
            company: "Oak & Ash".into(),
            phone: "+1 555 0100".into(),
            ..LeadForm::default()
        };
        let form = LeadForm {
            company: String::new(),
            tags: "walnut, , rush ".into(),
            ..was.clone()
        };
        let patch = form.patch(&was);
        assert_eq!(patch["company"], Value::Null);
        assert_eq!(patch["tags"], json!(["walnut", "rush"]));
        // Unchanged fields are not sent: a concurrent edit of them stays.
        assert!(patch.get("name").is_none() && patch.get("phone").is_none());
    }
}
