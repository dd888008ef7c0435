//! Moderation in the client: `/kick`, `/ban`, `/unban`, `/op`, `/deop` and
//! `/topic` for the current room (the server decides who may), and
//! `KICKED`: the room keeps its transcript with a line saying who removed
//! you and why, and is no longer joined until you `/join` it again.

use chaty_proto::{self as proto, ClientFrame, Role, RoomKind};

use super::{App, Cmd};
use crate::command::Moderation;
use crate::sanitize;

impl App {
    pub(super) fn moderate(&mut self, m: Moderation) -> Vec<Cmd> {
        let Some(room) = self.current_room() else {
            self.notice("open a room first", true);
            return Vec::new();
        };
        if room.kind == RoomKind::Dm {
            self.notice("a direct conversation has no admins", true);
            return Vec::new();
        }
        let room_id = room.id.clone();
        let set_role = |room_id, user_id, role| ClientFrame::SetRole(proto::SetRole { room_id, user_id, role });
        let frame = match m {
            Moderation::Kick { user, reason } => ClientFrame::Kick(proto::Kick { room_id, user_id: user, reason }),
            Moderation::Ban { user, reason } => ClientFrame::Ban(proto::Ban { room_id, user_id: user, reason }),
            Moderation::Unban(user) => ClientFrame::Unban(proto::Unban { room_id, user_id: user }),
            Moderation::Op(user) => set_role(room_id, user, Role::Admin),
            Moderation::Deop(user) => set_role(room_id, user, Role::Member),
            Moderation::Topic(topic) => ClientFrame::SetTopic(proto::SetTopic { room_id, topic }),
        };
        vec![self.send(frame)]
    }

    /// `KICKED`: a moderator removed us from a room we know.
    pub(super) fn kicked(&mut self, room_id: &str, by: &str, reason: Option<&str>, banned: bool) {
        let Some(i) = self.room_index(room_id) else { return };
        let room = &mut self.rooms[i];
        let what = if banned { "banned from" } else { "removed from" };
        let mut line = format!("you were {what} {} by {}", room.label(&self.me), sanitize::line(by));
        if let Some(reason) = reason {
            line.push_str(&format!(": {}", sanitize::line(reason)));
        }
        room.removed = Some(line.clone());
        room.members.clear();
        room.online.clear();
        room.admins.clear();
        room.typers.clear();
        self.notice(line, true);
    }
}
