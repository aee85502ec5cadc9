//! The durable store against the model.
//!
//! A crash drops the store without `close()` and opens its directory again; the model expects
//! every acknowledged operation back. Small segments and an early compaction threshold make
//! cases cross segment files and snapshots, and crash in the middle of a compaction.

use std::path::Path;
use std::sync::Arc;

use proptest_state_machine::prop_state_machine;
use ractor_agents::tasks::{DurableOptions, DurableStore, ManualClock, TaskStore};

use super::model::backends::{OpenStore, Store};
use super::{AgainstModel, config};

/// [`DurableStore`] in the case's directory.
struct Durable;

impl OpenStore for Durable {
    const DURABLE: bool = true;

    fn open(dir: &Path, clock: ManualClock) -> Arc<dyn TaskStore> {
        let options = DurableOptions::default()
            .clock(Arc::new(clock))
            // A crash here is the process dying, not the machine: the OS keeps what was written.
            .fsync(false)
            // By default a lease answers before its own record is durable (a lost lease means
            // the task is leased again); the model expects every acknowledged lease back.
            .durable_leases(true)
            .preallocate(false)
            .segment_bytes(4 << 10)
            .compact_after_bytes(1 << 10);
        Arc::new(DurableStore::open_with(dir, options).expect("open the durable store"))
    }
}

type DurableBackend = Store<Durable>;

prop_state_machine! {
    #![proptest_config(config())]

    #[test]
    fn durable_store_reopened_after_crashes_matches_the_model(sequential 1..80 => AgainstModel<DurableBackend>);
}
