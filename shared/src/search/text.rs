//! The text rules of search, the same for what is indexed and what is asked: Unicode
//! compatibility decomposition with accents dropped and case folded (`Élève` = `eleve`), words
//! split on anything that is not a letter or a digit, English stop words left out, and each word
//! reduced to its Snowball (Porter 2) English stem (`learning`, `learned` and `learns` are
//! `learn`).

use rust_stemmers::{Algorithm, Stemmer};
use std::collections::BTreeMap;
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Words shorter than this are not indexed (and not searched for).
pub const MIN_WORD: usize = 2;
/// Longer words are cut to this many characters (index keys stay small).
pub const MAX_WORD: usize = 40;

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Folds case and accents: NFKD, combining marks dropped, lowercase.
pub fn fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The folded words of a text, in order (stop words included), each at most [`MAX_WORD`]
/// characters.
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= MIN_WORD)
        .map(|w| w.chars().take(MAX_WORD).collect())
        .collect()
}

pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// The stem of a folded word.
pub fn stem(word: &str) -> String {
    STEMMER.stem(word).into_owned()
}

/// How a stem occurs in one document: its weighted frequency and the words it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Occurrence {
    /// Occurrences, a title's counting [`TITLE_WEIGHT`] each.
    pub tf: u32,
    /// The distinct folded words that have this stem (the last word of a query matches them
    /// as a prefix), at most [`WORDS_PER_STEM`].
    pub words: Vec<String>,
}

pub const TITLE_WEIGHT: u32 = 3;
pub const WORDS_PER_STEM: usize = 4;
/// Distinct stems indexed per document; a longer text is indexed by its first ones.
pub const MAX_TERMS: usize = 400;

/// The terms of a document: every stem of its title and body (stop words left out).
pub fn terms(title: Option<&str>, body: &str) -> BTreeMap<String, Occurrence> {
    let mut out: BTreeMap<String, Occurrence> = BTreeMap::new();
    let parts = title
        .map(|t| (t, TITLE_WEIGHT))
        .into_iter()
        .chain(std::iter::once((body, 1)));
    for (text, weight) in parts {
        for word in words(text) {
            if is_stop_word(&word) {
                continue;
            }
            let s = stem(&word);
            if !out.contains_key(&s) && out.len() >= MAX_TERMS {
                continue;
            }
            let o = out.entry(s).or_default();
            o.tf += weight;
            if o.words.len() < WORDS_PER_STEM && !o.words.contains(&word) {
                o.words.push(word);
            }
        }
    }
    out
}

/// One word of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryTerm {
    /// Matches documents holding a word of the same stem.
    Exact { stem: String },
    /// The last word as typed: matches documents holding a word that starts with it.
    Prefix { word: String },
}

/// Most words of a query that are searched for (the first ones).
pub const MAX_QUERY_TERMS: usize = 8;

/// The terms of a query: its distinct stems, the last word (when the text does not end in a
/// space) also as a prefix. Stop words count only when the query has nothing else.
pub fn query_terms(q: &str) -> Vec<QueryTerm> {
    let all = words(q);
    let ends_open = q.chars().last().is_some_and(char::is_alphanumeric);
    let content: Vec<&String> = all.iter().filter(|w| !is_stop_word(w)).collect();
    let chosen: Vec<&String> = if content.is_empty() {
        all.iter().collect()
    } else {
        content
    };
    let last = chosen.len().saturating_sub(1);
    let mut out: Vec<QueryTerm> = Vec::new();
    for (i, word) in chosen.into_iter().enumerate() {
        let term = if i == last && ends_open {
            QueryTerm::Prefix { word: word.clone() }
        } else {
            QueryTerm::Exact { stem: stem(word) }
        };
        if !out.contains(&term) {
            out.push(term);
        }
    }
    out.truncate(MAX_QUERY_TERMS);
    out
}

