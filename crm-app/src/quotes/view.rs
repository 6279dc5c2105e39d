//! A quote as shown to clients: the JSON views built from the rows, whose
//! types are also the document's `Quote`, `QuoteLine`, `QuoteDiscount`,
//! `QuoteTotals`, `QuotePage` and `QuoteRevisions` schemas.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{DiscountKind, LineKind, LineRow, QuoteRow, QuoteStatus, Unit};
use crate::api::list::PageInfo;
use crate::api::money::format_minor;

/// A discount: a percentage or an amount.
// Fields are described where the document describes them.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuoteDiscount {
    /// `percent` (0 to 100) or `amount` (money, capped at what it applies to).
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: DiscountKind,
    /// A decimal string.
    #[schema(example = "10")]
    pub value: String,
}

impl QuoteDiscount {
    /// The discount stored as `kind` and `value`, when both are.
    fn of(kind: Option<DiscountKind>, value: &Option<String>) -> Option<Self> {
        Some(Self {
            kind: kind?,
            value: value.clone()?,
        })
    }
}

/// A line of a quote. Quantities and prices are decimal strings; the
/// `line*` amounts are computed by the server.
// Fields are described where the document describes them.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuoteLine {
    #[schema(value_type = Option<Uuid>)]
    pub id: Uuid,
    #[schema(value_type = Option<i32>)]
    pub position: i32,
    /// e.g. "Kitchen – uppers"
    pub section: Option<String>,
    /// cabinet, sheet_good, edge_banding, hardware, labor, finishing, installation, delivery, custom
    #[schema(value_type = String)]
    pub kind: LineKind,
    pub name: String,
    pub description: Option<String>,
    pub sku: Option<String>,
    pub material: Option<String>,
    pub finish: Option<String>,
    pub width_mm: Option<i32>,
    pub height_mm: Option<i32>,
    pub depth_mm: Option<i32>,
    /// ea, sheet, sq_ft, m2, lin_ft, m, hr
    #[schema(value_type = String)]
    pub unit: Unit,
    #[schema(example = "2")]
    pub quantity: String,
    /// May carry sub-cent precision (up to 6 decimals).
    #[schema(example = "0.4375")]
    pub unit_price: String,
    /// Internal; never part of a customer-facing total.
    pub unit_cost: Option<String>,
    pub discount: Option<QuoteDiscount>,
    #[schema(value_type = Option<bool>)]
    pub taxable: bool,
    /// Percent, e.g. "8.25".
    #[schema(value_type = Option<String>)]
    pub tax_rate: String,
    #[schema(value_type = Option<String>)]
    pub line_subtotal: String,
    #[schema(value_type = Option<String>)]
    pub line_discount: String,
    #[schema(value_type = Option<String>)]
    pub quote_discount_share: String,
    #[schema(value_type = Option<String>)]
    pub line_tax: String,
    #[schema(value_type = Option<String>)]
    pub line_total: String,
}

impl QuoteLine {
    /// The line `l` of a quote whose currency has `d` decimals.
    pub fn of(l: &LineRow, d: u32) -> Self {
        Self {
            id: l.id,
            position: l.position,
            section: l.section.clone(),
            kind: l.kind,
            name: l.name.clone(),
            description: l.description.clone(),
            sku: l.sku.clone(),
            material: l.material.clone(),
            finish: l.finish.clone(),
            width_mm: l.width_mm,
            height_mm: l.height_mm,
            depth_mm: l.depth_mm,
            unit: l.unit,
            quantity: l.quantity.clone(),
            unit_price: l.unit_price.clone(),
            unit_cost: l.unit_cost.clone(),
            discount: QuoteDiscount::of(l.discount_type, &l.discount_value),
            taxable: l.taxable,
            tax_rate: l.tax_rate.clone(),
            line_subtotal: format_minor(l.subtotal_minor, d),
            line_discount: format_minor(l.discount_minor, d),
            quote_discount_share: format_minor(l.quote_discount_minor, d),
            line_tax: format_minor(l.tax_minor, d),
            line_total: format_minor(l.total_minor, d),
        }
    }
}

