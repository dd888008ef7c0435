//! Command-line conventions the binary follows, kept out of `main.rs` so they
//! are unit-tested: the `--listen` forms, boolean environment variables, and
//! errors that fit on one line and name the bad value (and the environment
//! variable it came from).

use std::fmt;
use std::net::SocketAddr;

use crate::error::io_reason;

/// Where to listen: `HOST:PORT` (a name, an IPv4 address or a bracketed IPv6
/// address) or `:PORT` for every interface, as Go servers and Caddy take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl std::str::FromStr for Listen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("{why}; expected HOST:PORT or :PORT, e.g. 127.0.0.1:8181, localhost:8181, [::1]:8181 or :8181")
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port: u16 = port.parse().map_err(|_| bad(&format!("port \"{port}\" is not a number from 0 to 65535")))?;
        let host = match host {
            "" => "0.0.0.0",
            bracketed if bracketed.starts_with('[') => bracketed
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .filter(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
                .ok_or_else(|| bad("not an IPv6 address in brackets"))?,
            plain if plain.contains(':') => return Err(bad("an IPv6 address needs brackets")),
            plain if plain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') => plain,
            _ => return Err(bad("not a host name or address")),
        };
        Ok(Self { host: host.to_string(), port })
    }
}

impl Listen {
    /// Resolves the host and binds the first address that works. The error
    /// names what was asked for and why it failed.
    pub async fn bind(&self) -> Result<tokio::net::TcpListener, String> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot listen on {self}: cannot resolve \"{}\": {e}", self.host))?
            .collect();
        let mut last = None;
        for addr in &addrs {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => return Ok(listener),
                Err(e) => last = Some(e),
            }
        }
        let why = last.map_or_else(|| "no address found".to_string(), |e| io_reason(&e));
        let hint = if why.contains("in use") {
            " (another server is on that port; pick another with --listen)"
        } else if why.contains("ermission denied") {
            " (ports below 1024 need root or CAP_NET_BIND_SERVICE; see docs/deploy.md)"
        } else {
            ""
        };
        Err(format!("cannot listen on {self}: {why}{hint}"))
    }
}

/// Parses the process's command line into `P` (with `--config`'s file, see
/// [`crate::config_file`]). Help and version are printed (`Err(SUCCESS)`);
/// anything wrong is one line on stderr (`Err(2)`).
pub fn parse<P: clap::Parser>() -> Result<P, std::process::ExitCode> {
    // Lossy, never panicking: a non-UTF-8 argument becomes an error that names it.
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    parse_from(&args).map_err(|e| match e {
        Parsed::Shown => std::process::ExitCode::SUCCESS,
        Parsed::Bad(line) => {
            eprintln!("{line}");
            std::process::ExitCode::from(2)
        }
    })
}

/// Why [`parse_from`] gave no `P`.
pub enum Parsed {
    /// Help or version was printed.
    Shown,
    /// What was wrong, on one line.
    Bad(String),
}

/// Parses `args` (the command line, program name first) into `P`, with the
/// settings of the `--config` file (or `CHATY_CONFIG`) where neither a flag
/// nor the environment gives them. Used at start and again on SIGHUP.
pub fn parse_from<P: clap::Parser>(args: &[String]) -> Result<P, Parsed> {
    let mut command = P::command();
    let name = command.get_name().to_string();
    let (args, from_file) = with_config(args, &command).map_err(|e| Parsed::Bad(format!("{name}: {e}")))?;
    command.try_get_matches_from_mut(&args).and_then(|m| P::from_arg_matches(&m)).map_err(|e| {
        use clap::error::{ContextKind, ErrorKind};
        if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
            let _ = e.print();
            return Parsed::Shown;
        }
        let line = one_line(&e, &command, &args);
        // A bad value that came from the file says so.
        let flag = e.get(ContextKind::InvalidArg).map(|a| a.to_string()).unwrap_or_default();
        let flag = flag.split_whitespace().next().unwrap_or_default().to_string();
        match from_file {
            Some((path, flags)) if !flag.is_empty() && flags.iter().any(|f| f.starts_with(&format!("{flag}="))) => {
                let key = flag.trim_start_matches("--").replace('-', "_");
                let note = format!(" (from `{key}` in the config file {})", path.display());
                Parsed::Bad(line.replacen("; see ", &format!("{note}; see "), 1))
            }
            _ => Parsed::Bad(line),
        }
    })
}

