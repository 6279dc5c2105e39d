//! Reading a quote body: header fields (merge-patch style) and line items
//! (replaced as a whole), with every problem collected into one 422.

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::model::{
    DiscountKind, LineKind, LineRow, MAX_DESCRIPTION, MAX_LINES, MAX_NAME, MAX_SKU, MAX_TEXT,
    QuoteRow, Unit,
};
use super::totals::{self, Discount, LineInput};
use crate::api::fields::{self, Errors};
use crate::api::money;

/// Header fields a client may write (`leadId` only when creating).
pub const HEADER_FIELDS: &[&str] = &[
    "externalId",
    "title",
    "currency",
    "validUntil",
    "terms",
    "notes",
    "discount",
];

/// Computed fields: accepted in a body and ignored (the server computes them).
pub const COMPUTED: &[&str] = &[
    "subtotal",
    "discountTotal",
    "taxTotal",
    "total",
    "isExpired",
];

/// Fields only the service or the lifecycle writes.
pub const READ_ONLY: &[&str] = &[
    "quoteNumber",
    "revision",
    "supersedesQuoteId",
    "status",
    "sentAt",
    "acceptedAt",
    "rejectedAt",
    "rejectionReason",
    "createdBy",
    "createdAt",
    "updatedAt",
    "deletedAt",
    "version",
    "created",
];

const LINE_FIELDS: &[&str] = &[
    "id",
    "position",
    "section",
    "kind",
    "name",
    "description",
    "sku",
    "material",
    "finish",
    "widthMm",
    "heightMm",
    "depthMm",
    "unit",
    "quantity",
    "unitPrice",
    "unitCost",
    "discount",
    "taxable",
    "taxRate",
];
const LINE_COMPUTED: &[&str] = &[
    "lineSubtotal",
    "lineDiscount",
    "quoteDiscountShare",
    "lineTax",
    "lineTotal",
];

/// A non-negative decimal string with at most `scale` decimals and at most
/// `max`.
pub fn decimal(
    field: &str,
    value: &Value,
    scale: u32,
    max: i64,
    errors: &mut Errors,
) -> Option<Decimal> {
    let Value::String(text) = value else {
        errors.add(field, "must be a decimal string such as \"12.50\"");
        return None;
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (text.contains('.') && !digits(fraction)) || whole.len() > 15 {
        errors.add(
            field,
            "must be a non-negative decimal string such as \"12.50\"",
        );
        return None;
    }
    if fraction.len() > scale as usize {
        errors.add(field, format!("must have at most {scale} decimals"));
        return None;
    }
    match Decimal::from_str(text) {
        Ok(d) if d <= Decimal::from(max) => Some(d),
        _ => {
            errors.add(field, format!("must be at most {max}"));
            None
        }
    }
}

/// A discount: `{"type": "percent"|"amount", "value": "…"}` or null.
pub fn discount(
    field: &str,
    value: &Value,
    decimals: u32,
    errors: &mut Errors,
) -> Option<Option<(DiscountKind, Decimal)>> {
    let map = match value {
        Value::Null => return Some(None),
        Value::Object(map) => map,
        _ => {
            errors.add(
                field,
                "must be {\"type\": \"percent\" or \"amount\", \"value\": \"…\"} or null",
            );
            return None;
        }
    };
    if map.keys().any(|k| k != "type" && k != "value") {
        errors.add(field, "takes only type and value");
        return None;
    }
    let kind = fields::one_of(
        &format!("{field}.type"),
        map.get("type").unwrap_or(&Value::Null),
        DiscountKind::NAMES,
        errors,
    )
    .and_then(|kind| DiscountKind::parse(&kind))?;
    let amount = map.get("value").unwrap_or(&Value::Null);
    let value = if kind == DiscountKind::Percent {
        decimal(&format!("{field}.value"), amount, 4, 100, errors)?
    } else {
        decimal(
            &format!("{field}.value"),
            amount,
            decimals,
            money::MAX_UNITS,
            errors,
        )?
    };
    Some(Some((kind, value)))
}

fn to_discount(kind: Option<DiscountKind>, value: &Option<String>) -> Option<Discount> {
    let value = Decimal::from_str(value.as_deref()?).ok()?;
    match kind? {
        DiscountKind::Percent => Some(Discount::Percent(value)),
        DiscountKind::Amount => Some(Discount::Amount(value)),
    }
}

/// A checked change to a quote's header, JSON Merge Patch style: `None`
/// leaves a field as it is, `Some(None)` clears a field that may be empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderPatch {
    /// An active ISO 4217 code.
    pub currency: Option<String>,
    /// The client's own key.
    pub external_id: Option<Option<String>>,
    /// The title (never empty).
    pub title: Option<String>,
    /// The last valid day (never cleared).
    pub valid_until: Option<NaiveDate>,
    /// The terms.
    pub terms: Option<Option<String>>,
    /// The notes.
    pub notes: Option<Option<String>>,
    /// The quote-level discount.
    pub discount: Option<Option<(DiscountKind, Decimal)>>,
}

