//! chaty-tui: the terminal client. `main.rs` parses flags and calls [`run`].
//!
//! Shape (the Elm architecture): terminal events, the network task and a
//! tick all become [`app::Msg`]s; [`app::App::update`] changes state and
//! returns [`app::Cmd`]s that this module carries out; [`view::draw`] draws.

pub mod app;
pub mod command;
pub mod config;
pub mod editor;
pub mod input;
pub mod keymap;
pub mod layout;
pub mod links;
pub mod local;
pub mod net;
pub mod notify;
pub mod people;
pub mod preview;
pub mod room;
pub mod sanitize;
pub mod theme;
pub mod tls;
pub mod transcript;
pub mod transfer;
pub mod view;
pub mod words;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use crossterm::event::{Event, EventStream, KeyEventKind, MouseButton, MouseEventKind};
use crossterm::{execute, terminal};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use app::{App, Cmd, Msg};
use config::Paths;
use net::Net;

/// Where `chaty-tui` connects when nothing else says.
pub const DEFAULT_SERVER: &str = "ws://127.0.0.1:8181/ws";

/// Command-line options.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "chaty-tui", version, about = "A terminal client for chaty")]
pub struct Cli {
    /// Server URL (ws:// or wss://, or host:port). Remembered for next time.
    #[arg(long, env = "CHATY_SERVER")]
    pub server: Option<String>,
    /// User name to sign in as. Remembered for next time.
    #[arg(long, env = "CHATY_USER")]
    pub user: Option<String>,
    /// Use a chaty server on this machine: the one already on 127.0.0.1:8181,
    /// or the one another `chaty-tui --local` runs, or else one started
    /// inside this client (its database is <data dir>/local/chaty.db; on a
    /// free port, shown on screen, when something else holds 8181).
    #[arg(long, conflicts_with = "server")]
    pub local: bool,
    /// A PEM CA certificate to trust for wss:// (besides the platform's
    /// roots). Remembered for next time (in config.toml, as `ca`).
    #[arg(long, env = "CHATY_CA", value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,
    /// Keep this client's session, config and log apart from the default
    /// ones (under profiles/NAME/), e.g. to sign in as someone else in
    /// another terminal. NAME is 1 to 32 letters, digits, _ or -.
    #[arg(long, env = "CHATY_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Print the configuration in effect (config.toml with every default
    /// spelled out) and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// Runs the client until the user quits.
pub fn run(cli: Cli) -> Result<()> {
    let paths = Paths::platform(cli.profile.as_deref())?;
    let config = config::load_config(&paths.config_file())?;
    let requested = cli.server.clone().or_else(|| config.server.clone()).unwrap_or_else(|| DEFAULT_SERVER.to_string());
    let server = app::normalize_url(&requested).map_err(anyhow::Error::msg)?;
    let in_file = |e: String| anyhow::anyhow!("{}: {e}", paths.config_file().display());
    // NO_COLOR, whatever its value (https://no-color.org).
    let looks = config.looks(std::env::var_os("NO_COLOR").is_some()).map_err(in_file)?;
    if cli.print_config {
        let user = cli.user.clone().or(config.user.clone()).unwrap_or_default();
        print!("{}", config.effective(&server, &user).map_err(in_file)?);
        return Ok(());
    }
    init_logging(&paths)?;
    let ca = config::resolve_ca(cli.ca.as_deref(), &config, &server, &paths.config_file())?;
    let tls = tls::Trust::new(ca.as_deref())?;
    // Remembered at the next sign-in when given this time.
    let remember_ca = if cli.ca.is_some() { ca } else { None };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        let local = if cli.local {
            let addr = local::LOCAL_ADDR.parse().context("the local address")?;
            Some(local::find_or_start(addr, &paths.local_db(), shutdown.clone()).await?)
        } else {
            None
        };
        let server = local.as_ref().map_or(server, |l| l.url.clone());
        let user = cli.user.or(config.user.clone()).unwrap_or_default();
        let session = config::load_session(&paths.session_file(), &server);
        let mut app = App::new(&server, &user, session, &client_prefix());
        let host = local.and_then(|l| {
            app.local_server = Some(l.status);
            l.host
        });
        app.bell = config.bell.unwrap_or(true);
        app.idle_away = match config.away_after_minutes.unwrap_or(10) {
            0 => None,
            minutes => Some(Duration::from_secs(minutes * 60)),
        };
        app.utc_offset = *chrono::Local::now().offset();
        let mouse = looks.mouse;
        app.notifications = looks.notifier != notify::Notifier::Off;
        let notifier = looks.notifier;
        let opener = looks.opener;
        app.keymap = looks.keymap;
        app.theme = looks.theme;
        app.previews.max_bytes = looks.max_image_bytes;
        app.previews.inline = looks.inline_images;
        let looks_protocol = looks.image_protocol;
        let result = ui(
            app,
            Runner {
                tls: &tls,
                paths: &paths,
                remember_ca: remember_ca.as_deref(),
                mouse,
                notifier,
                tmux: std::env::var_os("TMUX").is_some(),
                opener,
                picker: std::sync::Arc::new(preview::picker(looks_protocol)),
            },
        )
        .await;
        if let Some(host) = host {
            host.stop().await;
        }
        shutdown.cancel();
        result
    })
}

