//! Frames from the server: [`App::frame`] routes each `ServerFrame` to the
//! state it changes. Rooms, messages, history and errors are handled here;
//! conversation features (edits, reactions, reads, presence, search) and
//! people (profiles, the directory) live in `conversation.rs` and
//! `people.rs`, and this module only calls into them.

use std::time::Duration;

use chaty_proto::{self as proto, ClientFrame, ErrorCode, NotifyLevel, Reply, RoomKind, ServerFrame};

use super::compose::chat_frame;
use super::conversation::MembersUpdate;
use super::rooms::history_latest;
use super::{App, Auth, Cmd, Overlay, Screen};
use crate::notify;
use crate::sanitize;
use crate::transcript;

/// Others' typing shows this long without a refresh.
const TYPING_SHOWN: Duration = Duration::from_secs(6);

impl App {
    pub(super) fn frame(&mut self, Reply { frame, reference }: Reply) -> Vec<Cmd> {
        let reference = reference.unwrap_or_default();
        match frame {
            ServerFrame::Welcome { epoch, .. } => {
                if self.epoch.as_ref().is_some_and(|e| *e != epoch) {
                    // Another database: our seq cursors mean nothing there.
                    for room in &mut self.rooms {
                        room.messages.clear();
                        room.has_older = false;
                    }
                }
                self.epoch = Some(epoch);
                Vec::new()
            }
            ServerFrame::AuthOk { user_name, token, refresh_token, display_name, status_text, .. } => {
                self.signed_in_profile(display_name, status_text);
                self.signed_in_as(user_name, token, refresh_token)
            }
            ServerFrame::Rooms { rooms } if reference == "rooms" => {
                let lines = rooms
                    .iter()
                    .filter(|r| r.kind == RoomKind::Room)
                    .map(|r| {
                        let mark = if r.joined { "✓" } else { " " };
                        let members = crate::words::noun(r.member_count, "member");
                        format!(
                            "{mark} #{:<20} {:>3} {members:<7}  {}",
                            r.room_id,
                            r.member_count,
                            sanitize::line(&r.topic)
                        )
                    })
                    .collect();
                self.overlay = Some(Overlay { title: "Rooms (/join ROOM)".into(), lines });
                Vec::new()
            }
            ServerFrame::Rooms { rooms } => self.sync_rooms(rooms),
            ServerFrame::Notify { room_id, level } => {
                let me = self.me.clone();
                let room = self.room_mut(&room_id);
                room.notify = level;
                let label = room.label(&me);
                if self.current_room().is_some_and(|r| r.id == room_id) {
                    let what = match level {
                        NotifyLevel::All => "every message",
                        NotifyLevel::Mentions => "mentions only",
                        NotifyLevel::None => "nothing (its unread count shows dim)",
                    };
                    self.notice(format!("{}: notifies you of {what}", sanitize::line(&label)), false);
                }
                Vec::new()
            }
            ServerFrame::Room { room_id, topic, private, kind } => {
                // A room we were removed from and joined again loads like a new one.
                let known = self.room_index(&room_id).is_some_and(|i| self.rooms[i].removed.is_none());
                let room = self.room_mut(&room_id);
                room.removed = None;
                room.topic = topic;
                room.private = private;
                room.kind = kind;
                let mut cmds = Vec::new();
                if !known {
                    // New to us (created, invited, a DM): load members and the latest page.
                    if reference != "join" {
                        cmds.push(self.send(ClientFrame::JoinRoom(proto::JoinRoom {
                            room_id: room_id.clone(),
                            user_id: None,
                            since: None,
                        })));
                    }
                    cmds.push(Cmd::Send(history_latest(&room_id), Some(format!("latest:{room_id}"))));
                }
                if reference == "open" || reference == "join" {
                    cmds.extend(self.switch_to(&room_id));
                }
                cmds
            }
            ServerFrame::ChatMessage(message) => self.chat_message(message),
            ServerFrame::History { room_id, messages, has_more } => {
                self.history(&room_id, messages, has_more, &reference)
            }
            ServerFrame::RoomMembersUpdate {
                room_id,
                members,
                online,
                away,
                last_seen,
                read,
                display_names,
                status_texts,
                admins,
            } => {
                self.member_profiles(&room_id, display_names, status_texts);
                self.members_update(MembersUpdate { room_id, members, online, away, last_seen, read, admins });
                Vec::new()
            }
            ServerFrame::UserLeft { room_id, user_id } if user_id.eq_ignore_ascii_case(&self.me) => {
                self.forget_room(&room_id);
                Vec::new()
            }
            ServerFrame::Profile { user_id, display_name, status_text } => {
                self.profile(&user_id, display_name, status_text, &reference);
                Vec::new()
            }
            ServerFrame::Users { users } => {
                self.users(users, &reference);
                Vec::new()
            }
            ServerFrame::Kicked { room_id, by, reason, banned } => {
                self.kicked(&room_id, &by, reason.as_deref(), banned);
                Vec::new()
            }
            ServerFrame::UserJoined { .. } | ServerFrame::UserLeft { .. } | ServerFrame::Pong {} => Vec::new(),
            ServerFrame::Typing { room_id, user_id, typing, .. } => {
                if user_id.eq_ignore_ascii_case(&self.me) {
                    return Vec::new();
                }
                let until = self.now + TYPING_SHOWN;
                let room = self.room_mut(&room_id);
                room.typers.retain(|(u, _)| *u != user_id);
                if typing {
                    room.typers.push((user_id, until));
                }
                Vec::new()
            }
            ServerFrame::Error { code: ErrorCode::Overloaded, retry_after_ms, .. } if self.is_pending(&reference) => {
                // Not a failure: the message goes again by itself (retry.rs).
                self.overloaded(&reference, retry_after_ms);
                Vec::new()
            }
            ServerFrame::Error { code, message, retry_after_ms } => {
                self.error(code, crate::words::refusal(code, &message, retry_after_ms), &reference)
            }
            ServerFrame::Read { room_id, user_id, seq } => {
                self.read(&room_id, &user_id, seq);
                Vec::new()
            }
            ServerFrame::MessageEdited { room_id, message_id, content, edited_at } => {
                self.edited(&room_id, message_id, content, edited_at);
                Vec::new()
            }
            ServerFrame::MessageDeleted { room_id, message_id } => {
                self.deleted(&room_id, message_id);
                Vec::new()
            }
            ServerFrame::Reaction { room_id, message_id, user_id, emoji, added } => {
                self.reaction(&room_id, message_id, user_id, emoji, added);
                Vec::new()
            }
            ServerFrame::Presence { user_id, status, last_seen } => {
                self.presence(&user_id, status, last_seen);
                Vec::new()
            }
            ServerFrame::SearchResults { messages } => {
                let query = self.search.as_ref().map(|s| s.query.clone()).unwrap_or_default();
                self.search_results(query, messages);
                Vec::new()
            }
        }
    }

