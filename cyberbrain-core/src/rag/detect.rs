//! Which of the accepted document types a file is (SPEC §3.6): decided by the extension of the
//! client's file name **and** by the content, so a PNG renamed to `.pdf` or a binary renamed to
//! `.txt` is refused (HTTP 415) before anything is stored or queued.
//!
//! Detection reads at most a [`SNIFF_BYTES`] prefix of the file, except for JSON (validated by
//! streaming it through the parser) and DOCX (whose ZIP central directory, at the end of the
//! file, must list `word/document.xml`). Nothing here holds a whole upload in memory.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};

/// How much of a file the binary sniffing looks at.
pub const SNIFF_BYTES: usize = 8 * 1024;

/// The accepted extensions, as error messages list them.
pub const ACCEPTED_TYPES: &str = "txt, md, json, pdf, docx";

/// The part of a DOCX package that holds the document body.
const DOCX_MAIN_PART: &str = "word/document.xml";

const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// A document type the knowledge base accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentType {
    Text,
    Markdown,
    Json,
    Pdf,
    Docx,
}

impl DocumentType {
    pub const ALL: [DocumentType; 5] = [
        DocumentType::Text,
        DocumentType::Markdown,
        DocumentType::Json,
        DocumentType::Pdf,
        DocumentType::Docx,
    ];

    /// The canonical extension (no dot), used for the stored file's name.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Text => "txt",
            Self::Markdown => "md",
            Self::Json => "json",
            Self::Pdf => "pdf",
            Self::Docx => "docx",
        }
    }

    /// The MIME type stored with the upload.
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Text => "text/plain",
            Self::Markdown => "text/markdown",
            Self::Json => "application/json",
            Self::Pdf => "application/pdf",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        }
    }

    /// The type with this extension (no dot, any case).
    pub fn from_extension(extension: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.extension().eq_ignore_ascii_case(extension))
    }

    /// The type stored as this MIME type (the inverse of [`DocumentType::mime_type`]).
    pub fn from_mime_type(mime_type: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.mime_type().eq_ignore_ascii_case(mime_type))
    }
}

/// The type named by `filename`'s extension, before any content is read (so an unknown
/// extension is refused without receiving the body). `UnsupportedType` names the extension
/// found and the accepted ones.
pub fn check_extension(filename: &str) -> Result<DocumentType> {
    let extension = Path::new(filename)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| !e.is_empty());
    match extension {
        Some(extension) => DocumentType::from_extension(extension).ok_or_else(|| {
            Error::UnsupportedType(format!(
                "{} has the extension .{}; accepted types are {ACCEPTED_TYPES}",
                shown(filename),
                shown(extension)
            ))
        }),
        None => Err(Error::UnsupportedType(format!(
            "{} has no file extension; accepted types are {ACCEPTED_TYPES} (name the file \
             with one of these extensions)",
            shown(filename)
        ))),
    }
}

/// The type of the file at `path`, uploaded as `filename`: its extension must be an accepted
/// one and its content must match it — `.pdf` starts with `%PDF-`; `.docx` is a ZIP archive
/// listing `word/document.xml`; `.txt`, `.md` and `.json` are not binary (no NUL byte in the
/// first [`SNIFF_BYTES`], no known binary signature) and `.json` parses.
///
/// Errors: `InvalidInput` (field `file`) for an empty file, `UnsupportedType` for any mismatch
/// (the message names the file, what was found and the accepted types), `Backend` when the
/// file cannot be read.
pub fn detect(path: &Path, filename: &str) -> Result<DocumentType> {
    let kind = check_extension(filename)?;
    let mut file = File::open(path).map_err(|e| unreadable(filename, e))?;
    let prefix = read_prefix(&mut file, SNIFF_BYTES).map_err(|e| unreadable(filename, e))?;
    if prefix.is_empty() {
        return Err(Error::invalid(
            "file",
            format!("{} is empty; upload a file with content", shown(filename)),
        ));
    }
    let mismatch = |found: &str, rule: &str| {
        Error::UnsupportedType(format!(
            "{} is named .{} but {found}; {rule}. Accepted types are {ACCEPTED_TYPES}",
            shown(filename),
            kind.extension()
        ))
    };

    match kind {
        DocumentType::Pdf => {
            if !prefix.starts_with(b"%PDF-") {
                return Err(mismatch(
                    &format!("its content is {}", describe(&prefix)),
                    "a PDF file starts with %PDF-",
                ));
            }
        }
        DocumentType::Docx => {
            if !prefix.starts_with(b"PK\x03\x04") {
                return Err(mismatch(
                    &format!("its content is {}", describe(&prefix)),
                    "a Word document is a ZIP archive",
                ));
            }
            match zip_lists(file, DOCX_MAIN_PART) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(mismatch(
                        &format!("it is a ZIP archive without {DOCX_MAIN_PART}"),
                        "a Word document holds its text in that part (save it as .docx from \
                         a word processor)",
                    ));
                }
                Err(reason) => {
                    return Err(mismatch(
                        &format!("it is not a readable ZIP archive ({reason})"),
                        "the file may be truncated or damaged",
                    ));
                }
            }
        }
        DocumentType::Text | DocumentType::Markdown | DocumentType::Json => {
            if let Some(found) = binary_content(&prefix) {
                return Err(mismatch(
                    &format!("its content is {found}"),
                    "text files must be text (save it as UTF-8)",
                ));
            }
            if kind == DocumentType::Json {
                validate_json(file).map_err(|reason| {
                    mismatch(
                        &format!("it is not valid JSON ({reason})"),
                        "fix the JSON or upload it as .txt",
                    )
                })?;
            }
        }
    }
    Ok(kind)
}