fn client_prefix() -> String {
    let mut bytes = [0u8; 6];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn init_logging(paths: &Paths) -> Result<()> {
    // The log holds room names and server addresses: private, like the session.
    chaty_server::private::create_dir_all(&paths.data)
        .with_context(|| format!("cannot create {}", paths.data.display()))?;
    let log = paths.log_file();
    let file = chaty_server::private::append_file(&log)
        .with_context(|| format!("cannot open the log file {}", log.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHATY_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(std::sync::Mutex::new(file)).init();
    Ok(())
}

type Term = Terminal<CrosstermBackend<std::io::Stdout>>;

fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        crossterm::event::PopKeyboardEnhancementFlags,
        crossterm::event::DisableBracketedPaste,
        crossterm::event::DisableFocusChange,
        crossterm::event::DisableMouseCapture,
        terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

fn setup_terminal(mouse: bool) -> Result<Term> {
    // A panic must leave a usable terminal behind before it prints.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    take_terminal(mouse)?;
    Ok(Terminal::new(CrosstermBackend::new(std::io::stdout()))?)
}

/// Raw mode, the alternate screen, the mouse, bracketed paste and (where
/// the terminal has them) the keyboard enhancements; [`restore_terminal`]
/// undoes all of it.
fn take_terminal(mouse: bool) -> Result<()> {
    terminal::enable_raw_mode().context("this needs an interactive terminal")?;
    let mut out = std::io::stdout();
    execute!(
        out,
        terminal::EnterAlternateScreen,
        crossterm::event::EnableBracketedPaste,
        // FocusGained/FocusLost: notifications for the room on screen only when away.
        crossterm::event::EnableFocusChange
    )?;
    if mouse {
        execute!(out, crossterm::event::EnableMouseCapture)?;
    }
    if terminal::supports_keyboard_enhancement().unwrap_or(false) {
        // Lets terminals that can report Shift-Enter do so.
        let flags = crossterm::event::KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES;
        let _ = execute!(out, crossterm::event::PushKeyboardEnhancementFlags(flags));
    }
    Ok(())
}

/// Hands the terminal to `$VISUAL`/`$EDITOR` for the draft and takes it
/// back. The key reader must be stopped first: it would read the editor's keys.
fn external_edit(terminal: &mut Term, draft: &str, mouse: bool) -> Result<Option<String>, String> {
    restore_terminal();
    let editor = editor::command(|name| std::env::var(name).ok());
    let outcome = editor::edit(&editor, draft, &std::env::temp_dir()).map_err(|e| format!("{e:#}"));
    if let Err(e) = take_terminal(mouse).and_then(|()| Ok(terminal.clear()?)) {
        tracing::warn!("taking the terminal back: {e:#}");
    }
    outcome
}

/// Reads the terminal's events into `tx` until the receiver is gone.
fn read_keys(tx: mpsc::Sender<Msg>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = EventStream::new();
        while let Some(Ok(event)) = events.next().await {
            if let Some(msg) = terminal_msg(event) {
                if tx.send(msg).await.is_err() {
                    break;
                }
            }
        }
    })
}

/// Turns a terminal event into a message, if it means anything to the app.
fn terminal_msg(event: Event) -> Option<Msg> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => Some(Msg::Key(key)),
        Event::Paste(text) => Some(Msg::Paste(text)),
        Event::Mouse(m)
            if matches!(
                m.kind,
                MouseEventKind::ScrollUp | MouseEventKind::ScrollDown | MouseEventKind::Down(MouseButton::Left)
            ) =>
        {
            Some(Msg::Mouse(m))
        }
        Event::Resize(w, h) => Some(Msg::Resize(w, h)),
        Event::FocusGained => Some(Msg::Focus(true)),
        Event::FocusLost => Some(Msg::Focus(false)),
        _ => None,
    }
}

