//! The MIME message of an email: plain text and HTML alternatives of the same content, links
//! into the web app, and the RFC 8058 one-click unsubscribe headers. Built with `mail-builder`;
//! every text that came from users is escaped in the HTML part.

use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::url::URL;

/// One item of an email: a line of heading, an optional line of detail, and its link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub heading: String,
    pub detail: String,
    pub link: String,
}

/// A titled group of items (one community of a digest; the one group of a notification email).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub title: String,
    pub items: Vec<Item>,
    /// A line after the items ("and 12 more").
    pub more: Option<String>,
}

/// Everything one email says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub intro: String,
    pub sections: Vec<Section>,
    /// Where the reader goes to see everything (the notifications page, the home page).
    pub open_link: (String, String),
    /// Where the reader changes what they get by email.
    pub settings_link: String,
    /// The one-click unsubscribe endpoint (POST) of this email's list.
    pub unsubscribe_url: String,
    /// What unsubscribing stops, as the footer says it.
    pub unsubscribe_label: String,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn text_body(email: &Email) -> String {
    let mut out = format!("{}\n\n", email.intro);
    for section in &email.sections {
        out.push_str(&format!(
            "{}\n{}\n\n",
            section.title,
            "=".repeat(section.title.chars().count().min(72))
        ));
        for item in &section.items {
            out.push_str(&format!("* {}\n", item.heading));
            if !item.detail.is_empty() {
                out.push_str(&format!("  {}\n", item.detail));
            }
            out.push_str(&format!("  {}\n\n", item.link));
        }
        if let Some(more) = &section.more {
            out.push_str(&format!("{more}\n\n"));
        }
    }
    out.push_str(&format!("{}: {}\n\n", email.open_link.0, email.open_link.1));
    out.push_str(&format!(
        "--\nChoose what you get by email: {}\n{}: {}\n",
        email.settings_link, email.unsubscribe_label, email.unsubscribe_url
    ));
    out
}

pub fn html_body(email: &Email) -> String {
    let mut out = String::from(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#1f2328;max-width:40rem\">",
    );
    out.push_str(&format!("<p>{}</p>", escape(&email.intro)));
    for section in &email.sections {
        out.push_str(&format!(
            "<h2 style=\"font-size:1.1rem\">{}</h2><ul>",
            escape(&section.title)
        ));
        for item in &section.items {
            out.push_str(&format!(
                "<li><a href=\"{}\">{}</a>",
                escape(&item.link),
                escape(&item.heading)
            ));
            if !item.detail.is_empty() {
                out.push_str(&format!(
                    "<br><span style=\"color:#59636e\">{}</span>",
                    escape(&item.detail)
                ));
            }
            out.push_str("</li>");
        }
        out.push_str("</ul>");
        if let Some(more) = &section.more {
            out.push_str(&format!("<p>{}</p>", escape(more)));
        }
    }
    out.push_str(&format!(
        "<p><a href=\"{}\">{}</a></p>",
        escape(&email.open_link.1),
        escape(&email.open_link.0)
    ));
    out.push_str(&format!(
        "<hr><p style=\"font-size:.85rem;color:#59636e\"><a href=\"{}\">Choose what you get by email</a> · <a href=\"{}\">{}</a></p>",
        escape(&email.settings_link),
        escape(&email.unsubscribe_url),
        escape(&email.unsubscribe_label)
    ));
    out.push_str("</body></html>");
    out
}

/// The whole message, ready for SES.
pub fn message(from: &str, email: &Email) -> Vec<u8> {
    let domain = from
        .rsplit_once('@')
        .map_or("localhost", |(_, d)| d.trim_end_matches('>'));
    MessageBuilder::new()
        .from(from)
        .to(email.to.as_str())
        .subject(email.subject.as_str())
        .message_id(format!("{}@{domain}", crate::ids::new_id()))
        .header("List-Unsubscribe", URL::new(email.unsubscribe_url.as_str()))
        .header(
            "List-Unsubscribe-Post",
            Raw::new("List-Unsubscribe=One-Click"),
        )
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .text_body(text_body(email))
        .html_body(html_body(email))
        .write_to_vec()
        .expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Email {
        Email {
            to: "ada@example.edu".into(),
            subject: "2 new notifications".into(),
            intro: "Since your last email:".into(),
            sections: vec![Section {
                title: "Physics <101>".into(),
                items: vec![Item {
                    heading: "New reply".into(),
                    detail: "Sam replied: <script>alert(1)</script>".into(),
                    link: "https://app.example.edu/#/c/c1/post/p1".into(),
                }],
                more: None,
            }],
            open_link: (
                "All notifications".into(),
                "https://app.example.edu/#/notifications".into(),
            ),
            settings_link: "https://app.example.edu/#/settings/notifications".into(),
            unsubscribe_url:
                "https://api.example.edu/dev/api/community/notifications/unsubscribe/?token=abc"
                    .into(),
            unsubscribe_label: "Unsubscribe from notification emails".into(),
        }
    }

    #[test]
    fn the_message_has_both_bodies_and_the_one_click_headers() {
        let raw = String::from_utf8(message(
            "Course Community <community@example.edu>",
            &sample(),
        ))
        .unwrap();
        assert!(raw.contains("List-Unsubscribe: <https://api.example.edu/dev/api/community/notifications/unsubscribe/?token=abc>"));
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains("To: <ada@example.edu>"));
    }

    #[test]
    fn user_text_is_escaped_in_html_and_kept_in_text() {
        let html = html_body(&sample());
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;") && html.contains("Physics &lt;101&gt;"));
        assert!(text_body(&sample()).contains("Sam replied: <script>alert(1)</script>"));
    }
}
