//! What goes over the wire: the URL (loopback only), the frames chaty-load
//! sends, and cheap readers for the frames it receives.
//!
//! Servers only relay `content` (plus `userId`/`userName`), so the
//! measurement rides inside `content` as `s=<sender>;n=<seq>;p=<step>;w=<0|1>;t=<µs>;`
//! followed by padding. Every server under test serializes `type` first, so a
//! frame's type is read from its prefix without parsing the JSON; anything
//! else falls back to serde_json.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, Result, bail};

/// A `ws://` URL on a loopback address.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub addr: SocketAddr,
}

impl Target {
    /// Parses `ws://HOST:PORT/PATH`; refuses anything that is not loopback.
    pub fn parse(url: &str) -> Result<Self> {
        let rest = url.strip_prefix("ws://").with_context(|| format!("{url:?}: only ws:// URLs are supported"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, port) = v6.split_once("]:").with_context(|| format!("{url:?}: expected [HOST]:PORT"))?;
            (host, port)
        } else {
            authority.rsplit_once(':').with_context(|| format!("{url:?}: the URL needs an explicit port"))?
        };
        let port: u16 = port.parse().with_context(|| format!("{url:?}: bad port {port:?}"))?;
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse().with_context(|| format!("{url:?}: host must be an IP address or localhost"))?
        };
        if !ip.is_loopback() {
            bail!("{url:?}: chaty-load only targets loopback addresses (127.0.0.0/8, ::1)");
        }
        Ok(Self { url: url.to_string(), addr: SocketAddr::new(ip, port) })
    }
}

/// The measurement a chat message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    /// Index of the sending client.
    pub sender: u32,
    /// Per-sender sequence number, from 0, across all steps of a run.
    pub seq: u64,
    /// Which step of the run scheduled it.
    pub step: u32,
    /// Scheduled inside the step's measurement window (not warm-up).
    pub window: bool,
    /// Scheduled send time, µs since the UNIX epoch.
    pub t_us: u64,
}

impl Payload {
    /// Writes the content string: the fields, then `x` padding up to `len` bytes.
    pub fn write(&self, out: &mut String, len: usize) {
        let _ = write!(
            out,
            "s={};n={};p={};w={};t={};",
            self.sender,
            self.seq,
            self.step,
            u8::from(self.window),
            self.t_us
        );
        while out.len() < len {
            out.push('x');
        }
    }

    pub fn parse(content: &str) -> Option<Self> {
        let mut p = Self { sender: u32::MAX, seq: u64::MAX, step: u32::MAX, window: false, t_us: 0 };
        let mut fields = 0;
        for part in content.split(';').take(5) {
            let (key, value) = part.split_once('=')?;
            match key {
                "s" => p.sender = value.parse().ok()?,
                "n" => p.seq = value.parse().ok()?,
                "p" => p.step = value.parse().ok()?,
                "w" => p.window = value == "1",
                "t" => p.t_us = value.parse().ok()?,
                _ => return None,
            }
            fields += 1;
        }
        (fields == 5).then_some(p)
    }
}

/// The frame's `type`: read from the prefix every server here writes, or by
/// parsing the JSON when the prefix is not there.
pub fn frame_type(text: &str) -> Option<Cow<'_, str>> {
    if let Some(rest) = text.strip_prefix(r#"{"type":""#) {
        if let Some(end) = rest.find('"') {
            return Some(Cow::Borrowed(&rest[..end]));
        }
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("type").and_then(|t| t.as_str()).map(|t| Cow::Owned(t.to_string()))
}

/// The value of a string field whose contents need no unescaping (ours
/// never do); `None` when absent or escaped. `key` is the field name with its
/// quotes, colon and opening quote, e.g. `"content":"` (so no allocation).
pub fn string_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let rest = &text[start..];
    let end = rest.find('"')?;
    let value = &rest[..end];
    (!value.contains('\\')).then_some(value)
}

pub const CONTENT: &str = "\"content\":\"";
pub const ROOM_ID: &str = "\"roomId\":\"";
pub const CODE: &str = "\"code\":\"";

/// The chat payload of a `CHAT_MESSAGE` frame, if it carries one of ours.
pub fn chat_payload(text: &str) -> Option<Payload> {
    let content = string_field(text, CONTENT)?;
    Payload::parse(content)
}

/// The `ref` of a reply (chaty puts it last, after the frame's own fields).
pub fn reference(text: &str) -> Option<&str> {
    let key = "\"ref\":\"";
    let start = text.rfind(key)? + key.len();
    let rest = &text[start..];
    rest.find('"').map(|end| &rest[..end])
}

/// A history request's `ref`: `h<step>-<window>-<scheduled µs>`.
pub fn history_ref(step: u32, window: bool, t_us: u64) -> String {
    format!("h{step}-{}-{t_us}", u8::from(window))
}

pub fn parse_history_ref(r: &str) -> Option<(u32, bool, u64)> {
    let mut parts = r.strip_prefix('h')?.split('-');
    let step = parts.next()?.parse().ok()?;
    let window = parts.next()? == "1";
    let t_us = parts.next()?.parse().ok()?;
    Some((step, window, t_us))
}

/// A chat message's `ref` (with `--client-ids`): `m<step>-<window>-<sender>`.
pub fn message_ref(step: u32, window: bool, sender: u32) -> String {
    format!("m{step}-{}-{sender}", u8::from(window))
}

pub fn parse_message_ref(r: &str) -> Option<(u32, bool, u32)> {
    let mut parts = r.strip_prefix('m')?.split('-');
    let step = parts.next()?.parse().ok()?;
    let window = parts.next()? == "1";
    let sender = parts.next()?.parse().ok()?;
    Some((step, window, sender))
}

/// A JSON string literal (for names and ids that might need escaping).
pub fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_inside_a_frame() {
        let p = Payload { sender: 12, seq: 345, step: 2, window: true, t_us: 1_700_000_000_123_456 };
        let mut content = String::new();
        p.write(&mut content, 80);
        assert_eq!(content.len(), 80);
        let frame = format!(
            r#"{{"type":"CHAT_MESSAGE","id":1,"seq":1,"roomId":"r0","userId":"u12","userName":"u12","content":"{content}","timestamp":"t"}}"#
        );
        assert_eq!(frame_type(&frame).as_deref(), Some("CHAT_MESSAGE"));
        assert_eq!(chat_payload(&frame), Some(p));
        assert_eq!(Payload::parse("hello"), None);
    }

    #[test]
    fn types_refs_and_urls() {
        assert_eq!(frame_type(r#"{"roomId":"r0","type":"USER_JOINED"}"#).as_deref(), Some("USER_JOINED"));
        let h = history_ref(1, true, 99);
        let frame = format!(r#"{{"type":"HISTORY","messages":[],"hasMore":true,"ref":"{h}"}}"#);
        assert_eq!(reference(&frame).and_then(parse_history_ref), Some((1, true, 99)));
        let m = message_ref(3, false, 17);
        let refusal =
            format!(r#"{{"type":"ERROR","code":"overloaded","message":"busy","retryAfterMs":50,"ref":"{m}"}}"#);
        assert_eq!(reference(&refusal).and_then(parse_message_ref), Some((3, false, 17)));
        assert_eq!(parse_message_ref(&h), None);
        assert!(Target::parse("ws://127.0.0.1:8181/ws").is_ok());
        assert!(Target::parse("ws://localhost:1/").is_ok());
        assert!(Target::parse("ws://[::1]:9/ws").is_ok());
        assert!(Target::parse("ws://10.0.0.1:8181/ws").is_err());
        assert!(Target::parse("ws://example.com:80/").is_err());
    }
}
