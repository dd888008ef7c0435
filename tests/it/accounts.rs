//! Accounts: register, login, tokens at the upgrade or in a frame, refresh rotation, logout.

use anyhow::Result;
use chaty_tests::{Client, Config, Registration, TestServer};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

async fn server(config: Config) -> Result<(TestServer, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), config).await?;
    Ok((server, dir))
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    Client::register(&server.url(), "alice").await?;
    let mut c = Client::connect(&server.url()).await?;
    let wrong = c.expect_error(json!({"type": "LOGIN", "userName": "alice", "password": "nope"})).await?;
    let unknown = c.expect_error(json!({"type": "LOGIN", "userName": "nobody", "password": "nope"})).await?;
    assert_eq!(wrong["code"], "unauthorized");
    assert_eq!(wrong, unknown);
    let dup = c.expect_error(json!({"type": "REGISTER", "userName": "ALICE", "password": "long enough"})).await?;
    assert_eq!(dup["code"], "conflict");
    server.stop().await
}

#[tokio::test]
async fn only_auth_frames_are_accepted_before_sign_in() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    let mut c = Client::connect(&server.url()).await?;
    for frame in [
        json!({"type": "JOIN_ROOM", "roomId": "general"}),
        json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": "hi"}),
        json!({"type": "HISTORY", "roomId": "general"}),
        json!({"type": "LIST_ROOMS"}),
        json!({"type": "CREATE_ROOM", "roomId": "x"}),
    ] {
        let e = c.expect_error(frame.clone()).await?;
        assert_eq!(e["code"], "unauthorized", "{frame}");
    }
    // ...and the connection still works.
    c.send(json!({"type": "REGISTER", "userName": "alice", "password": "long enough"})).await?;
    assert_eq!(c.recv_type("AUTH_OK").await?["userName"], "alice");
    server.stop().await
}

#[tokio::test]
async fn a_token_signs_in_at_the_upgrade_or_with_auth() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    let (_, ok) = Client::register(&server.url(), "alice").await?;
    let token = ok["token"].as_str().unwrap_or_default().to_string();
    assert!(ok["refreshToken"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(ok["expiresAt"].as_str().is_some_and(|t| t.ends_with('Z')));

    let mut by_query = Client::connect(&format!("{}?token={token}", server.url())).await?;
    assert_eq!(by_query.recv_type("AUTH_OK").await?["userId"], "alice");

    let mut request = server.url().into_client_request()?;
    request.headers_mut().insert("Authorization", HeaderValue::from_str(&format!("Bearer {token}"))?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    use futures_util::StreamExt;
    let mut kinds = Vec::new();
    for _ in 0..2 {
        if let Some(Ok(msg)) = ws.next().await {
            let v: serde_json::Value = serde_json::from_str(msg.to_text()?)?;
            kinds.push(v["type"].as_str().unwrap_or_default().to_string());
        }
    }
    assert_eq!(kinds, ["WELCOME", "AUTH_OK"]);

    let mut by_frame = Client::connect(&server.url()).await?;
    by_frame.send(json!({"type": "AUTH", "token": token, "ref": "a"})).await?;
    let ok = by_frame.recv_type("AUTH_OK").await?;
    assert_eq!((&ok["userName"], &ok["ref"]), (&json!("alice"), &json!("a")));

    // A bad token is refused at the upgrade with 401, not accepted and ignored.
    let bad = tokio_tungstenite::connect_async(format!("{}?token=ca_forged", server.url())).await;
    let status = match bad {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        other => panic!("forged token was not refused: {other:?}"),
    };
    assert_eq!(status, 401);
    let mut c = Client::connect(&server.url()).await?;
    assert_eq!(c.expect_error(json!({"type": "AUTH", "token": "ca_forged"})).await?["code"], "unauthorized");
    server.stop().await
}

#[tokio::test]
async fn refresh_rotates_and_reusing_an_old_refresh_token_revokes_the_sign_in() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    let (mut c, first) = Client::register(&server.url(), "alice").await?;
    c.send(json!({"type": "REFRESH", "refreshToken": first["refreshToken"]})).await?;
    let second = c.recv_type("AUTH_OK").await?;
    assert_ne!(second["token"], first["token"]);
    assert_ne!(second["refreshToken"], first["refreshToken"]);

    let mut thief = Client::connect(&server.url()).await?;
    let e = thief.expect_error(json!({"type": "REFRESH", "refreshToken": first["refreshToken"]})).await?;
    assert_eq!(e["code"], "unauthorized");
    // The whole family is gone: the rotated tokens no longer work either.
    let e = thief.expect_error(json!({"type": "AUTH", "token": second["token"]})).await?;
    assert_eq!(e["code"], "unauthorized");
    let e = thief.expect_error(json!({"type": "REFRESH", "refreshToken": second["refreshToken"]})).await?;
    assert_eq!(e["code"], "unauthorized");
    server.stop().await
}

#[tokio::test]
async fn logout_closes_the_socket_and_revokes_the_tokens() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    let (mut c, ok) = Client::register(&server.url(), "alice").await?;
    c.send(json!({"type": "LOGOUT"})).await?;
    assert_eq!(c.closed().await?, Some(1000));
    let mut again = Client::connect(&server.url()).await?;
    assert_eq!(again.expect_error(json!({"type": "AUTH", "token": ok["token"]})).await?["code"], "unauthorized");
    server.stop().await
}

