//! A lead as stored ([`LeadRow`]) and as shown ([`Lead`]), and the closed
//! sets of values its fields take ([`LeadStatus`], [`LostReason`],
//! [`LeadSource`], [`ProjectType`]).
//!
//! [`Lead`] is the one description of a lead on the wire: its serde form
//! is what a single lead's response holds and what the OpenAPI document
//! derives its schema from; its [`WriteJson`] writes the same bytes
//! faster, for the lead list only (a test compares the two on arbitrary
//! leads).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

use crate::api::json::{Out, WriteJson};
use crate::api::money::Amount;

pub use super::kinds::{LeadSource, LeadStatus, LostReason, ProjectType};

/// The columns of [`LeadRow`], in order; every lead query selects them.
pub const COLUMNS: &str = "tenant_id, id, external_id, name, company, email, phone, source, project_type, \
     estimated_value_e4, currency, site_address, desired_install_date, owner_user_id, tags, notes, \
     status, lost_reason, status_changed_at, created_at, updated_at, deleted_at, version";

/// A lead as stored.
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
    /// Where it came from.
    pub source: LeadSource,
    /// What kind of job it is.
    pub project_type: ProjectType,
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
    pub status: LeadStatus,
    /// Why it was lost, when it was.
    pub lost_reason: Option<LostReason>,
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

/// Implements `FromRow` for [`LeadRow`] and [`Lead`] by column position,
/// on both backends. Every lead query selects [`COLUMNS`], in that order
/// (a test checks the two lists agree); looking each column up by name
/// hashed the name for every column of every row, a third of the time a
/// page of 50 leads took to decode.
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

        lead_from_row!(@impl sqlx::postgres::PgRow; $($field),*);
        lead_from_row!(@impl sqlx::sqlite::SqliteRow; $($field),*);
    };
    (@impl $row:ty; $($field:ident),*) => {
        impl<'r> sqlx::FromRow<'r, $row> for LeadRow {
            fn from_row(row: &'r $row) -> Result<Self, sqlx::Error> {
                lead_from_row!(@row row, try_get_unchecked; $($field),*)
            }
        }

        impl<'r> sqlx::FromRow<'r, $row> for Lead<'r> {
            fn from_row(row: &'r $row) -> Result<Self, sqlx::Error> {
                lead_from_row!(@view row, try_get_unchecked)
            }
        }

        #[cfg(test)]
        impl<'r> tests::CheckedFromRow<'r, $row> for LeadRow {
            fn checked_from_row(row: &'r $row) -> Result<Self, sqlx::Error> {
                lead_from_row!(@row row, try_get; $($field),*)
            }
        }

        #[cfg(test)]
        impl<'r> tests::CheckedFromRow<'r, $row> for Lead<'r> {
            fn checked_from_row(row: &'r $row) -> Result<Self, sqlx::Error> {
                lead_from_row!(@view row, try_get)
            }
        }
    };
    (@row $row:ident, $get:ident; $($field:ident),*) => {{
        use sqlx::Row as _;
        let mut column = 0usize..;
        // Struct fields are evaluated in the order written.
        Ok(Self {
            $($field: $row.$get(column.next().unwrap_or_default())?,)*
        })
    }};
    // The view, from the same columns: the tenant (0) is left out and the
    // value (9) is shown in its currency (10).
    (@view $row:ident, $get:ident) => {{
        use sqlx::Row as _;
        let e4: Option<i64> = $row.$get(9)?;
        let currency: Option<&'r str> = $row.$get(10)?;
        let TagList(tags) = $row.$get(14)?;
        Ok(Lead {
            id: $row.$get(1)?,
            external_id: $row.$get(2)?,
            name: $row.$get(3)?,
            company: $row.$get(4)?,
            email: $row.$get(5)?,
            phone: $row.$get(6)?,
            source: $row.$get(7)?,
            project_type: $row.$get(8)?,
            estimated_value: Amount::shown(e4, currency),
            currency,
            site_address: $row.$get(11)?,
            desired_install_date: $row.$get(12)?,
            owner_user_id: $row.$get(13)?,
            tags: std::borrow::Cow::Owned(tags),
            notes: $row.$get(15)?,
            status: $row.$get(16)?,
            lost_reason: $row.$get(17)?,
            status_changed_at: $row.$get(18)?,
            created_at: $row.$get(19)?,
            updated_at: $row.$get(20)?,
            deleted_at: $row.$get(21)?,
            version: $row.$get(22)?,
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

/// A lead's tags as decoded from the JSON column for a [`Lead`] (the
/// column's text cannot be passed through, since PostgreSQL's `jsonb`
/// writes it with spaces).
struct TagList(Vec<String>);

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for TagList
where
    Json<Vec<String>>: sqlx::Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let Json(tags) = Json::<Vec<String>>::decode(value)?;
        Ok(Self(tags))
    }
}

impl<DB: sqlx::Database> sqlx::Type<DB> for TagList
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

/// A lead as clients see it: camelCase, money as a decimal string in its
/// currency, timestamps in RFC 3339, the tenant left out. Its text is
/// borrowed: from a [`LeadRow`] ([`LeadRow::view`]), or from a result row
/// for a page of leads, written without copying each of its 700 strings.
///
/// The fields without a doc comment have none in the document either.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "A lead.")]
pub struct Lead<'r> {
    pub id: Uuid,
    pub external_id: Option<&'r str>,
    pub name: &'r str,
    pub company: Option<&'r str>,
    pub email: Option<&'r str>,
    pub phone: Option<&'r str>,
    /// web_form, referral, showroom, phone, email, repeat_customer, other
    #[schema(value_type = String)]
    pub source: LeadSource,
    /// kitchen, bath, closet, built_in, furniture, commercial, other
    #[schema(value_type = String)]
    pub project_type: ProjectType,
    /// A decimal string, with the currency's decimals.
    #[schema(value_type = Option<String>, example = "18450.00")]
    pub estimated_value: Option<Amount>,
    /// ISO 4217.
    pub currency: Option<&'r str>,
    pub site_address: Option<&'r str>,
    pub desired_install_date: Option<NaiveDate>,
    pub owner_user_id: Option<Uuid>,
    #[schema(value_type = Vec<String>)]
    pub tags: std::borrow::Cow<'r, [String]>,
    pub notes: Option<&'r str>,
    /// new, contacted, qualified, quoted, won, lost
    #[schema(value_type = String)]
    pub status: LeadStatus,
    /// price, timing, competitor, no_response, scope, other
    #[schema(value_type = Option<String>)]
    pub lost_reason: Option<LostReason>,
    #[serde(serialize_with = "crate::api::time::rfc3339")]
    pub status_changed_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::time::rfc3339")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::api::time::rfc3339_opt")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Bumped by every change; the ETag.
    pub version: i64,
}

