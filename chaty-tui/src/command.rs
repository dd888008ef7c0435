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
    /// `/edit` alone: write the message in `$VISUAL`/`$EDITOR`.
    Editor,
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
    /// What the current room notifies you of (`SET_NOTIFY`).
    Notify(chaty_proto::NotifyLevel),
    /// Your display name.
    Nick(String),
    /// Your status text ("" clears it).
    Status(String),
    /// A user's profile: a login name (`@` optional) or a display name.
    Whois(String),
    /// Find people in the directory (everyone when `None`).
    Users(Option<String>),
    /// Moderation of the current room (its admins and server admins).
    Moderate(Moderation),
    Retry,
    Logout,
    Quit,
    Help,
}

/// A moderation command for the current room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moderation {
    Kick {
        user: String,
        reason: Option<String>,
    },
    Ban {
        user: String,
        reason: Option<String>,
    },
    Unban(String),
    /// Make a member an admin of the room.
    Op(String),
    /// Make an admin a plain member again.
    Deop(String),
    /// The room's topic ("" clears it).
    Topic(String),
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
    ("/edit", "/edit TEXT — change your selected (or last) message; /edit alone writes one in $EDITOR"),
    ("/delete", "/delete — delete the selected (or your last) message"),
    ("/search", "/search WORDS — search your rooms (also Ctrl-F)"),
    ("/upload", "/upload PATH [message] — share a file"),
    ("/download", "/download — save the selected (or last) attachment"),
    ("/retry", "/retry — send failed messages again"),
    ("/notify", "/notify all|mentions|none — what this room notifies you of"),
    ("/away", "/away — show yourself as away (/back to return)"),
    ("/nick", "/nick NAME — change your display name (spaces, emoji, any script)"),
    ("/status", "/status [TEXT] — set your status text (none clears it)"),
    ("/whois", "/whois USER — show someone's profile (login or display name)"),
    ("/users", "/users [TEXT] — find people by name; Enter opens a DM"),
    ("/who", "/who — who is in this room (@ marks its admins)"),
    ("/topic", "/topic [TEXT] — set this room's topic (none clears it; admins)"),
    ("/kick", "/kick USER [reason] — remove USER from this room (admins)"),
    ("/ban", "/ban USER [reason] — remove USER and keep them out (admins)"),
    ("/unban", "/unban USER — let a banned USER back in (admins)"),
    ("/op", "/op USER — make USER an admin of this room (admins)"),
    ("/deop", "/deop USER — make an admin a plain member again (admins)"),
    ("/logout", "/logout — sign out and forget the saved session"),
    ("/quit", "/quit — leave chaty (also Ctrl-C)"),
    ("/help", "/help — this list"),
];

