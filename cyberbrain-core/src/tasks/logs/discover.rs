//! Finding the log files under `logs_dir` (SPEC §3.2), with a small glob matcher.
//!
//! Globs are relative to `logs_dir`, `/`-separated, and support:
//! - `**` as a whole segment: any number of directories, none included (`**/*.log` matches
//!   `app.log` and `a/b/app.log`);
//! - `*` within a segment: any run of characters except `/` (a leading dot included);
//! - `?`: one character except `/`;
//! - everything else literally (no `[…]` classes or `{a,b}` alternatives). `**` inside a segment
//!   (`app**.log`) acts like `*`.
//!
//! Safety: the walk never follows a directory symlink (no loops, no escapes), never enters an
//! excluded root (the artifacts root: reports must not feed the next triage), and only reads
//! regular files. A file symlink is followed only when its target lies inside `logs_dir` and
//! outside every excluded root; the target is returned, so a file reachable twice is read once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::{Error, FieldErrors, Result};

/// The task's default globs.
pub const DEFAULT_GLOBS: &[&str] = &["**/*.log", "**/*.txt"];

/// Directories deeper than this below `logs_dir` are not entered.
const MAX_DEPTH: usize = 32;

/// Segments a glob may have.
const MAX_SEGMENTS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    AnyDepth,
    Name(Vec<char>),
}

/// A compiled glob (see the module documentation for the syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    segments: Vec<Segment>,
}

