//! A lead as stored and as shown.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use sqlx::types::Json;
use uuid::Uuid;

use crate::api::money;

/// Where a lead came from.
pub const SOURCES: &[&str] = &[
    "web_form",
    "referral",
    "showroom",
    "phone",
    "email",
    "repeat_customer",
    "other",
];

/// What kind of job it is.
pub const PROJECT_TYPES: &[&str] = &[
    "kitchen",
    "bath",
    "closet",
    "built_in",
    "furniture",
    "commercial",
    "other",
];

/// The columns of [`LeadRow`], in order.
pub const COLUMNS: &str = "tenant_id, id, external_id, name, company, email, phone, source, project_type, \
     estimated_value_e4, currency, site_address, desired_install_date, owner_user_id, tags, notes, \
     status, lost_reason, status_changed_at, created_at, updated_at, deleted_at, version";

/// A lead row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LeadRow {
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The lead.
    pub id: Uuid,
    /// The id in the system it came from (unique per tenant).
    pub external_id: Option<String>,
    /// The customer's name.
    pub name: String,
    /// Their company.
    pub company: Option<String>,
    /// Their email, as written (unique per tenant, ignoring case).
    pub email: Option<String>,
    /// Their phone number.
    pub phone: Option<String>,
    /// One of [`SOURCES`].
    pub source: String,
    /// One of [`PROJECT_TYPES`].
    pub project_type: String,
    /// The job's estimated value in ten-thousandths of `currency`.
    pub estimated_value_e4: Option<i64>,
    /// ISO 4217 code, present with the value.
    pub currency: Option<String>,
    /// Where the work is installed.
    pub site_address: Option<String>,
    /// When the customer wants it installed.
    pub desired_install_date: Option<NaiveDate>,
    /// The user in charge.
    pub owner_user_id: Option<Uuid>,
    /// Free labels.
    pub tags: Json<Vec<String>>,
    /// Free notes.
    pub notes: Option<String>,
    /// Pipeline status.
    pub status: String,
    /// Why it was lost, when it was.
    pub lost_reason: Option<String>,
    /// When the status last changed.
    pub status_changed_at: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Soft-deleted.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Bumped by every change.
    pub version: i64,
}

impl LeadRow {
    /// A new lead (status `new`) with only its name set.
    pub fn new(tenant_id: Uuid, id: Uuid, now: DateTime<Utc>) -> Self {
        Self {
            tenant_id,
            id,
            external_id: None,
            name: String::new(),
            company: None,
            email: None,
            phone: None,
            source: "other".into(),
            project_type: "other".into(),
            estimated_value_e4: None,
            currency: None,
            site_address: None,
            desired_install_date: None,
            owner_user_id: None,
            tags: Json(Vec::new()),
            notes: None,
            status: "new".into(),
            lost_reason: None,
            status_changed_at: now,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            version: 1,
        }
    }

    /// The email's matching key.
    pub fn email_key(&self) -> Option<String> {
        self.email.as_deref().map(str::to_lowercase)
    }

    /// The estimated value as a decimal string in its currency.
    pub fn estimated_value(&self) -> Option<String> {
        let (value, currency) = (self.estimated_value_e4?, self.currency.as_deref()?);
        Some(money::format(value, money::decimals(currency).unwrap_or(2)))
    }

    /// The JSON shown to clients.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "externalId": self.external_id,
            "name": self.name,
            "company": self.company,
            "email": self.email,
            "phone": self.phone,
            "source": self.source,
            "projectType": self.project_type,
            "estimatedValue": self.estimated_value(),
            "currency": self.currency,
            "siteAddress": self.site_address,
            "desiredInstallDate": self.desired_install_date,
            "ownerUserId": self.owner_user_id,
            "tags": self.tags.0,
            "notes": self.notes,
            "status": self.status,
            "lostReason": self.lost_reason,
            "statusChangedAt": self.status_changed_at,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "deletedAt": self.deleted_at,
            "version": self.version,
        })
    }
}
