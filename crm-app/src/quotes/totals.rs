//! The arithmetic of a quote: exact decimals, rounded half-up to the
//! currency's minor unit once per computed amount, and parts that always
//! add up to the totals. `docs/quotes.md` states the rules with a worked
//! example.

use rust_decimal::Decimal;

use crate::api::money::to_minor;

/// A discount: a percentage (0 to 100) or an amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// Percent of the amount it applies to.
    Percent(Decimal),
    /// A fixed amount, capped at the amount it applies to.
    Amount(Decimal),
}

/// What the arithmetic needs of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInput {
    /// How many units.
    pub quantity: Decimal,
    /// The price of one unit (may carry sub-cent precision).
    pub unit_price: Decimal,
    /// The line's own discount.
    pub discount: Option<Discount>,
    /// Whether tax applies.
    pub taxable: bool,
    /// The tax rate in percent (`8.25` is 8.25 %).
    pub tax_rate: Decimal,
}

/// The computed amounts of a line, in the currency's minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineAmounts {
    /// quantity × unit price, rounded.
    pub subtotal: i64,
    /// The line's own discount.
    pub discount: i64,
    /// Its share of the quote's discount.
    pub quote_discount: i64,
    /// Tax on what remains, when taxable.
    pub tax: i64,
    /// subtotal − discount − quote discount + tax.
    pub total: i64,
}

/// The computed amounts of a quote, in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Totals {
    /// One per line, in order.
    pub lines: Vec<LineAmounts>,
    /// The sum of the lines' nets (subtotal − own discount).
    pub subtotal: i64,
    /// The quote-level discount (the sum of the lines' shares).
    pub discount_total: i64,
    /// The sum of the lines' tax.
    pub tax_total: i64,
    /// subtotal − discount_total + tax_total.
    pub total: i64,
}

fn apply(discount: Option<Discount>, base: i64, decimals: u32) -> i64 {
    match discount {
        None => 0,
        Some(Discount::Percent(p)) => {
            to_minor(Decimal::from(base) * p / Decimal::ONE_HUNDRED, 0).min(base)
        }
        Some(Discount::Amount(a)) => to_minor(a, decimals).min(base),
    }
}

/// Computes every amount of a quote in a currency with `decimals` minor
/// digits.
///
/// ```
/// use crm_app::quotes::totals::{compute, Discount, LineInput};
/// use rust_decimal::Decimal;
/// let d = |s: &str| s.parse::<Decimal>().unwrap();
/// let lines = [LineInput { quantity: d("3"), unit_price: d("0.333"), discount: None, taxable: true, tax_rate: d("10") }];
/// let totals = compute(&lines, Some(Discount::Amount(d("0.10"))), 2);
/// assert_eq!((totals.subtotal, totals.discount_total, totals.tax_total, totals.total), (100, 10, 9, 99));
/// ```
pub fn compute(lines: &[LineInput], discount: Option<Discount>, decimals: u32) -> Totals {
    let mut amounts: Vec<LineAmounts> = lines
        .iter()
        .map(|line| {
            let subtotal = to_minor(line.quantity * line.unit_price, decimals);
            LineAmounts {
                subtotal,
                discount: apply(line.discount, subtotal, decimals),
                ..LineAmounts::default()
            }
        })
        .collect();
    let nets: Vec<i64> = amounts.iter().map(|a| a.subtotal - a.discount).collect();
    let subtotal: i64 = nets.iter().sum();
    let discount_total = apply(discount, subtotal, decimals);
    for (amount, share) in amounts.iter_mut().zip(spread(discount_total, &nets)) {
        amount.quote_discount = share;
    }
    for (amount, line) in amounts.iter_mut().zip(lines) {
        let taxed = amount.subtotal - amount.discount - amount.quote_discount;
        amount.tax = if line.taxable {
            to_minor(
                Decimal::from(taxed) * line.tax_rate / Decimal::ONE_HUNDRED,
                0,
            )
        } else {
            0
        };
        amount.total = taxed + amount.tax;
    }
    let tax_total = amounts.iter().map(|a| a.tax).sum();
    Totals {
        lines: amounts,
        subtotal,
        discount_total,
        tax_total,
        total: subtotal - discount_total + tax_total,
    }
}

