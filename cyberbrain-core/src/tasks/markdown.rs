//! Markdown building blocks shared by the task reports.

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
}
