//! How the sync client reaches the hub: a [`Transport`] posts a body to a path and returns the
//! status and body. [`HttpTransport`] is the real one (blocking HTTPS with timeouts, rustls);
//! tests inject their own to drop, delay or corrupt requests and responses.

use std::io::Read;
use std::time::Duration;

use outreach_proto::MAX_BODY_BYTES;

/// A request that got no HTTP response (connection refused, timeout, TLS failure...). The text
/// names the failure kind only, never request contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// Sends one request to the hub. Implementations must be safe to call again after any failure:
/// the sync client retries by simply running again.
pub trait Transport {
    /// POSTs `body` to `path` (e.g. `/v1/push`) and returns the HTTP status and body.
    fn post(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), TransportError>;
}

impl<T: Transport + ?Sized> Transport for &T {
    fn post(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), TransportError> {
        (**self).post(path, body)
    }
}

/// Blocking HTTPS client for a hub base URL. Plain `http://` is accepted only for loopback
/// hosts (tests, a hub behind a local TLS proxy).
pub struct HttpTransport {
    base: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport").field("base", &self.base).finish_non_exhaustive()
    }
}

fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let host = rest.split('/').next().unwrap_or("");
    let host = if host.starts_with('[') { host.split(']').next().map(|h| &h[1..]).unwrap_or("") } else { host.split(':').next().unwrap_or("") };
    host == "localhost" || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

impl HttpTransport {
    /// A client for `base_url` (`https://hub.example.org`) with 10 s connect and 60 s read/write
    /// timeouts.
    pub fn new(base_url: &str) -> crate::Result<Self> {
        Self::with_timeouts(base_url, Duration::from_secs(10), Duration::from_secs(60))
    }

    /// A client with explicit timeouts.
    pub fn with_timeouts(base_url: &str, connect: Duration, io: Duration) -> crate::Result<Self> {
        let base = base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || is_loopback_http(&base)) || base.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(crate::Error::invalid("hub_url", "must be https:// (plain http only on loopback)"));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(connect)
            .timeout_read(io)
            .timeout_write(io)
            .redirects(0)
            .build();
        Ok(HttpTransport { base, agent })
    }
}

impl Transport for HttpTransport {
    fn post(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), TransportError> {
        let url = format!("{}{path}", self.base);
        let resp = match self.agent.post(&url).set("content-type", "application/json").send_bytes(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => return Err(TransportError(format!("{:?}", t.kind()))),
        };
        let status = resp.status();
        let mut out = Vec::new();
        resp.into_reader()
            .take(MAX_BODY_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| TransportError(format!("read: {:?}", e.kind())))?;
        if out.len() > MAX_BODY_BYTES {
            return Err(TransportError("response too large".into()));
        }
        Ok((status, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(HttpTransport::new("https://hub.example.test").is_ok());
        assert!(HttpTransport::new("http://127.0.0.1:8080").is_ok());
        assert!(HttpTransport::new("http://localhost:1/").is_ok());
        assert!(HttpTransport::new("http://[::1]:9").is_ok());
        assert!(HttpTransport::new("http://hub.example.test").is_err());
        assert!(HttpTransport::new("http://127.0.0.1.example.test").is_err());
        assert!(HttpTransport::new("ftp://x").is_err());
    }
}
