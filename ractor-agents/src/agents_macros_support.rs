//! Paths the `#[agent]` macro expands to. Not a public API.
//!
//! Generated code names everything through this module, so that the public modules can be
//! reorganised without breaking code expanded by an older or newer macro.
//!
//! # What `#[agent]` generates
//!
//! This example (also a doctest, so it stays true) uses every kind of item the macro accepts
//! and every generated item. The hand-written equivalent of the expansion is in the
//! documentation of [`agent`](macro@crate::agent).
//!
//! ```
//! use ractor_agents::prelude::*;
//! use std::time::Duration;
//!
//! #[derive(Debug)]
//! pub struct Overdrawn;
//! impl std::fmt::Display for Overdrawn {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("overdrawn") }
//! }
//!
//! #[derive(Default)]
//! pub struct Account { balance: i64, log: Vec<String> }
//!
//! #[agent]
//! impl Account {
//!     /// Adds `amount` and answers the new balance.
//!     async fn deposit(&mut self, amount: i64) -> i64 {
//!         self.balance += amount;
//!         self.balance
//!     }
//!
//!     /// Answers the balance.
//!     async fn balance(&self) -> i64 { self.balance }
//!
//!     /// Takes `amount` out, or answers `Err(Overdrawn)` and keeps running.
//!     async fn withdraw(&mut self, ctx: &Ctx<Self>, amount: i64) -> Result<i64, Overdrawn> {
//!         if amount > self.balance { return Err(Overdrawn); }
//!         self.balance -= amount;
//!         self.log.push(format!("{} withdrew {amount}", ctx.name()));
//!         Ok(self.balance)
//!     }
//!
//!     /// An `Err` is answered, then the incarnation fails and its supervisor restarts it.
//!     #[handler(fatal)]
//!     async fn audit(&mut self) -> Result<(), Overdrawn> {
//!         if self.balance < 0 { Err(Overdrawn) } else { Ok(()) }
//!     }
//!
//!     #[on_start]
//!     async fn opened(&mut self, _ctx: &Ctx<Self>) -> Result<(), AgentFailure> { Ok(()) }
//!
//!     #[on_stop]
//!     async fn closed(&mut self) { self.log.clear(); }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let account: AccountRef = ractor_agents::spawn("account", Account::default()).await?.into();
//! assert_eq!(account.deposit(10).await?, 10);                    // ask, default deadline
//! account.deposit(5).tell().await?;                               // tell: no answer awaited
//! account.deposit(1).try_tell()?;                                 // try_tell: fails at once if full
//! assert_eq!(account.balance().deadline(Duration::from_secs(1)).await?, 16);
//! assert!(account.withdraw(100).await?.is_err());                 // the handler's Err is the answer
//! assert_eq!(account.withdraw(6).await?.ok(), Some(10));
//! assert_eq!(account.name(), "account");                          // AgentRef methods via Deref
//!
//! let msg = AccountMsg::Balance { reply: Reply::detached() };    // the message enum
//! assert_eq!(<Account as Agent>::message_name(&msg), "balance");
//! account.stop().await;
//! # Ok(()) }
//! ```

pub use crate::agent::{Agent, AgentFailure, AgentRef, Call, Ctx, Reply, TypedRef};
pub use crate::registry::Capabilities;

/// Views a handler's error as `Display`. The macro names the error type in the turbofish so
/// that a missing `Display` impl is reported at the handler's return type.
pub fn as_display<E: std::fmt::Display>(error: &E) -> &dyn std::fmt::Display {
    error
}
