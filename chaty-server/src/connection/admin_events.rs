//! What the admin CLI did, told to this server's connections. The CLI is
//! another process: it writes an event beside each change it makes
//! (`store::admin`), and every server reads the last minute of them every
//! 2 s and acts on its own connections only. Every node of a cluster reads
//! the same table, so each closes its own sockets and tells its own
//! clients: nothing is published through Redis (that would act twice), and
//! it works while Redis is down.
//!
//! - a password change, a server ban or a deleted account: the user's
//!   connections close (1008, "signed out"); their tokens are gone or
//!   refused already;
//! - a deleted room: its members get `KICKED` (by `server admin`, reason
//!   "the room was deleted") and leave it;
//! - a new topic: the room gets `ROOM`, as for `SET_TOPIC`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use chaty_proto::ServerFrame;
use chaty_proto::time::now_millis;

use super::Context;
use super::membership::room_frame;
use crate::store::admin::Event;

/// How often a server looks for new events.
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// How far back each look reads (ids already handled are skipped), so an
/// event committed late (PostgreSQL ids are not commit order) or by a host
/// whose clock is a little behind is still seen.
const WINDOW_MS: i64 = 60_000;

/// Who a room deletion's `KICKED` names as having removed its members.
pub const DELETED_BY: &str = "server admin";

/// Runs until shutdown (one per server).
pub async fn admin_events(ctx: Arc<Context>) {
    let started = now_millis();
    let mut handled: HashSet<i64> = HashSet::new();
    let mut tick = tokio::time::interval(LOOK_EVERY);
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Events from before this server started concern connections it never had.
        let since = (now_millis() - WINDOW_MS).max(started - LOOK_EVERY.as_millis() as i64);
        let events = match ctx.store.admin_events(since).await {
            Ok(events) => events,
            Err(e) => {
                tracing::debug!("reading admin events: {e}");
                continue;
            }
        };
        let current: HashSet<i64> = events.iter().map(|e| e.id).collect();
        for logged in events {
            if handled.insert(logged.id) {
                act(&ctx, logged.event).await;
            }
        }
        // What left the window will not be read again.
        handled.retain(|id| current.contains(id));
    }
}

async fn act(ctx: &Context, event: Event) {
    let hub = ctx.fanout.hub();
    match event {
        Event::SignOut { user_id } => {
            tracing::info!(user_id, "an admin ended this user's sessions");
            hub.sign_out_user(user_id);
        }
        Event::RoomDeleted { room_id, members } => {
            tracing::info!(room = %room_id, "an admin deleted this room");
            let kicked = ServerFrame::Kicked {
                room_id: room_id.clone(),
                by: DELETED_BY.to_string(),
                reason: Some("the room was deleted".to_string()),
                banned: false,
            };
            let kicked = Utf8Bytes::from(kicked.to_json(None));
            for user in members {
                if hub.is_present(&room_id, user) {
                    hub.send_user(user, &kicked);
                }
                hub.leave_user(&room_id, user);
            }
        }
        Event::Topic { room_id } => match ctx.store.room(room_id.clone()).await {
            Ok(Some(room)) => hub.broadcast(&room_id, &room_frame(&room).to_json(None).into()),
            Ok(None) => {}
            Err(e) => tracing::warn!("reading room {room_id} for its new topic: {e}"),
        },
    }
}