    /// After sign-in the server lists our rooms: catch up on each (from the
    /// last `seq` we saw, or its latest page), and send what waited offline.
    fn sync_rooms(&mut self, rooms: Vec<proto::RoomSummary>) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        for summary in rooms.into_iter().filter(|r| r.joined) {
            let room = self.room_mut(&summary.room_id);
            room.topic = summary.topic;
            room.kind = summary.kind;
            room.private = summary.private;
            room.notify = summary.notify.unwrap_or_else(|| proto::NotifyLevel::default_for(summary.kind));
            // The server keeps read state, so every device agrees.
            room.read_seq = summary.read_seq;
            room.unread = usize::try_from(summary.unread).unwrap_or(usize::MAX);
            room.mentions = usize::try_from(summary.mentions).unwrap_or(usize::MAX);
            if room.unread > 0 {
                // The room you land on shows where you left off, too.
                room.marker = Some(room.read_seq);
            }
            let since = room.last_seq();
            let id = summary.room_id;
            cmds.push(Cmd::Send(
                ClientFrame::JoinRoom(proto::JoinRoom { room_id: id.clone(), user_id: None, since }),
                Some(format!("catchup:{id}")),
            ));
            if since.is_none() {
                cmds.push(Cmd::Send(history_latest(&id), Some(format!("latest:{id}"))));
            }
        }
        for room in &mut self.rooms {
            for p in room.pending.iter_mut().filter(|p| p.failed.is_none()) {
                // Sent now: an overloaded one's timer is done with.
                p.retry_at = None;
                cmds.push(chat_frame(&room.id, p));
            }
        }
        cmds
    }

    fn chat_message(&mut self, message: proto::Message) -> Vec<Cmd> {
        let me = self.me.to_lowercase();
        let current = self.current_room().map(|r| r.id.clone());
        let (_, width) = self.message_area();
        let offset = self.utc_offset;
        let me_name = self.me.clone();
        let room = self.room_mut(&message.room_id);
        if let Some(cid) = &message.client_id {
            room.pending.retain(|p| p.client_id != *cid);
        }
        room.typers.retain(|(u, _)| !u.eq_ignore_ascii_case(&message.user_id));
        let mine = message.user_id.eq_ignore_ascii_case(&me);
        let mention = !mine && transcript::mentions(&message.content, &me);
        let shown = current.as_deref() == Some(message.room_id.as_str());
        let looking = shown && room.scroll == 0;
        let dm = room.kind == RoomKind::Dm;
        let level = room.notify;
        let (title, body) = (format!("{} in {}", message.user_name, room.label(&me_name)), message.content.clone());
        let before =
            if room.scroll > 0 { transcript::build(room, &me_name, width, offset, None).lines.len() } else { 0 };
        if !room.insert(message) {
            return Vec::new();
        }
        if room.scroll > 0 {
            // Keep the view still while new lines arrive below it.
            room.scroll += transcript::build(room, &me_name, width, offset, None).lines.len().saturating_sub(before);
            room.new_below = true;
        }
        if !looking && !mine {
            room.unread += 1;
            if mention {
                room.mentions += 1;
            }
        }
        let mut cmds = Vec::new();
        // Own messages and `none` rooms never ring or notify; otherwise a
        // mention, a DM, or anything in an `all` room, unless it shows in
        // the room you are looking at in a focused terminal.
        let wanted = mention || dm || level == NotifyLevel::All;
        if mine || level == NotifyLevel::None || !wanted || (shown && self.focused) {
            return cmds;
        }
        if (mention || dm) && self.bell {
            cmds.push(Cmd::Bell);
        }
        if self.notifications {
            let title = notify::clean(&title, notify::BODY_CHARS);
            cmds.push(Cmd::Notify { title, body: notify::clean(&body, notify::BODY_CHARS) });
        }
        cmds
    }

    fn history(&mut self, room_id: &str, messages: Vec<proto::Message>, has_more: bool, reference: &str) -> Vec<Cmd> {
        let room = self.room_mut(room_id);
        let mut cmds = Vec::new();
        if reference.starts_with("catchup:") && has_more {
            // More was missed than one page: keep going from the newest we have.
            let after = messages.last().map(|m| m.seq).or(room.last_seq());
            cmds.push(Cmd::Send(
                ClientFrame::History(proto::History { room_id: room_id.into(), before: None, after, limit: Some(200) }),
                Some(format!("catchup:{room_id}")),
            ));
        }
        if reference.starts_with("older:") || reference.starts_with("latest:") {
            room.has_older = has_more;
            room.loading_older = false;
        }
        for m in messages {
            room.insert(m);
        }
        if let Some(id) =
            reference.rsplit_once(':').filter(|_| reference.starts_with("context:")).and_then(|(_, id)| id.parse().ok())
        {
            self.context_loaded(room_id, id);
        }
        cmds
    }

    fn error(&mut self, code: ErrorCode, message: String, reference: &str) -> Vec<Cmd> {
        let message = sanitize::line(&message);
        match (&self.auth, reference) {
            (Auth::Token, "auth") if code == ErrorCode::TokenExpired => {
                if let Some(session) = &self.session {
                    self.auth = Auth::Refresh;
                    let refresh = proto::Refresh { refresh_token: session.refresh_token.clone() };
                    return vec![Cmd::Send(ClientFrame::Refresh(refresh), Some("auth".into()))];
                }
                Vec::new()
            }
            (Auth::Token | Auth::Refresh, "auth") => {
                // The saved session is no good any more: sign in again.
                self.auth = Auth::None;
                self.session = None;
                self.screen = Screen::SignIn;
                self.signin.error = Some(format!("please sign in again ({message})"));
                self.drop_typeahead();
                vec![Cmd::ClearSession]
            }
            (Auth::Password { register, .. }, "auth") => {
                if *register && code == ErrorCode::Forbidden && message.contains("invite") {
                    // "registration needs an invite": the field for it.
                    self.signin.focus = Some(super::Field::Invite);
                }
                self.auth = Auth::None;
                self.signin.busy = false;
                self.signin.error = Some(message);
                self.drop_typeahead();
                Vec::new()
            }
            _ => {
                if self.people_error(reference, &message) {
                    return Vec::new();
                }
                if let Some(room) = self.rooms.iter_mut().find(|r| r.pending.iter().any(|p| p.client_id == reference)) {
                    if let Some(p) = room.pending.iter_mut().find(|p| p.client_id == reference) {
                        p.failed = Some(message);
                    }
                    return Vec::new();
                }
                if let Some(room_id) = reference.strip_prefix("older:") {
                    if let Some(i) = self.room_index(room_id) {
                        self.rooms[i].loading_older = false;
                    }
                }
                self.notice(message, true);
                Vec::new()
            }
        }
    }
}
