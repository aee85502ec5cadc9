//! Procedural macros for ractor-agents.
use proc_macro::TokenStream;

/// Placeholder until the macro lands in this commit series.
#[proc_macro_attribute]
pub fn agent(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