/// A lead as an upsert answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeadUpserted<'r> {
    #[allow(missing_docs)] // A description here would sit beside the `Lead` reference.
    #[serde(flatten)]
    pub lead: Lead<'r>,
    /// Whether the lead was created (201) or updated (200).
    pub created: bool,
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
            source: LeadSource::Other,
            project_type: ProjectType::Other,
            estimated_value_e4: None,
            currency: None,
            site_address: None,
            desired_install_date: None,
            owner_user_id: None,
            tags: Json(Vec::new()),
            notes: None,
            status: LeadStatus::New,
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

    /// The lead as clients see it.
    pub fn view(&self) -> Lead<'_> {
        Lead {
            id: self.id,
            external_id: self.external_id.as_deref(),
            name: &self.name,
            company: self.company.as_deref(),
            email: self.email.as_deref(),
            phone: self.phone.as_deref(),
            source: self.source,
            project_type: self.project_type,
            estimated_value: Amount::shown(self.estimated_value_e4, self.currency.as_deref()),
            currency: self.currency.as_deref(),
            site_address: self.site_address.as_deref(),
            desired_install_date: self.desired_install_date,
            owner_user_id: self.owner_user_id,
            tags: std::borrow::Cow::Borrowed(&self.tags.0),
            notes: self.notes.as_deref(),
            status: self.status,
            lost_reason: self.lost_reason,
            status_changed_at: self.status_changed_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted_at: self.deleted_at,
            version: self.version,
        }
    }
}

