//! Real document files for tests of the knowledge base: a PDF written by hand with correct
//! cross-reference offsets (one page per paragraph, standard Helvetica text) and a DOCX built
//! with docx-rs (paragraphs and a table), so the extractors are proven on files a real tool
//! would produce, without binary fixtures in the repository.

use docx_rs::{Docx, Paragraph, Run, Table, TableCell, TableRow};

/// A PDF whose pages hold `paragraphs` (one page each, the text as one line per 80 chars).
pub fn pdf(paragraphs: &[&str]) -> Vec<u8> {
    let mut objects: Vec<String> = Vec::new();
    let pages = paragraphs.len().max(1);
    // 1: catalog, 2: pages, 3: font, then (page, content) pairs.
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {pages} >>",
        kids.join(" ")
    ));
    objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into());
    for i in 0..pages {
        let text = paragraphs.get(i).copied().unwrap_or("");
        let mut content = String::from("BT /F1 11 Tf 14 TL 50 780 Td\n");
        for line in wrap(text, 80) {
            content.push_str(&format!("({}) Tj T*\n", escape_pdf(&line)));
        }
        content.push_str("ET");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] \
             /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (index, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", index + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A DOCX with `paragraphs` and then a table of `rows` (each a list of cell texts).
pub fn docx(paragraphs: &[&str], rows: &[&[&str]]) -> Vec<u8> {
    let mut document = Docx::new();
    for text in paragraphs {
        document = document.add_paragraph(Paragraph::new().add_run(Run::new().add_text(*text)));
    }
    if !rows.is_empty() {
        let table = Table::new(
            rows.iter()
                .map(|cells| {
                    TableRow::new(
                        cells
                            .iter()
                            .map(|text| {
                                TableCell::new().add_paragraph(
                                    Paragraph::new().add_run(Run::new().add_text(*text)),
                                )
                            })
                            .collect(),
                    )
                })
                .collect(),
        );
        document = document.add_table(table);
    }
    let mut out = std::io::Cursor::new(Vec::new());
    document
        .build()
        .pack(&mut out)
        .expect("docx-rs writes to memory");
    out.into_inner()
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// PDF literal strings escape backslashes and parentheses; other text is kept ASCII.
fn escape_pdf(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\\' | '(' | ')' => format!("\\{c}"),
            c if c.is_ascii() && !c.is_ascii_control() => c.to_string(),
            _ => "?".to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pdf_has_a_consistent_cross_reference_table() {
        let bytes = pdf(&["Hello (world)", "second page"]);
        // Offsets are in bytes: read the (ASCII) tail without lossy conversion of the binary
        // comment on line 2.
        let text: String = bytes.iter().map(|&b| b as char).collect();
        assert!(text.starts_with("%PDF-1.4"));
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|rest| rest.lines().next())
            .and_then(|n| n.parse().ok())
            .expect("startxref");
        assert!(bytes[startxref..].starts_with(b"xref"));
        // Every listed offset points at its object header.
        let table = std::str::from_utf8(&bytes[startxref..]).expect("an ASCII tail");
        for (number, line) in table.lines().skip(3).take(7).enumerate() {
            let offset: usize = line[..10].parse().unwrap();
            let header = format!("{} 0 obj", number + 1);
            assert!(bytes[offset..].starts_with(header.as_bytes()), "{header}");
        }
        assert!(text.contains("Hello \\(world\\)"));
    }

    #[test]
    fn pdf_extract_reads_the_text_back() {
        let bytes = pdf(&[
            "The backup job runs nightly (see runbook)",
            "Second page text",
        ]);
        let text = pdf_extract::extract_text_from_mem(&bytes).expect("a readable PDF");
        assert!(
            text.contains("The backup job runs nightly (see runbook)"),
            "{text:?}"
        );
        assert!(text.contains("Second page text"), "{text:?}");
    }

    #[test]
    fn the_docx_is_a_zip_with_the_document_part() {
        let bytes = docx(&["First paragraph"], &[&["cell a", "cell b"]]);
        assert!(bytes.starts_with(b"PK\x03\x04"));
        let haystack = String::from_utf8_lossy(&bytes);
        assert!(haystack.contains("word/document.xml"));
    }
}
