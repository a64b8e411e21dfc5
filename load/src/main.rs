//! `verys-load api|faults|fleet [options]`: see `load/README.md`.

use std::sync::Arc;
use std::time::Duration;

use verys_load::api::{self, Cell, Mix, Route, Tokens};
use verys_load::faults::{self, FaultsConfig};
use verys_load::fleet::{self, FleetConfig};
use verys_testing::VerysServer;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        usage();
    };
    let options = Options::parse(&args[1..]);
    match command.as_str() {
        "api" => api_run(&options),
        "faults" => faults_run(&options),
        "fleet" => fleet_run(&options),
        "all" => {
            // Everything with its defaults, one after the other: the figures of load/README.md.
            api_run(&options);
            println!();
            faults_run(&Options(vec![("made-up-kids".into(), "0".into())]));
            println!();
            faults_run(&Options(vec![("made-up-kids".into(), "1".into())]));
            println!();
            fleet_run(&Options(Vec::new()));
        }
        // A process of the fleet, started by `fleet_run` (or the fleet test), not by hand.
        "replica" => fleet::replica(),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: verys-load all   (api with its options, then faults without and with made-up kids, then fleet)\n       \
         verys-load api [--clients N] [--requests N] [--rounds N]\n       \
         verys-load faults [--clients N] [--phase-ms N] [--cooldown S] [--burst N] [--max-age S] [--made-up-kids 0|1]\n       \
         verys-load fleet [--processes N] [--tasks N] [--sign-ins N] [--lifetime S] [--seconds S] \
         [--lease-ms N] [--hold-ms N] [--redis-down-ms N] [--pause-ms N]"
    );
    std::process::exit(2);
}

/// `--name value` pairs.
struct Options(Vec<(String, String)>);

impl Options {
    fn parse(args: &[String]) -> Options {
        let mut pairs = Vec::new();
        let mut args = args.iter();
        while let Some(name) = args.next() {
            let Some(name) = name.strip_prefix("--") else {
                usage();
            };
            let Some(value) = args.next() else { usage() };
            pairs.push((name.to_owned(), value.clone()));
        }
        Options(pairs)
    }

    fn get(&self, name: &str, default: usize) -> usize {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or(default, |(_, v)| v.parse().unwrap_or_else(|_| usage()))
    }
}

fn api_run(options: &Options) {
    let clients = options.get("clients", 32);
    let requests = options.get("requests", 20_000);
    let rounds = options.get("rounds", 3);
    let verys = VerysServer::start();
    eprintln!("issuing {} tokens...", clients + requests);
    let tokens = Arc::new(Tokens::issue(&verys, clients, requests));
    // Rounds interleave the cells, so that a neighbour's build slows them all alike.
    let mut cells: Vec<Vec<Cell>> = Vec::new();
    for round in 0..rounds {
        let mut this_round = Vec::new();
        for mix in Mix::ALL {
            for route in Route::ALL {
                let cell = api::run_cell(&verys, &tokens, route, mix, clients, requests);
                eprintln!(
                    "round {round} {:>6} {:>15}: {:>8.0} req/s",
                    mix.name(),
                    route.name(),
                    cell.rate()
                );
                this_round.push(cell);
            }
        }
        cells.push(this_round);
    }
    println!(
        "{clients} keep-alive clients, {requests} requests per cell, {rounds} rounds; the median round of each cell\n"
    );
    println!("| mix | route | requests/s | p50 µs | p99 µs | not 200 |");
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    let mut medians = Vec::new();
    for index in 0..cells[0].len() {
        let mut of_cell: Vec<Cell> = cells.iter().map(|round| round[index].clone()).collect();
        of_cell.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        let mut median = of_cell[of_cell.len() / 2].clone();
        let not_ok: usize = of_cell.iter().map(|c| c.not_ok).sum();
        println!(
            "| {} | {} | {:.0} | {} | {} | {} |",
            median.mix.name(),
            median.route.name(),
            median.rate(),
            median.latencies.percentile(50),
            median.latencies.percentile(99),
            not_ok
        );
        medians.push(median);
    }
    let rate = |mix: Mix, route: Route| {
        medians
            .iter()
            .find(|c| c.mix == mix && c.route == route)
            .map_or(f64::NAN, Cell::rate)
    };
    println!();
    println!("| target | ratio | met |");
    println!("| --- | ---: | --- |");
    let targets = [
        (
            "reused: verys-client / unauthenticated ≥ 0.9",
            rate(Mix::Reused, Route::Verys) / rate(Mix::Reused, Route::Open),
            0.9,
        ),
        (
            "half: verys-client / jsonwebtoken ≥ 1.5",
            rate(Mix::Half, Route::Verys) / rate(Mix::Half, Route::Jwt),
            1.5,
        ),
        (
            "fresh: verys-client / jsonwebtoken > 1.0",
            rate(Mix::Fresh, Route::Verys) / rate(Mix::Fresh, Route::Jwt),
            1.0,
        ),
    ];
    for (name, ratio, target) in targets {
        let met = if ratio >= target { "yes" } else { "no" };
        println!("| {name} | {ratio:.2} | {met} |");
    }
}

