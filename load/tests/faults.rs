//! Short fault runs (seconds): the protected API under load while the embedded Verys rotates
//! its key gracefully, then hard, then fails its JWKS while rotating again, then recovers
//! (see `verys_load::faults`). Counts only, never timings.

use verys_load::faults::{self, FaultsConfig, FaultsReport};

/// What no run may show, whatever the timing.
fn assert_nothing_wrongly_answered(report: &FaultsReport) {
    println!("{report:#?}");
    assert!(
        report.valid_served > 0 && report.invalid_refused > 0,
        "{report:?}"
    );
    assert_eq!(
        report.other_answers, 0,
        "answers other than 200/401/403/503"
    );
    assert_eq!(report.invalid_accepted, 0, "invalid tokens accepted");
    assert_eq!(
        report.scope_bypassed, 0,
        "tokens without api.read answered 200"
    );
    assert_eq!(
        report.valid_refused_outside_window, 0,
        "valid tokens refused after the verifier had their key"
    );
    assert!(
        report.jwks_fetches <= report.fetch_budget,
        "{} JWKS fetches, more than the budget's {}",
        report.jwks_fetches,
        report.fetch_budget
    );
}

#[test]
fn rotations_and_a_failing_jwks_under_load_refuse_no_valid_token_and_accept_no_invalid_one() {
    let report = faults::run(&FaultsConfig::short());
    assert_nothing_wrongly_answered(&report);
    // With the budget not spent on made-up key ids, the key rotated in while the JWKS fails is
    // asked for at once: the failure is met (503), and every key is served in the end.
    assert!(
        report.statuses.get(&503).copied().unwrap_or(0) > 0,
        "no request met the failing JWKS"
    );
    assert!(
        report.windows.iter().all(|(_, window)| window.is_some()),
        "a key rotated in was never served: {:?}",
        report.windows
    );
}

#[test]
fn made_up_key_ids_during_the_faults_cost_no_more_fetches_than_the_budget() {
    let report = faults::run(&FaultsConfig {
        made_up_kids: true,
        ..FaultsConfig::short()
    });
    assert_nothing_wrongly_answered(&report);
}
