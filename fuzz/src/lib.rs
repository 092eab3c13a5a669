//! The property every policy-parser fuzz target checks, shared by the libFuzzer target
//! (`fuzz_targets/policy_parse.rs`) and the stable replay/mutation harness
//! (`src/bin/policy_replay.rs`).

use stockade_policy::Policy;

/// Feed one input to the parser.
///
/// - `Policy::from_toml` must return (`Ok` or `Err`), never panic;
/// - a policy that parses must survive `to_toml()` → `from_toml()` with equality.
///
/// Panics (which the harnesses report as a crash) when a property does not hold.
pub fn check(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let Ok(policy) = Policy::from_toml(src, "fuzz.toml") else { return };
    let printed = policy.to_toml();
    match Policy::from_toml(&printed, "printed.toml") {
        Ok(again) => assert!(
            again == policy,
            "round trip changed the policy\n--- input ---\n{src}\n--- printed ---\n{printed}\n--- first ---\n{policy:#?}\n--- again ---\n{again:#?}"
        ),
        Err(e) => panic!("the printed policy does not parse back: {e}\n--- input ---\n{src}\n--- printed ---\n{printed}"),
    }
}
