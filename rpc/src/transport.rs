//! What stands between a socket and the handlers: HTTP bodies read within
//! their limit, request ids checked, subscriptions refused where they cannot
//! work, and a time limit per request.
//!
//! jsonrpsee does the JSON-RPC; these layers correct what it answers
//! imprecisely for hostile or broken input:
//!
//! - a chunked body over the limit, or a broken chunk, made its body reader
//!   fail with HTTP 500 and `-32603`; here it is 413 with `-32007` (as for a
//!   body whose `Content-Length` is too large) or 400 with `-32700`;
//! - a request whose `id` is neither a string, an integer nor null (`{}`,
//!   `1.5`, `true`) parsed as a notification and got no answer; JSON-RPC
//!   says it is an invalid request (`-32600`, id null);
//! - `eth_subscribe` over HTTP answered `-32603`; geth says
//!   `-32601 notifications not supported`, and so does this node.
//!
//! WebSocket connections are relayed by [`crate::websocket`], which checks
//! ids the same way.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, LengthLimitError, Limited};
use jsonrpsee::core::BoxError;
use jsonrpsee::core::middleware::{Batch, BatchEntry, BatchEntryErr, Notification, RpcServiceT};
use jsonrpsee::server::http::response;
use jsonrpsee::server::ws::is_upgrade_request;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse, MethodResponse};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Id, Request};
use serde::Deserialize;
use serde_json::value::RawValue;

/// How a request reached the node: HTTP requests carry this extension
/// (relayed WebSocket messages carry none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Http,
}

/// geth's code and message for a subscription over a transport without
/// notifications.
pub const NOTIFICATIONS_UNSUPPORTED: i32 = -32601;
/// geth's code for a request that ran out of time.
pub const REQUEST_TIMEOUT: i32 = -32002;

/// The HTTP side: reads the body within `max_body` bytes and checks ids
/// before jsonrpsee parses it; hands WebSocket upgrades to the
/// [`crate::websocket`] front.
#[derive(Clone)]
pub struct HttpGuardLayer {
    pub max_body: u32,
    pub websocket: crate::websocket::Backend,
    /// Whether `GET /` serves the [`crate::explorer`].
    pub explorer: bool,
}

impl<S> tower::Layer<S> for HttpGuardLayer {
    type Service = HttpGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpGuard {
            inner,
            max_body: self.max_body,
            websocket: self.websocket.clone(),
            explorer: self.explorer,
        }
    }
}

#[derive(Clone)]
pub struct HttpGuard<S> {
    inner: S,
    max_body: u32,
    websocket: crate::websocket::Backend,
    explorer: bool,
}

impl<S, B> tower::Service<http::Request<B>> for HttpGuard<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = hyper::body::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if is_upgrade_request(&request) {
            let websocket = self.websocket.clone();
            return Box::pin(
                async move { Ok(crate::websocket::upgrade(websocket, request).await) },
            );
        }
        if self.explorer && crate::explorer::is_page_request(request.method(), request.uri().path())
        {
            let page = crate::explorer::respond(&request);
            return Box::pin(async move { Ok(page) });
        }
        // The service that was polled ready takes this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let max_body = self.max_body;
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(Transport::Http);
            let bytes = match Limited::new(body, max_body as usize).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
                    return Ok(response::too_large(max_body));
                }
                // A broken chunk, a connection cut mid-body: the request
                // never arrived whole.
                Err(_) => return Ok(response::malformed()),
            };
            let body = match invalid_ids_rejected(&bytes) {
                Some(rewritten) => {
                    parts.headers.remove(http::header::CONTENT_LENGTH);
                    HttpBody::from(rewritten)
                }
                None => HttpBody::new(http_body_util::Full::new(bytes)),
            };
            inner.call(HttpRequest::from_parts(parts, body)).await.map_err(Into::into)
        })
    }
}

/// Whether a JSON-RPC id is one jsonrpsee answers: a string, a
/// non-negative integer, or null. JSON-RPC allows any number, but a
/// fraction or an exponent "SHOULD NOT" be used, and no client does.
fn answerable_id(id: &RawValue) -> bool {
    let text = id.get();
    text.starts_with('"') || text == "null" || text.parse::<u64>().is_ok()
}

