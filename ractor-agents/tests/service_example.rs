//! The README's first command runs `examples/service/`; this runs the same binary for a few
//! seconds and checks that it does real work, survives its analyzers' crashes, summarizes
//! through its LLM fallback chain (offline: simulated providers with scheduled outages) and
//! stops cleanly. It also runs the other examples, `llm_agent` with a look at its story.

// Test code: a panic on an unexpected `Err` is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

/// `cargo test` builds the examples next to the test binaries: `target/<profile>/examples/`.
/// Run alone (`cargo test --test service_example`), cargo does not build them: then this does.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    let bin = profile_dir.join("examples").join(name);
    if !bin.exists() {
        let target_dir = profile_dir.parent().expect("target/");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "ractor-agents", "--example", name, "--target-dir"]).arg(target_dir);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the {name} example failed");
    }
    bin
}

/// The variables that would point the examples at a real model endpoint or pace the service.
const LLM_VARS: &[&str] = &[
    "RACTOR_AGENTS_LLM_BASE_URL",
    "RACTOR_AGENTS_LLM_MODEL",
    "RACTOR_AGENTS_LLM_API_KEY",
    "RACTOR_AGENTS_LLM_TIMEOUT_SECS",
    "RACTOR_AGENTS_LLM_NAME",
    "RACTOR_AGENTS_LLM_RPS",
];

/// `name`'s command, offline whatever the environment says.
fn offline(name: &str) -> Command {
    let bin = example(name);
    assert!(bin.exists(), "{} was not built", bin.display());
    let mut command = Command::new(bin);
    for var in LLM_VARS {
        command.env_remove(var);
    }
    command
}

/// Runs the service for `secs` seconds on `dir`; returns its stdout.
fn run_service(dir: &std::path::Path, secs: u32) -> String {
    let out = offline("service")
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

    // The LLM part: the primary summarizes; its first outage (from 1 s to 3 s) sends calls to the
    // backup; while the backup is down too (2 s to 2.5 s), documents are analyzed without one.
    assert!(number_after(report, "answered by primary") > 0, "the primary should have summarized: {report}");
    assert!(number_after(report, ", backup") > 0, "the backup should have answered during the outage: {report}");
    assert!(number_after(report, "degraded") > 0, "with both providers down, analyses degrade: {report}");
    assert!(number_after(stopped, "llm:") > 0, "summaries were written: {stopped}");
    assert!(number_before(report, " with a summary") > 0, "summaries travel in the analyses to the indexer: {report}");
    assert!(number_before(stopped, " output tokens") > 0, "their tokens were counted: {stopped}");

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
        let out = offline(name).output().expect("example runs");
        assert!(
            out.status.success(),
            "{name} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_llm_agent_falls_back_to_the_backup_during_the_outage_and_returns_to_the_primary() {
    let out = offline("llm_agent").output().expect("llm_agent runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "llm_agent failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // The numbered lines, one per summary: `[ n] <provider> answered ... | primary breaker <state> | ...`.
    let answers: Vec<&str> = stdout.lines().filter(|l| l.starts_with('[') && l.contains(" answered in ")).collect();
    let by = |line: &str| {
        line.split(']').nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap_or_default().to_owned()
    };
    assert_eq!(answers.len(), 16, "{stdout}");
    assert_eq!(by(answers[0]), "primary", "before the outage the primary answers: {stdout}");
    let fell_back = answers.iter().position(|l| by(l) == "backup").unwrap_or_else(|| panic!("no fallback: {stdout}"));
    assert!(answers[fell_back].contains("primary breaker open"), "the outage opened the breaker: {stdout}");
    let last = answers.last().copied().unwrap_or_default();
    assert_eq!(by(last), "primary", "after the outage the primary answers again: {stdout}");
    assert!(last.contains("primary breaker closed"), "a successful probe closed the breaker: {stdout}");
    assert!(stdout.contains("streaming: "), "the streamed summaries are printed: {stdout}");
    let done = stdout.lines().find(|l| l.starts_with("done: ")).unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(number_after(done, "done:"), 18, "16 summaries and 2 streamed: {done}");
}
