//! Frames of a conversation beyond plain messages: read cursors, edits,
//! deletes, reactions, search and presence.

use chaty_proto::{self as proto, ErrorCode, ServerFrame};

use super::{Connection, Handled, refuse};

impl Connection {
    pub(super) async fn mark_read(&mut self, f: proto::MarkRead) -> Handled {
        let user = self.me()?.clone();
        let moved = self.ctx.store.mark_read(f.room_id.clone(), user.id, f.seq).await?;
        if let Some(seq) = moved {
            let read = ServerFrame::Read { room_id: f.room_id.clone(), user_id: user.name, seq };
            self.ctx.fanout.room(&f.room_id, &read.to_json(None).into());
        }
        Ok(())
    }

    /// `SET_NOTIFY`: stored, then `NOTIFY` to every connection of the user
    /// (this one answered with `ref`), so all their devices agree.
    pub(super) async fn set_notify(&mut self, f: proto::SetNotify, r: Option<&str>) -> Handled {
        let user = self.member()?.clone();
        self.ctx.store.set_notify(f.room_id.clone(), user.id, f.level).await?;
        let frame = ServerFrame::Notify { room_id: f.room_id, level: f.level };
        self.send_ref(&frame, r);
        self.ctx.fanout.user_except(user.id, self.id, &frame.to_json(None).into());
        Ok(())
    }

    pub(super) async fn edit(&mut self, f: proto::EditMessage) -> Handled {
        let user = self.me()?.clone();
        let edited = self.ctx.store.edit(f.message_id, user, f.content).await?;
        let frame = ServerFrame::MessageEdited {
            room_id: edited.room_id.clone(),
            message_id: edited.id,
            content: edited.content,
            edited_at: edited.edited_at.unwrap_or_default(),
        };
        self.ctx.fanout.room(&edited.room_id, &frame.to_json(None).into());
        Ok(())
    }

    pub(super) async fn delete(&mut self, f: proto::DeleteMessage) -> Handled {
        let user = self.me()?.clone();
        let deleted = self.ctx.store.delete(f.message_id, user).await?;
        if let Some(deleted) = deleted {
            let frame = ServerFrame::MessageDeleted { room_id: deleted.room_id.clone(), message_id: deleted.id };
            self.ctx.fanout.room(&deleted.room_id, &frame.to_json(None).into());
        }
        Ok(())
    }

    pub(super) async fn react(&mut self, f: proto::React) -> Handled {
        let user = self.me()?.clone();
        let (id, emoji, remove, name) = (f.message_id, f.emoji.clone(), f.remove, user.name.clone());
        let (room_id, changed) = self.ctx.store.react(id, user, emoji, remove).await?;
        if changed {
            let frame = ServerFrame::Reaction {
                room_id: room_id.clone(),
                message_id: id,
                user_id: name,
                emoji: f.emoji,
                added: !remove,
            };
            self.ctx.fanout.room(&room_id, &frame.to_json(None).into());
        }
        Ok(())
    }

    pub(super) async fn search(&self, f: proto::Search, r: Option<&str>) -> Handled {
        let user_id = self.me()?.id;
        let hits = self.ctx.store.search(user_id, f.query, f.room_id, f.limit).await?;
        self.send_ref(&ServerFrame::SearchResults { messages: hits }, r);
        Ok(())
    }

    pub(super) fn set_presence(&mut self, status: proto::PresenceStatus) -> Handled {
        let user_id = self.me()?.id;
        let away = match status {
            proto::PresenceStatus::Away => true,
            proto::PresenceStatus::Online => false,
            proto::PresenceStatus::Offline => {
                return Err(refuse(
                    ErrorCode::Invalid,
                    "`status` must be online or away; offline is what disconnecting does",
                ));
            }
        };
        if self.ctx.fanout.set_away(user_id, away) {
            self.announce_presence(status);
        }
        Ok(())
    }

    /// `PRESENCE` for this connection's user, to everyone sharing a room with them.
    pub(super) fn announce_presence(&self, status: proto::PresenceStatus) {
        if let Some(me) = self.me.as_ref().filter(|m| !m.user.guest) {
            let frame = ServerFrame::Presence { user_id: me.user.name.clone(), status, last_seen: None };
            self.ctx.fanout.peers(me.user.id, 0, &frame.to_json(None).into());
        }
    }
}