/// The serde form of a [`Lead`], written directly: the lead list writes 50
/// of these per page, and this took its JSON from 1.50M to 0.71M
/// instructions a page. Tests compare it with `serde_json` on arbitrary
/// leads.
impl WriteJson for Lead<'_> {
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
        out.str(self.source.as_str());
        out.raw(",\"projectType\":");
        out.str(self.project_type.as_str());
        out.raw(",\"estimatedValue\":");
        match self.estimated_value {
            Some(value) => out.str(value.format_to(&mut [0; 32])),
            None => out.null(),
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
        out.strs(&self.tags);
        out.raw(",\"notes\":");
        out.opt_str(self.notes);
        out.raw(",\"status\":");
        out.str(self.status.as_str());
        out.raw(",\"lostReason\":");
        out.opt_str(self.lost_reason.map(LostReason::as_str));
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

/// A page of leads: the document's name for the `list::Page<Lead>` the
/// list answers.
#[allow(missing_docs, dead_code)]
#[derive(Debug, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "A page of leads.")]
pub struct LeadPage<'r> {
    pub data: Vec<Lead<'r>>,
    pub page_info: crate::api::list::PageInfo,
}

/// Totals of one currency.
#[allow(missing_docs)]
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyTotal {
    pub currency: String,
    pub count: i64,
    pub estimated_value: String,
}

/// One status of the summary.
#[allow(missing_docs)]
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusSummary {
    #[schema(value_type = String)]
    pub status: LeadStatus,
    pub count: i64,
    pub totals: Vec<CurrencyTotal>,
}

/// Counts and totals per status.
#[allow(missing_docs)]
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeadSummary {
    pub data: Vec<StatusSummary>,
}

/// One status and its moves.
#[allow(missing_docs)]
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = LeadStatus)]
pub struct StatusMoves {
    #[schema(value_type = String)]
    pub status: LeadStatus,
    #[schema(value_type = Vec<String>)]
    pub allowed_transitions: &'static [LeadStatus],
    #[schema(value_type = Vec<String>)]
    pub admin_only_transitions: Vec<LeadStatus>,
}

/// The pipeline.
#[allow(missing_docs)]
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeadStatuses {
    pub data: Vec<StatusMoves>,
    #[schema(value_type = Vec<String>)]
    pub lost_reasons: &'static [LostReason],
    #[schema(value_type = Vec<String>)]
    pub sources: &'static [LeadSource],
    #[schema(value_type = Vec<String>)]
    pub project_types: &'static [ProjectType],
}

/// An entry of a lead's timeline.
#[allow(missing_docs)]
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    /// `activity` or `status_change`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: super::kinds::TimelineKind,
    pub id: Uuid,
    #[serde(serialize_with = "crate::api::time::rfc3339")]
    pub at: DateTime<Utc>,
    /// The activity or the status event.
    pub item: serde_json::Value,
}

