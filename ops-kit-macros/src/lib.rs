//! Procedural macros for `ops-kit`; use them through `ops_kit::audited`.
//!
//! `#[audited(action = "lead.upsert")]` on an axum handler records an audit
//! entry for every successful response, in the same database transaction as
//! the change. The attribute's options and the guarantees are documented on
//! the re-export, `ops_kit::audited`, and in `docs/audit.md`.

mod args;
mod expand;

use proc_macro::TokenStream;

/// Records who changed what for every 2xx response of an axum handler.
///
/// See `ops_kit::audited` for the full documentation.
#[proc_macro_attribute]
pub fn audited(attr: TokenStream, item: TokenStream) -> TokenStream {
    let original: proc_macro2::TokenStream = item.clone().into();
    let args = match syn::parse::<args::Args>(attr) {
        Ok(args) => args,
        Err(err) => return with_original(err, original),
    };
    let func = match syn::parse::<syn::ItemFn>(item) {
        Ok(func) => func,
        Err(err) => return with_original(err, original),
    };
    match expand::expand(args, func) {
        Ok(tokens) => tokens.into(),
        Err(err) => with_original(err, original),
    }
}

/// The error, plus the function as it was written, so that one mistake in
/// the attribute does not bury the user in errors about a missing handler.
fn with_original(err: syn::Error, original: proc_macro2::TokenStream) -> TokenStream {
    let error = err.to_compile_error();
    quote::quote!(#error #original).into()
}