impl HeaderPatch {
    /// Reads the header fields of `map`, a change to `quote` (whose
    /// currency sets a discount amount's decimals unless `map` changes it),
    /// recording every problem in `errors` in the order of `map`'s keys.
    pub fn parse(map: &Map<String, Value>, quote: &QuoteRow, errors: &mut Errors) -> Self {
        let mut patch = Self::default();
        if let Some(value) = map.get("currency") {
            match value.as_str().filter(|c| money::decimals(c).is_some()) {
                Some(code) => patch.currency = Some(code.to_owned()),
                None => errors.add(
                    "currency",
                    "must be an ISO 4217 code in capitals, such as USD",
                ),
            }
        }
        let decimals = patch
            .currency
            .as_deref()
            .and_then(money::decimals)
            .unwrap_or_else(|| quote.decimals());
        for (key, value) in map {
            match key.as_str() {
                "externalId" => {
                    patch.external_id = fields::opt_text(key, value, MAX_NAME, errors);
                }
                "title" => patch.title = fields::text(key, value, MAX_NAME, errors),
                "validUntil" => match fields::opt_date(key, value, errors) {
                    Some(Some(date)) => patch.valid_until = Some(date),
                    Some(None) => errors.add(key, "is required and cannot be cleared"),
                    None => {}
                },
                "terms" => patch.terms = fields::opt_text(key, value, MAX_TEXT, errors),
                "notes" => patch.notes = fields::opt_text(key, value, MAX_TEXT, errors),
                "discount" => patch.discount = discount(key, value, decimals, errors),
                _ => {}
            }
        }
        patch
    }

    /// Writes the change into `quote`.
    pub fn apply(self, quote: &mut QuoteRow) {
        if let Some(currency) = self.currency {
            quote.currency = currency;
        }
        if let Some(external_id) = self.external_id {
            quote.external_id = external_id;
        }
        if let Some(title) = self.title {
            quote.title = title;
        }
        if let Some(valid_until) = self.valid_until {
            quote.valid_until = valid_until;
        }
        if let Some(terms) = self.terms {
            quote.terms = terms;
        }
        if let Some(notes) = self.notes {
            quote.notes = notes;
        }
        if let Some(discount) = self.discount {
            quote.discount_type = discount.map(|(kind, _)| kind);
            quote.discount_value = discount.map(|(_, value)| value.to_string());
        }
    }
}

/// Applies the header fields of `map` to `quote` (absent stays, null
/// clears): [`HeaderPatch::parse`], then [`HeaderPatch::apply`].
pub fn apply_header(map: &Map<String, Value>, quote: &mut QuoteRow, errors: &mut Errors) {
    HeaderPatch::parse(map, quote, errors).apply(quote);
}

/// Reads `lineItems` into rows for `quote` (positions follow the list).
pub fn lines(value: &Value, quote: &QuoteRow, errors: &mut Errors) -> Option<Vec<LineRow>> {
    let Value::Array(items) = value else {
        errors.add("lineItems", "must be a list of line items");
        return None;
    };
    if items.len() > MAX_LINES {
        errors.add("lineItems", format!("must have at most {MAX_LINES} lines"));
        return None;
    }
    let decimals = quote.decimals();
    let before = errors.0.len();
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |name: &str| format!("lineItems[{i}].{name}");
        let Value::Object(map) = item else {
            errors.add(&format!("lineItems[{i}]"), "must be an object");
            continue;
        };
        for key in map.keys() {
            if !LINE_FIELDS.contains(&key.as_str()) && !LINE_COMPUTED.contains(&key.as_str()) {
                errors.add(&at(key), "is not a known field");
            }
        }
        let get = |name: &str| map.get(name).unwrap_or(&Value::Null);
        let text = |name: &str, max: usize, errors: &mut Errors| {
            fields::opt_text(&at(name), get(name), max, errors).flatten()
        };
        let dim = |name: &str, errors: &mut Errors| {
            fields::opt_int(&at(name), get(name), 1, 100_000, errors)
                .flatten()
                .map(|v| v as i32)
        };
        let id = match map.get("id") {
            Some(v) => fields::uuid(&at("id"), v, errors).unwrap_or_default(),
            None => Uuid::new_v4(),
        };
        // A rejected kind or unit leaves a placeholder: the rows are only
        // returned when nothing was rejected.
        let kind = fields::one_of(&at("kind"), get("kind"), LineKind::NAMES, errors)
            .and_then(|k| LineKind::parse(&k))
            .unwrap_or(LineKind::Custom);
        let unit = fields::one_of(&at("unit"), get("unit"), Unit::NAMES, errors)
            .and_then(|u| Unit::parse(&u))
            .unwrap_or(Unit::Each);
        let name = fields::text(&at("name"), get("name"), MAX_NAME, errors).unwrap_or_default();
        let quantity = decimal(&at("quantity"), get("quantity"), 4, 1_000_000, errors);
        if quantity.is_some_and(|q| q.is_zero()) {
            errors.add(&at("quantity"), "must be more than 0");
        }
        let unit_price = decimal(&at("unitPrice"), get("unitPrice"), 6, 1_000_000_000, errors);
        let unit_cost = match map.get("unitCost") {
            None | Some(Value::Null) => None,
            Some(v) => decimal(&at("unitCost"), v, 6, 1_000_000_000, errors),
        };
        let tax_rate = match map.get("taxRate") {
            None | Some(Value::Null) => Some(Decimal::ZERO),
            Some(v) => decimal(&at("taxRate"), v, 4, 100, errors),
        };
        let taxable = match map.get("taxable") {
            None => false,
            Some(v) => fields::boolean(&at("taxable"), v, errors).unwrap_or(false),
        };
        let line_discount = discount(&at("discount"), get("discount"), decimals, errors).flatten();
        rows.push(LineRow {
            tenant_id: quote.tenant_id,
            id,
            quote_id: quote.id,
            position: i as i32 + 1,
            section: text("section", MAX_NAME, errors),
            kind,
            name,
            description: text("description", MAX_DESCRIPTION, errors),
            sku: text("sku", MAX_SKU, errors),
            material: text("material", MAX_NAME, errors),
            finish: text("finish", MAX_NAME, errors),
            width_mm: dim("widthMm", errors),
            height_mm: dim("heightMm", errors),
            depth_mm: dim("depthMm", errors),
            unit,
            quantity: quantity.unwrap_or_default().to_string(),
            unit_price: unit_price.unwrap_or_default().to_string(),
            unit_cost: unit_cost.map(|c| c.to_string()),
            discount_type: line_discount.map(|(k, _)| k),
            discount_value: line_discount.map(|(_, v)| v.to_string()),
            taxable,
            tax_rate: tax_rate.unwrap_or_default().to_string(),
            subtotal_minor: 0,
            discount_minor: 0,
            quote_discount_minor: 0,
            tax_minor: 0,
            total_minor: 0,
        });
    }
    let mut ids: Vec<Uuid> = rows.iter().map(|l| l.id).collect();
    ids.sort();
    ids.dedup();
    if ids.len() != rows.len() {
        errors.add("lineItems", "line ids must be distinct");
    }
    (errors.0.len() == before).then_some(rows)
}