/// What carrying out commands needs besides the app.
struct Runner<'a> {
    tls: &'a tls::Trust,
    paths: &'a Paths,
    /// The `--ca` file given this run, to remember with the server.
    remember_ca: Option<&'a Path>,
    /// `mouse` in config.toml.
    mouse: bool,
    /// `notify` and `notify_command` in config.toml.
    notifier: notify::Notifier,
    /// `$TMUX` is set: terminal notifications go through its passthrough.
    tmux: bool,
    /// `open_command` in config.toml, or the platform's opener.
    opener: links::Opener,
    /// How images are drawn (kitty, sixel, iTerm2 or half-blocks).
    picker: std::sync::Arc<ratatui_image::picker::Picker>,
}

async fn ui(mut app: App, runner: Runner<'_>) -> Result<()> {
    let mut terminal = setup_terminal(runner.mouse)?;
    let size = terminal.size()?;
    app.size = (size.width, size.height);
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let events = tx.clone();
    let mut net = Net::spawn(app.server.clone(), runner.tls.clone(), tx.clone());
    let mut keys = read_keys(tx.clone());
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let result = loop {
        let first = tokio::select! {
            msg = rx.recv() => msg,
            _ = tick.tick() => Some(Msg::Tick),
        };
        let Some(first) = first else { break Ok(()) };
        let mut next = Some(first);
        // Handle everything already waiting before drawing once.
        while let Some(msg) = next {
            for cmd in app.update(msg, Instant::now()) {
                if let Cmd::EditDraft(draft) = cmd {
                    keys.abort();
                    let _ = (&mut keys).await;
                    let outcome = tokio::task::block_in_place(|| external_edit(&mut terminal, &draft, runner.mouse));
                    keys = read_keys(tx.clone());
                    let _ = events.try_send(Msg::Edited(outcome));
                    continue;
                }
                carry_out(cmd, &mut app, &mut net, &events, &runner, &mut terminal);
            }
            next = rx.try_recv().ok();
        }
        if app.quit {
            break Ok(());
        }
        app.wall_ms = chaty_proto::time::now_millis();
        if let Err(e) = terminal.draw(|f| view::draw(f, &app, Instant::now())) {
            break Err(e.into());
        }
    };
    keys.abort();
    restore_terminal();
    result
}

