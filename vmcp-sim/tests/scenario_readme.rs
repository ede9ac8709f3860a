//! The examples in `scenarios/README.md` stay valid: the complete example parses, and the
//! per-section snippets, concatenated, form a valid scenario too.

use vmcp_sim::scenario::Scenario;

const README: &str = include_str!("../../scenarios/README.md");

/// The contents of every ```toml block, in order.
fn toml_blocks() -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in README.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn the_complete_example_is_valid() {
    let blocks = toml_blocks();
    let scenario = Scenario::from_toml_str(&blocks[0], "README example").unwrap();
    assert_eq!(scenario.name, "stale-keepalive-shared-pool");
    assert_eq!(scenario.expects.len(), 2);
    // Documented is not enough: the example must run, and its expectations hold.
    let outcome = vmcp_sim::runner::run(&scenario, scenario.seed).expect("the example runs");
    assert!(outcome.passed(), "{:#?}", outcome.failures);
}

#[test]
fn the_section_snippets_together_are_valid() {
    let blocks = toml_blocks();
    assert!(blocks.len() >= 6, "expected the per-section snippets");
    let text = blocks[1..].concat();
    let scenario = Scenario::from_toml_str(&text, "README snippets").unwrap();
    assert!(scenario.vmcp.circuit_breaker.enabled);
    assert_eq!(scenario.backends.len(), 3);
    assert_eq!(scenario.events.len(), 3);
    assert_eq!(scenario.expects.len(), 4);
}

/// The `[[client]]` section's complete example (fenced as `toml clients`, so it is not one of
/// the snippets above) parses, runs, and its expectations hold.
#[test]
fn the_client_example_runs() {
    let mut block: Option<String> = None;
    for line in README.lines() {
        match (&mut block, line.trim_end()) {
            (None, "```toml clients") => block = Some(String::new()),
            (Some(_), "```") => break,
            (Some(b), text) => {
                b.push_str(text);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    let text = block.expect("a ```toml clients block in scenarios/README.md");
    let scenario = Scenario::from_toml_str(&text, "README client example").unwrap();
    assert_eq!(scenario.clients.len(), 1);
    let outcome = vmcp_sim::runner::run(&scenario, scenario.seed).expect("the example runs");
    assert!(
        outcome.passed(),
        "{:#?} {:#?}",
        outcome.failures,
        outcome.violations
    );
}
