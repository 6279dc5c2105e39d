//! Code generation for `#[audited]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, PatType, ReturnType, Type};

use crate::args::{Args, ResourceId};

/// Rewrites the handler: an extra leading extractor captures who and where,
/// the `Json<T>` argument (if any) keeps its raw bytes, and after the body
/// runs the entry is recorded before the response leaves.
pub(crate) fn expand(args: Args, mut func: ItemFn) -> syn::Result<TokenStream> {
    if func.sig.asyncness.is_none() {
        return Err(syn::Error::new(
            func.sig.fn_token.span(),
            "`#[audited]` requires an `async fn` (an axum handler)",
        ));
    }
    if let Some(receiver) = func.sig.receiver() {
        return Err(syn::Error::new(
            receiver.span(),
            "`#[audited]` handlers cannot take `self`",
        ));
    }

    let private = quote!(::ops_kit::__private);
    let audit = format_ident!("__ops_kit_audit");
    let json = format_ident!("__ops_kit_audit_json");
    let path = format_ident!("__ops_kit_audit_path");

    // Every argument is renamed and re-bound inside the body's block, so
    // that all of them (a `Tx` guard above all) are dropped when the body
    // ends, before the audit step runs. The `Json<T>` argument becomes an
    // `AuditJson<T>` that also keeps the raw body (read once into `Bytes`,
    // never copied).
    let mut rebind = TokenStream::new();
    let mut unpack_json = quote! {
        let __ops_kit_audit_body = ::core::option::Option::None;
    };
    let mut has_json = false;
    for (index, input) in func.sig.inputs.iter_mut().enumerate() {
        let FnArg::Typed(PatType { pat, ty, .. }) = input else {
            continue;
        };
        let original_pat = pat.clone();
        let original_ty = ty.clone();
        if let Some(inner) = json_inner(ty) {
            if has_json {
                return Err(syn::Error::new(
                    ty.span(),
                    "`#[audited]` handlers take at most one `Json` body",
                ));
            }
            has_json = true;
            let inner = inner.clone();
            unpack_json = quote! {
                let __ops_kit_audit_json_value = #json.json;
                let __ops_kit_audit_body = ::core::option::Option::Some(#json.raw);
            };
            rebind.extend(quote! {
                let #original_pat: #original_ty = __ops_kit_audit_json_value;
            });
            **pat = syn::parse_quote!(#json);
            **ty = syn::parse_quote!(#private::AuditJson<#inner>);
        } else {
            let renamed = format_ident!("__ops_kit_arg_{}", index);
            rebind.extend(quote! {
                let #original_pat: #original_ty = #renamed;
            });
            **pat = syn::parse_quote!(#renamed);
        }
    }

    let action = &args.action;
    let resource = args.resource.clone().unwrap_or_else(|| {
        let value = args.action.value();
        let entity = value.split('.').next().unwrap_or_default();
        LitStr::new(entity, args.action.span())
    });
    let (resource_id, path_arg, path_value) = match &args.resource_id {
        ResourceId::Body(name) => (
            quote!(#private::ResourceIdSpec::Body(#name)),
            TokenStream::new(),
            quote!(::core::option::Option::None),
        ),
        ResourceId::Path(name) => (
            quote!(#private::ResourceIdSpec::Path(#name)),
            quote!(#path: #private::AuditPathParams,),
            quote!(::core::option::Option::Some(#path)),
        ),
        ResourceId::None => (
            quote!(#private::ResourceIdSpec::None),
            TokenStream::new(),
            quote!(::core::option::Option::None),
        ),
    };
    let redact = &args.redact;

    let inputs = &func.sig.inputs;
    // A return that is never taken pins the block's type to the one the
    // user wrote, so that a wrong value in the body is reported where it is
    // written, against the user's signature (the same device as tracing's
    // `#[instrument]`). An opaque `impl Trait` cannot be named; inference
    // does it then.
    let pin_return_type = match &func.sig.output {
        ReturnType::Type(_, ty) if !matches!(**ty, Type::ImplTrait(_)) => {
            quote_spanned! {ty.span()=>
                #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop, clippy::let_unit_value)]
                if false {
                    let __ops_kit_fake_return: #ty = loop {};
                    return __ops_kit_fake_return;
                }
            }
        }
        _ => TokenStream::new(),
    };
    let stmts = &func.block.stmts;

    let attrs = &func.attrs;
    let vis = &func.vis;
    let ident = &func.sig.ident;
    let generics = &func.sig.generics;
    let where_clause = &func.sig.generics.where_clause;

    Ok(quote! {
        #(#attrs)*
        #vis async fn #ident #generics (
            #audit: #private::AuditRequest,
            #path_arg
            #inputs
        ) -> #private::Response #where_clause {
            static __OPS_KIT_AUDIT_SPEC: #private::AuditSpec = #private::AuditSpec {
                action: #action,
                resource_type: #resource,
                resource_id: #resource_id,
                redact: &[#(#redact),*],
            };
            #unpack_json
            let __ops_kit_result = async move {
                #pin_return_type
                #rebind
                #(#stmts)*
            }
            .await;
            #audit
                .finish(__ops_kit_result, __ops_kit_audit_body, #path_value, &__OPS_KIT_AUDIT_SPEC)
                .await
        }
    })
}

/// `T` when `ty` is `Json<T>` (any path ending in `Json`).
fn json_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Json" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(inner) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}