/// Computes every amount of `quote` from `lines` (which it updates too).
pub fn recompute(quote: &mut QuoteRow, lines: &mut [LineRow]) {
    let inputs: Vec<LineInput> = lines
        .iter()
        .map(|l| LineInput {
            quantity: Decimal::from_str(&l.quantity).unwrap_or_default(),
            unit_price: Decimal::from_str(&l.unit_price).unwrap_or_default(),
            discount: to_discount(l.discount_type, &l.discount_value),
            taxable: l.taxable,
            tax_rate: Decimal::from_str(&l.tax_rate).unwrap_or_default(),
        })
        .collect();
    let discount = to_discount(quote.discount_type, &quote.discount_value);
    let totals = totals::compute(&inputs, discount, quote.decimals());
    for (line, amounts) in lines.iter_mut().zip(&totals.lines) {
        line.subtotal_minor = amounts.subtotal;
        line.discount_minor = amounts.discount;
        line.quote_discount_minor = amounts.quote_discount;
        line.tax_minor = amounts.tax;
        line.total_minor = amounts.total;
    }
    quote.subtotal_minor = totals.subtotal;
    quote.discount_minor = totals.discount_total;
    quote.tax_minor = totals.tax_total;
    quote.total_minor = totals.total;
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;

    fn draft() -> QuoteRow {
        let mut quote = QuoteRow::draft(Uuid::nil(), Uuid::nil(), Uuid::nil(), None, Utc::now());
        quote.title = "Kitchen".into();
        quote.terms = Some("Net 30".into());
        quote
    }

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn a_header_patch_clears_with_null_and_leaves_what_is_absent() {
        let mut quote = draft();
        let mut errors = Errors::default();
        let body =
            object(json!({ "terms": null, "discount": { "type": "percent", "value": "5" } }));
        let patch = HeaderPatch::parse(&body, &quote, &mut errors);
        assert!(errors.0.is_empty());
        assert_eq!(patch.title, None);
        assert_eq!(patch.terms, Some(None));
        patch.apply(&mut quote);
        assert_eq!((quote.title.as_str(), quote.terms), ("Kitchen", None));
        assert_eq!(quote.discount_type, Some(DiscountKind::Percent));
        assert_eq!(quote.discount_value.as_deref(), Some("5"));
    }

    #[test]
    fn a_discount_amount_takes_the_decimals_of_the_currency_the_patch_sets() {
        let quote = draft();
        let mut errors = Errors::default();
        let body = object(json!({
            "currency": "JPY",
            "validUntil": null,
            "discount": { "type": "amount", "value": "10.5" },
        }));
        HeaderPatch::parse(&body, &quote, &mut errors);
        let fields: Vec<(&str, &str)> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("validUntil", "is required and cannot be cleared"),
                ("discount.value", "must have at most 0 decimals"),
            ]
        );
    }
}
