//! From the annotated item to a validated [`AgentDef`].

use std::collections::BTreeMap;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote};
use syn::ext::IdentExt;
use syn::{Attribute, Ident, ImplItem, ImplItemFn, Item, ItemImpl, Type, Visibility};

use crate::args::AgentArgs;
use crate::attrs::{self, Role};
use crate::model::{AgentDef, Errors, Handler, Hook};
use crate::sig;
use crate::types;

const NOT_AN_IMPL: &str = "`#[agent]` goes on an inherent `impl` block of async handler methods, e.g. `#[agent] impl Counter { async fn add(&mut self, n: u64) -> u64 { .. } }`";

/// What parsing found: the model, if the impl can be an agent at all, and every error.
///
/// A handler with a bad signature is reported and left out of the model rather than failing
/// the whole agent: the `Agent` impl and the handle are still generated for the others, so
/// the user sees only the errors reported here, not a cascade of "`Counter: Agent` is not
/// satisfied" from every method that takes `&Ctx<Self>`.
pub(crate) struct Parsed {
    pub(crate) def: Option<AgentDef>,
    pub(crate) errors: syn::Result<()>,
}

/// Validates `item` and builds the model, reporting all problems at once.
pub(crate) fn parse_agent(args: AgentArgs, item: Item) -> Parsed {
    let mut item = match item {
        Item::Impl(item) => item,
        other => {
            let error = syn::Error::new_spanned(item_head(&other), NOT_AN_IMPL);
            return Parsed { def: None, errors: Err(error) };
        }
    };
    let mut errors = Errors::default();
    let name = agent_name(&item, &mut errors);

    let mut handlers: Vec<Handler> = Vec::new();
    let mut on_start: Option<Hook> = None;
    let mut on_stop: Option<Hook> = None;
    for impl_item in &mut item.items {
        // Constants and macros may stay: they do not become messages.
        let ImplItem::Fn(method) = impl_item else { continue };
        let role = attrs::take_role(&mut method.attrs, &mut errors);
        let Some(name) = &name else { continue };
        let Some(checked) = sig::check(&method.sig, role, name, &mut errors) else { continue };
        match role {
            Role::Handler { fatal } => {
                if let Some(handler) = handler(method, checked, fatal, &mut errors) {
                    handlers.push(handler);
                }
            }
            Role::OnStart => set_hook(&mut on_start, "on_start", method, checked.takes_ctx, &mut errors),
            Role::OnStop => set_hook(&mut on_stop, "on_stop", method, checked.takes_ctx, &mut errors),
        }
    }
    check_unique_variants(&mut handlers, &mut errors);

    let def = name.map(|name| {
        let self_ty = item.self_ty.to_token_stream();
        // Private by default, like any item written without `pub`: the handle names the agent
        // type in `TypedRef::Agent` and `Deref::Target`, and an associated type more private
        // than its impl is a hard error (E0446), so a `pub` default would reject every private
        // agent type. (The message enum is always `pub`; see `expand::message_enum`.)
        let ref_vis = args.vis.unwrap_or(Visibility::Inherited);
        AgentDef { item, self_ty, name, ref_vis, handlers, on_start, on_stop, declared: args.declared }
    });
    Parsed { def, errors: errors.finish() }
}

