//! Salutation rules: never empty, never wrong (DQ2).
//!
//! Input is the name as the customer's record has it, however messy; output is the opening
//! line of a message ("Beste Jan,", "Geachte heer De Vries,", "Dear customer,", "Madame
//! Dupont,", "Chère Anne,") and the
//! cleaned-up name parts that templates may use. The rules:
//! - a first name is used only when it is a real name: not missing, not only initials, not
//!   the last name again, not an email address, digits, "test" or "x";
//! - "heer"/"mevrouw"/"Mr"/"Ms"/"Monsieur"/"Madame" only when gender is `male`/`female`;
//!   otherwise a neutral form; French agrees "Cher"/"Chère" with the gender too;
//! - nl-NL writes the prefix (tussenvoegsel) in lower case after a first name or initials and
//!   capitalises its first word when it starts the name; nl-BE and fr-BE keep the record's
//!   own form (French keeps "de" small after a title: "Monsieur de Villers");
//! - a prefix typed into the last-name field ("van der Berg") is recognised;
//! - capitalisation is normalised ("jAN" → "Jan") without breaking "Jan-Willem", "D'Hondt",
//!   "O'Neill" or "McDonald".
//! - an informal customer without a usable first name gets the neutral opening before title
//!   and surname ("Beste heer De Vries,", "Bonjour Monsieur Lambert,"), never the formal
//!   "Geachte" above a body that says "je".
//!
//! Requirements: DQ2.

use serde::Serialize;

use crate::customer::{AddressForm, Gender, Locale};

/// The name fields of a customer, as stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct NameInput<'a> {
    /// First name field.
    pub first_name: Option<&'a str>,
    /// Prefix field.
    pub name_prefix: Option<&'a str>,
    /// Last name field.
    pub last_name: Option<&'a str>,
    /// Gender.
    pub gender: Gender,
    /// Formal or informal.
    pub address_form: AddressForm,
    /// Language and region.
    pub locale: Locale,
}

/// Which kind of salutation was chosen; useful to explain a greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GreetingKind {
    /// First name: "Beste Jan,".
    FirstName,
    /// Title and surname: "Geachte heer De Vries,".
    Titled,
    /// Full name without a title: "Beste Jan de Vries," / "Geachte J. de Vries,".
    FullName,
    /// No usable name: "Beste klant,".
    Generic,
}

/// The greeting and the cleaned name parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Greeting {
    /// The opening line, ending in a comma.
    pub line: String,
    /// Which rule produced it.
    pub kind: GreetingKind,
    /// The first name when it is usable.
    pub first_name: Option<String>,
    /// The name to put on an envelope or in "Dear …" without a title, e.g. "Jan de Vries".
    pub full_name: Option<String>,
    /// How to name the customer in running text and on pages, in the address form of the
    /// greeting: the first name for informal customers, "mevrouw Jansen" / "Ms Jansen" (or
    /// the full name when the gender is not known) for formal ones — never a formal
    /// customer's first name alone (issue 23).
    pub addressed_as: Option<String>,
}

/// Words that make up Dutch, Flemish, French and German name prefixes.
const PREFIX_WORDS: &[&str] = &[
    "van", "de", "der", "den", "het", "'t", "te", "ten", "ter", "in", "op", "onder", "uit", "aan",
    "bij", "voor", "von", "vom", "zu", "la", "le", "du", "des", "d'", "di", "da", "del", "della",
    "dos", "'s", "vander", "vanden", "vande",
];

/// Values people type when they do not want to give a name.
const NOT_A_NAME: &[&str] = &[
    "test",
    "tester",
    "testing",
    "x",
    "xx",
    "xxx",
    "n/a",
    "na",
    "nvt",
    "n.v.t.",
    "-",
    "--",
    ".",
    "onbekend",
    "unknown",
    "klant",
    "customer",
    "none",
    "null",
    "nil",
    "asdf",
    "qwerty",
    "abc",
    "dhr",
    "dhr.",
    "mevr",
    "mevr.",
    "mr",
    "mr.",
    "mrs",
    "mrs.",
    "ms",
    "ms.",
    "heer",
    "mevrouw",
    "meneer",
    "sir",
    "madam",
    "anonymous",
    "anoniem",
    "geen",
];

/// The name to put on an envelope, if the customer has one fit to use: what
/// [`greeting`]'s `full_name` would be, without making the greeting around it.
pub fn envelope_name(input: NameInput<'_>) -> Option<String> {
    ParsedName::parse(&input).full_name()
}

