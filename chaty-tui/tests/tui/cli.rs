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
