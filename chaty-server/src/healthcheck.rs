//! `chaty-server healthcheck`: asks a running server whether it is ready,
//! for container health checks where there is no curl. Plain HTTP, or HTTPS
//! trusting the platform's roots; every step bounded by a timeout.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The whole check, connection to answer, at most.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Where to ask: scheme, host, port and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// Parses `http(s)://host[:port][/path]`; a URL without a path means `/readyz`.
pub fn parse(url: &str) -> Result<Target, String> {
    let bad = |why: &str| format!("\"{url}\" is not a URL to check ({why}); e.g. http://127.0.0.1:8181/readyz");
    let (tls, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else {
        return Err(bad("it must start with http:// or https://"));
    };
    let (authority, path) = rest.split_once('/').map_or((rest, "/readyz".to_string()), |(a, p)| {
        (a, if p.is_empty() { "/readyz".to_string() } else { format!("/{p}") })
    });
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("an unclosed [ in the host"))?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().map_err(|_| bad("the port is not a number"))?,
            None => default_port,
        };
        (host.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), port.parse().map_err(|_| bad("the port is not a number"))?),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(Target { tls, host, port, path })
}

/// GETs the target: `Ok` on 200, else what was wrong.
pub async fn check(target: &Target) -> Result<(), String> {
    tokio::time::timeout(TIMEOUT, ask(target)).await.map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
}

async fn ask(target: &Target) -> Result<(), String> {
    let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("cannot connect to {}:{}: {}", target.host, target.port, crate::error::io_reason(&e)))?;
    if !target.tls {
        return exchange(tcp, target).await;
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(target.host.clone()).map_err(|e| e.to_string())?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {}: {}", target.host, crate::error::io_reason(&e)))?;
    exchange(stream, target).await
}

async fn exchange(mut stream: impl AsyncRead + AsyncWrite + Unpin, target: &Target) -> Result<(), String> {
    let request = format!("GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", target.path, target.host);
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let status = text.split_whitespace().nth(1).unwrap_or_default();
    if status == "200" {
        return Ok(());
    }
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
    Err(format!("{} answered {}: {}", target.path, if status.is_empty() { "nothing" } else { status }, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_readyz_by_default() {
        let t = |tls, host: &str, port, path: &str| Target { tls, host: host.into(), port, path: path.into() };
        assert_eq!(parse("http://127.0.0.1:8181"), Ok(t(false, "127.0.0.1", 8181, "/readyz")));
        assert_eq!(parse("http://127.0.0.1:8181/"), Ok(t(false, "127.0.0.1", 8181, "/readyz")));
        assert_eq!(parse("http://localhost:9/healthz"), Ok(t(false, "localhost", 9, "/healthz")));
        assert_eq!(parse("https://chat.example.com"), Ok(t(true, "chat.example.com", 443, "/readyz")));
        for bad in ["127.0.0.1:8181", "ftp://x", "http://", "http://host:port/"] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains(bad) && e.contains("e.g. http://"), "{e}");
        }
    }
}
