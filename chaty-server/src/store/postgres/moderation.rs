//! Moderation on PostgreSQL (twin of `store/sqlite/moderation.rs`).

use chaty_proto::ErrorCode;
use tokio_postgres::GenericClient;

use super::rooms;
use crate::error::StoreError;
use crate::store::model::{Room, User};
use crate::store::moderation::{self, Action, Moderated, Standing, Target, role_of};

async fn standing(db: &impl GenericClient, room_id: &str, user_id: i64) -> Result<Standing, StoreError> {
    let row = db
        .query_one(
            "SELECT u.admin, (SELECT role FROM members WHERE room_id = $1 AND user_id = $2)
             FROM users u WHERE u.id = $2",
            &[&room_id, &user_id],
        )
        .await?;
    let role: Option<&str> = row.get(1);
    Ok(Standing { room: rooms::get(db, room_id).await?, role: role.map(role_of), server_admin: row.get(0) })
}

async fn target(db: &impl GenericClient, room_id: &str, name: &str) -> Result<Target, StoreError> {
    let row = db
        .query_opt(
            "SELECT u.id, u.name, u.pass_hash IS NULL, u.admin, m.role,
                    EXISTS (SELECT 1 FROM bans b WHERE b.room_id = $1 AND b.user_id = u.id)
             FROM users u LEFT JOIN members m ON m.room_id = $1 AND m.user_id = u.id
             WHERE lower(u.name) = lower($2)",
            &[&room_id, &name],
        )
        .await?
        .ok_or_else(|| StoreError::refused(ErrorCode::NotFound, format!("no user \"{name}\"")))?;
    Ok(Target {
        user: User { id: row.get(0), name: row.get(1), guest: row.get(2) },
        server_admin: row.get(3),
        role: row.get::<_, Option<&str>>(4).map(role_of),
        banned: row.get(5),
    })
}

pub async fn is_banned(db: &impl GenericClient, room_id: &str, user_id: i64) -> Result<bool, StoreError> {
    Ok(db.query_opt("SELECT 1 FROM bans WHERE room_id = $1 AND user_id = $2", &[&room_id, &user_id]).await?.is_some())
}

pub async fn moderate(
    db: &impl GenericClient,
    room_id: &str,
    actor: &User,
    name: &str,
    action: &Action,
    now: i64,
) -> Result<Moderated, StoreError> {
    // The room row, locked: moderation of one room runs one at a time.
    db.execute("SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE", &[&room_id]).await?;
    let standing = standing(db, room_id, actor.id).await?;
    let room = moderation::authorize(room_id, &standing)?;
    let target = target(db, room_id, name).await?;
    moderation::check(&room, actor, &standing, &target, action)?;
    let user_id = target.user.id;
    let remove = "DELETE FROM members WHERE room_id = $1 AND user_id = $2";
    let (removed, changed) = match action {
        Action::Kick { .. } => (db.execute(remove, &[&room_id, &user_id]).await? > 0, true),
        Action::Ban { reason } => {
            let removed = db.execute(remove, &[&room_id, &user_id]).await? > 0;
            db.execute(
                "INSERT INTO bans (room_id, user_id, banned_by, reason, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (room_id, user_id) DO NOTHING",
                &[&room_id, &user_id, &actor.id, reason, &now],
            )
            .await?;
            (removed, removed || !target.banned)
        }
        Action::Unban => {
            db.execute("DELETE FROM bans WHERE room_id = $1 AND user_id = $2", &[&room_id, &user_id]).await?;
            (false, true)
        }
        Action::SetRole(role) => {
            let n = db
                .execute(
                    "UPDATE members SET role = $3 WHERE room_id = $1 AND user_id = $2 AND role <> $3",
                    &[&room_id, &user_id, &role.as_str()],
                )
                .await?;
            (false, n > 0)
        }
    };
    Ok(Moderated { room, target: target.user, removed, changed })
}

pub async fn set_topic(db: &impl GenericClient, room_id: &str, actor: &User, topic: &str) -> Result<Room, StoreError> {
    let room = moderation::authorize(room_id, &standing(db, room_id, actor.id).await?)?;
    db.execute("UPDATE rooms SET topic = $2 WHERE id = $1", &[&room_id, &topic]).await?;
    Ok(Room { topic: topic.to_string(), ..room })
}

pub async fn set_admin(db: &impl GenericClient, name: &str, admin: bool) -> Result<(), StoreError> {
    let n = db
        .execute(
            "UPDATE users SET admin = $2 WHERE lower(name) = lower($1) AND pass_hash IS NOT NULL",
            &[&name, &admin],
        )
        .await?;
    if n == 0 {
        return Err(StoreError::refused(ErrorCode::NotFound, format!("no registered user \"{name}\"")));
    }
    Ok(())
}
