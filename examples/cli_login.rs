//! Signing in from a terminal: a public client (no secret, PKCE) that receives Verys's redirect
//! on a loopback listener, as RFC 8252 asks of native apps.
//!
//! ```text
//! # Against your Verys: open the printed URL (or pass --open), sign in, come back here.
//! cargo run --example cli_login -- --issuer https://auth.verys.example.com --client-id cli --open
//!
//! # Without a browser, against an embedded Verys that logs its seeded user in.
//! cargo run --example cli_login -- --embedded
//! ```
//!
//! Options: `--issuer URL` (or `VERYS_ISSUER`), `--client-id ID` (or `VERYS_CLIENT_ID`),
//! `--open` to hand the URL to the system's browser, `--timeout SECONDS` (default 300) to give
//! up waiting for the browser, `--embedded` (feature `testing`).
//!
//! The client must accept `http://127.0.0.1:{any port}/callback` as a redirect URI: the port is
//! chosen by the operating system at every run.

use std::error::Error;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use verys_client::{Client, Tokens};

/// The command line, parsed.
pub(crate) struct Options {
    /// The Verys URL; unused with `embedded`.
    pub issuer: Option<String>,
    /// The public client's id; unused with `embedded`.
    pub client_id: Option<String>,
    /// Start an embedded Verys and let it play the browser.
    pub embedded: bool,
    /// Hand the authorization URL to the system's browser.
    pub open: bool,
    /// How long to wait for the browser to come back.
    pub timeout: Duration,
}

const USAGE: &str =
    "usage: cli_login [--issuer URL] [--client-id ID] [--open] [--timeout SECONDS] [--embedded]";

impl Options {
    /// Parses the arguments after the program name; `VERYS_ISSUER` and `VERYS_CLIENT_ID` fill
    /// in for missing options.
    pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
        let mut options = Options {
            issuer: std::env::var("VERYS_ISSUER").ok(),
            client_id: std::env::var("VERYS_CLIENT_ID").ok(),
            embedded: false,
            open: false,
            timeout: Duration::from_secs(300),
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--issuer" => options.issuer = Some(value()?),
                "--client-id" => options.client_id = Some(value()?),
                "--timeout" => {
                    let seconds = value()?;
                    let seconds = seconds
                        .parse()
                        .map_err(|_| format!("--timeout takes seconds, not {seconds:?}"))?;
                    options.timeout = Duration::from_secs(seconds);
                }
                "--open" => options.open = true,
                "--embedded" => options.embedded = true,
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        Ok(options)
    }
}

/// Signs in as the options say and prints the outcome to `out`.
pub(crate) fn run(options: Options, out: &mut dyn Write) -> Result<Tokens, Box<dyn Error>> {
    if options.embedded {
        return run_embedded(options.timeout, out);
    }
    let issuer = options
        .issuer
        .ok_or("--issuer (or VERYS_ISSUER) is required")?;
    let client_id = options
        .client_id
        .ok_or("--client-id (or VERYS_CLIENT_ID) is required")?;
    let open = options.open;
    sign_in(&issuer, &client_id, options.timeout, out, |url| {
        if open {
            open_in_browser(url);
        }
    })
}

/// The whole flow: listen, send the user to Verys, wait for the callback, exchange the code.
///
/// `browser` is handed the authorization URL once the listener is ready; it must not wait for
/// the sign-in to finish (this function is the one waiting).
pub(crate) fn sign_in(
    issuer: &str,
    client_id: &str,
    timeout: Duration,
    out: &mut dyn Write,
    browser: impl FnOnce(&str),
) -> Result<Tokens, Box<dyn Error>> {
    // RFC 8252 7.3 and 8.3: the loopback IP literal rather than `localhost` (which may resolve
    // to another interface, or to IPv6 while we listen on IPv4), on a port the operating system
    // picks, so that two runs or another program never collide.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let redirect_uri = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr()?.port()
    );
    let client = Client::builder(issuer, client_id)
        .redirect_uri(&redirect_uri)
        .scopes(["openid", "profile", "email"])
        .build()?;

    let pending = client.authorize();
    writeln!(
        out,
        "Sign in with Verys by opening this URL in your browser:\n\n    {}\n",
        pending.url()
    )?;
    writeln!(out, "Waiting for the browser on {redirect_uri} ...")?;
    browser(pending.url());

    let (stream, query) = wait_for_callback(&listener, Instant::now() + timeout)?;
    let outcome = pending
        .receive(&query)
        .map_err(Box::<dyn Error>::from)
        .and_then(|received| Ok(client.exchange_code(received)?));
    // The browser waits on this page while the code is exchanged, so it can tell the outcome.
    let page = match &outcome {
        Ok(_) => "Signed in. You can close this tab and return to the terminal.".to_owned(),
        Err(error) => format!("Sign-in failed: {error}. See the terminal."),
    };
    // A browser that stopped listening must not turn a sign-in into a failure.
    let _ = respond(stream, "200 OK", &page);
    let tokens = outcome?;

    let claims = tokens.claims();
    let name = claims.name().unwrap_or(tokens.sub());
    writeln!(out, "Signed in as {name}")?;
    match tokens.expires_at() {
        Some(at) => writeln!(out, "Access token expires at {}", describe_time(at))?,
        None => writeln!(out, "Verys did not say when the access token expires")?,
    }
    Ok(tokens)
}

