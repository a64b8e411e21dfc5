//! Compile-fail tests: each file under `tests/ui/` is a mistake the types
//! must refuse, with the compiler's message checked in beside it.

#[test]
fn typestate_guarantees() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
