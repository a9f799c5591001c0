//! Small helpers: percent-decoding, query strings, ids and API Gateway time formats.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;

/// Decodes `%XX` escapes (a `+` stays a `+`, as in API Gateway). Invalid UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parses a raw query string into ordered `(name, values)` (decoded).
pub fn parse_query(raw: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.entry(percent_decode(k))
            .or_default()
            .push(percent_decode(v));
    }
    map
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// API Gateway's request time format, e.g. `09/Feb/2024:18:11:43 +0000`.
pub fn clf_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%d/%b/%Y:%H:%M:%S +0000")
        .to_string()
}

/// ISO-8601 UTC with milliseconds.
pub fn iso_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A 16-character id in the style of API Gateway connection/request ids (e.g. `L0SM9cOFvHcCIhw=`).
pub fn aws_short_id() -> String {
    let mut bytes = [0u8; 11];
    fastrand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

/// A random UUID v4 (Lambda request ids).
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    fastrand::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An X-Ray trace header value.
pub fn trace_id() -> String {
    let secs = now_ms() / 1000;
    let mut b = [0u8; 12];
    fastrand::fill(&mut b);
    let r: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "Root=1-{secs:08x}-{r};Parent={:016x};Sampled=0",
        fastrand::u64(..)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(percent_decode("a%20b+c%3D%zz%4"), "a b+c=%zz%4");
        let q = parse_query("a=1&b=%2F&a=2&flag");
        assert_eq!(q["a"], vec!["1", "2"]);
        assert_eq!(q["b"], vec!["/"]);
        assert_eq!(q["flag"], vec![""]);
        assert_eq!(aws_short_id().len(), 16);
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
    }
}
