//! `chaty-server backup FILE` and `restore FILE` (SQLite; PostgreSQL has
//! pg_dump and pg_restore, which the refusal names).

use std::path::Path;

use crate::store::postgres::is_url;
use crate::store::sqlite;

/// The uploads directory of a SQLite database (`files/` beside it).
fn uploads(db: &Path) -> std::path::PathBuf {
    db.parent().unwrap_or(Path::new(".")).join("files")
}

pub fn backup(db: &str, file: &Path) -> Result<(), String> {
    if is_url(db) {
        return Err("a PostgreSQL database is backed up with pg_dump: pg_dump --format=custom \
                    --file=chaty.dump 'postgres://…' (see docs/deploy.md, Backups)"
            .into());
    }
    let db = Path::new(db);
    sqlite::backup::backup(db, file)?;
    println!("backed up {} to {} (as of one commit; the server kept running)", db.display(), file.display());
    println!(
        "uploaded files are not in the database: copy {} too (files are named by their hash and never change)",
        uploads(db).display()
    );
    Ok(())
}

pub fn restore(db: &str, file: &Path) -> Result<(), String> {
    if is_url(db) {
        return Err("a PostgreSQL database is restored with pg_restore: pg_restore --clean --if-exists \
                    --no-owner --dbname='postgres://…' chaty.dump (see docs/deploy.md, Backups)"
            .into());
    }
    let db = Path::new(db);
    let epoch = sqlite::backup::restore(db, file)?;
    println!("restored {} into {}", file.display(), db.display());
    println!("new epoch {epoch}: clients see it in WELCOME and start their `since` cursors over");
    println!("restore the uploads too, into {}", uploads(db).display());
    Ok(())
}
