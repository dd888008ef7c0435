//! `--config FILE`: a TOML file holding any of the server's settings, each
//! key named like its flag in snake_case (`rate_limit = 100`,
//! `registration = "closed"`, `trusted_proxy = ["10.0.0.0/8"]`).
//!
//! The file is turned into flags placed before the command line's own, for
//! the keys whose flag is not on the command line and whose environment
//! variable is not set: so the precedence is flag, then environment, then
//! file, then default, and every value goes through the same parsing and
//! checks as the flag would. Unknown keys are an error naming the key.

use std::path::{Path, PathBuf};

/// The environment variable that names the file, like `--config`.
pub const ENV: &str = "CHATY_CONFIG";

/// The file named by `--config FILE` / `--config=FILE` in `args`, else by
/// `CHATY_CONFIG`.
pub fn path(args: &[String]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(ENV).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The file as a TOML table; errors name the file.
fn read(path: &Path) -> Result<toml::Table, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the config file {shown}: {}", crate::error::io_reason(&e)))?;
    text.parse().map_err(|e: toml::de::Error| {
        format!("config file {shown}: {}", e.to_string().lines().collect::<Vec<_>>().join(" ").trim())
    })
}

/// The file's `db`, if it sets one (for the admin commands, which take
/// nothing else from it).
pub fn db(path: &Path) -> Result<Option<String>, String> {
    let shown = path.display();
    let table = read(path)?;
    match table.get("db") {
        None => Ok(None),
        Some(toml::Value::String(db)) => Ok(Some(db.clone())),
        Some(other) => Err(format!("config file {shown}: `db` cannot be {} ({other})", other.type_str())),
    }
}

/// The flags `path` stands for, given the command line `args` and the
/// command `cmd` whose flags the keys name. Errors are one line naming the
/// file and the key.
pub fn flags(path: &Path, cmd: &clap::Command, args: &[String]) -> Result<Vec<String>, String> {
    let shown = path.display();
    let table = read(path)?;
    let mut flags = Vec::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        let spec = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && long != "config" && long != "help" && long != "version")
            .ok_or_else(|| format!("config file {shown}: unknown key `{key}`"))?;
        let on_command_line = args.iter().any(|a| *a == format!("--{long}") || a.starts_with(&format!("--{long}=")));
        let from_env = spec.get_env().is_some_and(|env| std::env::var_os(env).is_some());
        if on_command_line || from_env {
            continue;
        }
        let switch = matches!(spec.get_action(), clap::ArgAction::SetTrue);
        let values = match value {
            toml::Value::Array(items) => items,
            single => vec![single],
        };
        for value in values {
            match value {
                toml::Value::Boolean(true) if switch => flags.push(format!("--{long}")),
                toml::Value::Boolean(false) if switch => {}
                toml::Value::String(s) => flags.push(format!("--{long}={s}")),
                toml::Value::Integer(n) => flags.push(format!("--{long}={n}")),
                toml::Value::Boolean(b) => flags.push(format!("--{long}={b}")),
                other => {
                    return Err(format!("config file {shown}: `{key}` cannot be {} ({other})", other.type_str()));
                }
            }
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Flags {
        #[arg(long, env = "CHATY_TEST_CONFIG_RATE", default_value_t = 100)]
        rate_limit: u32,
        #[arg(long, action = clap::ArgAction::SetTrue)]
        allow_guests: bool,
        #[arg(long = "trusted-proxy")]
        trusted_proxies: Vec<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    }

    fn flags_of(toml: &str, args: &[&str]) -> Result<Vec<String>, String> {
        use clap::CommandFactory;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("chaty.toml");
        std::fs::write(&path, toml).map_err(|e| e.to_string())?;
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        flags(&path, &Flags::command(), &args).map_err(|e| e.replace(&path.display().to_string(), "FILE"))
    }

    #[test]
    fn keys_become_flags_that_the_command_line_overrides() {
        let toml = "rate_limit = 7\nallow_guests = true\ntrusted_proxy = [\"10.0.0.0/8\", \"::1\"]\n";
        let mut got = flags_of(toml, &["chaty-server"]).expect("flags");
        got.sort();
        assert_eq!(got, ["--allow-guests", "--rate-limit=7", "--trusted-proxy=10.0.0.0/8", "--trusted-proxy=::1"]);
        let got = flags_of("rate_limit = 7\n", &["chaty-server", "--rate-limit", "9"]).expect("flags");
        assert!(got.is_empty(), "{got:?}");
        assert_eq!(flags_of("allow_guests = false\n", &["x"]), Ok(vec![]));
    }

    #[test]
    fn unknown_keys_and_bad_toml_are_one_line_naming_them() {
        assert_eq!(flags_of("rate_limt = 7\n", &["x"]), Err("config file FILE: unknown key `rate_limt`".into()));
        assert_eq!(flags_of("config = \"x\"\n", &["x"]), Err("config file FILE: unknown key `config`".into()));
        let bad = flags_of("rate_limit = \n", &["x"]).expect_err("bad toml");
        assert!(bad.starts_with("config file FILE: ") && !bad.contains('\n'), "{bad}");
        let table = flags_of("rate_limit = { a = 1 }\n", &["x"]).expect_err("a table");
        assert!(table.contains("`rate_limit` cannot be table"), "{table}");
        let missing = flags(Path::new("/nonexistent/chaty.toml"), &<Flags as clap::CommandFactory>::command(), &[]);
        assert_eq!(
            missing,
            Err("cannot read the config file /nonexistent/chaty.toml: No such file or directory".into())
        );
    }
}
