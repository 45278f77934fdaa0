//! G8 — artifacts stay inside their root.
//!
//! Artifact paths reach the file system from two directions: engines write reports under
//! `run_<id>/…`, and hosts serve artifacts whose relative path came from a request or a database
//! row. Both go through [`resolve_artifact_path`], which refuses anything that could name a file
//! outside the artifacts root: absolute paths, `..`, and symbolic links (or Windows-style tricks)
//! that lead elsewhere.
//!
//! Limits: the check resolves symbolic links as they are when it runs. It stops artifacts from
//! being read or written through links that already exist (planted by a container, a restored
//! backup, an operator mistake); it cannot stop a process that swaps a directory for a link
//! between the check and the open. Nothing but Cyberbrain is expected to write under the root.

use std::io;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The rule quoted in every refusal.
const RULE: &str = "artifact paths must be relative paths that stay inside the artifacts root (G8)";

fn refuse(relative: &str, why: &str) -> Error {
    // `{:?}` quotes the path and escapes control characters, so a NUL or a newline in hostile
    // input cannot garble the message or the log line it ends up in.
    Error::Forbidden(format!("artifact path {relative:?} {why}: {RULE}"))
}

/// Checks the lexical form of a relative artifact path without touching the disk, and returns its
/// normal components (no empty or `.` components).
fn lexical_components(relative: &str) -> Result<Vec<&str>> {
    if relative.trim().is_empty() {
        return Err(refuse(relative, "is empty"));
    }
    if relative.contains('\0') {
        return Err(refuse(relative, "contains a NUL byte"));
    }
    if relative.chars().any(char::is_control) {
        return Err(refuse(relative, "contains a control character"));
    }
    let bytes = relative.as_bytes();
    // `/etc/passwd`, `\x`, `\\server\share`, and Windows drive paths (`C:\x`, `C:x`, `C:/x`),
    // whichever platform we run on: a path that is absolute anywhere is refused everywhere.
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if relative.starts_with(['/', '\\']) || drive || Path::new(relative).has_root() {
        return Err(refuse(relative, "is absolute"));
    }
    if relative.contains('\\') {
        // On Unix a backslash is an ordinary file-name character, on Windows a separator; to mean
        // the same thing everywhere, `/` is the only separator and `\` is refused.
        return Err(refuse(
            relative,
            "contains a backslash (use / as the separator)",
        ));
    }
    let mut components = Vec::new();
    for component in relative.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err(refuse(relative, "contains a \"..\" component")),
            normal => components.push(normal),
        }
    }
    if components.is_empty() {
        return Err(refuse(relative, "names no file"));
    }
    Ok(components)
}

/// The lexical part of [`resolve_artifact_path`]: refuses empty paths, absolute paths
/// (`/etc/passwd`, `C:\x`, `\\server\share`), `..` components, backslashes, NUL bytes and other
/// control characters, with [`Error::Forbidden`] naming the path and the rule.
///
/// Use it to validate API input before touching the disk; `a/./b` and `a//b` are accepted (they
/// name `a/b`).
pub fn check_relative_path(relative: &str) -> Result<()> {
    lexical_components(relative).map(|_| ())
}

/// Resolves `relative` under the artifacts `root` and returns the absolute path, inside the
/// canonical root, that callers must use for the actual read or write.
///
/// Besides the lexical checks of [`check_relative_path`], the deepest part of the path that
/// already exists is canonicalised (all symbolic links resolved) and must still lie inside the
/// canonical root; the rest, which does not exist yet, is appended as is. A link inside the root
/// that points elsewhere inside the root is fine; one that points outside, or that dangles (its
/// target could be created anywhere), is refused with [`Error::Forbidden`].
///
/// The target itself need not exist, so this works for writing. Writers create the missing parent
/// directories from the *returned* path (`std::fs::create_dir_all(resolved.parent())`), never by
/// joining `relative` onto `root` themselves, so the directories created are the ones that were
/// checked.
///
/// A root that does not exist or cannot be read is [`Error::Unavailable`] (`artifacts`).
pub fn resolve_artifact_path(root: &Path, relative: &str) -> Result<PathBuf> {
    let components = lexical_components(relative)?;
    let canonical_root = root.canonicalize().map_err(|e| {
        Error::unavailable(
            "artifacts",
            format!("cannot resolve the artifacts root {}: {e}", root.display()),
        )
    })?;

    // Walk down while the entries exist. `symlink_metadata` does not follow links, so a dangling
    // link counts as existing and is then caught by `canonicalize` below.
    let mut existing = canonical_root.clone();
    let mut missing: &[&str] = &[];
    for (index, component) in components.iter().enumerate() {
        let next = existing.join(component);
        match std::fs::symlink_metadata(&next) {
            Ok(_) => existing = next,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing = &components[index..];
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
                return Err(not_a_directory(relative, &existing));
            }
            Err(e) => return Err(inspect_error(relative, &next, e)),
        }
    }

    let resolved = match existing.canonicalize() {
        Ok(resolved) => resolved,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(refuse(
                relative,
                "goes through a symbolic link whose target does not exist",
            ));
        }
        Err(e) => return Err(inspect_error(relative, &existing, e)),
    };
    if !resolved.starts_with(&canonical_root) {
        return Err(refuse(
            relative,
            &format!(
                "resolves to {} outside the artifacts root",
                resolved.display()
            ),
        ));
    }
    if !missing.is_empty() && !resolved.is_dir() {
        return Err(not_a_directory(relative, &resolved));
    }
    Ok(missing
        .iter()
        .fold(resolved, |path, component| path.join(component)))
}

