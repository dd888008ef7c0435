//! The service harness itself: real PostgreSQL, Redis and nginx come up on
//! loopback ports, answer, and (for the fault tests) go down and come back.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use chaty_tests::services::{Nginx, Postgres, Redis};
use chaty_tests::{Client, TestServer, WAIT, guests};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn postgres_gives_each_test_a_database_of_its_own() -> Result<()> {
    let pg = Postgres::shared().await?;
    let (a, b) = (pg.database().await?, pg.database().await?);
    assert_ne!(a, b);
    for url in [&a, &b] {
        assert!(url.starts_with(&format!("postgres://postgres@127.0.0.1:{}/t_", pg.port())), "{url}");
        assert_eq!(pg.psql(url, "select 1").await?.trim(), "1", "{url}");
    }
    // Distinct: what one test makes, the other doesn't see.
    pg.psql(&a, "create table mine (x int)").await?;
    assert_eq!(pg.psql(&b, "select count(*) from pg_tables where tablename = 'mine'").await?.trim(), "0");
    assert_eq!(pg.psql(&a, "show server_encoding").await?.trim(), "UTF8");
    // The shared cluster can't be stopped from under the other tests.
    let refused = pg.stop_immediate().await.expect_err("stopping the shared cluster");
    assert!(refused.to_string().contains("dedicated"), "{refused:#}");
    Ok(())
}

#[tokio::test]
async fn a_dedicated_postgres_crashes_and_comes_back_with_its_data() -> Result<()> {
    let pg = Postgres::dedicated().await?;
    let url = pg.database().await?;
    pg.psql(&url, "create table kept (x int); insert into kept values (42)").await?;
    pg.stop_immediate().await?;
    let down = pg.psql(&url, "select 1").await.expect_err("a stopped server answered");
    assert!(format!("{down:#}").contains("Connection refused"), "{down:#}");
    pg.start().await?;
    assert_eq!(pg.psql(&url, "select x from kept").await?.trim(), "42");
    let port = pg.port();
    drop(pg);
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err(), "still listening after drop");
    Ok(())
}

#[tokio::test]
async fn redis_answers_dies_on_kill_and_restarts_on_the_same_port() -> Result<()> {
    let mut redis = Redis::start().await?;
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/", redis.addr().port()));
    redis.ping().await?;
    redis.kill()?;
    assert!(TcpStream::connect(redis.addr()).await.is_err(), "the port still accepts after kill");
    redis.restart().await?;
    redis.ping().await?;
    let addr = redis.addr();
    drop(redis);
    assert!(TcpStream::connect(addr).await.is_err(), "still listening after drop");
    Ok(())
}

/// A one-line HTTP server: every GET gets `200 OK` and `body`.
async fn responder(body: &'static str) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let response =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = tcp.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(addr)
}

async fn get(addr: SocketAddr, path: &str) -> Result<String> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut response = String::new();
    tokio::time::timeout(WAIT, tcp.read_to_string(&mut response)).await.context("GET timed out")??;
    Ok(response)
}

#[tokio::test]
async fn nginx_proxies_to_a_live_upstream_and_skips_a_dead_one() -> Result<()> {
    let live = responder("hello").await?;
    // A port nobody listens on: a node that is down.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let nginx = Nginx::start(&[dead, live]).await?;
    assert_eq!(nginx.url(), format!("ws://127.0.0.1:{}/ws", nginx.addr().port()));
    for _ in 0..4 {
        let response = get(nginx.addr(), "/").await?;
        if !(response.starts_with("HTTP/1.1 200") && response.ends_with("hello")) {
            bail!("through nginx: {response}");
        }
    }
    let addr = nginx.addr();
    drop(nginx);
    assert!(TcpStream::connect(addr).await.is_err(), "still listening after drop");
    Ok(())
}

#[tokio::test]
async fn nginx_carries_the_websocket_to_chaty() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), guests()).await?;
    let nginx = Nginx::start(&[server.addr]).await?;
    let mut client = Client::connect(&nginx.url()).await?;
    client.join("lobby").await?;
    server.stop().await
}
