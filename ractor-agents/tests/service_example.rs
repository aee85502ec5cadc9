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

/// Runs the service for `secs` seconds on `dir`; returns its stdout.
fn run_service(dir: &std::path::Path, secs: u32) -> String {
    let bin = example("service");
    assert!(bin.exists(), "{} not built; run through `cargo test`", bin.display());
    let out = Command::new(&bin)
        .args(["--run-for", &secs.to_string(), "--data-dir"])
        .arg(dir)
        .output()
        .expect("service runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "service failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The number after `label ` in `line`.
fn number_after(line: &str, label: &str) -> u64 {
    line.split(&format!("{label} "))
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{label}` in {line}"))
}

/// The number just before `label` in `line` ("… 42 succeeded" → 42).
fn number_before(line: &str, label: &str) -> u64 {
    let head = line.split(label).next().unwrap_or_default();
    head.rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before `{label}` in {line}"))
}

#[test]
fn the_service_runs_tasks_through_its_pools_survives_crashes_and_resumes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = run_service(dir.path(), 3);
    assert!(first.contains("service started"), "{first}");
    let report = first.lines().rfind(|l| l.contains("succeeded")).expect("a periodic report");
    assert!(number_after(report, "succeeded") > 100, "too little work done: {report}");
    assert!(number_after(report, "crashed tasks") > 0, "flaky documents should have crashed analyzers: {report}");
    let stopped = first.lines().find(|l| l.contains("stopped cleanly")).unwrap_or_else(|| panic!("{first}"));
    let cursor = number_after(stopped, "producer at document");

    let second = run_service(dir.path(), 2);
    let started = second.lines().find(|l| l.contains("service started")).unwrap_or_else(|| panic!("{second}"));
    assert_eq!(number_after(started, "continues at document"), cursor, "the producer resumes where it stopped");
    let first_done = number_after(report, "succeeded");
    assert!(number_before(started, " succeeded") >= first_done, "finished tasks survive the restart: {started}");
    let second_report = second.lines().rfind(|l| l.contains("succeeded")).expect("a periodic report");
    assert!(number_after(second_report, "succeeded") > first_done, "the queue's history carried over: {second_report}");
    assert!(second.contains("stopped cleanly"), "{second}");
}

#[test]
fn the_hello_supervision_tree_and_task_pipeline_examples_run_to_completion() {
    for name in ["hello_agent", "supervision_tree", "task_pipeline"] {
        let out = Command::new(example(name)).output().expect("example runs");
        assert!(
            out.status.success(),
            "{name} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