/// `body` with every request object whose id cannot be answered replaced
/// by `{"jsonrpc":"2.0","id":null}`, which jsonrpsee answers with
/// `-32600 Invalid request` and id null; `None` if there is nothing to
/// replace (the usual case: the body is then passed on as it came).
pub(crate) fn invalid_ids_rejected(body: &[u8]) -> Option<Vec<u8>> {
    #[derive(Deserialize)]
    struct IdOf<'a> {
        #[serde(borrow, default)]
        id: Option<&'a RawValue>,
    }
    let bad = |request: &RawValue| {
        serde_json::from_str::<IdOf<'_>>(request.get())
            .ok()
            .and_then(|parsed| parsed.id)
            .is_some_and(|id| !answerable_id(id))
    };
    let text = std::str::from_utf8(body).ok()?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let batch: Vec<&RawValue> = serde_json::from_str(text).ok()?;
        if !batch.iter().any(|r| bad(r)) {
            return None;
        }
        let entries: Vec<&str> =
            batch.iter().map(|r| if bad(r) { INVALID_REQUEST } else { r.get() }).collect();
        Some(format!("[{}]", entries.join(",")).into_bytes())
    } else {
        let request: &RawValue = serde_json::from_str(text).ok()?;
        bad(request).then(|| INVALID_REQUEST.as_bytes().to_vec())
    }
}

/// A request object jsonrpsee refuses as invalid, with id null.
const INVALID_REQUEST: &str = r#"{"jsonrpc":"2.0","id":null}"#;

/// The RPC side: refuses subscriptions over HTTP and bounds how long a
/// request may take.
#[derive(Clone, Copy, Debug)]
pub struct RpcGuardLayer {
    pub timeout: Duration,
}

impl<S> tower::Layer<S> for RpcGuardLayer {
    type Service = RpcGuard<S>;

    fn layer(&self, service: S) -> Self::Service {
        RpcGuard::new(service, self.timeout)
    }
}

/// The RPC side: refuses subscriptions over HTTP and bounds how long a
/// request may take.
#[derive(Clone, Debug)]
pub struct RpcGuard<S> {
    service: S,
    timeout: Duration,
}

impl<S> RpcGuard<S> {
    pub fn new(service: S, timeout: Duration) -> Self {
        Self { service, timeout }
    }
}

/// Why `request` cannot be served on its transport, if it cannot.
fn refusal(request: &Request<'_>) -> Option<ErrorObjectOwned> {
    let over_http = request.extensions().get::<Transport>() == Some(&Transport::Http);
    let subscription = matches!(request.method_name(), "eth_subscribe" | "eth_unsubscribe");
    (over_http && subscription).then(|| {
        ErrorObject::owned(NOTIFICATIONS_UNSUPPORTED, "notifications not supported", None::<()>)
    })
}

fn timed_out(timeout: Duration) -> ErrorObjectOwned {
    ErrorObject::owned(
        REQUEST_TIMEOUT,
        format!("request timed out (the limit is {} ms, --request-timeout)", timeout.as_millis()),
        None::<()>,
    )
}

impl<S> RpcServiceT for RpcGuard<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let service = self.service.clone();
        let timeout = self.timeout;
        async move {
            if let Some(error) = refusal(&request) {
                return MethodResponse::error(request.id, error);
            }
            let id = request.id.clone().into_owned();
            match tokio::time::timeout(timeout, service.call(request)).await {
                Ok(response) => response,
                Err(_) => MethodResponse::error(id, timed_out(timeout)),
            }
        }
    }

    fn batch<'a>(&self, mut batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        for entry in batch.iter_mut() {
            if let Ok(BatchEntry::Call(request)) = entry
                && let Some(error) = refusal(request)
            {
                *entry = Err(BatchEntryErr::new(request.id.clone(), error));
            }
        }
        let service = self.service.clone();
        let timeout = self.timeout;
        async move {
            match tokio::time::timeout(timeout, service.batch(batch)).await {
                Ok(response) => response,
                Err(_) => MethodResponse::error(Id::Null, timed_out(timeout)),
            }
        }
    }

    fn notification<'a>(
        &self,
        notification: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.service.notification(notification)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unanswerable_ids_are_rewritten() {
        for ok in [
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"eth_chainId"}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"eth_chainId"}"#,
            r#"{"jsonrpc":"2.0","method":"eth_chainId"}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}]"#,
            "not json",
        ] {
            assert_eq!(invalid_ids_rejected(ok.as_bytes()), None, "{ok}");
        }
        for bad in ["{}", "1.5", "true", "-1", "[1]"] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{bad},"method":"eth_chainId"}}"#);
            assert_eq!(
                invalid_ids_rejected(body.as_bytes()).as_deref(),
                Some(INVALID_REQUEST.as_bytes()),
                "{body}"
            );
        }
        let batch =
            r#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","id":{},"method":"b"}]"#;
        let rewritten = String::from_utf8(invalid_ids_rejected(batch.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            rewritten,
            format!(r#"[{{"jsonrpc":"2.0","id":1,"method":"a"}},{INVALID_REQUEST}]"#)
        );
    }
}
