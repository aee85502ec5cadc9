//! The arguments of `#[agent(...)]` itself.

use proc_macro2::TokenStream;
use syn::Visibility;
use syn::parse::Parser;

/// Options given as `#[agent(vis = pub(crate))]`.
pub(crate) struct AgentArgs {
    /// Visibility of the generated handle and its methods; `None` means private.
    pub(crate) vis: Option<Visibility>,
}

pub(crate) fn parse_args(tokens: TokenStream) -> syn::Result<AgentArgs> {
    let mut args = AgentArgs { vis: None };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("vis") {
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
            Ok(())
        } else {
            Err(meta.error(
                "unknown `#[agent]` option; the only option is `vis = <visibility>`, e.g. `#[agent(vis = pub(crate))]`",
            ))
        }
    });
    parser.parse2(tokens)?;
    Ok(args)
}
