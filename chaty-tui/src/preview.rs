//! Image previews: which attachments get one, and turning the bytes into a
//! picture for the terminal. Everything here is for bytes someone else
//! chose, so every step has a bound: the size (`max_image_mib`, checked
//! before reading and while reading, see `transfer::fetch`), the format
//! (png, jpeg, gif and webp only, told from the bytes, not the name), the
//! dimensions (checked from the header before decoding) and the memory the
//! decoder may take. The runner calls [`picture`] on a blocking thread, never
//! on the UI's.

use std::io::Cursor;
use std::sync::Arc;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use ratatui::layout::Size;
use ratatui_image::FontSize;
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_image::protocol::Protocol;
use ratatui_image::{Image, Resize};

use chaty_proto::Attachment;

/// The attachment types that get a preview.
pub const MIMES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// The widest and tallest image decoded, in pixels.
pub const MAX_SIDE: u32 = 8192;
/// The most memory the decoder may take.
const MAX_ALLOC: u64 = 256 * 1024 * 1024;

/// Whether `attachment` gets a preview (by its type; the bytes must agree).
pub fn is_image(attachment: &Attachment) -> bool {
    let mime = attachment.mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    MIMES.contains(&mime.as_str())
}

/// Why an image `size` bytes long is not fetched, when over `max_bytes`.
pub fn too_big(size: u64, max_bytes: u64) -> Option<String> {
    (size > max_bytes).then(|| {
        format!(
            "no preview: the image is {}, over max_image_mib ({} MiB)",
            crate::app::human_size(size),
            max_bytes / (1024 * 1024)
        )
    })
}

/// How images are drawn: `image_protocol` in config.toml.
pub const PROTOCOLS: &[&str] = &["auto", "kitty", "sixel", "iterm2", "halfblocks"];

/// `image_protocol` checked: `None` for `auto`.
pub fn protocol_setting(name: Option<&str>) -> Result<Option<ProtocolType>, String> {
    match name.unwrap_or("auto") {
        "auto" => Ok(None),
        "kitty" => Ok(Some(ProtocolType::Kitty)),
        "sixel" => Ok(Some(ProtocolType::Sixel)),
        "iterm2" => Ok(Some(ProtocolType::Iterm2)),
        "halfblocks" => Ok(Some(ProtocolType::Halfblocks)),
        other => Err(format!("unknown image_protocol {other:?}: use {}", PROTOCOLS.join(", "))),
    }
}

/// The protocol the terminal has, told from its environment only. Asking
/// the terminal (as `ratatui-image` can) reads stdin until an answer comes,
/// on a thread nothing can stop: where no answer comes (tmux passing the
/// question to a terminal that is not there, a pty), it would eat the keys
/// typed after. So: kitty, ghostty and WezTerm by name, iTerm2 and the
/// terminals that speak its protocol by name, foot, mlterm and contour for
/// sixel; half-blocks for everything else (`image_protocol` overrides).
pub fn detect(env: impl Fn(&str) -> Option<String>) -> ProtocolType {
    let var = |name: &str| env(name).unwrap_or_default();
    let (term, program) = (var("TERM"), var("TERM_PROGRAM"));
    if var("TMUX").is_empty() && (term == "xterm-kitty" || !var("KITTY_WINDOW_ID").is_empty()) {
        // Not in tmux: a kitty window's variables outlive it in a tmux session.
        return ProtocolType::Kitty;
    }
    if program == "ghostty" || term == "xterm-ghostty" {
        return ProtocolType::Kitty;
    }
    let iterm2 = ["iTerm", "WezTerm", "mintty", "vscode", "Tabby", "Hyper", "rio", "WarpTerminal"];
    if iterm2.iter().any(|t| program.contains(t)) || var("LC_TERMINAL").contains("iTerm") {
        return ProtocolType::Iterm2;
    }
    if ["foot", "mlterm", "contour"].iter().any(|t| term.starts_with(t)) {
        return ProtocolType::Sixel;
    }
    ProtocolType::Halfblocks
}

/// The picker for this terminal: `protocol` (else [`detect`]ed), with the
/// cell size in pixels from the terminal's window size where it says.
pub fn picker(protocol: Option<ProtocolType>) -> Picker {
    let protocol = protocol.unwrap_or_else(|| detect(|name| std::env::var(name).ok()));
    let font = crossterm::terminal::window_size().ok().and_then(|w| {
        let (cols, rows) = (w.columns.max(1), w.rows.max(1));
        (w.width > 0 && w.height > 0).then(|| FontSize::new((w.width / cols).max(1), (w.height / rows).max(1)))
    });
    // from_fontsize is deprecated in favour of asking the terminal, which
    // is what must not be done here (see `detect`).
    #[allow(deprecated)]
    let mut picker = Picker::from_fontsize(font.unwrap_or(FontSize::new(10, 20)));
    picker.set_protocol_type(protocol);
    picker
}

