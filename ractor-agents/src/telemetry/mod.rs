//! Telemetry: the catalogue of metric names every component emits.
//!
//! Metrics go through the [`metrics`] facade, so any recorder works; install yours (for example
//! `metrics-exporter-prometheus`) **before** starting agents, because each agent resolves its
//! counters once when its mailbox is created. The names, labels and meaning of every metric
//! are listed in `docs/observability/metrics.md`; [`metrics::names`] holds them as constants.

pub mod metrics;
