//! What privacy and storage tests search a data directory with: every file under it, and
//! whether a file's bytes hold a canary.

use std::path::{Path, PathBuf};

/// Every file under `dir`, recursively (none when it does not exist).
pub fn every_file_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(every_file_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`, byte for byte.
pub fn bytes_contain(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}
