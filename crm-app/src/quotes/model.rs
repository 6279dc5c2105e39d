//! A quote and its lines as stored and as shown.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::totals::format_minor;
use crate::api::money;

/// Quote statuses.
pub const STATUSES: &[&str] = &["draft", "sent", "accepted", "rejected", "superseded"];

/// Line kinds.
pub const KINDS: &[&str] = &[
    "cabinet",
    "sheet_good",
    "edge_banding",
    "hardware",
    "labor",
    "finishing",
    "installation",
    "delivery",
    "custom",
];

/// Line units.
pub const UNITS: &[&str] = &["ea", "sheet", "sq_ft", "m2", "lin_ft", "m", "hr"];

/// The columns of [`QuoteRow`], in order.
pub const COLUMNS: &str = "tenant_id, id, lead_id, external_id, quote_number, revision, supersedes_quote_id, \
     title, status, currency, valid_until, terms, notes, discount_type, discount_value, subtotal_minor, \
     discount_minor, tax_minor, total_minor, sent_at, accepted_at, rejected_at, rejection_reason, created_by, \
     created_at, updated_at, deleted_at, version";

/// The columns of [`LineRow`], in order.
pub const LINE_COLUMNS: &str = "tenant_id, id, quote_id, position, section, kind, name, description, sku, \
     material, finish, width_mm, height_mm, depth_mm, unit, quantity, unit_price, unit_cost, discount_type, \
     discount_value, taxable, tax_rate, subtotal_minor, discount_minor, quote_discount_minor, tax_minor, total_minor";

/// A quote row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
#[allow(missing_docs)]
pub struct QuoteRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub lead_id: Uuid,
    pub external_id: Option<String>,
    pub quote_number: i64,
    pub revision: i32,
    pub supersedes_quote_id: Option<Uuid>,
    pub title: String,
    pub status: String,
    pub currency: String,
    pub valid_until: NaiveDate,
    pub terms: Option<String>,
    pub notes: Option<String>,
    pub discount_type: Option<String>,
    pub discount_value: Option<String>,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub sent_at: Option<DateTime<Utc>>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub rejection_reason: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// A line row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
#[allow(missing_docs)]
pub struct LineRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub quote_id: Uuid,
    pub position: i32,
    pub section: Option<String>,
    pub kind: String,
    pub name: String,
    pub description: Option<String>,
    pub sku: Option<String>,
    pub material: Option<String>,
    pub finish: Option<String>,
    pub width_mm: Option<i32>,
    pub height_mm: Option<i32>,
    pub depth_mm: Option<i32>,
    pub unit: String,
    pub quantity: String,
    pub unit_price: String,
    pub unit_cost: Option<String>,
    pub discount_type: Option<String>,
    pub discount_value: Option<String>,
    pub taxable: bool,
    pub tax_rate: String,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub quote_discount_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
}

fn discount_view(kind: &Option<String>, value: &Option<String>) -> Value {
    match (kind, value) {
        (Some(kind), Some(value)) => json!({ "type": kind, "value": value }),
        _ => Value::Null,
    }
}

impl QuoteRow {
    /// A new, empty draft (revision 1, valid for [`VALIDITY_DAYS`] from
    /// `now`); the number is assigned when it is saved.
    ///
    /// [`VALIDITY_DAYS`]: super::routes::VALIDITY_DAYS
    pub fn draft(
        tenant_id: Uuid,
        id: Uuid,
        lead_id: Uuid,
        created_by: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant_id,
            id,
            lead_id,
            external_id: None,
            quote_number: 0,
            revision: 1,
            supersedes_quote_id: None,
            title: String::new(),
            status: "draft".into(),
            currency: "USD".into(),
            valid_until: now.date_naive() + chrono::Duration::days(super::routes::VALIDITY_DAYS),
            terms: None,
            notes: None,
            discount_type: None,
            discount_value: None,
            subtotal_minor: 0,
            discount_minor: 0,
            tax_minor: 0,
            total_minor: 0,
            sent_at: None,
            accepted_at: None,
            rejected_at: None,
            rejection_reason: None,
            created_by,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            version: 1,
        }
    }

    /// The currency's decimals.
    pub fn decimals(&self) -> u32 {
        money::decimals(&self.currency).unwrap_or(2)
    }

    /// The quote number as shown (`Q-000123`).
    pub fn number(&self) -> String {
        format!("Q-{:06}", self.quote_number)
    }

    /// Sent and past its validity.
    pub fn is_expired(&self, today: NaiveDate) -> bool {
        self.status == "sent" && self.valid_until < today
    }

    /// The JSON shown to clients, with its lines.
    pub fn view(&self, lines: &[LineRow], today: NaiveDate) -> Value {
        let d = self.decimals();
        json!({
            "id": self.id,
            "leadId": self.lead_id,
            "externalId": self.external_id,
            "quoteNumber": self.number(),
            "revision": self.revision,
            "supersedesQuoteId": self.supersedes_quote_id,
            "title": self.title,
            "status": self.status,
            "currency": self.currency,
            "validUntil": self.valid_until,
            "terms": self.terms,
            "notes": self.notes,
            "discount": discount_view(&self.discount_type, &self.discount_value),
            "lineItems": lines.iter().map(|l| l.view(d)).collect::<Vec<_>>(),
            "subtotal": format_minor(self.subtotal_minor, d),
            "discountTotal": format_minor(self.discount_minor, d),
            "taxTotal": format_minor(self.tax_minor, d),
            "total": format_minor(self.total_minor, d),
            "sentAt": self.sent_at,
            "acceptedAt": self.accepted_at,
            "rejectedAt": self.rejected_at,
            "rejectionReason": self.rejection_reason,
            "isExpired": self.is_expired(today),
            "createdBy": self.created_by,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "deletedAt": self.deleted_at,
            "version": self.version,
        })
    }
}

impl LineRow {
    /// The JSON shown to clients.
    pub fn view(&self, d: u32) -> Value {
        json!({
            "id": self.id,
            "position": self.position,
            "section": self.section,
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "sku": self.sku,
            "material": self.material,
            "finish": self.finish,
            "widthMm": self.width_mm,
            "heightMm": self.height_mm,
            "depthMm": self.depth_mm,
            "unit": self.unit,
            "quantity": self.quantity,
            "unitPrice": self.unit_price,
            "unitCost": self.unit_cost,
            "discount": discount_view(&self.discount_type, &self.discount_value),
            "taxable": self.taxable,
            "taxRate": self.tax_rate,
            "lineSubtotal": format_minor(self.subtotal_minor, d),
            "lineDiscount": format_minor(self.discount_minor, d),
            "quoteDiscountShare": format_minor(self.quote_discount_minor, d),
            "lineTax": format_minor(self.tax_minor, d),
            "lineTotal": format_minor(self.total_minor, d),
        })
    }
}
