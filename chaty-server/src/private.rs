//! Files and directories only their owner may read: the database (SQLite
//! gives its `-wal` and `-shm` the database file's mode), uploads, logs.
//! Modes are set explicitly after creation, so the umask neither loosens
//! nor (by stripping the owner's own bits) breaks them.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of private files.
pub const FILE_MODE: u32 = 0o600;
/// Mode of private directories.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents as private directories. Existing
/// directories are left as they are: the operator chose them.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => set_mode(dir, DIR_MODE),
        // Made meanwhile by someone else: theirs.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates (or truncates) a private file for writing.
pub fn create_file(path: &Path) -> io::Result<File> {
    let file = options().write(true).create(true).truncate(true).open(path)?;
    set_mode(path, FILE_MODE)?;
    Ok(file)
}

/// Creates a new private file; fails if anything (a symlink included) is
/// already at `path`, so a shared temp dir cannot redirect the write.
pub fn create_new_file(path: &Path) -> io::Result<File> {
    let file = options().write(true).create_new(true).open(path)?;
    set_mode(path, FILE_MODE)?;
    Ok(file)
}

/// Opens a file for appending, creating it private if it does not exist.
/// An existing file keeps its mode.
pub fn append_file(path: &Path) -> io::Result<File> {
    let existed = path.exists();
    let file = options().append(true).create(true).open(path)?;
    if !existed {
        set_mode(path, FILE_MODE)?;
    }
    Ok(file)
}

/// Creates an empty private file if nothing is at `path` yet (so that a
/// library creating it later, like SQLite, finds it with the right mode).
pub fn touch_new(path: &Path) -> io::Result<()> {
    match options().write(true).create_new(true).open(path) {
        Ok(_) => set_mode(path, FILE_MODE),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes an existing file private (0600), e.g. one SQLite wrote.
pub fn set_private(path: &Path) -> io::Result<()> {
    set_mode(path, FILE_MODE)
}

fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn new_files_and_directories_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nested = dir.path().join("a").join("b");
        create_dir_all(&nested).expect("dirs");
        assert_eq!((mode(&dir.path().join("a")), mode(&nested)), (0o700, 0o700));
        let file = nested.join("f");
        create_file(&file).expect("file");
        assert_eq!(mode(&file), 0o600);
        let log = nested.join("log");
        append_file(&log).expect("log");
        assert_eq!(mode(&log), 0o600);
        let fresh = nested.join("fresh");
        create_new_file(&fresh).expect("new");
        assert_eq!(mode(&fresh), 0o600);
        assert!(create_new_file(&fresh).is_err(), "never over something already there");
        let db = nested.join("db");
        touch_new(&db).expect("touch");
        assert_eq!(mode(&db), 0o600);
        // An existing file keeps what its owner gave it.
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        append_file(&log).expect("again");
        touch_new(&log).expect("again");
        assert_eq!(mode(&log), 0o640);
    }
}
