//! The document pipeline on real files written by the tests themselves: a PDF with correct
//! cross-reference offsets, DOCX packages written by docx-rs (paragraphs, tables, hyperlinks),
//! JSON, Markdown and text with invalid UTF-8 — and the bad inputs an upload can bring (empty,
//! renamed binaries, truncated or damaged PDF and DOCX, invalid JSON, unknown extensions), each
//! a clear error and never a panic.

use std::io::Write;
use std::path::PathBuf;

use cyberbrain_core::Error;
use cyberbrain_core::rag::{
    ACCEPTED_TYPES, ChunkOptions, DocumentType, ExtractErrorKind, check_extension, detect, extract,
    prepare,
};
use cyberbrain_core::testing::documents;
use docx_rs::{
    BreakType, Docx, Hyperlink, HyperlinkType, Paragraph, Run, Table, TableCell, TableRow,
};
use tempfile::TempDir;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0";

struct Files {
    dir: TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// Writes `bytes` under a name of its own (uploads are stored by hash, not by name; the
    /// client's name travels separately).
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(format!("stored-{name}"));
        std::fs::write(&path, bytes).expect("write a test file");
        path
    }
}

/// The message of an `UnsupportedType`, failing the test on anything else.
fn unsupported(result: cyberbrain_core::Result<DocumentType>, name: &str) -> String {
    match result {
        Err(Error::UnsupportedType(message)) => {
            assert!(message.contains(ACCEPTED_TYPES), "{name}: {message}");
            assert!(message.chars().count() <= 1000, "{name}: {message}");
            message
        }
        other => panic!("{name}: expected UnsupportedType, got {other:?}"),
    }
}