/// The stem prefix under which every word starting with `word` is indexed: a stem can be
/// shorter than the word (`learni` is typed on the way to `learning`, stem `learn`) or end
/// differently (`happy`, stem `happi`), so the prefix is the part `word` shares with its own
/// stem, one character shorter for words of five or more. Matches are then confirmed against
/// the indexed words themselves ([`prefix_matches`]).
pub fn prefix_key(word: &str) -> String {
    let s = stem(word);
    let shared: String = word
        .chars()
        .zip(s.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    let n = shared.chars().count();
    let keep = if n >= 5 { n - 1 } else { n };
    shared.chars().take(keep.max(MIN_WORD.min(n))).collect()
}

/// Whether an indexed stem (with its words) matches the typed last word `word`: as a prefix,
/// or as the whole word it is (`running` finds `runs`, both stem `run`).
pub fn prefix_matches(word: &str, stem: &str, words: &[String]) -> bool {
    stem.starts_with(word) || words.iter().any(|w| w.starts_with(word)) || self::stem(word) == stem
}

/// Characters of a result's snippet.
pub const SNIPPET: usize = 160;
/// Characters of context kept before the first match.
const SNIPPET_LEAD: usize = 50;

/// The part of `text` around its first word matching a query term, at most [`SNIPPET`]
/// characters, with `…` where it was cut.
pub fn snippet(text: &str, terms: &[QueryTerm]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut first = None;
    let mut i = 0;
    while i < chars.len() && first.is_none() {
        if !chars[i].is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_alphanumeric() {
            i += 1;
        }
        let word = fold(&chars[start..i].iter().collect::<String>());
        let hit = terms.iter().any(|t| match t {
            QueryTerm::Exact { stem: s } => &stem(&word) == s,
            QueryTerm::Prefix { word: p } => word.starts_with(p.as_str()) || stem(&word) == stem(p),
        });
        if hit {
            first = Some(start);
        }
    }
    let mut start = first.unwrap_or(0).saturating_sub(SNIPPET_LEAD);
    while start > 0 && chars[start - 1].is_alphanumeric() {
        start += 1;
    }
    let end = (start + SNIPPET).min(chars.len());
    let body: String = chars[start..end].iter().collect();
    let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "{}{body}{}",
        if start > 0 { "…" } else { "" },
        if end < chars.len() { "…" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_accents_fold_away() {
        assert_eq!(fold("Élève NAÏVE Straße"), "eleve naive straße");
        assert_eq!(
            words("Café-au-lait, DÉJÀ vu!"),
            ["cafe", "au", "lait", "deja", "vu"]
        );
    }

    #[test]
    fn stop_words_are_sorted_for_the_lookup() {
        let mut sorted = STOP_WORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, STOP_WORDS);
        assert!(is_stop_word("the"));
        assert!(!is_stop_word("theorem"));
    }

    #[test]
    fn inflections_share_a_stem() {
        for w in ["learning", "learned", "learns", "learn"] {
            assert_eq!(stem(w), "learn", "{w}");
        }
        assert_eq!(stem("happy"), stem("happiness"));
    }

    #[test]
    fn a_title_weighs_more_than_the_body_and_stop_words_are_not_terms() {
        let t = terms(
            Some("Recursion basics"),
            "The recursion of the recursive function",
        );
        assert_eq!(t["recurs"].tf, TITLE_WEIGHT + 2);
        assert_eq!(t["recurs"].words, ["recursion", "recursive"]);
        assert!(!t.contains_key("the"));
        assert_eq!(t["basic"].tf, TITLE_WEIGHT);
    }

    #[test]
    fn the_last_word_of_a_query_is_a_prefix_unless_followed_by_a_space() {
        assert_eq!(
            query_terms("The Recursive lear"),
            [
                QueryTerm::Exact {
                    stem: "recurs".into()
                },
                QueryTerm::Prefix {
                    word: "lear".into()
                }
            ]
        );
        assert_eq!(
            query_terms("learning "),
            [QueryTerm::Exact {
                stem: "learn".into()
            }]
        );
        assert_eq!(
            query_terms("the"),
            [QueryTerm::Prefix { word: "the".into() }]
        );
        assert!(query_terms("!!! ?").is_empty());
    }

    #[test]
    fn a_snippet_shows_the_first_match_with_some_context() {
        let long = format!(
            "{} Recursion is defined here. {}",
            "intro ".repeat(30),
            "tail ".repeat(60)
        );
        let terms = query_terms("recursive ");
        let s = snippet(&long, &terms);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("Recursion is defined here"), "{s}");
        assert!(s.chars().count() <= SNIPPET + 2);
        assert_eq!(snippet("short text", &terms), "short text");
    }

    #[test]
    fn a_typed_prefix_finds_the_stems_of_the_words_it_begins() {
        for (typed, word) in [
            ("learni", "learning"),
            ("happ", "happy"),
            ("happine", "happiness"),
            ("recursi", "recursion"),
            ("possibi", "possibility"),
            ("le", "learning"),
        ] {
            let s = stem(word);
            let key = prefix_key(typed);
            assert!(s.starts_with(&key), "{typed}: key {key} misses stem {s}");
            assert!(prefix_matches(typed, &s, &[word.to_string()]), "{typed}");
        }
        assert!(!prefix_matches("learni", "learn", &["learned".into()]));
        // The last word also finds its other inflections.
        assert!(prefix_matches("running", "run", &["runs".into()]));
        assert!(s_key_covers("running", "run"));
    }

    /// The range read for a typed word holds the postings of the word's own stem.
    fn s_key_covers(typed: &str, stem: &str) -> bool {
        stem.starts_with(&prefix_key(typed))
    }
}
