//! Register mistakes a reader would wince at, found in a rendered message (issue 23 point 6,
//! DQ2): an informal word in a formal message or a formal one in an informal message, Dutch
//! verbs that do not agree with "u" ("wil u" for "wilt u") or with "je" ("hoeft je" for "hoef
//! je"), "je" where Dutch needs "jij"/"jou" ("dan je?", "voor je."), a formal customer called
//! by their first name, Dutch words in English or French copy, carriers in capitals, and
//! words a template should never print ("None", "null", "undefined").
//!
//! `aftercare check` renders every template for a sample customer of each language and
//! address form and prints what this finds as warnings; the copy test holds the library to
//! none at all.

use aftercare_domain::Locale;

/// Verb stems that take a `-t` before "u" ("wilt u", "krijgt u", "denkt u", "vindt u").
const STEMS_BEFORE_U: &[&str] = &[
    "wil", "krijg", "denk", "vind", "hoor", "heb", "ben", "weet", "kom", "zie", "lees", "kies",
    "geef", "stuur", "houd", "ontvang", "maak", "betaal", "bestel", "loop", "wacht", "hoef",
    "zoek", "vraag", "blijf", "gebruik", "draag", "ruil", "schrijf", "reken", "mis", "merk",
    "wens", "voel", "kijk", "kun", "zoud",
];

/// Verb forms with the `-t` that inversion with "je" drops ("hoef je", not "hoeft je"): the
/// ones that are not also the third person, so "Vandaag komt je pakket" is not taken for a
/// mistake ("hoeft" is, and is kept because the library had "Dan hoeft je").
const T_FORMS_BEFORE_JE: &[&str] = &["wilt", "kunt", "zult", "hebt", "bent", "hoeft"];

/// Words that open a clause with the verb first ("Dan hoef je", "Wat vindt u").
const OPENERS: &[&str] = &[
    "dan",
    "wat",
    "hoe",
    "waar",
    "wanneer",
    "waarom",
    "welke",
    "zo",
    "nu",
    "daar",
    "hier",
    "ook",
    "straks",
    "morgen",
    "vandaag",
    "binnenkort",
    "misschien",
    "graag",
];

/// Dutch words that do not belong in an English or French message.
const DUTCH_WORDS: &[&str] = &[
    "het",
    "een",
    "uur",
    "bestelling",
    "klantenservice",
    "groet",
    "groeten",
    "maandag",
    "dinsdag",
    "woensdag",
    "donderdag",
    "vrijdag",
    "zaterdag",
    "zondag",
    "bedankt",
    "jouw",
    "uw",
    "ma",
    "za",
    "pakket",
    "pakje",
];

