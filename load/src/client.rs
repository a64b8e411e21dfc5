//! The load clients' HTTP: one HTTP/1.1 keep-alive connection per client, on hyper's
//! low-level client, so that the generator spends as little as possible of the cores the server
//! under load needs.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, header};
use hyper_util::rt::TokioIo;

/// One keep-alive connection to a server on 127.0.0.1.
pub(crate) struct Connection {
    sender: SendRequest<Empty<Bytes>>,
    host: String,
    address: SocketAddr,
}

impl Connection {
    /// Connects; the connection's driver runs as a task of the current runtime.
    pub(crate) async fn open(address: SocketAddr) -> Result<Self, String> {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("connect {address}: {e}"))?;
        // Requests are small and answered one at a time: Nagle would add its delay to each.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            // The server closing the connection ends it; the next request then reports it.
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            host: address.to_string(),
            address,
        })
    }

    /// Where it is connected.
    pub(crate) fn address(&self) -> &SocketAddr {
        &self.address
    }

    /// `GET path`, with `Authorization: Bearer token` if given: the status and the whole body.
    pub(crate) async fn get(
        &mut self,
        path: &str,
        token: Option<&str>,
    ) -> Result<(u16, Bytes), String> {
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let mut request = Request::get(path).header(header::HOST, &self.host);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| format!("request: {e}"))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok((status, body))
    }
}
