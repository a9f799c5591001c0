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
        Some(t) => match characters(t) {
            Ok(()) => Some(t.to_string()),
            Err(why) => {
                errors.push(FieldError::new(field, why));
                None
            }
        },
    }
}

/// Characters that show nothing: zero-width spaces and joiners, word joiners, the byte-order
/// mark, the soft hyphen, and the left-to-right and right-to-left marks.
fn invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Bidirectional embeddings, overrides and isolates: they reorder the text around them, so a
/// title could read differently from what it holds.
fn bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The character rules of every user text (titles, bodies, messages, reasons, names): no NUL or
/// other control character except newline (with its carriage return) and tab, no bidi
/// override, and something visible once spaces and invisible characters are set aside.
pub fn characters(t: &str) -> Result<(), &'static str> {
    if t.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("must not contain control characters (other than newline and tab)");
    }
    if t.chars().any(bidi_control) {
        return Err("must not contain bidirectional override characters");
    }
    if !t.chars().any(|c| !c.is_whitespace() && !invisible(c)) {
        return Err("must not be empty or only invisible characters");
    }
    Ok(())
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
    if !t.is_empty()
        && let Err(why) = characters(t)
    {
        errors.push(FieldError::new(field, why));
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

    #[test]
    fn invisible_control_and_bidi_characters_are_refused() {
        for bad in [
            "\u{200B}",
            "\u{200B}\u{FEFF}\u{2060} \u{00AD}",
            "a\u{0}b",
            "bell\u{7}",
            "esc\u{1b}[31m",
            "abc\u{202E}txt.exe",
            "\u{2066}isolate",
        ] {
            let mut errors = Vec::new();
            assert!(
                text(&mut errors, "title", Some(bad), 200).is_none(),
                "{bad:?}"
            );
            assert_eq!(errors.len(), 1, "{bad:?}");
            let mut errors = Vec::new();
            assert!(
                optional_text(&mut errors, "title", Some(bad), 200).is_none(),
                "{bad:?}"
            );
        }
        for good in [
            "line one\nline two\ttabbed",
            "crlf\r\nline",
            "zero\u{200D}width joiner in an emoji 👩\u{200D}💻",
            "مرحبا \u{200F}",
            "Zoë",
        ] {
            let mut errors = Vec::new();
            assert!(
                text(&mut errors, "body", Some(good), 200).is_some(),
                "{good:?}"
            );
            assert!(errors.is_empty(), "{good:?}: {errors:?}");
        }
        let mut errors = Vec::new();
        assert_eq!(
            optional_text(&mut errors, "title", Some("  "), 200).as_deref(),
            Some("")
        );
        assert!(errors.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn an_accepted_text_has_a_visible_character_and_no_control_but_newline_or_tab(
            raw in "\\PC{0,20}|[\u{0}-\u{1f}\u{200b}-\u{200f}\u{202a}-\u{202e} a]{0,10}",
        ) {
            let mut errors = Vec::new();
            if let Some(t) = text(&mut errors, "t", Some(&raw), 200) {
                proptest::prop_assert!(t.chars().any(|c| !c.is_whitespace() && !invisible(c)));
                proptest::prop_assert!(!t.chars().any(|c| (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || bidi_control(c)));
            } else {
                proptest::prop_assert_eq!(errors.len(), 1);
            }
        }
    }
}

/// An email address as the LMS gives it: `local@domain`, ASCII, no spaces, at most 254
/// characters, a domain of dot-separated labels. Not a full RFC 5322 parser: what is sent is
/// checked by SES, and an address that bounces is suppressed.
pub fn email_address(address: &str) -> std::result::Result<(), &'static str> {
    const WHY: &str = "must be an email address (name@example.edu)";
    if address.len() > 254 || !address.is_ascii() {
        return Err(WHY);
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(WHY);
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
    if local_ok && domain.contains('.') && domain.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(WHY)
    }
}

#[cfg(test)]
mod email_tests {
    use super::email_address;

    #[test]
    fn addresses_the_lms_sends_are_accepted_and_others_refused() {
        for ok in [
            "ada@example.edu",
            "a.b+c@mail.school-x.org",
            "x_y@sub.example.co.uk",
        ] {
            assert!(email_address(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ada",
            "@example.edu",
            "ada@",
            "ada@localhost",
            "a b@example.edu",
            "ada@exa mple.edu",
            "ada@-example.edu",
            ".ada@example.edu",
            "a..b@example.edu",
            "ada@example.edu\r\nBcc: x@y.z",
            "adä@example.edu",
        ] {
            assert!(email_address(bad).is_err(), "{bad:?}");
        }
    }
}
