//! The `chaty-tui` binary's command line: bad input is one line on stderr
//! and exit code 2, before any file is touched or the terminal is taken.

use std::process::Command;

fn chaty_tui(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, tempfile::TempDir) {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chaty-tui"));
    cmd.args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run chaty-tui");
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