/// Spreads `total` minor units over `weights` in proportion, by largest
/// remainder (ties to the earlier line): the parts sum exactly to `total`
/// and no part exceeds its weight when `total` does not exceed their sum.
pub fn spread(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if sum == 0 || total == 0 {
        return vec![0; weights.len()];
    }
    let total = i128::from(total);
    let mut parts: Vec<i128> = weights
        .iter()
        .map(|w| total * i128::from(*w) / sum)
        .collect();
    let mut remainders: Vec<(i128, usize)> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| (total * i128::from(*w) % sum, i))
        .collect();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let left = total - parts.iter().sum::<i128>();
    for (_, i) in remainders.into_iter().take(left as usize) {
        parts[i] += 1;
    }
    parts.into_iter().map(|p| p as i64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::money::format_minor;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn line(q: &str, p: &str) -> LineInput {
        LineInput {
            quantity: d(q),
            unit_price: d(p),
            discount: None,
            taxable: false,
            tax_rate: Decimal::ZERO,
        }
    }

    #[test]
    fn minor_units_are_shown_with_the_currencys_decimals() {
        assert_eq!(format_minor(1641, 2), "16.41");
        assert_eq!(format_minor(0, 2), "0.00");
        assert_eq!(format_minor(5, 3), "0.005");
        assert_eq!(format_minor(1001, 0), "1001");
    }

    #[test]
    fn amounts_round_half_up_per_line() {
        // 0.125 rounds up to 0.13, 0.124 down to 0.12.
        let t = compute(&[line("1", "0.125"), line("1", "0.124")], None, 2);
        assert_eq!(t.lines[0].subtotal, 13);
        assert_eq!(t.lines[1].subtotal, 12);
        assert_eq!(t.subtotal, 25);
        // Sub-cent unit prices: 37.5 m of edge banding at 0.4375 a metre.
        assert_eq!(compute(&[line("37.5", "0.4375")], None, 2).total, 1641);
        // A currency without decimals.
        assert_eq!(compute(&[line("3", "333.5")], None, 0).total, 1001);
    }

    #[test]
    fn the_quote_discount_is_spread_by_largest_remainder() {
        assert_eq!(spread(100, &[1, 1, 1]), [34, 33, 33]);
        assert_eq!(spread(10, &[0, 5, 5]), [0, 5, 5]);
        assert_eq!(spread(7, &[0, 0]), [0, 0]);
        let t = compute(
            &[line("1", "10"), line("1", "20"), line("1", "0")],
            Some(Discount::Amount(d("1.00"))),
            2,
        );
        assert_eq!(
            t.lines.iter().map(|l| l.quote_discount).collect::<Vec<_>>(),
            [33, 67, 0]
        );
    }

    #[test]
    fn an_amount_discount_is_capped_at_what_it_applies_to() {
        let mut l = line("2", "5");
        l.discount = Some(Discount::Amount(d("50")));
        let t = compute(&[l], Some(Discount::Amount(d("3"))), 2);
        assert_eq!(
            (t.lines[0].discount, t.subtotal, t.discount_total, t.total),
            (1000, 0, 0, 0)
        );
    }

    #[test]
    fn tax_applies_to_taxable_lines_after_both_discounts() {
        let mut taxed = line("1", "100");
        taxed.taxable = true;
        taxed.tax_rate = d("8.25");
        taxed.discount = Some(Discount::Percent(d("10")));
        let t = compute(
            &[taxed, line("1", "100")],
            Some(Discount::Percent(d("5"))),
            2,
        );
        // Nets 90.00 and 100.00; 5 % of 190.00 = 9.50 spread 4.50 / 5.00;
        // tax 8.25 % of 85.50 = 7.05375 → 7.05.
        assert_eq!(t.subtotal, 19000);
        assert_eq!(t.discount_total, 950);
        assert_eq!(t.lines[0].quote_discount, 450);
        assert_eq!(t.tax_total, 705);
        assert_eq!(t.total, 19000 - 950 + 705);
    }

    fn decimal(max_units: i64, scale: u32) -> impl Strategy<Value = Decimal> {
        (0..=max_units).prop_map(move |n| Decimal::new(n, scale))
    }

    fn discount(decimals: u32) -> impl Strategy<Value = Option<Discount>> {
        prop_oneof![
            Just(None),
            decimal(10_000, 2).prop_map(|p| Some(Discount::Percent(p))),
            decimal(10_000_000, decimals).prop_map(|a| Some(Discount::Amount(a))),
        ]
    }

    fn lines() -> impl Strategy<Value = Vec<LineInput>> {
        prop::collection::vec(
            (
                decimal(1_000_000, 3),
                decimal(100_000_000, 4),
                discount(2),
                any::<bool>(),
                decimal(3_000, 2),
            )
                .prop_map(|(quantity, unit_price, discount, taxable, tax_rate)| {
                    LineInput {
                        quantity,
                        unit_price,
                        discount,
                        taxable,
                        tax_rate,
                    }
                }),
            0..30,
        )
    }

    proptest! {
        #[test]
        fn the_parts_always_sum_to_the_totals_and_nothing_is_negative(
            lines in lines(), discount in discount(2), decimals in 0u32..=3,
        ) {
            let t = compute(&lines, discount, decimals);
            prop_assert_eq!(t.lines.len(), lines.len());
            prop_assert_eq!(t.subtotal, t.lines.iter().map(|l| l.subtotal - l.discount).sum::<i64>());
            prop_assert_eq!(t.discount_total, t.lines.iter().map(|l| l.quote_discount).sum::<i64>());
            prop_assert_eq!(t.tax_total, t.lines.iter().map(|l| l.tax).sum::<i64>());
            prop_assert_eq!(t.total, t.lines.iter().map(|l| l.total).sum::<i64>());
            prop_assert_eq!(t.total, t.subtotal - t.discount_total + t.tax_total);
            for l in &t.lines {
                prop_assert!(l.discount >= 0 && l.discount <= l.subtotal);
                prop_assert!(l.quote_discount >= 0 && l.quote_discount <= l.subtotal - l.discount);
                prop_assert!(l.tax >= 0 && l.total >= 0);
            }
            prop_assert!(t.discount_total <= t.subtotal && t.total >= 0);
        }

        #[test]
        fn spreading_is_exact_and_bounded(total in 0i64..1_000_000, weights in prop::collection::vec(0i64..1_000_000, 0..20)) {
            let sum: i64 = weights.iter().sum();
            let total = if sum == 0 { 0 } else { total % (sum + 1) };
            let parts = spread(total, &weights);
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            for (p, w) in parts.iter().zip(&weights) {
                prop_assert!(*p >= 0 && p <= w);
            }
        }
    }
}
