//! One task per WebSocket connection: read frames, act on them, write queued
//! frames in batches. This module holds the socket loop and the dispatch;
//! what each frame *means* is in the submodules (`accounts`, `membership`,
//! `chat`, `conversation`, `moderation`, `people`, `presence`). SQL lives in `store`,
//! fan-out in `hub`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use chaty_proto::time::{format_millis, now_millis};
use chaty_proto::{self as proto, ClientFrame, ErrorCode, Request, ServerFrame};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::Instant;

use crate::error::{Refusal, StoreError};
use crate::hub::Outbox;
use crate::limits::TokenBucket;
use crate::store::moderation::Action;
use crate::store::{MAX_PAGE, Page, Post, Profile, Room, Rotation, Tokens, User, not_visible};

// What a frame means, one concern each; they share this module's imports.
mod accounts;
mod admin_events;
mod chat;
mod context;
mod conversation;
mod departed;
mod membership;
mod moderation;
mod people;
mod presence;

use accounts::SignIn;
pub use admin_events::admin_events;
pub use context::Context;
pub use departed::departures;

/// Frames written per flush.
const WRITE_BATCH: usize = 64;
/// How long a close frame may take to go out.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
const SLOW_CONSUMER: &str = "slow consumer: reconnect and catch up with since";

/// WebSocket close codes we send.
mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const INVALID_DATA: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    /// Never sent (the peer is gone): what the log says when a client
    /// vanished without a close frame or its socket failed.
    pub const LOST: u16 = 1006;
}

type Handled = Result<(), Refusal>;

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal::new(code, message)
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        e.to_refusal()
    }
}

/// Who this connection speaks for once signed in.
struct Me {
    user: User,
    /// How this user is shown (kept current by `SET_PROFILE` on this connection).
    profile: Profile,
    /// Token family of this sign-in (none for guests); `LOGOUT` revokes it.
    family: Option<String>,
}

struct Connection {
    id: u64,
    ctx: Arc<Context>,
    outbox: Outbox,
    me: Option<Me>,
    /// Rooms this connection said it is typing in, with when that expires.
    typing: HashMap<String, Instant>,
    /// Set when the connection should close after flushing (e.g. `LOGOUT`).
    closing: Option<(u16, &'static str)>,
    peer: SocketAddr,
    /// Every frame takes a token; history reads also take one from `history`.
    frames: TokenBucket,
    history: TokenBucket,
}

/// A sign-in proven at the HTTP upgrade by a bearer token.
pub struct PreAuth {
    pub access: crate::store::Access,
    pub token: String,
}

/// Runs one connection until the client leaves, the server shuts down, or the
/// client is closed for a limit. Everything it logs (at debug level: open,
/// sign-in, joins and leaves, every refusal, close) is in a `conn` span with
/// the connection id, the peer and, once known, the user.
pub async fn serve<S>(socket: S, shared: Arc<Context>, pre_auth: Option<PreAuth>, peer: SocketAddr)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    use tracing::Instrument;
    let id = shared.fanout.hub().next_connection_id();
    let span = tracing::debug_span!("conn", id, %peer, user = tracing::field::Empty);
    run(id, socket, shared, pre_auth, peer).instrument(span).await;
}

