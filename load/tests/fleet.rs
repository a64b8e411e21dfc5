//! A short fleet run (seconds): replica processes of tasks sharing sign-ins on a real
//! `redis-server`, with access tokens that live two seconds, while a lease holder is killed,
//! Redis restarts and a sign-in is replaced (see `verys_load::fleet`). Counts only.

use std::path::Path;

use verys_load::fleet::{self, FleetConfig};

#[test]
fn a_fleet_refreshes_once_per_expiry_through_a_kill_a_redis_restart_and_a_new_sign_in() {
    let config = FleetConfig::short();
    let report = fleet::run(&config, Path::new(env!("CARGO_BIN_EXE_verys-load")));
    println!("{report:#?}");
    let Some((_, held)) = &report.killed else {
        panic!("no replica was caught holding a lease");
    };
    assert_eq!(report.replicas_reported, config.processes - 1);
    assert_eq!(report.served_invalid, 0, "tokens not valid when served");
    assert_eq!(report.crossed_users, 0, "tokens of another user");
    assert_eq!(
        report.shared_between_sign_ins, 0,
        "a token served for two sign-ins"
    );
    assert_eq!(report.hangs, 0, "calls without an answer");
    assert!(report.other_errors.is_empty(), "{:?}", report.other_errors);
    for (index, sign_in) in report.sign_ins.iter().enumerate() {
        assert!(!sign_in.lost, "sign-in {index} was lost");
        assert!(
            sign_in.expiries >= 3,
            "sign-in {index} expired only {} times",
            sign_in.expiries
        );
        // The killed holder's refreshes reached the embedded Verys and were never answered:
        // their refresh tokens are presented again by the replicas that take over.
        let killed_here = usize::from(held.contains(&index));
        assert_eq!(
            sign_in.refreshes,
            sign_in.expiries + killed_here,
            "sign-in {index}: refresh requests against successful refreshes"
        );
        assert!(
            sign_in.presented_twice <= killed_here,
            "sign-in {index}: a refresh token presented twice"
        );
        if index != 0 {
            assert_eq!(sign_in.signed_out, 0, "sign-in {index} answered SignedOut");
        }
    }
}
