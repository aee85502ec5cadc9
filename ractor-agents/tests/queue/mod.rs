//! Shared task-queue test code: the backend conformance suite.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod conformance;
