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
///
/// Every method of the block is a *handler*: it becomes a variant of a message enum `XMsg`
/// and a method of a typed handle `XRef`, and the generated `Agent` impl routes each message
/// to its method. The block itself is emitted as written (minus the helper attributes below),
/// so handlers stay ordinary methods.
///
/// ```
/// use ractor_agents::prelude::*;
/// use std::time::Duration;
///
/// #[derive(Debug, PartialEq)]
/// struct Overflow;
/// impl std::fmt::Display for Overflow {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("overflow") }
/// }
///
/// #[derive(Default)]
/// struct Counter { total: u64 }
///
/// #[agent]
/// impl Counter {
///     /// Adds `n` and answers the new total.
///     async fn add(&mut self, n: u64) -> u64 {
///         self.total += n;
///         self.total
///     }
///
///     /// Answers the total.
///     async fn get(&self) -> u64 { self.total }
///
///     /// Like `add`, but refuses to overflow: the `Err` is the answer, the agent keeps running.
///     async fn checked_add(&mut self, ctx: &Ctx<Self>, n: u64) -> Result<u64, Overflow> {
///         let _ = ctx.incarnation();
///         self.total = self.total.checked_add(n).ok_or(Overflow)?;
///         Ok(self.total)
///     }
///
///     /// An `Err` here is answered, then fails the incarnation; its supervisor decides.
///     #[handler(fatal)]
///     async fn reset(&mut self, to: u64) -> Result<(), Overflow> {
///         if to == u64::MAX { return Err(Overflow); }
///         self.total = to;
///         Ok(())
///     }
///
///     #[on_start]
///     async fn init(&mut self, _ctx: &Ctx<Self>) -> Result<(), AgentFailure> { Ok(()) }
///
///     #[on_stop]
///     async fn shutdown(&mut self) {}
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let root = Supervisor::new("root", Strategy::OneForOne)
///     .child(ChildSpec::agent("counter", Counter::default))
///     .start()
///     .await?;
/// let counter: CounterRef = root.get("counter")?;
/// assert_eq!(counter.add(2).await?, 2);                                  // ask
/// counter.add(3).tell().await?;                                           // tell
/// counter.add(4).try_tell()?;                                             // try_tell
/// assert_eq!(counter.get().deadline(Duration::from_secs(1)).await?, 9);  // ask with a deadline
/// assert_eq!(counter.checked_add(u64::MAX).await?, Err(Overflow));
/// assert_eq!(counter.reset(u64::MAX).await?, Err(Overflow));              // answered, then restarted
/// assert_eq!(counter.get().await?, 0);                                    // a fresh incarnation
/// root.stop().await;
/// # Ok(()) }
/// ```
///
/// # Handlers
///
/// * A handler is an `async fn` taking `&self` or `&mut self`. A `&self` handler borrows the
///   agent across `.await` inside the `Send` future of `handle`, so it needs the agent to be
///   `Sync`; use `&mut self` for an agent that is only `Send`.
/// * It may take the context, `ctx: &Ctx<Self>`, as its first parameter after `self`; the
///   context is not part of the message.
/// * Every other parameter is a plain name with an owned, `Send + 'static` type: it becomes a
///   field of the message variant.
/// * The return type `R` (or `()`) is the answer, sent back through the variant's `reply:
///   Reply<R>` field. When it is written `Result<T, E>` (a path ending in `Result` with two type
///   arguments; not a one-argument alias such as `io::Result<T>`), `E` must implement
///   `Display`, and every `Err` is counted with `Ctx::record_handler_error` before it is
///   answered.
/// * `#[handler(fatal)]` (on a `Result` handler): an `Err` is answered to the asker, then
///   `handle` returns `AgentFailure::fatal(handler, &err)`, failing this incarnation. A plain
///   `#[handler]` is allowed and changes nothing.
/// * Doc comments go to the variant and the handle method; `#[cfg]` attributes go to everything
///   generated for the handler.
/// * The variant is the method name in CamelCase (`add_item` → `AddItem`); the message name (for
///   spans and `Agent::message_name`) is the method name (`"add_item"`).
///
/// Helper methods that are not handlers (sync functions, constructors) go in another `impl`
/// block: every method of an `#[agent]` block must be a handler or a hook.
///
/// # Lifecycle hooks
///
/// * `#[on_start] async fn name(&mut self, ctx: &Ctx<Self>) -> Result<(), AgentFailure>` runs
///   before the first message of every incarnation; an `Err` fails the start.
/// * `#[on_stop] async fn name(&mut self, ctx: &Ctx<Self>)` runs when an incarnation stops
///   gracefully.
///
/// Both may take `&self` instead, and may leave out `ctx`. At most one of each.
///
/// # What is generated
///
/// For `Counter` above, the expansion is equivalent to this hand-written code (paths
/// shortened; the real expansion names everything by absolute path, so no imports are needed):
///
/// ```text
/// impl Counter { /* the block, as written, without #[handler], #[on_start], #[on_stop] */ }
///
/// /// The messages of agent `Counter`, one variant per handler ...
/// pub enum CounterMsg {
///     /// Adds `n` and answers the new total.
///     Add { n: u64, reply: Reply<u64> },
///     /// Answers the total.
///     Get { reply: Reply<u64> },
///     CheckedAdd { n: u64, reply: Reply<Result<u64, Overflow>> },
///     Reset { to: u64, reply: Reply<Result<(), Overflow>> },
/// }
///
/// impl Agent for Counter {
///     type Msg = CounterMsg;
///
///     async fn handle(&mut self, ctx: &Ctx<Self>, msg: CounterMsg) -> Result<(), AgentFailure> {
///         match msg {
///             CounterMsg::Add { n, reply } => {
///                 let out = Self::add(self, n).await;
///                 reply.send(out);
///                 Ok(())
///             }
///             CounterMsg::Get { reply } => { reply.send(Self::get(self).await); Ok(()) }
///             CounterMsg::CheckedAdd { n, reply } => {
///                 let out = Self::checked_add(self, ctx, n).await;
///                 if let Err(error) = &out {
///                     ctx.record_handler_error("checked_add", error);
///                 }
///                 reply.send(out);
///                 Ok(())
///             }
///             CounterMsg::Reset { to, reply } => {
///                 let out = Self::reset(self, to).await;
///                 let failure = match &out {
///                     Err(error) => Some(AgentFailure::fatal("reset", error)),
///                     Ok(_) => None,
///                 };
///                 reply.send(out);            // the asker gets its answer first
///                 match failure { Some(failure) => Err(failure), None => Ok(()) }
///             }
///         }
///     }
///
///     fn message_name(msg: &CounterMsg) -> &'static str {
///         match msg {
///             CounterMsg::Add { .. } => "add",
///             CounterMsg::Get { .. } => "get",
///             CounterMsg::CheckedAdd { .. } => "checked_add",
///             CounterMsg::Reset { .. } => "reset",
///         }
///     }
///
///     async fn on_start(&mut self, ctx: &Ctx<Self>) -> Result<(), AgentFailure> {
///         Self::init(self, ctx).await
///     }
///
///     async fn on_stop(&mut self, ctx: &Ctx<Self>) {
///         Self::shutdown(self).await
///     }
/// }
///
/// /// A handle to agent `Counter` ...
/// #[derive(Clone)]
/// struct CounterRef { inner: AgentRef<Counter> }        // `vis` goes on it and its methods
///
/// impl CounterRef {
///     /// Adds `n` and answers the new total.
///     fn add(&self, n: u64)
///         -> Call<'_, Counter, u64, impl FnOnce(Reply<u64>) -> CounterMsg + Send + 'static>
///     {
///         self.inner.call(move |reply| CounterMsg::Add { n, reply })
///     }
///     // ... one method per handler
/// }
///
/// impl Debug for CounterRef { /* CounterRef { name: "counter" } */ }
/// impl TypedRef for CounterRef { type Agent = Counter; /* .. */ }   // for SupervisorRef::get
/// impl From<AgentRef<Counter>> for CounterRef { /* .. */ }          // for spawn(..).await?.into()
/// impl From<CounterRef> for AgentRef<Counter> { /* .. */ }
/// impl Deref for CounterRef { type Target = AgentRef<Counter>; /* .. */ }  // name, stop, ...
/// ```
///
/// A handle method returns a `ractor_agents::agent::Call`: await it to
/// ask (`Result<R, AskError>`, within `.deadline(..)` or the default deadline), or send it
/// without waiting for the answer with `.tell().await` (waits for room in the mailbox) or
/// `.try_tell()` (fails at once when the mailbox is full). A handler named like a method the
/// handle already has, through `Deref` or a trait (`name`, `stop`, `clone`, ...), shadows it
/// in method-call syntax; `handle.agent_ref().stop()` or `Clone::clone(&handle)` still work.
///
/// # Visibility
///
/// The handle and its methods are private by default, like any item written without `pub`;
/// `#[agent(vis = pub)]` (or `pub(crate)`, ...) sets their visibility. It cannot be more public
/// than the agent type, which the handle's `TypedRef` and `Deref` impls name in associated
/// types (the compiler rejects that with E0446, "private type in public interface").
///
/// The message enum is always `pub`, because `impl Agent for Counter { type Msg = CounterMsg; }`
/// needs it at least as visible as the agent type, whatever that is. In a private module it
/// is no more reachable than the module; put a library's private agents in one.
///
/// # Capabilities
///
/// `#[agent(capabilities = ["summarize"], tools = ["web_search"], intents = ["translate"])]`
/// declares what the agent can do (free-form tags, tools, intents; any of the three, each a
/// list of distinct string literals). It writes `Agent::capabilities`, which an agent started
/// under a supervisor with a registry registers with, so it is found by
/// `registry.best("summarize")`. Without it the agent declares nothing and still registers,
/// with its type.
///
/// ```
/// use ractor_agents::prelude::*;
/// #[derive(Default)]
/// struct Summarizer;
///
/// #[agent(capabilities = ["summarize"], tools = ["web_search"], intents = ["translate"])]
/// impl Summarizer {
///     async fn summarize(&mut self, text: String) -> String { text }
/// }
///
/// let caps = <Summarizer as Agent>::capabilities();
/// assert!(caps.has("summarize"));
/// assert!(caps.has(Capability::tool("web_search")));
/// assert!(caps.has(Capability::intent("translate")));
/// ```
///
/// # Compile errors
///
/// Misuse is reported at the offending tokens, all problems of a block at once: a handler that
/// is not `async`, takes `self` by value or no `self` at all, is generic (as is the impl), has a
/// parameter that is not a plain name or is a borrowed reference, takes the context anywhere
/// but first, or maps to the same variant as another handler (`do_it` and `doIt`); `#[agent]`
/// on anything but an inherent impl; unknown `#[agent(..)]` or `#[handler(..)]` options; a
/// capability list that is not a bracketed list of distinct, non-empty string literals, or is
/// given twice; hooks with the wrong signature. A handler with a bad signature is left out of
/// the generated code but the others are still generated, so no error cascades from the agent
/// missing its `Agent` impl.
#[proc_macro_attribute]
pub fn agent(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let parsed = args::parse_args(attr.into())
        .and_then(|args| Ok(parse::parse_agent(args, syn::parse2(item.clone())?)))
        .unwrap_or_else(|error| parse::Parsed { def: None, errors: Err(error) });
    let mut tokens = match &parsed.def {
        Some(def) => expand::expand(def),
        None => fallback(item),
    };
    if let Err(error) = parsed.errors {
        tokens.extend(error.to_compile_error());
    }
    tokens.into()
}

/// When no agent can be generated, the item is still emitted (without the macro's helper
/// attributes, which the compiler would reject), so that code calling its methods does not
/// add a cascade of "method not found" errors to the ones reported here.
fn fallback(item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Impl(mut item)) => {
            for impl_item in &mut item.items {
                if let syn::ImplItem::Fn(method) = impl_item {
                    attrs::strip(&mut method.attrs);
                }
            }
            item.into_token_stream()
        }
        _ => item,
    }
}