/// `args` with the config file's flags inserted before the command line's
/// own (after `serve` when it is given); the admin commands take only its
/// `db` (appended, where their own `--db` goes); other commands take no file.
type FromFile = Option<(std::path::PathBuf, Vec<String>)>;

fn with_config(args: &[String], command: &clap::Command) -> Result<(Vec<String>, FromFile), String> {
    let Some(path) = crate::config_file::path(args) else { return Ok((args.to_vec(), None)) };
    let at = match args.get(1).map(String::as_str) {
        Some("serve") => 2,
        Some(sub) if crate::admin::NAMES.contains(&sub) => {
            let given = args.iter().any(|a| a == "--db" || a.starts_with("--db="));
            let mut all = args.to_vec();
            if !given && std::env::var_os("CHATY_DB").is_none() {
                if let Some(db) = crate::config_file::db(&path)? {
                    all.push(format!("--db={db}"));
                }
            }
            return Ok((all, None));
        }
        Some(sub) if command.get_subcommands().any(|c| c.get_name() == sub) => return Ok((args.to_vec(), None)),
        _ => 1,
    };
    let flags = crate::config_file::flags(&path, command, args)?;
    let mut all = args.to_vec();
    all.splice(at.min(all.len())..at.min(all.len()), flags.iter().cloned());
    Ok((all, Some((path, flags))))
}

/// One line for a clap error: its first line without `error: `, naming the
/// environment variable when the bad value came from one, plus a pointer to
/// `--help`. `args` are the command line as given.
pub fn one_line(err: &clap::Error, cmd: &clap::Command, args: &[String]) -> String {
    use clap::error::{ContextKind, ContextValue};
    let rendered = err.to_string();
    let mut first = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ").trim().to_string();
    let listed = |kind| match err.get(kind) {
        Some(ContextValue::Strings(values)) => Some(values.join(", ")),
        Some(ContextValue::String(value)) => Some(value.clone()),
        _ => None,
    };
    // clap puts these on the lines after the first; keep them on the one line.
    if first.ends_with(':') {
        if let Some(missing) = listed(ContextKind::InvalidArg) {
            first = format!("{first} {missing}");
        }
    }
    if let Some(valid) = listed(ContextKind::ValidValue) {
        first = format!("{first} (one of: {valid})");
    }
    let from_env = err.get(clap::error::ContextKind::InvalidArg).and_then(|arg| {
        let long = arg.to_string().split_whitespace().next()?.trim_start_matches("--").to_string();
        let spec = cmd.get_arguments().find(|a| a.get_long() == Some(long.as_str()))?;
        let given = args.iter().any(|a| a == &format!("--{long}") || a.starts_with(&format!("--{long}=")));
        let env = spec.get_env()?.to_str()?.to_string();
        (!given && std::env::var_os(&env).is_some()).then_some(env)
    });
    let first = match from_env {
        Some(env) => format!("{first} (from the environment variable {env})"),
        None => first,
    };
    format!("{}: {first}; see {} --help", cmd.get_name(), cmd.get_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_takes_the_forms_people_write() {
        let ok = |text: &str, host: &str, port| {
            assert_eq!(text.parse::<Listen>(), Ok(Listen { host: host.into(), port }), "{text}");
        };
        ok("127.0.0.1:8181", "127.0.0.1", 8181);
        ok("localhost:8181", "localhost", 8181);
        ok(":8181", "0.0.0.0", 8181);
        ok("[::1]:0", "::1", 0);
        ok("chat.example.com:443", "chat.example.com", 443);
        for bad in ["nope", "localhost", "a:b", ":99999", "::1:80", "[nothex]:1", "a b:1", ""] {
            let e = bad.parse::<Listen>().expect_err(bad);
            assert!(e.contains("expected HOST:PORT or :PORT"), "{bad}: {e}");
        }
        assert_eq!("[::1]:80".parse::<Listen>().map(|l| l.to_string()), Ok("[::1]:80".into()));
    }

    #[tokio::test]
    async fn binding_resolves_names_and_says_what_is_wrong() {
        let listener = "localhost:0".parse::<Listen>().expect("parse").bind().await.expect("bind localhost");
        let port = listener.local_addr().expect("addr").port();
        assert!(listener.local_addr().expect("addr").ip().is_loopback());
        let taken = format!("{}:{port}", listener.local_addr().expect("addr").ip());
        let e = taken.parse::<Listen>().expect("parse").bind().await.expect_err("in use");
        assert!(e.starts_with(&format!("cannot listen on {taken}: Address already in use")), "{e}");
        assert!(!e.contains("os error"), "{e}");
    }
}
