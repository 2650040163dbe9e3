//! A minimal plain-HTTP client for talking to a hub on loopback: used by the bench, the
//! tests and operator tooling. Not for phones (they speak HTTPS through the core's client).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Why a request did not get an HTTP response.
#[derive(Debug, thiserror::Error)]
#[error("hub request failed: {0}")]
pub struct ClientError(String);

/// A keep-alive HTTP/1.1 client bound to one hub base URL (`http://127.0.0.1:PORT`).
#[derive(Clone)]
pub struct HubClient {
    base: String,
    inner: Client<HttpConnector, Full<Bytes>>,
}

impl HubClient {
    /// A client for `base_url` (no trailing slash).
    pub fn new(base_url: &str) -> Self {
        let inner = Client::builder(TokioExecutor::new()).build_http();
        HubClient { base: base_url.trim_end_matches('/').to_owned(), inner }
    }

    /// `POST` `body` to `path`; returns the status and body bytes.
    pub async fn post(&self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), ClientError> {
        self.send("POST", path, body).await
    }

    /// `GET` `path`; returns the status and body bytes.
    pub async fn get(&self, path: &str) -> Result<(u16, Vec<u8>), ClientError> {
        self.send("GET", path, Vec::new()).await
    }

    async fn send(&self, method: &str, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), ClientError> {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError(e.to_string()))?;
        let response = self.inner.request(request).await.map_err(|e| ClientError(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.map_err(|e| ClientError(e.to_string()))?.to_bytes();
        Ok((status, bytes.to_vec()))
    }
}
