//! Setting one client up: TCP (from its own loopback source address),
//! the WebSocket handshake, `WELCOME`, signing in (`--protocol chaty`) and
//! joining its room, with the outcome counted in [`Shared`]'s setup
//! counters. Not here: what a client does once joined (`send.rs`,
//! `receive.rs`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::args::Protocol;
use super::receive::error_text;
use super::shared::{Shared, duration_us};
use crate::wire;

pub(super) type Ws = WebSocketStream<TcpStream>;

/// Connects, signs in and joins; counts the outcome.
pub(super) async fn set_up(sh: &Shared, i: usize) -> Option<Ws> {
    // Sign-ins wait their turn before connecting, so that the wait is not
    // charged to the connection and the server never hashes more than a few
    // passwords at once.
    let _auth = match sh.args.protocol {
        Protocol::Chaty => sh.auth_gate.acquire().await.ok(),
        Protocol::Seed => None,
    };
    let started = Instant::now();
    let limit = started + Duration::from_secs_f64(sh.args.join_timeout);
    let mut connected = false;
    let result = match timeout_at(limit, handshake(sh, i, &mut connected)).await {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!("timed out after {} s", sh.args.join_timeout)),
    };
    let mut setup = sh.setup.borrow_mut();
    setup.finished += 1;
    if connected {
        setup.connected += 1;
    }
    match result {
        Ok(ws) => {
            let now = Instant::now();
            setup.joined += 1;
            setup.last_joined = Some(now);
            sh.connect_latency.borrow_mut().saturating_record(duration_us(now - started).max(1));
            sh.room_alive.borrow_mut()[sh.room_of(i)] += 1;
            if sh.is_sender(i) {
                sh.sender_alive.borrow_mut()[i] = true;
            }
            Some(ws)
        }
        Err(e) => {
            if connected {
                setup.join_errors += 1;
            } else {
                setup.connect_errors += 1;
            }
            drop(setup);
            sh.note(format!("{e:#}"));
            None
        }
    }
}

async fn next_text(ws: &mut Ws) -> Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_string()),
            Some(Ok(Message::Close(frame))) => {
                bail!("server closed the connection: {frame:?}")
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("read: {e}"),
            None => bail!("connection ended"),
        }
    }
}

async fn handshake(sh: &Shared, i: usize, connected: &mut bool) -> Result<Ws> {
    let target = sh.target_of(i);
    let tcp = match (target.addr, sh.args.per_source) {
        (SocketAddr::V4(_), n) if n > 0 => {
            let k = i / n;
            let source = Ipv4Addr::new(127, 0, u8::try_from(k / 250).unwrap_or(255), (k % 250) as u8 + 1);
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).with_context(|| format!("bind {source}"))?;
            socket.connect(target.addr).await
        }
        _ => TcpStream::connect(target.addr).await,
    }
    .context("TCP connect")?;
    tcp.set_nodelay(true)?;
    // Small buffers: 10,000 idle clients should not need gigabytes.
    let config = WebSocketConfig::default().read_buffer_size(4 << 10).write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(target.url.as_str(), tcp, Some(config))
        .await
        .context("WebSocket handshake")?;
    *connected = true;
    loop {
        let text = next_text(&mut ws).await?;
        if wire::frame_type(&text).as_deref() == Some("WELCOME") {
            break;
        }
    }
    let (user, room) = (sh.user(i), sh.room(i));
    match sh.args.protocol {
        Protocol::Seed => {
            let join = format!(r#"{{"type":"JOIN_ROOM","roomId":"{room}","userId":"{user}"}}"#);
            ws.send(Message::text(join)).await?;
        }
        Protocol::Chaty => {
            let password = wire::quote(&sh.args.password);
            let register = format!(r#"{{"type":"REGISTER","userName":"{user}","password":{password}}}"#);
            ws.send(Message::text(register)).await?;
            let mut tried_login = false;
            loop {
                let text = next_text(&mut ws).await?;
                match wire::frame_type(&text).as_deref() {
                    Some("AUTH_OK") => break,
                    Some("ERROR") if !tried_login && wire::string_field(&text, wire::CODE) == Some("conflict") => {
                        tried_login = true;
                        let login = format!(r#"{{"type":"LOGIN","userName":"{user}","password":{password}}}"#);
                        ws.send(Message::text(login)).await?;
                    }
                    Some("ERROR") => bail!("sign-in refused: {}", error_text(&text)),
                    _ => {}
                }
            }
            let join = format!(r#"{{"type":"JOIN_ROOM","roomId":"{room}"}}"#);
            ws.send(Message::text(join)).await?;
        }
    }
    loop {
        let text = next_text(&mut ws).await?;
        match wire::frame_type(&text).as_deref() {
            Some("USER_JOINED" | "ROOM_MEMBERS_UPDATE" | "ROOM")
                if wire::string_field(&text, wire::ROOM_ID) == Some(room.as_str()) =>
            {
                return Ok(ws);
            }
            Some("ERROR") => bail!("join refused: {}", error_text(&text)),
            _ => {}
        }
    }
}