/// A quote with its lines and totals.
// Fields are described where the document describes them.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quote {
    pub id: Uuid,
    pub lead_id: Uuid,
    pub external_id: Option<String>,
    /// Sequential per tenant, shared by revisions.
    #[schema(example = "Q-000123")]
    pub quote_number: String,
    pub revision: i32,
    pub supersedes_quote_id: Option<Uuid>,
    pub title: String,
    /// draft, sent, accepted, rejected, superseded
    #[schema(value_type = String)]
    pub status: QuoteStatus,
    pub currency: String,
    pub valid_until: NaiveDate,
    pub terms: Option<String>,
    pub notes: Option<String>,
    pub discount: Option<QuoteDiscount>,
    pub line_items: Vec<QuoteLine>,
    pub subtotal: String,
    pub discount_total: String,
    pub tax_total: String,
    pub total: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub rejection_reason: Option<String>,
    /// Sent and past validUntil.
    pub is_expired: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i64,
    /// Upserts only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
}

impl Quote {
    /// The quote `q` with its `lines` (the lines of other quotes are
    /// skipped), as of `today` (for `isExpired`).
    pub fn of(q: &QuoteRow, lines: &[LineRow], today: NaiveDate) -> Self {
        let d = q.decimals();
        Self {
            id: q.id,
            lead_id: q.lead_id,
            external_id: q.external_id.clone(),
            quote_number: q.number(),
            revision: q.revision,
            supersedes_quote_id: q.supersedes_quote_id,
            title: q.title.clone(),
            status: q.status,
            currency: q.currency.clone(),
            valid_until: q.valid_until,
            terms: q.terms.clone(),
            notes: q.notes.clone(),
            discount: QuoteDiscount::of(q.discount_type, &q.discount_value),
            line_items: lines
                .iter()
                .filter(|l| l.quote_id == q.id)
                .map(|l| QuoteLine::of(l, d))
                .collect(),
            subtotal: format_minor(q.subtotal_minor, d),
            discount_total: format_minor(q.discount_minor, d),
            tax_total: format_minor(q.tax_minor, d),
            total: format_minor(q.total_minor, d),
            sent_at: q.sent_at,
            accepted_at: q.accepted_at,
            rejected_at: q.rejected_at,
            rejection_reason: q.rejection_reason.clone(),
            is_expired: q.is_expired(today),
            created_by: q.created_by,
            created_at: q.created_at,
            updated_at: q.updated_at,
            deleted_at: q.deleted_at,
            version: q.version,
            created: None,
        }
    }
}

/// Computed totals, nothing saved.
// Fields are described where the document describes them.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuoteTotals {
    pub currency: String,
    pub discount: Option<QuoteDiscount>,
    pub line_items: Vec<QuoteLine>,
    pub subtotal: String,
    pub discount_total: String,
    pub tax_total: String,
    pub total: String,
}

impl From<Quote> for QuoteTotals {
    fn from(q: Quote) -> Self {
        Self {
            currency: q.currency,
            discount: q.discount,
            line_items: q.line_items,
            subtotal: q.subtotal,
            discount_total: q.discount_total,
            tax_total: q.tax_total,
            total: q.total,
        }
    }
}

/// A page of quotes.
// Fields are described where the document describes them.
#[allow(missing_docs)]
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotePage {
    pub data: Vec<Quote>,
    #[schema(value_type = crate::api::list::PageInfo)]
    pub page_info: PageInfo,
}

/// Every revision of a quote number, oldest first.
// Fields are described where the document describes them.
#[allow(missing_docs)]
#[derive(Debug, Serialize, ToSchema)]
pub struct QuoteRevisions {
    pub data: Vec<Quote>,
}
