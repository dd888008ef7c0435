//! People as the client shows them, as a pure model: a person's profile
//! ([`Person`]), how a name is shown in one room ([`Names`]: the display
//! name, with the login name added where two people go by the same name),
//! the directory's matching rule, @-completion candidates, and fitting a name
//! and its login into a few columns. Everything shown is sanitized here.

use std::collections::{BTreeMap, BTreeSet};

use chaty_proto::{PresenceStatus, UserProfile};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::room::Room;
use crate::sanitize;

/// A user's profile as the client knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The login name: the identity for mentions and DMs.
    pub user_id: String,
    pub display_name: String,
    pub status_text: String,
    /// Presence, when known (the server tells it for people you share a room with).
    pub status: Option<PresenceStatus>,
    /// When they were last connected (RFC 3339), if offline and known.
    pub last_seen: Option<String>,
}

impl Person {
    /// Someone known only by their login.
    pub fn new(user_id: &str) -> Self {
        Self {
            user_id: user_id.to_string(),
            display_name: user_id.to_string(),
            status_text: String::new(),
            status: None,
            last_seen: None,
        }
    }

    /// A room member as that room's member list describes them.
    pub fn in_room(room: &Room, user_id: &str) -> Self {
        let on = room.online.iter().any(|o| o.eq_ignore_ascii_case(user_id));
        let away = room.away.iter().any(|o| o.eq_ignore_ascii_case(user_id));
        let status = match (on, away) {
            (true, true) => PresenceStatus::Away,
            (true, false) => PresenceStatus::Online,
            _ => PresenceStatus::Offline,
        };
        Self {
            user_id: user_id.to_string(),
            display_name: room.display_name(user_id).to_string(),
            status_text: room.status_text(user_id).to_string(),
            status: Some(status),
            last_seen: room.last_seen.get(user_id).filter(|_| !on).cloned(),
        }
    }

    /// How this person is shown when nobody else shares their name.
    pub fn shown(&self) -> Shown {
        Names::default().show(&self.user_id, &self.display_name)
    }
}

impl From<UserProfile> for Person {
    fn from(p: UserProfile) -> Self {
        Self {
            user_id: p.user_id,
            display_name: p.display_name,
            status_text: p.status_text,
            status: p.status,
            last_seen: p.last_seen,
        }
    }
}

/// A name made ready to draw: the display name (sanitized), the login when
/// it differs, and whether the login must be shown because someone else in
/// the room goes by the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub name: String,
    pub login: Option<String>,
    pub ambiguous: bool,
}

impl Shown {
    /// `Alex`, or `Alex (alex2)` when the name is shared.
    pub fn label(&self) -> String {
        match (&self.login, self.ambiguous) {
            (Some(login), true) => format!("{} ({login})", self.name),
            _ => self.name.clone(),
        }
    }

    /// [`Shown::label`] in at most `cols` columns. A shared name gives up
    /// its own letters before the login; with no room for both, the login
    /// alone is shown (it is who they are).
    pub fn fit(&self, cols: usize) -> String {
        let label = self.label();
        if label.width() <= cols {
            return label;
        }
        match (&self.login, self.ambiguous) {
            (Some(login), true) => {
                let tail = format!(" ({login})");
                let room_for_name = cols.saturating_sub(tail.width());
                if room_for_name >= 2 {
                    format!("{}{tail}", truncate(&self.name, room_for_name))
                } else {
                    truncate(login, cols)
                }
            }
            _ => truncate(&self.name, cols),
        }
    }
}

/// `text` in at most `cols` columns, cut with `…` when it does not fit.
pub fn truncate(text: &str, cols: usize) -> String {
    if text.width() <= cols {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > cols {
            break;
        }
        out.push(c);
        used += w;
    }
    if cols > 0 {
        out.push('…');
    }
    out
}

/// How names compare: as drawn, ignoring case and surrounding spaces.
fn fold(name: &str) -> String {
    sanitize::line(name).trim().to_lowercase()
}

/// Who goes by which name in one room: every member by their login and
/// their display name, every sender by the name on their messages.
#[derive(Debug, Clone, Default)]
pub struct Names {
    claims: BTreeMap<String, BTreeSet<String>>,
}

impl Names {
    pub fn of_room(room: &Room) -> Self {
        let mut names = Self::default();
        for m in &room.members {
            names.claim(m, m);
            names.claim(m, room.display_name(m));
        }
        for m in &room.messages {
            names.claim(&m.user_id, &m.user_id);
            names.claim(&m.user_id, &m.user_name);
        }
        names
    }

    pub fn claim(&mut self, user_id: &str, name: &str) {
        self.claims.entry(fold(name)).or_default().insert(fold(user_id));
    }

    /// How `user_id`, going by `name`, is shown here.
    pub fn show(&self, user_id: &str, name: &str) -> Shown {
        let (key, me) = (fold(name), fold(user_id));
        let shown = sanitize::line(name).trim().to_string();
        let login = (key != me || shown.is_empty()).then(|| sanitize::line(user_id));
        let ambiguous = login.is_some() && self.claims.get(&key).is_some_and(|ids| ids.iter().any(|id| *id != me));
        let name = if shown.is_empty() { sanitize::line(user_id) } else { shown };
        Shown { name, login, ambiguous }
    }

