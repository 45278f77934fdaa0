//! The model's answer: `{"findings":[{"severity","title","explanation","recommendation",
//! "template_ids":[…]}]}`, read leniently in form and strictly in content.
//!
//! Lenient in form, because small local models wrap JSON in prose or fences: a fenced
//! ```` ```json ```` block, leading prose before the first `{`, trailing text after the object, a
//! bare array of findings and a single finding object are all accepted.
//!
//! Strict in content: every finding needs a known severity and a non-empty title, so a reply
//! that is not an answer fails and the caller retries once (SPEC §3.2).
//!
//! Severities are `critical`, `error`, `warning`, `info` — the words an operator uses for a
//! finding, as opposed to the log-level [`Severity`](super::Severity) of a template. Common
//! synonyms are mapped: `fatal`/`crit`/`emergency`/`alert`/`panic` → critical, `err`/`high`/
//! `major` → error, `warn`/`medium`/`moderate`/`minor` → warning, `information`/
//! `informational`/`notice`/`low`/`note` → info.
//!
//! G2: error messages describe the shape of what was wrong (positions, field paths), never the
//! text of the answer.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::analysis::Analysis;
use crate::guardrails::redaction::redact;
use crate::{Error, Result};

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingSeverity {
    Critical,
    Error,
    Warning,
    Info,
}

impl FindingSeverity {
    pub const ALL: [FindingSeverity; 4] = [
        FindingSeverity::Critical,
        FindingSeverity::Error,
        FindingSeverity::Warning,
        FindingSeverity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingSeverity::Critical => "critical",
            FindingSeverity::Error => "error",
            FindingSeverity::Warning => "warning",
            FindingSeverity::Info => "info",
        }
    }

    /// The severity named by `name` or one of its synonyms (case-insensitive).
    pub fn from_name(name: &str) -> Option<FindingSeverity> {
        let severity = match name.trim().to_ascii_lowercase().as_str() {
            "critical" | "crit" | "fatal" | "emergency" | "emerg" | "alert" | "panic" => {
                FindingSeverity::Critical
            }
            "error" | "err" | "high" | "major" => FindingSeverity::Error,
            "warning" | "warn" | "medium" | "moderate" | "minor" => FindingSeverity::Warning,
            "info" | "information" | "informational" | "notice" | "low" | "note" => {
                FindingSeverity::Info
            }
            _ => return None,
        };
        Some(severity)
    }
}

impl fmt::Display for FindingSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding of the model.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: FindingSeverity,
    pub title: String,
    pub explanation: String,
    pub recommendation: String,
    /// Ids of the templates the finding is about (see [`retain_known_template_ids`]).
    pub template_ids: Vec<String>,
}

// What the model wrote must not reach a log line through `{:?}` (G2): sizes only.
impl fmt::Debug for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars = |text: &str| format!("<{} chars>", text.chars().count());
        f.debug_struct("Finding")
            .field("severity", &self.severity)
            .field("title", &format_args!("{}", chars(&self.title)))
            .field("explanation", &format_args!("{}", chars(&self.explanation)))
            .field(
                "recommendation",
                &format_args!("{}", chars(&self.recommendation)),
            )
            .field("template_ids", &self.template_ids)
            .finish()
    }
}

impl Finding {
    /// The finding with every text field passed through G6 redaction.
    pub fn redacted(&self) -> Finding {
        Finding {
            severity: self.severity,
            title: redact(&self.title).into_owned(),
            explanation: redact(&self.explanation).into_owned(),
            recommendation: redact(&self.recommendation).into_owned(),
            template_ids: self.template_ids.clone(),
        }
    }
}

fn rejected(why: impl fmt::Display) -> Error {
    Error::backend(format!(
        "the LLM answer was not a valid findings object: {why}; expected {{\"findings\":[{{\
         \"severity\":\"critical|error|warning|info\",\"title\":…,\"explanation\":…,\
         \"recommendation\":…,\"template_ids\":[…]}}]}}"
    ))
}

