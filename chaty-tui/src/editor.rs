//! Writing the draft in an external editor (`Ctrl-X Ctrl-E`, `/edit`):
//! `$VISUAL`, else `$EDITOR`, else `vi`, on a private temp file holding the
//! draft. The terminal handover (leaving raw mode and the alternate screen)
//! is the runner's, in `lib.rs`; this is the file and the process.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use chaty_server::private;

/// The editor to run: `$VISUAL`, else `$EDITOR`, else `vi`. `var` reads the
/// environment (passed in so tests need not change the process's).
pub fn command(var: impl Fn(&str) -> Option<String>) -> String {
    ["VISUAL", "EDITOR"].into_iter().filter_map(var).find(|v| !v.trim().is_empty()).unwrap_or_else(|| "vi".to_string())
}

/// A temp file only its owner can read, removed when dropped.
struct DraftFile(PathBuf);

impl DraftFile {
    fn create(dir: &Path, text: &str) -> Result<Self> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a temp file name: {e}"))?;
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let path = dir.join(format!("chaty-draft-{name}.txt"));
        let mut file = private::create_new_file(&path).with_context(|| format!("cannot create {}", path.display()))?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        Ok(Self(path))
    }
}

impl Drop for DraftFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `editor` (a shell command line, e.g. `code --wait`) on `draft` in a
/// temp file in `dir`, waiting for it to exit. `Ok(Some(text))`: what was
/// saved, without the newline editors add at the end; `Ok(None)`: the file
/// was left empty (keep the draft as it was); an error: the editor could
/// not run or failed.
pub fn edit(editor: &str, draft: &str, dir: &Path) -> Result<Option<String>> {
    let file = DraftFile::create(dir, draft)?;
    // Through the shell, so that an editor with arguments works as it does elsewhere.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&file.0)
        .status()
        .with_context(|| format!("cannot run {editor}"))?;
    if !status.success() {
        bail!("{editor} failed ({status}); the draft is unchanged");
    }
    let text = std::fs::read_to_string(&file.0).with_context(|| format!("cannot read {}", file.0.display()))?;
    let text = text.replace("\r\n", "\n");
    let text = text.trim_end_matches('\n');
    Ok((!text.trim().is_empty()).then(|| text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visual_then_editor_then_vi() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(name, _)| *name == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(command(env(&[("VISUAL", "nano"), ("EDITOR", "ed")])), "nano");
        assert_eq!(command(env(&[("VISUAL", ""), ("EDITOR", "ed")])), "ed");
        assert_eq!(command(env(&[])), "vi");
    }
}
