//! An activity as stored and as shown, and the rules for its fields.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::api::fields::{self, Errors};

/// The kinds of activity.
pub const TYPES: &[&str] = &["call", "email", "meeting", "note", "task", "site_visit"];

/// The kinds that count as contacting the customer: completing one on a
/// `new` lead moves it to `contacted`.
pub const CONTACT_TYPES: &[&str] = &["call", "email", "meeting", "site_visit"];

/// Directions, for calls and emails.
pub const DIRECTIONS: &[&str] = &["inbound", "outbound"];

/// The columns of [`ActivityRow`], in order.
pub const COLUMNS: &str = "tenant_id, id, lead_id, type, subject, body, direction, due_at, occurred_at, \
     duration_minutes, completed_at, outcome, assigned_user_id, created_by, created_at, updated_at, \
     deleted_at, version";

/// The fields a client may set when creating.
pub const CREATE_FIELDS: &[&str] = &[
    "leadId",
    "type",
    "subject",
    "body",
    "direction",
    "dueAt",
    "occurredAt",
    "durationMinutes",
    "completed",
    "completedAt",
    "outcome",
    "assignedUserId",
];

/// The fields a client may change afterwards.
pub const PATCH_FIELDS: &[&str] = &[
    "subject",
    "body",
    "direction",
    "dueAt",
    "occurredAt",
    "durationMinutes",
    "completed",
    "completedAt",
    "outcome",
    "assignedUserId",
];

/// The fields only the service writes (and `leadId`/`type`, fixed at
/// creation).
pub const READ_ONLY: &[&str] = &[
    "id",
    "leadId",
    "type",
    "createdBy",
    "createdAt",
    "updatedAt",
    "deletedAt",
    "version",
    "isOverdue",
];

/// An activity row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ActivityRow {
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The activity.
    pub id: Uuid,
    /// Its lead.
    pub lead_id: Uuid,
    /// One of [`TYPES`].
    #[sqlx(rename = "type")]
    pub kind: String,
    /// A one-line summary.
    pub subject: String,
    /// The details.
    pub body: Option<String>,
    /// `inbound` or `outbound` (calls and emails).
    pub direction: Option<String>,
    /// When it is due (tasks, planned calls).
    pub due_at: Option<DateTime<Utc>>,
    /// When it happened.
    pub occurred_at: Option<DateTime<Utc>>,
    /// How long it took.
    pub duration_minutes: Option<i32>,
    /// When it was completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// How it went.
    pub outcome: Option<String>,
    /// Who it is assigned to.
    pub assigned_user_id: Option<Uuid>,
    /// Who recorded it.
    pub created_by: Option<Uuid>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Soft-deleted.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Bumped by every change.
    pub version: i64,
}

impl ActivityRow {
    /// Open and past its due time.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.completed_at.is_none() && self.due_at.is_some_and(|due| due < now)
    }

    /// The JSON shown to clients, `isOverdue` computed at `now`.
    pub fn view(&self, now: DateTime<Utc>) -> Value {
        json!({
            "id": self.id,
            "leadId": self.lead_id,
            "type": self.kind,
            "subject": self.subject,
            "body": self.body,
            "direction": self.direction,
            "dueAt": self.due_at,
            "occurredAt": self.occurred_at,
            "durationMinutes": self.duration_minutes,
            "completedAt": self.completed_at,
            "outcome": self.outcome,
            "assignedUserId": self.assigned_user_id,
            "createdBy": self.created_by,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "deletedAt": self.deleted_at,
            "version": self.version,
            "isOverdue": self.is_overdue(now),
        })
    }

    /// Applies `map` (absent stays, `null` clears) at time `now`.
    pub fn apply(&mut self, map: &Map<String, Value>, now: DateTime<Utc>, errors: &mut Errors) {
        for (key, value) in map {
            match key.as_str() {
                "subject" => {
                    if let Some(v) = fields::text(key, value, 200, errors) {
                        self.subject = v;
                    }
                }
                "body" => set(&mut self.body, fields::opt_text(key, value, 10_000, errors)),
                "direction" => set(
                    &mut self.direction,
                    fields::opt_one_of(key, value, DIRECTIONS, errors),
                ),
                "dueAt" => set(&mut self.due_at, fields::opt_timestamp(key, value, errors)),
                "occurredAt" => set(
                    &mut self.occurred_at,
                    fields::opt_timestamp(key, value, errors),
                ),
                "durationMinutes" => set(
                    &mut self.duration_minutes,
                    fields::opt_int(key, value, 0, 1440, errors).map(|v| v.map(|m| m as i32)),
                ),
                "completedAt" => set(
                    &mut self.completed_at,
                    fields::opt_timestamp(key, value, errors),
                ),
                "completed" => {
                    if let Some(done) = fields::boolean(key, value, errors) {
                        if map.contains_key("completedAt") {
                            errors.add(key, "send either completed or completedAt");
                        } else if !done {
                            self.completed_at = None;
                        } else if self.completed_at.is_none() {
                            self.completed_at = Some(now);
                        }
                    }
                }
                "outcome" => set(
                    &mut self.outcome,
                    fields::opt_text(key, value, 1000, errors),
                ),
                "assignedUserId" => set(
                    &mut self.assigned_user_id,
                    fields::opt_uuid(key, value, errors),
                ),
                _ => {}
            }
        }
        if self.direction.is_some() && !matches!(self.kind.as_str(), "call" | "email") {
            errors.add("direction", "is only for calls and emails");
        }
        if self
            .completed_at
            .is_some_and(|t| t > now + chrono::Duration::minutes(5))
        {
            errors.add("completedAt", "cannot be in the future");
        }
    }
}

fn set<T>(field: &mut Option<T>, value: Option<Option<T>>) {
    if let Some(v) = value {
        *field = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(kind: &str) -> ActivityRow {
        let now = Utc::now();
        ActivityRow {
            tenant_id: Uuid::nil(),
            id: Uuid::nil(),
            lead_id: Uuid::nil(),
            kind: kind.into(),
            subject: "Call back".into(),
            body: None,
            direction: None,
            due_at: None,
            occurred_at: None,
            duration_minutes: None,
            completed_at: None,
            outcome: None,
            assigned_user_id: None,
            created_by: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            version: 1,
        }
    }

    #[test]
    fn completed_true_stamps_the_time_once_and_false_reopens() {
        let mut a = activity("call");
        let now = Utc::now();
        let mut errors = Errors::default();
        a.apply(
            json!({"completed": true}).as_object().unwrap(),
            now,
            &mut errors,
        );
        assert_eq!(a.completed_at, Some(now));
        a.apply(
            json!({"completed": true}).as_object().unwrap(),
            now + chrono::Duration::hours(1),
            &mut errors,
        );
        assert_eq!(a.completed_at, Some(now));
        a.apply(
            json!({"completed": false}).as_object().unwrap(),
            now,
            &mut errors,
        );
        assert_eq!(a.completed_at, None);
        assert!(errors.0.is_empty());
    }

    #[test]
    fn a_direction_is_for_calls_and_emails_only() {
        let mut errors = Errors::default();
        activity("note").apply(
            json!({"direction": "inbound"}).as_object().unwrap(),
            Utc::now(),
            &mut errors,
        );
        assert_eq!(errors.0[0].field, "direction");
    }

    #[test]
    fn an_open_activity_past_due_is_overdue() {
        let now = Utc::now();
        let mut a = activity("task");
        a.due_at = Some(now - chrono::Duration::minutes(1));
        assert!(a.is_overdue(now));
        a.completed_at = Some(now);
        assert!(!a.is_overdue(now));
    }
}
