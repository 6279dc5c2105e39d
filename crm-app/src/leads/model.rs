//! A lead as stored and as shown.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::api::json::{Out, WriteJson};
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
#[derive(Debug, Clone, PartialEq)]
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

/// Implements `FromRow` for [`LeadRow`] and [`LeadRef`] by column
/// position, on both backends. Every lead query selects [`COLUMNS`], in
/// that order (a test checks the two lists agree); looking each column up
/// by name hashed the name for every column of every row, a third of the
/// time a page of 50 leads took to decode.
///
/// Columns are decoded without sqlx's check of each value's database type
/// against the field's Rust type (`try_get_unchecked`): the check compared
/// type descriptions 1,150 times a page, a fifth of the decoding. The
/// types are checked once instead, by a test that decodes a stored lead
/// both ways on both databases (`CheckedFromRow`, in tests only).
macro_rules! lead_from_row {
    ($($field:ident),* $(,)?) => {
        /// The fields in the order `from_row` reads them.
        #[cfg(test)]
        const FIELDS: &[&str] = &[$(stringify!($field)),*];

        lead_from_row!(@impl sqlx::postgres::PgRow, LeadRow; $($field),*);
        lead_from_row!(@impl sqlx::sqlite::SqliteRow, LeadRow; $($field),*);
        lead_from_row!(@impl sqlx::postgres::PgRow, LeadRef<'r>; $($field),*);
        lead_from_row!(@impl sqlx::sqlite::SqliteRow, LeadRef<'r>; $($field),*);
    };
    (@impl $row:ty, $lead:ty; $($field:ident),*) => {
        impl<'r> sqlx::FromRow<'r, $row> for $lead {
            fn from_row(row: &'r $row) -> Result<Self, sqlx::Error> {
                lead_from_row!(@decode row, try_get_unchecked; $($field),*)
            }
        }

        #[cfg(test)]
        impl<'r> tests::CheckedFromRow<'r, $row> for $lead {
            fn checked_from_row(row: &'r $row) -> Result<Self, sqlx::Error> {
                lead_from_row!(@decode row, try_get; $($field),*)
            }
        }
    };
    (@decode $row:ident, $get:ident; $($field:ident),*) => {{
        use sqlx::Row as _;
        let mut column = 0usize..;
        // Struct fields are evaluated in the order written.
        Ok(Self {
            $($field: $row.$get(column.next().unwrap_or_default())?,)*
        })
    }};
}

lead_from_row!(
    tenant_id,
    id,
    external_id,
    name,
    company,
    email,
    phone,
    source,
    project_type,
    estimated_value_e4,
    currency,
    site_address,
    desired_install_date,
    owner_user_id,
    tags,
    notes,
    status,
    lost_reason,
    status_changed_at,
    created_at,
    updated_at,
    deleted_at,
    version,
);

/// A lead as read from a result row, its text borrowed from the row: a
/// page of leads is written from these without copying each of its 700
/// strings into a [`LeadRow`] first. [`LeadRow::as_ref`] gives the same
/// view of an owned row.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadRef<'r> {
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The lead.
    pub id: Uuid,
    /// The id in the system it came from.
    pub external_id: Option<&'r str>,
    /// The customer's name.
    pub name: &'r str,
    /// Their company.
    pub company: Option<&'r str>,
    /// Their email, as written.
    pub email: Option<&'r str>,
    /// Their phone number.
    pub phone: Option<&'r str>,
    /// One of [`SOURCES`].
    pub source: &'r str,
    /// One of [`PROJECT_TYPES`].
    pub project_type: &'r str,
    /// The job's estimated value in ten-thousandths of `currency`.
    pub estimated_value_e4: Option<i64>,
    /// ISO 4217 code, present with the value.
    pub currency: Option<&'r str>,
    /// Where the work is installed.
    pub site_address: Option<&'r str>,
    /// When the customer wants it installed.
    pub desired_install_date: Option<NaiveDate>,
    /// The user in charge.
    pub owner_user_id: Option<Uuid>,
    /// Free labels.
    pub tags: TagList<'r>,
    /// Free notes.
    pub notes: Option<&'r str>,
    /// Pipeline status.
    pub status: &'r str,
    /// Why it was lost, when it was.
    pub lost_reason: Option<&'r str>,
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

/// A lead's tags: decoded from the JSON column (the column's text cannot
/// be passed through, since PostgreSQL's `jsonb` writes it with spaces),
/// or borrowed from a [`LeadRow`].
#[derive(Debug, Clone, PartialEq)]
pub struct TagList<'r>(pub Cow<'r, [String]>);

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for TagList<'r>
where
    Json<Vec<String>>: sqlx::Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let Json(tags) = Json::<Vec<String>>::decode(value)?;
        Ok(Self(Cow::Owned(tags)))
    }
}

