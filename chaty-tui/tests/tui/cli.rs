//! The `chaty-tui` binary's command line: bad input is one line on stderr
//! and exit code 2, before any file is touched or the terminal is taken.

use std::process::Command;

/// chaty-tui with `args` and only `env` in `home`.
fn command_in(home: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chaty-tui"));
    cmd.args(args)
        .env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn chaty_tui(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, tempfile::TempDir) {
    let home = tempfile::tempdir().expect("tempdir");
    let out = command_in(home.path(), args, env).output().expect("run chaty-tui");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), home)
}

#[test]
fn a_bad_profile_name_is_one_line_naming_it_and_exit_code_2() {
    for (args, env, name) in [
        (&["--profile", "bob smith"][..], &[][..], "\"bob smith\""),
        (&["--profile", "../../etc"][..], &[][..], "\"../../etc\""),
        (&[][..], &[("CHATY_PROFILE", "a/b")][..], "\"a/b\""),
        (&["--profile", ""][..], &[][..], "\"\""),
    ] {
        let (code, stderr, home) = chaty_tui(args, env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
        assert!(stderr.starts_with("chaty-tui: bad profile name ") && stderr.contains(name), "{stderr}");
        assert!(stderr.contains("1 to 32 letters, digits, _ or -"), "{stderr}");
        let created: Vec<_> = std::fs::read_dir(home.path()).expect("home").collect();
        assert!(created.is_empty(), "nothing is created for a bad profile: {created:?}");
    }
}

/// Runs chaty-tui with `args` under `umask 000` in a fresh home, without a
/// terminal: it does what it does before taking the terminal, then stops
/// there. Returns the home.
#[cfg(unix)]
fn under_umask_000(args: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("tempdir");
    let script = format!("umask 000; exec '{}' {args} < /dev/null", env!("CARGO_BIN_EXE_chaty-tui"));
    let out = Command::new("sh")
        .args(["-c", &script])
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .output()
        .expect("run chaty-tui");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("interactive terminal"), "{stderr}");
    home
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).ok()
}

#[cfg(unix)]
#[test]
fn the_log_and_its_directory_are_private_whatever_the_umask() {
    // The client opens its log first.
    let home = under_umask_000("--server ws://127.0.0.1:9/ws");
    let data = home.path().join("data").join("chaty");
    assert_eq!(mode(&data), Some(0o700), "{}", data.display());
    assert_eq!(mode(&data.join("chaty-tui.log")), Some(0o600));
}

#[cfg(unix)]
#[test]
fn the_local_directory_is_private_whatever_the_umask_and_the_record_goes_at_exit() {
    // --local finds or starts its server before taking the terminal.
    let home = under_umask_000("--local");
    let local = home.path().join("data").join("chaty").join("local");
    assert_eq!(mode(&local), Some(0o700), "{}", local.display());
    assert!(!local.join("server.json").exists(), "the client removed its server's record when it stopped");
}

#[test]
fn a_bad_flag_is_one_line_and_exit_code_2() {
    for args in [&["--bogus"][..], &["--local", "--server", "ws://x/ws"][..]] {
        let (code, stderr, _home) = chaty_tui(args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: one line: {stderr:?}");
    }
}

/// Runs chaty-tui with `config.toml` holding `config`, without a terminal.
fn with_config(config: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join("config").join("chaty");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("config.toml"), config).expect("write");
    let out = command_in(home.path(), args, env).output().expect("run chaty-tui");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn an_unknown_key_action_theme_or_colour_stops_the_start_naming_it_with_exit_code_2() {
    for (config, name) in [
        ("[keys]\nteleport = \"alt-t\"\n", "\"teleport\""),
        ("[keys]\nswitcher = \"ctrl-kk\"\n", "\"ctrl-kk\""),
        ("theme = \"neon\"\n", "\"neon\""),
        ("[colors]\nmention = \"#12\"\n", "\"#12\""),
    ] {
        let (code, _, stderr) = with_config(config, &[], &[]);
        assert_eq!(code, Some(2), "{config}: {stderr}");
        assert!(stderr.contains(name) && stderr.contains("config.toml"), "{config}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    }
}

#[test]
fn print_config_prints_every_default_and_exits() {
    let (code, stdout, stderr) =
        with_config("[keys]\nnext_unread = \"alt-a\"\n", &["--print-config", "--user", "al"], &[("NO_COLOR", "1")]);
    assert_eq!(code, Some(0), "{stderr}");
    for line in
        ["mouse = true", "theme = \"terminal\"", "user = \"al\"", "next_unread = \"alt-a\"", "quit = \"ctrl-q\""]
    {
        assert!(stdout.lines().any(|l| l == line), "{line:?} in\n{stdout}");
    }
}
