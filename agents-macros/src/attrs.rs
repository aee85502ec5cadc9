//! The helper attributes on methods inside `#[agent]`: `#[handler(..)]`, `#[on_start]` and
//! `#[on_stop]`. They exist only for this macro, so they are removed from the emitted impl
//! (the compiler would reject them as unknown attributes otherwise).

use proc_macro2::Span;
use syn::{Attribute, Meta};

use crate::model::Errors;

/// What a method is for.
#[derive(Clone, Copy)]
pub(crate) enum Role {
    /// `fatal` is where `#[handler(fatal)]` said so, for errors about it.
    Handler {
        fatal: Option<Span>,
    },
    OnStart,
    OnStop,
}

impl Role {
    /// How errors name the method kind.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Role::Handler { .. } => "agent handlers",
            Role::OnStart => "`#[on_start]` hooks",
            Role::OnStop => "`#[on_stop]` hooks",
        }
    }
}

const HANDLER: &str = "handler";
const ON_START: &str = "on_start";
const ON_STOP: &str = "on_stop";

fn is_ours(attr: &Attribute) -> bool {
    [HANDLER, ON_START, ON_STOP].iter().any(|name| attr.path().is_ident(name))
}

/// Removes the macro's attributes from `attrs` without looking at them.
pub(crate) fn strip(attrs: &mut Vec<Attribute>) {
    attrs.retain(|attr| !is_ours(attr));
}

/// Removes the macro's attributes from `attrs` and says what they make of the method.
/// A method without any is a handler. Misuse is reported to `errors` and a best guess returned,
/// so the rest of the method is still checked.
pub(crate) fn take_role(attrs: &mut Vec<Attribute>, errors: &mut Errors) -> Role {
    let (ours, others): (Vec<_>, Vec<_>) = std::mem::take(attrs).into_iter().partition(is_ours);
    *attrs = others;

    let mut role: Option<(Role, &Attribute)> = None;
    for attr in &ours {
        let this = if attr.path().is_ident(HANDLER) {
            Role::Handler { fatal: handler_options(attr, errors) }
        } else {
            hook_role(attr, errors)
        };
        match &role {
            None => role = Some((this, attr)),
            Some((_, first)) => errors.spanned(
                attr,
                format_args!(
                    "conflicting agent attributes: `#[{}]` and `#[{}]` on the same method; a method is either a handler, the `#[on_start]` hook or the `#[on_stop]` hook",
                    path_name(first),
                    path_name(attr),
                ),
            ),
        }
    }
    role.map_or(Role::Handler { fatal: None }, |(role, _)| role)
}

fn path_name(attr: &Attribute) -> String {
    attr.path().get_ident().map(ToString::to_string).unwrap_or_default()
}

/// Parses `#[handler]` / `#[handler(fatal)]` and answers where `fatal` was given, if it was.
fn handler_options(attr: &Attribute, errors: &mut Errors) -> Option<Span> {
    let mut fatal = None;
    match &attr.meta {
        Meta::Path(_) => {}
        Meta::NameValue(_) => errors.spanned(attr, "expected `#[handler]` or `#[handler(fatal)]`"),
        Meta::List(_) => {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("fatal") {
                    if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                        return Err(meta.error("`fatal` takes no value: write `#[handler(fatal)]`"));
                    }
                    fatal = Some(syn::spanned::Spanned::span(&meta.path));
                    Ok(())
                } else {
                    Err(meta.error(format_args!(
                        "unknown `#[handler]` option `{}`; the only option is `fatal`",
                        quote::ToTokens::to_token_stream(&meta.path).to_string().replace(' ', ""),
                    )))
                }
            });
            errors.ok(parsed);
        }
    }
    fatal
}

fn hook_role(attr: &Attribute, errors: &mut Errors) -> Role {
    let role = if attr.path().is_ident(ON_START) { Role::OnStart } else { Role::OnStop };
    if !matches!(attr.meta, Meta::Path(_)) {
        errors.spanned(attr, format_args!("`#[{}]` takes no arguments", path_name(attr)));
    }
    role
}