impl<DB: sqlx::Database> sqlx::Type<DB> for TagList<'_>
where
    Json<Vec<String>>: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <Json<Vec<String>> as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <Json<Vec<String>> as sqlx::Type<DB>>::compatible(ty)
    }
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

    /// The JSON shown to clients (see [`LeadRef`]'s `WriteJson`).
    pub fn view(&self) -> Value {
        let mut out = Out::with_capacity(768);
        self.as_ref().write_json(&mut out);
        serde_json::from_str(out.as_str()).expect("a lead is written as JSON")
    }

    /// The lead, borrowed.
    pub fn as_ref(&self) -> LeadRef<'_> {
        LeadRef {
            tenant_id: self.tenant_id,
            id: self.id,
            external_id: self.external_id.as_deref(),
            name: &self.name,
            company: self.company.as_deref(),
            email: self.email.as_deref(),
            phone: self.phone.as_deref(),
            source: &self.source,
            project_type: &self.project_type,
            estimated_value_e4: self.estimated_value_e4,
            currency: self.currency.as_deref(),
            site_address: self.site_address.as_deref(),
            desired_install_date: self.desired_install_date,
            owner_user_id: self.owner_user_id,
            tags: TagList(Cow::Borrowed(&self.tags.0)),
            notes: self.notes.as_deref(),
            status: &self.status,
            lost_reason: self.lost_reason.as_deref(),
            status_changed_at: self.status_changed_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted_at: self.deleted_at,
            version: self.version,
        }
    }
}