/// Builds the greeting for a customer's name fields.
pub fn greeting(input: NameInput<'_>) -> Greeting {
    let name = ParsedName::parse(&input);
    let words = Words::of(input.locale);
    let titled = match input.gender {
        Gender::Female => Some(words.female),
        Gender::Male => Some(words.male),
        Gender::X | Gender::Unknown => None,
    };
    let full_name = name.full_name();

    let informal = match input.gender {
        Gender::Female => words.informal_female,
        Gender::Male => words.informal_male,
        Gender::X | Gender::Unknown => words.informal,
    };
    let (line, kind) = match (input.address_form, &name.first, &name.surname, titled) {
        (AddressForm::Informal, Some(first), _, _) => {
            (format!("{informal} {first},"), GreetingKind::FirstName)
        }
        // Informal, but no first name fit to use: the title and surname after the neutral
        // opening ("Beste heer De Vries,"), not the formal one, so the line does not clash
        // with the "je" of the body.
        (_, _, Some(surname), Some(title)) => (
            format!(
                "{} {title} {},",
                if input.address_form == AddressForm::Informal {
                    words.neutral_full
                } else {
                    words.formal
                },
                surname.standalone
            )
            .trim_start()
            .to_string(),
            GreetingKind::Titled,
        ),
        (_, Some(_), Some(_), None) => (
            format!(
                "{} {},",
                words.neutral_full,
                full_name.clone().unwrap_or_default()
            ),
            GreetingKind::FullName,
        ),
        (_, None, Some(_), None) if name.initials.is_some() => (
            format!(
                "{} {},",
                if words.formal.is_empty() || input.address_form == AddressForm::Informal {
                    words.neutral_full
                } else {
                    words.formal
                },
                full_name.clone().unwrap_or_default()
            ),
            GreetingKind::FullName,
        ),
        (AddressForm::Formal, Some(first), None, _) => (
            format!("{} {first},", words.informal),
            GreetingKind::FirstName,
        ),
        (AddressForm::Formal, _, _, _) => (words.generic_formal.to_string(), GreetingKind::Generic),
        (AddressForm::Informal, _, _, _) => {
            (words.generic_informal.to_string(), GreetingKind::Generic)
        }
    };
    let addressed_as = match (input.address_form, &name.first, &name.surname, titled) {
        (AddressForm::Informal, Some(first), _, _) => Some(first.clone()),
        (_, _, Some(surname), Some(_)) => {
            let title = if input.gender == Gender::Male {
                words.male_spoken
            } else {
                words.female
            };
            Some(format!("{title} {}", surname.standalone))
        }
        (AddressForm::Formal, _, Some(_), None) => full_name.clone(),
        _ => None,
    };
    Greeting {
        line,
        kind,
        first_name: name.first,
        full_name,
        addressed_as,
    }
}

struct Words {
    informal: &'static str,
    /// French agrees the informal opening with the gender: "Chère Anne," / "Cher Jean,".
    informal_female: &'static str,
    informal_male: &'static str,
    /// Before a title ("Geachte heer …"); empty in French, where the title opens the line
    /// ("Madame Dupont,").
    formal: &'static str,
    neutral_full: &'static str,
    male: &'static str,
    /// The male title in running text ("meneer De Vries"; "heer" only after "Geachte").
    male_spoken: &'static str,
    female: &'static str,
    generic_formal: &'static str,
    generic_informal: &'static str,
}

impl Words {
    fn of(locale: Locale) -> Self {
        match locale {
            Locale::NlNl | Locale::NlBe => Words {
                informal: "Beste",
                informal_female: "Beste",
                informal_male: "Beste",
                formal: "Geachte",
                neutral_full: "Beste",
                male: "heer",
                male_spoken: "meneer",
                female: "mevrouw",
                generic_formal: "Geachte klant,",
                generic_informal: "Beste klant,",
            },
            Locale::En => Words {
                informal: "Hi",
                informal_female: "Hi",
                informal_male: "Hi",
                formal: "Dear",
                neutral_full: "Dear",
                male: "Mr",
                male_spoken: "Mr",
                female: "Ms",
                generic_formal: "Dear customer,",
                generic_informal: "Dear customer,",
            },
            // Issue 23 point 9: Madame/Monsieur + surname formally, Chère/Cher + first name
            // informally, "Madame, Monsieur," when no name can be used — never an empty one.
            Locale::FrBe => Words {
                informal: "Bonjour",
                informal_female: "Chère",
                informal_male: "Cher",
                formal: "",
                neutral_full: "Bonjour",
                male: "Monsieur",
                male_spoken: "Monsieur",
                female: "Madame",
                generic_formal: "Madame, Monsieur,",
                generic_informal: "Bonjour,",
            },
        }
    }
}

/// A surname in its two written forms.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Surname {
    /// After a first name or initials: "de Vries" (nl-NL), "Van den Bossche" (nl-BE).
    after_first: String,
    /// On its own, after a title: "De Vries".
    standalone: String,
}

#[derive(Debug, Default)]
struct ParsedName {
    first: Option<String>,
    initials: Option<String>,
    surname: Option<Surname>,
}

