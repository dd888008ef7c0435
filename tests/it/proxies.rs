//! Behind a reverse proxy: forwarded client addresses from trusted proxies
//! only, so per-address limits and login throttling apply per person.

use anyhow::Result;
use chaty_tests::{Client, Config, TestServer};
use serde_json::json;

async fn server(trusted: &[&str]) -> Result<(TestServer, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let trusted_proxies = trusted.iter().map(|t| chaty_server::proxy::parse_cidr(t)).collect::<Result<_, _>>();
    let config = Config {
        max_connections_per_ip: 1,
        trusted_proxies: trusted_proxies.map_err(anyhow::Error::msg)?,
        ..Config::default()
    };
    Ok((TestServer::start_at(&dir.path().join("chaty.db"), config).await?, dir))
}

/// The HTTP status a refused upgrade got, or `None` if it was accepted.
async fn refused(url: &str, forwarded_for: &str) -> Option<u16> {
    match Client::connect_with(url, &[("x-forwarded-for", forwarded_for)]).await {
        Ok(_) => None,
        Err(e) => match e.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
            Some(tokio_tungstenite::tungstenite::Error::Http(r)) => Some(r.status().as_u16()),
            _ => Some(0),
        },
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limits() -> Result<()> {
    let (server, _dir) = server(&["127.0.0.0/8"]).await?;
    let url = server.url();
    // One connection per address: two people behind the proxy both get in.
    let _ann = Client::connect_with(&url, &[("x-forwarded-for", "203.0.113.1")]).await?;
    let mut ben = Client::connect_with(&url, &[("x-forwarded-for", "203.0.113.2")]).await?;
    assert_eq!(refused(&url, "203.0.113.1").await, Some(429), "ann's second connection is hers to count");
    // The left part is the client's own claim: the right-most untrusted hop counts.
    assert_eq!(refused(&url, "198.51.100.9, 203.0.113.1").await, Some(429));

    // Failed logins lock the guesser's address, not the proxy's.
    drop(Client::register(&url, "bob").await?);
    let mut mallory = Client::connect_with(&url, &[("x-forwarded-for", "203.0.113.66")]).await?;
    for i in 0..7 {
        let e =
            mallory.expect_error(json!({"type": "LOGIN", "userName": format!("u{i}"), "password": "guess"})).await?;
        assert!(e["code"] == "unauthorized" || e["code"] == "rate_limited", "{e}");
    }
    let locked = mallory.expect_error(json!({"type": "LOGIN", "userName": "zed", "password": "guess"})).await?;
    assert_eq!(locked["code"], "rate_limited");
    ben.send(json!({"type": "LOGIN", "userName": "bob", "password": "bob-password"})).await?;
    assert_eq!(ben.recv_type("AUTH_OK").await?["userId"], "bob", "another person behind the proxy signs in");
    server.stop().await
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() -> Result<()> {
    let (server, _dir) = server(&[]).await?;
    let url = server.url();
    let _first = Client::connect_with(&url, &[("x-forwarded-for", "203.0.113.1")]).await?;
    assert_eq!(refused(&url, "203.0.113.2").await, Some(429), "a client cannot pick its own address");
    server.stop().await
}