/// Reads the model's answer (see the module documentation for what is accepted).
///
/// An empty `findings` array is a valid answer: nothing needs attention. Errors are
/// [`Error::Backend`] naming the position or field that is wrong, never quoting the answer.
pub fn parse_findings(text: &str) -> Result<Vec<Finding>> {
    let value = extract_json(text)?;
    let items = match value {
        Value::Object(mut object) => match object.remove("findings") {
            Some(Value::Array(items)) => items,
            Some(Value::Null) => Vec::new(),
            Some(_) => return Err(rejected("\"findings\" is not an array")),
            None if object.contains_key("title") && object.contains_key("severity") => {
                vec![Value::Object(object)]
            }
            None => return Err(rejected("the object has no \"findings\" array")),
        },
        Value::Array(items) => items,
        _ => return Err(rejected("the answer is not a JSON object")),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| parse_finding(index, item))
        .collect()
}

/// The first JSON value in `text`: inside a fenced block if there is one, else from the first
/// `{` (or `[`), ignoring what follows it.
fn extract_json(text: &str) -> Result<Value> {
    let mut candidates: Vec<&str> = Vec::new();
    if let Some(inner) = fenced_block(text) {
        candidates.push(inner);
    }
    for opener in ['{', '['] {
        if let Some(position) = text.find(opener) {
            candidates.push(&text[position..]);
        }
    }
    if candidates.is_empty() {
        return Err(rejected(if text.trim().is_empty() {
            "the answer is empty".to_owned()
        } else {
            "the answer contains no JSON object".to_owned()
        }));
    }
    let mut first_error = None;
    for candidate in candidates {
        let mut values = serde_json::Deserializer::from_str(candidate).into_iter::<Value>();
        match values.next() {
            Some(Ok(value)) => return Ok(value),
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => {}
        }
    }
    Err(match first_error {
        // serde_json's messages for syntax errors name the position only, but a data error can
        // quote a value: build the message from the category and position instead.
        Some(e) => rejected(format!(
            "invalid JSON ({}) at line {} column {}",
            match e.classify() {
                serde_json::error::Category::Eof => "it ends too early",
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Data => "unexpected data",
                serde_json::error::Category::Io => "read error",
            },
            e.line(),
            e.column()
        )),
        None => rejected("the answer contains no JSON value"),
    })
}

/// The body of the first ```` ``` ```` fenced block, without its language tag.
fn fenced_block(text: &str) -> Option<&str> {
    let after_open = &text[text.find("```")? + 3..];
    // ```json⏎…``` and ```⏎…```: the tag runs to the end of the line; ```{…}``` has none.
    let body = match after_open.find('\n') {
        Some(newline) if !after_open[..newline].trim_start().starts_with(['{', '[']) => {
            &after_open[newline + 1..]
        }
        _ => after_open,
    };
    Some(&body[..body.find("```").unwrap_or(body.len())])
}

fn parse_finding(index: usize, item: Value) -> Result<Finding> {
    let Value::Object(mut object) = item else {
        return Err(rejected(format!("findings[{index}] is not an object")));
    };
    let severity = match object.remove("severity") {
        Some(Value::String(name)) => FindingSeverity::from_name(&name).ok_or_else(|| {
            rejected(format!(
                "findings[{index}].severity is not one of critical, error, warning, info"
            ))
        })?,
        Some(_) => {
            return Err(rejected(format!(
                "findings[{index}].severity is not a string"
            )));
        }
        None => return Err(rejected(format!("findings[{index}].severity is missing"))),
    };
    let title = text_field(&mut object, index, &["title", "summary", "name"])?;
    if title.is_empty() {
        return Err(rejected(format!(
            "findings[{index}].title is missing or empty"
        )));
    }
    let explanation = text_field(
        &mut object,
        index,
        &["explanation", "description", "details", "detail"],
    )?;
    let recommendation = text_field(
        &mut object,
        index,
        &[
            "recommendation",
            "recommendations",
            "action",
            "fix",
            "remediation",
        ],
    )?;
    let template_ids = template_ids(&mut object, index)?;
    Ok(Finding {
        severity,
        title,
        explanation,
        recommendation,
        template_ids,
    })
}