    /// [`Names::show`] for a member of `room`, by their current display name.
    pub fn member(&self, room: &Room, user_id: &str) -> Shown {
        self.show(user_id, room.display_name(user_id))
    }
}

/// The directory's rule: `query` (any case) starts the login name, or starts
/// a word of the display name (and may run on over the words after it).
pub fn matches(query: &str, user_id: &str, display_name: &str) -> bool {
    let q = query.trim().to_lowercase();
    if q.is_empty() {
        return true;
    }
    let words: String = display_name.split_whitespace().map(|w| format!(" {}", w.to_lowercase())).collect();
    user_id.to_lowercase().starts_with(&q) || words.contains(&format!(" {q}"))
}

/// People whose login or display name starts with `prefix`, for Tab:
/// login matches first, each group by login.
pub fn completions<'a>(prefix: &str, people: &'a [(String, String)]) -> Vec<&'a (String, String)> {
    let lower = prefix.to_lowercase();
    let mut found: Vec<(bool, &(String, String))> = people
        .iter()
        .filter(|(login, display)| matches(prefix, login, &sanitize::line(display)))
        .map(|p| (!p.0.to_lowercase().starts_with(&lower), p))
        .collect();
    found.sort_by_key(|a| (a.0, a.1.0.to_lowercase()));
    found.dedup_by(|a, b| a.1.0.eq_ignore_ascii_case(&b.1.0));
    found.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(members: &[(&str, &str)]) -> Room {
        let mut room = Room::new("general");
        for (id, shown) in members {
            room.members.push((*id).to_string());
            if id != shown {
                room.display_names.insert((*id).to_string(), (*shown).to_string());
            }
        }
        room
    }

    #[test]
    fn shared_display_names_add_the_login() {
        let r = room(&[("alex1", "Alex"), ("alex2", "alex"), ("bob", "Bob 🎸"), ("carol", "carol")]);
        let names = Names::of_room(&r);
        assert_eq!(names.member(&r, "alex1").label(), "Alex (alex1)");
        assert_eq!(names.member(&r, "alex2").label(), "alex (alex2)");
        assert_eq!(names.member(&r, "bob").label(), "Bob 🎸");
        assert_eq!(names.member(&r, "bob").login.as_deref(), Some("bob"));
        assert_eq!(names.member(&r, "carol"), Shown { name: "carol".into(), login: None, ambiguous: false });
    }

    #[test]
    fn a_name_that_is_someone_elses_login_is_marked() {
        let r = room(&[("bob", "bob"), ("mallory", "Bob")]);
        let names = Names::of_room(&r);
        assert_eq!(names.member(&r, "bob").label(), "bob", "the real bob keeps his name");
        assert_eq!(names.member(&r, "mallory").label(), "Bob (mallory)");
    }

    #[test]
    fn names_on_old_messages_count_too() {
        let mut r = room(&[("alex1", "Al"), ("alex2", "Alex")]);
        r.insert(chaty_proto::Message {
            seq: 1,
            user_id: "alex1".into(),
            user_name: "Alex".into(),
            ..Default::default()
        });
        let names = Names::of_room(&r);
        assert_eq!(names.show("alex1", "Alex").label(), "Alex (alex1)");
        assert_eq!(names.member(&r, "alex2").label(), "Alex (alex2)");
    }

    #[test]
    fn hostile_names_are_sanitized_and_cannot_fake_a_match() {
        let names = Names::default();
        let shown = names.show("mallory", "\u{202E}evil\u{1b}[2J");
        assert_eq!(shown.name, "evil");
        assert_eq!(names.show("bob", " ").label(), "bob", "nothing left to show: the login");
    }

    #[test]
    fn fitting_keeps_the_login_of_a_shared_name() {
        let shared = Shown { name: "Alexandra".into(), login: Some("alex2".into()), ambiguous: true };
        assert_eq!(shared.fit(30), "Alexandra (alex2)");
        assert_eq!(shared.fit(12), "Ale… (alex2)");
        assert_eq!(shared.fit(10), "A… (alex2)");
        assert_eq!(shared.fit(9), "alex2");
        let plain = Shown { name: "寿司寿司寿司".into(), login: Some("sushi".into()), ambiguous: false };
        assert_eq!(plain.fit(7), "寿司寿…");
        assert!(plain.fit(7).width() <= 7);
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn directory_matching_is_by_login_or_word_prefix() {
        assert!(matches("ali", "alice", "Alice Liddell"));
        assert!(matches("LIDD", "alice", "Alice Liddell"));
        assert!(matches("alice lid", "al", "Alice Liddell"));
        assert!(!matches("iddell", "alice", "Alice Liddell"));
        assert!(matches("", "x", "y"));
    }

    #[test]
    fn completion_prefers_logins() {
        let people = vec![
            ("zed".to_string(), "Alan".to_string()),
            ("alice".to_string(), "alice".to_string()),
            ("bob".to_string(), "Bob".to_string()),
        ];
        let found: Vec<&str> = completions("al", &people).iter().map(|p| p.0.as_str()).collect();
        assert_eq!(found, ["alice", "zed"]);
    }
}
