//! Moderation on a connection: KICK, BAN, UNBAN, SET_ROLE and SET_TOPIC.
//! Who may do what is the store's decision (`store::moderation`); this is
//! who hears about it. Everything goes through the fan-out, so a kicked
//! user's connections on every node get `KICKED` and leave the room.

use super::membership::{announce_user, room_frame};
use super::*;

impl Connection {
    /// `KICK`, `BAN`, `UNBAN` or `SET_ROLE`. The moderator's connection gets
    /// the room's member list as its reply (with `ref`), besides what the
    /// room hears: `USER_LEFT` and the member list for a removal, the member
    /// list for a new role.
    pub(super) async fn moderate(
        &mut self,
        room_id: String,
        target: String,
        action: Action,
        r: Option<&str>,
    ) -> Handled {
        let actor = self.member()?.clone();
        let (reason, banned) = match &action {
            Action::Kick { reason } => (reason.clone(), false),
            Action::Ban { reason } => (reason.clone(), true),
            Action::Unban | Action::SetRole(_) => (None, false),
        };
        let role_change = matches!(action, Action::SetRole(_));
        let done = self.ctx.store.moderate(room_id.clone(), actor.clone(), target, action).await?;
        tracing::debug!(room = %room_id, target = %done.target.name, removed = done.removed, "moderated");
        if done.removed {
            let kicked = ServerFrame::Kicked { room_id: room_id.clone(), by: actor.name, reason, banned };
            self.ctx.fanout.user(done.target.id, &kicked.to_json(None).into());
            self.ctx.fanout.leave(&room_id, done.target.id);
            announce_user(&self.ctx, &room_id, &done.target.name, false).await;
        }
        let update = self.members_update(&room_id).await?;
        if role_change && done.changed {
            self.ctx.fanout.room(&room_id, &update.to_json(None).into());
        }
        self.send_ref(&update, r);
        Ok(())
    }

    /// `SET_TOPIC`: the room hears `ROOM` with the new topic; so does the
    /// moderator, with `ref`.
    pub(super) async fn set_topic(&mut self, f: proto::SetTopic, r: Option<&str>) -> Handled {
        let actor = self.member()?.clone();
        let room = self.ctx.store.set_topic(f.room_id, actor, f.topic).await?;
        let frame = room_frame(&room);
        self.ctx.fanout.room(&room.id, &frame.to_json(None).into());
        self.send_ref(&frame, r);
        Ok(())
    }
}
