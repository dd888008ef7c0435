//! People in the app: your own profile (`/nick`, `/status`), `/whois`, the
//! `/users` picker, people in the Ctrl-K switcher, @-completion on display
//! names, and the `PROFILE` and `USERS` frames that keep names current.
//! Directory requests carry a numbered `ref` and only the answer to the
//! newest one counts; lookups made as you type wait for a pause first.

use std::collections::BTreeMap;
use std::time::Duration;

use chaty_proto::{self as proto, ClientFrame, UserProfile};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::time::Instant;

use super::{App, Cmd};
use crate::command::Command;
use crate::people::{self, Names, Person};
use crate::sanitize;

/// A directory lookup made as you type waits this long after the last key.
const LOOKUP_DELAY: Duration = Duration::from_millis(200);
/// People asked for per switcher lookup, and per `/users` list.
const FIND_LIMIT: u64 = 10;
const LIST_LIMIT: u64 = proto::MAX_USER_LOOKUP as u64;
/// Rows PageUp/PageDown move in the `/users` list.
const PICKER_PAGE: usize = 10;

/// Your profile and what the directory told us.
#[derive(Debug, Clone, Default)]
pub struct People {
    /// How you are shown, and your status text, as the server last said.
    pub display_name: String,
    pub status_text: String,
    pub picker: Option<Picker>,
    pub whois: Option<Whois>,
    /// Profiles from directory answers, by lower-case login.
    known: BTreeMap<String, Person>,
    /// The switcher's lookup.
    find: Lookup,
    /// The `/whois` being answered: its `ref` and the login asked for.
    whois_ref: Option<(String, String)>,
    next_ref: u64,
}

/// A directory query: waiting for a pause in typing, in flight, answered.
#[derive(Debug, Clone, Default)]
struct Lookup {
    /// What to ask, and when.
    due: Option<(Instant, String)>,
    /// The `ref` whose answer counts, and the query it asked.
    waiting: Option<(String, String)>,
    /// The newest answer's query, and who it found.
    answered: Option<(String, Vec<Person>)>,
}

impl Lookup {
    fn schedule(&mut self, query: &str, at: Instant) {
        self.due = Some((at, query.trim().to_string()));
    }

    /// The request to send now, if one is due.
    fn fire(&mut self, now: Instant, kind: &str, limit: u64, next_ref: &mut u64) -> Option<Cmd> {
        let (_, query) = self.due.take_if(|(at, _)| *at <= now)?;
        *next_ref += 1;
        let reference = format!("{kind}:{next_ref}");
        self.waiting = Some((reference.clone(), query.clone()));
        let query = (!query.is_empty()).then_some(query);
        let frame = ClientFrame::Users(proto::Users { query, user_ids: None, limit: Some(limit) });
        Some(Cmd::Send(frame, Some(reference)))
    }

    /// Takes an answer if it is the one waited for.
    fn answer(&mut self, reference: &str, found: &[Person]) {
        if let Some((_, query)) = self.waiting.take_if(|(r, _)| r == reference) {
            self.answered = Some((query, found.to_vec()));
        }
    }

    fn waiting_for(&self, reference: &str) -> bool {
        self.waiting.as_ref().is_some_and(|(r, _)| r == reference)
    }

    fn found(&self) -> &[Person] {
        self.answered.as_ref().map_or(&[], |(_, found)| found)
    }
}

/// `/users`: people from the directory to pick one from.
#[derive(Debug, Clone, Default)]
pub struct Picker {
    pub query: String,
    pub selected: usize,
    /// Why the directory refused, if it did.
    pub error: Option<String>,
    lookup: Lookup,
}

impl Picker {
    /// The people listed: the newest answer, narrowed to what is typed now.
    pub fn shown(&self) -> Vec<&Person> {
        self.lookup.found().iter().filter(|p| people::matches(&self.query, &p.user_id, &p.display_name)).collect()
    }

    /// A lookup is waiting or on its way.
    pub fn loading(&self) -> bool {
        self.lookup.due.is_some() || self.lookup.waiting.is_some()
    }
}

/// `/whois`: one person's profile and the rooms you are both in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whois {
    pub person: Person,
    pub rooms: Vec<String>,
}

impl App {
    /// How you are shown.
    pub fn my_name(&self) -> &str {
        if self.people.display_name.is_empty() { &self.me } else { &self.people.display_name }
    }

    pub(super) fn signed_in_profile(&mut self, display_name: String, status_text: String) {
        self.people.display_name = display_name;
        self.people.status_text = status_text;
    }

