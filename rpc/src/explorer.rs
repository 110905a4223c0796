//! The block explorer: a page the node serves at `GET /` on its JSON-RPC
//! port (`--no-explorer` turns it off).
//!
//! Its scripts and styles are built from `rpc/explorer/src` by
//! `rpc/explorer/build.mjs` (esbuild) into `rpc/explorer/dist`, which is
//! committed and embedded here with `src/index.html`,
//! so `cargo build` needs no npm and the page works offline. It talks to the
//! node only through the node's own JSON-RPC, over HTTP and WebSocket, like
//! any other client. JSON-RPC `POST`s and WebSocket upgrades never reach
//! this module.

use std::sync::LazyLock;

use jsonrpsee::server::{HttpBody, HttpResponse};

/// One embedded file: its path, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: [Asset; 3] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../explorer/src/index.html"),
    },
    Asset {
        path: "/explorer/explorer.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../explorer/dist/explorer.js"),
    },
    Asset {
        path: "/explorer/explorer.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../explorer/dist/explorer.css"),
    },
];

/// The page may load only itself and talk only to this node.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; \
     img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";

/// Each asset's entity tag: a hash of its bytes, so a browser revalidates
/// cheaply and never keeps a page from another build.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let hash = alloy_primitives::keccak256(asset.bytes);
            format!("\"{}\"", alloy_primitives::hex::encode(&hash[..8]))
        })
        .collect()
});

/// Whether `method` and `path` are a request for the page (a `GET` or
/// `HEAD` of one of its files; `/index.html` is `/`).
pub fn is_page_request(method: &http::Method, path: &str) -> bool {
    (method == http::Method::GET || method == http::Method::HEAD) && find(path).is_some()
}

fn find(path: &str) -> Option<usize> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().position(|asset| asset.path == path)
}

/// The response to a page request (see [`is_page_request`]): the file, or
/// 304 when the browser's copy is current.
pub fn respond<B>(request: &http::Request<B>) -> HttpResponse {
    let index = find(request.uri().path()).expect("a page request names an asset");
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let fresh = request
        .headers()
        .get(http::header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let builder = http::Response::builder()
        .header(http::header::ETAG, etag.as_str())
        .header(http::header::CACHE_CONTROL, "no-cache")
        .header(http::header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(http::header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    let response = if fresh {
        builder.status(http::StatusCode::NOT_MODIFIED).body(HttpBody::empty())
    } else {
        let body = if request.method() == http::Method::HEAD {
            HttpBody::empty()
        } else {
            HttpBody::from(asset.bytes.to_vec())
        };
        builder
            .status(http::StatusCode::OK)
            .header(http::header::CONTENT_TYPE, asset.content_type)
            .header(http::header::CONTENT_LENGTH, asset.bytes.len())
            .body(body)
    };
    response.expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> http::Request<()> {
        http::Request::get(path).body(()).unwrap()
    }

    #[test]
    fn the_page_and_its_assets_are_served_and_nothing_else() {
        for path in ["/", "/index.html", "/explorer/explorer.js", "/explorer/explorer.css"] {
            assert!(is_page_request(&http::Method::GET, path), "{path}");
            let response = respond(&get(path));
            assert_eq!(response.status(), http::StatusCode::OK, "{path}");
            assert!(
                response.headers()[http::header::CONTENT_SECURITY_POLICY]
                    .to_str()
                    .unwrap()
                    .starts_with("default-src 'self'")
            );
        }
        assert!(!is_page_request(&http::Method::POST, "/"));
        assert!(!is_page_request(&http::Method::GET, "/explorer/"));
        assert!(!is_page_request(&http::Method::GET, "/../Cargo.toml"));
        let html = std::str::from_utf8(ASSETS[0].bytes).unwrap();
        assert!(html.contains("/explorer/explorer.js") && html.contains("/explorer/explorer.css"));
    }

    #[test]
    fn a_current_copy_is_not_sent_again() {
        let etag = respond(&get("/")).headers()[http::header::ETAG].clone();
        let mut request = get("/");
        request.headers_mut().insert(http::header::IF_NONE_MATCH, etag);
        assert_eq!(respond(&request).status(), http::StatusCode::NOT_MODIFIED);
        let mut request = get("/");
        request.headers_mut().insert(http::header::IF_NONE_MATCH, "\"other\"".parse().unwrap());
        assert_eq!(respond(&request).status(), http::StatusCode::OK);
    }
}
