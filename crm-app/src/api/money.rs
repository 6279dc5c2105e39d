//! Money, for leads and quotes alike: amounts are `rust_decimal`
//! [`Decimal`]s, read from and sent as exact decimal strings, in a
//! currency of the ISO 4217 table here ([`decimals`], [`codes`]).
//!
//! Clients send and receive amounts as strings (`"18450.00"`) so that no
//! JSON number ever rounds them. An amount may carry at most as many
//! decimals as its currency's minor unit (two for USD, none for JPY, three
//! for KWD). Stored, an amount is a whole number: a lead's estimate counts
//! 0.0001 units ([`parse`], [`format`], [`Amount`]), a quote's amounts
//! count minor units ([`to_minor`], [`format_minor`]); both are exact on
//! both databases.

use std::str::FromStr as _;

use rust_decimal::prelude::ToPrimitive as _;
use rust_decimal::{Decimal, RoundingStrategy};

/// The active ISO 4217 currencies whose minor unit is not two decimals.
const EXPONENTS: &[(&str, u32)] = &[
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("ISK", 0),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("PYG", 0),
    ("RWF", 0),
    ("UGX", 0),
    ("UYI", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    ("BHD", 3),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("TND", 3),
    ("CLF", 4),
    ("UYW", 4),
];

/// The active ISO 4217 currency codes (funds and precious metals aside).
const CODES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP",
    "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF",
    "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD",
    "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP",
    "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
    "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB",
    "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD",
    "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL",
    "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYI",
    "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF",
    "YER", "ZAR", "ZMW", "ZWG",
];

/// The currency codes [`decimals`] knows, in order.
///
/// ```
/// let codes = crm_app::api::money::codes();
/// assert!(codes.contains(&"USD") && !codes.contains(&"XYZ"));
/// assert!(codes.iter().all(|c| crm_app::api::money::decimals(c).is_some()));
/// ```
pub fn codes() -> &'static [&'static str] {
    CODES
}

/// The largest amount accepted: a trillion units.
pub const MAX_UNITS: i64 = 1_000_000_000_000;

/// The number of decimals of `currency`'s minor unit, `None` when it is not
/// an active ISO 4217 code (upper case).
///
/// ```
/// use crm_app::api::money::decimals;
/// assert_eq!(decimals("USD"), Some(2));
/// assert_eq!(decimals("JPY"), Some(0));
/// assert_eq!(decimals("usd"), None);
/// assert_eq!(decimals("XYZ"), None);
/// ```
pub fn decimals(currency: &str) -> Option<u32> {
    if currency.len() != 3 || CODES.binary_search(&currency).is_err() {
        return None;
    }
    Some(
        EXPONENTS
            .iter()
            .find(|(code, _)| *code == currency)
            .map_or(2, |(_, exp)| *exp),
    )
}

/// Reads a non-negative decimal string of at most [`MAX_UNITS`] units
/// and at most `max_decimals` decimals. The error says what is wrong.
///
/// ```
/// use crm_app::api::money::parse_decimal;
/// assert_eq!(parse_decimal("18450.5", 2).unwrap().to_string(), "18450.5");
/// assert!(parse_decimal("1.005", 2).is_err());
/// ```
pub fn parse_decimal(text: &str, max_decimals: u32) -> Result<Decimal, String> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits(whole)
        || !digits(fraction)
        || (text.contains('.') && fraction.is_empty())
    {
        return Err("must be a non-negative decimal string such as \"18450.00\"".into());
    }
    if fraction.len() > max_decimals as usize {
        return Err(match max_decimals {
            0 => "must be a whole number in this currency".into(),
            n => format!("must have at most {n} decimals in this currency"),
        });
    }
    let whole = match whole.trim_start_matches('0') {
        "" => "0",
        w => w,
    };
    let too_large = || "is too large".to_string();
    let value = if fraction.is_empty() {
        Decimal::from_str(whole)
    } else {
        Decimal::from_str(&format!("{whole}.{fraction}"))
    }
    .map_err(|_| too_large())?;
    if value > Decimal::from(MAX_UNITS) {
        return Err(too_large());
    }
    Ok(value)
}