impl ParsedName {
    fn parse(input: &NameInput<'_>) -> Self {
        let surname = parse_surname(input.name_prefix, input.last_name, input.locale);
        let raw_first = input.first_name.map(collapse_spaces).unwrap_or_default();
        let mut parsed = ParsedName {
            surname,
            ..Default::default()
        };
        if let Some(initials) = as_initials(&raw_first) {
            parsed.initials = Some(initials);
        } else if is_usable_first_name(&raw_first, parsed.surname.as_ref(), input) {
            parsed.first = Some(normalise_name(&raw_first));
        }
        parsed
    }

    fn full_name(&self) -> Option<String> {
        let surname = self.surname.as_ref()?;
        let given = self.first.as_ref().or(self.initials.as_ref())?;
        Some(format!("{given} {}", surname.after_first))
    }
}

fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_prefix_word(word: &str) -> bool {
    let lower = word.to_lowercase();
    PREFIX_WORDS.contains(&lower.as_str())
}

fn looks_like_a_name(s: &str) -> bool {
    let lower = s.to_lowercase();
    !s.is_empty()
        && !NOT_A_NAME.contains(&lower.as_str())
        && s.chars().any(char::is_alphabetic)
        && s.chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '’' | '.'))
        && s.chars().filter(|c| c.is_alphabetic()).count() >= 2
}

fn parse_surname(prefix: Option<&str>, last: Option<&str>, locale: Locale) -> Option<Surname> {
    let last = collapse_spaces(last.unwrap_or_default());
    let prefix = collapse_spaces(prefix.unwrap_or_default());
    let mut prefix_words: Vec<String> = prefix
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    let mut last_words: Vec<String> = last
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    // A prefix typed into the last-name field: "van der Berg". Also drops a prefix typed twice.
    if prefix_words.is_empty() {
        while last_words.len() > 1 && is_prefix_word(&last_words[0]) {
            prefix_words.push(last_words.remove(0));
        }
    } else {
        let lower = |ws: &[String]| ws.iter().map(|w| w.to_lowercase()).collect::<Vec<_>>();
        if last_words.len() > prefix_words.len()
            && lower(&last_words[..prefix_words.len()]) == lower(&prefix_words)
        {
            last_words.drain(..prefix_words.len());
        }
        // The rest of the prefix typed into the last-name field: "van" + "DER BERG".
        while last_words.len() > 1 && is_prefix_word(&last_words[0]) {
            prefix_words.push(last_words.remove(0));
        }
    }
    let core = last_words.join(" ");
    if !looks_like_a_name(&core) {
        return None;
    }
    let core = normalise_name(&core);
    if prefix_words.is_empty() || !prefix_words.iter().all(|w| is_prefix_word(w)) {
        // Not a recognised prefix: treat it as part of the name.
        let whole = normalise_name([prefix_words.join(" "), core].join(" ").trim());
        return Some(Surname {
            after_first: whole.clone(),
            standalone: whole,
        });
    }
    match locale {
        Locale::NlBe | Locale::FrBe => {
            // Belgian names, Flemish and Walloon, are written as the record has them: "Van den Bossche". A prefix
            // typed in capitals is tidied the way most are written — only its first word
            // capitalised, also when the rest was typed in lower case ("van DER" → "van der",
            // "VAN DEN" → "Van den"; issue 23 point 10).
            let words: Vec<String> = prefix_words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if is_all_upper(w) {
                        let lower = w.to_lowercase();
                        if i == 0 { capitalise(&lower) } else { lower }
                    } else {
                        w.clone()
                    }
                })
                .collect();
            let mut whole = format!("{} {core}", words.join(" "));
            if locale == Locale::NlBe
                && whole.starts_with(char::is_lowercase)
                && !whole.starts_with('\'')
            {
                // Standing alone, the first letter of a Flemish surname is a capital; French
                // keeps its particle small ("Monsieur de Villers").
                whole = capitalise(&whole);
            }
            let after_first = format!("{} {core}", words.join(" "));
            Some(Surname {
                after_first,
                standalone: whole,
            })
        }
        Locale::NlNl | Locale::En => {
            let lower: Vec<String> = prefix_words.iter().map(|w| w.to_lowercase()).collect();
            let after_first = format!("{} {core}", lower.join(" "));
            let mut standalone_words = lower.clone();
            if let Some(first) = standalone_words.first_mut()
                && !first.starts_with('\'')
            {
                *first = capitalise(first);
            }
            Some(Surname {
                after_first,
                standalone: format!("{} {core}", standalone_words.join(" ")),
            })
        }
    }
}

/// "J.", "J.P.", "j p", "JP" (two or three capitals) become "J." / "J.P.".
fn as_initials(s: &str) -> Option<String> {
    if NOT_A_NAME.contains(&s.to_lowercase().as_str()) {
        return None;
    }
    let compact: String = s.chars().filter(|c| !matches!(c, ' ' | '.')).collect();
    let has_dots_or_spaces = s.contains('.') || s.contains(' ');
    let letters: Vec<char> = compact.chars().collect();
    if letters.is_empty() || !letters.iter().all(|c| c.is_alphabetic()) {
        return None;
    }
    let all_single = s
        .split(['.', ' '])
        .filter(|p| !p.is_empty())
        .all(|p| p.chars().count() == 1);
    let initials = (has_dots_or_spaces && all_single)
        || letters.len() == 1
        || (letters.len() <= 3 && letters.iter().all(|c| c.is_uppercase()) && !has_vowel(&letters));
    initials.then(|| {
        letters
            .iter()
            .map(|c| format!("{}.", c.to_uppercase()))
            .collect()
    })
}

