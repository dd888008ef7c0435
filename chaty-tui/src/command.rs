//! Slash commands typed in the input: parsing, help text and the names used
//! for Tab completion. A bad command becomes a one-line hint, never a message.

use chaty_proto::validate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Join(String),
    Leave(Option<String>),
    Create {
        room: String,
        private: bool,
        topic: Option<String>,
    },
    Invite(String),
    Dm(String),
    Me(String),
    Rooms,
    Who,
    React(String),
    Edit(String),
    Delete,
    Reply(String),
    Search(String),
    Upload {
        path: String,
        caption: Option<String>,
    },
    Download,
    Away,
    Back,
    /// Your display name.
    Nick(String),
    /// Your status text ("" clears it).
    Status(String),
    /// A user's profile: a login name (`@` optional) or a display name.
    Whois(String),
    /// Find people in the directory (everyone when `None`).
    Users(Option<String>),
    Retry,
    Logout,
    Quit,
    Help,
}

/// Every command with its usage, for `/help` and completion.
pub const COMMANDS: &[(&str, &str)] = &[
    ("/join", "/join ROOM — join (or create) a public room"),
    ("/leave", "/leave [ROOM] — leave the current room (or ROOM)"),
    ("/create", "/create [--private] ROOM [topic] — create a room"),
    ("/invite", "/invite USER — invite USER to the current room"),
    ("/dm", "/dm USER — open a direct conversation"),
    ("/me", "/me ACTION — say what you are doing"),
    ("/rooms", "/rooms — list the public rooms"),
    ("/reply", "/reply TEXT — reply to the selected (or last) message"),
    ("/react", "/react EMOJI — react to the selected (or last) message"),
    ("/edit", "/edit TEXT — change your selected (or last) message"),
    ("/delete", "/delete — delete the selected (or your last) message"),
    ("/search", "/search WORDS — search your rooms (also Ctrl-F)"),
    ("/upload", "/upload PATH [message] — share a file"),
    ("/download", "/download — save the selected (or last) attachment"),
    ("/retry", "/retry — send failed messages again"),
    ("/away", "/away — show yourself as away (/back to return)"),
    ("/nick", "/nick NAME — change your display name (spaces, emoji, any script)"),
    ("/status", "/status [TEXT] — set your status text (none clears it)"),
    ("/whois", "/whois USER — show someone's profile (login or display name)"),
    ("/users", "/users [TEXT] — find people by name; Enter opens a DM"),
    ("/who", "/who — who is in this room"),
    ("/logout", "/logout — sign out and forget the saved session"),
    ("/quit", "/quit — leave chaty (also Ctrl-C)"),
    ("/help", "/help — this list"),
];

/// Keys, for `/help`.
pub const KEYS: &[&str] = &[
    "Enter send · Alt-Enter/Shift-Enter new line · Tab complete /commands, #rooms, @names",
    "Tab after @ completes login or display names (@Ali → @alice): mentions are by login",
    "Ctrl-A/E line start/end · Alt-B/F word left/right · Ctrl-W/U/K delete word/to start/to end",
    "Up/Down input history · PageUp/PageDown, Home/End, mouse wheel scroll",
    "Alt-Up/Down or Ctrl-P/N switch room · Alt-1…9 jump · Ctrl-K (empty input) or Ctrl-G rooms and people",
    "Esc (empty input) select messages: j/k move, r reply, e edit, d delete, 1-6 react, + react…, c copy, s save file",
    "Up (empty input) edit your last message · Alt-U jump to the first unread",
    "Esc close a popup · Ctrl-C quit",
];

fn room_arg(cmd: &str, arg: Option<&str>) -> Result<String, String> {
    let room = arg.ok_or_else(|| format!("usage: {}", usage(cmd)))?;
    let room = room.trim_start_matches('#');
    validate::room_id("room", room).map_err(|e| e.replace("`room` ", ""))?;
    Ok(room.to_string())
}

fn user_arg(cmd: &str, arg: Option<&str>) -> Result<String, String> {
    let user = arg.ok_or_else(|| format!("usage: {}", usage(cmd)))?;
    let user = user.trim_start_matches('@');
    validate::user_name("user", user).map_err(|e| e.replace("`user` ", ""))?;
    Ok(user.to_string())
}

fn usage(cmd: &str) -> &'static str {
    COMMANDS.iter().find(|(name, _)| *name == cmd).map_or("", |(_, u)| u)
}

