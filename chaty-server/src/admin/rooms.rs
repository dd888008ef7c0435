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
    /// Change a room's topic; connected members get ROOM.
    Set {
        room: String,
        #[arg(long, value_name = "TEXT")]
        topic: Option<String>,
    },
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
        Command::Set { room, topic } => {
            let topic = topic.ok_or("nothing to change: give --topic")?;
            check(validate::topic("--topic", &topic))?;
            store.admin_set_topic(room.clone(), topic).await.map_err(line)?;
            println!("set the topic of {room}");
        }
    }
    Ok(())
}