/// The agent's name from `impl Name`, or an error if the impl cannot be an agent.
fn agent_name(item: &ItemImpl, errors: &mut Errors) -> Option<Ident> {
    if let Some((bang, path, for_token)) = trait_of(item) {
        let (impl_token, self_ty) = (&item.impl_token, &item.self_ty);
        errors.spanned(
            quote!(#impl_token #bang #path #for_token #self_ty),
            "`#[agent]` goes on an inherent `impl` block, not on a trait impl: it writes the `Agent` impl itself, from the handler methods",
        );
        return None;
    }
    if !item.generics.params.is_empty() {
        errors.spanned(
            &item.generics,
            "generic agents/handlers are not supported: the message enum needs concrete types",
        );
        return None;
    }
    let segment = match types::peel(&item.self_ty) {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    };
    match segment {
        Some(segment) if segment.arguments.is_none() => Some(segment.ident.unraw()),
        Some(segment) => {
            errors.spanned(
                &segment.arguments,
                "generic agents/handlers are not supported: the message enum needs concrete types",
            );
            None
        }
        None => {
            errors.spanned(&item.self_ty, "`#[agent]` needs a named agent type, as in `impl Counter`");
            None
        }
    }
}

fn trait_of(item: &ItemImpl) -> Option<(Option<syn::Token![!]>, &syn::Path, syn::Token![for])> {
    item.trait_.as_ref().map(|(path, for_token)| (item.modifiers.polarity, path, *for_token))
}

/// The first tokens of an item (its attributes and body left out), to point at it.
fn item_head(item: &Item) -> TokenStream {
    let mut tokens = item.to_token_stream().into_iter().skip_while(is_attr_token).peekable();
    let mut head = TokenStream::new();
    // Stop at the body so the error marks `struct Counter`, not the whole definition.
    while let Some(tree) = tokens.next_if(
        |tree| !matches!(tree, proc_macro2::TokenTree::Group(g) if g.delimiter() == proc_macro2::Delimiter::Brace),
    ) {
        head.extend([tree]);
    }
    if head.is_empty() { item.to_token_stream() } else { head }
}

fn is_attr_token(tree: &proc_macro2::TokenTree) -> bool {
    use proc_macro2::{Delimiter, TokenTree};
    matches!(tree, TokenTree::Punct(p) if p.as_char() == '#')
        || matches!(tree, TokenTree::Group(g) if g.delimiter() == Delimiter::Bracket)
}

fn handler(method: &ImplItemFn, checked: sig::Checked, fatal: Option<Span>, errors: &mut Errors) -> Option<Handler> {
    let name = method.sig.ident.unraw().to_string();
    let Some(variant) = types::camel_case(&name) else {
        errors.spanned(
            &method.sig.ident,
            format_args!("cannot derive a message variant name from `{name}`; rename the handler"),
        );
        return None;
    };
    let error = types::split_result(&checked.output).map(|(_, err)| err.clone());
    if let (Some(span), None) = (fatal, &error) {
        errors.push(syn::Error::new(
            span,
            "`#[handler(fatal)]` needs a handler that returns `Result<T, E>`: only an `Err` can be fatal",
        ));
        return None;
    }
    Some(Handler {
        method: method.sig.ident.clone(),
        variant: format_ident!("{}", variant, span = method.sig.ident.span()),
        name,
        docs: attrs_named(&method.attrs, &["doc"]),
        cfgs: attrs_named(&method.attrs, &["cfg", "cfg_attr"]),
        takes_ctx: checked.takes_ctx,
        params: checked.params,
        output: checked.output,
        error,
        fatal: fatal.is_some(),
    })
}

fn attrs_named(attrs: &[Attribute], names: &[&str]) -> Vec<Attribute> {
    attrs.iter().filter(|attr| names.iter().any(|name| attr.path().is_ident(name))).cloned().collect()
}

fn set_hook(slot: &mut Option<Hook>, kind: &str, method: &ImplItemFn, takes_ctx: bool, errors: &mut Errors) {
    let ident = &method.sig.ident;
    if let Some(first) = slot {
        errors.spanned(
            ident,
            format_args!(
                "`#[{kind}]` is given twice, on `{}` and on `{ident}`; an agent has at most one",
                first.method
            ),
        );
        return;
    }
    *slot = Some(Hook { method: ident.clone(), takes_ctx });
}

/// Two handlers must not share a variant: `do_it` and `doIt` both give `DoIt`. The later one
/// is reported and dropped.
fn check_unique_variants(handlers: &mut Vec<Handler>, errors: &mut Errors) {
    let mut seen: BTreeMap<String, Ident> = BTreeMap::new();
    handlers.retain(|handler| {
        let variant = handler.variant.to_string();
        if let Some(first) = seen.get(&variant) {
            errors.spanned(
                &handler.method,
                format_args!(
                    "handlers `{first}` and `{}` both map to message variant `{variant}`; rename one of them",
                    handler.method,
                ),
            );
            return false;
        }
        seen.insert(variant, handler.method.clone());
        true
    });
}
