//! `chaty-server room …`: rooms.

use chaty_proto::time::format_millis;
use chaty_proto::validate;
use serde_json::{Value, json};

use super::{check, line};
use crate::Store;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every room and DM.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a room with its messages; connected members get KICKED and leave it.
    Delete { room: String },
    /// Change a room's topic (connected members get ROOM), or how long
    /// it keeps messages.
    Set {
        room: String,
        #[arg(long, value_name = "TEXT")]
        topic: Option<String>,
        /// Delete this room's messages older than DAYS (0: keep them
        /// forever), whatever the server's --retention-days; `default`
        /// follows the server's again.
        #[arg(long, value_name = "DAYS", value_parser = retention)]
        retention_days: Option<Retention>,
    },
}

/// A room's own retention: days, or `default` (`None`: the server's).
#[derive(Debug, Clone, Copy)]
pub struct Retention(Option<u32>);

fn retention(text: &str) -> Result<Retention, String> {
    if text == "default" {
        return Ok(Retention(None));
    }
    text.parse().map(|d| Retention(Some(d))).map_err(|_| "expected a number of days, or default".to_string())
}

pub async fn run(store: Store, command: Command) -> Result<(), String> {
    match command {
        Command::List { json } => {
            let rooms = store.room_infos().await.map_err(line)?;
            if json {
                let all: Vec<Value> = rooms
                    .iter()
                    .map(|r| {
                        json!({
                            "roomId": r.id, "kind": r.kind, "topic": r.topic, "private": r.private,
                            "members": r.members, "lastSeq": r.last_seq, "created": format_millis(r.created_at),
                        })
                    })
                    .collect();
                println!("{}", Value::from(all));
            } else {
                println!("{:<32} {:<5} {:<8} {:<8} {:<9} TOPIC", "ROOM", "KIND", "PRIVATE", "MEMBERS", "MESSAGES");
                for r in rooms {
                    let private = if r.private { "yes" } else { "no" };
                    println!("{:<32} {:<5} {private:<8} {:<8} {:<9} {}", r.id, r.kind, r.members, r.last_seq, r.topic);
                }
            }
        }
        Command::Delete { room } => {
            store.delete_room(room.clone()).await.map_err(line)?;
            println!("deleted {room}; connected members are told within a few seconds");
        }
        Command::Set { room, topic, retention_days } => {
            if topic.is_none() && retention_days.is_none() {
                return Err("nothing to change: give --topic or --retention-days".into());
            }
            if let Some(topic) = topic {
                check(validate::topic("--topic", &topic))?;
                store.admin_set_topic(room.clone(), topic).await.map_err(line)?;
                println!("set the topic of {room}");
            }
            if let Some(Retention(days)) = retention_days {
                store.set_retention(room.clone(), days).await.map_err(line)?;
                match days {
                    None => println!("{room} keeps messages as long as the server's --retention-days says"),
                    Some(0) => println!("{room} keeps its messages forever"),
                    Some(1) => println!("{room} keeps messages for 1 day"),
                    Some(n) => println!("{room} keeps messages for {n} days"),
                }
            }
        }
    }
    Ok(())
}