fn words(n: usize) -> String {
    (0..n)
        .map(|i| format!("word{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A DOCX with text before, inside and after a table, a hyperlink and a line break, so document
/// order and the less common run kinds are covered.
fn rich_docx() -> Vec<u8> {
    let cell = |text: &str| {
        TableCell::new().add_paragraph(Paragraph::new().add_run(Run::new().add_text(text)))
    };
    let document = Docx::new()
        .add_paragraph(Paragraph::new().add_run(Run::new().add_text("Backup runbook")))
        .add_paragraph(
            Paragraph::new()
                .add_run(Run::new().add_text("See the "))
                .add_hyperlink(
                    Hyperlink::new("https://wiki.example/backup", HyperlinkType::External)
                        .add_run(Run::new().add_text("wiki page")),
                )
                .add_run(Run::new().add_text(" first.")),
        )
        .add_table(Table::new(vec![
            TableRow::new(vec![cell("host"), cell("schedule")]),
            TableRow::new(vec![cell("db-01"), cell("nightly 02:00")]),
        ]))
        .add_paragraph(
            Paragraph::new().add_run(
                Run::new()
                    .add_text("Line one")
                    .add_break(BreakType::TextWrapping)
                    .add_text("line two after the table"),
            ),
        );
    let mut out = std::io::Cursor::new(Vec::new());
    document
        .build()
        .pack(&mut out)
        .expect("docx-rs writes to memory");
    out.into_inner()
}

/// A ZIP archive holding `entries` (name, content), stored uncompressed.
fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, content) in entries {
        writer
            .start_file(*name, options)
            .expect("start a zip entry");
        writer.write_all(content).expect("write a zip entry");
    }
    writer.finish().expect("finish the zip").into_inner()
}

// ---- accepted files --------------------------------------------------------------------------

#[test]
fn text_with_invalid_utf8_is_read_with_replacement_characters() {
    let files = Files::new();
    let path = files.write(
        "notes.txt",
        b"disk usage at 91%\nbad byte \xff here\ncaf\xc3\xa9\n",
    );
    let kind = detect(&path, "ops notes.txt").unwrap();
    assert_eq!(kind, DocumentType::Text);
    assert_eq!(kind.mime_type(), "text/plain");
    assert_eq!(kind.extension(), "txt");

    let extracted = extract(&path, kind, "ops notes.txt").unwrap();
    assert_eq!(extracted.title, "ops notes");
    assert_eq!(
        extracted.text,
        "disk usage at 91%\nbad byte \u{fffd} here\ncafé\n"
    );
}

#[test]
fn markdown_takes_its_title_from_the_first_heading() {
    let files = Files::new();
    let markdown = "<!-- front matter -->\n\n# Incident review: disk full\n\nThe `/var` volume \
                    filled up.\n\n## Timeline\n- 02:00 backup started\n";
    let path = files.write("review.md", markdown.as_bytes());
    let kind = detect(&path, "review.MD").unwrap();
    assert_eq!(kind, DocumentType::Markdown);
    assert_eq!(kind.mime_type(), "text/markdown");
    let extracted = extract(&path, kind, "review.MD").unwrap();
    assert_eq!(extracted.title, "Incident review: disk full");
    assert_eq!(extracted.text, markdown);

    // Without a heading the file name is the title.
    let path = files.write("plain.md", b"just a paragraph");
    assert_eq!(
        extract(&path, DocumentType::Markdown, "plain.md")
            .unwrap()
            .title,
        "plain"
    );
}

#[test]
fn json_is_validated_and_pretty_printed() {
    let files = Files::new();
    let path = files.write(
        "hosts.json",
        br#"{"hosts":[{"name":"db-01","roles":["postgres","backup"]}],"version":2}"#,
    );
    let kind = detect(&path, "hosts.json").unwrap();
    assert_eq!(kind, DocumentType::Json);
    assert_eq!(kind.mime_type(), "application/json");
    let extracted = extract(&path, kind, "hosts.json").unwrap();
    assert_eq!(extracted.title, "hosts");
    assert_eq!(
        extracted.text,
        "{\n  \"hosts\": [\n    {\n      \"name\": \"db-01\",\n      \"roles\": [\n        \
         \"postgres\",\n        \"backup\"\n      ]\n    }\n  ],\n  \"version\": 2\n}"
    );

    // A byte order mark (as some editors write) is accepted; scalars are JSON too.
    let path = files.write("bom.json", b"\xef\xbb\xbf[1, 2]");
    assert_eq!(detect(&path, "bom.json").unwrap(), DocumentType::Json);
    assert_eq!(
        extract(&path, DocumentType::Json, "bom.json").unwrap().text,
        "[\n  1,\n  2\n]"
    );
    let path = files.write("scalar.json", b"\"a sentence of text\"");
    assert_eq!(detect(&path, "scalar.json").unwrap(), DocumentType::Json);
}

#[test]
fn a_real_pdf_is_detected_and_its_text_extracted() {
    let files = Files::new();
    let bytes = documents::pdf(&[
        "Restore procedure: stop the service, restore the snapshot (latest), start it again.",
        "Page two mentions the on-call rotation.",
    ]);
    let path = files.write("restore.pdf", &bytes);
    let kind = detect(&path, "Restore Guide.PDF").unwrap();
    assert_eq!(kind, DocumentType::Pdf);
    assert_eq!(kind.mime_type(), "application/pdf");
    let extracted = extract(&path, kind, "Restore Guide.PDF").unwrap();
    assert_eq!(extracted.title, "Restore Guide");
    let flat = extracted
        .text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains("Restore procedure: stop the service, restore the snapshot (latest), start"),
        "{flat}"
    );
    assert!(
        flat.contains("Page two mentions the on-call rotation."),
        "{flat}"
    );
    let first = flat.find("Restore procedure").unwrap();
    let second = flat.find("Page two").unwrap();
    assert!(first < second, "pages in order: {flat}");
}

