//! Frames about people: `SET_PROFILE` and the `USERS` directory.

use chaty_proto::time::format_millis;
use chaty_proto::{self as proto, PresenceStatus, ServerFrame, UserProfile};

use super::{Connection, Handled};
use crate::store::Lookup;

impl Connection {
    /// How this connection's user is shown right now (empty before sign-in).
    pub(super) fn shown_name(&self) -> &str {
        self.me.as_ref().map_or("", |m| m.profile.display_name.as_str())
    }

    /// `SET_PROFILE`: stores the change, answers with `PROFILE`, and tells
    /// everyone who shares a room with the user (their other devices too).
    pub(super) async fn set_profile(&mut self, f: proto::SetProfile, r: Option<&str>) -> Handled {
        let user = self.member()?.clone();
        let profile = self.ctx.store.set_profile(user.id, f.display_name, f.status_text).await?;
        let frame = ServerFrame::Profile {
            user_id: user.name.clone(),
            display_name: profile.display_name.clone(),
            status_text: profile.status_text.clone(),
        };
        if let Some(me) = self.me.as_mut() {
            me.profile = profile;
        }
        self.send_ref(&frame, r);
        let shared = frame.to_json(None).into();
        self.ctx.fanout.peers(user.id, self.id, &shared);
        Ok(())
    }

    /// `USERS`: the directory. Presence only for people the asker shares a
    /// room with, exactly what `PRESENCE` would have told them.
    pub(super) async fn users(&self, f: proto::Users, r: Option<&str>) -> Handled {
        let asker = self.member()?.id;
        let lookup = Lookup { query: f.query, user_ids: f.user_ids, limit: f.limit };
        let entries = self.ctx.store.directory(asker, lookup).await?;
        let fanout = &self.ctx.fanout;
        let users = entries
            .into_iter()
            .map(|e| {
                let (status, last_seen) = match (e.visible_presence, fanout.status(e.id)) {
                    (false, _) => (None, None),
                    (true, None) => (Some(PresenceStatus::Offline), e.last_seen.map(format_millis)),
                    (true, Some(true)) => (Some(PresenceStatus::Away), None),
                    (true, Some(false)) => (Some(PresenceStatus::Online), None),
                };
                UserProfile {
                    user_id: e.name,
                    display_name: e.profile.display_name,
                    status_text: e.profile.status_text,
                    status,
                    last_seen,
                }
            })
            .collect();
        self.send_ref(&ServerFrame::Users { users }, r);
        Ok(())
    }
}
