//! Input rules shared by every catalogue operation; messages name the field, the rule and the fix.

use crate::FieldErrors;

pub(crate) const MAX_NAME_CHARS: usize = 200;
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 4_000;
pub(crate) const MAX_TEXT_CHARS: usize = 100_000;
pub(crate) const MAX_TASK_KEY_CHARS: usize = 64;
pub(crate) const MAX_CONTAINER_ID_CHARS: usize = 128;
pub(crate) const MAX_TAGS: usize = 32;
pub(crate) const MAX_TAG_CHARS: usize = 64;

/// A display name: trimmed, not empty, not too long, no control characters. Returns the trimmed
/// value so stores never see surrounding whitespace.
pub(crate) fn name(errors: &mut FieldErrors, field: &str, value: &str) -> String {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        errors.add(field, "must not be empty");
    } else if trimmed.chars().count() > MAX_NAME_CHARS {
        errors.add(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        );
    } else if trimmed.chars().any(char::is_control) {
        errors.add(field, "must not contain control characters");
    }
    trimmed.to_string()
}

/// Free text with an upper bound.
pub(crate) fn text(errors: &mut FieldErrors, field: &str, value: &str, max_chars: usize) {
    if value.chars().count() > max_chars {
        errors.add(field, format!("must be at most {max_chars} characters"));
    }
}

/// A task key: lower-case letters, digits and `_`, starting with a letter.
pub(crate) fn task_key(errors: &mut FieldErrors, value: &str) -> String {
    let key = value.trim();
    let well_formed = key.len() <= MAX_TASK_KEY_CHARS
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !well_formed {
        errors.add(
            "task_key",
            format!(
                "\"{key}\" must be 1–{MAX_TASK_KEY_CHARS} characters of a-z, 0-9 and _, \
                 starting with a letter"
            ),
        );
    } else if matches!(key, "task1" | "task2" | "task3") {
        errors.add(
            "task_key",
            format!("\"{key}\" is reserved as an alias of a built-in task"),
        );
    }
    key.to_string()
}

/// A container reference: an id (hex) or a name as Docker allows it (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`);
/// a leading `/` (as the engine reports names) is dropped.
pub(crate) fn container_id(errors: &mut FieldErrors, value: &str) -> String {
    let id = value.trim().trim_start_matches('/');
    let well_formed = !id.is_empty()
        && id.len() <= MAX_CONTAINER_ID_CHARS
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !well_formed {
        errors.add(
            "container_id",
            format!(
                "\"{id}\" is not a container id or name: use 1–{MAX_CONTAINER_ID_CHARS} \
                 characters of letters, digits, _, . and -, starting with a letter or digit"
            ),
        );
    }
    id.to_string()
}

/// Tags: trimmed, non-empty, bounded, duplicates removed (first occurrence kept).
pub(crate) fn tags(errors: &mut FieldErrors, values: &[String]) -> Vec<String> {
    if values.len() > MAX_TAGS {
        errors.add("tags", format!("at most {MAX_TAGS} tags are allowed"));
    }
    let mut cleaned: Vec<String> = Vec::with_capacity(values.len());
    for tag in values {
        let tag = tag.trim();
        if tag.is_empty()
            || tag.chars().count() > MAX_TAG_CHARS
            || tag.chars().any(char::is_control)
        {
            errors.add(
                "tags",
                format!("each tag must be 1–{MAX_TAG_CHARS} printable characters"),
            );
        } else if !cleaned.iter().any(|t| t == tag) {
            cleaned.push(tag.to_string());
        }
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        let mut errors = FieldErrors::new();
        assert_eq!(name(&mut errors, "name", "  web  "), "web");
        assert!(errors.is_empty());
        name(&mut errors, "name", "   ");
        name(&mut errors, "name", &"x".repeat(201));
        name(&mut errors, "name", "a\u{0}b");
        assert_eq!(errors.0["name"].len(), 3);
    }

    #[test]
    fn task_keys() {
        let mut errors = FieldErrors::new();
        task_key(&mut errors, "disk_usage2");
        assert!(errors.is_empty());
        for bad in ["", "Disk", "2fast", "has space", "task1", &"a".repeat(65)] {
            let mut errors = FieldErrors::new();
            task_key(&mut errors, bad);
            assert!(!errors.is_empty(), "{bad:?} accepted");
        }
    }

    #[test]
    fn container_ids() {
        let mut errors = FieldErrors::new();
        assert_eq!(container_id(&mut errors, "/web-1"), "web-1");
        assert_eq!(container_id(&mut errors, "4f1c2a9be0d3"), "4f1c2a9be0d3");
        assert!(errors.is_empty());
        for bad in ["", "/", "-x", "a b", "a/b", "<script>"] {
            let mut errors = FieldErrors::new();
            container_id(&mut errors, bad);
            assert!(!errors.is_empty(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tags_are_cleaned() {
        let mut errors = FieldErrors::new();
        let cleaned = tags(&mut errors, &["gpu ".into(), "gpu".into(), "db".into()]);
        assert_eq!(cleaned, vec!["gpu", "db"]);
        assert!(errors.is_empty());
        tags(&mut errors, &["".into()]);
        assert!(!errors.is_empty());
    }
}