/// Answers requests on the loopback listener until one comes to `/callback`, and returns it with
/// its query; other paths (a browser's `/favicon.ico`) get a 404.
fn wait_for_callback(
    listener: &TcpListener,
    deadline: Instant,
) -> Result<(TcpStream, String), Box<dyn Error>> {
    // Non-blocking, polled: std has no accept with a timeout, and the user may never come back.
    listener.set_nonblocking(true)?;
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err("timed out waiting for the browser to come back from Verys".into());
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        stream.set_nonblocking(false)?;
        // Browsers open connections they may never use: bound the wait on each, but leave a
        // slow real request time to arrive.
        let wait = deadline.saturating_duration_since(Instant::now());
        stream.set_read_timeout(Some(
            wait.clamp(Duration::from_secs(1), Duration::from_secs(10)),
        ))?;
        let Some(target) = read_request_target(&stream) else {
            continue;
        };
        match target.split_once('?') {
            Some(("/callback", query)) => return Ok((stream, format!("?{query}"))),
            None if target == "/callback" => return Ok((stream, String::new())),
            _ => {
                let _ = respond(stream, "404 Not Found", "Nothing here.");
            }
        }
    }
}

/// The target of a `GET` request line, after reading the request's headers (the callback has no
/// body). `None` for anything that is not such a request.
fn read_request_target(stream: &TcpStream) -> Option<String> {
    // A request line and headers of a few kilobytes at most: nothing else talks to this port.
    let mut reader = BufReader::new(stream.take(16 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?, parts.next()?);
    if method != "GET" {
        return None;
    }
    let target = target.to_owned();
    // Read the headers up to the blank line, so that closing the connection does not reset it
    // (unread data makes the kernel send RST) before the browser reads the page.
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) if line.trim().is_empty() => return Some(target),
            Ok(_) => {}
        }
    }
}

fn respond(mut stream: TcpStream, status: &str, message: &str) -> std::io::Result<()> {
    let body = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>Verys sign-in</title><p>{}</p>",
        message
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    );
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// Best effort: the URL is printed anyway, and a headless machine has no browser to open.
fn open_in_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

fn run_embedded(timeout: Duration, out: &mut dyn Write) -> Result<Tokens, Box<dyn Error>> {
    use verys_testing::{VerysServer, seed};

    let verys = std::sync::Arc::new(VerysServer::start());
    writeln!(out, "Embedded Verys at {}", verys.issuer())?;
    let issuer = verys.issuer();
    sign_in(&issuer, seed::PUBLIC_CLIENT_ID, timeout, out, |url| {
        let (verys, url) = (verys.clone(), url.to_owned());
        // The "browser" works while `sign_in` waits on its listener, as a real one would: Verys
        // logs the user in and redirects, and the browser follows to the loopback callback.
        std::thread::spawn(move || {
            let callback = verys.login(&url);
            if let Err(error) = follow(&callback) {
                eprintln!("embedded browser: GET {callback} failed: {error}");
            }
        });
    })
}

fn follow(url: &str) -> Result<(), ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        // The callback is on 127.0.0.1: an HTTP_PROXY of the environment must not get it.
        .proxy(None)
        .build()
        .into();
    agent.get(url).call()?.body_mut().read_to_string()?;
    Ok(())
}

/// `in 4 min (Unix time 1795716319)`: a calendar date would need a date
/// library, which this example does without.
fn describe_time(at: SystemTime) -> String {
    let unix = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let minutes_left = at
        .duration_since(SystemTime::now())
        .map_or(0, |d| d.as_secs() / 60);
    format!("in {minutes_left} min (Unix time {unix})")
}

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("{error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(options, &mut std::io::stdout()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sign-in failed: {error}");
            ExitCode::FAILURE
        }
    }
}
