//! `chaty-server invite …`: tokens for `--registration invite`.

use super::line;
use crate::Store;
use crate::store::invites::parse_duration;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print a new invite token (REGISTER's `invite`).
    Create {
        /// How many registrations it is good for.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        uses: u32,
        /// How long it is good for: 90s, 30m, 12h, 7d [default: no end].
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires: Option<i64>,
    },
}

pub async fn run(store: Store, command: Command) -> Result<(), String> {
    match command {
        Command::Create { uses, expires } => {
            let expires_at = expires.map(|ms| chaty_proto::time::now_millis() + ms);
            let token = store.create_invite(uses, expires_at).await.map_err(line)?;
            // The token alone on stdout, for scripts; what it is good for on stderr.
            println!("{token}");
            let until = expires_at.map_or_else(|| "no expiry".to_string(), chaty_proto::time::format_millis);
            eprintln!("invite for {uses} registration(s), {until}; REGISTER with \"invite\": \"{token}\"");
        }
    }
    Ok(())
}
