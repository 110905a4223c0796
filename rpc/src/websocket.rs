//! The WebSocket front: RFC 6455 as tungstenite enforces it, and JSON-RPC
//! ids checked, before jsonrpsee's WebSocket server sees a message.
//!
//! jsonrpsee's WebSocket transport (soketto) accepts unmasked frames from
//! clients, which RFC 6455 §5.1 forbids, and takes a request whose id is
//! neither a string, an integer nor null for a notification, so it never
//! answers it. Rather than patching either, the node terminates every
//! client's WebSocket itself with tungstenite (which refuses unmasked
//! frames, invalid UTF-8 and oversized messages by closing the connection)
//! and relays each message to a jsonrpsee connection of its own over an
//! in-process pipe, rewriting requests with unanswerable ids as HTTP does
//! ([`crate::transport`]), so jsonrpsee answers them `-32600`.
//!
//! ```text
//!  client ──ws──▶ front (tungstenite, server role) ──ws over a pipe──▶ jsonrpsee
//!         ◀────── responses and subscription notifications ◀──────────
//! ```
//!
//! The jsonrpsee side is built per connection, so subscriptions, their
//! per-connection limit and the connection limit work as ever.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse, StopHandle};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::transport::invalid_ids_rejected;

/// Builds the jsonrpsee service of one relayed connection.
pub type ServiceFactory = Arc<dyn Fn() -> BoxService + Send + Sync>;

/// A jsonrpsee connection service, type-erased.
pub type BoxService =
    tower::util::BoxCloneSyncService<http::Request<hyper::body::Incoming>, HttpResponse, BoxError>;

/// What the front needs to open a jsonrpsee connection per client.
#[derive(Clone)]
pub struct Backend {
    pub service: ServiceFactory,
    pub stop: StopHandle,
    /// Largest message a client may send.
    pub max_message_bytes: usize,
}

/// Size of the in-process pipe to jsonrpsee, per direction.
const PIPE_BYTES: usize = 256 * 1024;

fn config(max_message_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
        .accept_unmasked_frames(false)
}

/// Answers a WebSocket upgrade request: opens the jsonrpsee side first (so
/// a refused connection is refused to the client as jsonrpsee refuses it),
/// then switches the client's connection over and relays.
pub async fn upgrade<B>(backend: Backend, request: HttpRequest<B>) -> HttpResponse
where
    B: Send + 'static,
{
    let Some(key) = request.headers().get(http::header::SEC_WEBSOCKET_KEY).cloned() else {
        return plain(http::StatusCode::BAD_REQUEST, "a WebSocket upgrade needs Sec-WebSocket-Key");
    };
    let (front, back) = tokio::io::duplex(PIPE_BYTES);
    let service = (backend.service)();
    let stop = backend.stop.clone();
    // (Boxed: spawning the future as it is trips a lifetime limitation of
    // the compiler with boxed error types.)
    let serve: std::pin::Pin<Box<dyn Future<Output = _> + Send>> =
        Box::pin(jsonrpsee::server::serve_with_graceful_shutdown(back, service, stop.shutdown()));
    tokio::spawn(async move {
        let _ = serve.await;
    });
    let config = config(backend.max_message_bytes);
    // jsonrpsee's own checks of the relayed messages use the same limit.
    let inner =
        tokio_tungstenite::client_async_with_config("ws://node/", front, Some(config)).await;
    let inner = match inner {
        Ok((inner, _)) => inner,
        Err(WsError::Http(refused)) => {
            let status = refused.status();
            let body = refused.into_body().unwrap_or_default();
            return plain(status, String::from_utf8_lossy(&body));
        }
        Err(error) => {
            return plain(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot open the connection: {error}"),
            );
        }
    };
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(request).await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!("WebSocket upgrade failed: {error}");
                return;
            }
        };
        let client =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        relay(client, inner).await;
    });
    http::Response::builder()
        .status(http::StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::CONNECTION, "upgrade")
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::SEC_WEBSOCKET_ACCEPT, derive_accept_key(key.as_bytes()))
        .body(HttpBody::empty())
        .expect("a valid response")
}

fn plain(status: http::StatusCode, text: impl Into<String>) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(HttpBody::from(text.into()))
        .expect("a valid response")
}

/// Relays messages both ways until either side closes. A protocol
/// violation by the client (an unmasked frame, invalid UTF-8, a message
/// over the limit) ends the connection with the close code RFC 6455 gives.
async fn relay<C, I>(mut client: WebSocketStream<C>, mut inner: WebSocketStream<I>)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        tokio::select! {
            message = client.next() => {
                let forward = match message {
                    Some(Ok(Message::Text(text))) => match invalid_ids_rejected(text.as_bytes()) {
                        Some(rewritten) => Message::text(
                            String::from_utf8(rewritten).expect("rewriting keeps UTF-8"),
                        ),
                        None => Message::Text(text),
                    },
                    Some(Ok(Message::Binary(bytes))) => match invalid_ids_rejected(&bytes) {
                        Some(rewritten) => Message::binary(rewritten),
                        None => Message::Binary(bytes),
                    },
                    // tungstenite answers pings itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    // tungstenite has queued the closing handshake's
                    // answer: send it, so the client sees a clean close.
                    Some(Ok(Message::Close(_))) => {
                        let _ = client.flush().await;
                        break;
                    }
                    None => break,
                    Some(Err(error)) => {
                        let code = match &error {
                            WsError::Capacity(_) => CloseCode::Size,
                            WsError::Utf8(_) => CloseCode::Invalid,
                            _ => CloseCode::Protocol,
                        };
                        tracing::debug!("closing a WebSocket connection: {error}");
                        let frame = CloseFrame { code, reason: error.to_string().into() };
                        let _ = client.close(Some(frame)).await;
                        break;
                    }
                };
                if inner.send(forward).await.is_err() {
                    break;
                }
            }
            message = inner.next() => {
                let forward = match message {
                    Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => message,
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                if client.send(forward).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = client.close(None).await;
    let _ = inner.close(None).await;
}
