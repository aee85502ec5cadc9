//! Misuse of `#[agent]` is a compile error with a clear message at the offending span.
//! The expected output is pinned in `tests/ui/*.stderr`; regenerate with `TRYBUILD=overwrite`
//! and read the diff.

#[test]
fn misuse_is_a_clear_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
