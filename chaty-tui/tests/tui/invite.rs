//! Registering on a server that needs an invitation: the sign-in form's
//! Invite field goes with REGISTER (never with LOGIN), and the server's
//! "needs an invite" refusal puts the cursor there.

use chaty_proto::{ErrorCode, ServerFrame};
use chaty_tui::app::{App, Field, Msg, NetEvent};
use crossterm::event::KeyCode;
use serde_json::json;
use tokio::time::Instant;

use crate::support::*;

#[test]
fn an_invite_goes_with_register_and_a_refusal_asking_for_one_focuses_it() {
    let now = Instant::now();
    let mut app = App::new("ws://127.0.0.1:8181/ws", "carol", None, "t");
    app.update(Msg::Net(NetEvent::Connected), now);
    type_text(&mut app, "correct horse", now);
    let cmds = app.update(ctrl('r'), now);
    assert_eq!(sent(&cmds)[0].get("invite"), None, "none typed: none sent");
    let needs = "registration needs an invite on this server: send `invite`";
    app.update(reply(ServerFrame::error(ErrorCode::Forbidden, needs), "auth"), now);
    assert_eq!(app.signin.focus, Some(Field::Invite));
    assert!(app.signin.error.as_deref().is_some_and(|e| e.contains("needs an invite")));

    // Pasted, as a token usually is; Ctrl-R sends it, trimmed.
    app.update(Msg::Paste(" ci_5f0c \n".into()), now);
    let cmds = app.update(ctrl('r'), now);
    assert_eq!(
        sent(&cmds),
        [
            json!({"type": "REGISTER", "userName": "carol", "password": "correct horse", "invite": "ci_5f0c", "ref": "auth"})
        ]
    );
    app.update(reply(ServerFrame::error(ErrorCode::Forbidden, "that invite is not valid"), "auth"), now);
    // Logging in never sends it.
    let cmds = app.update(key(KeyCode::Enter), now);
    assert_eq!(
        sent(&cmds),
        [json!({"type": "LOGIN", "userName": "carol", "password": "correct horse", "ref": "auth"})]
    );
}

#[test]
fn tab_goes_round_the_four_fields() {
    let now = Instant::now();
    let mut app = App::new("ws://127.0.0.1:8181/ws", "", None, "t");
    let mut seen = Vec::new();
    for _ in 0..4 {
        app.update(key(KeyCode::Tab), now);
        seen.push(app.signin.focus);
    }
    assert_eq!(seen, [Some(Field::Password), Some(Field::Invite), Some(Field::Server), Some(Field::User)]);
    app.update(key(KeyCode::BackTab), now);
    assert_eq!(app.signin.focus, Some(Field::Server));
    app.update(key(KeyCode::BackTab), now);
    assert_eq!(app.signin.focus, Some(Field::Invite));
}
