//! The customer as Aftercare knows it, and the parsing that turns input into it.
//!
//! The JSON names here are the API's (`external_id, email, …, consents`); serde rejects
//! unknown fields and wrong types, and [`CustomerRecord::validate`] checks what serde
//! cannot (address completeness, phone numbers, time zones, consent sources).
//! Requirements: DQ2 (names kept as given; the greeting decides how to use them), CH2.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;

/// A customer's id in the brand's own systems (the shop's customer number).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExternalId(String);

crate::text::string_schema!(
    ExternalId,
    min = 1,
    max = 128,
    pattern = crate::text::ID_PATTERN,
    example = "C-10023"
);

impl ExternalId {
    /// Parses an id: 1 to 128 characters, none of them white space or control characters
    /// (one spelling per id: `' C1'` is not `C1`, it is refused).
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if s.chars().count() > 128 {
            return Err("must be at most 128 characters".into());
        }
        if s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || crate::text::is_bidi_control(c))
        {
            return Err("must not contain spaces or control characters".into());
        }
        Ok(Self(s.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ExternalId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<ExternalId> for String {
    fn from(id: ExternalId) -> String {
        id.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A syntactically valid email address, lower-cased in its domain part.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

crate::text::string_schema!(
    EmailAddress,
    min = 5,
    max = 254,
    pattern = crate::text::EMAIL_PATTERN,
    example = "jan.devries@example.nl"
);

impl EmailAddress {
    /// Parses an address: one `@`, a non-empty local part, a domain with a dot, no spaces
    /// (also none around it: one spelling per address).
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() > 254 {
            return Err("is longer than 254 characters".into());
        }
        let (local, domain) = s
            .rsplit_once('@')
            .ok_or_else(|| format!("'{s}' is not an email address: it has no '@'"))?;
        if local.is_empty() || local.contains('@') {
            return Err(format!(
                "'{s}' is not an email address: the part before '@' is invalid"
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err(format!(
                "'{s}' is not an email address: the domain is invalid"
            ));
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        {
            return Err(format!(
                "'{s}' is not an email address: it contains spaces or brackets"
            ));
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> String {
        e.0
    }
}

/// A phone number in E.164 form (`+31612345678`); spaces, dashes and brackets are removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

crate::text::string_schema!(
    PhoneNumber,
    min = 9,
    max = 32,
    pattern = crate::text::PHONE_PATTERN,
    example = "+31612345678"
);

impl PhoneNumber {
    /// Parses a number; it must start with `+` and the country code.
    pub fn parse(s: &str) -> Result<Self, String> {
        let compact: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect();
        let digits = compact.strip_prefix('+').ok_or_else(|| {
            format!("'{s}' must be in international form starting with '+' and the country code")
        })?;
        if !(8..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("'{s}' must have 8 to 15 digits after '+'"));
        }
        Ok(Self(compact))
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is a mobile number, where the numbering plan says so: Dutch mobile
    /// numbers are `+316…`, Belgian ones `+3245…`–`+3249…`; `None` for other countries.
    pub fn is_mobile(&self) -> Option<bool> {
        let digits = &self.0[1..];
        match (digits.strip_prefix("31"), digits.strip_prefix("32")) {
            (Some(nl), _) => Some(nl.starts_with('6')),
            (_, Some(be)) => Some(be.starts_with('4') && be.len() == 9),
            _ => None,
        }
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> String {
        p.0
    }
}

/// An IANA time zone name that exists in the time zone database, with the zone itself
/// looked up once (a simulated year asks for a customer's zone millions of times).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZoneName(String, jiff::tz::TimeZone);

impl PartialEq for TimeZoneName {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for TimeZoneName {}

impl std::hash::Hash for TimeZoneName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl utoipa::PartialSchema for TimeZoneName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Self::known().iter().map(String::as_str)))
            .examples([serde_json::json!("Europe/Amsterdam")])
            .description(Some(
                "An IANA time zone name, spelt as the time zone database spells it",
            ))
            .into()
    }
}

impl utoipa::ToSchema for TimeZoneName {}

impl TimeZoneName {
    /// Every name the time zone database knows, as it spells them.
    pub fn known() -> &'static std::collections::BTreeSet<String> {
        static KNOWN: std::sync::OnceLock<std::collections::BTreeSet<String>> =
            std::sync::OnceLock::new();
        KNOWN.get_or_init(|| {
            jiff::tz::db()
                .available()
                .map(|name| name.to_string())
                .filter(|name| jiff::tz::TimeZone::get(name).is_ok())
                .collect()
        })
    }

    /// Parses a name such as `Europe/Brussels`, spelt exactly as the database spells it.
    pub fn parse(s: &str) -> Result<Self, String> {
        if Self::known().contains(s)
            && let Ok(zone) = jiff::tz::TimeZone::get(s)
        {
            Ok(Self(s.to_string(), zone))
        } else {
            Err(format!(
                "'{s}' is not a known IANA time zone (e.g. Europe/Amsterdam)"
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The zone itself.
    pub fn zone(&self) -> jiff::tz::TimeZone {
        self.1.clone()
    }
}

impl Default for TimeZoneName {
    fn default() -> Self {
        Self::parse("Europe/Amsterdam")
            .unwrap_or_else(|_| Self("UTC".into(), jiff::tz::TimeZone::UTC))
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<TimeZoneName> for String {
    fn from(t: TimeZoneName) -> String {
        t.0
    }
}

/// Gender as the customer gave it; `x` and `unknown` never lead to "heer"/"mevrouw" (DQ2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    /// Addressed as "mevrouw" / "Ms".
    Female,
    /// Addressed as "heer" / "Mr".
    Male,
    /// Non-binary: always the neutral form.
    X,
    /// Not known: always the neutral form.
    #[default]
    Unknown,
}

/// Formal ("u", "Geachte") or informal ("je", "Beste").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AddressForm {
    /// "u" in Dutch; a formal salutation.
    Formal,
    /// "je" in Dutch; first-name greeting.
    #[default]
    Informal,
}

/// The languages and regions Aftercare writes in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
)]
pub enum Locale {
    /// Dutch as written in the Netherlands.
    #[default]
    #[serde(rename = "nl-NL")]
    NlNl,
    /// Dutch as written in Flanders.
    #[serde(rename = "nl-BE")]
    NlBe,
    /// English.
    #[serde(rename = "en")]
    En,
    /// French as written in Belgium (Wallonia and Brussels; issue 23 point 9).
    #[serde(rename = "fr-BE")]
    FrBe,
}

impl Locale {
    /// Every locale, in a stable order.
    pub const ALL: [Locale; 4] = [Locale::NlNl, Locale::NlBe, Locale::En, Locale::FrBe];

    /// The locale whose text a reader of this one reads where this one has none: Flemish
    /// readers read Netherlands Dutch; Netherlands Dutch readers do not read a Flemish variant
    /// (it may say "loopschoen" where they say "hardloopschoen").
    pub fn also_reads(self) -> Option<Locale> {
        match self {
            Locale::NlBe => Some(Locale::NlNl),
            Locale::NlNl | Locale::En | Locale::FrBe => None,
        }
    }

    /// The BCP 47 tag (`nl-NL`).
    pub fn tag(self) -> &'static str {
        match self {
            Locale::NlNl => "nl-NL",
            Locale::NlBe => "nl-BE",
            Locale::En => "en",
            Locale::FrBe => "fr-BE",
        }
    }

    /// Whether this is one of the Dutch locales (nl-NL, nl-BE), whose formal register is
    /// "u" and "uw".
    pub fn is_dutch(self) -> bool {
        matches!(self, Locale::NlNl | Locale::NlBe)
    }

    /// Parses a tag as written in the API.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.tag() == s)
    }
}

/// What a message is for; consent is given per purpose.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Order, delivery and service messages.
    Service,
    /// Offers, surprises, inspiration.
    Marketing,
}

/// The ways Aftercare reaches a customer (CH1).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Email over SMTP.
    Email,
    /// SMS through the brand's provider.
    Sms,
    /// App push through the brand's provider.
    Push,
    /// A printed letter or card in the letterbox.
    Letter,
    /// The inbox on the customer's branded page.
    Portal,
}

impl Channel {
    /// The lower-case name used in JSON and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
            Channel::Letter => "letter",
            Channel::Portal => "portal",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Channel::Email,
            Channel::Sms,
            Channel::Push,
            Channel::Letter,
            Channel::Portal,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// One consent decision for a purpose on a channel, with where and when it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// Service or marketing.
    pub purpose: Purpose,
    /// The channel the consent is for.
    pub channel: Channel,
    /// Given (`true`) or withdrawn (`false`).
    pub granted: bool,
    /// Where it was given, e.g. `checkout`, `preferences_page`, `unsubscribe_link`.
    #[schema(max_length = 64, format = "required-line")]
    pub source: String,
    /// When it was given.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

impl Consent {
    /// Checks the source says where the consent was given, on one line of at most 64
    /// characters.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.source.trim().is_empty() {
            return Err(FieldError::new(
                "source",
                "must say where the consent was given, e.g. checkout",
            ));
        }
        crate::text::line("source", &self.source, 64)
    }
}

/// A postal address as the customer gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostalAddress {
    /// Street name.
    #[schema(max_length = 100, format = "required-line")]
    pub street: String,
    /// House number (digits, as text).
    #[schema(max_length = 16, format = "required-line")]
    pub house_number: String,
    /// Addition such as "A" or "bus 3".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 16, format = "one-line")]
    pub house_number_addition: Option<String>,
    /// Postcode, e.g. "1012 AB" or "2000".
    #[schema(max_length = 16, format = "required-line")]
    pub postcode: String,
    /// City.
    #[schema(max_length = 100, format = "required-line")]
    pub city: String,
    /// ISO 3166-1 alpha-2 country code, e.g. "NL", "BE".
    #[schema(min_length = 2, max_length = 2, pattern = "^[A-Z]{2}$")]
    pub country: String,
}

impl PostalAddress {
    /// Checks the address is complete enough to put on an envelope, and that every part is
    /// one line of text (a line break would add a line to the address window).
    pub fn validate(&self) -> Result<(), FieldError> {
        crate::text::required_line("street", &self.street, 100)?;
        crate::text::required_line("house_number", &self.house_number, 16)?;
        if let Some(addition) = &self.house_number_addition {
            crate::text::line("house_number_addition", addition, 16)?;
        }
        crate::text::required_line("postcode", &self.postcode, 16)?;
        crate::text::required_line("city", &self.city, 100)?;
        let country = self.country.as_str();
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(FieldError::new(
                "country",
                format!(
                    "'{country}' must be an ISO 3166-1 alpha-2 code in capitals, e.g. NL or BE"
                ),
            ));
        }
        let compact: String = self
            .postcode
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let postcode_ok = match country {
            "NL" => {
                compact.len() == 6
                    && compact[..4].chars().all(|c| c.is_ascii_digit())
                    && compact[4..].chars().all(|c| c.is_ascii_alphabetic())
            }
            "BE" => compact.len() == 4 && compact.chars().all(|c| c.is_ascii_digit()),
            _ => true,
        };
        if !postcode_ok {
            return Err(FieldError::new(
                "postcode",
                format!("'{}' is not a valid postcode for {country}", self.postcode),
            ));
        }
        Ok(())
    }
}

