//! Property tests: the parser never panics and what it accepts round-trips;
//! and the committed fuzz corpus runs as regression tests on stable.

use chaty_proto::{ClientFrame, parse_client};
use proptest::prelude::*;

fn check(text: &str) {
    if let Ok(request) = parse_client(text) {
        let again = parse_client(&request.frame.to_json(request.reference.as_deref()))
            .expect("a frame we accepted must parse again from our own JSON");
        assert_eq!(again, request, "{text}");
    }
}

/// JSON values of any shape, small.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: &[&str] = &[
    "roomId",
    "userId",
    "userName",
    "content",
    "clientId",
    "replyTo",
    "since",
    "before",
    "after",
    "limit",
    "password",
    "token",
    "refreshToken",
    "topic",
    "private",
    "typing",
    "seq",
    "messageId",
    "emoji",
    "remove",
    "status",
    "query",
    "attachment",
    "ref",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        check(&text);
    }

    #[test]
    fn frames_with_real_types_and_random_fields(kind in prop::sample::select(chaty_proto::CLIENT_TYPES), fields in prop::collection::vec((prop::sample::select(FIELDS), json()), 0..6)) {
        let mut object = serde_json::Map::new();
        object.insert("type".into(), kind.into());
        for (name, value) in fields {
            object.insert(name.to_string(), value);
        }
        check(&serde_json::Value::Object(object).to_string());
    }

    #[test]
    fn chat_messages_round_trip(content in "[^\u{0}]{1,300}", client_id in "[a-zA-Z0-9-]{1,64}", room in "[a-z0-9][a-z0-9_-]{0,20}") {
        prop_assume!(!content.trim().is_empty());
        let frame = serde_json::json!({"type": "CHAT_MESSAGE", "roomId": room, "content": content, "clientId": client_id});
        let parsed = parse_client(&frame.to_string()).expect("valid");
        let ClientFrame::ChatMessage(m) = &parsed.frame else { panic!("not a chat message") };
        prop_assert_eq!(&m.content, &content);
        check(&frame.to_string());
    }
}

#[test]
fn the_fuzz_corpus_still_parses_without_panicking() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_client");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        if let Ok(text) = std::str::from_utf8(&bytes) {
            check(text);
        }
        n += 1;
    }
    assert!(n >= 20, "the corpus is in {}", dir.display());
}
