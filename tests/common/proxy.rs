//! An HTTP proxy on 127.0.0.1 for the tests: it tunnels `CONNECT` requests (how clients reach an
//! `https` server through a proxy) to loopback targets, and records each target. Built on hyper,
//! on a runtime of its own; dropping it stops it.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

pub(crate) struct Proxy {
    url: String,
    tunnels: Arc<Mutex<Vec<String>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Proxy {
    pub(crate) fn start() -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("proxy listener");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&tunnels);
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let service = service_fn(move |request| tunnel(request, Arc::clone(&recorded)));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Proxy {
            url,
            tunnels,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:PORT`, the proxy's URL for a client's configuration.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The `host:port` of every tunnel opened so far.
    pub(crate) fn tunnels(&self) -> Vec<String> {
        self.tunnels.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn tunnel(
    request: Request<Incoming>,
    recorded: Arc<Mutex<Vec<String>>>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    let target = request.uri().authority().map(ToString::to_string);
    let status = match target {
        // Only loopback: a test's proxy must not reach out.
        Some(target) if request.method() == Method::CONNECT && target.starts_with("127.0.0.1:") => {
            recorded.lock().unwrap().push(target.clone());
            tokio::spawn(async move {
                let Ok(upgraded) = hyper::upgrade::on(request).await else {
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(&target).await else {
                    return;
                };
                let _ =
                    tokio::io::copy_bidirectional(&mut TokioIo::new(upgraded), &mut upstream).await;
            });
            StatusCode::OK
        }
        _ => StatusCode::FORBIDDEN,
    };
    let mut response = Response::new(Empty::new());
    *response.status_mut() = status;
    Ok(response)
}
