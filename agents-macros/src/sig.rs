//! Checks a method signature against what a handler or hook may look like.
//!
//! The generated `handle` calls each method with arguments taken out of a message, so every
//! restriction here comes from one of two places: the message must be a concrete, owned,
//! `Send + 'static` value, and the method must be callable from `&mut self` inside an async fn.

use proc_macro2::{Delimiter, Group, Ident, TokenStream, TokenTree};
use quote::ToTokens;
use syn::{FnArg, Pat, ReceiverKind, ReturnType, Safety, Signature, Type};

use crate::attrs::Role;
use crate::model::{Errors, Param};
use crate::types::{self, CtxShape};

/// A signature that passed every check.
pub(crate) struct Checked {
    pub(crate) takes_ctx: bool,
    pub(crate) params: Vec<Param>,
    /// The declared return type; `()` when there is none.
    pub(crate) output: Type,
}

const GENERIC: &str = "generic agents/handlers are not supported: the message enum needs concrete types";

/// The name of the field that carries the answer in every message variant.
pub(crate) const REPLY_FIELD: &str = "reply";

/// Checks `sig` for `role`, reporting every problem to `errors`. `None` if any was found.
pub(crate) fn check(sig: &Signature, role: Role, agent: &Ident, errors: &mut Errors) -> Option<Checked> {
    let before = errors.count();
    let what = role.describe();

    if sig.asyncness.is_none() {
        let (fn_token, ident) = (&sig.fn_token, &sig.ident);
        let hint = match role {
            Role::Handler { .. } => "; move helper methods to a separate `impl` block",
            Role::OnStart => ", as in `async fn init(&mut self, ctx: &Ctx<Self>) -> Result<(), AgentFailure>`",
            Role::OnStop => ", as in `async fn shutdown(&mut self, ctx: &Ctx<Self>)`",
        };
        errors.spanned(quote::quote!(#fn_token #ident), format!("{what} must be `async fn`{hint}"));
    }
    if let Safety::Unsafe(unsafety) = &sig.safety {
        errors
            .spanned(unsafety, format!("{what} cannot be `unsafe fn`: the generated code calls them without `unsafe`"));
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(abi, format!("{what} cannot declare an ABI"));
    }
    if !sig.generics.params.is_empty() {
        errors.spanned(&sig.generics, GENERIC.to_owned());
    } else if let Some(where_clause) = &sig.generics.where_clause {
        errors.spanned(where_clause, GENERIC.to_owned());
    }

    match sig.inputs.first() {
        Some(FnArg::Receiver(receiver)) => match &receiver.kind {
            ReceiverKind::Reference(..) => {}
            ReceiverKind::Value => errors.spanned(
                receiver,
                format!("{what} take `&self` or `&mut self`; `self` by value would consume the agent"),
            ),
            _ => errors.spanned(
                receiver,
                format!("{what} take `&self` or `&mut self`, written in that short form"),
            ),
        },
        _ => errors.spanned(
            name_and_params(sig),
            format!(
                "{what} need a `&self` or `&mut self` receiver; an associated function without `self` cannot handle messages, so move it to a separate `impl` block"
            ),
        ),
    }

    let mut takes_ctx = false;
    let mut params = Vec::new();
    for (index, arg) in sig.inputs.iter().enumerate().skip(1) {
        let FnArg::Typed(arg) = arg else { continue };
        match types::ctx_shape(&arg.ty) {
            CtxShape::Shared(ctx_agent) if index == 1 => {
                takes_ctx = true;
                if !types::names_agent(ctx_agent, agent) {
                    errors.spanned(
                        ctx_agent,
                        format!("this is the context of another agent: write `&Ctx<Self>` (or `&Ctx<{agent}>`)"),
                    );
                }
            }
            CtxShape::Shared(_) => {
                errors.spanned(arg, "the context parameter must come first, right after `self`".to_owned())
            }
            CtxShape::Wrong => errors.spanned(&arg.ty, "take the context as `&Ctx<Self>`".to_owned()),
            CtxShape::NotCtx if !matches!(role, Role::Handler { .. }) => {
                errors.spanned(arg, format!("{what} take only `self` and, optionally, `ctx: &Ctx<Self>`"))
            }
            CtxShape::NotCtx => {
                params.extend(message_param(&arg.pat, &arg.ty, errors));
            }
        }
    }

    let output = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    if let Some(message) = output_problem(&output, role) {
        match &sig.output {
            ReturnType::Default => errors.spanned(name_and_params(sig), message),
            ReturnType::Type(_, ty) => errors.spanned(ty, message),
        }
    }

    (errors.count() == before).then_some(Checked { takes_ctx, params, output })
}

/// A parameter that becomes a field of the message variant.
fn message_param(pat: &Pat, ty: &Type, errors: &mut Errors) -> Option<Param> {
    let before = errors.count();
    let ident = match pat {
        Pat::Ident(binding) if binding.by_ref.is_none() && binding.subpat.is_none() => Some(binding.ident.clone()),
        _ => {
            errors.spanned(
                pat,
                "handler parameters must be plain names (`name: Type`): each becomes a field of the message variant; destructure inside the method instead",
            );
            None
        }
    };
    if let Some(ident) = &ident
        && *ident == REPLY_FIELD
    {
        errors.spanned(
            ident,
            "the parameter name `reply` is taken by the field that carries the answer in the message variant; rename the parameter",
        );
    }
    if let Some(reason) = types::unsendable_reason(ty) {
        errors.spanned(
            ty,
            format_args!(
                "handler parameters cannot be {reason}: arguments travel in a message to the agent's task, so they must be owned (`'static`) types, e.g. `String` rather than `&str`"
            ),
        );
    }
    let ident = ident?;
    (errors.count() == before).then(|| Param { ident, ty: ty.clone() })
}

/// What is wrong with the return type of a method in `role`, if anything.
fn output_problem(output: &Type, role: Role) -> Option<String> {
    match role {
        Role::Handler { .. } => types::unsendable_reason(output).map(|reason| {
            format!(
                "handlers cannot return {reason}: the answer is sent to another task, so it must be an owned (`'static`) type"
            )
        }),
        Role::OnStart => {
            let fits = types::split_result(output)
                .is_some_and(|(ok, err)| types::is_unit(ok) && types::is_agent_failure(err));
            (!fits).then(|| "`#[on_start]` hooks must return `Result<(), AgentFailure>`; an `Err` fails the start".to_owned())
        }
        Role::OnStop => {
            (!types::is_unit(output)).then(|| "`#[on_stop]` hooks return `()`: nobody receives what they return".to_owned())
        }
    }
}

/// `name(..)`, for errors about the signature as a whole: the name and the parameter list.
fn name_and_params(sig: &Signature) -> TokenStream {
    let mut params = Group::new(Delimiter::Parenthesis, sig.inputs.to_token_stream());
    params.set_span(sig.paren_token.span.join());
    let mut tokens = sig.ident.to_token_stream();
    tokens.extend([TokenTree::Group(params)]);
    tokens
}
