//! Rooms on a connection: JOIN_ROOM (guests included), LEAVE_ROOM,
//! CREATE_ROOM, INVITE, OPEN_DM, LIST_ROOMS, and the join/leave announcements
//! with their member lists.

use super::*;

impl Connection {
    /// The identity for a `JOIN_ROOM`: the signed-in user, or in guest mode a
    /// guest named by `userId` (made up when absent).
    /// The signed-in user a `JOIN_ROOM` acts for, or `None` for a connection
    /// that will become a guest with this join.
    pub(super) fn join_identity(&self, user_id: Option<&String>) -> Result<Option<User>, Refusal> {
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
        if !self.ctx.config().allow_guests {
            return Err(self.me().err().unwrap_or_else(|| refuse(ErrorCode::Unauthorized, "sign in first")));
        }
        Ok(None)
    }

    pub(super) async fn join(&mut self, f: proto::JoinRoom, r: Option<&str>) -> Handled {
        let room_id = f.room_id.clone();
        let (user, joined) = match self.join_identity(f.user_id.as_ref())? {
            Some(user) => {
                let member = user.clone();
                let joined = self.ctx.store.join(room_id, member).await?;
                (user, joined)
            }
            None => {
                // A guest is made and joins in one transaction (one commit, not two).
                let name = f.user_id.clone().unwrap_or_else(|| format!("guest-{}", self.id));
                let (user, joined) = self.ctx.store.guest_join(name, room_id).await?;
                let shown = Profile { display_name: user.name.clone(), status_text: String::new() };
                if !self.attach(user.clone(), shown, None) {
                    // The same guest is connected elsewhere: this connection joins its rooms too.
                    self.enter_stored_rooms(Some(&f.room_id)).await?;
                }
                (user, joined)
            }
        };
        tracing::debug!(room = %f.room_id, newly = joined.newly, "joined");
        let newly_present = self.ctx.fanout.enter(&f.room_id, user.id, None);
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
            self.history(f.room_id, Page { after: Some(since), limit: Some(MAX_PAGE as u64), ..Page::default() }, r)
                .await?;
        }
        Ok(())
    }

    pub(super) async fn leave(&mut self, room_id: &str) -> Handled {
        let user = self.me()?.clone();
        let room = room_id.to_string();
        self.ctx.store.leave(room, user.id).await?;
        tracing::debug!(room = room_id, "left");
        self.stop_typing(room_id);
        self.ctx.fanout.leave(room_id, user.id);
        let left = ServerFrame::UserLeft { room_id: room_id.to_string(), user_id: user.name.clone() };
        self.ctx.fanout.user(user.id, &left.to_json(None).into());
        self.announce(room_id, false).await;
        Ok(())
    }

    pub(super) async fn create_room(&mut self, f: proto::CreateRoom, r: Option<&str>) -> Handled {
        let user = self.member()?.clone();
        let room =
            Room { id: f.room_id, kind: proto::RoomKind::Room, topic: f.topic.unwrap_or_default(), private: f.private };
        let room = {
            let user = user.clone();
            self.ctx.store.create_room(room, user).await?
        };
        self.ctx.fanout.enter(&room.id, user.id, None);
        self.send_ref(&room_frame(&room), r);
        self.announce(&room.id, true).await;
        Ok(())
    }

    pub(super) async fn invite(&mut self, f: proto::Invite, r: Option<&str>) -> Handled {
        let user = self.member()?.clone();
        let room_id = f.room_id.clone();
        let (joined, invitee) = self.ctx.store.invite(room_id, user, f.user_id).await?;
        self.send_ref(&room_frame(&joined.room), r);
        if joined.newly {
            let greeting = room_frame(&joined.room).to_json(None).into();
            self.ctx.fanout.enter(&joined.room.id, invitee.id, Some(&greeting));
            self.announce_user(&joined.room.id, &invitee.name, true).await;
        }
        Ok(())
    }

    pub(super) async fn open_dm(&mut self, f: proto::OpenDm, r: Option<&str>) -> Handled {
        let user = self.member()?.clone();
        let (room, other) = {
            let user = user.clone();
            self.ctx.store.open_dm(user, f.user_id).await?
        };
        let frame = room_frame(&room);
        self.send_ref(&frame, r);
        let greeting = frame.to_json(None).into();
        let newly = self.ctx.fanout.enter(&room.id, user.id, None);
        if self.ctx.fanout.enter(&room.id, other.id, Some(&greeting)) || newly {
            let update = self.members_update(&room.id).await?;
            self.ctx.fanout.room(&room.id, &update.to_json(None).into());
        }
        Ok(())
    }

    pub(super) async fn list_rooms(&self, r: Option<&str>) -> Handled {
        let user = self.me()?.clone();
        let rooms = self.ctx.store.list_rooms(user).await?;
        self.send_ref(&ServerFrame::Rooms { rooms }, r);
        Ok(())
    }

    /// `USER_JOINED`/`USER_LEFT` for this connection's user, then the member list.
    pub(super) async fn announce(&self, room_id: &str, joined: bool) {
        let name = self.me.as_ref().map(|m| m.user.name.clone()).unwrap_or_default();
        self.announce_user(room_id, &name, joined).await;
    }

    pub(super) async fn announce_user(&self, room_id: &str, user_name: &str, joined: bool) {
        announce_user(&self.ctx, room_id, user_name, joined).await;
    }

    pub(super) async fn members_update(&self, room_id: &str) -> Result<ServerFrame, Refusal> {
        members_update(&self.ctx, room_id).await
    }
}

/// `USER_JOINED`/`USER_LEFT` for `user_name` in `room_id`, then the member
/// list, to everyone in the room.
pub(super) async fn announce_user(ctx: &Context, room_id: &str, user_name: &str, joined: bool) {
    let (room_id, user_id) = (room_id.to_string(), user_name.to_string());
    let frame = if joined {
        ServerFrame::UserJoined { room_id: room_id.clone(), user_id }
    } else {
        ServerFrame::UserLeft { room_id: room_id.clone(), user_id }
    };
    ctx.fanout.room(&room_id, &frame.to_json(None).into());
    match members_update(ctx, &room_id).await {
        Ok(update) => ctx.fanout.room(&room_id, &update.to_json(None).into()),
        Err(e) => tracing::warn!("member list for {room_id}: {e}"),
    }
}

/// `ROOM_MEMBERS_UPDATE` for `room_id`: the stored members, with who is
/// online (on any node), away, read cursors and how each is shown.
pub(super) async fn members_update(ctx: &Context, room_id: &str) -> Result<ServerFrame, Refusal> {
    let stored = ctx.store.members(room_id.to_string()).await?;
    let (online, away) = ctx.fanout.online(room_id, &stored);
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
    let status_texts =
        stored.iter().filter(|m| !m.status_text.is_empty()).map(|m| (m.name.clone(), m.status_text.clone())).collect();
    let admins = stored.iter().filter(|m| m.admin).map(|m| m.name.clone()).collect();
    Ok(ServerFrame::RoomMembersUpdate {
        room_id: room_id.to_string(),
        members: stored.into_iter().map(|m| m.name).collect(),
        away,
        online,
        last_seen,
        read,
        display_names,
        status_texts,
        admins,
    })
}

pub(super) fn room_frame(room: &Room) -> ServerFrame {
    ServerFrame::Room { room_id: room.id.clone(), topic: room.topic.clone(), private: room.private, kind: room.kind }
}