/// A page of a lead's timeline: the document's name for the
/// `list::Page<TimelineEntry>` the timeline answers.
#[allow(missing_docs, dead_code)]
#[derive(Debug, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "A page of a lead's timeline.")]
pub struct TimelinePage {
    pub data: Vec<TimelineEntry>,
    pub page_info: crate::api::list::PageInfo,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn full() -> LeadRow {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let id = |s: &str| s.parse::<Uuid>().unwrap();
        LeadRow {
            external_id: Some("web-\u{1}77".into()),
            name: "Ma\u{ef}a \"Oak\" O'Brien\\\n".into(),
            company: Some("Birch & Co \u{1F333}".into()),
            email: Some("maia@example.com".into()),
            phone: Some("+1 555 0100\t".into()),
            source: LeadSource::Referral,
            project_type: ProjectType::Kitchen,
            estimated_value_e4: Some(184_505_000),
            currency: Some("USD".into()),
            site_address: Some("12 Mill Rd\r\nUnit 4".into()),
            desired_install_date: NaiveDate::from_ymd_opt(2027, 3, 15),
            owner_user_id: Some(id("6f1c2b1e-0d3a-4c55-9e2f-7a8b9c0d1e2f")),
            tags: Json(vec!["oak".into(), "".into(), "\u{7f}".into()]),
            notes: Some("x".repeat(20) + "\u{8}\u{c}"),
            status: LeadStatus::Lost,
            lost_reason: Some(LostReason::Price),
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
        lead.view().write_json(&mut out);
        out.as_str().to_owned()
    }

    fn shown(lead: &LeadRow) -> Value {
        serde_json::to_value(lead.view()).unwrap()
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
        assert_eq!(serde_json::to_string(&lead.view()).unwrap(), expected);
    }

    #[test]
    fn a_lead_with_nothing_set_shows_nulls_and_no_tags() {
        let lead = LeadRow::new(Uuid::new_v4(), Uuid::new_v4(), Utc::now());
        let view = shown(&lead);
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
        for (currency, shown_as) in [
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
            assert_eq!(shown(&lead)["estimatedValue"], shown_as, "{currency:?}");
        }
    }

    #[test]
    fn every_enum_value_is_named_as_serde_names_it() {
        fn check<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
            all: &[T],
            names: &[&str],
            as_str: impl Fn(&T) -> &'static str,
        ) {
            assert_eq!(all.len(), names.len());
            for (value, name) in all.iter().zip(names) {
                assert_eq!(as_str(value), *name);
                assert_eq!(serde_json::to_value(value).unwrap(), *name);
                assert_eq!(
                    &serde_json::from_value::<T>(Value::from(*name)).unwrap(),
                    value
                );
            }
        }
        check(LeadStatus::ALL, LeadStatus::NAMES, |v| v.as_str());
        check(LostReason::ALL, LostReason::NAMES, |v| v.as_str());
        check(LeadSource::ALL, LeadSource::NAMES, |v| v.as_str());
        check(ProjectType::ALL, ProjectType::NAMES, |v| v.as_str());
        assert_eq!(LeadStatus::parse("won"), Some(LeadStatus::Won));
        assert_eq!(LeadStatus::parse("Won"), None);
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[a-z\"\\\\\u{0}-\u{1f}\u{7f}\u{80}-\u{9f}é🌳 ]{0,40}",
        ]
    }

    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        // Years 1 to 9999, any fraction: none, millis, micros or nanos.
        (
            -62_135_596_800_i64..253_402_300_799,
            prop_oneof![
                Just(0u32),
                0..1_000_000_000u32,
                (0..1000u32).prop_map(|m| m * 1_000_000)
            ],
        )
            .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap())
    }

    prop_compose! {
        fn arbitrary_lead()(
            id in any::<u128>(),
            external_id in proptest::option::of(text()),
            name in text(),
            company in proptest::option::of(text()),
            email in proptest::option::of(text()),
            phone in proptest::option::of(text()),
            source in proptest::sample::select(LeadSource::ALL),
            project_type in proptest::sample::select(ProjectType::ALL),
            money in proptest::option::of((0..=crate::api::money::MAX_UNITS * 10_000, proptest::sample::select(vec!["USD", "JPY", "BHD", "CLF", "XXQ"]))),
            site_address in proptest::option::of(text()),
            date in proptest::option::of(-300_000i32..300_000),
            owner in proptest::option::of(any::<u128>()),
            tags in proptest::collection::vec(text(), 0..4),
            notes in proptest::option::of(text()),
            status in proptest::sample::select(LeadStatus::ALL),
            lost_reason in proptest::option::of(proptest::sample::select(LostReason::ALL)),
            times in (time(), time(), time(), proptest::option::of(time())),
            version in any::<i64>(),
        ) -> LeadRow {
            LeadRow {
                tenant_id: Uuid::nil(),
                id: Uuid::from_u128(id),
                external_id,
                name,
                company,
                email,
                phone,
                source,
                project_type,
                estimated_value_e4: money.map(|m| m.0),
                currency: money.map(|m| m.1.to_owned()),
                site_address,
                desired_install_date: date.and_then(NaiveDate::from_num_days_from_ce_opt),
                owner_user_id: owner.map(Uuid::from_u128),
                tags: Json(tags),
                notes,
                status,
                lost_reason,
                status_changed_at: times.0,
                created_at: times.1,
                updated_at: times.2,
                deleted_at: times.3,
                version,
            }
        }
    }

    proptest! {
        #[test]
        fn the_list_writer_writes_what_serde_writes_for_any_lead(lead in arbitrary_lead()) {
            prop_assert_eq!(written(&lead), serde_json::to_string(&lead.view()).unwrap());
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
            let borrowed = Lead::checked_from_row(&row).expect("every column has its field's type");
            assert_eq!(borrowed, lead.view());
            assert_eq!(Lead::from_row(&row).unwrap(), borrowed);
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
