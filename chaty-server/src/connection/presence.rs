//! Typing (per connection, expiring) and what a closing connection leaves
//! behind: typing stopped, offline presence, the member lists of its rooms.

use super::*;

impl Connection {
    pub(super) fn typing(&mut self, room_id: &str, typing: bool) -> Handled {
        let me = self.me()?.clone();
        if !self.ctx.fanout.hub().is_in(room_id, self.id) {
            return Err(not_visible(room_id).to_refusal());
        }
        let frame = typing_frame(room_id, &me, self.shown_name(), typing);
        if typing {
            self.typing.insert(room_id.to_string(), Instant::now() + self.ctx.config().typing_ttl);
        } else if self.typing.remove(room_id).is_none() {
            return Ok(());
        }
        self.ctx.fanout.room_except(room_id, me.id, &frame);
        Ok(())
    }

    pub(super) fn stop_typing(&mut self, room_id: &str) {
        if self.typing.remove(room_id).is_some() {
            if let Some(me) = &self.me {
                let frame = typing_frame(room_id, &me.user, &me.profile.display_name, false);
                self.ctx.fanout.room_except(room_id, me.user.id, &frame);
            }
        }
    }

    pub(super) fn expire_typing(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> = self.typing.iter().filter(|(_, t)| **t <= now).map(|(r, _)| r.clone()).collect();
        for room in expired {
            self.stop_typing(&room);
        }
    }

    /// On disconnect: stop typing, drop out of the hub, tell rooms the user
    /// left (presence), and end a guest's memberships with their last connection.
    pub(super) async fn leave_everything(&mut self) {
        let rooms: Vec<String> = self.typing.keys().cloned().collect();
        for room in rooms {
            self.stop_typing(&room);
        }
        let Some(me) = &self.me else { return };
        let user = me.user.clone();
        let last_connection = self.ctx.fanout.is_last_connection(user.id);
        let mut offline_notice = None;
        if !user.guest && last_connection && !self.ctx.shutdown.is_cancelled() {
            // The user's last connection: record when, then tell the people
            // they share rooms with. Peers are taken before this connection
            // leaves the hub (which hides its rooms) and told after, so a
            // `USERS` asked on hearing it already sees them offline.
            let now = now_millis();
            let user_id = user.id;
            if let Err(e) = self.ctx.store.set_last_seen(user_id, now).await {
                tracing::warn!("recording last seen of {}: {e}", user.name);
            }
            let offline = ServerFrame::Presence {
                user_id: user.name.clone(),
                status: proto::PresenceStatus::Offline,
                last_seen: Some(format_millis(now)),
            };
            offline_notice = Some((self.ctx.fanout.peers_of(user.id, self.id), Utf8Bytes::from(offline.to_json(None))));
        }
        let (gone, offline) = self.ctx.fanout.detach(self.id, user.id);
        if let Some((peers, frame)) = offline_notice {
            self.ctx.fanout.send_peers(peers, &frame);
        }
        // At a stop, a guest's memberships stay: a restarted single node
        // ends them when it starts, a cluster's node that claims this one
        // ends them and tells everyone (see `departed.rs`).
        let gone: Vec<String> = if user.guest && offline && !self.ctx.shutdown.is_cancelled() {
            let user_id = user.id;
            match self.ctx.store.leave_all(user_id).await {
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
