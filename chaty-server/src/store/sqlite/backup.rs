//! `backup` and `restore` of a SQLite database.
//!
//! A backup is `VACUUM INTO` on a read-only connection of its own: one read
//! transaction, so it is the database as of one commit (WAL mode lets the
//! server keep writing meanwhile), written compact to a new file. A restore
//! checks the file, copies it beside the database, migrates it, gives it a
//! new epoch, and only then renames it over the database, under the
//! exclusive lock of [`super::lock`].

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{lock, schema};

fn open_read_only(path: &Path) -> Result<Connection, String> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Writes a consistent copy of `db` to `dest` (which must not exist yet).
pub fn backup(db: &Path, dest: &Path) -> Result<(), String> {
    if !db.exists() {
        return Err(format!("no database at {}", db.display()));
    }
    if dest.exists() {
        return Err(format!("{} already exists; name a new file", dest.display()));
    }
    let conn = open_read_only(db)?;
    let target = dest.to_str().ok_or_else(|| format!("{} is not a UTF-8 path", dest.display()))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    crate::private::set_private(dest).map_err(|e| format!("cannot make {} private: {e}", dest.display()))?;
    Ok(())
}

/// Replaces `db` with the backup `from`, under a new epoch (returned).
/// Gives `file` the owner of `like` (or, when `like` does not exist, of its
/// directory). Only root may give files away; anyone else already owns what
/// they create, so for them this changes nothing.
fn owned_like(file: &Path, like: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let dir = like.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let owner = std::fs::metadata(like).or_else(|_| std::fs::metadata(dir)).map_err(|e| e.to_string())?;
    let mine = std::fs::metadata(file).map_err(|e| e.to_string())?;
    if (mine.uid(), mine.gid()) == (owner.uid(), owner.gid()) {
        return Ok(());
    }
    std::os::unix::fs::chown(file, Some(owner.uid()), Some(owner.gid()))
        .map_err(|e| format!("cannot give {} to the database's owner (uid {}): {e}", file.display(), owner.uid()))
}

pub fn restore(db: &Path, from: &Path) -> Result<String, String> {
    let _held = lock::exclusive(db)?;
    let checked = open_read_only(from)?.query_row(
        "SELECT (SELECT quick_check FROM pragma_quick_check), (SELECT count(*) FROM meta)",
        [],
        |r| r.get::<_, String>(0),
    );
    match checked {
        Ok(ok) if ok == "ok" => {}
        Ok(why) => return Err(format!("{} is damaged: {why}", from.display())),
        Err(_) => return Err(format!("{} is not a chaty database", from.display())),
    }
    let mut staged = db.as_os_str().to_owned();
    staged.push(".restoring");
    let staged = std::path::PathBuf::from(staged);
    let _ = std::fs::remove_file(&staged);
    std::fs::copy(from, &staged).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), staged.display()))?;
    crate::private::set_private(&staged).map_err(|e| e.to_string())?;
    let epoch = (|| {
        let conn = Connection::open(&staged)?;
        schema::migrate(&conn)?;
        let epoch = schema::new_epoch(&conn)?;
        conn.close().map_err(|(_, e)| e)?;
        Ok::<_, crate::error::StoreError>(epoch)
    })()
    .map_err(|e| format!("cannot prepare {}: {e}", staged.display()))?;
    // The old database's WAL must not be applied to the new file.
    for suffix in ["-wal", "-shm"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(side));
    }
    // The server runs as the database's owner (the service user); a restore
    // run as root must not leave it a file it cannot open.
    owned_like(&staged, db)?;
    std::fs::rename(&staged, db).map_err(|e| format!("cannot move {} to {}: {e}", staged.display(), db.display()))?;
    Ok(epoch)
}

#[cfg(test)]
mod owner_tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn a_restored_file_gets_the_owner_of_the_database_it_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, staged) = (dir.path().join("chaty.db"), dir.path().join("chaty.db.restoring"));
        std::fs::write(&db, b"old").expect("db");
        std::fs::write(&staged, b"new").expect("staged");
        let me = std::fs::metadata(&staged).expect("meta").uid();
        if me == 0 {
            // As root (a restore run by an operator): the service user's file.
            std::os::unix::fs::chown(&db, Some(65534), Some(65534)).expect("chown");
            owned_like(&staged, &db).expect("owned");
            let meta = std::fs::metadata(&staged).expect("meta");
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        } else {
            // Anyone else owns both already: nothing to do, and no error.
            owned_like(&staged, &db).expect("owned");
            assert_eq!(std::fs::metadata(&staged).expect("meta").uid(), me);
        }
    }
}
