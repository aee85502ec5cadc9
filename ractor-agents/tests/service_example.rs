//! The README's first command runs `examples/service.rs`; this runs the same binary for a few
//! seconds and checks that it does real work, survives its analyzers' crashes and stops cleanly.

// Test code: a panic on an unexpected `Err` is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

/// `cargo test` builds the examples next to the test binaries: `target/debug/examples/`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    profile_dir.join("examples").join(name)
}

#[test]
fn the_service_example_processes_documents_survives_crashes_and_stops_cleanly() {
    let bin = example("service");
    assert!(bin.exists(), "{} not built; run through `cargo test`", bin.display());
    let out = Command::new(&bin).args(["--run-for", "4"]).output().expect("service runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "service failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("service started"), "{stdout}");
    let last_report = stdout.lines().rfind(|l| l.contains("analyzer restarts")).expect("a periodic report");
    let documents: u64 = last_report
        .split("documents ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|n| n.parse().ok())
        .expect("document count");
    let restarts: u64 =
        last_report.rsplit("analyzer restarts ").next().and_then(|n| n.trim().parse().ok()).expect("restart count");
    assert!(documents > 100, "too little work done: {last_report}");
    assert!(restarts > 0, "poisoned documents should have crashed analyzers: {last_report}");
    assert!(stdout.contains("stopped cleanly"), "{stdout}");
}

#[test]
fn the_hello_and_supervision_tree_examples_run_to_completion() {
    for name in ["hello_agent", "supervision_tree"] {
        let out = Command::new(example(name)).output().expect("example runs");
        assert!(
            out.status.success(),
            "{name} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