/// What a binary prefix looks like ("a PNG image", …), or `None` when it looks like text.
fn binary_content(prefix: &[u8]) -> Option<String> {
    if let Some(name) = signature(prefix) {
        return Some(name.to_string());
    }
    prefix.contains(&0).then(|| {
        format!(
            "binary data (NUL bytes in the first {} KiB; UTF-16 text counts as binary)",
            SNIFF_BYTES / 1024
        )
    })
}

/// A short description of a prefix for messages: a known signature, binary data, or text.
fn describe(prefix: &[u8]) -> String {
    binary_content(prefix).unwrap_or_else(|| "text".to_string())
}

/// Known binary file signatures. Two-byte signatures that plain text can start with (`MZ`,
/// `BZ`) are left out: such files are caught by their NUL bytes instead.
fn signature(prefix: &[u8]) -> Option<&'static str> {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"%PDF-", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"PK\x05\x06", "an empty ZIP archive"),
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\x7fELF", "an ELF executable"),
        (b"\x1f\x8b", "gzip-compressed data"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF87a", "a GIF image"),
        (b"GIF89a", "a GIF image"),
        (b"\xfd7zXZ\x00", "xz-compressed data"),
        (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
        (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
        (b"\xca\xfe\xba\xbe", "a Java class or Mach-O binary"),
        (b"\xcf\xfa\xed\xfe", "a Mach-O binary"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            "a legacy Office (OLE) document",
        ),
        (b"SQLite format 3\x00", "an SQLite database"),
    ];
    SIGNATURES
        .iter()
        .find(|(magic, _)| prefix.starts_with(magic))
        .map(|(_, name)| *name)
}

/// Up to `limit` bytes from the start of `file`, leaving it positioned at the start again.
fn read_prefix(file: &mut File, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(limit.min(SNIFF_BYTES));
    file.by_ref().take(limit as u64).read_to_end(&mut prefix)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(prefix)
}

/// Whether the ZIP archive's central directory lists `name`; `Err` says why it is unreadable.
/// Only the directory is read, not the entries' data.
fn zip_lists(file: File, name: &str) -> std::result::Result<bool, String> {
    // The zip reader is a parser of untrusted bytes: a panic in it is a refusal, not a crash.
    let listed = crate::caught_panic::catch(|| {
        zip::ZipArchive::new(BufReader::new(file)).map(|archive| archive.index_for_name(name))
    });
    match listed {
        Ok(Ok(index)) => Ok(index.is_some()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the ZIP reader could not parse its directory".to_string()),
    }
}

/// Streams the file through the JSON parser without building the value; `Err` is the parser's
/// message (with line and column). A UTF-8 byte order mark is skipped, as editors write one.
fn validate_json(mut file: File) -> std::result::Result<(), String> {
    let mut bom = [0u8; 3];
    let read = file.read(&mut bom).map_err(|e| e.to_string())?;
    if read < 3 || bom != UTF8_BOM {
        file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    }
    serde_json::from_reader::<_, serde::de::IgnoredAny>(BufReader::new(file))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn unreadable(filename: &str, e: std::io::Error) -> Error {
    Error::backend_with(
        format!("the uploaded file {} could not be read", shown(filename)),
        e,
    )
}

/// A client-chosen name or extension as shown in messages: at most 200 characters, so a
/// message stays well under the 1000-character limit whatever the client sent.
pub(super) fn shown(name: &str) -> String {
    clip(name, 200)
}

/// At most `max` characters (on a character boundary), ending in "…" when cut.
pub(super) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
        clipped.push('…');
        clipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_map_to_types_in_any_case() {
        assert_eq!(check_extension("a.TXT").unwrap(), DocumentType::Text);
        assert_eq!(
            check_extension("notes.v2.md").unwrap(),
            DocumentType::Markdown
        );
        assert_eq!(check_extension("x.Json").unwrap(), DocumentType::Json);
        assert_eq!(check_extension("r.pdf").unwrap(), DocumentType::Pdf);
        assert_eq!(check_extension("w.docx").unwrap(), DocumentType::Docx);
        for kind in DocumentType::ALL {
            assert_eq!(DocumentType::from_extension(kind.extension()), Some(kind));
            assert_eq!(DocumentType::from_mime_type(kind.mime_type()), Some(kind));
        }
    }

    #[test]
    fn unknown_or_missing_extensions_name_what_was_found() {
        for (name, expected) in [
            ("tool.exe", ".exe"),
            ("noext", "no file extension"),
            ("trailing.", "no file extension"),
            (".bashrc", "no file extension"),
            ("archive.tar.gz", ".gz"),
        ] {
            match check_extension(name) {
                Err(Error::UnsupportedType(message)) => {
                    assert!(message.contains(expected), "{name}: {message}");
                    assert!(message.contains(ACCEPTED_TYPES), "{message}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn binary_prefixes_are_recognised() {
        assert_eq!(describe(b"\x89PNG\r\n\x1a\n...."), "a PNG image");
        assert_eq!(describe(b"\x7fELF\x02\x01"), "an ELF executable");
        assert!(describe(b"abc\0def").starts_with("binary data"));
        assert_eq!(describe(b"MZ is a plain word"), "text");
        assert_eq!(describe("héllo wörld".as_bytes()), "text");
    }

    #[test]
    fn long_names_are_clipped_in_messages() {
        let name = format!("{}.exe", "n".repeat(5000));
        let message = check_extension(&name).unwrap_err().to_string();
        assert!(message.chars().count() < 1000, "{}", message.len());
    }
}
