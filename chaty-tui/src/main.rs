//! `chaty-tui`: parses flags and runs the client.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match chaty_tui::run(chaty_tui::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chaty-tui: {e:#}");
            ExitCode::from(2)
        }
    }
}
