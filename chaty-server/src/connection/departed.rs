//! What a departed node's connections would have done on their way out. A
//! node that dies (SIGKILL, power) closes nothing: every few seconds, each
//! node of a cluster asks the database for nodes whose heartbeat stopped;
//! exactly one node gets each, and for every user who was online only
//! through it, tells everyone what closing their last connection tells them
//! on one node (`PRESENCE` offline, `USER_LEFT` and the member list), and
//! ends a guest's memberships.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use chaty_proto::time::{format_millis, now_millis};
use chaty_proto::{PresenceStatus, ServerFrame};

use super::Context;
use super::membership::{announce_user, members_update};
use crate::hub::Online;

/// How often a node looks for departed nodes.
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// Runs until shutdown (one per node, in a cluster).
pub async fn departures(ctx: Arc<Context>) {
    let mut tick = tokio::time::interval(LOOK_EVERY);
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Some(repairs) = ctx.fanout.take_repairs() {
            repair(&ctx, repairs).await;
        }
        if ctx.store.take_revived() {
            // Another node took this one for departed and said its users left.
            for user in ctx.fanout.announce_again() {
                arrived(&ctx, &user).await;
            }
        }
        let nodes = match ctx.store.claim_departed().await {
            Ok(nodes) => nodes,
            Err(e) => {
                tracing::debug!("looking for departed nodes: {e}");
                continue;
            }
        };
        for node in nodes {
            let users = ctx.fanout.departed(&node);
            tracing::info!(node, users = users.len(), "a node departed: its users leave");
            for user in users {
                left(&ctx, &user).await;
            }
        }
    }
}

/// `user`'s last connection ended with its node.
async fn left(ctx: &Context, user: &Online) {
    let rooms = match if user.guest { ctx.store.leave_all(user.id).await } else { ctx.store.rooms_of(user.id).await } {
        Ok(rooms) => rooms,
        Err(e) => return tracing::warn!("ending the sessions of {} on a departed node: {e}", user.name),
    };
    if !user.guest {
        let now = now_millis();
        if let Err(e) = ctx.store.set_last_seen(user.id, now).await {
            tracing::warn!("recording last seen of {}: {e}", user.name);
        }
        let offline = ServerFrame::Presence {
            user_id: user.name.clone(),
            status: PresenceStatus::Offline,
            last_seen: Some(format_millis(now)),
        };
        ctx.fanout.send_peers(ctx.fanout.peers_in(user.id, rooms.clone()), &Utf8Bytes::from(offline.to_json(None)));
    }
    for room in rooms {
        announce_user(ctx, &room, &user.name, false).await;
    }
}

/// Tells this node's clients what lost events did not: who came online and
/// who left (as their snapshots show), and after a gap in the subscription,
/// every room's member list afresh.
async fn repair(ctx: &Context, repairs: crate::fanout::redis::Repairs) {
    let hub = ctx.fanout.hub();
    let mut rooms: Vec<String> = Vec::new();
    let changed = repairs.appeared.iter().map(|u| (u, true));
    let changed = changed.chain(repairs.vanished.iter().map(|u| (u, false)));
    for (user, online) in changed {
        if !online && ctx.fanout.status(user.id).is_some() {
            continue;
        }
        let Ok(theirs) = ctx.store.rooms_of(user.id).await else { continue };
        if !user.guest {
            let status = match (online, user.away) {
                (false, _) => PresenceStatus::Offline,
                (true, true) => PresenceStatus::Away,
                (true, false) => PresenceStatus::Online,
            };
            let frame = ServerFrame::Presence { user_id: user.name.clone(), status, last_seen: None };
            let frame = Utf8Bytes::from(frame.to_json(None));
            for outbox in hub.peers_in(user.id, &theirs) {
                outbox.send(frame.clone());
            }
        }
        rooms.extend(theirs);
    }
    if repairs.resubscribed {
        rooms.extend(hub.rooms().iter().map(|r| r.to_string()));
    }
    rooms.sort_unstable();
    rooms.dedup();
    for room in rooms.iter().filter(|r| hub.has_room(r)) {
        match members_update(ctx, room).await {
            Ok(update) => hub.broadcast(room, &update.to_json(None).into()),
            Err(e) => tracing::warn!("member list for {room}: {e}"),
        }
    }
}

/// `user` is online after all (this node was taken for departed).
async fn arrived(ctx: &Context, user: &Online) {
    let rooms = match ctx.store.rooms_of(user.id).await {
        Ok(rooms) => rooms,
        Err(e) => return tracing::warn!("announcing {} again: {e}", user.name),
    };
    if !user.guest {
        let status = if user.away { PresenceStatus::Away } else { PresenceStatus::Online };
        let frame = ServerFrame::Presence { user_id: user.name.clone(), status, last_seen: None };
        ctx.fanout.send_peers(ctx.fanout.peers_in(user.id, rooms.clone()), &Utf8Bytes::from(frame.to_json(None)));
    }
    for room in rooms {
        announce_user(ctx, &room, &user.name, true).await;
    }
}
