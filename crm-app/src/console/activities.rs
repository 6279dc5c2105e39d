//! Logging a lead's activities and completing tasks: the API's
//! `activity.create` and `activity.update`, from the lead's page.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDateTime;
use maud::{Markup, html};
use ops_kit::ApiError;
use ops_kit::audit::{self, AuditContext};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::form::{CsrfForm, PathId, if_match};
use super::labels;
use super::page::{self, Flash};
use super::staff::Staff;
use crate::activities::domain::{self as activities, Changed};
use crate::activities::input::{ActivityInput, ActivityPatch};
use crate::state::AppState;

/// The button that completes a task, then goes back to `back`.
pub(super) fn complete_form(
    staff: &Staff,
    id: Uuid,
    version: Option<i64>,
    back: &str,
    subject: &str,
) -> Markup {
    html! {
        form.inline method="post" action={ "/activities/" (id) "/complete" } {
            input type="hidden" name="csrf_token" value=(staff.csrf_token());
            input type="hidden" name="version" value=[version];
            input type="hidden" name="back" value=(back);
            button type="submit" { "Complete" span.visually-hidden { " " (subject) } }
        }
    }
}

/// The activity form.
#[derive(Debug, Deserialize)]
pub(super) struct ActivityForm {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    due: String,
    #[serde(default)]
    assignee: String,
}

/// `POST /leads/{id}/activities`: the API's `activity.create`.
pub(super) async fn activity_log(
    State(state): State<AppState>,
    staff: Staff,
    facts: AuditContext,
    PathId(id): PathId,
    CsrfForm(form): CsrfForm<ActivityForm>,
) -> Response {
    let back = format!("/leads/{id}");
    let mut map = Map::new();
    map.insert("leadId".into(), json!(id));
    map.insert("type".into(), json!(form.kind));
    map.insert("subject".into(), json!(form.subject.trim()));
    if !form.body.trim().is_empty() {
        map.insert("body".into(), json!(form.body.trim()));
    }
    if !form.due.is_empty() {
        // `datetime-local` sends minutes without a zone: read as UTC.
        let due = NaiveDateTime::parse_from_str(&form.due, "%Y-%m-%dT%H:%M")
            .map(|d| d.and_utc().to_rfc3339())
            .unwrap_or(form.due.clone());
        map.insert("dueAt".into(), json!(due));
    }
    if !form.assignee.is_empty() {
        map.insert("assignedUserId".into(), json!(form.assignee));
    }
    let changes = Value::Object(map.clone());
    let created = async {
        let parsed = ActivityInput::parse(&map);
        let mut tx = state
            .pool
            .begin_for_tenant(staff.principal.tenant_id)
            .await
            .map_err(ApiError::database)?;
        let activity = activities::create(&mut tx, &staff.principal, parsed).await?;
        let mut entry = facts.entry("activity.create", "activity", activity.id.to_string());
        entry.changes = Some(changes);
        audit::record(&mut tx, &entry).await?;
        tx.commit().await.map_err(ApiError::database_commit)?;
        Ok::<_, ApiError>(activity)
    };
    match created.await {
        Ok(activity) => page::redirect(
            &back,
            Some(Flash::done(format!(
                "Logged the {} “{}”.",
                labels::activity(activity.kind).to_lowercase(),
                activity.subject
            ))),
        ),
        Err(err) if err.status().is_client_error() => {
            let text = if err.details().is_empty() {
                page::sentence(err.message())
            } else {
                err.details()
                    .iter()
                    .map(|e| page::sentence(&format!("{} {}", activity_label(&e.field), e.message)))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            page::redirect(
                &back,
                Some(Flash::problem(format!(
                    "The activity was not logged. {text}"
                ))),
            )
        }
        Err(err) => page::api_error(Some(&staff), err),
    }
}

fn activity_label(field: &str) -> &str {
    match field {
        "subject" => "Subject",
        "dueAt" => "Due",
        "assignedUserId" => "Assigned to",
        "type" => "Kind",
        "body" => "Details",
        other => other,
    }
}

/// The complete button's form.
#[derive(Debug, Deserialize)]
pub(super) struct CompleteForm {
    version: Option<i64>,
    #[serde(default)]
    back: String,
}

/// `POST /activities/{id}/complete`: the API's `activity.update` with
/// `completed: true`.
pub(super) async fn activity_complete(
    State(state): State<AppState>,
    staff: Staff,
    facts: AuditContext,
    PathId(id): PathId,
    CsrfForm(form): CsrfForm<CompleteForm>,
) -> Response {
    let back = if form.back.starts_with('/') && !form.back.starts_with("//") {
        form.back.clone()
    } else {
        "/".to_owned()
    };
    let if_match = if_match(form.version);
    let mut map = Map::new();
    map.insert("completed".into(), json!(true));
    let done = async {
        let patch = ActivityPatch::parse(&map)?;
        let mut tx = state
            .pool
            .begin_for_tenant(staff.principal.tenant_id)
            .await
            .map_err(ApiError::database)?;
        match activities::update(&mut tx, &staff.principal, id, &if_match, patch).await? {
            Changed::Saved(activity) => {
                let mut entry = facts.entry("activity.update", "activity", id.to_string());
                entry.changes = Some(json!({ "completed": true }));
                audit::record(&mut tx, &entry).await?;
                tx.commit().await.map_err(ApiError::database_commit)?;
                Ok::<_, ApiError>(activity)
            }
            Changed::Unchanged(activity) => {
                tx.rollback().await.map_err(ApiError::database)?;
                Ok(activity)
            }
        }
    };
    match done.await {
        Ok(activity) => page::redirect(
            &back,
            Some(Flash::done(format!("Completed “{}”.", activity.subject))),
        ),
        Err(err) if err.status() == StatusCode::PRECONDITION_FAILED => page::redirect(
            &back,
            Some(Flash::problem(
                "Someone else changed this task a moment ago, so it was not completed. It is shown as it is now.",
            )),
        ),
        Err(err) if err.status().is_client_error() => {
            page::redirect(&back, Some(Flash::problem(page::sentence(err.message()))))
        }
        Err(err) => page::api_error(Some(&staff), err),
    }
}
