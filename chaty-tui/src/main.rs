//! Placeholder until the terminal client lands (issue #3).

fn main() {
    eprintln!("chaty-tui is not built yet; use websocat against chaty-server (see README.md)");
    std::process::exit(2);
}
