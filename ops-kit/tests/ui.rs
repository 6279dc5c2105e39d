//! Compile-time behaviour of `#[audited]`: what compiles, and the exact
//! error for each misuse (the `.stderr` files next to the cases).

#[test]
fn audited_compiles_where_it_should_and_explains_every_misuse() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
