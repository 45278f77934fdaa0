//! A small block-style YAML writer for the generated Kubernetes manifests.
//!
//! Core has no YAML library, and the manifests need only maps, sequences, strings and integers.
//! Strings are written plain only when no YAML 1.1 or 1.2 reader can take them for anything but
//! a string (so `no`, `on`, `null`, `123` or `1e3` are quoted); everything else is double-quoted
//! with escapes, so no value can end the scalar, start a comment or add a key.

/// A YAML value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Yaml {
    Str(String),
    Int(i64),
    Map(Vec<(String, Yaml)>),
    Seq(Vec<Yaml>),
}

impl Yaml {
    pub(super) fn str(value: impl Into<String>) -> Self {
        Self::Str(value.into())
    }

    pub(super) fn map<const N: usize>(entries: [(&str, Yaml); N]) -> Self {
        Self::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }
}

/// The document as block-style YAML with two-space indentation, ending in a newline.
pub(super) fn to_yaml(document: &Yaml) -> String {
    let mut out = String::new();
    match document {
        Yaml::Map(entries) if !entries.is_empty() => write_map(&mut out, entries, 0),
        Yaml::Seq(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

/// Scalars and empty collections, which fit on the line of their key or dash.
fn inline(value: &Yaml) -> String {
    match value {
        Yaml::Str(s) => scalar(s),
        Yaml::Int(i) => i.to_string(),
        Yaml::Map(_) => "{}".to_string(),
        Yaml::Seq(_) => "[]".to_string(),
    }
}

fn is_block(value: &Yaml) -> bool {
    match value {
        Yaml::Map(entries) => !entries.is_empty(),
        Yaml::Seq(items) => !items.is_empty(),
        Yaml::Str(_) | Yaml::Int(_) => false,
    }
}

fn write_map(out: &mut String, entries: &[(String, Yaml)], indent: usize) {
    for (key, value) in entries {
        push_indent(out, indent);
        out.push_str(&scalar(key));
        out.push(':');
        match value {
            Yaml::Map(inner) if !inner.is_empty() => {
                out.push('\n');
                write_map(out, inner, indent + 2);
            }
            Yaml::Seq(items) if !items.is_empty() => {
                out.push('\n');
                write_seq(out, items, indent + 2);
            }
            scalar_value => {
                out.push(' ');
                out.push_str(&inline(scalar_value));
                out.push('\n');
            }
        }
    }
}

/// `- item`; a collection item starts on the dash line and continues two columns further in.
fn write_seq(out: &mut String, items: &[Yaml], indent: usize) {
    for item in items {
        if is_block(item) {
            let mut nested = String::new();
            match item {
                Yaml::Map(entries) => write_map(&mut nested, entries, indent + 2),
                Yaml::Seq(inner) => write_seq(&mut nested, inner, indent + 2),
                Yaml::Str(_) | Yaml::Int(_) => {}
            }
            push_indent(out, indent);
            out.push_str("- ");
            // The nested block's first line is indented by indent + 2: the dash takes that room.
            out.push_str(&nested[indent + 2..]);
        } else {
            push_indent(out, indent);
            out.push_str("- ");
            out.push_str(&inline(item));
            out.push('\n');
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A string scalar: plain when unambiguous, double-quoted otherwise.
pub(super) fn scalar(value: &str) -> String {
    if is_plain_safe(value) {
        value.to_string()
    } else {
        double_quoted(value)
    }
}

/// Plain only for a letter followed by letters, digits and `._/-`, and not a word YAML 1.1
/// reads as a boolean or null. Starting with a letter rules out numbers, `.inf`/`.nan`, and
/// every indicator character (`-`, `?`, `:`, `#`, `&`, `*`, `!`, `|`, `>`, `%`, `@`, quotes).
fn is_plain_safe(value: &str) -> bool {
    const RESERVED: [&str; 9] = ["y", "yes", "n", "no", "true", "false", "on", "off", "null"];
    let mut chars = value.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
        && !RESERVED.contains(&value.to_ascii_lowercase().as_str())
}

fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Control characters, and the characters YAML treats as line breaks or a BOM.
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (0x80..0xa0).contains(&(c as u32))
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_plain_only_when_unambiguous() {
        let cases = [
            ("api", "api"),
            ("networking.k8s.io/v1", "networking.k8s.io/v1"),
            ("app.kubernetes.io/name", "app.kubernetes.io/name"),
            ("TCP", "TCP"),
            ("my_app-2", "my_app-2"),
            ("", "\"\""),
            ("yes", "\"yes\""),
            ("No", "\"No\""),
            ("ON", "\"ON\""),
            ("null", "\"null\""),
            ("y", "\"y\""),
            ("123", "\"123\""),
            ("1e3", "\"1e3\""),
            ("0x1f", "\"0x1f\""),
            (".inf", "\".inf\""),
            ("-x", "\"-x\""),
            ("a: b", "\"a: b\""),
            ("a #c", "\"a #c\""),
            ("*ref", "\"*ref\""),
            ("quote\"back\\slash", "\"quote\\\"back\\\\slash\""),
            ("two\nlines\ttab\r", "\"two\\nlines\\ttab\\r\""),
            ("bell\u{7}del\u{7f}", "\"bell\\x07del\\x7f\""),
            (
                "ls\u{2028}nel\u{85}bom\u{feff}",
                "\"ls\\u2028nel\\u0085bom\\ufeff\"",
            ),
            ("数据库", "\"数据库\""),
        ];
        for (input, expected) in cases {
            assert_eq!(scalar(input), expected, "scalar({input:?})");
        }
    }

    #[test]
    fn nested_maps_and_sequences_in_block_style() {
        let document = Yaml::map([
            ("kind", Yaml::str("Thing")),
            ("empty_map", Yaml::Map(vec![])),
            ("empty_seq", Yaml::Seq(vec![])),
            (
                "items",
                Yaml::Seq(vec![
                    Yaml::str("plain"),
                    Yaml::map([("a", Yaml::Int(1)), ("b", Yaml::Seq(vec![Yaml::Int(-2)]))]),
                    Yaml::Seq(vec![Yaml::str("x"), Yaml::str("yes")]),
                ]),
            ),
            (
                "nested",
                Yaml::map([("deep", Yaml::map([("k", Yaml::str("v"))]))]),
            ),
        ]);
        assert_eq!(
            to_yaml(&document),
            "kind: Thing\n\
             empty_map: {}\n\
             empty_seq: []\n\
             items:\n  \
               - plain\n  \
               - a: 1\n    \
                 b:\n      \
                   - -2\n  \
               - - x\n    \
                 - \"yes\"\n\
             nested:\n  \
               deep:\n    \
                 k: v\n"
        );
    }

    #[test]
    fn top_level_scalars_and_sequences() {
        assert_eq!(to_yaml(&Yaml::str("on")), "\"on\"\n");
        assert_eq!(to_yaml(&Yaml::Int(7)), "7\n");
        assert_eq!(
            to_yaml(&Yaml::Seq(vec![Yaml::map([("k", Yaml::str("v"))])])),
            "- k: v\n"
        );
    }

    #[test]
    fn hostile_keys_are_quoted_too() {
        let document = Yaml::map([("evil: key\n- x", Yaml::str("v"))]);
        assert_eq!(to_yaml(&document), "\"evil: key\\n- x\": v\n");
    }
}
