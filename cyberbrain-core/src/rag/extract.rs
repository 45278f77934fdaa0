//! The text of a stored upload (SPEC §3.6): txt and md as UTF-8 with invalid bytes replaced
//! (U+FFFD), json pretty-printed, pdf through pdf-extract, docx paragraphs and table cells in
//! document order through docx-rs.
//!
//! The title is the first Markdown heading for md files, else the file name without its
//! extension (`Q3 runbook.pdf` → `Q3 runbook`). PDF and DOCX metadata titles are not used: they
//! are often stale ("Microsoft Word - Document1") and the name is what the user chose.
//!
//! The parsers read untrusted bytes and can panic on odd files; each runs under
//! [`std::panic::catch_unwind`], so a hostile upload fails its own ingestion, not the process.
//! All of this is CPU-bound and synchronous: the engine calls it on a blocking thread.

use std::fmt;
use std::path::Path;

use docx_rs::{
    DocumentChild, InsertChild, MoveToChild, Paragraph, ParagraphChild, Run, RunChild,
    StructuredDataTag, StructuredDataTagChild, Table, TableCellContent, TableChild, TableRowChild,
};

use super::detect::{DocumentType, clip, shown};
use crate::domain::clip_error_summary;
use crate::error::{Error, FieldErrors};

/// Longest title kept, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// Longest library message quoted in an error, in characters.
const MAX_REASON_CHARS: usize = 400;

/// An upload's text and the title its document is stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedText {
    pub title: String,
    pub text: String,
}

/// Why extraction failed, for the upload's error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractErrorKind {
    /// The stored file could not be read (a server-side problem).
    Unreadable,
    /// The content is not a readable document of its type (corrupt, truncated, encrypted).
    Corrupt,
    /// The document holds no text (a scanned PDF, an empty document).
    NoText,
}

/// An extraction failure whose `Display` is a user-facing message of at most 1000 characters
/// that names the file and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractError {
    kind: ExtractErrorKind,
    message: String,
}

impl ExtractError {
    fn new(kind: ExtractErrorKind, message: String) -> Self {
        Self {
            kind,
            message: clip_error_summary(&message),
        }
    }

    fn corrupt(filename: &str, what: &str, reason: impl fmt::Display) -> Self {
        Self::new(
            ExtractErrorKind::Corrupt,
            format!(
                "{} is not a readable {what}: {}",
                shown(filename),
                clip(&reason.to_string(), MAX_REASON_CHARS)
            ),
        )
    }

    pub fn kind(&self) -> ExtractErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExtractError {}

/// A bad document is the user's input (`InvalidInput` on `file`); an unreadable stored file is
/// the server's problem (`Backend`).
impl From<ExtractError> for Error {
    fn from(e: ExtractError) -> Self {
        match e.kind {
            ExtractErrorKind::Unreadable => Error::backend(e.message),
            ExtractErrorKind::Corrupt | ExtractErrorKind::NoText => {
                Error::InvalidInput(FieldErrors::single("file", e.message))
            }
        }
    }
}

/// The text of the file at `path`, of type `kind` (as [`super::detect::detect`] decided),
/// uploaded as `filename` (used for the title and in messages). Text that is empty or only
/// whitespace is an error ("no text found in …").
pub fn extract(
    path: &Path,
    kind: DocumentType,
    filename: &str,
) -> Result<ExtractedText, ExtractError> {
    let text = match kind {
        DocumentType::Text | DocumentType::Markdown => text_of(&read(path, filename)?),
        DocumentType::Json => json_text(&read(path, filename)?, filename)?,
        DocumentType::Pdf => pdf_text(path, filename)?,
        DocumentType::Docx => docx_text(&read(path, filename)?, filename)?,
    };
    if text.trim().is_empty() {
        let hint = match kind {
            DocumentType::Pdf => " (a scanned PDF holds images of text; run OCR on it first)",
            _ => "",
        };
        return Err(ExtractError::new(
            ExtractErrorKind::NoText,
            format!("no text found in {}{hint}", shown(filename)),
        ));
    }
    let title = match kind {
        DocumentType::Markdown => markdown_title(&text),
        _ => None,
    }
    .unwrap_or_else(|| title_from_filename(filename));
    Ok(ExtractedText { title, text })
}

/// `filename` without its directory and last extension, or the whole name when that leaves
/// nothing; clipped to [`MAX_TITLE_CHARS`].
pub fn title_from_filename(filename: &str) -> String {
    let path = Path::new(filename);
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(filename.trim());
    clip(stem, MAX_TITLE_CHARS)
}

/// The text of the first ATX heading (`# Title` … `###### Title`, closing `#`s dropped)
/// outside fenced code blocks; Setext headings (underlined with `===`) are not recognised.
pub fn markdown_title(text: &str) -> Option<String> {
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        // Up to three spaces of indentation; more makes an indented code block.
        if line.len() - trimmed.len() > 3 {
            continue;
        }
        if let Some(open) = fence {
            if trimmed.starts_with(open) {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") {
            fence = Some("```");
            continue;
        }
        if trimmed.starts_with("~~~") {
            fence = Some("~~~");
            continue;
        }
        let hashes = trimmed.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) {
            continue;
        }
        let rest = &trimmed[hashes..];
        if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
            continue; // `#hashtag`, not a heading
        }
        let title = rest.trim().trim_end_matches('#').trim();
        if !title.is_empty() {
            return Some(clip(title, MAX_TITLE_CHARS));
        }
    }
    None
}

