//! The request bodies of quotes: `QuoteInput` (create or replace a draft),
//! `QuotePatch` (change a draft's header) and `Rejection`, as the document
//! describes them. The header fields both bodies take are declared once
//! (`quote_body!`); their limits and patterns come from the constants the
//! validation in [`super::input`] uses.

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{KnownFormat, Object, SchemaFormat};
use uuid::Uuid;

use super::domain::SORTS;
use super::error::QuoteError;
use crate::api::fields::{self, Errors};
use crate::api::list::Deleted;

use super::model::{
    DATE_PATTERN, MAX_LINES, MAX_NAME, MAX_REASON, MAX_TEXT, REASON_PATTERN, TEXT_PATTERN,
};
use super::view::{QuoteDiscount, QuoteLine};

/// A text of at most `max` characters matching [`TEXT_PATTERN`], null
/// allowed when `nullable`, at least one character when `min`.
fn text(max: usize, nullable: bool, min: bool) -> Object {
    let kind = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    };
    let mut schema = ObjectBuilder::new()
        .schema_type(kind)
        .max_length(Some(max))
        .pattern(Some(TEXT_PATTERN));
    if min {
        schema = schema.min_length(Some(1));
    }
    schema.build()
}

fn external_id() -> Object {
    text(MAX_NAME, true, false)
}

fn title() -> Object {
    let mut schema = text(MAX_NAME, false, true);
    schema.description = Some("Required when creating.".into());
    schema
}

fn long_text() -> Object {
    text(MAX_TEXT, true, false)
}

fn currency() -> Object {
    crate::api::fields::schema::one_of(
        crate::api::money::codes(),
        false,
        "An active ISO 4217 code; required when creating.",
    )
}

fn valid_until() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .description(Some("Defaults to today + 30 days; years 1900 to 2200."))
        .pattern(Some(DATE_PATTERN))
        .build()
}

/// Declares a quote body: its own fields first, then the header fields a
/// client may write, shared by [`QuoteInput`] and [`QuotePatch`].
macro_rules! quote_body {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize, ToSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// The client's own key for the quote; unique per tenant.
            #[schema(schema_with = external_id, required = false)]
            pub external_id: Option<String>,
            /// Required when creating.
            #[schema(schema_with = title, required = false)]
            pub title: Option<String>,
            /// Required when creating.
            #[schema(schema_with = currency, required = false)]
            pub currency: Option<String>,
            /// Defaults to today + 30 days; years 1900 to 2200.
            #[schema(schema_with = valid_until, required = false)]
            pub valid_until: Option<String>,
            /// The quote's terms.
            #[schema(schema_with = long_text, required = false)]
            pub terms: Option<String>,
            /// Notes on the quote.
            #[schema(schema_with = long_text, required = false)]
            pub notes: Option<String>,
            // As `QuoteDiscount` describes it.
            #[allow(missing_docs)]
            pub discount: Option<QuoteDiscount>,
        }
    };
}

fn line_items() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(utoipa::openapi::Ref::from_schema_name("QuoteLine"))
        .description(Some("Replaces every line when present."))
        .max_items(Some(MAX_LINES))
        .build()
}

quote_body! {
    /// The writable fields of a quote. The computed totals of a quote
    /// read earlier may be sent back; they are ignored.
    QuoteInput {
        /// The quote to update (drafts only).
        id: Option<Uuid>,
        /// Required when creating.
        lead_id: Option<Uuid>,
        /// Replaces every line when present.
        #[schema(schema_with = line_items, required = false)]
        line_items: Option<Vec<QuoteLine>>,
    }
}

quote_body! {
    /// A change to a draft's header.
    QuotePatch {}
}

/// The body of a rejection.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Why the customer said no.
    #[schema(schema_with = reason)]
    pub reason: String,
}

impl Rejection {
    /// The reason, cleaned, once it passes the text rules.
    pub fn reason(&self) -> Result<String, QuoteError> {
        let mut errors = Errors::default();
        let reason = fields::text(
            "reason",
            &Value::from(self.reason.as_str()),
            MAX_REASON,
            &mut errors,
        );
        QuoteError::check(errors)?;
        Ok(reason.unwrap_or_default())
    }
}

fn reason() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("Why the customer said no."))
        .min_length(Some(1))
        .max_length(Some(MAX_REASON))
        .pattern(Some(REASON_PATTERN))
        .build()
}

fn sorts() -> Object {
    crate::api::list::sort_parameter(SORTS)
}

/// The query string of `GET /quotes`, checked by
/// [`Listing::parse`](super::domain::Listing::parse).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct QuoteListQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// `createdAt` or `updatedAt`, `-` first for descending (default `-createdAt`).
    #[param(schema_with = sorts)]
    pub sort: Option<String>,
    /// The lead.
    pub lead_id: Option<Uuid>,
    /// Statuses, comma-separated.
    pub status: Option<String>,
    /// Only quotes valid until before this date (YYYY-MM-DD).
    // The pattern is DATE_PATTERN (a test holds them equal): `schema_with`
    // would drop the parameter's description.
    #[param(format = Date, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-[0-9]{2}-[0-9]{2}$")]
    pub valid_before: Option<String>,
    /// `include` or `only` to see deleted drafts.
    #[param(inline)]
    pub deleted: Option<Deleted>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_valid_before_parameter_states_the_date_pattern_validation_uses() {
        let doc = serde_json::to_value(crate::openapi_document()).unwrap();
        let parameters = doc["paths"]["/api/crm/quotes"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let valid_before = parameters
            .iter()
            .find(|p| p["name"] == "validBefore")
            .unwrap();
        assert_eq!(valid_before["schema"]["pattern"], DATE_PATTERN);
    }
}
