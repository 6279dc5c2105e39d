//! Parsing of `#[audited(...)]` arguments.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Token, bracketed, parenthesized};

mod kw {
    syn::custom_keyword!(action);
    syn::custom_keyword!(resource);
    syn::custom_keyword!(resource_id);
    syn::custom_keyword!(redact);
    syn::custom_keyword!(path);
    syn::custom_keyword!(body);
    syn::custom_keyword!(none);
}

/// Where the audited resource's id comes from.
pub(crate) enum ResourceId {
    /// A field of the JSON response body (default: `id`).
    Body(LitStr),
    /// A path parameter of the route.
    Path(LitStr),
    /// No id (collection-wide actions).
    None,
}

/// The parsed attribute.
pub(crate) struct Args {
    pub(crate) action: LitStr,
    pub(crate) resource: Option<LitStr>,
    pub(crate) resource_id: ResourceId,
    pub(crate) redact: Vec<LitStr>,
}

/// One `name = value` pair, before the duplicate check.
enum Arg {
    Action(Span, LitStr),
    Resource(Span, LitStr),
    ResourceId(Span, ResourceId),
    Redact(Span, Vec<LitStr>),
}

impl Arg {
    fn name(&self) -> &'static str {
        match self {
            Arg::Action(..) => "action",
            Arg::Resource(..) => "resource",
            Arg::ResourceId(..) => "resource_id",
            Arg::Redact(..) => "redact",
        }
    }

    fn span(&self) -> Span {
        match self {
            Arg::Action(s, _) | Arg::Resource(s, _) | Arg::ResourceId(s, _) | Arg::Redact(s, _) => {
                *s
            }
        }
    }
}

const EXPECTED: &str = "expected one of `action`, `resource`, `resource_id`, `redact`";

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::action) {
            let key = input.parse::<kw::action>()?;
            input.parse::<Token![=]>()?;
            let value = string(input, "a string literal like \"lead.upsert\"")?;
            check_action(&value)?;
            Ok(Arg::Action(key.span, value))
        } else if lookahead.peek(kw::resource_id) {
            let key = input.parse::<kw::resource_id>()?;
            input.parse::<Token![=]>()?;
            Ok(Arg::ResourceId(key.span, resource_id(input)?))
        } else if lookahead.peek(kw::resource) {
            let key = input.parse::<kw::resource>()?;
            input.parse::<Token![=]>()?;
            let value = string(input, "a string literal like \"lead\"")?;
            check_identifier(&value, "resource")?;
            Ok(Arg::Resource(key.span, value))
        } else if lookahead.peek(kw::redact) {
            let key = input.parse::<kw::redact>()?;
            input.parse::<Token![=]>()?;
            if !input.peek(syn::token::Bracket) {
                return Err(
                    input.error("expected a list of field names, like [\"taxId\", \"iban\"]")
                );
            }
            let content;
            bracketed!(content in input);
            let names = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
            for name in &names {
                if name.value().is_empty() {
                    return Err(syn::Error::new(
                        name.span(),
                        "a redacted field name cannot be empty",
                    ));
                }
            }
            Ok(Arg::Redact(key.span, names.into_iter().collect()))
        } else if input.peek(Ident) {
            let ident: Ident = input.parse()?;
            Err(syn::Error::new(
                ident.span(),
                format!("unknown option `{ident}`; {EXPECTED}"),
            ))
        } else {
            Err(lookahead.error())
        }
    }
}

fn string(input: ParseStream<'_>, what: &str) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        input.parse()
    } else {
        Err(input.error(format!("expected {what}")))
    }
}

fn resource_id(input: ParseStream<'_>) -> syn::Result<ResourceId> {
    let lookahead = input.lookahead1();
    if lookahead.peek(kw::none) {
        input.parse::<kw::none>()?;
        return Ok(ResourceId::None);
    }
    let path = if lookahead.peek(kw::path) {
        input.parse::<kw::path>()?;
        true
    } else if lookahead.peek(kw::body) {
        input.parse::<kw::body>()?;
        false
    } else {
        return Err(syn::Error::new(
            input.span(),
            "expected `path(\"name\")`, `body(\"field\")` or `none`",
        ));
    };
    let content;
    parenthesized!(content in input);
    let name = string(
        &content,
        "the parameter's name as a string literal, like \"id\"",
    )?;
    if !content.is_empty() {
        return Err(content.error("expected a single string literal"));
    }
    if name.value().is_empty() {
        return Err(syn::Error::new(name.span(), "the name cannot be empty"));
    }
    Ok(if path {
        ResourceId::Path(name)
    } else {
        ResourceId::Body(name)
    })
}

/// `<entity>.<verb>`: lowercase words joined by dots, at least one dot.
fn check_action(value: &LitStr) -> syn::Result<()> {
    let text = value.value();
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() < 2 || !parts.iter().all(|p| is_word(p)) {
        return Err(syn::Error::new(
            value.span(),
            format!(
                "`action` must look like \"<entity>.<verb>\" in lowercase (e.g. \"lead.upsert\"), got {text:?}"
            ),
        ));
    }
    Ok(())
}

fn check_identifier(value: &LitStr, option: &str) -> syn::Result<()> {
    if is_word(&value.value()) {
        Ok(())
    } else {
        Err(syn::Error::new(
            value.span(),
            format!("`{option}` must be a lowercase word like \"lead\" (letters, digits, `_`)"),
        ))
    }
}

fn is_word(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let list = Punctuated::<Arg, Token![,]>::parse_terminated(input)?;
        let mut seen: Vec<&'static str> = Vec::new();
        let mut action = None;
        let mut resource = None;
        let mut resource_id = None;
        let mut redact = None;
        for arg in list {
            check_duplicate(&mut seen, &arg)?;
            match arg {
                Arg::Action(_, v) => action = Some(v),
                Arg::Resource(_, v) => resource = Some(v),
                Arg::ResourceId(_, v) => resource_id = Some(v),
                Arg::Redact(_, v) => redact = Some(v),
            }
        }
        let action = action.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "missing `action`: write `#[audited(action = \"<entity>.<verb>\")]`",
            )
        })?;
        Ok(Args {
            action,
            resource,
            resource_id: resource_id
                .unwrap_or_else(|| ResourceId::Body(LitStr::new("id", Span::call_site()))),
            redact: redact.unwrap_or_default(),
        })
    }
}

/// The one place that rejects an option given twice.
fn check_duplicate(seen: &mut Vec<&'static str>, arg: &Arg) -> syn::Result<()> {
    let name = arg.name();
    if seen.contains(&name) {
        return Err(syn::Error::new(
            arg.span(),
            format!("duplicate option `{name}`"),
        ));
    }
    seen.push(name);
    Ok(())
}
