//! Profiles (display name, status text) and the user directory behind `USERS`.
//! Who is online is the hub's business, not this module's: the directory
//! says whom the asker shares a room with, and the caller adds presence for those.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::store::model::{Entry, Lookup, Profile, like_prefix, search_key};

/// The profile of `user_id` (a user that exists).
pub fn get(conn: &Connection, user_id: i64) -> Result<Profile, StoreError> {
    Ok(conn
        .prepare_cached("SELECT coalesce(display_name, name), status_text FROM users WHERE id = ?1")?
        .query_row([user_id], |r| Ok(Profile { display_name: r.get(0)?, status_text: r.get(1)? }))
        .optional()?
        .unwrap_or_default())
}

/// `SET_PROFILE` (and `REGISTER` with a `displayName`): changes what is
/// given, keeps the rest. Returns the profile as it now is.
pub fn set(
    conn: &Connection,
    user_id: i64,
    display_name: Option<&str>,
    status_text: Option<&str>,
) -> Result<Profile, StoreError> {
    if let Some(name) = display_name {
        conn.prepare_cached("UPDATE users SET display_name = ?2, search_key = ?3 WHERE id = ?1")?.execute(params![
            user_id,
            name,
            search_key(name)
        ])?;
    }
    if let Some(text) = status_text {
        conn.prepare_cached("UPDATE users SET status_text = ?2 WHERE id = ?1")?.execute(params![user_id, text])?;
    }
    get(conn, user_id)
}

/// `USERS`: registered users only (never guests), by user name. Both
/// filters apply when both are given.
pub fn directory(conn: &Connection, asker: i64, lookup: &Lookup) -> Result<Vec<Entry>, StoreError> {
    let query = lookup.query.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_lowercase);
    let name_pattern = query.as_deref().map(like_prefix);
    let word_pattern = query.as_deref().map(|q| format!("% {}", like_prefix(q)));
    let ids_json = lookup.user_ids.as_ref().map(|ids| serde_json::Value::from(ids.clone()).to_string());
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.name, coalesce(u.display_name, u.name), u.status_text, u.last_seen,
                u.id = ?1 OR EXISTS (
                    SELECT 1 FROM members a JOIN members b ON b.room_id = a.room_id
                    WHERE a.user_id = ?1 AND b.user_id = u.id)
         FROM users u
         WHERE u.pass_hash IS NOT NULL
           AND (?2 IS NULL OR lower(u.name) LIKE ?2 ESCAPE '\\' OR u.search_key LIKE ?3 ESCAPE '\\')
           AND (?4 IS NULL OR u.name IN (SELECT value FROM json_each(?4)))
         ORDER BY u.name LIMIT ?5",
    )?;
    let rows = stmt.query_map(params![asker, name_pattern, word_pattern, ids_json, lookup.size() as i64], |r| {
        Ok(Entry {
            id: r.get(0)?,
            name: r.get(1)?,
            profile: Profile { display_name: r.get(2)?, status_text: r.get(3)? },
            last_seen: r.get(4)?,
            visible_presence: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::{DEFAULT_USERS, MAX_USERS};
    use crate::store::sqlite::{rooms, schema, users};

    fn db() -> Connection {
        let conn = Connection::open_in_memory().expect("db");
        schema::migrate(&conn).expect("migrate");
        conn
    }

    fn names(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn query_matches_a_user_name_prefix_or_a_display_word_prefix() {
        let conn = db();
        let zoe = users::register(&conn, "zsaldana", "h", 0, |_| false).expect("zoe");
        set(&conn, zoe.id, Some("Zoë Saldaña"), Some("on set")).expect("profile");
        let al = users::register(&conn, "al", "h", 0, |_| false).expect("al");
        set(&conn, al.id, Some("Alice Liddell"), None).expect("profile");
        users::register(&conn, "alberto", "h", 0, |_| false).expect("alberto");
        users::register(&conn, "bob_100%", "h", 0, |_| false).expect("bob");
        users::guest(&conn, "alguest", 0).expect("guest");
        let find = |q: &str| directory(&conn, al.id, &Lookup { query: Some(q.into()), ..Lookup::default() });
        assert_eq!(names(&find("al").expect("al")), ["al", "alberto"], "guests are never listed");
        assert_eq!(names(&find("LIDD").expect("word")), ["al"]);
        assert_eq!(names(&find("saldañ").expect("accents")), ["zsaldana"]);
        assert_eq!(names(&find("ZOË").expect("case")), ["zsaldana"]);
        assert!(find("ddell").expect("infix").is_empty(), "only prefixes match");
        assert!(find("%").expect("literal").is_empty(), "LIKE wildcards are literal");
        assert_eq!(names(&find("bob_100%").expect("literal")), ["bob_100%"]);
        let found = &find("zo").expect("zo")[0];
        assert_eq!(found.profile, Profile { display_name: "Zoë Saldaña".into(), status_text: "on set".into() });
    }

    #[test]
    fn lookup_by_id_clamps_and_knows_who_shares_a_room() {
        let conn = db();
        let a = users::register(&conn, "alice", "h", 0, |_| false).expect("a");
        let b = users::register(&conn, "bob", "h", 0, |_| false).expect("b");
        users::register(&conn, "carol", "h", 0, |_| false).expect("c");
        rooms::join(&conn, "general", &a, 0).expect("join");
        rooms::join(&conn, "general", &b, 0).expect("join");
        let ids = Lookup { user_ids: Some(vec!["BOB".into(), "carol".into(), "nobody".into()]), ..Lookup::default() };
        let found = directory(&conn, a.id, &ids).expect("lookup");
        assert_eq!(names(&found), ["bob", "carol"]);
        assert_eq!(found.iter().map(|e| e.visible_presence).collect::<Vec<_>>(), [true, false]);
        assert_eq!(found[0].profile.display_name, "bob", "no display name: the user name");
        for i in 0..60 {
            users::register(&conn, &format!("u{i:02}"), "h", 0, |_| false).expect("u");
        }
        let all = |limit| directory(&conn, a.id, &Lookup { limit, ..Lookup::default() }).expect("all").len();
        assert_eq!((all(None), all(Some(0)), all(Some(1000))), (DEFAULT_USERS, 1, MAX_USERS));
    }
}