/// `run_1/report.md/x` where `report.md` is a file: no write could succeed, so say so plainly.
fn not_a_directory(relative: &str, at: &Path) -> Error {
    Error::invalid(
        "path",
        format!(
            "artifact path {relative:?} continues below {}, which is not a directory",
            at.display()
        ),
    )
}

fn inspect_error(relative: &str, at: &Path, e: io::Error) -> Error {
    Error::backend_with(
        format!(
            "cannot inspect artifact path {relative:?} at {}",
            at.display()
        ),
        e,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(result: Result<impl std::fmt::Debug>) -> String {
        match result {
            Err(Error::Forbidden(message)) => message,
            other => panic!("expected Forbidden, got {other:?}"),
        }
    }

    #[test]
    fn lexical_table() {
        let cases: &[(&str, bool)] = &[
            ("report.md", true),
            ("run_1/report.md", true),
            ("run_1/log_triage/x.json", true),
            ("a/./b", true),
            ("./a", true),
            ("a//b/", true),
            ("..report.md", true),
            ("report..md", true),
            ("...", true),
            ("name with spaces.md", true),
            ("", false),
            ("   ", false),
            (".", false),
            ("./", false),
            ("..", false),
            ("../x", false),
            ("a/../../x", false),
            ("a/../b", false),
            ("a/..", false),
            ("/etc/passwd", false),
            ("//etc/passwd", false),
            ("C:\\x", false),
            ("c:/x", false),
            ("C:x", false),
            ("\\\\server\\share", false),
            ("\\x", false),
            ("a\\..\\..\\x", false),
            ("a\0b", false),
            ("a\nb", false),
        ];
        for (path, ok) in cases {
            let result = check_relative_path(path);
            assert_eq!(
                result.is_ok(),
                *ok,
                "check_relative_path({path:?}) = {result:?}"
            );
            if !ok {
                let message = forbidden(result);
                assert!(message.contains("(G8)"), "{message}");
            }
        }
    }

    #[test]
    fn messages_name_the_path_and_the_rule() {
        assert_eq!(
            forbidden(check_relative_path("../x")),
            "artifact path \"../x\" contains a \"..\" component: artifact paths must be relative \
             paths that stay inside the artifacts root (G8)"
        );
        assert!(
            forbidden(check_relative_path("/etc/passwd")).contains("\"/etc/passwd\" is absolute")
        );
        let message = forbidden(check_relative_path("a\0b"));
        assert!(message.contains("\"a\\0b\""), "{message}");
        assert!(!message.contains('\0'));
    }

    #[test]
    fn resolves_existing_and_new_paths_inside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical tempdir");
        std::fs::create_dir_all(root.join("run_1")).expect("mkdir");
        std::fs::write(root.join("run_1/report.md"), "# report").expect("write");

        assert_eq!(
            resolve_artifact_path(&root, "run_1/report.md").expect("existing"),
            root.join("run_1/report.md")
        );
        assert_eq!(
            resolve_artifact_path(&root, "run_2/log_triage/x.json").expect("new"),
            root.join("run_2/log_triage/x.json")
        );
        assert_eq!(
            resolve_artifact_path(&root, "run_1/./summary.json").expect("dot"),
            root.join("run_1/summary.json")
        );
        assert_eq!(
            resolve_artifact_path(&root, "run_1").expect("dir"),
            root.join("run_1")
        );
        assert!(matches!(
            resolve_artifact_path(&root, "run_1/report.md/x"),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn lexical_escapes_are_refused_before_the_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        for path in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "C:\\x",
            "\\\\server\\share",
            "",
        ] {
            forbidden(resolve_artifact_path(dir.path(), path));
        }
    }

    #[test]
    fn missing_root_is_unavailable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let result = resolve_artifact_path(&dir.path().join("nope"), "x");
        assert!(
            matches!(result, Err(Error::Unavailable { .. })),
            "{result:?}"
        );
    }

    #[cfg(unix)]
    mod symlinks {
        use super::*;
        use std::os::unix::fs::symlink;

        struct Fixture {
            _dir: tempfile::TempDir,
            root: PathBuf,
            outside: PathBuf,
        }

        fn fixture() -> Fixture {
            let dir = tempfile::tempdir().expect("tempdir");
            let base = dir.path().canonicalize().expect("canonical");
            let root = base.join("artifacts");
            let outside = base.join("outside");
            std::fs::create_dir_all(root.join("run_1")).expect("mkdir root");
            std::fs::create_dir_all(&outside).expect("mkdir outside");
            std::fs::write(outside.join("secret.txt"), "secret").expect("write");
            std::fs::write(root.join("run_1/report.md"), "# report").expect("write");
            Fixture {
                _dir: dir,
                root,
                outside,
            }
        }

        #[test]
        fn directory_link_escaping_the_root_is_refused() {
            let f = fixture();
            symlink(&f.outside, f.root.join("evil")).expect("symlink");
            let message = forbidden(resolve_artifact_path(&f.root, "evil/secret.txt"));
            assert!(message.contains("\"evil/secret.txt\""), "{message}");
            assert!(message.contains("outside the artifacts root"), "{message}");
            // Writing a new file through the link is refused too.
            forbidden(resolve_artifact_path(&f.root, "evil/new/file.md"));
            forbidden(resolve_artifact_path(&f.root, "evil"));
        }

        #[test]
        fn file_link_escaping_the_root_is_refused() {
            let f = fixture();
            symlink(
                f.outside.join("secret.txt"),
                f.root.join("run_1/summary.json"),
            )
            .expect("symlink");
            forbidden(resolve_artifact_path(&f.root, "run_1/summary.json"));
        }

        #[test]
        fn dangling_link_is_refused() {
            // Writing through it would create the target, wherever it points.
            let f = fixture();
            symlink(
                f.outside.join("created-by-write"),
                f.root.join("run_1/out.md"),
            )
            .expect("symlink");
            let message = forbidden(resolve_artifact_path(&f.root, "run_1/out.md"));
            assert!(message.contains("symbolic link"), "{message}");
        }

        #[test]
        fn relative_link_climbing_out_is_refused() {
            let f = fixture();
            symlink("../../outside", f.root.join("run_1/up")).expect("symlink");
            forbidden(resolve_artifact_path(&f.root, "run_1/up/secret.txt"));
        }

        #[test]
        fn link_inside_the_root_pointing_inside_is_accepted() {
            let f = fixture();
            symlink(f.root.join("run_1"), f.root.join("latest")).expect("symlink");
            assert_eq!(
                resolve_artifact_path(&f.root, "latest/report.md").expect("inside"),
                f.root.join("run_1/report.md")
            );
            assert_eq!(
                resolve_artifact_path(&f.root, "latest/new.md").expect("inside, new file"),
                f.root.join("run_1/new.md")
            );
        }

        #[test]
        fn root_given_as_a_link_is_accepted() {
            let f = fixture();
            let link = f.outside.join("artifacts-link");
            symlink(&f.root, &link).expect("symlink");
            assert_eq!(
                resolve_artifact_path(&link, "run_1/report.md").expect("through root link"),
                f.root.join("run_1/report.md")
            );
            // The returned path is inside the canonical root, not under the link.
            assert!(
                resolve_artifact_path(&link, "x.md")
                    .expect("new")
                    .starts_with(&f.root)
            );
        }

        #[test]
        fn sibling_with_the_root_as_prefix_is_outside() {
            // `/base/artifacts2` starts with the string `/base/artifacts` but is not inside it.
            let f = fixture();
            let sibling = f.root.with_file_name("artifacts2");
            std::fs::create_dir_all(&sibling).expect("mkdir");
            symlink(&sibling, f.root.join("sib")).expect("symlink");
            forbidden(resolve_artifact_path(&f.root, "sib/x"));
        }
    }
}
