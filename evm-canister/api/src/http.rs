//! The IC's HTTP gateway interface (the interface spec's "HTTP Gateway
//! protocol"): what a boundary node, or the host's gateway, passes to a
//! canister's `http_request` query and `http_request_update` update, and
//! what it takes back. The field names and types are the spec's (and those
//! of `ic-http-certification`'s `HttpRequest`/`HttpResponse`); streaming is
//! left out, since JSON-RPC answers fit in one response, and an absent
//! `opt` field is what Candid decoders read as `null`.

use candid::CandidType;
use serde::Deserialize;
use serde_bytes::ByteBuf;

/// A header: name and value.
pub type HeaderField = (String, String);

/// An HTTP request as `http_request` (a query) receives it.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// The path and query string (`/?canisterId=…`), as the gateway got it.
    pub url: String,
    pub headers: Vec<HeaderField>,
    pub body: ByteBuf,
    /// The response certification version the gateway understands.
    pub certificate_version: Option<u16>,
}

/// An HTTP request as `http_request_update` receives it, after the query
/// answered `upgrade = opt true`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HttpUpdateRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<HeaderField>,
    pub body: ByteBuf,
}

/// An HTTP response.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status_code: u16,
    pub headers: Vec<HeaderField>,
    pub body: ByteBuf,
    /// From the query: `Some(true)` asks the gateway to send the request
    /// again, as an update, to `http_request_update`.
    pub upgrade: Option<bool>,
}

impl HttpResponse {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}
