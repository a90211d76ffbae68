//! Letters by post (CH1): the print partner's daily batch and how an envelope is addressed.
//!
//! Letters queue until the day's cut-off in the print partner's time zone; then they form
//! that day's batch. A batch is posted on its day, or on the Monday when its day is a Sunday
//! (there is no post on Sundays), and each letter is dated the day it is posted — never a
//! Sunday. The address block follows the Dutch and Belgian postal format: the name, street
//! and house number (Belgian additions as "bus"), postcode and city with the city in
//! capitals, and the country in capitals only when it differs from the sender's.
//!
//! Requirements: CH1 (vary channels: letterbox), DQ1 (posting and delivery days feed the
//! coupon check), DQ2 (never a wrong address).

use jiff::civil::{Date, Time, Weekday};
use serde::{Deserialize, Serialize};

use crate::customer::{Locale, PostalAddress};

/// `[print]`: the print-and-mail partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrintConfig {
    /// The print partner's name (on the batch's manifest).
    pub partner: String,
    /// Letters queued before this local time go in the day's batch.
    pub cut_off: Time,
    /// The partner's time zone (IANA name).
    pub time_zone: String,
    /// The brand's return address, one line (above the address, inside the window).
    pub return_address: String,
    /// The sender's country (ISO code): other countries get a country line.
    pub sender_country: String,
    /// The city in the letter's date line ("Amsterdam, 27 november 2026").
    pub sender_city: String,
}

impl Default for PrintConfig {
    fn default() -> Self {
        Self {
            partner: "print partner".into(),
            cut_off: Time::constant(16, 0, 0, 0),
            time_zone: "Europe/Amsterdam".into(),
            return_address: String::new(),
            sender_country: "NL".into(),
            sender_city: String::new(),
        }
    }
}

/// The day a batch closed on `day` is posted: the same day, or Monday for a Sunday.
pub fn posting_day(day: Date) -> Date {
    if day.weekday() == Weekday::Sunday {
        day.tomorrow().unwrap_or(day)
    } else {
        day
    }
}

/// A country's name on an envelope, in capitals, as the sender's post expects it.
fn country_line(code: &str, sender_country: &str) -> String {
    let dutch = matches!(sender_country, "NL" | "BE");
    let name = match (code, dutch) {
        ("NL", true) => "NEDERLAND",
        ("BE", true) => "BELGIË",
        ("DE", true) => "DUITSLAND",
        ("FR", true) => "FRANKRIJK",
        ("LU", true) => "LUXEMBURG",
        ("NL", false) => "NETHERLANDS",
        ("BE", false) => "BELGIUM",
        ("DE", false) => "GERMANY",
        ("FR", false) => "FRANCE",
        ("LU", false) => "LUXEMBOURG",
        (other, _) => other,
    };
    name.to_string()
}

/// The address block for an envelope window: name, street line, postcode and city, and the
/// country when it is not the sender's. `Err` names what is missing (a letter is then
/// blocked, never printed with half an address).
pub fn address_lines(
    name: Option<&str>,
    address: Option<&PostalAddress>,
    sender_country: &str,
) -> Result<Vec<String>, String> {
    let address = address.ok_or("no postal address")?;
    address
        .validate()
        .map_err(|e| format!("incomplete postal address: {e}"))?;
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or("no name for the envelope")?;
    let country = address.country.trim().to_uppercase();
    let addition = address
        .house_number_addition
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let street = match (addition, country.as_str()) {
        (Some(a), "BE") if !a.to_lowercase().starts_with("bus") => {
            format!(
                "{} {} bus {a}",
                address.street.trim(),
                address.house_number.trim()
            )
        }
        (Some(a), _) => format!(
            "{} {} {a}",
            address.street.trim(),
            address.house_number.trim()
        ),
        (None, _) => format!("{} {}", address.street.trim(), address.house_number.trim()),
    };
    let postcode = address.postcode.trim().to_uppercase();
    let city = address.city.trim().to_uppercase();
    // PostNL: "1234 AB  PLAATS", two spaces between postcode and city.
    let place = if country == "NL" {
        let compact: String = postcode.chars().filter(|c| !c.is_whitespace()).collect();
        let formatted = if compact.len() == 6 && compact.is_ascii() {
            format!("{} {}", &compact[..4], &compact[4..])
        } else {
            postcode
        };
        format!("{formatted}  {city}")
    } else {
        format!("{postcode} {city}")
    };
    let mut lines = vec![name.to_string(), street, place];
    if country != sender_country.trim().to_uppercase() {
        lines.push(country_line(&country, sender_country));
    }
    Ok(lines)
}

/// The date line of a letter posted on `day`: "Amsterdam, 27 november 2026".
pub fn date_line(city: &str, day: Date, locale: Locale) -> String {
    let date = crate::commerce::format_date(day, locale);
    if city.trim().is_empty() {
        date
    } else {
        format!("{}, {date}", city.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(country: &str, postcode: &str, addition: Option<&str>) -> PostalAddress {
        PostalAddress {
            street: "Kerkstraat".into(),
            house_number: "12".into(),
            house_number_addition: addition.map(str::to_string),
            postcode: postcode.into(),
            city: "Amsterdam".into(),
            country: country.into(),
        }
    }

    #[test]
    fn a_dutch_envelope_has_the_postcode_two_spaces_before_the_city_in_capitals() {
        let lines = address_lines(
            Some("Jan de Vries"),
            Some(&address("NL", "1012ab", Some("A"))),
            "NL",
        );
        assert_eq!(
            lines.unwrap(),
            ["Jan de Vries", "Kerkstraat 12 A", "1012 AB  AMSTERDAM"]
        );
    }

    #[test]
    fn a_belgian_envelope_from_the_netherlands_says_bus_and_belgie() {
        let mut a = address("BE", "2000", Some("3"));
        a.city = "Antwerpen".into();
        let lines = address_lines(Some("An Peeters"), Some(&a), "NL").unwrap();
        assert_eq!(
            lines,
            [
                "An Peeters",
                "Kerkstraat 12 bus 3",
                "2000 ANTWERPEN",
                "BELGIË"
            ]
        );
    }

    #[test]
    fn half_an_address_or_no_name_is_refused_with_the_reason() {
        let mut a = address("NL", "1012 AB", None);
        a.house_number = String::new();
        let e = address_lines(Some("Jan"), Some(&a), "NL").unwrap_err();
        assert!(
            e.starts_with("incomplete postal address: house_number"),
            "{e}"
        );
        assert_eq!(
            address_lines(Some("Jan"), None, "NL").unwrap_err(),
            "no postal address"
        );
        assert_eq!(
            address_lines(Some(" "), Some(&address("NL", "1012 AB", None)), "NL").unwrap_err(),
            "no name for the envelope"
        );
    }

    #[test]
    fn a_sunday_batch_is_posted_and_dated_monday() {
        let sunday: Date = "2026-11-29".parse().unwrap();
        let saturday: Date = "2026-11-28".parse().unwrap();
        assert_eq!(posting_day(sunday).to_string(), "2026-11-30");
        assert_eq!(posting_day(saturday), saturday);
        assert_eq!(
            date_line("Amsterdam", posting_day(sunday), Locale::NlNl),
            "Amsterdam, 30 november 2026"
        );
    }
}