#[tokio::test]
async fn closed_registration_refuses_new_accounts() -> Result<()> {
    let (server, _dir) = server(Config { registration: Registration::Closed, ..Config::default() }).await?;
    let mut c = Client::connect(&server.url()).await?;
    let e = c.expect_error(json!({"type": "REGISTER", "userName": "alice", "password": "long enough"})).await?;
    assert_eq!(e["code"], "forbidden");
    server.stop().await
}

#[tokio::test]
async fn a_refresh_token_offered_on_another_users_connection_is_not_used_up() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    let (_alice, alice_ok) = Client::register(&server.url(), "alice").await?;
    let (mut bob, _) = Client::register(&server.url(), "bob").await?;
    let e = bob.expect_error(json!({"type": "REFRESH", "refreshToken": alice_ok["refreshToken"]})).await?;
    assert_eq!(e["code"], "forbidden");
    // Alice's token still works for her, once.
    let mut alice = Client::connect(&server.url()).await?;
    alice.send(json!({"type": "REFRESH", "refreshToken": alice_ok["refreshToken"]})).await?;
    assert_eq!(alice.recv_type("AUTH_OK").await?["userName"], "alice");
    server.stop().await
}

#[tokio::test]
async fn logging_out_ends_every_connection_of_that_sign_in() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    let (mut first, ok) = Client::register(&server.url(), "alice").await?;
    let mut second =
        Client::connect(&format!("{}?token={}", server.url(), ok["token"].as_str().unwrap_or_default())).await?;
    second.recv_type("ROOMS").await?;
    let (mut other_device, _) = (Client::login(&server.url(), "alice").await?, ());
    first.send(json!({"type": "LOGOUT"})).await?;
    assert_eq!(first.closed().await?, Some(1000));
    assert_eq!(second.closed().await?, Some(1008), "the same sign-in on another socket ends too");
    other_device.assert_nothing_pending().await?;
    server.stop().await
}

#[tokio::test]
async fn a_connection_follows_the_sign_in_it_refreshed_into() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    let (mut first, _) = Client::register(&server.url(), "alice").await?;
    let mut second = Client::connect(&server.url()).await?;
    second.send(json!({"type": "LOGIN", "userName": "alice", "password": "alice-password"})).await?;
    let second_ok = second.recv_type("AUTH_OK").await?;
    // The first socket trades the second sign-in's refresh token: it now belongs to that sign-in.
    first.send(json!({"type": "REFRESH", "refreshToken": second_ok["refreshToken"]})).await?;
    first.recv_type("AUTH_OK").await?;
    second.send(json!({"type": "LOGOUT"})).await?;
    assert_eq!(second.closed().await?, Some(1000));
    assert_eq!(first.closed().await?, Some(1008));
    server.stop().await
}