/// Parses a non-negative decimal string into ten-thousandths, allowing at
/// most `max_decimals` decimals (see [`parse_decimal`]).
///
/// ```
/// use crm_app::api::money::parse;
/// assert_eq!(parse("18450.5", 2), Ok(184_505_000));
/// assert!(parse("1.005", 2).is_err());
/// assert!(parse("-3", 2).is_err());
/// assert!(parse("1e3", 2).is_err());
/// ```
pub fn parse(text: &str, max_decimals: u32) -> Result<i64, String> {
    let value = parse_decimal(text, max_decimals.min(4))?;
    to_e4(value).ok_or_else(|| "is too large".to_string())
}

/// An amount in ten-thousandths (truncated past four decimals), `None`
/// past `i64`.
pub fn to_e4(value: Decimal) -> Option<i64> {
    (value * Decimal::from(10_000)).trunc().to_i64()
}

/// Ten-thousandths as a decimal.
pub fn from_e4(e4: i64) -> Decimal {
    Decimal::new(e4, 4)
}

/// Rounds half-up (away from zero; amounts are never negative) to
/// `decimals` and returns minor units.
///
/// ```
/// use crm_app::api::money::to_minor;
/// assert_eq!(to_minor("12.345".parse().unwrap(), 2), 1235);
/// ```
pub fn to_minor(value: Decimal, decimals: u32) -> i64 {
    let rounded = value.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero);
    let scaled = rounded * Decimal::from(10_i64.pow(decimals));
    i64::try_from(scaled.trunc()).unwrap_or(i64::MAX)
}

/// Minor units as a decimal string with `decimals` decimals.
///
/// ```
/// use crm_app::api::money::format_minor;
/// assert_eq!(format_minor(1235, 2), "12.35");
/// assert_eq!(format_minor(7, 0), "7");
/// ```
pub fn format_minor(minor: i64, decimals: u32) -> String {
    let mut value = Decimal::from(minor);
    // Scales up to 28 are valid; currencies have at most 4 decimals.
    let _ = value.set_scale(decimals.min(28));
    value.to_string()
}

/// Formats ten-thousandths with exactly `decimals` decimals.
///
/// ```
/// use crm_app::api::money::format;
/// assert_eq!(format(184_505_000, 2), "18450.50");
/// assert_eq!(format(50_000, 0), "5");
/// assert_eq!(format(12_345, 4), "1.2345");
/// ```
pub fn format(e4: i64, decimals: u32) -> String {
    format_to(e4, decimals, &mut [0; 32]).to_owned()
}

/// [`format`] into a buffer on the stack, without allocating: a page of
/// leads formats one amount per lead. The text is the one `rust_decimal`
/// writes for [`from_e4`] truncated to `decimals` (a test compares them).
///
/// ```
/// use crm_app::api::money::format_to;
/// assert_eq!(format_to(184_505_000, 2, &mut [0; 32]), "18450.50");
/// assert_eq!(format_to(-12_345, 3, &mut [0; 32]), "-1.234");
/// assert_eq!(format_to(i64::MIN, 4, &mut [0; 32]), "-922337203685477.5808");
/// assert_eq!(format_to(-50, 2, &mut [0; 32]), "0.00");
/// ```
pub fn format_to(e4: i64, decimals: u32, buf: &mut [u8; 32]) -> &str {
    let magnitude = e4.unsigned_abs();
    // The digits go after room for a sign, which is kept only when a
    // digit shown is not zero (no "-0.00" for a cut-off fraction).
    let mut len = 1;
    let mut whole = itoa::Buffer::new();
    let whole = whole.format(magnitude / 10_000).as_bytes();
    buf[len..len + whole.len()].copy_from_slice(whole);
    len += whole.len();
    let decimals = decimals.min(4) as usize;
    if decimals > 0 {
        let mut fraction = [0u8; 4];
        fill_digits(&mut fraction, (magnitude % 10_000) as u32);
        buf[len] = b'.';
        buf[len + 1..len + 1 + decimals].copy_from_slice(&fraction[..decimals]);
        len += 1 + decimals;
    }
    let shows_a_digit = buf[1..len].iter().any(|b| matches!(b, b'1'..=b'9'));
    let start = if e4 < 0 && shows_a_digit {
        buf[0] = b'-';
        0
    } else {
        1
    };
    // Only ASCII digits, a sign and a point were written.
    std::str::from_utf8(&buf[start..len]).unwrap_or_default()
}

