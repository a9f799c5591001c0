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