/// Runs a file transfer in the background, reporting progress and the outcome as messages.
fn transfer_task<F, Fut>(app: &App, events: &mpsc::Sender<Msg>, tls: &tls::Trust, id: u64, work: F) -> Result<()>
where
    F: FnOnce(transfer::Endpoint, Box<dyn Fn(u64, u64) + Send + Sync>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<app::TransferEvent>> + Send,
{
    let token = app.session.as_ref().map(|s| s.token.clone()).unwrap_or_default();
    let endpoint = transfer::Endpoint::new(&app.server, &token, tls.config.clone())?;
    let events = events.clone();
    let tls = tls.clone();
    tokio::spawn(async move {
        let progress = events.clone();
        let report: Box<dyn Fn(u64, u64) + Send + Sync> = Box::new(move |done, total| {
            let _ = progress.try_send(Msg::Transfer(app::TransferEvent::Progress { id, done, total }));
        });
        let outcome = work(endpoint, report).await.unwrap_or_else(|e| {
            let reason = tls.problem(e.as_ref()).unwrap_or_else(|| format!("{e:#}"));
            app::TransferEvent::Failed { id, reason }
        });
        let _ = events.send(Msg::Transfer(outcome)).await;
    });
    Ok(())
}

/// Fetches an image (within `max_image_mib`) and decodes it on a blocking
/// thread, answering with [`Msg::Preview`].
fn preview_task(app: &App, events: &mpsc::Sender<Msg>, runner: &Runner<'_>, cmd: Cmd) -> Result<()> {
    let Cmd::Preview { attachment, cols, rows, inline } = cmd else { return Ok(()) };
    let token = app.session.as_ref().map(|s| s.token.clone()).unwrap_or_default();
    let endpoint = transfer::Endpoint::new(&app.server, &token, runner.tls.config.clone())?;
    let (events, picker, max_bytes) = (events.clone(), runner.picker.clone(), app.previews.max_bytes);
    tokio::spawn(async move {
        let file_id = attachment.file_id.clone();
        let outcome = match transfer::fetch(&endpoint, &file_id, max_bytes).await {
            Ok(bytes) => tokio::task::spawn_blocking(move || preview::picture(&picker, &bytes, cols, rows))
                .await
                .unwrap_or_else(|e| Err(format!("no preview: {e}"))),
            Err(e) => Err(format!("{e:#}")),
        };
        let _ = events.send(Msg::Preview { file_id, inline, outcome }).await;
    });
    Ok(())
}

fn carry_out(
    cmd: Cmd,
    app: &mut App,
    net: &mut Net,
    events: &mpsc::Sender<Msg>,
    runner: &Runner<'_>,
    terminal: &mut Term,
) {
    let (tls, paths) = (runner.tls, runner.paths);
    let outcome = match cmd {
        Cmd::Send(frame, reference) => {
            net.send(&frame, reference.as_deref());
            Ok(())
        }
        Cmd::Connect(url) => {
            *net = Net::spawn(url, tls.clone(), events.clone());
            Ok(())
        }
        Cmd::SaveSession(session) => config::save_session(&paths.session_file(), &session),
        Cmd::ClearSession => config::clear_session(&paths.session_file()),
        Cmd::SaveConfig { server, user } => {
            // With --local the address changes per run; do not remember it.
            let server = app.local_server.is_none().then_some(server);
            config::remember(&paths.config_file(), server, user, runner.remember_ca)
        }
        Cmd::Bell => {
            let _ = terminal.backend_mut().write_all(b"\x07");
            terminal.backend_mut().flush().map_err(anyhow::Error::from)
        }
        Cmd::Notify { title, body } => notify_now(&runner.notifier, runner.tmux, &title, &body, terminal),
        Cmd::Quit => {
            app.quit = true;
            Ok(())
        }
        Cmd::Upload { id, path, room, caption } => {
            transfer_task(app, events, tls, id, move |endpoint, report| async move {
                let attachment = transfer::upload(&endpoint, &path, report).await?;
                Ok(app::TransferEvent::Uploaded { id, attachment, room, caption })
            })
        }
        Cmd::Download { id, attachment } => transfer_task(app, events, tls, id, move |endpoint, report| async move {
            let dirs = directories::UserDirs::new();
            let cwd = std::env::current_dir().unwrap_or_else(|_| std::path::PathBuf::from("."));
            let (dir, note) = transfer::download_dir(
                dirs.as_ref().and_then(directories::UserDirs::download_dir),
                dirs.as_ref().map(directories::UserDirs::home_dir),
                &cwd,
            );
            let path = transfer::download(&endpoint, &attachment, &dir, report).await?;
            // Always the full path: the user has to find the file.
            let path = std::path::absolute(&path).unwrap_or(path);
            Ok(app::TransferEvent::Saved { id, path, note })
        }),
        // Handled by `ui`, which owns the key reader.
        Cmd::EditDraft(_) => Ok(()),
        cmd @ Cmd::Preview { .. } => preview_task(app, events, runner, cmd),
        Cmd::Open(url) => {
            let outcome = open_link(&runner.opener, &url);
            if let Err(e) = &outcome {
                app.notice = Some((format!("{e:#}"), true));
            }
            outcome
        }
        Cmd::Copy(text) => {
            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(text);
            // OSC 52: the terminal puts it on the system clipboard.
            let _ = write!(terminal.backend_mut(), "\x1b]52;c;{encoded}\x07");
            terminal.backend_mut().flush().map_err(anyhow::Error::from)
        }
    };
    if let Err(e) = outcome {
        tracing::warn!("{e:#}");
    }
}

/// Sends a desktop notification the configured way.
fn notify_now(notifier: &notify::Notifier, tmux: bool, title: &str, body: &str, terminal: &mut Term) -> Result<()> {
    match notifier {
        notify::Notifier::Off => Ok(()),
        notify::Notifier::Terminal => {
            terminal.backend_mut().write_all(&notify::osc(title, body, tmux))?;
            Ok(terminal.backend_mut().flush()?)
        }
        notify::Notifier::Command(template) => run_detached(&notify::argv(template, title, body), "notify_command"),
    }
}

/// Opens a link the configured way. The app has checked the scheme; it is
/// checked again here, where it counts.
fn open_link(opener: &links::Opener, url: &str) -> Result<()> {
    links::openable(url).map_err(anyhow::Error::msg)?;
    match opener {
        links::Opener::Command(template) => run_detached(&links::argv(template, url), "open_command"),
        links::Opener::Platform => open::that_detached(url).with_context(|| format!("cannot open {url}")),
    }
}

/// Runs `argv` (from `setting` in config.toml) without a shell, its
/// output kept off the screen, and reaps it in the background: a slow
/// program never holds up the screen.
fn run_detached(argv: &[String], setting: &str) -> Result<()> {
    let (program, args) = argv.split_first().with_context(|| format!("{setting} is empty"))?;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {setting} {program}"))?;
    std::thread::spawn(move || child.wait());
    Ok(())
}
