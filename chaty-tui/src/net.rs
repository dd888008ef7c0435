//! The network task: keeps one WebSocket to the server, reconnecting with
//! exponential backoff and jitter, and turns everything it sees into
//! [`Msg::Net`] events. It makes no decisions: signing in again and catching
//! up after a reconnect are the app's job. A server certificate this client
//! does not trust is the one thing it does not retry: trying again cannot
//! help, so it reports [`NetEvent::Failed`] and stops.

use std::sync::Arc;
use std::time::Duration;

use chaty_proto::ClientFrame;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::app::{Msg, NetEvent};
use crate::tls::Trust;

/// First retry delay; doubles per failed attempt up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Handle to the running network task; dropping it disconnects.
pub struct Net {
    frames: mpsc::UnboundedSender<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Net {
    /// Connects to `url` (`tls` is used for `wss://`) and keeps reconnecting.
    pub fn spawn(url: String, tls: impl Into<Trust>, events: mpsc::Sender<Msg>) -> Self {
        let (frames, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(url, tls.into(), rx, events));
        Self { frames, task }
    }

    /// Queues a frame for the current connection. Frames queued while
    /// disconnected are dropped at the next connect; the app resends what matters.
    pub fn send(&self, frame: &ClientFrame, reference: Option<&str>) {
        let _ = self.frames.send(frame.to_json(reference));
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The delay before retry number `attempt` (1-based), with ±25 % jitter.
pub fn backoff(attempt: u32) -> Duration {
    let base = MIN_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_BACKOFF);
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    let jitter = 0.75 + f64::from(byte[0]) / 255.0 * 0.5;
    base.mul_f64(jitter).min(MAX_BACKOFF)
}

async fn run(url: String, tls: Trust, mut frames: mpsc::UnboundedReceiver<String>, events: mpsc::Sender<Msg>) {
    let mut attempt = 0;
    loop {
        let _ = events.send(Msg::Net(NetEvent::Connecting)).await;
        let reason = match tokio::time::timeout(CONNECT_TIMEOUT, connect(&url, &tls.config)).await {
            Ok(Ok((ws, _))) => {
                while frames.try_recv().is_ok() {}
                attempt = 0;
                let _ = events.send(Msg::Net(NetEvent::Connected)).await;
                pump(ws, &mut frames, &events).await
            }
            Ok(Err(e)) => match tls.problem(&e) {
                Some(reason) => {
                    tracing::warn!("not connecting to {url}: {reason} ({e})");
                    let _ = events.send(Msg::Net(NetEvent::Failed { reason })).await;
                    return;
                }
                None => connect_error(&e),
            },
            Err(_) => "the server did not answer within 10 s".to_string(),
        };
        attempt += 1;
        let delay = backoff(attempt);
        tracing::info!("disconnected ({reason}); retry {attempt} in {delay:?}");
        let retry_at = Instant::now() + delay;
        let _ = events.send(Msg::Net(NetEvent::Disconnected { reason, retry_at, attempt })).await;
        tokio::time::sleep_until(retry_at).await;
    }
}

async fn connect(
    url: &str,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<
    (
        tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    let connector = tokio_tungstenite::Connector::Rustls(tls.clone());
    tokio_tungstenite::connect_async_tls_with_config(url, None, true, Some(connector)).await
}

fn connect_error(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        Error::Io(io) => io.to_string(),
        Error::Http(response) => {
            let body = response.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            let message = chaty_proto::parse_server(&body)
                .ok()
                .and_then(|r| match r.frame {
                    chaty_proto::ServerFrame::Error { code, message, retry_after_ms } => {
                        Some(crate::words::refusal(code, &message, retry_after_ms))
                    }
                    _ => None,
                })
                .unwrap_or_else(|| format!("HTTP {}", response.status()));
            format!("refused: {message}")
        }
        other => other.to_string(),
    }
}

async fn pump(
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    frames: &mut mpsc::UnboundedReceiver<String>,
    events: &mpsc::Sender<Msg>,
) -> String {
    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            frame = frames.recv() => {
                let Some(frame) = frame else { return "client closed".into() };
                if let Err(e) = sink.send(Message::Text(frame.into())).await {
                    return e.to_string();
                }
            }
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => match chaty_proto::parse_server(&text) {
                    Ok(reply) => {
                        let _ = events.send(Msg::Net(NetEvent::Frame(Box::new(reply)))).await;
                    }
                    Err(e) => tracing::warn!("unreadable frame from server ({e}): {text}"),
                },
                Some(Ok(Message::Close(frame))) => {
                    return frame.map_or_else(
                        || "the server closed the connection".to_string(),
                        |f| if f.reason.is_empty() { format!("closed ({})", u16::from(f.code)) } else { f.reason.to_string() },
                    );
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return e.to_string(),
                None => return "the connection ended".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_thirty_seconds_with_jitter() {
        for _ in 0..50 {
            let first = backoff(1);
            assert!(first >= Duration::from_millis(375) && first <= Duration::from_millis(625), "{first:?}");
            let third = backoff(3);
            assert!(third >= Duration::from_millis(1500) && third <= Duration::from_millis(2500), "{third:?}");
            assert!(backoff(40) <= MAX_BACKOFF);
        }
    }
}