fn faults_run(options: &Options) {
    let config = FaultsConfig {
        clients: options.get("clients", 16),
        phase: Duration::from_millis(options.get("phase-ms", 5_000) as u64),
        cooldown: Duration::from_secs(options.get("cooldown", 5) as u64),
        burst: u32::try_from(options.get("burst", 3)).unwrap_or_else(|_| usage()),
        max_age: Duration::from_secs(options.get("max-age", 4) as u64),
        made_up_kids: options.get("made-up-kids", 1) != 0,
    };
    let report = faults::run(&config);
    println!(
        "{} clients, phases of {:?}, JWKS cooldown {:?}, burst {}, max age {:?}, made-up kids {}\n",
        config.clients,
        config.phase,
        config.cooldown,
        config.burst,
        config.max_age,
        config.made_up_kids
    );
    println!("| count | value |");
    println!("| --- | ---: |");
    let rows: [(&str, String); 15] = [
        ("requests", report.requests.to_string()),
        ("duration", format!("{:.1} s", report.elapsed.as_secs_f64())),
        ("answers by status", format!("{:?}", report.statuses)),
        (
            "answers other than 200/401/403/503, or none",
            report.other_answers.to_string(),
        ),
        (
            "valid tokens served (200, or 403 without the scope)",
            report.valid_served.to_string(),
        ),
        (
            "valid tokens refused inside their key's window",
            report.valid_refused_in_window.to_string(),
        ),
        (
            "… of which 503 (keys out of reach) rather than 401",
            report.valid_unavailable_in_window.to_string(),
        ),
        (
            "valid tokens refused outside any window",
            report.valid_refused_outside_window.to_string(),
        ),
        (
            "valid tokens without the scope answered 200",
            report.scope_bypassed.to_string(),
        ),
        (
            "withdrawn key's tokens accepted before the verifier could know",
            report.withdrawn_accepted_in_window.to_string(),
        ),
        (
            "invalid tokens accepted",
            report.invalid_accepted.to_string(),
        ),
        ("invalid tokens refused", report.invalid_refused.to_string()),
        (
            "tokens straddling their key's withdrawal",
            report.straddling.to_string(),
        ),
        ("JWKS fetches", report.jwks_fetches.to_string()),
        (
            "JWKS fetches the budget allows",
            report.fetch_budget.to_string(),
        ),
    ];
    for (name, value) in rows {
        println!("| {name} | {value} |");
    }
    println!();
    for (index, (kid, window)) in report.windows.iter().enumerate() {
        let window = window.map_or("never closed".to_owned(), |w| {
            format!("{} ms", w.as_millis())
        });
        println!("- key {} ({}…): window {window}", index + 1, &kid[..8]);
    }
}

fn fleet_run(options: &Options) {
    let short = FleetConfig::short();
    let config = FleetConfig {
        processes: options.get("processes", 4),
        tasks: options.get("tasks", 8),
        sign_ins: options.get("sign-ins", 4),
        lifetime_secs: options.get("lifetime", 4) as i64,
        duration: Duration::from_secs(options.get("seconds", 80) as u64),
        lease: Duration::from_millis(options.get("lease-ms", 3_000) as u64),
        hold: Duration::from_millis(options.get("hold-ms", 2_000) as u64),
        redis_down: Duration::from_millis(options.get("redis-down-ms", 2_000) as u64),
        pause: Duration::from_millis(
            options.get("pause-ms", short.pause.as_millis() as usize) as u64
        ),
    };
    let executable = std::env::current_exe().expect("this binary's path");
    let report = fleet::run(&config, &executable);
    println!(
        "{} processes × {} tasks sharing {} sign-ins, access tokens of {} s, {:.1} s, lease {:?}, \
         /token held {:?} for the kill, Redis down {:?}\n",
        config.processes,
        config.tasks,
        config.sign_ins,
        config.lifetime_secs,
        report.elapsed.as_secs_f64(),
        config.lease,
        config.hold,
        config.redis_down
    );
    println!(
        "| sign-in | refresh requests | expiries (refreshes that succeeded) | refresh tokens \
         presented twice | refreshed tokens never served | sign-ins | tokens served | SignedOut \
         answers | lost |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for (index, s) in report.sign_ins.iter().enumerate() {
        println!(
            "| {index} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.refreshes,
            s.expiries,
            s.presented_twice,
            s.refreshed_never_served,
            s.sign_ins,
            s.served,
            s.signed_out,
            s.lost
        );
    }
    println!();
    println!("| count | value |");
    println!("| --- | ---: |");
    let killed = report
        .killed
        .as_ref()
        .map_or("none caught".to_owned(), |(replica, held)| {
            format!("replica {replica}, holding the refresh of sign-ins {held:?}")
        });
    let rows = [
        ("killed holding a lease", killed),
        (
            "replicas that reported",
            report.replicas_reported.to_string(),
        ),
        (
            "tokens not valid when served",
            report.served_invalid.to_string(),
        ),
        (
            "tokens of another sign-in (user or scopes)",
            report.crossed_users.to_string(),
        ),
        (
            "tokens served for two sign-ins",
            report.shared_between_sign_ins.to_string(),
        ),
        ("Error::Store answers", report.store_errors.to_string()),
        (
            "… of which from the Redis kill to 6 s after its restart",
            report.store_errors_in_outage.to_string(),
        ),
        ("other errors", report.other_errors.len().to_string()),
        ("calls without an answer", report.hangs.to_string()),
    ];
    for (name, value) in rows {
        println!("| {name} | {value} |");
    }
    for (when, count) in &report.store_errors_by {
        println!("| Error::Store answers {when} | {count} |");
    }
    for error in &report.other_errors {
        println!("\n    {error}");
    }
}
