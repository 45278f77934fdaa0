//! Markdown building blocks shared by the task reports and the runners' additions to them.
//!
//! Text from outside (logs, containers, the model) goes into code spans or escaped one-line
//! prose, never Markdown syntax, and is not backslash-escaped where redaction (applied by the
//! artifact writer afterwards, G6) must still see it whole.

/// `text` on one line: runs of whitespace (line breaks included) become one space.
pub(crate) fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Outside text as a one-line [`code_span`].
pub(crate) fn inline_code(text: &str) -> String {
    code_span(&collapse(text))
}

/// Prose on one line that cannot open HTML, links or new blocks: `&`, `<`, `>` become entities
/// and `[`, `]` are escaped; characters redaction patterns rely on (`.`, `@`, `:`, `/`, `\`,
/// `_`, `=`) stay as they are.
pub(crate) fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in collapse(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '[' => out.push_str("\\["),
            ']' => out.push_str("\\]"),
            _ => out.push(c),
        }
    }
    out
}

/// `text` as an inline code span that survives any content: the fence is one backtick longer
/// than the longest run of backticks inside, and a span that starts or ends with a backtick gets
/// a space inside the fence. The caller has already removed line breaks.
pub(crate) fn code_span(text: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// The length of the longest run of consecutive backticks in `text`.
pub(crate) fn longest_backtick_run(text: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outgrow_the_content() {
        assert_eq!(code_span("plain"), "`plain`");
        assert_eq!(code_span("a `b` c"), "``a `b` c``");
        assert_eq!(code_span("`x"), "`` `x ``");
        assert_eq!(code_span("a ``` b"), "````a ``` b````");
        assert_eq!(longest_backtick_run("a``b```c`"), 3);
    }

    #[test]
    fn code_spans_and_prose_cannot_break_out() {
        assert_eq!(inline_code("plain\ntext"), "`plain text`");
        assert_eq!(inline_code("a `b` c"), "``a `b` c``");
        assert_eq!(inline_code("`x"), "`` `x ``");
        assert_eq!(
            inline("<script>[x](http://a) & me@example.com"),
            "&lt;script&gt;\\[x\\](http://a) &amp; me@example.com"
        );
    }
}