fn has_vowel(letters: &[char]) -> bool {
    letters
        .iter()
        .any(|c| matches!(c.to_ascii_lowercase(), 'a' | 'e' | 'i' | 'o' | 'u' | 'y'))
}

fn is_usable_first_name(first: &str, surname: Option<&Surname>, input: &NameInput<'_>) -> bool {
    if !looks_like_a_name(first) || first.contains('.') {
        return false;
    }
    let lower = first.to_lowercase();
    let same_as_last = |s: &str| !s.is_empty() && collapse_spaces(s).to_lowercase() == lower;
    if same_as_last(input.last_name.unwrap_or_default())
        || surname.is_some_and(|s| same_as_last(&s.after_first) || same_as_last(&s.standalone))
    {
        return false;
    }
    // The surname core alone ("Vries" in "de Vries") typed as the first name.
    if let Some(s) = surname
        && s.standalone.rsplit(' ').next().is_some_and(same_as_last)
        && first.split(' ').count() == 1
        && input.name_prefix.is_some()
    {
        return false;
    }
    true
}

fn is_all_upper(w: &str) -> bool {
    let letters: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() > 1 && letters.iter().all(|c| c.is_uppercase())
}

fn is_badly_cased(w: &str) -> bool {
    let letters: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
    let Some(first) = letters.first() else {
        return false;
    };
    is_all_upper(w) || first.is_lowercase()
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Normalises each word's capitalisation unless it is already well formed.
fn normalise_name(s: &str) -> String {
    s.split(' ')
        .map(|word| {
            if is_badly_cased(word) {
                recase_word(&word.to_lowercase())
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// "jan-willem" → "Jan-Willem", "d'hondt" → "D'Hondt", "o'neill" → "O'Neill",
/// "mcdonald" → "McDonald".
fn recase_word(lower: &str) -> String {
    let parts: Vec<String> = lower.split('-').map(recase_part).collect();
    parts.join("-")
}

fn recase_part(part: &str) -> String {
    for apostrophe in ['\'', '’'] {
        if let Some((head, tail)) = part.split_once(apostrophe)
            && head.chars().count() == 1
            && !tail.is_empty()
        {
            return format!("{}{apostrophe}{}", capitalise(head), capitalise(tail));
        }
    }
    if let Some(rest) = part.strip_prefix("mc")
        && rest.chars().count() >= 2
    {
        return format!("Mc{}", capitalise(rest));
    }
    capitalise(part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressForm::{Formal, Informal};
    use Gender::{Female, Male, Unknown, X};
    use Locale::{En, FrBe, NlBe, NlNl};

    /// (first, prefix, last, gender, form, locale, expected line)
    type Case = (
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Gender,
        AddressForm,
        Locale,
        &'static str,
    );

    fn check(cases: &[Case]) {
        let mut failures = Vec::new();
        for &(first, prefix, last, gender, form, locale, expected) in cases {
            let got = greeting(NameInput {
                first_name: first,
                name_prefix: prefix,
                last_name: last,
                gender,
                address_form: form,
                locale,
            });
            if got.line != expected {
                failures.push(format!(
                    "{first:?} {prefix:?} {last:?} {gender:?} {form:?} {locale:?}: expected {expected:?}, got {:?}",
                    got.line
                ));
            }
            assert!(
                !got.line.contains(" ,") && !got.line.contains("  "),
                "{}",
                got.line
            );
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn informal_uses_a_usable_first_name() {
        check(&[
            (
                Some("Jan"),
                Some("de"),
                Some("Vries"),
                Male,
                Informal,
                NlNl,
                "Beste Jan,",
            ),
            (
                Some("Jan"),
                None,
                None,
                Unknown,
                Informal,
                NlNl,
                "Beste Jan,",
            ),
            (
                Some("Sanne"),
                None,
                Some("Jansen"),
                Female,
                Informal,
                NlBe,
                "Beste Sanne,",
            ),
            (
                Some("Emily"),
                None,
                Some("Clarke"),
                Female,
                Informal,
                En,
                "Hi Emily,",
            ),
            (
                Some("Jan-Willem"),
                None,
                Some("Bakker"),
                Male,
                Informal,
                NlNl,
                "Beste Jan-Willem,",
            ),
            (
                Some(" Jan "),
                None,
                Some("Bakker"),
                Male,
                Informal,
                NlNl,
                "Beste Jan,",
            ),
            (
                Some("Anne Marie"),
                None,
                Some("Bakker"),
                X,
                Informal,
                NlNl,
                "Beste Anne Marie,",
            ),
            (
                Some("Zoë"),
                None,
                Some("Peeters"),
                Female,
                Informal,
                NlBe,
                "Beste Zoë,",
            ),
        ]);
    }

    #[test]
    fn formal_with_known_gender_uses_title_and_surname() {
        check(&[
            (
                Some("Jan"),
                Some("de"),
                Some("Vries"),
                Male,
                Formal,
                NlNl,
                "Geachte heer De Vries,",
            ),
            (
                Some("Anna"),
                Some("van den"),
                Some("Berg"),
                Female,
                Formal,
                NlNl,
                "Geachte mevrouw Van den Berg,",
            ),
            (
                Some("Piet"),
                None,
                Some("Jansen"),
                Male,
                Formal,
                NlNl,
                "Geachte heer Jansen,",
            ),
            (
                Some("Jan"),
                Some("de"),
                Some("Vries"),
                Male,
                Formal,
                En,
                "Dear Mr De Vries,",
            ),
            (
                Some("Emily"),
                None,
                Some("Clarke"),
                Female,
                Formal,
                En,
                "Dear Ms Clarke,",
            ),
            (
                None,
                None,
                Some("Jansen"),
                Female,
                Formal,
                NlNl,
                "Geachte mevrouw Jansen,",
            ),
            (
                Some("Kees"),
                Some("ter"),
                Some("Horst"),
                Male,
                Formal,
                NlNl,
                "Geachte heer Ter Horst,",
            ),
        ]);
    }

    /// An informal customer whose first name cannot be used (missing, initials only, typed
    /// as "Jan <i>") gets the neutral opening with title and surname, never "Geachte" above
    /// a body that says "je".
    #[test]
    fn informal_without_a_usable_first_name_falls_back_to_a_correct_form() {
        check(&[
            (
                Some("Jan <i>"),
                Some("de"),
                Some("Vries"),
                Male,
                Informal,
                NlNl,
                "Beste heer De Vries,",
            ),
            (
                None,
                None,
                Some("Clarke"),
                Female,
                Informal,
                En,
                "Dear Ms Clarke,",
            ),
            (
                None,
                None,
                Some("Lambert"),
                Male,
                Informal,
                FrBe,
                "Bonjour Monsieur Lambert,",
            ),
            (
                None,
                Some("de"),
                Some("Vries"),
                Male,
                Formal,
                NlNl,
                "Geachte heer De Vries,",
            ),
            (
                None,
                Some("de"),
                Some("Vries"),
                Male,
                Informal,
                NlNl,
                "Beste heer De Vries,",
            ),
            (
                Some("J."),
                Some("de"),
                Some("Vries"),
                Unknown,
                Informal,
                NlNl,
                "Beste J. de Vries,",
            ),
            (None, None, None, Unknown, Informal, NlNl, "Beste klant,"),
            (None, None, None, Unknown, Informal, En, "Dear customer,"),
            (
                Some("test"),
                None,
                Some("test"),
                Unknown,
                Informal,
                NlNl,
                "Beste klant,",
            ),
        ]);
    }

    #[test]
    fn unknown_or_x_gender_never_gets_a_title() {
        check(&[
            (
                Some("J."),
                Some("de"),
                Some("Vries"),
                Unknown,
                Formal,
                NlNl,
                "Geachte J. de Vries,",
            ),
            (
                Some("Jan"),
                Some("de"),
                Some("Vries"),
                Unknown,
                Formal,
                NlNl,
                "Beste Jan de Vries,",
            ),
            (
                Some("Jan"),
                Some("de"),
                Some("Vries"),
                X,
                Formal,
                NlNl,
                "Beste Jan de Vries,",
            ),
            (
                None,
                Some("de"),
                Some("Vries"),
                Unknown,
                Formal,
                NlNl,
                "Geachte klant,",
            ),
            (None, None, None, Unknown, Formal, NlNl, "Geachte klant,"),
            (None, None, None, X, Formal, En, "Dear customer,"),
            (
                Some("Alex"),
                None,
                Some("Smith"),
                X,
                Formal,
                En,
                "Dear Alex Smith,",
            ),
            (
                Some("A.B."),
                None,
                Some("Smith"),
                Unknown,
                Formal,
                En,
                "Dear A.B. Smith,",
            ),
            (
                None,
                Some("van"),
                Some("Dijk"),
                X,
                Formal,
                NlBe,
                "Geachte klant,",
            ),
        ]);
    }

    #[test]
    fn nl_nl_prefix_is_lower_case_after_a_first_name_and_capitalised_alone() {
        check(&[
            (
                Some("Jan"),
                Some("De"),
                Some("Vries"),
                Unknown,
                Formal,
                NlNl,
                "Beste Jan de Vries,",
            ),
            (
                Some("J."),
                Some("Van Der"),
                Some("Berg"),
                Unknown,
                Formal,
                NlNl,
                "Geachte J. van der Berg,",
            ),
            (
                Some("Jan"),
                Some("Van Der"),
                Some("Berg"),
                Male,
                Formal,
                NlNl,
                "Geachte heer Van der Berg,",
            ),
            (
                Some("Els"),
                Some("van 't"),
                Some("Hek"),
                Female,
                Formal,
                NlNl,
                "Geachte mevrouw Van 't Hek,",
            ),
            (
                Some("Els"),
                Some("van 't"),
                Some("Hek"),
                Unknown,
                Formal,
                NlNl,
                "Beste Els van 't Hek,",
            ),
        ]);
    }

    /// Issue 23: a formal customer is named formally in running text and on pages.
    #[test]
    fn formal_customers_are_addressed_by_title_and_surname_never_first_name_alone() {
        let named = |first: &str, last: &str, gender, form, locale| {
            greeting(NameInput {
                first_name: Some(first),
                name_prefix: None,
                last_name: Some(last),
                gender,
                address_form: form,
                locale,
            })
            .addressed_as
        };
        assert_eq!(
            named("Anna", "Jansen", Female, Formal, NlNl).as_deref(),
            Some("mevrouw Jansen")
        );
        assert_eq!(
            named("jan", "de VRIES", Male, Formal, NlNl).as_deref(),
            Some("meneer De Vries")
        );
        assert_eq!(
            named("Anna", "Jansen", Female, Formal, En).as_deref(),
            Some("Ms Jansen")
        );
        assert_eq!(
            named("Anna", "Jansen", Unknown, Formal, NlBe).as_deref(),
            Some("Anna Jansen")
        );
        assert_eq!(
            named("Anna", "Jansen", Female, Informal, NlNl).as_deref(),
            Some("Anna")
        );
    }

    /// Issue 23 point 9: French greetings done right — Madame/Monsieur + surname formally,
    /// Chère/Cher + first name informally (agreeing with the gender), "Bonjour" when the
    /// gender is not known, "Madame, Monsieur," when no name can be used.
    #[test]
    fn french_greetings_follow_french_usage() {
        let line = |first: Option<&str>, last: Option<&str>, gender, form| {
            let g = greeting(NameInput {
                first_name: first,
                name_prefix: None,
                last_name: last,
                gender,
                address_form: form,
                locale: FrBe,
            });
            (g.line, g.addressed_as)
        };
        let cases = [
            (
                Some("anne"),
                Some("DUPONT"),
                Female,
                Formal,
                "Madame Dupont,",
                Some("Madame Dupont"),
            ),
            (
                Some("Jean"),
                Some("de Villers"),
                Male,
                Formal,
                "Monsieur de Villers,",
                Some("Monsieur de Villers"),
            ),
            (
                Some("Anne"),
                Some("Dupont"),
                Female,
                Informal,
                "Chère Anne,",
                Some("Anne"),
            ),
            (
                Some("Jean"),
                Some("Dupont"),
                Male,
                Informal,
                "Cher Jean,",
                Some("Jean"),
            ),
            (
                Some("Alex"),
                Some("Dupont"),
                X,
                Informal,
                "Bonjour Alex,",
                Some("Alex"),
            ),
            (
                Some("Alex"),
                Some("Dupont"),
                Unknown,
                Formal,
                "Bonjour Alex Dupont,",
                Some("Alex Dupont"),
            ),
            (
                Some("J."),
                Some("Dupont"),
                Unknown,
                Formal,
                "Bonjour J. Dupont,",
                Some("J. Dupont"),
            ),
            (None, None, Female, Formal, "Madame, Monsieur,", None),
            (Some("test"), None, Male, Informal, "Bonjour,", None),
        ];
        for (first, last, gender, form, expected, addressed) in cases {
            let (got, named) = line(first, last, gender, form);
            assert_eq!(got, expected, "{first:?} {last:?} {gender:?} {form:?}");
            assert_eq!(named.as_deref(), addressed, "{first:?} {last:?}");
        }
    }

    #[test]
    fn nl_be_keeps_the_surname_as_recorded() {
        check(&[
            (
                Some("Jan"),
                Some("Van den"),
                Some("Bossche"),
                Unknown,
                Formal,
                NlBe,
                "Beste Jan Van den Bossche,",
            ),
            (
                Some("Jan"),
                Some("Van den"),
                Some("Bossche"),
                Male,
                Formal,
                NlBe,
                "Geachte heer Van den Bossche,",
            ),
            (
                Some("Lies"),
                None,
                Some("Van den Bossche"),
                Female,
                Formal,
                NlBe,
                "Geachte mevrouw Van den Bossche,",
            ),
            (
                Some("Lies"),
                None,
                Some("De Smet"),
                Unknown,
                Formal,
                NlBe,
                "Beste Lies De Smet,",
            ),
            (
                Some("Koen"),
                None,
                Some("D'Hondt"),
                Male,
                Formal,
                NlBe,
                "Geachte heer D'Hondt,",
            ),
            (
                Some("Koen"),
                None,
                Some("VAN DAMME"),
                Male,
                Formal,
                NlBe,
                "Geachte heer Van Damme,",
            ),
            // Issue 23 point 10: shouting around a prefix, mixed with lower case.
            (
                Some("Lies"),
                None,
                Some("van DEN BOSSCHE"),
                Female,
                Formal,
                NlBe,
                "Geachte mevrouw Van den Bossche,",
            ),
            (
                Some("Lies"),
                None,
                Some("VAN DEN BOSSCHE"),
                Unknown,
                Formal,
                NlBe,
                "Beste Lies Van den Bossche,",
            ),
            (
                Some("Anna"),
                Some("van"),
                Some("DER BERG"),
                Female,
                Formal,
                NlNl,
                "Geachte mevrouw Van der Berg,",
            ),
        ]);
    }

    #[test]
    fn prefix_typed_into_the_last_name_field_is_recognised() {
        check(&[
            (
                Some("Anna"),
                None,
                Some("van der Berg"),
                Female,
                Formal,
                NlNl,
                "Geachte mevrouw Van der Berg,",
            ),
            (
                Some("Anna"),
                None,
                Some("van der Berg"),
                Unknown,
                Formal,
                NlNl,
                "Beste Anna van der Berg,",
            ),
            (
                Some("Piet"),
                None,
                Some("de Groot"),
                Male,
                Formal,
                En,
                "Dear Mr De Groot,",
            ),
            (
                Some("Piet"),
                Some("de"),
                Some("de Groot"),
                Male,
                Formal,
                NlNl,
                "Geachte heer De Groot,",
            ),
            (
                Some("Tom"),
                None,
                Some("ter Steege"),
                Unknown,
                Formal,
                NlNl,
                "Beste Tom ter Steege,",
            ),
        ]);
    }

    #[test]
    fn a_first_name_that_is_not_a_name_is_never_used() {
        check(&[
            (
                Some("jan@example.nl"),
                None,
                Some("Jansen"),
                Male,
                Informal,
                NlNl,
                "Beste heer Jansen,",
            ),
            (
                Some("12345"),
                None,
                Some("Jansen"),
                Unknown,
                Informal,
                NlNl,
                "Beste klant,",
            ),
            (
                Some("test"),
                None,
                Some("Jansen"),
                Female,
                Informal,
                NlNl,
                "Beste mevrouw Jansen,",
            ),
            (
                Some("x"),
                None,
                Some("Jansen"),
                Unknown,
                Informal,
                En,
                "Dear customer,",
            ),
            (
                Some("Jansen"),
                None,
                Some("Jansen"),
                Male,
                Informal,
                NlNl,
                "Beste heer Jansen,",
            ),
            (
                Some("de Vries"),
                Some("de"),
                Some("Vries"),
                Unknown,
                Informal,
                NlNl,
                "Beste klant,",
            ),
            (
                Some(""),
                None,
                Some("Jansen"),
                Unknown,
                Informal,
                NlNl,
                "Beste klant,",
            ),
            (
                Some("   "),
                None,
                None,
                Unknown,
                Informal,
                NlNl,
                "Beste klant,",
            ),
            (
                Some("Mevr."),
                None,
                Some("Jansen"),
                Female,
                Informal,
                NlNl,
                "Beste mevrouw Jansen,",
            ),
            (
                Some("J"),
                None,
                Some("Jansen"),
                Unknown,
                Informal,
                NlNl,
                "Beste J. Jansen,",
            ),
            (
                Some("JP"),
                None,
                Some("Jansen"),
                Unknown,
                Informal,
                NlNl,
                "Beste J.P. Jansen,",
            ),
            (
                Some("jan2"),
                None,
                Some("Jansen"),
                Unknown,
                Informal,
                NlNl,
                "Beste klant,",
            ),
            (
                Some("Jan"),
                None,
                Some("12"),
                Unknown,
                Formal,
                NlNl,
                "Beste Jan,",
            ),
            (
                Some("Jan"),
                None,
                Some("12"),
                Unknown,
                Informal,
                NlNl,
                "Beste Jan,",
            ),
        ]);
    }

    #[test]
    fn capitalisation_is_normalised_without_breaking_names() {
        check(&[
            (
                Some("jAN"),
                None,
                Some("bakker"),
                Male,
                Informal,
                NlNl,
                "Beste Jan,",
            ),
            (
                Some("JAN"),
                Some("DE"),
                Some("VRIES"),
                Unknown,
                Formal,
                NlNl,
                "Beste Jan de Vries,",
            ),
            (
                Some("jan"),
                Some("de"),
                Some("VRIES"),
                Male,
                Formal,
                NlNl,
                "Geachte heer De Vries,",
            ),
            (
                Some("jan-willem"),
                None,
                Some("Bakker"),
                Male,
                Informal,
                NlNl,
                "Beste Jan-Willem,",
            ),
            (
                Some("koen"),
                None,
                Some("d'hondt"),
                Male,
                Formal,
                NlBe,
                "Geachte heer D'Hondt,",
            ),
            (
                Some("sean"),
                None,
                Some("o'neill"),
                Male,
                Formal,
                En,
                "Dear Mr O'Neill,",
            ),
            (
                Some("Sean"),
                None,
                Some("O'Neill"),
                Male,
                Formal,
                En,
                "Dear Mr O'Neill,",
            ),
            (
                Some("ronald"),
                None,
                Some("McDonald"),
                Male,
                Formal,
                En,
                "Dear Mr McDonald,",
            ),
            (
                Some("RONALD"),
                None,
                Some("mcdonald"),
                Unknown,
                Formal,
                En,
                "Dear Ronald McDonald,",
            ),
            (
                Some("Jan-Willem"),
                None,
                Some("van Dam-de Wit"),
                Male,
                Formal,
                NlNl,
                "Geachte heer Van Dam-de Wit,",
            ),
        ]);
    }

    #[test]
    fn the_greeting_is_never_empty_for_any_combination() {
        let names = [
            None,
            Some(""),
            Some(" "),
            Some("x"),
            Some("J."),
            Some("Jan"),
            Some("van"),
            Some("de Vries"),
        ];
        for first in names {
            for prefix in [None, Some(""), Some("van der"), Some("x")] {
                for last in names {
                    for gender in [Female, Male, X, Unknown] {
                        for form in [Formal, Informal] {
                            for locale in Locale::ALL {
                                let g = greeting(NameInput {
                                    first_name: first,
                                    name_prefix: prefix,
                                    last_name: last,
                                    gender,
                                    address_form: form,
                                    locale,
                                });
                                let words: Vec<&str> =
                                    g.line.trim_end_matches(',').split(' ').collect();
                                // French greets a customer it cannot name with "Bonjour,".
                                assert!(words.len() >= 2 || g.line == "Bonjour,", "{:?}", g.line);
                                assert!(
                                    g.line.ends_with(',') && !g.line.contains(" ,"),
                                    "{:?}",
                                    g.line
                                );
                                // "Madame, Monsieur," is French for "Dear customer".
                                if matches!(gender, X | Unknown) && g.line != "Madame, Monsieur," {
                                    for title in
                                        ["heer", "mevrouw", "Mr", "Ms", "Madame", "Monsieur"]
                                    {
                                        assert!(!words.contains(&title), "{:?}", g.line);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// DQ2 over any name fields, however messy: a greeting is never empty, never has a
        /// blank where a name should be, never shouts, and always ends in a comma.
        #[test]
        fn no_greeting_is_empty_or_broken(
            first in proptest::option::of("[ a-zA-Zéëï'.-]{0,12}"),
            prefix in proptest::option::of(proptest::sample::select(vec!["", "van", "de", "van den", "VAN DER", "d'", "van 't", "x"])),
            last in proptest::option::of("[ a-zA-Zéëï'.-]{0,14}"),
            gender in proptest::sample::select(vec![Male, Female, X, Unknown]),
            form in proptest::sample::select(vec![Formal, Informal]),
            locale in proptest::sample::select(Locale::ALL.to_vec()),
        ) {
            let g = greeting(NameInput {
                first_name: first.as_deref(),
                name_prefix: prefix,
                last_name: last.as_deref(),
                gender,
                address_form: form,
                locale,
            });
            let line = g.line.as_str();
            proptest::prop_assert!(line.ends_with(','), "{line:?}");
            let words: Vec<&str> = line.trim_end_matches(',').split(' ').collect();
            proptest::prop_assert!(words.len() >= 2 || line == "Bonjour,", "a salutation and a name or a word: {line:?}");
            proptest::prop_assert!(words.iter().all(|w| !w.is_empty()), "no double or stray blank: {line:?}");
            proptest::prop_assert!(!line.contains(" ,"), "{line:?}");
            let letters: Vec<char> = line.chars().filter(|c| c.is_alphabetic()).collect();
            proptest::prop_assert!(letters.iter().any(|c| c.is_lowercase()), "not all capitals: {line:?}");
        }
    }

    /// The envelope name is the greeting's full name, for one customer after another.
    #[test]
    fn the_envelope_name_is_the_greetings_full_name_however_often_it_is_asked() {
        let jan = NameInput {
            first_name: Some("Jan"),
            name_prefix: Some("de"),
            last_name: Some("Vries"),
            gender: Male,
            address_form: Formal,
            locale: NlNl,
        };
        let nameless = NameInput {
            first_name: Some("test"),
            last_name: None,
            ..jan
        };
        let initials = NameInput {
            first_name: Some("J."),
            ..jan
        };
        for input in [jan, jan, nameless, nameless, jan, initials, jan] {
            assert_eq!(envelope_name(input), greeting(input).full_name, "{input:?}");
        }
        assert!(envelope_name(nameless).is_none());
    }
}