/// A customer, as the API accepts and returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerRecord {
    /// The brand's own id for this customer.
    pub external_id: ExternalId,
    /// Email address.
    #[serde(default)]
    pub email: Option<EmailAddress>,
    /// Mobile number in international form.
    #[serde(default)]
    pub phone: Option<PhoneNumber>,
    /// First name as given (may be messy; the greeting decides whether it is usable).
    #[serde(default)]
    #[schema(max_length = 100, format = "one-line")]
    pub first_name: Option<String>,
    /// Name prefix (tussenvoegsel), e.g. "van der".
    #[serde(default)]
    #[schema(max_length = 100, format = "one-line")]
    pub name_prefix: Option<String>,
    /// Last name.
    #[serde(default)]
    #[schema(max_length = 100, format = "one-line")]
    pub last_name: Option<String>,
    /// Gender, used only for the formal salutation.
    #[serde(default)]
    pub gender: Gender,
    /// Formal or informal; the brand's default when absent.
    #[serde(default)]
    pub address_form: Option<AddressForm>,
    /// Language.
    #[serde(default)]
    pub locale: Locale,
    /// IANA time zone.
    #[serde(default)]
    pub time_zone: TimeZoneName,
    /// Birth date.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub birth_date: Option<Date>,
    /// The day the customer first bought.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub customer_since: Option<Date>,
    /// Postal address.
    #[serde(default)]
    pub postal_address: Option<PostalAddress>,
    /// Free attributes: segment, income band, household members, …
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// Consents per purpose and channel.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub consents: Vec<Consent>,
}