/// A picture ready to draw: the terminal's protocol (kitty, sixel, iTerm2
/// or half-blocks) for an image already fitted to its cells.
#[derive(Clone)]
pub struct Picture(Arc<Protocol>);

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let size = self.0.size();
        write!(f, "Picture({}x{})", size.width, size.height)
    }
}

impl PartialEq for Picture {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Picture {
    /// How many cells it takes (columns, rows).
    pub fn size(&self) -> (u16, u16) {
        let size = self.0.size();
        (size.width, size.height)
    }

    /// The widget that draws it.
    pub fn widget(&self) -> Image<'_> {
        Image::new(&self.0)
    }
}

/// Decodes `bytes` as png, jpeg, gif or webp (by what they are), within
/// [`MAX_SIDE`] and the decoder's memory limit.
pub fn decode(bytes: &[u8]) -> Result<DynamicImage, String> {
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP) => {}
        _ => return Err("no preview: not a png, jpeg, gif or webp image".to_string()),
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    let mut reader = reader;
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => {
            format!("no preview: the image is larger than {MAX_SIDE}×{MAX_SIDE} pixels or needs too much memory")
        }
        other => format!("no preview: {other}"),
    })
}

/// Decodes `bytes` and fits the image into `cols`×`rows` cells for
/// `picker`'s protocol. Slow: for a blocking thread.
pub fn picture(picker: &Picker, bytes: &[u8], cols: u16, rows: u16) -> Result<Picture, String> {
    let image = decode(bytes)?;
    let size = Size::new(cols.max(1), rows.max(1));
    picker.new_protocol(image, size, Resize::Fit(None)).map(|p| Picture(Arc::new(p))).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment(mime: &str) -> Attachment {
        Attachment { file_id: "f".into(), name: "x".into(), size: 1, mime: mime.into() }
    }

    #[test]
    fn the_protocol_is_told_from_the_environment_or_set() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_string())
        };
        assert_eq!(detect(env(&[("TERM", "xterm-kitty")])), ProtocolType::Kitty);
        assert_eq!(detect(env(&[("KITTY_WINDOW_ID", "3"), ("TMUX", "/tmp/t,1,0")])), ProtocolType::Halfblocks);
        assert_eq!(detect(env(&[("TERM_PROGRAM", "iTerm.app")])), ProtocolType::Iterm2);
        assert_eq!(detect(env(&[("TERM_PROGRAM", "WezTerm")])), ProtocolType::Iterm2);
        assert_eq!(detect(env(&[("TERM", "foot-extra")])), ProtocolType::Sixel);
        assert_eq!(detect(env(&[("TERM", "xterm-256color")])), ProtocolType::Halfblocks);
        assert_eq!(detect(env(&[])), ProtocolType::Halfblocks);
        assert_eq!(protocol_setting(None), Ok(None));
        assert_eq!(protocol_setting(Some("sixel")), Ok(Some(ProtocolType::Sixel)));
        let err = protocol_setting(Some("ascii")).expect_err("unknown");
        assert!(err.contains("image_protocol \"ascii\"") && err.contains("halfblocks"), "{err}");
    }

    #[test]
    fn only_the_four_image_types_get_a_preview() {
        for yes in ["image/png", "image/JPEG", "image/gif", "image/webp; q=1"] {
            assert!(is_image(&attachment(yes)), "{yes}");
        }
        for no in ["image/svg+xml", "image/tiff", "application/pdf", "text/plain", ""] {
            assert!(!is_image(&attachment(no)), "{no}");
        }
    }

    /// PNG's chunk checksum (CRC-32, bit by bit).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn what_is_not_an_image_or_too_large_is_refused_before_decoding() {
        let err = decode(b"%PDF-1.7 not an image").expect_err("pdf");
        assert!(err.contains("not a png, jpeg, gif or webp"), "{err}");
        // A png header claiming 100000×100000 pixels: refused from the header.
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0d".to_vec();
        png.extend_from_slice(&ihdr);
        png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        let err = decode(&png).expect_err("huge");
        assert!(err.contains("larger than 8192"), "{err}");
        assert_eq!(too_big(10 * 1024 * 1024, 10 * 1024 * 1024), None);
        let err = too_big(10 * 1024 * 1024 + 1, 10 * 1024 * 1024).expect("over");
        assert!(err.contains("max_image_mib (10 MiB)"), "{err}");
    }
}