/// Mistakes in `text`, a rendered message in `locale`, for a customer addressed formally or
/// not, whose usable first name is `first_name`. Each names the words it saw.
pub fn mistakes(locale: Locale, formal: bool, first_name: Option<&str>, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    // Addresses are not copy: "klantenservice@…" and links are left out, and so is French's
    // euphonic "-t-" ("a-t-il"), which is not "te".
    let text = &text
        .split(' ')
        .map(|w| {
            if w.contains('@') || w.contains("://") {
                ""
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace("-t-", "-");
    // Sentence ends count as tokens so "voor je." and "dan je?" can be seen.
    let tokens: Vec<String> = tokenize(text);
    let words: Vec<&str> = tokens
        .iter()
        .map(String::as_str)
        .filter(|t| is_word(t))
        .collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let has = |w: &str| lower.iter().any(|x| x == w);

    for bad in ["None", "null", "undefined", "NaN"] {
        if words.contains(&bad) {
            found.push(format!("prints '{bad}'"));
        }
    }
    if text.contains("{{") || text.contains("{%") {
        found.push("template syntax left in the text".into());
    }
    for shouted in [
        "POSTNL", "BPOST", "Bpost", "Postnl", "Dhl", "Dpd", "Gls", "Ups",
    ] {
        if words.contains(&shouted) {
            found.push(format!("carrier written '{shouted}'"));
        }
    }
    match (locale, formal) {
        (Locale::NlNl | Locale::NlBe, true) => {
            for w in ["je", "jij", "jou", "jouw", "jullie"] {
                if has(w) {
                    found.push(format!("informal '{w}' in a formal message"));
                }
            }
            for pair in lower.windows(2) {
                if pair[1] == "u" && STEMS_BEFORE_U.contains(&pair[0].as_str()) {
                    found.push(format!("'{} u' should be '{}t u'", pair[0], pair[0]));
                }
            }
        }
        (Locale::NlNl | Locale::NlBe, false) => {
            for w in ["u", "uw"] {
                if has(w) {
                    found.push(format!("formal '{w}' in an informal message"));
                }
            }
            for pair in lower.windows(2) {
                if pair[1] == "je" && T_FORMS_BEFORE_JE.contains(&pair[0].as_str()) {
                    let start = tokens_before_is_opener(&tokens, &pair[0]);
                    if start {
                        found.push(format!("'{} je' drops its -t before je", pair[0]));
                    }
                }
            }
            for triple in tokens.windows(3) {
                let (prep, je, end) = (
                    triple[0].to_lowercase(),
                    triple[1].as_str(),
                    triple[2].as_str(),
                );
                if je == "je"
                    && matches!(end, "." | "?" | "!" | ",")
                    && matches!(
                        prep.as_str(),
                        "voor" | "aan" | "met" | "bij" | "naar" | "van" | "dan" | "zoals"
                    )
                {
                    let right = if prep == "dan" || prep == "zoals" {
                        "jij"
                    } else {
                        "jou"
                    };
                    found.push(format!("'{prep} je{end}' should be '{prep} {right}{end}'"));
                }
            }
        }
        (Locale::FrBe, true) => {
            for w in ["tu", "ton", "ta", "tes", "toi", "te", "t"] {
                if has(w) {
                    found.push(format!("informal '{w}' in a formal message"));
                }
            }
        }
        (Locale::FrBe, false) => {
            let without = text.replace("rendez-vous", "");
            for w in tokenize(&without) {
                let w = w.to_lowercase();
                if matches!(w.as_str(), "vous" | "votre" | "vos") {
                    found.push(format!("formal '{w}' in an informal message"));
                    break;
                }
            }
        }
        (Locale::En, _) => {}
    }
    if matches!(locale, Locale::En | Locale::FrBe) {
        for w in DUTCH_WORDS {
            if has(w) {
                found.push(format!("Dutch '{w}' in a message in {}", locale.tag()));
            }
        }
    }
    if formal && let Some(first) = first_name {
        // The first name alone, not followed by the surname (a full name is fine).
        for (i, w) in words.iter().enumerate() {
            if *w == first
                && words
                    .get(i + 1)
                    .is_none_or(|n| n.chars().next().is_some_and(char::is_lowercase))
            {
                found.push(format!("calls a formally addressed customer '{first}'"));
                break;
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            if !word.is_empty() {
                tokens.push(std::mem::take(&mut word));
            }
            if matches!(c, '.' | '?' | '!' | ',' | ':' | ';' | '\n') {
                tokens.push(c.to_string());
            }
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

fn is_word(t: &str) -> bool {
    t.chars().next().is_some_and(char::is_alphanumeric)
}

/// Whether the verb `verb` (a token) opens its clause: first in a sentence or after an
/// opener such as "dan" or "wat" ("Dan hoeft je" is wrong; "Jij hebt je pas" is right).
fn tokens_before_is_opener(tokens: &[String], verb: &str) -> bool {
    tokens.iter().enumerate().any(|(i, t)| {
        t.to_lowercase() == verb
            && tokens.get(i + 1).is_some_and(|n| n == "je")
            && (i == 0
                || matches!(tokens[i - 1].as_str(), "." | "?" | "!" | "\n" | ":")
                || OPENERS.contains(&tokens[i - 1].to_lowercase().as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mistakes issue 23 found in the library, each seen.
    #[test]
    fn the_mistakes_found_in_the_library_are_seen() {
        let formal = |text| mistakes(Locale::NlNl, true, Some("Anna"), text);
        let informal = |text| mistakes(Locale::NlNl, false, Some("Anna"), text);
        assert!(
            formal("Wil u toch stoppen?")
                .iter()
                .any(|m| m.contains("'wil u'"))
        );
        assert!(
            formal("Wat vind u belangrijk?")
                .iter()
                .any(|m| m.contains("'vind u'"))
        );
        assert!(
            formal("Denk u met ons mee?")
                .iter()
                .any(|m| m.contains("'denk u'"))
        );
        assert!(
            formal("Hoe gaat het met je schoenen?")
                .iter()
                .any(|m| m.contains("'je'"))
        );
        assert!(
            formal("Geachte mevrouw Jansen,\n\nAnna, bedankt!")
                .iter()
                .any(|m| m.contains("'Anna'"))
        );
        assert!(
            formal("Geachte Anna Jansen,").is_empty(),
            "{:?}",
            formal("Geachte Anna Jansen,")
        );
        assert!(formal("Wilt u toch stoppen? Wat vindt u belangrijk?").is_empty());
        assert!(
            informal("Dan hoeft je niets te doen.")
                .iter()
                .any(|m| m.contains("'hoeft je'"))
        );
        assert!(
            informal("Wie kan ons beter helpen dan je?")
                .iter()
                .any(|m| m.contains("'dan jij?'"))
        );
        assert!(
            informal("Alleen voor je.")
                .iter()
                .any(|m| m.contains("'voor jou.'"))
        );
        assert!(
            informal("Heb je uw bon?")
                .iter()
                .any(|m| m.contains("'uw'"))
        );
        assert!(informal("Dan hoef je niets te doen. Jij hebt je pas. Voor jou.").is_empty());
        assert!(
            informal("Bezorgd door POSTNL.")
                .iter()
                .any(|m| m.contains("POSTNL"))
        );
        let en = mistakes(Locale::En, false, None, "Call us ma–za 8:00–20:00. Thanks!");
        assert!(en.iter().any(|m| m.contains("Dutch 'ma'")), "{en:?}");
        let fr = |formal, text| mistakes(Locale::FrBe, formal, Some("Camille"), text);
        assert!(
            fr(true, "Merci pour ta commande.")
                .iter()
                .any(|m| m.contains("'ta'"))
        );
        assert!(fr(true, "Il t'attend.").iter().any(|m| m.contains("'t'")));
        assert!(fr(true, "Quelque chose vous a-t-il déplu ?").is_empty());
        assert!(informal("Vandaag komt je pakket. Mail klantenservice@x.example.").is_empty());
        assert!(
            fr(false, "Merci pour votre commande.")
                .iter()
                .any(|m| m.contains("'votre'"))
        );
        assert!(fr(false, "Prends rendez-vous.").is_empty());
        assert!(
            mistakes(Locale::En, false, None, "Hello None,")
                .iter()
                .any(|m| m.contains("None"))
        );
    }
}
