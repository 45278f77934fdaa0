//! Run reports (`report.md`) as HTML for the run page: rendered with pulldown-cmark, then
//! sanitised with ammonia.
//!
//! A report quotes what the tasks saw — log lines, container names, labels, the LLM's findings —
//! so any of it may be hostile. Two independent layers keep it inert: raw HTML in the Markdown is
//! turned into text before rendering (shown, never interpreted), and the rendered HTML passes an
//! allowlist sanitiser that drops scripts, event-handler attributes, images and every link that
//! is not `http`, `https` or `mailto` (so `javascript:` URLs lose their `href`). The page's
//! Content-Security-Policy forbids inline scripts on top of both.

use std::collections::HashSet;

use pulldown_cmark::{Event, Options, Parser};

/// The report as sanitised HTML, ready to insert into a page unescaped.
pub(crate) fn report_html(markdown: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        // Raw HTML is shown as the text it is.
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    ammonia::Builder::default()
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        // A report has no business linking into this server's pages by relative URL.
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .rm_tags(["img"])
        .clean(&html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_tables_code_and_headings() {
        let html = report_html(
            "# Run 4\n\n| task | status |\n|---|---|\n| `log_triage` | completed |\n\n\
             ```text\nERROR <n> failed\n```\n\n- [x] done\n",
        );
        assert!(html.contains("<h1>Run 4</h1>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("<code>log_triage</code>"), "{html}");
        assert!(html.contains("ERROR &lt;n&gt; failed"), "{html}");
    }

    #[test]
    fn raw_html_and_script_urls_are_inert() {
        let hostile = "<script>alert(1)</script>\n\n\
                       A line <img src=x onerror=alert(2)> inline.\n\n\
                       [click](javascript:alert(3)) [data](data:text/html,<b>x</b>) \
                       [ok](https://example.org/docs)\n\n\
                       <a href=\"javascript:alert(4)\" onclick=\"alert(5)\">raw link</a>\n\n\
                       ![pixel](https://tracker.example/p.png)\n";
        let html = report_html(hostile);
        // Text is escaped, so every real tag lies between a `<` and the next `>`.
        let tags: Vec<&str> = html
            .split('<')
            .skip(1)
            .filter_map(|rest| rest.split('>').next())
            .collect();
        for tag in &tags {
            let tag = tag.to_ascii_lowercase();
            for forbidden in [
                "script",
                "img",
                "onerror",
                "onclick",
                "javascript:",
                "data:",
            ] {
                assert!(!tag.contains(forbidden), "<{tag}> in {html}");
            }
        }
        assert!(
            tags.iter().any(|tag| tag.starts_with("a ")),
            "links stay: {html}"
        );
        // Shown as text, so a reader sees what the report held.
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains(
                "<a href=\"https://example.org/docs\" rel=\"noopener noreferrer nofollow\">ok</a>"
            ),
            "{html}"
        );
    }
}
