//! The receiving side: each connection's reader, which counts deliveries,
//! duplicates and reordering per sender ([`Track`]), latency from the
//! payload's scheduled time, HISTORY answers, and ERROR frames. Not here:
//! what is expected to arrive (`run.rs`, from `schedule.rs`).

use futures_util::{Stream, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::shared::Shared;
use crate::wire;

/// Per-sender receipt record of one receiver: which sequence numbers arrived.
#[derive(Default)]
pub(super) struct Track {
    bits: Vec<u64>,
    /// Highest sequence number seen + 1.
    next: u64,
}

impl Track {
    /// Returns (first time seen, arrived after a later one).
    pub(super) fn observe(&mut self, seq: u64) -> (bool, bool) {
        let word = usize::try_from(seq / 64).unwrap_or(usize::MAX);
        let bit = 1u64 << (seq % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        let new = self.bits[word] & bit == 0;
        self.bits[word] |= bit;
        let reordered = new && seq + 1 < self.next;
        self.next = self.next.max(seq + 1);
        (new, reordered)
    }
}

pub(super) async fn read_loop<S>(sh: &Shared, me: usize, mut stream: S) -> String
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let mut tracks: Vec<(u32, Track)> = Vec::new();
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => on_frame(sh, me, &mut tracks, text.as_str()),
            Some(Ok(Message::Close(frame))) => return format!("closed by the server: {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return format!("read: {e}"),
            None => return "connection ended".into(),
        }
    }
}

fn on_frame(sh: &Shared, me: usize, tracks: &mut Vec<(u32, Track)>, text: &str) {
    let Some(kind) = wire::frame_type(text) else {
        return;
    };
    match &*kind {
        "CHAT_MESSAGE" => {
            let Some(p) = wire::chat_payload(text) else {
                return;
            };
            if p.seq > u64::from(u32::MAX) {
                return;
            }
            let now = sh.clock.now_us();
            let at = match tracks.iter().position(|(s, _)| *s == p.sender) {
                Some(at) => at,
                None => {
                    tracks.push((p.sender, Track::default()));
                    tracks.len() - 1
                }
            };
            let (new, reordered) = tracks[at].1.observe(p.seq);
            let mut step = sh.step.borrow_mut();
            let Some(st) = step.as_mut().filter(|st| st.idx == p.step) else {
                return;
            };
            if !new {
                st.duplicates += 1;
                return;
            }
            if reordered {
                st.reorders += 1;
            }
            if p.window {
                st.delivered += 1;
                st.echoed += u64::from(p.sender as usize == me);
                st.latency.saturating_record(now.saturating_sub(p.t_us).max(1));
            }
        }
        "HISTORY" => {
            let Some((idx, window, t_us)) = wire::reference(text).and_then(wire::parse_history_ref) else {
                return;
            };
            let now = sh.clock.now_us();
            let mut step = sh.step.borrow_mut();
            if let Some(st) = step.as_mut().filter(|st| st.idx == idx && window) {
                st.history_ok += 1;
                st.history_latency.saturating_record(now.saturating_sub(t_us).max(1));
            }
        }
        "ERROR" if wire::string_field(text, wire::CODE) == Some("overloaded") => {
            // Told at once: refused, not lost (and not an error of the run).
            if let Some((idx, window, sender)) = wire::reference(text).and_then(wire::parse_message_ref) {
                let alive = sh.room_alive.borrow()[sh.room_of(sender as usize)];
                if let Some(st) = sh.step.borrow_mut().as_mut().filter(|st| st.idx == idx && window) {
                    st.refused += 1;
                    st.refused_deliveries += alive;
                }
            }
        }
        "ERROR" => {
            sh.error_frames.set(sh.error_frames.get() + 1);
            if let Some((idx, true, _)) = wire::reference(text).and_then(wire::parse_history_ref) {
                if let Some(st) = sh.step.borrow_mut().as_mut().filter(|st| st.idx == idx) {
                    st.history_errors += 1;
                }
            }
            sh.note(error_text(text));
        }
        _ => {}
    }
}

pub(super) fn error_text(frame: &str) -> String {
    let value: Value = serde_json::from_str(frame).unwrap_or(Value::Null);
    format!("ERROR {}: {}", value["code"].as_str().unwrap_or("?"), value["message"].as_str().unwrap_or(frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_find_duplicates_and_reordering() {
        let mut t = Track::default();
        assert_eq!(t.observe(0), (true, false));
        assert_eq!(t.observe(2), (true, false));
        assert_eq!(t.observe(1), (true, true));
        assert_eq!(t.observe(2), (false, false));
        assert_eq!(t.observe(200), (true, false));
    }
}