/// An amount as shown: ten-thousandths with its currency's decimals, sent
/// as the decimal string [`format`] writes.
///
/// ```
/// use crm_app::api::money::Amount;
/// let shown = Amount::shown(Some(184_505_000), Some("BHD")).unwrap();
/// assert_eq!(serde_json::to_string(&shown).unwrap(), r#""18450.500""#);
/// assert_eq!(Amount::shown(Some(5), None), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    /// The amount in ten-thousandths.
    pub e4: i64,
    /// The decimals shown.
    pub decimals: u32,
}

impl Amount {
    /// A stored value shown in its currency (two decimals for a code the
    /// table does not know); `None` unless both are there.
    pub fn shown(e4: Option<i64>, currency: Option<&str>) -> Option<Self> {
        Some(Self {
            e4: e4?,
            decimals: decimals(currency?).unwrap_or(2),
        })
    }

    /// The text, in a buffer on the stack.
    pub fn format_to(self, buf: &mut [u8; 32]) -> &str {
        format_to(self.e4, self.decimals, buf)
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.format_to(&mut [0; 32]))
    }
}

/// Formats ten-thousandths given as decimal digits (a sum that may pass
/// `i64`) with exactly `decimals` decimals; `None` when `e4` is not made
/// of ASCII digits only.
///
/// ```
/// use crm_app::api::money::format_digits;
/// assert_eq!(format_digits("184505000", 2).as_deref(), Some("18450.50"));
/// assert_eq!(format_digits("1500", 2).as_deref(), Some("0.15"));
/// assert_eq!(format_digits("0", 0).as_deref(), Some("0"));
/// assert_eq!(
///     format_digits("100000000000000000000000", 2).as_deref(),
///     Some("10000000000000000000.00")
/// );
/// assert_eq!(format_digits("-5", 2), None);
/// ```
pub fn format_digits(e4: &str, decimals: u32) -> Option<String> {
    if e4.is_empty() || !e4.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{e4:0>5}");
    let (whole, fraction) = padded.split_at(padded.len() - 4);
    let whole = match whole.trim_start_matches('0') {
        "" => "0",
        w => w,
    };
    Some(match decimals {
        0 => whole.to_string(),
        n => format!("{whole}.{}", &fraction[..n.min(4) as usize]),
    })
}

/// `value` as decimal digits filling `out`, zero-padded.
fn fill_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_are_sorted_for_binary_search() {
        assert!(CODES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_listed_exponent_belongs_to_a_listed_code() {
        for (code, _) in EXPONENTS {
            assert!(decimals(code).is_some(), "{code}");
        }
    }

    #[test]
    fn amounts_round_trip_through_storage() {
        for (text, dec) in [
            ("0", 0),
            ("0.00", 2),
            ("18450.00", 2),
            ("7.125", 3),
            ("1000000000000", 0),
        ] {
            let e4 = parse(text, dec).unwrap();
            assert_eq!(format(e4, dec), text);
        }
    }

    proptest::proptest! {
        #[test]
        fn the_fast_format_is_the_decimal_one(e4 in 0..i64::MAX, decimals in 0u32..=4) {
            let decimal = from_e4(e4).trunc_with_scale(decimals);
            proptest::prop_assert_eq!(format(e4, decimals), format!("{decimal:.*}", decimals as usize));
        }

        #[test]
        fn parsing_reads_what_formatting_writes(e4 in 0..=MAX_UNITS * 10_000, decimals in 0u32..=4) {
            let e4 = e4 - e4 % 10_i64.pow(4 - decimals);
            proptest::prop_assert_eq!(parse(&format(e4, decimals), decimals), Ok(e4));
        }
    }

    #[test]
    fn malformed_or_oversized_amounts_are_refused() {
        for text in [
            "",
            ".5",
            "5.",
            "1,000",
            " 5",
            "+5",
            "0x10",
            "1000000000001",
            "99999999999999999999999",
        ] {
            assert!(parse(text, 2).is_err(), "{text:?}");
        }
    }
}