/// The first of `keys` present: a string, a list of strings (joined with `; `), or nothing.
fn text_field(
    object: &mut serde_json::Map<String, Value>,
    index: usize,
    keys: &[&str],
) -> Result<String> {
    let Some((key, value)) = keys
        .iter()
        .find_map(|key| object.remove(*key).map(|value| (*key, value)))
    else {
        return Ok(String::new());
    };
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => parts.push(s),
                    Value::Number(n) => parts.push(n.to_string()),
                    _ => {
                        return Err(rejected(format!(
                            "findings[{index}].{key} is a list with a non-text item"
                        )));
                    }
                }
            }
            parts.join("; ")
        }
        _ => {
            return Err(rejected(format!("findings[{index}].{key} is not text")));
        }
    };
    Ok(text.trim().to_owned())
}

fn template_ids(object: &mut serde_json::Map<String, Value>, index: usize) -> Result<Vec<String>> {
    let value = ["template_ids", "template_id", "templates", "ids"]
        .iter()
        .find_map(|key| object.remove(*key));
    let raw: Vec<String> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split([',', ' ', ';']).map(str::to_owned).collect(),
        Some(Value::Array(items)) => {
            let mut ids = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => ids.push(s),
                    Value::Number(n) => ids.push(n.to_string()),
                    _ => {
                        return Err(rejected(format!(
                            "findings[{index}].template_ids holds something other than ids"
                        )));
                    }
                }
            }
            ids
        }
        Some(_) => {
            return Err(rejected(format!(
                "findings[{index}].template_ids is not a list"
            )));
        }
    };
    let mut ids: Vec<String> = Vec::new();
    for id in raw {
        let id = id.trim().trim_matches(['[', ']', '"', '\'']).to_owned();
        if !id.is_empty() && !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Removes template ids the analysis does not know (the model invented or mangled them) and
/// returns how many were removed.
pub fn retain_known_template_ids(findings: &mut [Finding], analysis: &Analysis) -> usize {
    let mut removed = 0;
    for finding in findings {
        let before = finding.template_ids.len();
        finding
            .template_ids
            .retain(|id| analysis.template(id).is_some());
        removed += before - finding.template_ids.len();
    }
    removed
}

/// The findings of several batches as one list: most severe first, batch order kept within a
/// severity, and a finding repeated with the same severity and title (case-insensitive) merged
/// into the first, with its template ids added.
pub fn merge_findings(batches: impl IntoIterator<Item = Vec<Finding>>) -> Vec<Finding> {
    let mut merged: Vec<Finding> = Vec::new();
    for finding in batches.into_iter().flatten() {
        let same = merged.iter_mut().find(|f| {
            f.severity == finding.severity && f.title.eq_ignore_ascii_case(&finding.title)
        });
        match same {
            Some(existing) => {
                for id in finding.template_ids {
                    if !existing.template_ids.contains(&id) {
                        existing.template_ids.push(id);
                    }
                }
            }
            None => merged.push(finding),
        }
    }
    merged.sort_by_key(|f| f.severity);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"{"findings":[{"severity":"error","title":"Upstream refuses connections","explanation":"nginx cannot reach the orders service.","recommendation":"Check the orders container.","template_ids":["a1b2c3d4e5f6","0123456789ab"]}]}"#;

    fn expected() -> Vec<Finding> {
        vec![Finding {
            severity: FindingSeverity::Error,
            title: "Upstream refuses connections".to_owned(),
            explanation: "nginx cannot reach the orders service.".to_owned(),
            recommendation: "Check the orders container.".to_owned(),
            template_ids: vec!["a1b2c3d4e5f6".to_owned(), "0123456789ab".to_owned()],
        }]
    }

    #[test]
    fn accepted_forms() {
        let cases: Vec<(&str, String)> = vec![
            ("plain object", VALID.to_owned()),
            ("fenced json", format!("```json\n{VALID}\n```")),
            (
                "prose and fence",
                format!("Here are my findings:\n\n```json\n{VALID}\n```\nHope this helps!"),
            ),
            ("fence without tag", format!("```\n{VALID}\n```")),
            ("fence on one line", format!("```{VALID}```")),
            ("leading prose", format!("Sure! Here is the JSON: {VALID}")),
            (
                "trailing prose",
                format!("{VALID}\n\nLet me know if you need more."),
            ),
            (
                "bracket in prose first",
                format!("Findings [see below]: {VALID}"),
            ),
            (
                "bare array",
                VALID
                    .strip_prefix(r#"{"findings":"#)
                    .and_then(|s| s.strip_suffix('}'))
                    .expect("fixture shape")
                    .to_owned(),
            ),
            (
                "single finding object",
                VALID
                    .strip_prefix(r#"{"findings":["#)
                    .and_then(|s| s.strip_suffix("]}"))
                    .expect("fixture shape")
                    .to_owned(),
            ),
            ("whitespace", format!("\n\n   {VALID}   \n")),
        ];
        for (name, text) in cases {
            let parsed = parse_findings(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(parsed, expected(), "{name}");
        }
    }

    #[test]
    fn lenient_fields() {
        let text = r#"{"findings":[
            {"severity":"HIGH","title":"  Disk almost full ","description":"91% used",
             "recommendations":["Delete old backups","Grow the volume"],"template_id":"abc, def abc"},
            {"severity":"Fatal","summary":"OOM kills","template_ids":[123, "x"]},
            {"severity":"low","title":"Noise","explanation":null,"recommendation":7}
        ]}"#;
        let parsed = parse_findings(text).expect("lenient");
        assert_eq!(parsed[0].severity, FindingSeverity::Error);
        assert_eq!(parsed[0].title, "Disk almost full");
        assert_eq!(parsed[0].explanation, "91% used");
        assert_eq!(
            parsed[0].recommendation,
            "Delete old backups; Grow the volume"
        );
        assert_eq!(parsed[0].template_ids, ["abc", "def"]);
        assert_eq!(parsed[1].severity, FindingSeverity::Critical);
        assert_eq!(parsed[1].title, "OOM kills");
        assert_eq!(parsed[1].template_ids, ["123", "x"]);
        assert_eq!(parsed[1].explanation, "");
        assert_eq!(parsed[2].severity, FindingSeverity::Info);
        assert_eq!(parsed[2].recommendation, "7");
    }

    #[test]
    fn empty_findings_are_a_valid_answer() {
        assert_eq!(parse_findings(r#"{"findings":[]}"#).expect("empty"), []);
        assert_eq!(parse_findings(r#"{"findings":null}"#).expect("null"), []);
        assert_eq!(parse_findings("[]").expect("bare empty array"), []);
    }

    #[test]
    fn rejected_answers_name_the_problem_without_quoting() {
        let secret = "CANARY-7f3a";
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "the answer is empty"),
            (
                "I could not find any problems.".to_owned(),
                "contains no JSON object",
            ),
            (
                format!(r#"{{"findings":[{{"severity":"error","title":"{secret}""#),
                "ends too early",
            ),
            (
                format!(r#"{{"findings": [{{severity: "{secret}"}}]}}"#),
                "syntax error",
            ),
            (
                format!(r#"{{"result":"{secret}"}}"#),
                "no \"findings\" array",
            ),
            (
                format!(r#"{{"findings":"{secret}"}}"#),
                "\"findings\" is not an array",
            ),
            (format!(r#""{secret}""#), "contains no JSON object"),
            (
                format!(r#"{{"findings":["{secret}"]}}"#),
                "findings[0] is not an object",
            ),
            (
                format!(r#"{{"findings":[{{"severity":"{secret}","title":"t"}}]}}"#),
                "findings[0].severity is not one of critical, error, warning, info",
            ),
            (
                r#"{"findings":[{"severity":3,"title":"t"}]}"#.to_owned(),
                "findings[0].severity is not a string",
            ),
            (
                format!(
                    r#"{{"findings":[{{"severity":"error","title":"ok"}},{{"title":"{secret}"}}]}}"#
                ),
                "findings[1].severity is missing",
            ),
            (
                r#"{"findings":[{"severity":"error","title":"   "}]}"#.to_owned(),
                "findings[0].title is missing or empty",
            ),
            (
                r#"{"findings":[{"severity":"error"}]}"#.to_owned(),
                "findings[0].title is missing or empty",
            ),
            (
                format!(
                    r#"{{"findings":[{{"severity":"error","title":"t","explanation":{{"x":"{secret}"}}}}]}}"#
                ),
                "findings[0].explanation is not text",
            ),
            (
                r#"{"findings":[{"severity":"error","title":"t","template_ids":{"a":1}}]}"#
                    .to_owned(),
                "findings[0].template_ids is not a list",
            ),
            (
                r#"{"findings":[{"severity":"error","title":"t","template_ids":[["a"]]}]}"#
                    .to_owned(),
                "template_ids holds something other than ids",
            ),
        ];
        for (text, expected) in cases {
            let error = parse_findings(&text).expect_err(&text);
            let message = error.to_string();
            assert!(matches!(error, Error::Backend { .. }), "{message}");
            assert!(message.contains(expected), "{text:?} → {message}");
            assert!(
                !message.contains(secret),
                "the answer leaked into {message}"
            );
            assert!(message.starts_with("the LLM answer was not a valid findings object"));
        }
    }

    #[test]
    fn unknown_template_ids_are_dropped() {
        use crate::tasks::logs::{AnalysisOptions, Analyzer, LogSource};
        let mut analyzer = Analyzer::new(AnalysisOptions::default());
        analyzer.add_source(&LogSource::file("x.log"), ["ERROR boom"]);
        let analysis = analyzer.finish();
        let known = analysis.templates[0].id.clone();
        let mut findings = expected();
        findings[0].template_ids = vec![known.clone(), "made-up".to_owned()];
        assert_eq!(retain_known_template_ids(&mut findings, &analysis), 1);
        assert_eq!(findings[0].template_ids, [known]);
    }

    #[test]
    fn merging_batches() {
        let finding = |severity, title: &str, ids: &[&str]| Finding {
            severity,
            title: title.to_owned(),
            explanation: String::new(),
            recommendation: String::new(),
            template_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        };
        let merged = merge_findings([
            vec![
                finding(FindingSeverity::Warning, "Slow queries", &["a"]),
                finding(FindingSeverity::Error, "DB down", &["b"]),
            ],
            vec![
                finding(FindingSeverity::Error, "db down", &["c", "b"]),
                finding(FindingSeverity::Critical, "OOM", &["d"]),
                finding(FindingSeverity::Warning, "Disk", &[]),
            ],
        ]);
        let summary: Vec<_> = merged
            .iter()
            .map(|f| (f.severity, f.title.as_str(), f.template_ids.join(",")))
            .collect();
        assert_eq!(
            summary,
            [
                (FindingSeverity::Critical, "OOM", "d".to_owned()),
                (FindingSeverity::Error, "DB down", "b,c".to_owned()),
                (FindingSeverity::Warning, "Slow queries", "a".to_owned()),
                (FindingSeverity::Warning, "Disk", String::new()),
            ]
        );
    }

    #[test]
    fn debug_output_hides_the_text() {
        let finding = &expected()[0];
        let debug = format!("{finding:?}");
        assert!(!debug.contains("nginx"), "{debug}");
        assert!(debug.contains("title: <28 chars>"), "{debug}");
        assert!(debug.contains("a1b2c3d4e5f6"), "{debug}");
    }

    #[test]
    fn severity_names() {
        for severity in FindingSeverity::ALL {
            assert_eq!(
                FindingSeverity::from_name(severity.as_str()),
                Some(severity)
            );
            assert_eq!(
                serde_json::to_value(severity).ok(),
                Some(serde_json::json!(severity.as_str()))
            );
        }
        assert_eq!(
            FindingSeverity::from_name(" WARN "),
            Some(FindingSeverity::Warning)
        );
        assert_eq!(FindingSeverity::from_name("severe-ish"), None);
    }

    #[test]
    fn redacted_findings() {
        let finding = Finding {
            severity: FindingSeverity::Error,
            title: "Login from 10.0.0.7".to_owned(),
            explanation: "alice@example.com used password=hunter2".to_owned(),
            recommendation: "Rotate the key sk-abcdefghijklmnopqrstuvwx".to_owned(),
            template_ids: vec!["abc".to_owned()],
        };
        let redacted = finding.redacted();
        let text = format!(
            "{} {} {}",
            redacted.title, redacted.explanation, redacted.recommendation
        );
        for secret in [
            "10.0.0.7",
            "alice@example.com",
            "hunter2",
            "sk-abcdefghijklmnopqrstuvwx",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        assert_eq!(redacted.template_ids, ["abc"]);
    }
}
