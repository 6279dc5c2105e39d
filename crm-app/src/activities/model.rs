//! An activity as stored ([`ActivityRow`]) and as shown ([`Activity`]),
//! and its kinds and directions.
//!
//! The view is what both front ends show; the JSON API serializes it as it
//! is, and the OpenAPI document describes it from this type.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A text value that is not one of an enum's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not one of the known values")]
pub struct UnknownValue(pub String);

/// An enum stored as its name in a text column: decoded from the text,
/// bound with `as_str`.
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the order the document lists them.
            pub const ALL: &[Self] = &[$(Self::$variant,)+];
            /// The names of [`Self::ALL`], as clients send them.
            pub const NAMES: &[&str] = &[$($text,)+];

            /// The name, as clients send it and the database stores it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(text: &str) -> Result<Self, UnknownValue> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(UnknownValue(text.to_owned())),
                }
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(<String as sqlx::Decode<'r, DB>>::decode(value)?.parse()?)
            }
        }
    };
}

text_enum! {
    /// What kind of activity.
    pub enum ActivityKind {
        /// A phone call.
        Call = "call",
        /// An email.
        Email = "email",
        /// A meeting.
        Meeting = "meeting",
        /// A note, contacting no one.
        Note = "note",
        /// Something to do.
        Task = "task",
        /// A visit to the customer's site.
        SiteVisit = "site_visit",
    }
}

impl ActivityKind {
    /// Whether it counts as contacting the customer: completing one on a
    /// `new` lead moves it to `contacted`.
    pub fn is_contact(self) -> bool {
        matches!(
            self,
            Self::Call | Self::Email | Self::Meeting | Self::SiteVisit
        )
    }

    /// Whether it has a [`Direction`] (calls and emails).
    pub fn has_direction(self) -> bool {
        matches!(self, Self::Call | Self::Email)
    }
}

text_enum! {
    /// Which way a call or an email went.
    pub enum Direction {
        /// The customer reached out.
        Inbound = "inbound",
        /// The shop reached out.
        Outbound = "outbound",
    }
}

/// The columns of [`ActivityRow`], in order.
pub const COLUMNS: &str = "tenant_id, id, lead_id, type, subject, body, direction, due_at, occurred_at, \
     duration_minutes, completed_at, outcome, assigned_user_id, created_by, created_at, updated_at, \
     deleted_at, version";

/// An activity row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ActivityRow {
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The activity.
    pub id: Uuid,
    /// Its lead.
    pub lead_id: Uuid,
    /// What kind of activity.
    #[sqlx(rename = "type")]
    pub kind: ActivityKind,
    /// A one-line summary.
    pub subject: String,
    /// The details.
    pub body: Option<String>,
    /// Calls and emails only.
    pub direction: Option<Direction>,
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
    /// A new activity of `kind` on `lead`, recorded by `user` at `now`,
    /// with every optional field empty.
    pub fn new(
        tenant: Uuid,
        lead: Uuid,
        kind: ActivityKind,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant_id: tenant,
            id: Uuid::new_v4(),
            lead_id: lead,
            kind,
            subject: String::new(),
            body: None,
            direction: None,
            due_at: None,
            occurred_at: None,
            duration_minutes: None,
            completed_at: None,
            outcome: None,
            assigned_user_id: None,
            created_by: Some(user),
            created_at: now,
            updated_at: now,
            deleted_at: None,
            version: 1,
        }
    }

    /// Open and past its due time.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.completed_at.is_none() && self.due_at.is_some_and(|due| due < now)
    }

    /// Marks a change made at `now`: a new version.
    pub fn touch(&mut self, now: DateTime<Utc>) {
        self.updated_at = now;
        self.version += 1;
    }

    /// What clients see, as JSON (the lead timeline mixes it with other
    /// items); see [`Self::show`].
    pub fn view(&self, now: DateTime<Utc>) -> serde_json::Value {
        serde_json::to_value(self.show(now)).unwrap_or_default()
    }

    /// What clients see, `isOverdue` computed at `now`.
    pub fn show(&self, now: DateTime<Utc>) -> Activity {
        Activity {
            id: self.id,
            lead_id: self.lead_id,
            kind: self.kind,
            subject: self.subject.clone(),
            body: self.body.clone(),
            direction: self.direction,
            due_at: self.due_at,
            occurred_at: self.occurred_at,
            duration_minutes: self.duration_minutes,
            completed_at: self.completed_at,
            outcome: self.outcome.clone(),
            assigned_user_id: self.assigned_user_id,
            created_by: self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted_at: self.deleted_at,
            version: self.version,
            is_overdue: self.is_overdue(now),
        }
    }
}

/// An activity.
// The fields are those of `ActivityRow`; they carry no doc comments of
// their own, which utoipa would turn into descriptions in the document.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub id: Uuid,
    pub lead_id: Uuid,
    /// call, email, meeting, note, task, site_visit
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: ActivityKind,
    pub subject: String,
    pub body: Option<String>,
    /// inbound or outbound (calls and emails)
    #[schema(value_type = Option<String>)]
    pub direction: Option<Direction>,
    pub due_at: Option<DateTime<Utc>>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i32>,
    pub completed_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub assigned_user_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i64,
    /// Open and past due, at the time of the answer.
    pub is_overdue: bool,
}

/// An open activity due for someone, with the name of its lead, as
/// [`store::due_for`](super::store::due_for) reads it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DueRow {
    /// The activity.
    #[sqlx(flatten)]
    pub activity: ActivityRow,
    /// Its lead's name.
    pub lead_name: String,
}

/// An open activity on someone's list of what is due: the activity as
/// clients see it, and its lead's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// The activity.
    pub activity: Activity,
    /// Its lead's name.
    pub lead_name: String,
}

/// A page of activities.
#[allow(missing_docs)]
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityPage {
    pub data: Vec<Activity>,
    pub page_info: crate::api::list::PageInfo,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_and_a_direction_are_their_names_and_back() {
        for kind in ActivityKind::ALL {
            assert_eq!(kind.as_str().parse::<ActivityKind>(), Ok(*kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert_eq!(
            ActivityKind::NAMES,
            ["call", "email", "meeting", "note", "task", "site_visit"]
        );
        assert_eq!(Direction::NAMES, ["inbound", "outbound"]);
        assert!("visit".parse::<ActivityKind>().is_err());
    }

    #[test]
    fn calls_emails_meetings_and_site_visits_contact_the_customer() {
        let contacts: Vec<_> = ActivityKind::ALL
            .iter()
            .filter(|k| k.is_contact())
            .map(|k| k.as_str())
            .collect();
        assert_eq!(contacts, ["call", "email", "meeting", "site_visit"]);
    }

    #[test]
    fn an_open_activity_past_due_is_overdue() {
        let now = Utc::now();
        let mut a = ActivityRow::new(
            Uuid::nil(),
            Uuid::nil(),
            ActivityKind::Task,
            Uuid::nil(),
            now,
        );
        a.due_at = Some(now - chrono::Duration::minutes(1));
        assert!(a.is_overdue(now));
        a.completed_at = Some(now);
        assert!(!a.is_overdue(now));
    }
}