async fn run<S>(id: u64, mut socket: S, shared: Arc<Context>, pre_auth: Option<PreAuth>, peer: SocketAddr)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    tracing::debug!("open");
    let (outbox, mut rx, kicked, signed_out) = Outbox::new();
    let config = shared.config();
    let now = Instant::now();
    let mut conn = Connection {
        id,
        ctx: shared.clone(),
        outbox,
        me: None,
        typing: HashMap::new(),
        closing: None,
        peer,
        frames: TokenBucket::new(config.frame_burst, config.frames_per_sec, now),
        history: TokenBucket::new(config.history_burst, config.history_per_sec, now),
    };
    conn.send(&ServerFrame::Welcome {
        message: format!("Connected to WebSocket server with ID: {id}"),
        connection_id: id.to_string(),
        protocol: proto::PROTOCOL_VERSION,
        server: format!("chaty/{}", env!("CARGO_PKG_VERSION")),
        auth_required: !config.allow_guests,
        epoch: shared.store.epoch().to_string(),
    });
    if let Some(PreAuth { access, token }) = pre_auth {
        Box::pin(conn.sign_in(access.user, Some(access.family), SignIn::Token(token, access.expires_at), None)).await;
    }

    let mut ping = tokio::time::interval_at(Instant::now() + config.ping_interval, config.ping_interval);
    let mut last_heard = Instant::now();
    // Filled and emptied on each wake-up: an idle connection keeps no buffer.
    let mut batch = Vec::new();
    // What ends the connection from outside, watched from one long-lived
    // future (not re-registered with three tokens on every wakeup).
    let ended = async {
        tokio::select! {
            () = shared.shutdown.cancelled() => (close::GOING_AWAY, "server shutting down"),
            () = kicked.cancelled() => (close::POLICY, SLOW_CONSUMER),
            () = signed_out.cancelled() => (close::POLICY, "signed out: this sign-in was revoked"),
        }
    };
    tokio::pin!(ended);
    let mut client_closed = false;
    let (code, reason): (u16, &str) = loop {
        if let Some(reason) = conn.closing {
            // Flush what is queued (e.g. the reply to LOGOUT) before closing.
            while let Some(frame) = rx.try_recv() {
                let _ = socket.feed(Message::Text(frame)).await;
            }
            break reason;
        }
        let typing_deadline = conn.typing.values().min().copied();
        tokio::select! {
            biased;
            end = &mut ended => break end,
            _ = rx.recv_many(&mut batch, WRITE_BATCH) => {
                let write = async {
                    for frame in std::mem::take(&mut batch) {
                        socket.feed(Message::Text(frame)).await?;
                    }
                    socket.flush().await
                };
                // A client that stops reading blocks this write; its outbox
                // then fills and the hub kicks it, which must win here.
                tokio::select! {
                    written = write => if written.is_err() {
                        break (close::LOST, "connection lost");
                    },
                    end = &mut ended => break end,
                }
            }
            msg = socket.next() => {
                last_heard = Instant::now();
                match msg {
                    // Boxed: handling a frame needs a large state machine that an idle connection should not carry.
                    Some(Ok(Message::Text(text))) => Box::pin(conn.on_text(&text)).await,
                    Some(Ok(Message::Binary(_))) => conn.on_binary(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(frame))) => {
                        // The WebSocket library queued the answering close
                        // frame (same code); flushing sends it, so the client
                        // sees a clean close rather than a dropped connection.
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.flush()).await;
                        client_closed = true;
                        break (frame.map_or(close::NORMAL, |f| f.code), "");
                    }
                    None => break (close::LOST, "connection lost"),
                    Some(Err(e)) => break read_error_close(e),
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= config.idle_timeout {
                    break (close::GOING_AWAY, "idle timeout");
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break (close::LOST, "connection lost");
                }
            }
            () = sleep_until_opt(typing_deadline) => conn.expire_typing(),
        }
    };
    tracing::debug!(code, reason, "close");
    if !client_closed && code != close::LOST && (!reason.is_empty() || code != close::NORMAL) {
        let frame = CloseFrame { code, reason: Utf8Bytes::from(reason) };
        // Best effort: a client that does not read may never take it.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
    }
    Box::pin(conn.leave_everything()).await;
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The close code for a socket-level read error (size limit, bad UTF-8, …).
fn read_error_close(e: axum::Error) -> (u16, &'static str) {
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    match e.into_inner().downcast::<WsError>().map(|b| *b) {
        Ok(WsError::Capacity(_)) => (close::TOO_BIG, "frame larger than 64 KiB"),
        Ok(WsError::Utf8(_)) => (close::INVALID_DATA, "text frame is not valid UTF-8"),
        Ok(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => (close::LOST, "connection lost"),
        Ok(WsError::Protocol(_)) => (close::POLICY, "WebSocket protocol violation"),
        _ => (close::LOST, "connection lost"),
    }
}

impl Connection {
    fn send(&self, frame: &ServerFrame) {
        self.send_ref(frame, None);
    }

    fn send_ref(&self, frame: &ServerFrame, reference: Option<&str>) {
        self.outbox.send(frame.to_json(reference).into());
    }

    /// Charges a frame, of any kind or shape, to the connection's frame budget.
    fn charge(&mut self) -> Handled {
        self.frames.take(Instant::now()).map_err(|wait| Refusal::rate_limited("too many frames; slow down", wait))
    }

    fn on_binary(&mut self) {
        crate::metrics::count(|m| m.frame_received("binary"));
        let refusal = self.charge().err().unwrap_or_else(|| {
            refuse(ErrorCode::BadFrame, "binary frames are not supported; send JSON as a text frame")
        });
        tracing::debug!(frame = "binary", code = %refusal.code, why = %refusal.message, "refused");
        self.send(&refusal.frame());
    }

    async fn on_text(&mut self, text: &str) {
        // Every frame counts against the limit, well-formed or not.
        if let Err(refusal) = self.charge() {
            let (kind, reference) = match proto::parse_client(text) {
                Ok(request) => (request.frame.type_name(), request.reference),
                Err(e) => (crate::metrics::frame_type(text), e.reference),
            };
            crate::metrics::count(|m| m.frame_received(kind));
            tracing::debug!(frame = kind, code = %refusal.code, "refused");
            return self.send_ref(&refusal.frame(), reference.as_deref());
        }
        let (kind, result) = match proto::parse_client(text) {
            Ok(request) => {
                let (kind, reference) = (request.frame.type_name(), request.reference.clone());
                let result = match self.admit(&request.frame) {
                    Ok(()) => self.handle(request).await.map_err(|r| (r, reference)),
                    Err(r) => Err((r, reference)),
                };
                (kind, result)
            }
            Err(e) => (crate::metrics::frame_type(text), Err((Refusal::new(e.code, e.message), e.reference))),
        };
        crate::metrics::count(|m| m.frame_received(kind));
        if let Err((refusal, reference)) = result {
            tracing::debug!(frame = kind, code = %refusal.code, why = %refusal.message, "refused");
            self.send_ref(&refusal.frame(), reference.as_deref());
        }
    }

    /// Charges a history read to its own, tighter budget.
    fn admit(&mut self, frame: &ClientFrame) -> Handled {
        let now = Instant::now();
        let reads_history = match frame {
            ClientFrame::History(_) | ClientFrame::Users(_) => true,
            ClientFrame::JoinRoom(f) => f.since.is_some(),
            _ => false,
        };
        if reads_history {
            self.history
                .take(now)
                .map_err(|wait| Refusal::rate_limited("too many history requests; slow down", wait))?;
        }
        Ok(())
    }

    fn me(&self) -> Result<&User, Refusal> {
        self.me.as_ref().map(|m| &m.user).ok_or_else(|| {
            let hint = if self.ctx.config().allow_guests {
                "sign in first (REGISTER, LOGIN or AUTH), or JOIN_ROOM with a userId as a guest"
            } else {
                "sign in first: REGISTER, LOGIN or AUTH"
            };
            refuse(ErrorCode::Unauthorized, hint)
        })
    }

    /// The signed-in user, refusing guests.
    fn member(&self) -> Result<&User, Refusal> {
        let me = self.me()?;
        if me.guest {
            return Err(refuse(ErrorCode::Forbidden, "guests cannot do that; REGISTER an account"));
        }
        Ok(me)
    }

    async fn handle(&mut self, Request { frame, reference }: Request) -> Handled {
        let r = reference.as_deref();
        match frame {
            ClientFrame::Ping(_) => self.send_ref(&ServerFrame::Pong {}, r),
            ClientFrame::Register(f) => self.register(f, r).await?,
            ClientFrame::Login(f) => self.login(f, r).await?,
            ClientFrame::Auth(f) => self.auth(f, r).await?,
            ClientFrame::Refresh(f) => self.refresh(f, r).await?,
            ClientFrame::Logout(_) => self.logout().await?,
            ClientFrame::JoinRoom(f) => self.join(f, r).await?,
            ClientFrame::LeaveRoom(f) => self.leave(&f.room_id).await?,
            ClientFrame::ChatMessage(f) => self.chat(f, reference).await?,
            ClientFrame::History(f) => {
                let page = Page { before: f.before, after: f.after, limit: f.limit };
                self.history(f.room_id, page, r).await?;
            }
            ClientFrame::CreateRoom(f) => self.create_room(f, r).await?,
            ClientFrame::Invite(f) => self.invite(f, r).await?,
            ClientFrame::OpenDm(f) => self.open_dm(f, r).await?,
            ClientFrame::ListRooms(_) => self.list_rooms(r).await?,
            ClientFrame::Typing(f) => self.typing(&f.room_id, f.typing)?,
            ClientFrame::MarkRead(f) => self.mark_read(f).await?,
            ClientFrame::SetNotify(f) => self.set_notify(f, r).await?,
            ClientFrame::EditMessage(f) => self.edit(f).await?,
            ClientFrame::DeleteMessage(f) => self.delete(f).await?,
            ClientFrame::React(f) => self.react(f).await?,
            ClientFrame::SetPresence(f) => {
                self.member()?;
                self.set_presence(f.status)?;
            }
            ClientFrame::Search(f) => self.search(f, r).await?,
            ClientFrame::SetProfile(f) => self.set_profile(f, r).await?,
            ClientFrame::Users(f) => self.users(f, r).await?,
            ClientFrame::Kick(f) => self.moderate(f.room_id, f.user_id, Action::Kick { reason: f.reason }, r).await?,
            ClientFrame::Ban(f) => self.moderate(f.room_id, f.user_id, Action::Ban { reason: f.reason }, r).await?,
            ClientFrame::Unban(f) => self.moderate(f.room_id, f.user_id, Action::Unban, r).await?,
            ClientFrame::SetRole(f) => self.moderate(f.room_id, f.user_id, Action::SetRole(f.role), r).await?,
            ClientFrame::SetTopic(f) => self.set_topic(f, r).await?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
