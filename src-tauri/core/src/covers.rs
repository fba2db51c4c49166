//! Cover art for popups: fetched by the core with the token, cached on disk by item id.
//!
//! A popup must never carry a URL with a token in it (notification servers log and share them),
//! so the image travels as a local file. Only real images of bounded size are kept, and the cache
//! keeps the most recent few.

use std::path::{Path, PathBuf};

use crate::auth::AbsClient;
use crate::secret::Secret;

/// The largest cover kept; bigger ones are skipped (the popup shows the app icon).
pub const MAX_COVER_BYTES: usize = 2 * 1024 * 1024;
/// How many covers the cache keeps.
pub const MAX_COVERS: usize = 64;

/// Covers on disk, by item id.
#[derive(Debug, Clone)]
pub struct CoverCache {
    /// The folder holding `<item id>.<ext>` files.
    dir: PathBuf,
}

impl CoverCache {
    /// A cache in `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cached cover of `item_id`, fetching it first when missing; `None` when there is none,
    /// it is not an image, it is too large, or the server is unreachable.
    pub async fn cover(
        &self,
        client: &AbsClient,
        token: &Secret,
        item_id: &str,
    ) -> Option<PathBuf> {
        if !is_safe_id(item_id) {
            return None;
        }
        if let Some(path) = self.cached(item_id) {
            return Some(path);
        }
        let path = format!("/api/items/{item_id}/cover");
        let bytes = match client.get_bytes(&path, token).await {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::debug!(code = err.code(), "no cover for a popup");
                return None;
            }
        };
        let ext = image_kind(&bytes)?;
        if bytes.len() > MAX_COVER_BYTES {
            return None;
        }
        self.store(item_id, ext, &bytes).await
    }

    /// The cached file for an item, if any.
    fn cached(&self, item_id: &str) -> Option<PathBuf> {
        ["png", "jpg", "webp"]
            .iter()
            .map(|ext| self.dir.join(format!("{item_id}.{ext}")))
            .find(|path| path.is_file())
    }

    /// Writes a cover atomically and trims the cache.
    async fn store(&self, item_id: &str, ext: &str, bytes: &[u8]) -> Option<PathBuf> {
        let dir = self.dir.clone();
        let file = dir.join(format!("{item_id}.{ext}"));
        let bytes = bytes.to_vec();
        let target = file.clone();
        let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let temp = dir.join(format!(".{}.tmp", std::process::id()));
            std::fs::write(&temp, &bytes)?;
            std::fs::rename(&temp, &target)?;
            trim(&dir, MAX_COVERS)
        })
        .await;
        match written {
            Ok(Ok(())) => Some(file),
            Ok(Err(err)) => {
                tracing::debug!(%err, "could not cache a cover");
                None
            }
            Err(_) => None,
        }
    }
}

/// Ids become file names: only what ABS ids look like (uuids, old `li_...` ids).
pub(crate) fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The file extension for image bytes, from their magic numbers; `None` for anything else.
fn image_kind(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0x89, b'P', b'N', b'G', ..] => Some("png"),
        [0xFF, 0xD8, 0xFF, ..] => Some("jpg"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some("webp"),
        _ => None,
    }
}

/// Deletes the oldest files beyond `keep`.
fn trim(dir: &Path, keep: usize) -> std::io::Result<()> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let modified = entry.metadata().and_then(|m| m.modified()).ok()?;
            Some((modified, entry.path()))
        })
        .collect();
    if files.len() <= keep {
        return Ok(());
    }
    files.sort();
    for (_, path) in &files[..files.len() - keep] {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_become_file_names() {
        assert!(is_safe_id("40e98f27-e009-4521-a6c3-fa8e157329e1"));
        assert!(is_safe_id("li_abc123"));
        for bad in [
            "",
            "../etc/passwd",
            "a/b",
            "a b",
            "x".repeat(65).as_str(),
            "é",
        ] {
            assert!(!is_safe_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn only_images_are_kept() {
        assert_eq!(image_kind(b"\x89PNG\r\n\x1a\n...."), Some("png"));
        assert_eq!(image_kind(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("jpg"));
        assert_eq!(image_kind(b"RIFF\0\0\0\0WEBPVP8 "), Some("webp"));
        assert_eq!(image_kind(b"<html>"), None);
        assert_eq!(image_kind(b""), None);
    }

    #[test]
    fn trimming_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..5 {
            let path = dir.path().join(format!("{n}.png"));
            std::fs::write(&path, b"x").unwrap();
            let when =
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000 + n);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        trim(dir.path(), 2).unwrap();
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["3.png", "4.png"]);
    }
}