impl Glob {
    /// Compiles `pattern`; a refusal names the pattern and the rule, for the `globs` field.
    pub fn parse(pattern: &str) -> std::result::Result<Glob, String> {
        let refuse = |why: &str| format!("pattern {pattern:?} {why}");
        if pattern.trim().is_empty() {
            return Err(refuse("is empty"));
        }
        if pattern.chars().any(char::is_control) {
            return Err(refuse("contains a control character"));
        }
        let bytes = pattern.as_bytes();
        let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
        if pattern.starts_with(['/', '\\']) || drive {
            return Err(refuse(
                "is absolute; globs are relative to logs_dir, e.g. \"**/*.log\"",
            ));
        }
        if pattern.contains('\\') {
            return Err(refuse("contains a backslash; use / as the separator"));
        }
        let mut segments = Vec::new();
        for part in pattern.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(refuse("contains \"..\"; globs cannot leave logs_dir")),
                "**" => {
                    if segments.last() != Some(&Segment::AnyDepth) {
                        segments.push(Segment::AnyDepth);
                    }
                }
                name => segments.push(Segment::Name(name.replace("**", "*").chars().collect())),
            }
        }
        if segments.is_empty() {
            return Err(refuse("names no file"));
        }
        if segments.len() > MAX_SEGMENTS {
            return Err(refuse(&format!("has more than {MAX_SEGMENTS} segments")));
        }
        Ok(Glob {
            pattern: pattern.to_owned(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the `/`-separated relative path matches.
    pub fn matches(&self, relative: &str) -> bool {
        let components: Vec<&str> = relative
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        self.matches_components(&components)
    }

    fn matches_components<S: AsRef<str>>(&self, components: &[S]) -> bool {
        match_segments(&self.segments, components)
    }
}

fn match_segments<S: AsRef<str>>(segments: &[Segment], components: &[S]) -> bool {
    match segments.split_first() {
        None => components.is_empty(),
        Some((Segment::AnyDepth, rest)) => {
            (0..=components.len()).any(|skip| match_segments(rest, &components[skip..]))
        }
        Some((Segment::Name(pattern), rest)) => match components.split_first() {
            Some((first, others)) => {
                wildcard(pattern, first.as_ref()) && match_segments(rest, others)
            }
            None => false,
        },
    }
}

/// `*` and `?` matching within one segment, with single-star backtracking (linear in practice).
fn wildcard(pattern: &[char], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Lists the regular files under `logs_dir` whose relative path matches one of `globs`, never
/// inside one of `exclude` (pass the artifacts root), never through a directory symlink, and
/// only through file symlinks that stay inside `logs_dir`. Returns canonical paths, sorted and
/// without duplicates; name them with [`relative_name`](super::relative_name) against
/// `logs_dir.canonicalize()`.
///
/// Errors: [`Error::InvalidInput`] (`globs`) for an empty list or a bad pattern;
/// [`Error::Unavailable`] (`logs`) when `logs_dir` cannot be read. A subdirectory that cannot be
/// read is skipped with a warning in the process log.
pub fn discover_files(
    logs_dir: &Path,
    globs: &[String],
    exclude: &[&Path],
) -> Result<Vec<PathBuf>> {
    let mut errors = FieldErrors::new();
    if globs.is_empty() {
        errors.add(
            "globs",
            "must list at least one pattern, e.g. [\"**/*.log\", \"**/*.txt\"]",
        );
    }
    let compiled: Vec<Glob> = globs
        .iter()
        .filter_map(|pattern| match Glob::parse(pattern) {
            Ok(glob) => Some(glob),
            Err(message) => {
                errors.add("globs", message);
                None
            }
        })
        .collect();
    errors.into_result()?;

    let unreadable = |e: std::io::Error| {
        Error::unavailable(
            "logs",
            format!(
                "cannot read the logs directory {}: {e}; set CYBER_BRAIN_LOGS (paths.logs_dir) to \
                 an existing directory",
                logs_dir.display()
            ),
        )
    };
    let root = logs_dir.canonicalize().map_err(unreadable)?;
    if !root.is_dir() {
        return Err(Error::unavailable(
            "logs",
            format!(
                "the logs directory {} is not a directory; set CYBER_BRAIN_LOGS (paths.logs_dir) \
                 to a directory",
                logs_dir.display()
            ),
        ));
    }
    let excluded: Vec<PathBuf> = exclude
        .iter()
        .filter_map(|path| path.canonicalize().ok())
        .collect();
    let is_excluded = |path: &Path| excluded.iter().any(|e| path.starts_with(e));
    if is_excluded(&root) {
        tracing::warn!(
            logs_dir = %root.display(),
            "the logs directory lies inside an excluded root (the artifacts root); no log files are read"
        );
        return Ok(Vec::new());
    }

    let matches = |components: &[String]| compiled.iter().any(|g| g.matches_components(components));
    let mut found = BTreeSet::new();
    let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(root.clone(), Vec::new())];
    while let Some((directory, relative)) = stack.pop() {
        let entries = match std::fs::read_dir(&directory) {
            Ok(entries) => entries,
            Err(e) if relative.is_empty() => return Err(unreadable(e)),
            Err(e) => {
                tracing::warn!(directory = %directory.display(), error = %e, "skipping an unreadable log directory");
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::warn!(directory = %directory.display(), error = %e, "skipping an unreadable directory entry");
                    continue;
                }
            };
            let path = entry.path();
            let mut components = relative.clone();
            components.push(entry.file_name().to_string_lossy().into_owned());
            // `file_type` does not follow symlinks.
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir() {
                if !is_excluded(&path) && components.len() <= MAX_DEPTH {
                    stack.push((path, components));
                }
            } else if file_type.is_file() {
                if matches(&components) {
                    found.insert(path);
                }
            } else if file_type.is_symlink() && matches(&components) {
                // Followed only to a regular file inside logs_dir and outside excluded roots.
                let Ok(target) = path.canonicalize() else {
                    continue;
                };
                let is_regular = std::fs::metadata(&target).is_ok_and(|m| m.is_file());
                if is_regular && target.starts_with(&root) && !is_excluded(&target) {
                    found.insert(target);
                }
            }
        }
    }
    Ok(found.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("**/*.log", "app.log", true),
            ("**/*.log", "nginx/error.log", true),
            ("**/*.log", "a/b/c/d.log", true),
            ("**/*.log", "nginx/access.log.1", false),
            ("**/*.log", "app.txt", false),
            ("**/*.log", ".hidden.log", true),
            ("*.log", "app.log", true),
            ("*.log", "nginx/error.log", false),
            ("nginx/*.log", "nginx/error.log", true),
            ("nginx/*.log", "nginx/sub/error.log", false),
            ("nginx/**/*.log", "nginx/error.log", true),
            ("nginx/**/*.log", "nginx/a/b/error.log", true),
            ("nginx/**/*.log", "apache/error.log", false),
            ("**/nginx/*.log", "srv/nginx/x.log", true),
            ("**", "anything/at/all", true),
            ("logs/**", "logs/a/b", true),
            ("logs/**", "logs", true),
            ("**/**/*.log", "x.log", true),
            ("app-?.log", "app-1.log", true),
            ("app-?.log", "app-12.log", false),
            ("*error*", "nginx-error-2024.log", true),
            ("*.log*", "access.log.1", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("a*b*c", "abcabc", true),
            ("app**.log", "app-old.log", true),
            ("./app.log", "app.log", true),
            ("x//y.log", "x/y.log", true),
            ("*.LOG", "app.log", false),
            ("journal.txt", "journal.txt", true),
            ("café/*.log", "café/x.log", true),
        ];
        for (pattern, path, expected) in cases {
            let glob = Glob::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            assert_eq!(glob.matches(path), *expected, "{pattern} ~ {path}");
        }
    }

    #[test]
    fn bad_globs_are_refused_with_the_rule() {
        let cases: &[(&str, &str)] = &[
            ("", "is empty"),
            ("  ", "is empty"),
            ("/var/log/*.log", "is absolute"),
            ("C:\\logs\\*.log", "is absolute"),
            ("\\\\server\\x", "is absolute"),
            ("nginx\\*.log", "backslash"),
            ("../*.log", "cannot leave logs_dir"),
            ("a/../../b", "cannot leave logs_dir"),
            (".", "names no file"),
            ("a\nb", "control character"),
        ];
        for (pattern, expected) in cases {
            let message = Glob::parse(pattern).expect_err(pattern);
            assert!(message.contains(expected), "{pattern:?}: {message}");
        }
        let many = vec!["x"; MAX_SEGMENTS + 1].join("/");
        assert!(Glob::parse(&many).is_err());

        let dir = tempfile::tempdir().expect("tempdir");
        let result = discover_files(
            dir.path(),
            &["**/*.log".to_owned(), "../x".to_owned(), "/abs".to_owned()],
            &[],
        );
        match result {
            Err(Error::InvalidInput(errors)) => {
                let text = errors.to_string();
                assert!(text.contains("globs: pattern \"../x\""), "{text}");
                assert!(text.contains("globs: pattern \"/abs\""), "{text}");
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        assert!(matches!(
            discover_files(dir.path(), &[], &[]),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn missing_logs_dir_is_unavailable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let result = discover_files(&dir.path().join("nope"), &["**/*.log".to_owned()], &[]);
        match result {
            Err(Error::Unavailable { component, message }) => {
                assert_eq!(component, "logs");
                assert!(message.contains("CYBER_BRAIN_LOGS"), "{message}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        let file = dir.path().join("file.log");
        std::fs::write(&file, "x").expect("write");
        assert!(matches!(
            discover_files(&file, &["**/*.log".to_owned()], &[]),
            Err(Error::Unavailable { .. })
        ));
    }

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, "line\n").expect("write");
    }

    fn default_globs() -> Vec<String> {
        DEFAULT_GLOBS.iter().map(|g| (*g).to_owned()).collect()
    }

    #[test]
    fn walks_matches_and_excludes_the_artifacts_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().canonicalize().expect("canonical");
        let logs = base.join("logs");
        for file in [
            "app.log",
            "journal.txt",
            "nginx/error.log",
            "nginx/access.log.1",
            "deep/a/b/c.log",
            "notes.md",
            "artifacts/run_1/log_triage.md",
            "artifacts/run_1/debug.log",
        ] {
            touch(&logs.join(file));
        }
        let artifacts = logs.join("artifacts");
        let found = discover_files(&logs, &default_globs(), &[artifacts.as_path()]).expect("walk");
        let names: Vec<String> = found
            .iter()
            .map(|p| crate::tasks::logs::relative_name(&logs, p))
            .collect();
        assert_eq!(
            names,
            [
                "app.log",
                "deep/a/b/c.log",
                "journal.txt",
                "nginx/error.log"
            ]
        );

        // Without the exclusion the artifacts' log would be read.
        let all = discover_files(&logs, &default_globs(), &[]).expect("walk");
        assert_eq!(all.len(), 5);

        // An excluded root given through another spelling is still excluded.
        let spelled = logs.join("nginx/../artifacts");
        let found = discover_files(&logs, &default_globs(), &[spelled.as_path()]).expect("walk");
        assert_eq!(found.len(), 4);

        // A logs dir inside the artifacts root reads nothing.
        let inside =
            discover_files(&artifacts, &default_globs(), &[artifacts.as_path()]).expect("walk");
        assert!(inside.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_never_lead_out() {
        use std::os::unix::fs::symlink;

        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().canonicalize().expect("canonical");
        let logs = base.join("logs");
        let outside = base.join("outside");
        touch(&logs.join("nginx/error.log"));
        touch(&outside.join("secret.log"));
        touch(&logs.join("artifacts/run_1/x.log"));
        symlink(logs.join("nginx/error.log"), logs.join("current.log")).expect("link");
        symlink(outside.join("secret.log"), logs.join("escape.log")).expect("link");
        symlink(&outside, logs.join("outdir")).expect("link");
        symlink(&logs, logs.join("nginx/loop")).expect("link");
        symlink(logs.join("missing.log"), logs.join("dangling.log")).expect("link");
        symlink(logs.join("artifacts/run_1/x.log"), logs.join("report.log")).expect("link");
        let artifacts = logs.join("artifacts");

        let found = discover_files(&logs, &default_globs(), &[artifacts.as_path()]).expect("walk");
        assert_eq!(found, [logs.join("nginx/error.log")]);
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().canonicalize().expect("canonical");
        touch(&logs.join("ok.log"));
        // A FIFO named like a log would block the reader forever.
        let fifo = logs.join("pipe.log");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        let found = discover_files(&logs, &default_globs(), &[]).expect("walk");
        assert_eq!(found, [logs.join("ok.log")]);
        if made {
            assert!(fifo.exists());
        }
    }
}
