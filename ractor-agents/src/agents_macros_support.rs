//! Paths the `#[agent]` macro expands to. Not a public API.

pub use crate::agent::TypedRef;
