//! Whether a server is running on a SQLite database, for `restore`.
//!
//! Every server holds a *shared* `flock` on `<db>.lock` for as long as its
//! store is open (taken in [`super::Sqlite::open`]); `restore` takes an
//! *exclusive* one, without waiting. The kernel releases a process's locks
//! when it exits however it exits (even SIGKILL), so there is no stale lock
//! to clean up and no PID file to trust; and while `restore` holds its lock
//! a server refuses to start, so none can open the database half-replaced.
//! (SQLite's own locks cannot say this: an idle server holds none of them.)
//! The admin CLI's other commands take no lock: they run beside a server.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// `<db>.lock`, beside the database.
pub fn path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open(db: &Path) -> Result<File, StoreError> {
    let lock = path(db);
    crate::private::touch_new(&lock)?;
    Ok(File::open(&lock)?)
}

/// Takes a shared or exclusive `flock` without waiting: false when held
/// the other way. (Elsewhere than Unix there is no lock: `restore` there
/// trusts the operator.)
fn try_flock(file: &File, exclusive: bool) -> std::io::Result<bool> {
    #[cfg(unix)]
    {
        use unify_rustix::fs::{FlockOperation, flock};
        let how =
            if exclusive { FlockOperation::NonBlockingLockExclusive } else { FlockOperation::NonBlockingLockShared };
        match flock(file, how) {
            Ok(()) => Ok(true),
            Err(unify_rustix::io::Errno::WOULDBLOCK) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, exclusive);
        Ok(true)
    }
}

/// A server's hold on `db` (shared: held until the returned file closes).
pub fn serving(db: &Path) -> Result<File, StoreError> {
    let file = open(db)?;
    match try_flock(&file, false) {
        Ok(true) => Ok(file),
        Ok(false) => Err(StoreError::Io(std::io::Error::other(format!(
            "a restore of {} is under way (it holds {}); start the server when it is done",
            db.display(),
            path(db).display()
        )))),
        Err(e) => Err(e.into()),
    }
}

/// `restore`'s hold on `db` (exclusive), refused while a server runs on it.
pub fn exclusive(db: &Path) -> Result<File, String> {
    let file = open(db).map_err(|e| format!("cannot lock {}: {e}", path(db).display()))?;
    match try_flock(&file, true) {
        Ok(true) => Ok(file),
        Ok(false) => Err(format!(
            "a server is running on {} (it holds {}); stop it before restoring",
            db.display(),
            path(db).display()
        )),
        Err(e) => Err(format!("cannot lock {}: {e}", path(db).display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_is_refused_while_a_server_holds_the_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("chaty.db");
        let server = serving(&db).expect("a server");
        let second = serving(&db).expect("a second server shares it");
        assert!(exclusive(&db).expect_err("running").contains("a server is running on"));
        drop((server, second));
        let restoring = exclusive(&db).expect("stopped");
        assert!(format!("{:?}", serving(&db).expect_err("restoring")).contains("a restore of"));
        drop(restoring);
        serving(&db).expect("after the restore");
    }
}
