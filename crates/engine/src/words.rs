//! The customer pages' words per language (issue 20 point 4, issue 23 point 9): files in
//! `<templates>/pages/` beside the message templates, so a brand changes them without a
//! rebuild and `check` holds them to the same rules.
//!
//! - `<tag>.toml` (e.g. `fr-BE.toml`) holds a page's words per section (`[tracking]`,
//!   `[loyalty]`, `[preferences]`, `[survey]`, `[unsubscribe]`, `[inbox]`, `[contact]`) as
//!   the brand addresses customers informally;
//! - `<tag>.formal.toml`, when present, holds only what differs for a formally addressed
//!   customer ("uw bestelling", "votre commande"); it may not add keys of its own (DQ2).
//!
//! Every language the brand writes in needs its file, with the same keys as the first
//! language's and the same `{placeholders}` in each text; `check` names what is missing.
//! A templates folder without `pages/` (one made before the words moved out of the code)
//! gets the words Aftercare ships, built in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use aftercare_domain::Locale;
use serde_json::Value;

use crate::programme::Finding;

/// The loaded words: per language, the informal and the formal set.
#[derive(Debug, Clone, Default)]
pub struct PageWords {
    by: BTreeMap<(Locale, bool), Value>,
}

/// The library's words, for a templates folder without its own `pages/`.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "nl-NL.toml",
        include_str!("../../../programmes/templates/pages/nl-NL.toml"),
    ),
    (
        "nl-NL.formal.toml",
        include_str!("../../../programmes/templates/pages/nl-NL.formal.toml"),
    ),
    (
        "nl-BE.toml",
        include_str!("../../../programmes/templates/pages/nl-BE.toml"),
    ),
    (
        "nl-BE.formal.toml",
        include_str!("../../../programmes/templates/pages/nl-BE.formal.toml"),
    ),
    (
        "en.toml",
        include_str!("../../../programmes/templates/pages/en.toml"),
    ),
    (
        "fr-BE.toml",
        include_str!("../../../programmes/templates/pages/fr-BE.toml"),
    ),
    (
        "fr-BE.formal.toml",
        include_str!("../../../programmes/templates/pages/fr-BE.formal.toml"),
    ),
];

impl PageWords {
    /// Loads `dir/<tag>.toml` (and `<tag>.formal.toml`) for each of `languages`; the
    /// built-in words when `dir` does not exist.
    pub fn load_dir(dir: &Path, languages: &[Locale]) -> Result<Self, Vec<Finding>> {
        if !dir.exists() {
            return Self::load_from(&dir.join("(built in)"), languages, &|name| {
                BUILT_IN
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, text)| Ok((*text).to_string()))
            });
        }
        Self::load_from(dir, languages, &|name| {
            let file = dir.join(name);
            file.exists().then(|| std::fs::read_to_string(file))
        })
    }

    /// Loads through `source`, which gives a file's text by name, `None` when there is none.
    fn load_from(
        dir: &Path,
        languages: &[Locale],
        source: &dyn Fn(&str) -> Option<std::io::Result<String>>,
    ) -> Result<Self, Vec<Finding>> {
        let mut findings = Vec::new();
        let mut by = BTreeMap::new();
        let mut reference: Option<(Locale, Value)> = None;
        for &locale in languages {
            let name = format!("{}.toml", locale.tag());
            let file = dir.join(&name);
            let text = source(&name).unwrap_or_else(|| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "no {name} for {}, a language the brand writes in",
                        locale.tag()
                    ),
                ))
            });
            let Some(informal) = read(&file, text, &mut findings) else {
                continue;
            };
            if let Some((first, words)) = &reference {
                compare(words, &informal, "", *first, &file, &mut findings);
            } else {
                reference = Some((locale, informal.clone()));
            }
            let formal_name = format!("{}.formal.toml", locale.tag());
            let formal_file = dir.join(&formal_name);
            let mut formal = informal.clone();
            if let Some(text) = source(&formal_name)
                && let Some(overrides) = read(&formal_file, text, &mut findings)
            {
                overlay(&mut formal, &overrides, "", &formal_file, &mut findings);
            }
            by.insert((locale, false), informal);
            by.insert((locale, true), formal);
        }
        if findings.is_empty() {
            Ok(Self { by })
        } else {
            Err(findings)
        }
    }

    /// One section's words (`"tracking"`) for a customer of `locale`, formal or not, with
    /// the `[contact]` block's words (the footer on every page) under `footer`; `Null` for a
    /// language not loaded.
    pub fn section(&self, locale: Locale, formal: bool, section: &str) -> Value {
        let Some(words) = self.by.get(&(locale, formal)) else {
            return Value::Null;
        };
        let mut t = words.get(section).cloned().unwrap_or(Value::Null);
        if let (Value::Object(map), Some(contact)) = (&mut t, words.get("contact")) {
            map.insert("footer".to_string(), contact.clone());
        }
        t
    }

    /// Every text of every language and register, with its key path, for tests and checks.
    pub fn texts(&self) -> Vec<(Locale, bool, String, String)> {
        let mut out = Vec::new();
        for ((locale, formal), words) in &self.by {
            let mut leaves = Vec::new();
            collect(words, "", &mut leaves);
            out.extend(
                leaves
                    .into_iter()
                    .map(|(path, text)| (*locale, *formal, path, text)),
            );
        }
        out
    }
}

fn finding(file: &Path, reason: String) -> Finding {
    Finding {
        file: file.to_path_buf(),
        line: 1,
        column: 1,
        reason,
    }
}