    pub(super) fn people_command(&mut self, cmd: Command) -> Vec<Cmd> {
        match cmd {
            Command::Nick(name) => self.set_profile("profile:nick", Some(name), None),
            Command::Status(text) => self.set_profile("profile:status", None, Some(text)),
            Command::Whois(name) => self.cmd_whois(&name),
            Command::Users(query) => {
                let mut picker = Picker { query: query.unwrap_or_default(), ..Picker::default() };
                picker.lookup.schedule(&picker.query, self.now);
                let cmd = picker.lookup.fire(self.now, "users", LIST_LIMIT, &mut self.people.next_ref);
                self.people.picker = Some(picker);
                cmd.into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    fn set_profile(&mut self, reference: &str, display_name: Option<String>, status_text: Option<String>) -> Vec<Cmd> {
        let frame = ClientFrame::SetProfile(proto::SetProfile { display_name, status_text });
        vec![Cmd::Send(frame, Some(reference.to_string()))]
    }

    /// Who `name` is: a login we know (any case), else the one person who
    /// goes by that display name, else `name` itself if it can be a login.
    fn resolve(&self, name: &str) -> Result<String, String> {
        let everyone = self.everyone();
        if let Some(p) = everyone.iter().find(|p| p.user_id.eq_ignore_ascii_case(name)) {
            return Ok(p.user_id.clone());
        }
        let wanted = sanitize::line(name).to_lowercase();
        let by_name: Vec<&Person> =
            everyone.iter().filter(|p| sanitize::line(&p.display_name).to_lowercase() == wanted).collect();
        match by_name.as_slice() {
            [one] => Ok(one.user_id.clone()),
            [] if proto::validate::guest_id("user", name).is_ok() => Ok(name.to_string()),
            [] => Err(format!("no one here goes by “{}”; try /users {}", sanitize::line(name), sanitize::line(name))),
            many => {
                let who: Vec<String> = many.iter().map(|p| format!("@{}", sanitize::line(&p.user_id))).collect();
                Err(format!("{} people go by “{}”: {}", many.len(), sanitize::line(name), who.join(", ")))
            }
        }
    }

    fn cmd_whois(&mut self, name: &str) -> Vec<Cmd> {
        let user = match self.resolve(name) {
            Ok(user) => user,
            Err(e) => {
                self.notice(e, true);
                return Vec::new();
            }
        };
        self.people.next_ref += 1;
        let reference = format!("whois:{}", self.people.next_ref);
        self.people.whois_ref = Some((reference.clone(), user.clone()));
        let frame = ClientFrame::Users(proto::Users { query: None, user_ids: Some(vec![user]), limit: None });
        vec![Cmd::Send(frame, Some(reference))]
    }

    /// Everyone we know of: room members (with what their rooms say), then
    /// people from directory answers; each once.
    fn everyone(&self) -> Vec<Person> {
        let mut seen = BTreeMap::new();
        for room in &self.rooms {
            for m in &room.members {
                seen.entry(m.to_lowercase()).or_insert_with(|| Person::in_room(room, m));
            }
        }
        for (id, p) in &self.people.known {
            seen.entry(id.clone()).or_insert_with(|| p.clone());
        }
        seen.into_values().collect()
    }

    fn shared_rooms(&self, user: &str) -> Vec<String> {
        self.rooms.iter().filter(|r| r.has_member(user)).map(|r| r.label(&self.me)).collect()
    }

    // ----- frames ---------------------------------------------------------

    /// `ROOM_MEMBERS_UPDATE`'s names and status texts.
    pub(super) fn member_profiles(
        &mut self,
        room_id: &str,
        display_names: BTreeMap<String, String>,
        status_texts: BTreeMap<String, String>,
    ) {
        let room = self.room_mut(room_id);
        room.display_names = display_names;
        room.status_texts = status_texts;
    }

    /// `PROFILE`: someone (maybe you, maybe on another device) changed how they are shown.
    pub(super) fn profile(&mut self, user: &str, display_name: String, status_text: String, reference: &str) {
        for room in self.rooms.iter_mut().filter(|r| r.has_member(user)) {
            room.set_profile(user, &display_name, &status_text);
        }
        if let Some(p) = self.people.known.get_mut(&user.to_lowercase()) {
            p.display_name.clone_from(&display_name);
            p.status_text.clone_from(&status_text);
        }
        if !user.eq_ignore_ascii_case(&self.me) {
            return;
        }
        let text = match reference {
            "profile:nick" => format!("you are now shown as {}", sanitize::line(&display_name)),
            "profile:status" if status_text.is_empty() => "status text cleared".to_string(),
            "profile:status" => format!("status: {}", sanitize::line(&status_text)),
            _ => String::new(),
        };
        self.signed_in_profile(display_name, status_text);
        if !text.is_empty() {
            self.notice(text, false);
        }
    }

    /// `USERS`: an answer to `/whois`, `/users` or the switcher, by `ref`.
    pub(super) fn users(&mut self, users: Vec<UserProfile>, reference: &str) {
        let found: Vec<Person> = users.into_iter().map(Person::from).collect();
        for p in &found {
            self.people.known.insert(p.user_id.to_lowercase(), p.clone());
        }
        if let Some((_, asked)) = self.people.whois_ref.take_if(|(r, _)| r == reference) {
            self.show_whois(&asked, found.into_iter().next());
        } else if let Some(picker) = self.people.picker.as_mut().filter(|p| p.lookup.waiting_for(reference)) {
            picker.lookup.answer(reference, &found);
            picker.error = None;
            picker.selected = picker.selected.min(picker.shown().len().saturating_sub(1));
        } else {
            self.people.find.answer(reference, &found);
        }
    }

    fn show_whois(&mut self, asked: &str, found: Option<Person>) {
        // Not in the directory (a guest, say) but in a room with us: what the room says.
        let local = || self.rooms.iter().find(|r| r.has_member(asked)).map(|r| Person::in_room(r, asked));
        match found.or_else(local) {
            Some(person) => {
                let rooms = self.shared_rooms(&person.user_id);
                self.people.whois = Some(Whois { person, rooms });
            }
            None => self.notice(format!("no user “{}”; /users finds people by name", sanitize::line(asked)), true),
        }
    }

    /// An `ERROR` answering one of ours; true if it was.
    pub(super) fn people_error(&mut self, reference: &str, message: &str) -> bool {
        if let Some(what) = reference.strip_prefix("profile:") {
            let what = if what == "nick" { "display name" } else { "status text" };
            self.notice(format!("could not change your {what}: {message}"), true);
        } else if self.people.whois_ref.take_if(|(r, _)| r == reference).is_some() {
            self.notice(format!("/whois: {message}"), true);
        } else if let Some(picker) = self.people.picker.as_mut().filter(|p| p.lookup.waiting_for(reference)) {
            picker.lookup.waiting = None;
            picker.error = Some(message.to_string());
        } else if self.people.find.waiting_for(reference) {
            // The switcher still shows rooms and known people; nothing to say.
            self.people.find.waiting = None;
        } else {
            return false;
        }
        true
    }

    /// Sends the directory lookups whose pause in typing is over.
    pub(super) fn people_tick(&mut self, now: Instant) -> Vec<Cmd> {
        if !self.online() {
            return Vec::new();
        }
        let people = &mut self.people;
        let mut cmds: Vec<Cmd> = people.find.fire(now, "find", FIND_LIMIT, &mut people.next_ref).into_iter().collect();
        if let Some(picker) = people.picker.as_mut() {
            cmds.extend(picker.lookup.fire(now, "users", LIST_LIMIT, &mut people.next_ref));
        }
        cmds
    }

    // ----- keys -----------------------------------------------------------

    /// Keys for the `/whois` card and the `/users` list, while one is open.
    pub(super) fn people_key(&mut self, key: KeyEvent) -> Option<Vec<Cmd>> {
        if self.people.whois.is_some() {
            if matches!(key.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q')) {
                self.people.whois = None;
            }
            return Some(Vec::new());
        }
        let now = self.now;
        let picker = self.people.picker.as_mut()?;
        let last = picker.shown().len().saturating_sub(1);
        match key.code {
            KeyCode::Esc => self.people.picker = None,
            KeyCode::Up => picker.selected = picker.selected.saturating_sub(1),
            KeyCode::Down => picker.selected = (picker.selected + 1).min(last),
            KeyCode::PageUp => picker.selected = picker.selected.saturating_sub(PICKER_PAGE),
            KeyCode::PageDown => picker.selected = (picker.selected + PICKER_PAGE).min(last),
            KeyCode::Home => picker.selected = 0,
            KeyCode::End => picker.selected = last,
            KeyCode::Enter => {
                let user = picker.shown().get(picker.selected).map(|p| p.user_id.clone());
                self.people.picker = None;
                return Some(user.map(|u| self.open_dm(&u)).unwrap_or_default());
            }
            KeyCode::Backspace | KeyCode::Char(_) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                match key.code {
                    KeyCode::Char(c) => picker.query.push(c),
                    _ => {
                        picker.query.pop();
                    }
                }
                picker.selected = 0;
                picker.error = None;
                if proto::validate::bounded("query", &picker.query, proto::validate::MAX_DISPLAY_NAME_CHARS).is_ok()
                    || picker.query.is_empty()
                {
                    picker.lookup.schedule(&picker.query, now + LOOKUP_DELAY);
                }
            }
            _ => {}
        }
        Some(Vec::new())
    }

    /// Opens (or goes to) the direct conversation with `user`.
    pub(super) fn open_dm(&mut self, user: &str) -> Vec<Cmd> {
        if user.eq_ignore_ascii_case(&self.me) {
            self.notice("that is you", true);
            return Vec::new();
        }
        let room = proto::validate::dm_room_id(&self.me, user);
        if self.room_index(&room).is_some() {
            return self.switch_to(&room);
        }
        if !self.online() {
            self.notice("not connected; try again once reconnected", true);
            return Vec::new();
        }
        let frame = ClientFrame::OpenDm(proto::OpenDm { user_id: user.to_string() });
        vec![Cmd::Send(frame, Some("open".into()))]
    }

    // ----- the switcher ----------------------------------------------------

    /// The switcher's query changed: look people up once typing pauses.
    pub(super) fn switcher_typed(&mut self) {
        let query = self.switcher.as_ref().map(|s| s.query.trim().to_string()).unwrap_or_default();
        let ok = proto::validate::bounded("query", &query, proto::validate::MAX_DISPLAY_NAME_CHARS).is_ok();
        if ok {
            self.people.find.schedule(&query, self.now + LOOKUP_DELAY);
        } else {
            self.people.find.due = None;
        }
    }

    /// People matching the switcher's query, after its rooms: those we
    /// share a room with first. Nobody for an empty query; not you, and not
    /// someone whose DM is already listed among the rooms.
    pub fn switcher_people(&self) -> Vec<Person> {
        let query = self.switcher.as_ref().map(|s| s.query.trim().to_string()).unwrap_or_default();
        if query.is_empty() {
            return Vec::new();
        }
        let listed: Vec<String> = self.switcher_matches().iter().map(|i| self.rooms[*i].id.clone()).collect();
        let mut found: Vec<Person> = self.everyone();
        for p in self.people.find.found() {
            if !found.iter().any(|f| f.user_id.eq_ignore_ascii_case(&p.user_id)) {
                found.push(p.clone());
            }
        }
        found.retain(|p| {
            !p.user_id.eq_ignore_ascii_case(&self.me)
                && people::matches(&query, &p.user_id, &p.display_name)
                && !listed.contains(&proto::validate::dm_room_id(&self.me, &p.user_id))
        });
        let shared = |p: &Person| self.rooms.iter().any(|r| r.has_member(&p.user_id));
        found.sort_by_key(|p| (!shared(p), p.user_id.to_lowercase()));
        found
    }

    // ----- names ------------------------------------------------------------

    /// Tab on a name: `@` + a login or display name completes to `@login`;
    /// a bare name to the login.
    pub(super) fn complete_person(&mut self, start: usize, word: &str) {
        let Some(room) = self.current_room() else { return };
        let at = word.starts_with('@');
        let members: Vec<(String, String)> =
            room.members.iter().map(|m| (m.clone(), room.display_name(m).to_string())).collect();
        let found = people::completions(word.trim_start_matches('@'), &members);
        let insert = |login: &str| match (at, start) {
            (true, _) => format!("@{login} "),
            (false, 0) => format!("{login}: "),
            (false, _) => format!("{login} "),
        };
        let texts: Vec<String> = found.iter().map(|(login, _)| insert(login)).collect();
        let common = super::compose::common_prefix(&texts.iter().collect::<Vec<_>>());
        let extends =
            common.chars().count() > word.chars().count() && common.to_lowercase().starts_with(&word.to_lowercase());
        let names = Names::of_room(room);
        let list: Vec<String> = found
            .iter()
            .map(|(login, _)| {
                let shown = names.member(room, login);
                shown.login.as_ref().map_or_else(|| shown.name.clone(), |l| format!("{} ({l})", shown.name))
            })
            .collect();
        match texts.as_slice() {
            [] => {}
            [one] => self.input.replace_word(start, one),
            _ if extends => self.input.replace_word(start, &common),
            _ => self.notice(list.join("  "), false),
        }
    }

    /// `/who`: each member with presence, name, login and status text.
    pub(super) fn who_lines(&self) -> Vec<String> {
        let Some(room) = self.current_room() else { return Vec::new() };
        let names = Names::of_room(room);
        room.members
            .iter()
            .map(|m| {
                let on = room.online.iter().any(|o| o.eq_ignore_ascii_case(m));
                let shown = names.member(room, m);
                let admin = if room.is_admin(m) { "@" } else { "" };
                let mut line = format!("{} {admin}{}", if on { "●" } else { "○" }, shown.name);
                if let Some(login) = &shown.login {
                    line.push_str(&format!(" ({login})"));
                }
                let status = room.status_text(m);
                if !status.is_empty() {
                    line.push_str(&format!(" — {}", sanitize::line(status)));
                }
                line
            })
            .collect()
    }

    /// A member's name as the typing line shows it.
    pub(super) fn typer_name(&self, user: &str) -> String {
        self.current_room().map_or_else(|| sanitize::line(user), |r| Names::of_room(r).member(r, user).label())
    }
}
