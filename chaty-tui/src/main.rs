//! `chaty-tui`: parses flags and runs the client.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match chaty_server::cli::parse::<chaty_tui::Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match chaty_tui::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chaty-tui: {e:#}");
            ExitCode::from(2)
        }
    }
}
