//! Procedural macros for ractor-agents: [`macro@agent`] turns an impl block of async handler
//! methods into an agent. Use it through `ractor_agents::prelude::*`, not from this crate.

mod args;
mod attrs;
mod expand;
mod model;
mod parse;
mod sig;
mod typed_ref;
mod types;

use proc_macro::TokenStream;
use quote::ToTokens;

/// Turns an inherent `impl` block of async handler methods into an agent.
/// (docs follow)
#[proc_macro_attribute]
pub fn agent(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let expanded = args::parse_args(attr.into())
        .and_then(|args| parse::parse_agent(args, syn::parse2(item.clone())?))
        .map(|def| expand::expand(&def));
    match expanded {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let mut tokens = fallback(item);
            tokens.extend(error.to_compile_error());
            tokens.into()
        }
    }
}

/// On error, the item is still emitted (without the macro's helper attributes, which the
/// compiler would reject), so the only errors the user sees are the ones reported here, not
/// a cascade of "method not found" from code that calls the methods.
fn fallback(item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Impl(mut item)) => {
            for impl_item in &mut item.items {
                if let syn::ImplItem::Fn(method) = impl_item {
                    let mut ignored = model::Errors::default();
                    attrs::take_role(&mut method.attrs, &mut ignored);
                }
            }
            item.into_token_stream()
        }
        _ => item,
    }
}

#[cfg(test)]
mod dump {
    #[test]
    fn dump() {
        let item: syn::Item = syn::parse_quote! {
            impl Counter {
                /// Adds n.
                async fn add(&mut self, mut n: u64, v: Vec<Self>) -> u64 { 0 }
                #[handler(fatal)]
                async fn store(&mut self, ctx: &Ctx<Self>, v: String) -> Result<(), DbError> { Ok(()) }
                #[on_start]
                async fn init(&mut self, ctx: &Ctx<Self>) -> Result<(), AgentFailure> { Ok(()) }
            }
        };
        let args = crate::args::parse_args(quote::quote!()).unwrap();
        let def = crate::parse::parse_agent(args, item).unwrap_or_else(|e| panic!("{e}"));
        let out = crate::expand::expand(&def);
        let file: syn::File = syn::parse2(out).unwrap();
        println!("{}", quote::ToTokens::to_token_stream(&file));
    }
}
