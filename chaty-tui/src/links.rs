//! Links in messages: found with `linkify` (which knows where a URL ends:
//! not at the full stop after it, nor the bracket around it), drawn
//! underlined by the transcript, opened with `o` and copied with `y`.
//!
//! Only `http`, `https` and `mailto` are ever opened ([`openable`]). How
//! (`open_command` in config.toml, else the platform's opener) is an
//! [`Opener`]; the argv is filled in without a shell ([`argv`]).

use std::ops::Range;

use linkify::{LinkFinder, LinkKind};

/// The schemes `o` opens.
pub const SCHEMES: &[&str] = &["http", "https", "mailto"];

/// Where the links are in `text` (byte ranges), URLs and e-mail addresses.
pub fn ranges(text: &str) -> Vec<Range<usize>> {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url, LinkKind::Email]);
    finder.links(text).map(|l| l.start()..l.end()).collect()
}

/// The links in `text` as they would be opened: an e-mail address becomes
/// `mailto:` it. Each once, in order.
pub fn urls(text: &str) -> Vec<String> {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url, LinkKind::Email]);
    let mut out: Vec<String> = Vec::new();
    for link in finder.links(text) {
        let url = match link.kind() {
            LinkKind::Email if !link.as_str().to_ascii_lowercase().starts_with("mailto:") => {
                format!("mailto:{}", link.as_str())
            }
            _ => link.as_str().to_string(),
        };
        if !out.contains(&url) {
            out.push(url);
        }
    }
    out
}

/// Whether `url` may be opened: its scheme is one of [`SCHEMES`]. The
/// error is the notice to show.
pub fn openable(url: &str) -> Result<(), String> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme {
        Some(s) if SCHEMES.contains(&s.as_str()) => Ok(()),
        Some(s) => Err(format!("not opened: {s} links are not opened, only http, https and mailto")),
        None => Err("not opened: a link without a scheme (only http, https and mailto are opened)".to_string()),
    }
}

/// How `o` opens a link.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Opener {
    /// The platform's opener (xdg-open, open, start), through the `open` crate.
    #[default]
    Platform,
    /// `open_command`: this argv with `{url}` filled in, run without a shell.
    Command(Vec<String>),
}

impl Opener {
    /// From config.toml's `open_command`; an error names what is wrong.
    pub fn from_config(command: Option<&[String]>) -> Result<Self, String> {
        match command {
            None => Ok(Self::Platform),
            Some([]) => Err("open_command is empty: give an argv, e.g. [\"firefox\", \"{url}\"]".to_string()),
            Some([program, ..]) if program.is_empty() => {
                Err("open_command's first item (the program) is empty".to_string())
            }
            Some(argv) if !argv.iter().any(|a| a.contains("{url}")) => {
                Err("open_command has no {url}: e.g. [\"firefox\", \"{url}\"]".to_string())
            }
            Some(argv) => Ok(Self::Command(argv.to_vec())),
        }
    }
}

/// `open_command` with `{url}` filled in, one argument each: nothing is
/// split or seen by a shell.
pub fn argv(template: &[String], url: &str) -> Vec<String> {
    template.iter().map(|arg| arg.replace("{url}", url)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_end_where_they_should() {
        let text = "see https://example.com/a_(b). and (http://x.org/y), mail bob@example.com or ftp://f.net";
        assert_eq!(
            urls(text),
            ["https://example.com/a_(b)", "http://x.org/y", "mailto:bob@example.com", "ftp://f.net"]
        );
        let found: Vec<&str> = ranges(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(found, ["https://example.com/a_(b)", "http://x.org/y", "bob@example.com", "ftp://f.net"]);
        assert!(urls("@alice hi, no link here. example.com").is_empty(), "a scheme is needed");
        assert_eq!(urls("https://a.io https://a.io"), ["https://a.io"], "each once");
    }

    #[test]
    fn only_http_https_and_mailto_are_opened() {
        for ok in ["http://a.io", "HTTPS://a.io/x", "mailto:bob@example.com"] {
            assert_eq!(openable(ok), Ok(()), "{ok}");
        }
        for bad in ["ftp://a.io", "file:///etc/passwd", "javascript:alert(1)", "ssh://h", "nothing"] {
            let err = openable(bad).expect_err(bad);
            assert!(err.contains("only http, https and mailto"), "{err}");
        }
    }

    #[test]
    fn open_command_is_checked_and_filled_in_without_a_shell() {
        assert_eq!(Opener::from_config(None), Ok(Opener::Platform));
        for bad in [vec![], vec![String::new(), "{url}".into()], vec!["firefox".into()]] {
            let err = Opener::from_config(Some(&bad)).expect_err("bad");
            assert!(err.contains("open_command"), "{err}");
        }
        let template = vec!["firefox".to_string(), "--new-tab".into(), "{url}".into()];
        assert_eq!(Opener::from_config(Some(&template)), Ok(Opener::Command(template.clone())));
        assert_eq!(
            argv(&template, "https://a.io/?q=1;rm -rf ~"),
            ["firefox", "--new-tab", "https://a.io/?q=1;rm -rf ~"]
        );
    }
}