/// A lead as clients see it: camelCase, money as a decimal string in its
/// currency, timestamps in RFC 3339, the tenant left out. Written directly
/// rather than through serde: the lead list writes 50 of these per page.
impl WriteJson for LeadRef<'_> {
    fn write_json(&self, out: &mut Out) {
        out.raw("{\"id\":");
        out.uuid(&self.id);
        out.raw(",\"externalId\":");
        out.opt_str(self.external_id);
        out.raw(",\"name\":");
        out.str(self.name);
        out.raw(",\"company\":");
        out.opt_str(self.company);
        out.raw(",\"email\":");
        out.opt_str(self.email);
        out.raw(",\"phone\":");
        out.opt_str(self.phone);
        out.raw(",\"source\":");
        out.str(self.source);
        out.raw(",\"projectType\":");
        out.str(self.project_type);
        out.raw(",\"estimatedValue\":");
        match (self.estimated_value_e4, self.currency) {
            (Some(value), Some(currency)) => {
                let decimals = money::decimals(currency).unwrap_or(2);
                out.str(money::format_to(value, decimals, &mut [0; 32]));
            }
            _ => out.null(),
        }
        out.raw(",\"currency\":");
        out.opt_str(self.currency);
        out.raw(",\"siteAddress\":");
        out.opt_str(self.site_address);
        out.raw(",\"desiredInstallDate\":");
        out.opt_date(self.desired_install_date.as_ref());
        out.raw(",\"ownerUserId\":");
        out.opt_uuid(self.owner_user_id.as_ref());
        out.raw(",\"tags\":");
        out.strs(&self.tags.0);
        out.raw(",\"notes\":");
        out.opt_str(self.notes);
        out.raw(",\"status\":");
        out.str(self.status);
        out.raw(",\"lostReason\":");
        out.opt_str(self.lost_reason);
        out.raw(",\"statusChangedAt\":");
        out.time(&self.status_changed_at);
        out.raw(",\"createdAt\":");
        out.time(&self.created_at);
        out.raw(",\"updatedAt\":");
        out.time(&self.updated_at);
        out.raw(",\"deletedAt\":");
        out.opt_time(self.deleted_at.as_ref());
        out.raw(",\"version\":");
        out.int(self.version);
        out.raw("}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> LeadRow {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let id = |s: &str| s.parse::<Uuid>().unwrap();
        LeadRow {
            external_id: Some("web-\u{1}77".into()),
            name: "Ma\u{ef}a \"Oak\" O'Brien\\\n".into(),
            company: Some("Birch & Co \u{1F333}".into()),
            email: Some("maia@example.com".into()),
            phone: Some("+1 555 0100\t".into()),
            source: "referral".into(),
            project_type: "kitchen".into(),
            estimated_value_e4: Some(184_505_000),
            currency: Some("USD".into()),
            site_address: Some("12 Mill Rd\r\nUnit 4".into()),
            desired_install_date: NaiveDate::from_ymd_opt(2027, 3, 15),
            owner_user_id: Some(id("6f1c2b1e-0d3a-4c55-9e2f-7a8b9c0d1e2f")),
            tags: Json(vec!["oak".into(), "".into(), "\u{7f}".into()]),
            notes: Some("x".repeat(20) + "\u{8}\u{c}"),
            status: "lost".into(),
            lost_reason: Some("price".into()),
            status_changed_at: at("2026-11-26T09:05:00.123456Z"),
            created_at: at("2026-01-02T03:04:05Z"),
            updated_at: at("2026-11-26T09:05:00.120Z"),
            deleted_at: Some(at("2026-11-26T10:00:00.000001Z")),
            version: 7,
            ..LeadRow::new(
                Uuid::new_v4(),
                id("0192d4e2-8a4b-7c3d-9e1f-a2b3c4d5e6f7"),
                Utc::now(),
            )
        }
    }

    fn written(lead: &LeadRow) -> String {
        let mut out = Out::default();
        lead.as_ref().write_json(&mut out);
        out.as_str().to_owned()
    }

    #[test]
    fn a_lead_is_shown_in_camel_case_with_escaped_text_and_without_its_tenant() {
        let expected = concat!(
            r#"{"id":"0192d4e2-8a4b-7c3d-9e1f-a2b3c4d5e6f7","externalId":"web-\u000177","#,
            r#""name":"Maïa \"Oak\" O'Brien\\\n","company":"Birch & Co 🌳","#,
            r#""email":"maia@example.com","phone":"+1 555 0100\t","source":"referral","#,
            r#""projectType":"kitchen","estimatedValue":"18450.50","currency":"USD","#,
            r#""siteAddress":"12 Mill Rd\r\nUnit 4","desiredInstallDate":"2027-03-15","#,
            r#""ownerUserId":"6f1c2b1e-0d3a-4c55-9e2f-7a8b9c0d1e2f","tags":["oak","","#,
            "\"\u{7f}\"],",
            r#""notes":"xxxxxxxxxxxxxxxxxxxx\b\f","status":"lost","lostReason":"price","#,
            r#""statusChangedAt":"2026-11-26T09:05:00.123456Z","createdAt":"2026-01-02T03:04:05Z","#,
            r#""updatedAt":"2026-11-26T09:05:00.120Z","deletedAt":"2026-11-26T10:00:00.000001Z","#,
            r#""version":7}"#,
        );
        let lead = full();
        assert_eq!(written(&lead), expected);
        assert_eq!(
            lead.view(),
            serde_json::from_str::<Value>(expected).unwrap()
        );
    }

    #[test]
    fn a_lead_with_nothing_set_shows_nulls_and_no_tags() {
        let lead = LeadRow::new(Uuid::new_v4(), Uuid::new_v4(), Utc::now());
        let view = lead.view();
        for field in [
            "externalId",
            "company",
            "email",
            "phone",
            "estimatedValue",
            "currency",
            "siteAddress",
            "desiredInstallDate",
            "ownerUserId",
            "notes",
            "lostReason",
            "deletedAt",
        ] {
            assert_eq!(view[field], Value::Null, "{field}");
        }
        assert_eq!(view["tags"], serde_json::json!([]));
        assert_eq!(view["name"], "");
        assert_eq!(view.as_object().unwrap().len(), 22);
    }

    #[test]
    fn the_estimated_value_is_shown_in_its_currency_decimals() {
        for (currency, shown) in [
            (Some("USD"), Value::from("18450.50")),
            (Some("JPY"), Value::from("18450")),
            (Some("BHD"), Value::from("18450.500")),
            // A code the table does not know gets two decimals.
            (Some("XXQ"), Value::from("18450.50")),
            // Never stored (a check constraint pairs the two).
            (None, Value::Null),
        ] {
            let lead = LeadRow {
                currency: currency.map(Into::into),
                ..full()
            };
            assert_eq!(lead.view()["estimatedValue"], shown, "{currency:?}");
        }
    }

    /// `FromRow` with sqlx's check of every column's type.
    pub(super) trait CheckedFromRow<'r, R>: Sized {
        fn checked_from_row(row: &'r R) -> Result<Self, sqlx::Error>;
    }

    /// Stores `lead` and reads it back with and without the type checks.
    async fn decoded_both_ways(pool: &ops_kit::sql::Pool, lead: &LeadRow) {
        use sqlx::FromRow as _;
        let mut tx = pool.begin().await.unwrap();
        crate::leads::store::insert(&mut tx, lead).await.unwrap();
        let sql = format!("SELECT {COLUMNS} FROM leads WHERE id = $1");
        ops_kit::on_backend!(&mut tx, conn => {
            let row = sqlx::query(&sql).bind(lead.id).fetch_one(&mut **conn).await.unwrap();
            let checked = LeadRow::checked_from_row(&row).expect("every column has its field's type");
            assert_eq!(&checked, lead);
            assert_eq!(LeadRow::from_row(&row).unwrap(), checked);
            let borrowed = LeadRef::checked_from_row(&row).expect("every column has its field's type");
            assert_eq!(borrowed, lead.as_ref());
            assert_eq!(LeadRef::from_row(&row).unwrap(), borrowed);
        });
        tx.rollback().await.unwrap();
    }

    #[tokio::test]
    async fn every_column_has_its_fields_type_on_both_databases() {
        use crate::seed::{DEMO_TENANT_ID, DEV_ADMIN_ID};
        for db in [
            ops_kit::testing::TestDb::postgres().await,
            ops_kit::testing::TestDb::sqlite().await,
        ] {
            crate::migrate::run(&db.pool).await.unwrap();
            crate::seed::run(&db.pool).await.unwrap();
            let now = crate::api::now();
            let full = LeadRow {
                tenant_id: DEMO_TENANT_ID,
                owner_user_id: Some(DEV_ADMIN_ID),
                email: Some("Maia@Example.com".into()),
                status_changed_at: now,
                created_at: now,
                updated_at: now,
                deleted_at: Some(now),
                ..full()
            };
            decoded_both_ways(&db.pool, &full).await;
            let bare = LeadRow::new(DEMO_TENANT_ID, Uuid::new_v4(), now);
            decoded_both_ways(&db.pool, &bare).await;
            db.drop_db().await;
        }
    }

    #[test]
    fn decodes_the_columns_in_the_order_the_queries_select_them() {
        let columns: Vec<&str> = COLUMNS.split(',').map(str::trim).collect();
        assert_eq!(columns, FIELDS);
    }
}