/// Keys, for `/help`.
pub const KEYS: &[&str] = &[
    "Enter send · Alt-Enter/Shift-Enter new line · Tab complete /commands, #rooms, @names",
    "Tab after @ completes login or display names (@Ali → @alice): mentions are by login",
    "Ctrl-A/E line start/end · Alt-B/F word left/right · Ctrl-W/U/K, Alt-D delete word/to start/to end/word after",
    "Ctrl-Y put back what was deleted · Ctrl-_ undo · Alt-_ redo",
    "Ctrl-X Ctrl-E or /edit write the message in $VISUAL/$EDITOR (else vi)",
    "A paste stays one draft, its lines and all; more than 20 lines ask before they are sent",
    "Up/Down input history · PageUp/PageDown, Home/End, mouse wheel scroll",
    "Alt-Up/Down or Ctrl-P/N switch room · Alt-1…9 jump · Ctrl-K (empty input) or Ctrl-G rooms and people",
    "Esc (empty input) select messages: j/k move, r reply, e edit, d delete, 1-6 react, + react…, c copy, s save file",
    "  in selection: o open the message's link (which one, when several) · y copy the link · v view the image",
    "Up (empty input) edit your last message · Alt-U jump to the first unread",
    "Esc close a popup · Ctrl-C quit",
    "Mouse: click a room to open it, a message to select it; the wheel scrolls; Shift+drag selects text",
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

/// A user to moderate (guests too, so a guest id) and the rest of the line.
fn target_arg(cmd: &str, rest: &str) -> Result<(String, Option<String>), String> {
    let (user, reason) = rest.split_once(char::is_whitespace).map_or((rest, ""), |(u, r)| (u, r.trim()));
    if user.is_empty() {
        return Err(format!("usage: {}", usage(cmd)));
    }
    let user = user.trim_start_matches('@');
    validate::guest_id("user", user).map_err(|e| e.replace("`user` ", ""))?;
    Ok((user.to_string(), (!reason.is_empty()).then(|| reason.to_string())))
}

/// `/kick` … `/topic`.
fn moderation(cmd: &str, rest: &str) -> Result<Moderation, String> {
    let no_reason = |(user, reason): (String, Option<String>)| match reason {
        None => Ok(user),
        Some(_) => Err(format!("usage: {}", usage(cmd))),
    };
    let checked = |reason: Option<String>| match &reason {
        Some(r) => validate::reason("reason", r).map(|()| reason.clone()).map_err(|e| e.replace('`', "")),
        None => Ok(None),
    };
    Ok(match cmd {
        "/kick" => {
            let (user, reason) = target_arg(cmd, rest)?;
            Moderation::Kick { user, reason: checked(reason)? }
        }
        "/ban" => {
            let (user, reason) = target_arg(cmd, rest)?;
            Moderation::Ban { user, reason: checked(reason)? }
        }
        "/unban" => Moderation::Unban(no_reason(target_arg(cmd, rest)?)?),
        "/op" => Moderation::Op(no_reason(target_arg(cmd, rest)?)?),
        "/deop" => Moderation::Deop(no_reason(target_arg(cmd, rest)?)?),
        _ => {
            validate::topic("topic", rest).map_err(|e| e.replace('`', ""))?;
            Moderation::Topic(rest.to_string())
        }
    })
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
        "/edit" => Command::Editor,
        "/reply" if !rest.is_empty() => Command::Reply(rest.to_string()),
        "/search" if !rest.is_empty() => Command::Search(rest.to_string()),
        "/reply" | "/search" => return Err(format!("usage: {}", usage(cmd))),
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
        "/notify" => {
            let level = args.next().ok_or_else(|| format!("usage: {}", usage("/notify")))?;
            Command::Notify(
                chaty_proto::NotifyLevel::try_from(level.to_ascii_lowercase())
                    .map_err(|_| format!("usage: {}", usage("/notify")))?,
            )
        }
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
        "/kick" | "/ban" | "/unban" | "/op" | "/deop" | "/topic" => Command::Moderate(moderation(cmd, rest)?),
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
    fn moderation_commands_name_a_user_and_check_their_text() {
        let kick = |user: &str, reason: Option<&str>| {
            Ok(Command::Moderate(Moderation::Kick { user: user.into(), reason: reason.map(String::from) }))
        };
        assert_eq!(parse("/kick @bob"), kick("bob", None));
        assert_eq!(parse("/kick bob  too loud, twice "), kick("bob", Some("too loud, twice")));
        assert_eq!(
            parse("/ban guest-7 spam"),
            Ok(Command::Moderate(Moderation::Ban { user: "guest-7".into(), reason: Some("spam".into()) }))
        );
        assert_eq!(parse("/unban bob"), Ok(Command::Moderate(Moderation::Unban("bob".into()))));
        assert_eq!(parse("/op @bob"), Ok(Command::Moderate(Moderation::Op("bob".into()))));
        assert_eq!(parse("/deop bob"), Ok(Command::Moderate(Moderation::Deop("bob".into()))));
        assert_eq!(parse("/topic release day 🚀"), Ok(Command::Moderate(Moderation::Topic("release day 🚀".into()))));
        assert_eq!(parse("/topic"), Ok(Command::Moderate(Moderation::Topic(String::new()))), "clears it");

        assert_eq!(parse("/kick").unwrap_err(), "usage: /kick USER [reason] — remove USER from this room (admins)");
        assert!(parse("/op bob now").unwrap_err().starts_with("usage: /op"), "no reason for /op");
        assert!(parse("/unban b:o").unwrap_err().contains("\"b:o\""));
        assert!(parse("/kick bob a\u{202E}b").unwrap_err().contains("bidirectional"), "reasons are printable text");
        assert!(parse(&format!("/ban bob {}", "x".repeat(201))).unwrap_err().contains("limit is 200"));
        assert!(parse(&format!("/topic {}", "x".repeat(257))).unwrap_err().contains("limit is 256"));
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
