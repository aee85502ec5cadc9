//! What the parser learns from an `#[agent]` impl block, and what the expanders consume.
//! Everything here has been validated: expanders do not report errors.

use proc_macro2::TokenStream;
use syn::{Attribute, Ident, ItemImpl, Type, Visibility};

/// One agent: the impl block and what was found in it.
pub(crate) struct AgentDef {
    /// The impl block with the macro's own attributes removed; emitted unchanged otherwise.
    pub(crate) item: ItemImpl,
    /// The agent type as written after `impl`.
    pub(crate) self_ty: TokenStream,
    /// `Counter` for `impl a::Counter`, without any `r#`; prefix of the generated names.
    pub(crate) name: Ident,
    /// Visibility of the generated handle and its methods.
    pub(crate) ref_vis: Visibility,
    pub(crate) handlers: Vec<Handler>,
    pub(crate) on_start: Option<Hook>,
    pub(crate) on_stop: Option<Hook>,
    /// `capabilities`, `tools` and `intents` from `#[agent(..)]`.
    pub(crate) declared: crate::args::Declared,
}

/// One handler method, which becomes a message variant and a handle method.
pub(crate) struct Handler {
    /// The method name as written (possibly raw, `r#type`).
    pub(crate) method: Ident,
    /// The method name without `r#`: the `message_name` and the label in errors and metrics.
    pub(crate) name: String,
    /// The message variant, `AddItem` for `add_item`.
    pub(crate) variant: Ident,
    /// `#[doc]` attributes, repeated on the variant and the handle method.
    pub(crate) docs: Vec<Attribute>,
    /// `#[cfg]` / `#[cfg_attr]` attributes, repeated on everything generated for the handler.
    pub(crate) cfgs: Vec<Attribute>,
    /// Whether the method takes `ctx: &Ctx<Self>` after `self`.
    pub(crate) takes_ctx: bool,
    /// The message parameters, in order.
    pub(crate) params: Vec<Param>,
    /// The answer type; `()` when the method returns nothing.
    pub(crate) output: Type,
    /// The error type when `output` is written `Result<T, E>`.
    pub(crate) error: Option<Type>,
    /// `#[handler(fatal)]`: an `Err` fails the incarnation after it is answered.
    pub(crate) fatal: bool,
}

/// A message parameter: a plain name and its type.
pub(crate) struct Param {
    /// The name without `mut`; also the field name in the variant.
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
}

/// An `#[on_start]` or `#[on_stop]` method.
pub(crate) struct Hook {
    pub(crate) method: Ident,
    pub(crate) takes_ctx: bool,
}

/// Collects every error found so that a user sees all of them in one build, not one per build.
#[derive(Default)]
pub(crate) struct Errors {
    first: Option<syn::Error>,
    count: usize,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.count += 1;
        match &mut self.first {
            Some(first) => first.combine(error),
            None => self.first = Some(error),
        }
    }

    pub(crate) fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records the error of `result`, if any, and gives its value.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    /// How many errors were pushed, so a check can tell whether it added any.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.first.map_or(Ok(()), Err)
    }
}
