//! Syntactic questions about types and names. The macro runs before type checking, so every
//! answer here is about how a type is *written*, not what it resolves to.

use proc_macro2::{Group, Ident, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::{GenericArgument, PathArguments, Type};

/// Looks through the invisible groups a `macro_rules!` `$t:ty` leaves around a type, and
/// through parentheses, so `($t)` and `$t` are judged alike.
pub(crate) fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => peel(&group.elem),
        Type::Paren(paren) => peel(&paren.elem),
        other => other,
    }
}

/// The last path segment of a plain path type (`a::b::C<..>` gives `C<..>`).
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match peel(ty) {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    }
}

/// The type arguments of a path segment, if all its arguments are types.
fn type_args(segment: &syn::PathSegment) -> Option<Vec<&Type>> {
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    args.args
        .iter()
        .map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect()
}

/// `Some((T, E))` for a type written `Result<T, E>` (any path ending in `Result` with two type
/// arguments). One-argument aliases such as `io::Result<T>` are deliberately not matched: the
/// macro cannot know their error type.
pub(crate) fn split_result(ty: &Type) -> Option<(&Type, &Type)> {
    let segment = last_segment(ty)?;
    if segment.ident != "Result" {
        return None;
    }
    match type_args(segment)?.as_slice() {
        [ok, err] => Some((ok, err)),
        _ => None,
    }
}

/// `true` for `()`.
pub(crate) fn is_unit(ty: &Type) -> bool {
    matches!(peel(ty), Type::Tuple(tuple) if tuple.elems.is_empty())
}

/// `true` for a path ending in `AgentFailure`.
pub(crate) fn is_agent_failure(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|segment| segment.ident == "AgentFailure" && segment.arguments.is_none())
}

/// How a parameter relates to the agent context.
pub(crate) enum CtxShape<'a> {
    /// Not a context at all.
    NotCtx,
    /// `&Ctx<X>`: the accepted form; `X` is returned so the caller can check it names the agent.
    Shared(&'a Type),
    /// `&mut Ctx<..>`, `Ctx<..>` by value, or `Ctx` without its agent type.
    Wrong,
}

/// Recognises the context parameter by its type's last segment being `Ctx`.
pub(crate) fn ctx_shape(ty: &Type) -> CtxShape<'_> {
    let (inner, shared) = match peel(ty) {
        Type::Reference(reference) => (&*reference.elem, reference.mutability.is_none()),
        other => (other, false),
    };
    let Some(segment) = last_segment(inner) else {
        return CtxShape::NotCtx;
    };
    if segment.ident != "Ctx" {
        return CtxShape::NotCtx;
    }
    match (shared, type_args(segment).as_deref()) {
        (true, Some([agent])) => CtxShape::Shared(agent),
        _ => CtxShape::Wrong,
    }
}

/// `true` if `ty` is written `Self` or a path whose last segment is `agent` (the impl's type).
pub(crate) fn names_agent(ty: &Type, agent: &Ident) -> bool {
    last_segment(ty)
        .is_some_and(|segment| segment.arguments.is_none() && (segment.ident == "Self" || segment.ident == *agent))
}

/// A description of a parameter or return type that cannot travel in a message, if any.
/// References and `impl Trait` would make the message enum borrow or be generic.
pub(crate) fn unsendable_reason(ty: &Type) -> Option<&'static str> {
    match peel(ty) {
        Type::Reference(reference) if reference.lifetime.as_ref().is_none_or(|l| l.ident != "static") => {
            Some("a borrowed reference")
        }
        Type::ImplTrait(_) => Some("an `impl Trait` type"),
        Type::Infer(_) => Some("an inferred type"),
        _ => None,
    }
}

/// Rewrites `Self` to the agent's type. Handler signatures are copied into the message enum
/// and the typed handle, where `Self` would mean the enum or the handle instead of the agent.
pub(crate) fn replace_self(tokens: TokenStream, agent: &TokenStream) -> TokenStream {
    tokens
        .into_iter()
        .flat_map(|tree| -> Vec<TokenTree> {
            match tree {
                TokenTree::Ident(ident) if ident == "Self" => respan(agent.clone(), ident.span()).into_iter().collect(),
                TokenTree::Group(group) => {
                    let mut replaced = Group::new(group.delimiter(), replace_self(group.stream(), agent));
                    replaced.set_span(group.span());
                    vec![TokenTree::Group(replaced)]
                }
                other => vec![other],
            }
        })
        .collect()
}

/// [`replace_self`] for a type.
pub(crate) fn concrete(ty: &Type, agent: &TokenStream) -> TokenStream {
    replace_self(ty.to_token_stream(), agent)
}

/// Gives every token of `tokens` the span `span`, so errors about a substituted `Self` point
/// at the `Self` the user wrote.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// `add_item` and `addItem` both give `AddItem`. `None` if no valid variant name results.
pub(crate) fn camel_case(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    for part in name.split('_').filter(|part| !part.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    let valid = out.chars().next().is_some_and(|c| c.is_alphabetic()) && out != "Self";
    valid.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_joins_snake_and_keeps_camel() {
        assert_eq!(camel_case("add").as_deref(), Some("Add"));
        assert_eq!(camel_case("add_item").as_deref(), Some("AddItem"));
        assert_eq!(camel_case("addItem").as_deref(), Some("AddItem"));
        assert_eq!(camel_case("__private_x2").as_deref(), Some("PrivateX2"));
        assert_eq!(camel_case("self_"), None);
        assert_eq!(camel_case("_2"), None);
    }

    #[test]
    fn result_is_split_only_with_two_type_arguments() {
        let two: Type = syn::parse_quote!(std::result::Result<u8, String>);
        let (ok, err) = split_result(&two).expect("two-argument Result");
        assert_eq!(ok.to_token_stream().to_string(), "u8");
        assert_eq!(err.to_token_stream().to_string(), "String");
        let alias: Type = syn::parse_quote!(io::Result<u8>);
        assert!(split_result(&alias).is_none());
        let other: Type = syn::parse_quote!(Either<u8, String>);
        assert!(split_result(&other).is_none());
    }

    #[test]
    fn ctx_shapes() {
        let agent: Ident = syn::parse_quote!(Counter);
        let shared: Type = syn::parse_quote!(&Ctx<Self>);
        assert!(matches!(ctx_shape(&shared), CtxShape::Shared(t) if names_agent(t, &agent)));
        let named: Type = syn::parse_quote!(&ractor_agents::agent::Ctx<Counter>);
        assert!(matches!(ctx_shape(&named), CtxShape::Shared(t) if names_agent(t, &agent)));
        let other: Type = syn::parse_quote!(&Ctx<Other>);
        assert!(matches!(ctx_shape(&other), CtxShape::Shared(t) if !names_agent(t, &agent)));
        let unique: Type = syn::parse_quote!(&mut Ctx<Self>);
        assert!(matches!(ctx_shape(&unique), CtxShape::Wrong));
        let owned: Type = syn::parse_quote!(Ctx<Self>);
        assert!(matches!(ctx_shape(&owned), CtxShape::Wrong));
        let plain: Type = syn::parse_quote!(u64);
        assert!(matches!(ctx_shape(&plain), CtxShape::NotCtx));
    }

    #[test]
    fn self_is_replaced_inside_groups() {
        let ty: Type = syn::parse_quote!(Vec<(Self, [u8; Self::N])>);
        let agent = quote::quote!(Counter);
        let out = concrete(&ty, &agent).to_string();
        assert_eq!(out, "Vec < (Counter , [u8 ; Counter :: N]) >");
    }
}