fn read(path: &Path, filename: &str) -> Result<Vec<u8>, ExtractError> {
    std::fs::read(path).map_err(|e| {
        ExtractError::new(
            ExtractErrorKind::Unreadable,
            format!(
                "the stored file of {} could not be read: {e}",
                shown(filename)
            ),
        )
    })
}

/// UTF-8 with invalid sequences replaced by U+FFFD, without a leading byte order mark.
fn text_of(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// Pretty-printed with two-space indentation; object keys come out sorted (serde_json's map),
/// which does not matter for search.
fn json_text(bytes: &[u8], filename: &str) -> Result<String, ExtractError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ExtractError::corrupt(filename, "JSON file", e))?;
    serde_json::to_string_pretty(&value)
        .map_err(|e| ExtractError::corrupt(filename, "JSON file", e))
}

fn pdf_text(path: &Path, filename: &str) -> Result<String, ExtractError> {
    match guarded(|| pdf_extract::extract_text(path)) {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(ExtractError::corrupt(filename, "PDF", e)),
        Err(panic) => Err(ExtractError::corrupt(filename, "PDF", panic)),
    }
}

fn docx_text(bytes: &[u8], filename: &str) -> Result<String, ExtractError> {
    // Image previews cost time and are never used here.
    let options = docx_rs::ReadDocxOptions::default().with_image_previews(false);
    let docx = match guarded(|| docx_rs::read_docx_with_options(bytes, options)) {
        Ok(Ok(docx)) => docx,
        Ok(Err(e)) => return Err(ExtractError::corrupt(filename, "Word document", e)),
        Err(panic) => return Err(ExtractError::corrupt(filename, "Word document", panic)),
    };
    let mut out = DocxText::default();
    for child in &docx.document.children {
        match child {
            DocumentChild::Paragraph(p) => out.paragraph(p),
            DocumentChild::Table(t) => out.table(t),
            DocumentChild::StructuredDataTag(tag) => out.tag(tag),
            _ => {}
        }
    }
    Ok(out.text)
}

/// Text of a DOCX body: one line per paragraph; a table row's cells are joined by tabs, one
/// line per row; nested tables and content controls are walked in order.
#[derive(Default)]
struct DocxText {
    text: String,
}

impl DocxText {
    fn paragraph(&mut self, paragraph: &Paragraph) {
        let mut line = String::new();
        paragraph_children(&paragraph.children, &mut line);
        self.line(&line);
    }

    fn table(&mut self, table: &Table) {
        for TableChild::TableRow(row) in &table.rows {
            let mut cells = Vec::new();
            for TableRowChild::TableCell(cell) in &row.cells {
                let mut cell_text = DocxText::default();
                for content in &cell.children {
                    match content {
                        TableCellContent::Paragraph(p) => cell_text.paragraph(p),
                        TableCellContent::Table(t) => cell_text.table(t),
                        TableCellContent::StructuredDataTag(tag) => cell_text.tag(tag),
                        TableCellContent::TableOfContents(_) => {}
                    }
                }
                let joined = cell_text.text.trim().replace('\n', " ");
                if !joined.is_empty() {
                    cells.push(joined);
                }
            }
            self.line(&cells.join("\t"));
        }
    }

