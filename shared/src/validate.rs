//! Parse, don't validate: text fields are trimmed and checked once, at the boundary.

use crate::error::FieldError;

pub const MAX_TITLE: usize = 200;
pub const MAX_CONTENT: usize = 40_000;
pub const MAX_MESSAGE: usize = 4_000;
pub const MAX_REASON: usize = 1_000;
pub const MAX_NAME: usize = 200;
pub const MAX_DESCRIPTION: usize = 5_000;

/// Trims `raw` and checks it is non-empty and at most `max` characters; records a field error if not.
pub fn text(
    errors: &mut Vec<FieldError>,
    field: &str,
    raw: Option<&str>,
    max: usize,
) -> Option<String> {
    match raw.map(str::trim) {
        None => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        Some("") => {
            errors.push(FieldError::new(field, "must not be empty"));
            None
        }
        Some(t) if t.chars().count() > max => {
            errors.push(FieldError::new(
                field,
                format!("must be at most {max} characters"),
            ));
            None
        }
        Some(t) => Some(t.to_string()),
    }
}

/// Like [`text`] but the field may be absent (`None` stays `None`) or empty.
pub fn optional_text(
    errors: &mut Vec<FieldError>,
    field: &str,
    raw: Option<&str>,
    max: usize,
) -> Option<String> {
    let t = raw?.trim();
    if t.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
        return None;
    }
    Some(t.to_string())
}

/// The `@username`s in a text, in order, each once (case-insensitively), at most 20.
pub fn mentions(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let is_name = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
    let mut i = 0;
    while i < chars.len() && found.len() < 20 {
        let starts = chars[i] == '@' && (i == 0 || !(is_name(chars[i - 1]) || chars[i - 1] == '@'));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && is_name(chars[j]) {
            j += 1;
        }
        let name: String = chars[i + 1..j].iter().collect();
        let name = name.trim_end_matches(['.', '-']).to_string();
        if !name.is_empty() && !found.iter().any(|f| f.eq_ignore_ascii_case(&name)) {
            found.push(name);
        }
        i = j;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded_in_characters() {
        let mut errors = Vec::new();
        assert_eq!(
            text(&mut errors, "t", Some("  hi  "), 5).as_deref(),
            Some("hi")
        );
        assert_eq!(
            text(&mut errors, "t", Some("ééééé"), 5).as_deref(),
            Some("ééééé")
        );
        assert!(text(&mut errors, "t", Some("   "), 5).is_none());
        assert!(text(&mut errors, "t", Some("toolong"), 5).is_none());
        assert!(text(&mut errors, "t", None, 5).is_none());
        assert_eq!(errors.len(), 3);
    }
}