/// Parses a line that starts with `/`.
pub fn parse(line: &str) -> Result<Command, String> {
    let line = line.trim();
    let (cmd, rest) = line.split_once(char::is_whitespace).map_or((line, ""), |(c, r)| (c, r.trim()));
    let mut args = rest.split_whitespace();
    let command = match cmd {
        "/join" | "/j" => Command::Join(room_arg("/join", args.next())?),
        "/leave" | "/part" => Command::Leave(args.next().map(|r| room_arg("/leave", Some(r))).transpose()?),
        "/create" => {
            let mut private = false;
            let mut room = None;
            for word in rest.split_whitespace() {
                if word == "--private" && room.is_none() {
                    private = true;
                } else {
                    room = Some(word);
                    break;
                }
            }
            let room = room_arg("/create", room)?;
            let after_room = rest.split_once(room.as_str()).map_or("", |(_, t)| t.trim());
            let topic = (!after_room.is_empty()).then(|| after_room.to_string());
            Command::Create { room, private, topic }
        }
        "/invite" => Command::Invite(user_arg("/invite", args.next())?),
        "/dm" | "/msg" | "/query" => Command::Dm(user_arg("/dm", args.next())?),
        "/me" if !rest.is_empty() => Command::Me(rest.to_string()),
        "/me" => return Err(format!("usage: {}", usage("/me"))),
        "/rooms" | "/list" => Command::Rooms,
        "/react" => {
            let emoji = args.next().ok_or_else(|| format!("usage: {}", usage("/react")))?;
            validate::bounded("emoji", emoji, 32).map_err(|e| e.replace('`', ""))?;
            Command::React(emoji.to_string())
        }
        "/edit" if !rest.is_empty() => Command::Edit(rest.to_string()),
        "/reply" if !rest.is_empty() => Command::Reply(rest.to_string()),
        "/search" if !rest.is_empty() => Command::Search(rest.to_string()),
        "/edit" | "/reply" | "/search" => return Err(format!("usage: {}", usage(cmd))),
        "/delete" => Command::Delete,
        "/upload" => {
            let path = args.next().ok_or_else(|| format!("usage: {}", usage("/upload")))?;
            let caption = rest[path.len()..].trim();
            Command::Upload { path: path.to_string(), caption: (!caption.is_empty()).then(|| caption.to_string()) }
        }
        "/download" | "/save" => Command::Download,
        "/retry" => Command::Retry,
        "/away" => Command::Away,
        "/back" => Command::Back,
        "/nick" if !rest.is_empty() => {
            validate::display_name("display name", rest).map_err(|e| e.replace('`', ""))?;
            Command::Nick(rest.to_string())
        }
        "/nick" => return Err(format!("usage: {}", usage("/nick"))),
        "/status" => {
            validate::status_text("status", rest).map_err(|e| e.replace('`', ""))?;
            Command::Status(rest.to_string())
        }
        "/whois" | "/profile" if !rest.is_empty() => Command::Whois(rest.trim_start_matches('@').to_string()),
        "/whois" | "/profile" => return Err(format!("usage: {}", usage("/whois"))),
        "/users" | "/people" => {
            if !rest.is_empty() {
                validate::bounded("search", rest, validate::MAX_DISPLAY_NAME_CHARS).map_err(|e| e.replace('`', ""))?;
            }
            Command::Users((!rest.is_empty()).then(|| rest.to_string()))
        }
        "/who" | "/names" => Command::Who,
        "/logout" => Command::Logout,
        "/quit" | "/exit" => Command::Quit,
        "/help" | "/?" => Command::Help,
        other => {
            return Err(format!("unknown command {other}; /help lists them (start with // to send a literal /)"));
        }
    };
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_arguments() {
        assert_eq!(parse("/join #general"), Ok(Command::Join("general".into())));
        assert_eq!(parse("/leave"), Ok(Command::Leave(None)));
        assert_eq!(
            parse("/create --private ops on call rota"),
            Ok(Command::Create { room: "ops".into(), private: true, topic: Some("on call rota".into()) })
        );
        assert_eq!(parse("/create lobby"), Ok(Command::Create { room: "lobby".into(), private: false, topic: None }));
        assert_eq!(parse("/dm @bob"), Ok(Command::Dm("bob".into())));
        assert_eq!(parse("/me waves"), Ok(Command::Me("waves".into())));
    }

    #[test]
    fn bad_input_is_a_hint() {
        assert!(parse("/frobnicate").unwrap_err().starts_with("unknown command /frobnicate"));
        assert_eq!(parse("/join").unwrap_err(), "usage: /join ROOM — join (or create) a public room");
        assert!(parse("/join Bad Room").unwrap_err().contains("\"Bad\""));
        assert!(parse("/dm a:b").is_err());
        assert!(parse("/me").is_err());
    }

    #[test]
    fn people_commands_check_their_text_before_sending() {
        assert_eq!(parse("/nick  Ana María 🌸 "), Ok(Command::Nick("Ana María 🌸".into())));
        assert_eq!(parse("/status"), Ok(Command::Status(String::new())));
        assert_eq!(parse("/status in a meeting"), Ok(Command::Status("in a meeting".into())));
        assert_eq!(parse("/whois @bob"), Ok(Command::Whois("bob".into())));
        assert_eq!(parse("/users"), Ok(Command::Users(None)));
        assert_eq!(parse("/users ali"), Ok(Command::Users(Some("ali".into()))));
        assert!(parse("/nick").unwrap_err().starts_with("usage: /nick"));
        assert!(parse("/nick a\u{202E}b").unwrap_err().contains("bidirectional"), "no text reversal");
        assert!(parse(&format!("/nick {}", "x".repeat(65))).unwrap_err().contains("limit is 64"));
        assert!(parse(&format!("/status {}", "x".repeat(101))).unwrap_err().contains("limit is 100"));
        assert!(parse("/whois").is_err());
    }
}
