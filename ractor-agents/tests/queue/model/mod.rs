//! The queue against a reference model: random operation sequences run on a backend and on
//! an obviously correct model, compared after every step.
//!
//! * [`reference`]: the model (plain scans over a `BTreeMap`, times in µs on a manual clock);
//! * [`transitions`]: the operations and how they are generated;
//! * [`backends`]: the backends behind one synchronous interface, each with its crash;
//! * [`harness`] and [`check`]: run an operation, compare its answer, check the invariants.
// Test-only items: `pub` for the sibling modules, not an API.
#![allow(unreachable_pub, missing_docs)]

pub mod backends;
pub mod check;
pub mod harness;
pub mod reference;
pub mod transitions;