    fn tag(&mut self, tag: &StructuredDataTag) {
        let mut runs = String::new();
        for child in &tag.children {
            match child {
                StructuredDataTagChild::Run(run) => run_text(run, &mut runs),
                StructuredDataTagChild::Paragraph(p) => self.paragraph(p),
                StructuredDataTagChild::Table(t) => self.table(t),
                StructuredDataTagChild::StructuredDataTag(inner) => self.tag(inner),
                _ => {}
            }
        }
        self.line(&runs);
    }

    fn line(&mut self, line: &str) {
        if !line.trim().is_empty() {
            self.text.push_str(line);
            self.text.push('\n');
        }
    }
}

/// Runs, insertions, moved-to text, hyperlinks and inline content controls; deleted and
/// moved-from text (tracked changes) is left out, as a reader of the document would not see it.
fn paragraph_children(children: &[ParagraphChild], out: &mut String) {
    for child in children {
        match child {
            ParagraphChild::Run(run) => run_text(run, out),
            ParagraphChild::Insert(insert) => {
                for child in &insert.children {
                    if let InsertChild::Run(run) = child {
                        run_text(run, out);
                    }
                }
            }
            ParagraphChild::MoveTo(moved) => {
                for child in &moved.children {
                    if let MoveToChild::Run(run) = child {
                        run_text(run, out);
                    }
                }
            }
            ParagraphChild::Hyperlink(link) => {
                // The link's target is not text a reader sees; its runs are.
                paragraph_children(&link.children, out);
            }
            ParagraphChild::StructuredDataTag(tag) => {
                for child in &tag.children {
                    if let StructuredDataTagChild::Run(run) = child {
                        run_text(run, out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn run_text(run: &Run, out: &mut String) {
    for child in &run.children {
        match child {
            RunChild::Text(text) => out.push_str(&text.text),
            RunChild::Tab(_) | RunChild::PTab(_) => out.push('\t'),
            RunChild::Break(_) | RunChild::CarriageReturn(_) => out.push('\n'),
            _ => {}
        }
    }
}

/// Runs a parser, turning a panic into its message.
fn guarded<T>(parse: impl FnOnce() -> T) -> Result<T, String> {
    crate::caught_panic::catch(parse).map_err(|detail| format!("the parser crashed ({detail})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_titles_come_from_the_first_heading_outside_code() {
        let text =
            "intro line\n```sh\n# not a heading\n```\n#hashtag\n##   Backup runbook ##\n# Later";
        assert_eq!(markdown_title(text).as_deref(), Some("Backup runbook"));
        assert_eq!(markdown_title("no heading here\n====").as_deref(), None);
        assert_eq!(
            markdown_title("#\n# \n    # indented code\n").as_deref(),
            None
        );
        assert_eq!(markdown_title("####### seven").as_deref(), None);
        assert_eq!(
            markdown_title("~~~\n# in fence\n~~~\n# Out").as_deref(),
            Some("Out")
        );
    }

    #[test]
    fn titles_from_filenames_drop_the_extension() {
        assert_eq!(title_from_filename("Q3 runbook.pdf"), "Q3 runbook");
        assert_eq!(title_from_filename("report.final.docx"), "report.final");
        assert_eq!(title_from_filename("dir/notes.txt"), "notes");
        assert_eq!(title_from_filename(".md"), ".md");
        assert_eq!(
            title_from_filename(&"x".repeat(500)).chars().count(),
            MAX_TITLE_CHARS
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_and_a_bom_dropped() {
        assert_eq!(
            text_of(b"\xef\xbb\xbfcaf\xc3\xa9 \xff ok"),
            "café \u{fffd} ok"
        );
    }

    #[test]
    fn panics_become_messages() {
        let caught = guarded(|| -> u8 { panic!("boom at offset 7") });
        assert_eq!(caught.unwrap_err(), "the parser crashed (boom at offset 7)");
        let error = ExtractError::corrupt("x.pdf", "PDF", "y".repeat(5000));
        assert!(error.to_string().chars().count() <= 1000);
        assert!(
            error
                .to_string()
                .starts_with("x.pdf is not a readable PDF: yyy")
        );
    }

    #[test]
    fn errors_map_to_the_public_error() {
        let corrupt: Error = ExtractError::corrupt("a.json", "JSON file", "bad").into();
        assert!(matches!(corrupt, Error::InvalidInput(_)));
        assert_eq!(
            corrupt.to_string(),
            "invalid input: file: a.json is not a readable JSON file: bad"
        );
        let unreadable: Error =
            ExtractError::new(ExtractErrorKind::Unreadable, "gone".into()).into();
        assert!(matches!(unreadable, Error::Backend { .. }));
    }
}
