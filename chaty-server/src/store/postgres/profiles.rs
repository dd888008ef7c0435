//! Profiles and the directory on PostgreSQL (twin of `store/sqlite/profiles.rs`).

use tokio_postgres::GenericClient;

use crate::error::StoreError;
use crate::store::model::{Entry, Lookup, Profile, like_prefix, search_key};

pub async fn get(db: &impl GenericClient, user_id: i64) -> Result<Profile, StoreError> {
    let row =
        db.query_opt("SELECT coalesce(display_name, name), status_text FROM users WHERE id = $1", &[&user_id]).await?;
    Ok(row.map(|r| Profile { display_name: r.get(0), status_text: r.get(1) }).unwrap_or_default())
}

pub async fn set(
    db: &impl GenericClient,
    user_id: i64,
    display_name: Option<&str>,
    status_text: Option<&str>,
) -> Result<Profile, StoreError> {
    if let Some(name) = display_name {
        db.execute(
            "UPDATE users SET display_name = $2, search_key = $3 WHERE id = $1",
            &[&user_id, &name, &search_key(name)],
        )
        .await?;
    }
    if let Some(text) = status_text {
        db.execute("UPDATE users SET status_text = $2 WHERE id = $1", &[&user_id, &text]).await?;
    }
    get(db, user_id).await
}

pub async fn directory(db: &impl GenericClient, asker: i64, lookup: &Lookup) -> Result<Vec<Entry>, StoreError> {
    let query = lookup.query.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_lowercase);
    let name_pattern = query.as_deref().map(like_prefix);
    let word_pattern = query.as_deref().map(|q| format!("% {}", like_prefix(q)));
    let ids: Option<Vec<String>> = lookup.user_ids.as_ref().map(|ids| ids.iter().map(|i| i.to_lowercase()).collect());
    let limit = lookup.size() as i64;
    let rows = db
        .query(
            "SELECT u.id, u.name, coalesce(u.display_name, u.name), u.status_text, u.last_seen,
                    u.id = $1 OR EXISTS (
                        SELECT 1 FROM members a JOIN members b ON b.room_id = a.room_id
                        WHERE a.user_id = $1 AND b.user_id = u.id)
             FROM users u
             WHERE u.pass_hash IS NOT NULL
               AND ($2::TEXT IS NULL OR lower(u.name) LIKE $2 ESCAPE '\\' OR u.search_key LIKE $3 ESCAPE '\\')
               AND ($4::TEXT[] IS NULL OR lower(u.name) = ANY($4))
             ORDER BY lower(u.name) COLLATE \"C\" LIMIT $5",
            &[&asker, &name_pattern, &word_pattern, &ids, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Entry {
            id: r.get(0),
            name: r.get(1),
            profile: Profile { display_name: r.get(2), status_text: r.get(3) },
            last_seen: r.get(4),
            visible_presence: r.get(5),
        })
        .collect())
}
