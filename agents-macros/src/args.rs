//! The arguments of `#[agent(...)]` itself.

use proc_macro2::TokenStream;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, LitStr, Token, Visibility};

const OPTIONS: &str = "the options are `vis = <visibility>`, `capabilities = [..]`, `tools = [..]` and `intents = [..]`, e.g. `#[agent(vis = pub(crate), capabilities = [\"summarize\"])]`";

/// Options given as `#[agent(vis = pub(crate), capabilities = ["summarize"], ..)]`.
pub(crate) struct AgentArgs {
    /// Visibility of the generated handle and its methods; `None` means private.
    pub(crate) vis: Option<Visibility>,
    /// What the agent declares it can do, for the registry.
    pub(crate) declared: Declared,
}

/// The capability lists, each in the order written, without duplicates.
#[derive(Default)]
pub(crate) struct Declared {
    /// `capabilities = [..]`: free-form tags.
    pub(crate) tags: Option<Vec<LitStr>>,
    pub(crate) tools: Option<Vec<LitStr>>,
    pub(crate) intents: Option<Vec<LitStr>>,
}

impl Declared {
    pub(crate) fn is_empty(&self) -> bool {
        [&self.tags, &self.tools, &self.intents].iter().all(|list| list.as_ref().is_none_or(Vec::is_empty))
    }
}

pub(crate) fn parse_args(tokens: TokenStream) -> syn::Result<AgentArgs> {
    let mut args = AgentArgs { vis: None, declared: Declared::default() };
    let parser = syn::meta::parser(|meta| {
        let list = if meta.path.is_ident("vis") {
            if args.vis.is_some() {
                return Err(meta.error("`vis` is given twice"));
            }
            let value = meta.value()?;
            let vis: Visibility = value.parse()?;
            // `Visibility` parses "nothing" as private, which would leave a stray token behind
            // and produce a confusing "expected `,`"; say what is expected instead.
            if matches!(vis, Visibility::Inherited) {
                return Err(value.error("expected a visibility: `pub`, `pub(crate)`, `pub(super)` or `pub(self)`"));
            }
            args.vis = Some(vis);
            return Ok(());
        } else if meta.path.is_ident("capabilities") {
            &mut args.declared.tags
        } else if meta.path.is_ident("tools") {
            &mut args.declared.tools
        } else if meta.path.is_ident("intents") {
            &mut args.declared.intents
        } else {
            return Err(meta.error(format_args!("unknown `#[agent]` option; {OPTIONS}")));
        };
        let key = quote::ToTokens::to_token_stream(&meta.path).to_string();
        if list.is_some() {
            return Err(meta.error(format_args!("`{key}` is given twice; put every name in one list")));
        }
        *list = Some(names(&key, meta.value()?)?);
        Ok(())
    });
    parser.parse2(tokens)?;
    Ok(args)
}

/// `["a", "b"]`: a bracketed list of distinct, non-empty string literals.
fn names(key: &str, value: ParseStream<'_>) -> syn::Result<Vec<LitStr>> {
    let example = match key {
        "tools" => "web_search",
        "intents" => "translate",
        _ => "summarize",
    };
    if !value.peek(syn::token::Bracket) {
        return Err(value.error(format_args!("expected a list of names in brackets, e.g. `{key} = [\"{example}\"]`")));
    }
    let content;
    syn::bracketed!(content in value);
    let mut names: Vec<LitStr> = Vec::new();
    for expr in Punctuated::<Expr, Token![,]>::parse_terminated(&content)? {
        let name = match expr {
            Expr::Lit(syn::ExprLit { lit: Lit::Str(name), .. }) => name,
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    format_args!("`{key}` lists string literals, e.g. `{key} = [\"{example}\"]`"),
                ));
            }
        };
        if name.value().is_empty() {
            return Err(syn::Error::new_spanned(name, "a capability name cannot be empty"));
        }
        if names.iter().any(|n| n.value() == name.value()) {
            return Err(syn::Error::new_spanned(&name, format_args!("`{}` is listed twice in `{key}`", name.value())));
        }
        names.push(name);
    }
    Ok(names)
}
