//! An HTTP gateway to the node's canister, as dfx's local replica and
//! PocketIC have one, and as the Internet Computer's boundary nodes are.
//!
//! `--gateway-port PORT` serves the canister at
//! `http://127.0.0.1:PORT/?canisterId=<id>` and at
//! `http://<id>.localhost:PORT/`. Each request goes, with its method, URL,
//! headers and body, to the canister's `http_request` query; if the query
//! answers `upgrade = opt true`, the same request goes to
//! `http_request_update` as an update, inspected and journaled like any
//! other. The response is the canister's, status, headers and body.
//! Responses are not certified (as at `<id>.raw.icp0.io`).
//!
//! So a wallet pointed here talks to the `.wasm` itself — its own JSON-RPC
//! (`evm-canister/src/http.rs`) — and not to the node's JSON-RPC server.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use candid::Principal;
use evm_canister_api::http::{HttpRequest, HttpResponse, HttpUpdateRequest};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::handle::{ChainEvent, NodeHandle};
use crate::node::Queries as _;

/// Largest request body: the IC's ingress limit.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The running gateway; dropping it stops accepting connections.
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Gateway {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Starts the gateway on `addr`, serving the canister of `node`.
pub async fn serve(node: NodeHandle, addr: SocketAddr) -> anyhow::Result<Gateway> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let canister = node
        .run(|node| Ok(node.canister_id()))
        .await
        .map_err(|e| anyhow::anyhow!("reading the canister id: {}", e.message()))?;
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let node = node.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let node = node.clone();
                    async move { Ok::<_, Infallible>(handle(&node, canister, request).await) }
                });
                // A client that hangs up mid-request is its own business.
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(Gateway { addr, accept })
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.into() + "\n")));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", "text/plain; charset=utf-8".parse().unwrap());
    response
}

/// The canister a request is for: `?canisterId=<id>`, or the host name
/// `<id>.localhost` (`<id>.raw.localhost` too).
pub fn canister_of<B>(request: &Request<B>) -> Option<String> {
    let from_query = request.uri().query().and_then(|query| {
        query.split('&').find_map(|pair| pair.strip_prefix("canisterId=").map(str::to_owned))
    });
    from_query.or_else(|| {
        let host = request.headers().get("host")?.to_str().ok()?;
        let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
        let id = name.strip_suffix(".localhost")?;
        Some(id.strip_suffix(".raw").unwrap_or(id).to_owned())
    })
}

async fn handle(
    node: &NodeHandle,
    canister: Principal,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let Some(id) = canister_of(&request) else {
        return plain(
            StatusCode::BAD_REQUEST,
            format!(
                "which canister? Use /?canisterId={canister} or http://{canister}.localhost:PORT/"
            ),
        );
    };
    if Principal::from_text(&id).ok() != Some(canister) {
        return plain(StatusCode::NOT_FOUND, format!("canister {id} is not installed here"));
    }
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body refused ({e}); the limit is {MAX_BODY_BYTES} bytes"),
            );
        }
    };
    let headers = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect::<Vec<_>>();
    let url = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let query = HttpRequest {
        method: parts.method.as_str().to_owned(),
        url,
        headers,
        body: body.to_vec().into(),
        certificate_version: Some(2),
    };
    match forward(node, query).await {
        Ok(response) => {
            let mut answer = Response::new(Full::new(Bytes::from(response.body.into_vec())));
            *answer.status_mut() =
                StatusCode::from_u16(response.status_code).unwrap_or(StatusCode::BAD_GATEWAY);
            for (name, value) in response.headers {
                if let (Ok(name), Ok(value)) = (
                    hyper::header::HeaderName::from_bytes(name.as_bytes()),
                    hyper::header::HeaderValue::from_str(&value),
                ) {
                    answer.headers_mut().append(name, value);
                }
            }
            answer
        }
        // A reject or trap, as boundary nodes answer one.
        Err(message) => plain(StatusCode::SERVICE_UNAVAILABLE, message),
    }
}

/// The query, and the update if the query asks for one.
async fn forward(node: &NodeHandle, request: HttpRequest) -> Result<HttpResponse, String> {
    let arg = candid::encode_one(&request).map_err(|e| e.to_string())?;
    let reply = node
        .read(move |node| node.http_request(&arg))
        .await
        .map_err(|e| format!("the canister's http_request failed: {}", e.message()))?;
    let response: HttpResponse = candid::decode_one(&reply)
        .map_err(|e| format!("the canister's http_request replied no HttpResponse: {e}"))?;
    if response.upgrade != Some(true) {
        return Ok(response);
    }
    let update = HttpUpdateRequest {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body,
    };
    let arg = candid::encode_one(&update).map_err(|e| e.to_string())?;
    let (reply, head) = node
        .run(move |node| node.http_request_update(&arg))
        .await
        .map_err(|e| format!("the canister's http_request_update failed: {}", e.message()))?;
    if let Some(head) = head {
        node.publish(ChainEvent::Block(head));
    }
    candid::decode_one(&reply)
        .map_err(|e| format!("the canister's http_request_update replied no HttpResponse: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canister_is_named_by_query_or_host() {
        let id = "rrkah-fqaaa-aaaaa-aaaaq-cai";
        let by_query = Request::get(format!("/?canisterId={id}")).body(()).unwrap();
        assert_eq!(canister_of(&by_query).as_deref(), Some(id));
        let by_host =
            Request::get("/").header("host", format!("{id}.localhost:4943")).body(()).unwrap();
        assert_eq!(canister_of(&by_host).as_deref(), Some(id));
        let raw = Request::get("/").header("host", format!("{id}.raw.localhost")).body(()).unwrap();
        assert_eq!(canister_of(&raw).as_deref(), Some(id));
        let neither = Request::get("/").header("host", "127.0.0.1:4943").body(()).unwrap();
        assert_eq!(canister_of(&neither), None);
    }
}