#[test]
fn a_real_docx_gives_paragraphs_and_table_cells_in_document_order() {
    let files = Files::new();
    let path = files.write("runbook.docx", &rich_docx());
    let kind = detect(&path, "runbook.docx").unwrap();
    assert_eq!(kind, DocumentType::Docx);
    assert_eq!(
        kind.mime_type(),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    let extracted = extract(&path, kind, "runbook.docx").unwrap();
    assert_eq!(extracted.title, "runbook");
    assert_eq!(
        extracted.text,
        "Backup runbook\nSee the wiki page first.\nhost\tschedule\ndb-01\tnightly 02:00\n\
         Line one\nline two after the table\n"
    );

    // The shared builder's document (paragraphs, then a table) reads back the same way.
    let path = files.write(
        "shared.docx",
        &documents::docx(
            &["First paragraph", "Second"],
            &[&["a1", "b1"], &["a2", "b2"]],
        ),
    );
    assert_eq!(
        extract(&path, detect(&path, "shared.docx").unwrap(), "shared.docx")
            .unwrap()
            .text,
        "First paragraph\nSecond\na1\tb1\na2\tb2\n"
    );
}

#[test]
fn prepare_extracts_and_chunks_with_the_configured_window() {
    let files = Files::new();
    let path = files.write("long.txt", words(1201).as_bytes());
    let (title, chunks) = prepare(&path, "long.txt", ChunkOptions::default()).unwrap();
    assert_eq!(title, "long");
    // 500, then 450 further per chunk: 0..500, 450..950, 900..1201.
    assert_eq!(chunks.len(), 3);
    assert_eq!(
        chunks.iter().map(|c| c.word_count).collect::<Vec<_>>(),
        [500, 500, 301]
    );
    assert!(chunks[1].text.starts_with("word450 "));
    assert!(chunks[2].text.starts_with("word900 ") && chunks[2].text.ends_with(" word1200"));

    // A real PDF goes through the same call.
    let pdf = files.write(
        "p.pdf",
        &documents::pdf(&["alpha beta gamma delta epsilon zeta eta theta"]),
    );
    let small = ChunkOptions {
        words: 5,
        overlap: 2,
    };
    let (_, chunks) = prepare(&pdf, "p.pdf", small).unwrap();
    let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "alpha beta gamma delta epsilon",
            "delta epsilon zeta eta theta"
        ]
    );

    // Exactly one window of words is one chunk.
    let path = files.write("exact.md", words(500).as_bytes());
    assert_eq!(
        prepare(&path, "exact.md", ChunkOptions::default())
            .unwrap()
            .1
            .len(),
        1
    );
}

// ---- refused uploads ---------------------------------------------------------------------------

#[test]
fn unknown_or_missing_extensions_are_refused_before_reading() {
    for (name, found) in [
        ("setup.exe", ".exe"),
        ("photo.png", ".png"),
        ("sheet.xlsx", ".xlsx"),
        ("old.doc", ".doc"),
        ("Makefile", "no file extension"),
    ] {
        let message = unsupported(check_extension(name), name);
        assert!(message.contains(found), "{name}: {message}");
        // detect refuses the same way, even for a path that does not exist.
        let message = unsupported(detect(&PathBuf::from("/nonexistent/file"), name), name);
        assert!(message.contains(found), "{name}: {message}");
    }
}