const MAX_NAME_CHARS: usize = 100;
/// The most consent decisions one customer record may carry.
const MAX_CONSENTS: usize = 100;

impl CustomerRecord {
    /// The name as the team reads it: first name, prefix and last name, those there are.
    pub fn full_name(&self) -> String {
        [
            self.first_name.as_deref(),
            self.name_prefix.as_deref(),
            self.last_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// Checks what serde cannot check; `today` bounds the dates.
    pub fn validate(&self, today: Date) -> Result<(), FieldError> {
        for (field, value) in [
            ("first_name", &self.first_name),
            ("name_prefix", &self.name_prefix),
            ("last_name", &self.last_name),
        ] {
            if let Some(v) = value {
                crate::text::line(field, v, MAX_NAME_CHARS)?;
            }
        }
        if let Some(birth) = self.birth_date {
            if birth > today {
                return Err(FieldError::new("birth_date", "must not be in the future"));
            }
            if birth.year() < 1900 {
                return Err(FieldError::new("birth_date", "must be in 1900 or later"));
            }
        }
        if let Some(since) = self.customer_since
            && since > today
        {
            return Err(FieldError::new(
                "customer_since",
                "must not be in the future",
            ));
        }
        if let Some(address) = &self.postal_address {
            address.validate().map_err(|e| e.within("postal_address"))?;
        }
        if self.attributes.len() > 100 {
            return Err(FieldError::new("attributes", "must have at most 100 keys"));
        }
        crate::text::json_object("attributes", &self.attributes)?;
        if self.consents.len() > MAX_CONSENTS {
            return Err(FieldError::new(
                "consents",
                format!("must have at most {MAX_CONSENTS} entries"),
            ));
        }
        for (i, consent) in self.consents.iter().enumerate() {
            consent
                .validate()
                .map_err(|e| e.within(&format!("consents[{i}]")))?;
        }
        Ok(())
    }

    /// The consent in force for `purpose` on `channel`: the latest decision, if any.
    pub fn consent(&self, purpose: Purpose, channel: Channel) -> Option<&Consent> {
        self.consents
            .iter()
            .filter(|c| c.purpose == purpose && c.channel == channel)
            .max_by_key(|c| c.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_parsing_names_the_reason() {
        assert!(EmailAddress::parse("jan@example.nl").is_ok());
        assert_eq!(
            EmailAddress::parse("Jan@EXAMPLE.nl").unwrap().as_str(),
            "Jan@example.nl"
        );
        for bad in [
            "",
            "jan",
            "jan@",
            "@example.nl",
            "jan@example",
            "jan @example.nl",
            "jan@-x.nl",
        ] {
            assert!(
                EmailAddress::parse(bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn phone_numbers_are_normalised_to_e164() {
        assert_eq!(
            PhoneNumber::parse("+31 6 1234 5678").unwrap().as_str(),
            "+31612345678"
        );
        assert!(PhoneNumber::parse("0612345678").is_err());
        assert!(PhoneNumber::parse("+31abc").is_err());
    }

    #[test]
    fn time_zones_must_exist() {
        assert!(TimeZoneName::parse("Europe/Brussels").is_ok());
        assert!(TimeZoneName::parse("Europe/Atlantis").is_err());
    }

    #[test]
    fn postcodes_follow_the_country() {
        let mut a = PostalAddress {
            street: "Damrak".into(),
            house_number: "1".into(),
            house_number_addition: None,
            postcode: "1012 LG".into(),
            city: "Amsterdam".into(),
            country: "NL".into(),
        };
        assert!(a.validate().is_ok());
        a.postcode = "10123".into();
        assert_eq!(a.validate().unwrap_err().field, "postcode");
        a.country = "BE".into();
        a.postcode = "2000".into();
        assert!(a.validate().is_ok());
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<CustomerRecord>(r#"{"external_id":"1","nickname":"x"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("nickname"));
    }
}
