//! `chaty-server user …`: accounts.

use chaty_proto::time::format_millis;
use chaty_proto::validate;
use serde_json::{Value, json};

use super::{check, line};
use crate::Store;
use crate::store::admin::{Account, AccountChange};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create an account; the password is read from stdin (one line).
    Add {
        name: String,
        /// Make them a server admin (they moderate every room but DMs).
        #[arg(long)]
        admin: bool,
        #[arg(long, value_name = "TEXT")]
        display_name: Option<String>,
        /// Read the password from stdin (required: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Change an account's admin flag or display name.
    Set {
        name: String,
        #[arg(long, conflicts_with = "no_admin")]
        admin: bool,
        #[arg(long)]
        no_admin: bool,
        #[arg(long, value_name = "TEXT")]
        display_name: Option<String>,
    },
    /// Set a new password (from stdin); every session of the user ends.
    Passwd {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Ban from the whole server: sessions end, sockets close, sign-in is refused.
    Ban {
        name: String,
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Lift a server ban.
    Unban { name: String },
    /// Every registered account.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove an account and its sessions (its messages stay, under `~deleted-<id>`).
    Del {
        name: String,
        /// Also erase every message they wrote (tombstones, as DELETE_MESSAGE leaves).
        #[arg(long)]
        erase: bool,
    },
    /// Everything stored about a user, as JSON (profile, memberships, messages).
    Export { name: String },
}

pub async fn run(store: Store, command: Command) -> Result<(), String> {
    match command {
        Command::Add { name, admin, display_name, password_stdin: _ } => {
            check(validate::user_name("NAME", &name))?;
            if let Some(shown) = &display_name {
                check(validate::display_name("--display-name", shown))?;
            }
            let hash = password().await?;
            let change = AccountChange { admin: Some(admin), display_name };
            store.add_account(name.clone(), hash, change).await.map_err(line)?;
            println!("added {name}{}", if admin { " (server admin)" } else { "" });
        }
        Command::Set { name, admin, no_admin, display_name } => {
            if let Some(shown) = &display_name {
                check(validate::display_name("--display-name", shown))?;
            }
            let admin = if admin { Some(true) } else { no_admin.then_some(false) };
            if admin.is_none() && display_name.is_none() {
                return Err("nothing to change: give --admin, --no-admin or --display-name".into());
            }
            store.change_account(name.clone(), AccountChange { admin, display_name }).await.map_err(line)?;
            println!("updated {name}");
        }
        Command::Passwd { name, password_stdin: _ } => {
            let hash = password().await?;
            store.set_password(name.clone(), hash).await.map_err(line)?;
            println!("new password for {name}; every session of theirs has ended");
        }
        Command::Ban { name, reason } => {
            store.server_ban(name.clone(), Some(reason)).await.map_err(line)?;
            println!("banned {name}: their sessions end and sign-in is refused until `user unban {name}`");
        }
        Command::Unban { name } => {
            let changed = store.server_ban(name.clone(), None).await.map_err(line)?;
            println!("{}", if changed { format!("unbanned {name}") } else { format!("{name} was not banned") });
        }
        Command::List { json } => {
            let accounts = store.accounts().await.map_err(line)?;
            if json {
                let all: Vec<Value> = accounts.iter().map(account_json).collect();
                println!("{}", Value::from(all));
            } else {
                print_table(&accounts);
            }
        }
        Command::Del { name, erase } => {
            let erased = store.delete_account(name.clone(), erase).await.map_err(line)?;
            if erase {
                println!("deleted {name} and erased {erased} messages");
            } else {
                println!("deleted {name}; their messages stay");
            }
        }
        Command::Export { name } => {
            let export = store.export(name).await.map_err(line)?;
            let mut user = account_json(&export.account);
            user["statusText"] = export.status_text.into();
            let memberships: Vec<Value> = export
                .memberships
                .iter()
                .map(|m| json!({"roomId": m.room_id, "role": m.role, "joinedAt": format_millis(m.joined_at)}))
                .collect();
            let messages: Vec<Value> = export
                .messages
                .iter()
                .map(|m| {
                    json!({
                        "id": m.id, "roomId": m.room_id, "seq": m.seq, "content": m.content,
                        "timestamp": format_millis(m.created_at), "editedAt": m.edited_at.map(format_millis),
                        "deleted": m.deleted,
                    })
                })
                .collect();
            let all = json!({"user": user, "memberships": memberships, "messages": messages});
            println!("{}", serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?);
        }
    }
    Ok(())
}

/// The password on stdin's first line, checked as REGISTER checks it, hashed.
async fn password() -> Result<String, String> {
    let mut text = String::new();
    std::io::stdin().read_line(&mut text).map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let password = text.trim_end_matches(['\n', '\r']).to_string();
    check(validate::new_password("the password", &password))?;
    crate::auth::hash_password(password).await.map_err(line)
}

fn account_json(a: &Account) -> Value {
    json!({
        "name": a.name,
        "displayName": a.display_name,
        "admin": a.admin,
        "banned": a.banned.is_some(),
        "banReason": a.banned.clone().flatten(),
        "created": format_millis(a.created_at),
        "lastSeen": a.last_seen.map(format_millis),
    })
}

fn print_table(accounts: &[Account]) {
    println!("{:<20} {:<24} {:<5} {:<6} {:<24} LAST SEEN", "NAME", "DISPLAY NAME", "ADMIN", "BANNED", "CREATED");
    for a in accounts {
        println!(
            "{:<20} {:<24} {:<5} {:<6} {:<24} {}",
            a.name,
            a.display_name.as_deref().unwrap_or("-"),
            if a.admin { "yes" } else { "no" },
            if a.banned.is_some() { "yes" } else { "no" },
            format_millis(a.created_at),
            a.last_seen.map_or_else(|| "never".to_string(), format_millis),
        );
    }
}
