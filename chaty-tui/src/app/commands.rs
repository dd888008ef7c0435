//! Slash commands: [`App::command`] carries out a parsed [`Command`] (the
//! parser and the help text are `crate::command`). Room and session
//! commands are here; conversation and people commands call into
//! `conversation.rs` and `people.rs`.

use chaty_proto::{self as proto, ClientFrame};
use tokio::time::Instant;

use super::{App, Cmd, Field, Overlay, People, Screen};
use crate::command::{self, COMMANDS, Command};

impl App {
    pub(super) fn command(&mut self, cmd: Command, _now: Instant) -> Vec<Cmd> {
        let current = self.current_room().map(|r| r.id.clone());
        let need_online = !matches!(
            cmd,
            Command::Quit
                | Command::Help
                | Command::Who
                | Command::Me(_)
                | Command::Reply(_)
                | Command::Upload { .. }
                | Command::Download
        );
        if need_online && !self.online() {
            self.notice("not connected; try again once reconnected", true);
            return Vec::new();
        }
        match cmd {
            Command::Join(room_id) => {
                // A room we were removed from is joined again, not just shown.
                if self.room_index(&room_id).is_some_and(|i| self.rooms[i].removed.is_none()) {
                    return self.switch_to(&room_id);
                }
                vec![Cmd::Send(
                    ClientFrame::JoinRoom(proto::JoinRoom { room_id, user_id: None, since: None }),
                    Some("join".into()),
                )]
            }
            Command::Leave(room) => match room.or(current) {
                // Removed by a moderator: there is nothing to leave on the server.
                Some(room_id) if self.room_index(&room_id).is_some_and(|i| self.rooms[i].removed.is_some()) => {
                    self.forget_room(&room_id);
                    Vec::new()
                }
                Some(room_id) => {
                    vec![self.send(ClientFrame::LeaveRoom(proto::LeaveRoom { room_id }))]
                }
                None => Vec::new(),
            },
            Command::Create { room, private, topic } => {
                vec![Cmd::Send(
                    ClientFrame::CreateRoom(proto::CreateRoom { room_id: room, topic, private }),
                    Some("open".into()),
                )]
            }
            Command::Invite(user_id) => match current {
                Some(room_id) => {
                    vec![self.send(ClientFrame::Invite(proto::Invite { room_id, user_id }))]
                }
                None => Vec::new(),
            },
            Command::Dm(user_id) => {
                vec![Cmd::Send(ClientFrame::OpenDm(proto::OpenDm { user_id }), Some("open".into()))]
            }
            Command::Me(action) => self.say(format!("/me {action}")),
            Command::Rooms => vec![Cmd::Send(ClientFrame::ListRooms(proto::ListRooms {}), Some("rooms".into()))],
            Command::Who => {
                if let Some(room) = self.current_room() {
                    let lines = self.who_lines();
                    self.overlay = Some(Overlay { title: format!("Who is in {}", room.label(&self.me)), lines });
                }
                Vec::new()
            }
            Command::Logout => {
                self.session = None;
                self.signed_in = false;
                self.rooms.clear();
                self.people = People::default();
                self.screen = Screen::SignIn;
                self.signin.focus = Some(Field::Password);
                vec![self.send(ClientFrame::Logout(proto::Logout {})), Cmd::ClearSession]
            }
            Command::Quit => self.quit(),
            Command::React(emoji) => self.cmd_react(&emoji),
            Command::Edit(text) => self.cmd_edit(text),
            Command::Editor => self.open_editor(String::new()),
            Command::Delete => self.cmd_delete(),
            Command::Reply(text) => self.cmd_reply(text),
            Command::Search(query) => self.cmd_search(query),
            Command::Upload { path, caption } => self.cmd_upload(path, caption),
            Command::Download => self.cmd_download(),
            Command::Retry => self.cmd_retry(),
            cmd @ (Command::Nick(_) | Command::Status(_) | Command::Whois(_) | Command::Users(_)) => {
                self.people_command(cmd)
            }
            Command::Moderate(m) => self.moderate(m),
            Command::Away => self.cmd_presence(true),
            Command::Back => self.cmd_presence(false),
            Command::Notify(level) => match current {
                Some(room_id) => vec![self.send(ClientFrame::SetNotify(proto::SetNotify { room_id, level }))],
                None => {
                    self.notice("/notify is for a room: open one first", true);
                    Vec::new()
                }
            },
            Command::Help => {
                self.show_help();
                Vec::new()
            }
        }
    }

    /// `/help`: the commands, the keys, and the `[keys]` bindings in effect.
    pub(super) fn show_help(&mut self) {
        let mut lines: Vec<String> = COMMANDS.iter().map(|(_, usage)| (*usage).to_string()).collect();
        lines.push(String::new());
        lines.extend(command::KEYS.iter().map(|k| (*k).to_string()));
        lines.push(String::new());
        lines.push("Bound in config.toml's [keys] (these or your own):".to_string());
        lines.extend(self.keymap.named().into_iter().map(|(name, key, what)| format!("  {key:<8} {name} — {what}")));
        self.overlay = Some(Overlay { title: "Help (Esc to close)".into(), lines });
    }
}