#[test]
fn empty_files_are_invalid_input_for_every_type() {
    let files = Files::new();
    for kind in DocumentType::ALL {
        let name = format!("empty.{}", kind.extension());
        let path = files.write(&name, b"");
        match detect(&path, &name) {
            Err(Error::InvalidInput(fields)) => {
                let message = fields.to_string();
                assert!(message.starts_with("file: "), "{message}");
                assert!(message.contains(&format!("{name} is empty")), "{message}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn binaries_renamed_to_pdf_are_refused_naming_what_they_are() {
    let files = Files::new();
    let docx = documents::docx(&["x"], &[]);
    for (name, bytes, found) in [
        ("image.pdf", PNG, "a PNG image"),
        ("tool.pdf", ELF, "an ELF executable"),
        (
            "notes.pdf",
            &b"Just some text, not a PDF"[..],
            "its content is text",
        ),
        (
            "leading-space.pdf",
            &b" %PDF-1.4\n"[..],
            "its content is text",
        ),
        ("word.pdf", &docx[..], "a ZIP archive"),
    ] {
        let path = files.write(name, bytes);
        let message = unsupported(detect(&path, name), name);
        assert!(message.contains(name), "{message}");
        assert!(message.contains(found), "{name}: {message}");
        assert!(message.contains("%PDF-"), "the rule is named: {message}");
    }
}

#[test]
fn binary_content_named_as_text_is_refused() {
    let files = Files::new();
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend("hello".encode_utf16().flat_map(|u| u.to_le_bytes()));
    let pdf = documents::pdf(&["text"]);
    let mut late_nul = vec![b'a'; 5000];
    late_nul.push(0);
    for (name, bytes, found) in [
        ("data.txt", &b"abc\0\x01\x02def"[..], "binary data"),
        ("utf16.txt", &utf16[..], "UTF-16"),
        ("late.txt", &late_nul[..], "binary data"),
        ("image.md", PNG, "a PNG image"),
        ("prog.md", ELF, "an ELF executable"),
        ("doc.txt", &pdf[..], "a PDF document"),
        (
            "archive.json",
            &b"\x1f\x8b\x08\0\0\0\0\0"[..],
            "gzip-compressed data",
        ),
    ] {
        let path = files.write(name, bytes);
        let message = unsupported(detect(&path, name), name);
        assert!(message.contains(found), "{name}: {message}");
        assert!(message.contains("save it as UTF-8"), "{name}: {message}");
    }

    // A NUL byte past the sniffed prefix is not looked at: the text is read with the NUL kept.
    let mut late = vec![b'a'; 9000];
    late.push(0);
    let path = files.write("very-late.txt", &late);
    assert_eq!(detect(&path, "very-late.txt").unwrap(), DocumentType::Text);
}

#[test]
fn invalid_json_is_refused_with_the_parser_position() {
    let files = Files::new();
    for (name, bytes) in [
        ("bad.json", &b"{not json"[..]),
        ("trailing.json", &b"{\"a\": 1} extra"[..]),
        ("cut.json", &b"{\"a\": [1, 2"[..]),
    ] {
        let path = files.write(name, bytes);
        let message = unsupported(detect(&path, name), name);
        assert!(message.contains("not valid JSON"), "{name}: {message}");
        assert!(message.contains("line 1 column"), "{name}: {message}");
    }
}

#[test]
fn damaged_docx_files_are_refused_at_upload() {
    let files = Files::new();
    let real = documents::docx(&["First paragraph of a real document"], &[&["a", "b"]]);

    let no_body = zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("docProps/app.xml", b"<x/>"),
    ]);
    let path = files.write("nobody.docx", &no_body);
    let message = unsupported(detect(&path, "nobody.docx"), "nobody.docx");
    assert!(message.contains("without word/document.xml"), "{message}");

    let truncated = &real[..real.len() / 2];
    let path = files.write("truncated.docx", truncated);
    let message = unsupported(detect(&path, "truncated.docx"), "truncated.docx");
    assert!(message.contains("not a readable ZIP archive"), "{message}");

    let path = files.write("text.docx", b"Dear team, ...");
    let message = unsupported(detect(&path, "text.docx"), "text.docx");
    assert!(
        message.contains("its content is text") && message.contains("ZIP"),
        "{message}"
    );

    let path = files.write("png.docx", PNG);
    let message = unsupported(detect(&path, "png.docx"), "png.docx");
    assert!(message.contains("a PNG image"), "{message}");
}

// ---- extraction failures -----------------------------------------------------------------------

#[test]
fn corrupt_pdfs_fail_extraction_with_a_message_and_no_panic() {
    let files = Files::new();
    let real = documents::pdf(&["The quick brown fox jumps over the lazy dog."]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "broken.pdf",
            b"%PDF-1.7\n this is not really a pdf \x00\x01\x02".to_vec(),
        ),
        ("header-only.pdf", b"%PDF-1.4\n".to_vec()),
        ("truncated.pdf", real[..real.len() / 2].to_vec()),
    ];
    for (name, bytes) in cases {
        let path = files.write(name, &bytes);
        assert_eq!(
            detect(&path, name).unwrap(),
            DocumentType::Pdf,
            "{name} passes sniffing"
        );
        let error = extract(&path, DocumentType::Pdf, name).expect_err(name);
        let message = error.to_string();
        assert!(message.chars().count() <= 1000, "{message}");
        assert!(message.contains(name), "{message}");
        match error.kind() {
            ExtractErrorKind::Corrupt => {
                assert!(message.contains("is not a readable PDF"), "{message}")
            }
            ExtractErrorKind::NoText => assert!(message.contains("no text found in"), "{message}"),
            ExtractErrorKind::Unreadable => panic!("{name}: {message}"),
        }
        // Through `prepare` it is the public error the ingester records.
        let public = prepare(&path, name, ChunkOptions::default()).unwrap_err();
        assert!(matches!(public, Error::InvalidInput(_)), "{public:?}");
        assert!(public.to_string().contains(name), "{public}");
    }
}

#[test]
fn a_pdf_without_text_says_no_text_was_found() {
    let files = Files::new();
    let path = files.write("scan.pdf", &documents::pdf(&[""]));
    let error = extract(&path, DocumentType::Pdf, "scan.pdf").unwrap_err();
    assert_eq!(error.kind(), ExtractErrorKind::NoText);
    assert!(
        error.to_string().starts_with("no text found in scan.pdf"),
        "{error}"
    );
    assert!(error.to_string().contains("OCR"), "{error}");
}

#[test]
fn documents_without_text_are_errors_for_every_type() {
    let files = Files::new();
    let cases: Vec<(&str, Vec<u8>, DocumentType)> = vec![
        ("blank.txt", b" \n\t\r\n".to_vec(), DocumentType::Text),
        ("blank.md", b"\n\n".to_vec(), DocumentType::Markdown),
        ("blank.docx", documents::docx(&[], &[]), DocumentType::Docx),
        (
            "blank-table.docx",
            documents::docx(&[], &[&["", ""]]),
            DocumentType::Docx,
        ),
    ];
    for (name, bytes, kind) in cases {
        let path = files.write(name, &bytes);
        let error = extract(&path, kind, name).unwrap_err();
        assert_eq!(error.kind(), ExtractErrorKind::NoText, "{name}: {error}");
        assert_eq!(error.to_string(), format!("no text found in {name}"));
    }
}

#[test]
fn a_docx_with_an_unreadable_body_fails_extraction() {
    let files = Files::new();
    // A ZIP with the part detection looks for but none of the package structure docx-rs needs.
    let fake = zip(&[("word/document.xml", b"<w:document><w:body><w:p>")]);
    let path = files.write("fake.docx", &fake);
    assert_eq!(detect(&path, "fake.docx").unwrap(), DocumentType::Docx);
    let error = extract(&path, DocumentType::Docx, "fake.docx").unwrap_err();
    assert_eq!(error.kind(), ExtractErrorKind::Corrupt, "{error}");
    assert!(
        error
            .to_string()
            .starts_with("fake.docx is not a readable Word document"),
        "{error}"
    );
}

#[test]
fn invalid_json_at_extraction_is_corrupt() {
    // Detection refuses it first; extraction, given the file anyway, says the same thing.
    let files = Files::new();
    let path = files.write("x.json", b"{\"a\":");
    let error = extract(&path, DocumentType::Json, "x.json").unwrap_err();
    assert_eq!(error.kind(), ExtractErrorKind::Corrupt);
    assert!(
        error
            .to_string()
            .starts_with("x.json is not a readable JSON file"),
        "{error}"
    );
}

#[test]
fn a_missing_stored_file_is_a_backend_error() {
    let files = Files::new();
    let missing = files.dir.path().join("gone.txt");
    let error = extract(&missing, DocumentType::Text, "gone.txt").unwrap_err();
    assert_eq!(error.kind(), ExtractErrorKind::Unreadable);
    assert!(error.to_string().contains("gone.txt"), "{error}");
    let public = prepare(&missing, "gone.txt", ChunkOptions::default()).unwrap_err();
    assert!(matches!(public, Error::Backend { .. }), "{public:?}");
    // Detection reports an unreadable upload the same way.
    assert!(matches!(
        detect(&missing, "gone.txt"),
        Err(Error::Backend { .. })
    ));
}

#[test]
fn prepare_refuses_invalid_chunk_options() {
    let files = Files::new();
    let path = files.write("a.txt", b"some words here");
    let error = prepare(
        &path,
        "a.txt",
        ChunkOptions {
            words: 10,
            overlap: 10,
        },
    )
    .unwrap_err();
    assert!(matches!(error, Error::InvalidInput(_)));
    assert!(error.to_string().contains("rag.chunk_overlap"), "{error}");
}

/// Inputs that make the parsers panic (pdf-extract 0.12 `expect`s every object reference to
/// resolve; docx-rs 0.4 unwraps reading a ZIP entry, which fails its CRC check) are extraction
/// errors like any other.
#[test]
fn parser_panics_become_extraction_errors() {
    let files = Files::new();
    // The page's font points at object 9, which does not exist (same length: offsets stay right).
    let mut pdf = documents::pdf(&["text on a page"]);
    let at = pdf
        .windows(9)
        .position(|w| w == b"/F1 3 0 R")
        .expect("the font reference");
    pdf[at + 4] = b'9';
    let path = files.write("dangling.pdf", &pdf);
    assert_eq!(detect(&path, "dangling.pdf").unwrap(), DocumentType::Pdf);
    let error = extract(&path, DocumentType::Pdf, "dangling.pdf").unwrap_err();
    assert_eq!(error.kind(), ExtractErrorKind::Corrupt, "{error}");
    assert!(
        error
            .to_string()
            .starts_with("dangling.pdf is not a readable PDF"),
        "{error}"
    );

    // A stored (uncompressed) part with one byte changed after writing: its CRC no longer
    // matches when docx-rs reads it.
    let content_types = b"<?xml version=\"1.0\"?><Types></Types>";
    let mut docx = zip(&[
        ("[Content_Types].xml", &content_types[..]),
        ("word/document.xml", b"<w:document/>"),
    ]);
    let at = docx
        .windows(content_types.len())
        .position(|w| w == content_types)
        .expect("the stored part");
    docx[at + 10] ^= 0x01;
    let path = files.write("crc.docx", &docx);
    assert_eq!(detect(&path, "crc.docx").unwrap(), DocumentType::Docx);
    let error = extract(&path, DocumentType::Docx, "crc.docx").unwrap_err();
    assert_eq!(error.kind(), ExtractErrorKind::Corrupt, "{error}");
    assert!(
        error
            .to_string()
            .starts_with("crc.docx is not a readable Word document"),
        "{error}"
    );
}

/// Damaged copies of real files (cut at many lengths, bytes overwritten) end in `Ok` or a
/// typed error: the parsers' panics are caught, never propagated.
#[test]
fn damaged_real_files_never_panic() {
    let files = Files::new();
    let pdf = documents::pdf(&["Some text on page one", "and more on page two"]);
    let docx = rich_docx();
    for (name, kind, real) in [
        ("m.pdf", DocumentType::Pdf, &pdf),
        ("m.docx", DocumentType::Docx, &docx),
    ] {
        let mut variants: Vec<Vec<u8>> = (1..=16)
            .map(|i| real[..real.len() * i / 17].to_vec())
            .collect();
        for i in 1..=16 {
            let mut flipped = real.clone();
            let at = real.len() * i / 17;
            for byte in flipped.iter_mut().skip(at).take(8) {
                *byte ^= 0x5a;
            }
            variants.push(flipped);
        }
        for (i, bytes) in variants.iter().enumerate() {
            let path = files.write(&format!("{i}-{name}"), bytes);
            match detect(&path, name) {
                Ok(detected) => {
                    assert_eq!(detected, kind);
                    if let Err(error) = extract(&path, kind, name) {
                        assert!(error.to_string().chars().count() <= 1000);
                        assert!(error.to_string().contains(name), "{error}");
                    }
                }
                Err(Error::UnsupportedType(message)) => {
                    assert!(message.contains(name), "{message}")
                }
                Err(other) => panic!("{name} variant {i}: {other:?}"),
            }
        }
    }
}
