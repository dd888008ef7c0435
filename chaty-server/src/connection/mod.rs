//! One task per WebSocket connection: read frames, act on them, write queued
//! frames in batches. What a frame *means* is decided here; SQL lives in
//! `store`, fan-out in `hub`.

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
use crate::store::messages::{self, Page, Post};
use crate::store::profiles::{self, Profile};
use crate::store::rooms::{self, Room};
use crate::store::users::{self, Rotation, Tokens, User};

mod context;
mod conversation;
mod people;

pub use context::Context;

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
    pub access: users::Access,
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
    let id = shared.hub.next_connection_id();
    let span = tracing::debug_span!("conn", id, %peer, user = tracing::field::Empty);
    run(id, socket, shared, pre_auth, peer).instrument(span).await;
}

async fn run<S>(id: u64, mut socket: S, shared: Arc<Context>, pre_auth: Option<PreAuth>, peer: SocketAddr)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    tracing::debug!("open");
    let (outbox, mut rx, kicked, signed_out) = Outbox::new();
    let config = &shared.config;
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
        auth_required: !shared.config.allow_guests,
        epoch: shared.store.epoch().to_string(),
    });
    if let Some(PreAuth { access, token }) = pre_auth {
        Box::pin(conn.sign_in(access.user, Some(access.family), SignIn::Token(token, access.expires_at), None)).await;
    }

    let mut ping = tokio::time::interval_at(Instant::now() + config.ping_interval, config.ping_interval);
    let mut last_heard = Instant::now();
    let mut batch = Vec::with_capacity(WRITE_BATCH);
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
    let (code, reason): (u16, &str) = loop {
        if let Some(reason) = conn.closing {
            // Flush what is queued (e.g. the reply to LOGOUT) before closing.
            while let Ok(frame) = rx.try_recv() {
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
                    for frame in batch.drain(..) {
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
                    Some(Ok(Message::Close(_))) | None => break (close::NORMAL, ""),
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
    if code != close::LOST && (!reason.is_empty() || code != close::NORMAL) {
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

/// How a sign-in was proven, for the `AUTH_OK` reply.
enum SignIn {
    /// Fresh tokens (REGISTER, LOGIN, REFRESH).
    Issued(Tokens),
    /// An existing access token (AUTH, or the upgrade's bearer token) and its expiry.
    Token(String, i64),
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
                Err(e) => ("unparsed", e.reference),
            };
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
            Err(e) => ("unparsed", Err((Refusal::new(e.code, e.message), e.reference))),
        };
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
            let hint = if self.ctx.config.allow_guests {
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
        }
        Ok(())
    }

    // ----- accounts -------------------------------------------------------

    fn not_signed_in(&self) -> Handled {
        match &self.me {
            Some(me) => Err(refuse(ErrorCode::Conflict, format!("already signed in as \"{}\"", me.user.name))),
            None => Ok(()),
        }
    }

    async fn register(&mut self, f: proto::Register, r: Option<&str>) -> Handled {
        self.not_signed_in()?;
        if self.ctx.config.registration == crate::config::Registration::Closed {
            return Err(refuse(ErrorCode::Forbidden, "registration is closed on this server"));
        }
        let hash = crate::auth::hash_password(f.password).await?;
        let shared = self.ctx.clone();
        let (user, tokens) = self
            .ctx
            .store
            .write(move |db| {
                let now = now_millis();
                let guest_is_gone = |id| shared.hub.connections_of(id) == 0;
                let user = users::register(db, &f.user_name, &hash, now, guest_is_gone)?;
                if let Some(shown) = &f.display_name {
                    profiles::set(db, user.id, Some(shown), None)?;
                }
                let tokens = users::issue_tokens(db, user.id, None, now)?;
                Ok((user, tokens))
            })
            .await?;
        self.sign_in(user, None, SignIn::Issued(tokens), r).await;
        Ok(())
    }

    async fn login(&mut self, f: proto::Login, r: Option<&str>) -> Handled {
        self.not_signed_in()?;
        let user_key = format!("user:{}", f.user_name.to_lowercase());
        let keys = [user_key.clone(), format!("ip:{}", self.peer.ip())];
        self.ctx
            .logins
            .check(&keys, Instant::now())
            .map_err(|wait| Refusal::rate_limited("too many failed logins; wait before trying again", wait))?;
        let name = f.user_name.clone();
        let found = self.ctx.store.read(move |db| users::credentials(db, &name)).await?;
        let (user, hash) = found.map_or((None, None), |(u, h)| (Some(u), Some(h)));
        let verified = crate::auth::verify_password(f.password, hash).await;
        let Some(user) = user.filter(|_| verified) else {
            self.ctx.logins.failed(&keys, Instant::now());
            return Err(refuse(ErrorCode::Unauthorized, "wrong user name or password"));
        };
        self.ctx.logins.succeeded(&user_key);
        let user_id = user.id;
        let tokens = self.ctx.store.write(move |db| users::issue_tokens(db, user_id, None, now_millis())).await?;
        self.sign_in(user, None, SignIn::Issued(tokens), r).await;
        Ok(())
    }

    async fn auth(&mut self, f: proto::Auth, r: Option<&str>) -> Handled {
        self.not_signed_in()?;
        let token = f.token.clone();
        let access = self.ctx.store.read(move |db| users::check_access(db, &token, now_millis())).await?;
        self.sign_in(access.user, Some(access.family), SignIn::Token(f.token, access.expires_at), r).await;
        Ok(())
    }

    async fn refresh(&mut self, f: proto::Refresh, r: Option<&str>) -> Handled {
        let owner = self.me.as_ref().map(|m| m.user.id);
        let rotation = self.ctx.store.write(move |db| users::rotate(db, &f.refresh_token, owner, now_millis())).await?;
        let (user, tokens) = match rotation {
            Rotation::Rotated(user, tokens) => (user, tokens),
            Rotation::ReuseDetected(family) => {
                self.ctx.hub.sign_out_family(&family);
                return Err(refuse(
                    ErrorCode::Unauthorized,
                    "that refresh token was already used; every session of that sign-in is revoked, LOGIN again",
                ));
            }
        };
        match &mut self.me {
            Some(me) => {
                // The connection now belongs to the refreshed sign-in, for LOGOUT and revocation too.
                me.family = Some(tokens.family.clone());
                self.ctx.hub.set_family(self.id, &tokens.family);
                let reply = auth_ok(&user, &me.profile, &SignIn::Issued(tokens));
                self.send_ref(&reply, r);
            }
            None => self.sign_in(user, None, SignIn::Issued(tokens), r).await,
        }
        Ok(())
    }

    async fn logout(&mut self) -> Handled {
        let me = self.me.as_ref().ok_or_else(|| refuse(ErrorCode::Unauthorized, "not signed in"))?;
        if let Some(family) = me.family.clone() {
            let revoked = family.clone();
            self.ctx.store.write(move |db| users::revoke_family(db, &revoked)).await?;
            // Any other connection on this sign-in ends too.
            self.ctx.hub.sign_out_family(&family);
        }
        self.closing = Some((close::NORMAL, "logged out"));
        Ok(())
    }

    /// Binds this connection to `user`: replies `AUTH_OK`, enters the user's
    /// rooms (announcing presence), and lists them as `ROOMS`.
    async fn sign_in(&mut self, user: User, family: Option<String>, how: SignIn, r: Option<&str>) {
        let family = family.or_else(|| match &how {
            SignIn::Issued(t) => Some(t.family.clone()),
            SignIn::Token(..) => None,
        });
        let user_id = user.id;
        let profile = match self.ctx.store.read(move |db| profiles::get(db, user_id)).await {
            Ok(profile) => profile,
            Err(e) => return self.send_ref(&Refusal::from(e).frame(), r),
        };
        self.send_ref(&auth_ok(&user, &profile, &how), r);
        let first = self.attach(user, profile, family);
        if let Err(e) = self.enter_stored_rooms(None).await {
            return self.send(&e.frame());
        }
        if first {
            self.announce_presence(proto::PresenceStatus::Online);
        }
        if let Err(e) = self.list_rooms(None).await {
            self.send(&e.frame());
        }
    }

    /// Subscribes this connection to every room its user belongs to,
    /// announcing the user where they were not present yet.
    async fn enter_stored_rooms(&mut self, except: Option<&str>) -> Handled {
        let user_id = self.me()?.id;
        let rooms = self.ctx.store.read(move |db| rooms::rooms_of(db, user_id)).await?;
        for room in rooms.into_iter().filter(|r| Some(r.as_str()) != except) {
            if self.ctx.hub.enter_conn(&room, self.id) {
                self.announce(&room, true).await;
            }
        }
        Ok(())
    }

    /// Binds this connection to `user` in the hub. True if it is the user's first.
    fn attach(&mut self, user: User, profile: Profile, family: Option<String>) -> bool {
        tracing::Span::current().record("user", user.name.as_str());
        tracing::debug!(guest = user.guest, "signed in");
        let first = self.ctx.hub.attach(self.id, user.id, &user.name, self.outbox.clone(), family.clone());
        self.me = Some(Me { user, profile, family });
        first
    }

    /// The identity for a `JOIN_ROOM`: the signed-in user, or in guest mode a
    /// guest named by `userId` (made up when absent).
    /// The signed-in user a `JOIN_ROOM` acts for, or `None` for a connection
    /// that will become a guest with this join.
    fn join_identity(&self, user_id: Option<&String>) -> Result<Option<User>, Refusal> {
        if let Some(me) = &self.me {
            if user_id.as_ref().is_some_and(|u| !u.eq_ignore_ascii_case(&me.user.name)) {
                let (code, what) = if me.user.guest {
                    (ErrorCode::Conflict, "the guest")
                } else {
                    (ErrorCode::Forbidden, "signed in as")
                };
                return Err(refuse(code, format!("this connection is already {what} \"{}\"", me.user.name)));
            }
            return Ok(Some(me.user.clone()));
        }
        if !self.ctx.config.allow_guests {
            return Err(self.me().err().unwrap_or_else(|| refuse(ErrorCode::Unauthorized, "sign in first")));
        }
        Ok(None)
    }

    // ----- rooms ----------------------------------------------------------

    async fn join(&mut self, f: proto::JoinRoom, r: Option<&str>) -> Handled {
        let room_id = f.room_id.clone();
        let (user, joined) = match self.join_identity(f.user_id.as_ref())? {
            Some(user) => {
                let member = user.clone();
                let joined = self.ctx.store.write(move |db| rooms::join(db, &room_id, &member, now_millis())).await?;
                (user, joined)
            }
            None => {
                // A guest is made and joins in one transaction (one commit, not two).
                let name = f.user_id.clone().unwrap_or_else(|| format!("guest-{}", self.id));
                let (user, joined) = self
                    .ctx
                    .store
                    .write(move |db| {
                        let now = now_millis();
                        let user = users::guest(db, &name, now)?;
                        let joined = rooms::join(db, &room_id, &user, now)?;
                        Ok((user, joined))
                    })
                    .await?;
                let shown = Profile { display_name: user.name.clone(), status_text: String::new() };
                if !self.attach(user.clone(), shown, None) {
                    // The same guest is connected elsewhere: this connection joins its rooms too.
                    self.enter_stored_rooms(Some(&f.room_id)).await?;
                }
                (user, joined)
            }
        };
        tracing::debug!(room = %f.room_id, newly = joined.newly, "joined");
        let newly_present = self.ctx.hub.enter_user(&f.room_id, user.id);
        if !user.guest {
            // Seed-protocol guests get exactly the seed's frames; members learn the topic.
            self.send_ref(&room_frame(&joined.room), r);
        }
        if joined.newly || newly_present {
            self.announce(&f.room_id, true).await;
        } else {
            let update = self.members_update(&f.room_id).await?;
            self.send_ref(&update, r);
        }
        if let Some(since) = f.since {
            self.history(
                f.room_id,
                Page { after: Some(since), limit: Some(messages::MAX_PAGE as u64), ..Page::default() },
                r,
            )
            .await?;
        }
        Ok(())
    }

    async fn leave(&mut self, room_id: &str) -> Handled {
        let user = self.me()?.clone();
        let room = room_id.to_string();
        self.ctx.store.write(move |db| rooms::leave(db, &room, user.id)).await?;
        tracing::debug!(room = room_id, "left");
        self.stop_typing(room_id);
        self.ctx.hub.leave_user(room_id, user.id);
        let left = ServerFrame::UserLeft { room_id: room_id.to_string(), user_id: user.name.clone() };
        self.ctx.hub.send_user(user.id, &left.to_json(None).into());
        self.announce(room_id, false).await;
        Ok(())
    }

    async fn create_room(&mut self, f: proto::CreateRoom, r: Option<&str>) -> Handled {
        let user = self.member()?.clone();
        let room =
            Room { id: f.room_id, kind: proto::RoomKind::Room, topic: f.topic.unwrap_or_default(), private: f.private };
        let room = {
            let user = user.clone();
            self.ctx.store.write(move |db| rooms::create(db, room, &user, now_millis())).await?
        };
        self.ctx.hub.enter_user(&room.id, user.id);
        self.send_ref(&room_frame(&room), r);
        self.announce(&room.id, true).await;
        Ok(())
    }

    async fn invite(&mut self, f: proto::Invite, r: Option<&str>) -> Handled {
        let user = self.member()?.clone();
        let room_id = f.room_id.clone();
        let (joined, invitee) =
            self.ctx.store.write(move |db| rooms::invite(db, &room_id, &user, &f.user_id, now_millis())).await?;
        self.send_ref(&room_frame(&joined.room), r);
        if joined.newly {
            self.ctx.hub.send_user(invitee.id, &room_frame(&joined.room).to_json(None).into());
            self.ctx.hub.enter_user(&joined.room.id, invitee.id);
            self.announce_user(&joined.room.id, &invitee.name, true).await;
        }
        Ok(())
    }

    async fn open_dm(&mut self, f: proto::OpenDm, r: Option<&str>) -> Handled {
        let user = self.member()?.clone();
        let (room, other) = {
            let user = user.clone();
            self.ctx.store.write(move |db| rooms::open_dm(db, &user, &f.user_id, now_millis())).await?
        };
        let frame = room_frame(&room);
        self.send_ref(&frame, r);
        let mut newly = self.ctx.hub.enter_user(&room.id, user.id);
        if self.ctx.hub.enter_user(&room.id, other.id) {
            self.ctx.hub.send_user(other.id, &frame.to_json(None).into());
            newly = true;
        }
        if newly {
            let update = self.members_update(&room.id).await?;
            self.ctx.hub.broadcast(&room.id, &update.to_json(None).into());
        }
        Ok(())
    }

    async fn list_rooms(&self, r: Option<&str>) -> Handled {
        let user = self.me()?.clone();
        let rooms = self.ctx.store.read(move |db| rooms::list(db, &user)).await?;
        self.send_ref(&ServerFrame::Rooms { rooms }, r);
        Ok(())
    }

    /// `USER_JOINED`/`USER_LEFT` for this connection's user, then the member list.
    async fn announce(&self, room_id: &str, joined: bool) {
        let name = self.me.as_ref().map(|m| m.user.name.clone()).unwrap_or_default();
        self.announce_user(room_id, &name, joined).await;
    }

    async fn announce_user(&self, room_id: &str, user_name: &str, joined: bool) {
        let (room_id, user_id) = (room_id.to_string(), user_name.to_string());
        let frame = if joined {
            ServerFrame::UserJoined { room_id: room_id.clone(), user_id }
        } else {
            ServerFrame::UserLeft { room_id: room_id.clone(), user_id }
        };
        self.ctx.hub.broadcast(&room_id, &frame.to_json(None).into());
        match self.members_update(&room_id).await {
            Ok(update) => self.ctx.hub.broadcast(&room_id, &update.to_json(None).into()),
            Err(e) => tracing::warn!("member list for {room_id}: {e}"),
        }
    }

    async fn members_update(&self, room_id: &str) -> Result<ServerFrame, Refusal> {
        let room = room_id.to_string();
        let stored = self.ctx.store.read(move |db| rooms::members(db, &room)).await?;
        let online = self.ctx.hub.online(room_id);
        let is_online = |name: &str| online.iter().any(|o| o.eq_ignore_ascii_case(name));
        let last_seen = stored
            .iter()
            .filter(|m| !is_online(&m.name))
            .filter_map(|m| m.last_seen.map(|t| (m.name.clone(), format_millis(t))))
            .collect();
        let read = stored.iter().filter(|m| m.read_seq > 0).map(|m| (m.name.clone(), m.read_seq)).collect();
        let display_names = stored
            .iter()
            .filter_map(|m| m.display_name.as_ref().filter(|d| **d != m.name).map(|d| (m.name.clone(), d.clone())))
            .collect();
        let status_texts = stored
            .iter()
            .filter(|m| !m.status_text.is_empty())
            .map(|m| (m.name.clone(), m.status_text.clone()))
            .collect();
        Ok(ServerFrame::RoomMembersUpdate {
            room_id: room_id.to_string(),
            members: stored.into_iter().map(|m| m.name).collect(),
            away: self.ctx.hub.away(room_id),
            online,
            last_seen,
            read,
            display_names,
            status_texts,
        })
    }

    // ----- messages -------------------------------------------------------

    async fn chat(&mut self, f: proto::ChatMessage, reference: Option<String>) -> Handled {
        let me = self.me()?.clone();
        if let Some(claimed) = &f.user_id {
            if !claimed.eq_ignore_ascii_case(&me.name) {
                return Err(refuse(ErrorCode::Forbidden, format!("userId \"{claimed}\" is not you (\"{}\")", me.name)));
            }
        }
        let display_name = match (&f.user_name, me.guest) {
            (Some(shown), true) => shown.clone(),
            _ => me.name.clone(),
        };
        self.stop_typing(&f.room_id);
        let post = Post {
            room_id: f.room_id,
            sender: me,
            display_name,
            content: f.content,
            client_id: f.client_id,
            reply_to: f.reply_to,
            attachment: f.attachment,
        };
        let (shared, outbox) = (self.ctx.clone(), self.outbox.clone());
        self.ctx
            .store
            .submit(
                move |db| messages::post(db, &post, now_millis()),
                // Runs on the writer thread after commit, in commit order:
                // that is what keeps live delivery in `seq` order.
                move |result| match result {
                    Ok(posted) if posted.new => {
                        let room = posted.message.room_id.clone();
                        shared.hub.broadcast(&room, &ServerFrame::ChatMessage(posted.message).to_json(None).into());
                    }
                    // A retry: the original, to the sender only, answering its request.
                    Ok(posted) => {
                        outbox.send(ServerFrame::ChatMessage(posted.message).to_json(reference.as_deref()).into());
                    }
                    Err(e) => {
                        outbox.send(e.to_refusal().frame().to_json(reference.as_deref()).into());
                    }
                },
            )
            .await?;
        Ok(())
    }

    async fn history(&self, room_id: String, page: Page, r: Option<&str>) -> Handled {
        let user_id = self.me()?.id;
        let (messages, has_more) = {
            let room_id = room_id.clone();
            self.ctx
                .store
                .read(move |db| {
                    rooms::require_member(db, &room_id, user_id)?;
                    messages::history(db, &room_id, page)
                })
                .await?
        };
        self.send_ref(&ServerFrame::History { room_id, messages, has_more }, r);
        Ok(())
    }

    // ----- typing ---------------------------------------------------------

    fn typing(&mut self, room_id: &str, typing: bool) -> Handled {
        let me = self.me()?.clone();
        if !self.ctx.hub.is_in(room_id, self.id) {
            return Err(rooms::not_visible(room_id).to_refusal());
        }
        let frame = typing_frame(room_id, &me, self.shown_name(), typing);
        if typing {
            self.typing.insert(room_id.to_string(), Instant::now() + self.ctx.config.typing_ttl);
        } else if self.typing.remove(room_id).is_none() {
            return Ok(());
        }
        self.ctx.hub.broadcast_except(room_id, me.id, &frame);
        Ok(())
    }

    fn stop_typing(&mut self, room_id: &str) {
        if self.typing.remove(room_id).is_some() {
            if let Some(me) = &self.me {
                let frame = typing_frame(room_id, &me.user, &me.profile.display_name, false);
                self.ctx.hub.broadcast_except(room_id, me.user.id, &frame);
            }
        }
    }

    fn expire_typing(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> = self.typing.iter().filter(|(_, t)| **t <= now).map(|(r, _)| r.clone()).collect();
        for room in expired {
            self.stop_typing(&room);
        }
    }

    /// On disconnect: stop typing, drop out of the hub, tell rooms the user
    /// left (presence), and end a guest's memberships with their last connection.
    async fn leave_everything(&mut self) {
        let rooms: Vec<String> = self.typing.keys().cloned().collect();
        for room in rooms {
            self.stop_typing(&room);
        }
        let Some(me) = &self.me else { return };
        let user = me.user.clone();
        let last_connection = self.ctx.hub.connections_of(user.id) == 1;
        let mut offline_notice = None;
        if !user.guest && last_connection && !self.ctx.shutdown.is_cancelled() {
            // The user's last connection: record when, then tell the people
            // they share rooms with. Peers are taken before this connection
            // leaves the hub (which hides its rooms) and told after, so a
            // `USERS` asked on hearing it already sees them offline.
            let now = now_millis();
            let user_id = user.id;
            if let Err(e) = self.ctx.store.write(move |db| users::set_last_seen(db, user_id, now)).await {
                tracing::warn!("recording last seen of {}: {e}", user.name);
            }
            let offline = ServerFrame::Presence {
                user_id: user.name.clone(),
                status: proto::PresenceStatus::Offline,
                last_seen: Some(format_millis(now)),
            };
            offline_notice = Some((self.ctx.hub.peers(user.id, self.id), Utf8Bytes::from(offline.to_json(None))));
        }
        let (gone, offline) = self.ctx.hub.detach(self.id);
        if let Some((peers, frame)) = offline_notice {
            for outbox in peers {
                outbox.send(frame.clone());
            }
        }
        let gone: Vec<String> = if user.guest && offline {
            let user_id = user.id;
            match self.ctx.store.write(move |db| rooms::leave_all(db, user_id)).await {
                Ok(rooms) => rooms,
                Err(e) => {
                    tracing::warn!("ending guest memberships of {}: {e}", user.name);
                    gone.iter().map(|r| r.to_string()).collect()
                }
            }
        } else {
            gone.iter().map(|r| r.to_string()).collect()
        };
        if self.ctx.shutdown.is_cancelled() {
            return;
        }
        for room in gone {
            self.announce_user(&room, &user.name, false).await;
        }
    }
}

fn auth_ok(user: &User, profile: &Profile, how: &SignIn) -> ServerFrame {
    let (token, refresh_token, expires_at) = match how {
        SignIn::Issued(t) => (t.access.clone(), Some(t.refresh.clone()), t.access_expires_at),
        SignIn::Token(token, expires) => (token.clone(), None, *expires),
    };
    ServerFrame::AuthOk {
        user_id: user.name.clone(),
        user_name: user.name.clone(),
        display_name: profile.display_name.clone(),
        status_text: profile.status_text.clone(),
        token,
        refresh_token,
        expires_at: format_millis(expires_at),
    }
}

fn room_frame(room: &Room) -> ServerFrame {
    ServerFrame::Room { room_id: room.id.clone(), topic: room.topic.clone(), private: room.private, kind: room.kind }
}

fn typing_frame(room_id: &str, user: &User, shown: &str, typing: bool) -> Utf8Bytes {
    ServerFrame::Typing {
        room_id: room_id.to_string(),
        user_id: user.name.clone(),
        user_name: shown.to_string(),
        typing,
    }
    .to_json(None)
    .into()
}

#[cfg(test)]
mod tests;
