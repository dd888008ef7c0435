//! The sending side: a sender's or history client's writer, which follows
//! each step's [`Plan`] and sends its k-th frame at `start + offset +
//! k·interval` even when behind, stamping it with the scheduled time (less
//! [`TIMER_SLACK`]). Not here: the schedule's arithmetic (`schedule.rs`).

use std::rc::Rc;
use std::time::Duration;

use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::Message;

use super::args::Protocol;
use super::client::Ws;
use super::schedule::{Plan, interval_ns, offset_ns};
use super::shared::Shared;
use crate::wire::{self, Payload};

/// Sends later than their schedule by less than this are timer granularity
/// (tokio's timer ticks in milliseconds), not backlog: latency is then
/// measured from the actual send.
pub(super) const TIMER_SLACK: Duration = Duration::from_millis(2);

/// xorshift64*: HISTORY `before` values need no better randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

pub(super) async fn write_loop(
    sh: Rc<Shared>,
    i: usize,
    mut sink: SplitSink<Ws, Message>,
    mut plans: watch::Receiver<Option<Plan>>,
) {
    let args = &sh.args;
    let (user, room) = (sh.user(i), sh.room(i));
    let history = sh.history_index(i);
    let sender = u32::try_from(i).unwrap_or(u32::MAX);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
    let mut seq = 0u64;
    let mut content = String::with_capacity(args.payload_bytes + 64);
    loop {
        if plans.changed().await.is_err() {
            return;
        }
        let Some(plan) = plans.borrow_and_update().clone() else {
            return;
        };
        let (interval, off) = match history {
            Some(h) => {
                let interval = interval_ns(args.history_rate);
                (interval, offset_ns(interval, h, args.history_clients))
            }
            None => {
                let interval = interval_ns(plan.rate);
                (interval, offset_ns(interval, i, args.senders))
            }
        };
        let mut k = 0u64;
        loop {
            let rel = off + k * interval;
            if rel >= plan.end_ns {
                break;
            }
            k += 1;
            let at = plan.start + Duration::from_nanos(rel);
            if at > Instant::now() {
                sleep_until(at).await;
            }
            let now = Instant::now();
            let sent_at = if now.saturating_duration_since(at) < TIMER_SLACK { now } else { at };
            let window = rel >= plan.warm_ns;
            let t_us = sh.clock.us(sent_at);
            let frame = match history {
                Some(_) => {
                    let before = if args.history_before_max >= 2 {
                        format!(",\"before\":{}", 2 + rng.next() % (args.history_before_max - 1))
                    } else {
                        String::new()
                    };
                    format!(
                        r#"{{"type":"HISTORY","roomId":"{room}","limit":{}{before},"ref":"{}"}}"#,
                        args.history_limit,
                        wire::history_ref(plan.idx, window, t_us)
                    )
                }
                None => {
                    content.clear();
                    Payload { sender, seq, step: plan.idx, window, t_us }.write(&mut content, args.payload_bytes);
                    let ids = if args.client_ids {
                        let r = wire::message_ref(plan.idx, window, sender);
                        format!(r#","clientId":"c{}-{seq}","ref":"{r}""#, sh.nonce)
                    } else {
                        String::new()
                    };
                    match args.protocol {
                        // As the seed's own client writes it: a display name with a space.
                        Protocol::Seed => format!(
                            r#"{{"type":"CHAT_MESSAGE","roomId":"{room}","userId":"{user}","userName":"User {user}","content":"{content}"{ids}}}"#
                        ),
                        Protocol::Chaty if ids.is_empty() => format!(
                            r#"{{"type":"CHAT_MESSAGE","roomId":"{room}","content":"{content}","clientId":"c{}-{seq}"}}"#,
                            sh.nonce
                        ),
                        Protocol::Chaty => {
                            format!(r#"{{"type":"CHAT_MESSAGE","roomId":"{room}","content":"{content}"{ids}}}"#)
                        }
                    }
                }
            };
            seq += u64::from(history.is_none());
            let ok = sink.send(Message::text(frame)).await.is_ok();
            if let Some(st) = sh.step.borrow_mut().as_mut().filter(|st| st.idx == plan.idx) {
                match (ok, window, history.is_some()) {
                    (false, _, _) => st.send_errors += 1,
                    (true, true, false) => st.sent += 1,
                    (true, true, true) => st.history_sent += 1,
                    (true, false, _) => {}
                }
            }
            if !ok {
                return;
            }
        }
    }
}
