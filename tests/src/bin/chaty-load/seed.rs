//! `chaty-load seed-db`: a chaty (SQLite) database with many messages,
//! written through chaty-server's own SQLite backend (same schema, same SQL,
//! in big transactions), for the HISTORY and cold-start scenarios. Run it
//! while no server uses the file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chaty_proto::time::now_millis;
use chaty_server::store::sqlite::{Sqlite, messages, rooms, users};
use chaty_server::store::{Post, User};

#[derive(clap::Args, Debug)]
pub struct SeedArgs {
    /// The database file to create.
    #[arg(long)]
    pub db: PathBuf,
    /// Messages to write, spread evenly over the rooms.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Rooms PREFIX0..PREFIX<n-1> (the names `run` joins).
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    #[arg(long, default_value = "r")]
    pub room_prefix: String,
    /// Registered users who wrote the messages (members of every room; they cannot log in).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    #[arg(long, default_value = "seed")]
    pub user_prefix: String,
    /// Messages per transaction.
    #[arg(long, default_value_t = 10_000)]
    pub batch: u64,
    /// Content length of each message, bytes.
    #[arg(long, default_value_t = 100)]
    pub content_bytes: usize,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn main(a: SeedArgs) -> Result<()> {
    if a.rooms == 0 || a.users == 0 || a.batch == 0 {
        bail!("--rooms, --users and --batch must be at least 1");
    }
    if a.db.exists() {
        if !a.force {
            bail!("{} exists; pass --force to replace it", a.db.display());
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut path = a.db.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(path));
        }
    }
    if let Some(dir) = a.db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(seed(a))
}

async fn seed(a: SeedArgs) -> Result<()> {
    let started = Instant::now();
    let store = Sqlite::open(&a.db).with_context(|| format!("cannot open {}", a.db.display()))?;
    let now = now_millis();
    let total = a.messages;
    // One message a second up to now.
    let first_at = now - i64::try_from(total).unwrap_or(i64::MAX / 2) * 1000;
    let room_ids: Arc<Vec<String>> = Arc::new((0..a.rooms).map(|r| format!("{}{r}", a.room_prefix)).collect());
    let names: Vec<String> = (0..a.users).map(|u| format!("{}{u}", a.user_prefix)).collect();
    let setup_rooms = room_ids.clone();
    let people: Arc<Vec<User>> = Arc::new(
        store
            .write(move |db| {
                let mut people = Vec::with_capacity(names.len());
                for name in &names {
                    // Not a valid argon2 hash: nobody can LOGIN as a seed user.
                    people.push(users::register(db, name, "seed-user-no-login", first_at, |_| false)?);
                }
                for room in setup_rooms.iter() {
                    for user in &people {
                        rooms::join(db, room, user, first_at)?;
                    }
                }
                Ok(people)
            })
            .await?,
    );
    let pad = "lorem ipsum dolor sit amet ".repeat(a.content_bytes / 27 + 2);
    let pad: Arc<str> = pad.into();
    let mut done = 0u64;
    let mut next_report = 100_000u64;
    while done < total {
        let n = a.batch.min(total - done);
        let (room_ids, people, pad) = (room_ids.clone(), people.clone(), pad.clone());
        let content_bytes = a.content_bytes;
        store
            .write(move |db| {
                for i in done..done + n {
                    let idx = usize::try_from(i).unwrap_or(0);
                    let sender = people[idx % people.len()].clone();
                    let mut content = format!("seed message {i}: ");
                    let room = (idx / people.len()) % room_ids.len();
                    let take = content_bytes.saturating_sub(content.len()).min(pad.len());
                    content.push_str(&pad[..take]);
                    let post = Post {
                        room_id: room_ids[room].clone(),
                        display_name: sender.name.clone(),
                        sender,
                        content,
                        client_id: None,
                        reply_to: None,
                        attachment: None,
                    };
                    let at = first_at + i64::try_from(i).unwrap_or(0) * 1000;
                    messages::post(db, &post, at)?;
                }
                Ok(())
            })
            .await?;
        done += n;
        if done >= next_report || done == total {
            eprintln!("seed-db: {done}/{total} messages ({:.1} s)", started.elapsed().as_secs_f64());
            next_report += 100_000;
        }
    }
    store.close().await;
    eprintln!(
        "seed-db: wrote {total} messages in {} rooms by {} users to {} in {:.1} s",
        a.rooms,
        a.users,
        a.db.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