fn read(file: &Path, text: std::io::Result<String>, findings: &mut Vec<Finding>) -> Option<Value> {
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            findings.push(finding(
                file,
                format!("cannot read the customer pages' words: {e}"),
            ));
            return None;
        }
    };
    match toml::from_str::<Value>(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            let line = text[..e.span().map_or(0, |s| s.start)]
                .matches('\n')
                .count()
                + 1;
            findings.push(Finding {
                file: file.to_path_buf(),
                line,
                column: 1,
                reason: e.message().to_string(),
            });
            None
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The `{name}` placeholders a page text fills in.
fn placeholders(text: &str) -> BTreeSet<&str> {
    text.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .collect()
}

/// Holds `other` to the keys and placeholders of `reference`.
fn compare(
    reference: &Value,
    other: &Value,
    path: &str,
    first: Locale,
    file: &Path,
    findings: &mut Vec<Finding>,
) {
    match (reference, other) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let at = join(path, key);
                match b.get(key) {
                    Some(theirs) => compare(value, theirs, &at, first, file, findings),
                    None => findings.push(finding(
                        file,
                        format!("'{at}' is missing (the {} words have it)", first.tag()),
                    )),
                }
            }
            for key in b.keys().filter(|k| !a.contains_key(*k)) {
                findings.push(finding(
                    file,
                    format!(
                        "'{}' is not a word the pages use (the {} words do not have it)",
                        join(path, key),
                        first.tag()
                    ),
                ));
            }
        }
        (Value::String(a), Value::String(b)) => {
            let (want, got) = (placeholders(a), placeholders(b));
            if want != got {
                findings.push(finding(
                    file,
                    format!(
                        "'{path}' fills in {got:?} where the {} text fills in {want:?}",
                        first.tag()
                    ),
                ));
            }
        }
        (a, b) if std::mem::discriminant(a) != std::mem::discriminant(b) => {
            findings.push(finding(
                file,
                format!(
                    "'{path}' is a different kind of value than in the {} words",
                    first.tag()
                ),
            ));
        }
        _ => {}
    }
}

/// Puts the formal words over the informal ones; a key the informal words lack is a finding.
fn overlay(
    base: &mut Value,
    overrides: &Value,
    path: &str,
    file: &Path,
    findings: &mut Vec<Finding>,
) {
    match (base, overrides) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                let at = join(path, key);
                match base.get_mut(key) {
                    Some(slot) => overlay(slot, value, &at, file, findings),
                    None => findings.push(finding(
                        file,
                        format!("'{at}' is not in the informal words, so the formal words cannot change it"),
                    )),
                }
            }
        }
        (slot, value) => *slot = value.clone(),
    }
}

fn collect(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((path.to_string(), s.clone())),
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| collect(v, &join(path, k), out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| collect(v, &join(path, &i.to_string()), out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    /// A templates folder from before the words moved out of the code still serves pages.
    #[test]
    fn a_folder_without_pages_gets_the_built_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let words = PageWords::load_dir(&dir.path().join("pages"), &Locale::ALL).unwrap();
        for locale in Locale::ALL {
            assert!(words.section(locale, true, "tracking")["title"].is_string());
        }
        assert_eq!(
            words.section(Locale::NlNl, true, "inbox")["title"],
            "Uw berichten"
        );
    }

    #[test]
    fn a_language_missing_a_word_or_a_placeholder_is_a_finding() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "nl-NL.toml",
            "[tracking]\ntitle = \"Je bezorging\"\nrequested = \"Naar {carrier}\"\n",
        );
        write(
            dir.path(),
            "nl-NL.formal.toml",
            "[tracking]\ntitle = \"Uw bezorging\"\n",
        );
        write(
            dir.path(),
            "fr-BE.toml",
            "[tracking]\nrequested = \"Au transporteur\"\n",
        );
        let findings = PageWords::load_dir(dir.path(), &[Locale::NlNl, Locale::FrBe]).unwrap_err();
        let reasons: Vec<_> = findings.iter().map(|f| f.reason.as_str()).collect();
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("'tracking.title' is missing")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("'tracking.requested' fills in")),
            "{reasons:?}"
        );
        write(
            dir.path(),
            "fr-BE.toml",
            "[tracking]\ntitle = \"Ta livraison\"\nrequested = \"À {carrier}\"\n",
        );
        write(
            dir.path(),
            "fr-BE.formal.toml",
            "[tracking]\ntitel = \"Votre livraison\"\n",
        );
        let findings = PageWords::load_dir(dir.path(), &[Locale::NlNl, Locale::FrBe]).unwrap_err();
        assert!(
            findings[0]
                .reason
                .contains("'tracking.titel' is not in the informal words")
        );
        write(
            dir.path(),
            "fr-BE.formal.toml",
            "[tracking]\ntitle = \"Votre livraison\"\n",
        );
        let words = PageWords::load_dir(dir.path(), &[Locale::NlNl, Locale::FrBe]).unwrap();
        assert_eq!(
            words.section(Locale::NlNl, true, "tracking")["title"],
            "Uw bezorging"
        );
        assert_eq!(
            words.section(Locale::FrBe, false, "tracking")["title"],
            "Ta livraison"
        );
        assert_eq!(
            words.section(Locale::FrBe, true, "tracking")["title"],
            "Votre livraison"
        );
        assert_eq!(
            words.section(Locale::FrBe, true, "tracking")["requested"],
            "À {carrier}"
        );
    }
}
