//! A quote and its lines as stored: the rows, the closed sets their
//! statuses, kinds, units and discounts come from, and the limits the
//! input and the document share.

use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{fields, money};

/// How long a new quote or a new revision is valid by default.
pub const VALIDITY_DAYS: i64 = 30;

/// The most lines a quote may have.
pub const MAX_LINES: usize = 500;

/// The longest `title`, `externalId`, line `name`, `section`, `material`
/// and `finish` (characters): a name, as everywhere.
pub const MAX_NAME: usize = fields::MAX_NAME;

/// The longest `terms` and `notes`: free notes, as everywhere.
pub const MAX_TEXT: usize = fields::MAX_NOTES;

/// The longest line `description`.
pub const MAX_DESCRIPTION: usize = 2000;

/// The longest line `sku`.
pub const MAX_SKU: usize = 100;

/// The longest rejection `reason`.
pub const MAX_REASON: usize = 1000;

/// What a free-text field may hold: no control characters, no
/// bidirectional overrides or isolates (what `fields::clean` refuses).
pub const TEXT_PATTERN: &str = fields::TEXT_PATTERN;

/// What a rejection reason may hold, as the document states it.
pub const REASON_PATTERN: &str = fields::CONTROL_FREE_PATTERN;

/// A date `YYYY-MM-DD` in the years `fields::opt_date` accepts (1900 to
/// 2200).
pub const DATE_PATTERN: &str = fields::DATE_PATTERN;

/// A stored text that is not one of its set's names.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a known {set}")]
pub struct UnknownName {
    set: &'static str,
    text: String,
}

/// A closed set of names, stored and sent as its snake_case text: the enum
/// with `as_str`, `parse`, `ALL` and `NAMES`, serde, and sqlx encoding as
/// text on both databases.
macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in the document's order.
            pub const ALL: &[Self] = &[$(Self::$variant,)+];
            /// Every value's text, in the same order.
            pub const NAMES: &[&str] = &[$($text,)+];

            /// The text sent and stored.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// The value of `text`, if it is one.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
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
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <String as sqlx::Decode<'r, DB>>::decode(value)?;
                Self::parse(&text).ok_or_else(|| {
                    UnknownName { set: stringify!($name), text }.into()
                })
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            &'q str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut DB::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                let text: &'q str = self.as_str();
                <&'q str as sqlx::Encode<'q, DB>>::encode_by_ref(&text, buf)
            }
        }
    };
}

names! {
    /// Where a quote is in its lifecycle.
    QuoteStatus {
        /// Being written; the only editable status.
        Draft = "draft",
        /// With the customer.
        Sent = "sent",
        /// The customer said yes; locked.
        Accepted = "accepted",
        /// The customer said no.
        Rejected = "rejected",
        /// Replaced by a newer revision.
        Superseded = "superseded",
    }
}

names! {
    /// What a line prices.
    LineKind {
        /// A cabinet.
        Cabinet = "cabinet",
        /// Sheet goods.
        SheetGood = "sheet_good",
        /// Edge banding.
        EdgeBanding = "edge_banding",
        /// Hardware.
        Hardware = "hardware",
        /// Labour.
        Labor = "labor",
        /// Finishing.
        Finishing = "finishing",
        /// Installation.
        Installation = "installation",
        /// Delivery.
        Delivery = "delivery",
        /// Anything else.
        Custom = "custom",
    }
}

names! {
    /// The unit a line's quantity counts.
    Unit {
        /// Each.
        Each = "ea",
        /// Sheets.
        Sheet = "sheet",
        /// Square feet.
        SqFt = "sq_ft",
        /// Square metres.
        M2 = "m2",
        /// Linear feet.
        LinFt = "lin_ft",
        /// Metres.
        M = "m",
        /// Hours.
        Hr = "hr",
    }
}

names! {
    /// How a discount's value is read.
    DiscountKind {
        /// Percent (0 to 100) of what it applies to.
        Percent = "percent",
        /// An amount of money, capped at what it applies to.
        Amount = "amount",
    }
}

/// What a sent quote still allows when it cannot be accepted.
pub const ACTIONS_INSTEAD: &[&str] = &["reject", "revise"];

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
    pub status: QuoteStatus,
    pub currency: String,
    pub valid_until: NaiveDate,
    pub terms: Option<String>,
    pub notes: Option<String>,
    pub discount_type: Option<DiscountKind>,
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
    pub kind: LineKind,
    pub name: String,
    pub description: Option<String>,
    pub sku: Option<String>,
    pub material: Option<String>,
    pub finish: Option<String>,
    pub width_mm: Option<i32>,
    pub height_mm: Option<i32>,
    pub depth_mm: Option<i32>,
    pub unit: Unit,
    pub quantity: String,
    pub unit_price: String,
    pub unit_cost: Option<String>,
    pub discount_type: Option<DiscountKind>,
    pub discount_value: Option<String>,
    pub taxable: bool,
    pub tax_rate: String,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub quote_discount_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
}

impl QuoteRow {
    /// A new, empty draft (revision 1, valid for [`VALIDITY_DAYS`] from
    /// `now`); the number is assigned when it is saved.
    ///
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
            status: QuoteStatus::Draft,
            currency: "USD".into(),
            valid_until: valid_from(now),
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
        self.status == QuoteStatus::Sent && self.valid_until < today
    }

    /// The next revision of this quote, by `user` at `now`: a draft with
    /// the same number and lines, valid for [`VALIDITY_DAYS`], that takes
    /// over the external id (which this one gives up: it is unique per
    /// tenant).
    pub fn next_revision(&mut self, user: Uuid, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            revision: self.revision + 1,
            supersedes_quote_id: Some(self.id),
            status: QuoteStatus::Draft,
            external_id: self.external_id.take(),
            valid_until: valid_from(now),
            sent_at: None,
            accepted_at: None,
            rejected_at: None,
            rejection_reason: None,
            created_by: Some(user),
            created_at: now,
            updated_at: now,
            deleted_at: None,
            version: 1,
            ..self.clone()
        }
    }
}

/// The default validity of a quote started at `now`.
fn valid_from(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive() + Duration::days(VALIDITY_DAYS)
}
