//! Rendering: minijinja templates per locale, in the brand's voice, with a greeting that
//! follows the salutation rules (DQ2).
//!
//! A template is one TOML file in `templates/` with a table per locale (`nl-NL`, `nl-BE`,
//! `en`), each with a `subject` and a `body`. The body is text; the HTML part is the same
//! text in the brand's layout (logo, colours, contact block), so both parts always agree.
//! Templates see `greeting`, `first_name`, `formal`, the Dutch pronouns `je`/`Je`/`jouw`/
//! `Jouw` in the customer's register ("u"/"uw" when formal), `customer`, `brand`, `order`,
//! `products`, `recommendations` and `event`, and the filters `money` and `date` that write
//! amounts and dates the way the locale does. `preview` and real sends use this same code path.
//!
//! Requirements: DQ2, PP1–PP4, PX1 (messages in the brand's own voice).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use aftercare_domain::{
    AddressForm, CustomerRecord, Locale, NameInput, OrderRecord, ProductRecord, greeting,
};
use jiff::Timestamp;
use minijinja::{Environment, State};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::programme::Finding;

/// The brand: who speaks, and how to reach them. From `[brand]` in `aftercare.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Brand {
    /// The brand's name.
    pub name: String,
    /// Sender address for email.
    pub sender_email: String,
    /// Where replies go; the sender when empty.
    pub reply_to: Option<String>,
    /// The brand's web shop.
    pub site_url: String,
    /// Logo image URL; empty: the name is set as a wordmark.
    pub logo_url: String,
    /// Main colour (CSS).
    pub primary_colour: String,
    /// Accent colour (CSS).
    pub accent_colour: String,
    /// Customer service email (PX3).
    pub contact_email: String,
    /// Customer service phone.
    pub contact_phone: String,
    /// Opening hours of customer service.
    pub contact_hours: String,
    /// Where customers chat with customer service (PX3), if the brand offers chat.
    pub chat_url: Option<String>,
    /// How the brand addresses customers when the record does not say.
    pub default_address_form: AddressForm,
    /// The domain used in Message-ID headers.
    pub message_id_domain: String,
    /// The font stack of the customer pages and the HTML mails (CSS `font-family`).
    pub font_family: String,
    /// Where a customer sends a parcel back (returns, recycling), as one line.
    pub return_address: String,
    /// PX4: the community near the customer — running groups and meet-ups by city, as the
    /// messages name them (`brand.community[city]`).
    pub community: BTreeMap<String, String>,
    /// What differs per language and country: `[brand.locales."nl-BE"]` with any of
    /// `contact_phone`, `contact_hours`, `contact_email`, `return_address` and `community`
    /// (issue 23: Belgian customers get the Belgian number and return address, English
    /// mails English opening hours and club lines).
    pub locales: BTreeMap<String, BrandLocale>,
    /// The languages the brand writes in (default: all four). `check` refuses a template
    /// without a section for one of them; a customer whose locale is not among them gets
    /// the first (issue 23 point 9).
    pub languages: Vec<Locale>,
}

/// The brand's details for one locale; what is not set is the brand's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrandLocale {
    /// Customer service phone for these customers.
    pub contact_phone: Option<String>,
    /// Its opening hours, in this language.
    pub contact_hours: Option<String>,
    /// Customer service email for these customers.
    pub contact_email: Option<String>,
    /// Where these customers send a parcel back.
    pub return_address: Option<String>,
    /// The community by city, in this language (replaces the brand's own when set).
    pub community: BTreeMap<String, String>,
}

impl Brand {
    /// The brand as a customer of `locale` (a tag such as `nl-BE`) meets it: its own
    /// details with that locale's.
    pub fn for_locale(&self, locale: &str) -> Brand {
        let mut brand = self.clone();
        if let Some(l) = self.locales.get(locale) {
            let set = |field: &mut String, value: &Option<String>| {
                if let Some(v) = value {
                    field.clone_from(v);
                }
            };
            set(&mut brand.contact_phone, &l.contact_phone);
            set(&mut brand.contact_hours, &l.contact_hours);
            set(&mut brand.contact_email, &l.contact_email);
            set(&mut brand.return_address, &l.return_address);
            if !l.community.is_empty() {
                brand.community.clone_from(&l.community);
            }
        }
        brand
    }
}

/// A CSS colour written `#rgb` or `#rrggbb` as red, green and blue.
fn rgb(css: &str) -> Option<(u8, u8, u8)> {
    let digits: Vec<u8> = css
        .strip_prefix('#')?
        .chars()
        .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<_>>()?;
    match digits[..] {
        [r, g, b] => Some((r * 17, g * 17, b * 17)),
        [r1, r2, g1, g2, b1, b2] => Some((r1 * 16 + r2, g1 * 16 + g2, b1 * 16 + b2)),
        _ => None,
    }
}

impl Brand {
    /// The main colour as red, green and blue, for what is not a style sheet, such as the
    /// printed letters.
    pub fn primary_rgb(&self) -> Option<(u8, u8, u8)> {
        rgb(&self.primary_colour)
    }

    /// Checks what goes into style sheets: colours as `#rgb` or `#rrggbb`, a font stack of
    /// names, quotes, commas and hyphens only. The error names the key.
    pub fn check(&self) -> Result<(), aftercare_domain::FieldError> {
        for (key, colour) in [
            ("brand.primary_colour", &self.primary_colour),
            ("brand.accent_colour", &self.accent_colour),
        ] {
            if rgb(colour).is_none() {
                return Err(aftercare_domain::FieldError::new(
                    key,
                    format!("'{colour}' must be a colour like #0b5d4b"),
                ));
            }
        }
        let fine = |c: char| c.is_alphanumeric() || matches!(c, ' ' | ',' | '"' | '\'' | '-');
        if self.font_family.trim().is_empty() || !self.font_family.chars().all(fine) {
            return Err(aftercare_domain::FieldError::new(
                "brand.font_family",
                "must be a list of font names, e.g. \"Source Sans 3\", Arial, sans-serif",
            ));
        }
        if self.languages.is_empty() {
            return Err(aftercare_domain::FieldError::new(
                "brand.languages",
                "must name at least one language, e.g. [\"nl-NL\"]",
            ));
        }
        Ok(())
    }

    /// The language a customer of `locale` is written to: theirs when the brand writes in
    /// it, else the brand's first.
    pub fn language_for(&self, locale: Locale) -> Locale {
        if self.languages.contains(&locale) {
            locale
        } else {
            self.languages.first().copied().unwrap_or_default()
        }
    }
}

impl Default for Brand {
    fn default() -> Self {
        Self {
            name: "Loopwerk".into(),
            sender_email: "hallo@loopwerk.example".into(),
            reply_to: Some("klantenservice@loopwerk.example".into()),
            site_url: "https://loopwerk.example".into(),
            logo_url: String::new(),
            primary_colour: "#0b5d4b".into(),
            accent_colour: "#f2a900".into(),
            contact_email: "klantenservice@loopwerk.example".into(),
            contact_phone: "+31 20 123 4567".into(),
            contact_hours: "ma–za 8:00–20:00".into(),
            chat_url: Some("https://loopwerk.example/chat".into()),
            default_address_form: AddressForm::Informal,
            message_id_domain: "loopwerk.example".into(),
            font_family: r#"system-ui, -apple-system, "Segoe UI", Roboto, sans-serif"#.into(),
            return_address: "Loopwerk Retour, Antwoordnummer 12345, 1000 VB Amsterdam".into(),
            community: community(&[
                (
                    "Amsterdam",
                    "de Vondelpark Runners (zondag 9:00, Vondelpark)",
                ),
                ("Utrecht", "de Maliebaan-loop (woensdag 19:00)"),
                ("Rotterdam", "de Kralingse Plas Run (zaterdag 9:00)"),
                (
                    "Den Haag",
                    "de Duinloop (zondag 10:00, Scheveningse Bosjes)",
                ),
                ("Eindhoven", "de Genneper Parken Runners (dinsdag 19:00)"),
                ("Groningen", "de Noorderplantsoen-loop (donderdag 19:00)"),
                ("Zwolle", "de Engelse Werk Run (zaterdag 9:30)"),
                ("Nijmegen", "de Zevenheuvelen-training (zondag 9:00)"),
            ]),
            locales: BTreeMap::from([
                (
                    "nl-BE".to_string(),
                    BrandLocale {
                        contact_phone: Some("+32 3 808 12 34".into()),
                        contact_hours: Some("ma–za 8 tot 20 uur".into()),
                        contact_email: Some("klantendienst@loopwerk.example".into()),
                        return_address: Some(
                            "Loopwerk Retour, Noorderlaan 100, 2030 Antwerpen".into(),
                        ),
                        community: community(&[
                            ("Antwerpen", "de Rivierenhof Runners (zondag 9 uur)"),
                            ("Gent", "de Blaarmeersen-loop (woensdag 19 uur)"),
                            ("Leuven", "de Kessel-Lo Run (zaterdag 9 uur)"),
                            ("Brugge", "de Vesten-loop (dinsdag 19 uur)"),
                            ("Hasselt", "de Kapermolen Runners (donderdag 19 uur)"),
                            ("Mechelen", "de Vrijbroekpark-loop (zondag 10 uur)"),
                        ]),
                    },
                ),
                (
                    "en".to_string(),
                    BrandLocale {
                        contact_hours: Some("Mon–Sat 8:00–20:00".into()),
                        community: community(&[
                            (
                                "Amsterdam",
                                "the Vondelpark Runners (Sundays 9:00, Vondelpark)",
                            ),
                            ("Utrecht", "the Maliebaan run (Wednesdays 19:00)"),
                            ("Rotterdam", "the Kralingse Plas Run (Saturdays 9:00)"),
                            (
                                "Den Haag",
                                "the Duinloop (Sundays 10:00, Scheveningse Bosjes)",
                            ),
                            ("Eindhoven", "the Genneper Parken Runners (Tuesdays 19:00)"),
                            ("Groningen", "the Noorderplantsoen run (Thursdays 19:00)"),
                            ("Zwolle", "the Engelse Werk Run (Saturdays 9:30)"),
                            ("Nijmegen", "the Zevenheuvelen training run (Sundays 9:00)"),
                            ("Antwerpen", "the Rivierenhof Runners (Sundays 9:00)"),
                            ("Gent", "the Blaarmeersen run (Wednesdays 19:00)"),
                            ("Leuven", "the Kessel-Lo Run (Saturdays 9:00)"),
                            ("Brugge", "the Vesten run (Tuesdays 19:00)"),
                            ("Hasselt", "the Kapermolen Runners (Thursdays 19:00)"),
                            ("Mechelen", "the Vrijbroekpark run (Sundays 10:00)"),
                            ("Bruxelles", "the Bois de la Cambre run (Sundays 9:30)"),
                            ("Liège", "the Citadelle run (Wednesdays 19:00)"),
                            ("Namur", "the Namur Trail Runners (Saturdays 9:00)"),
                            ("Charleroi", "the Charleroi Running Club (Thursdays 19:00)"),
                        ]),
                        ..BrandLocale::default()
                    },
                ),
                (
                    // Issue 23 point 9: French-speaking Belgium with its own number, hours
                    // and return address, its clubs named in French.
                    "fr-BE".to_string(),
                    BrandLocale {
                        contact_phone: Some("+32 2 808 12 34".into()),
                        contact_hours: Some("du lundi au samedi, de 8 h à 20 h".into()),
                        contact_email: Some("service-client@loopwerk.example".into()),
                        return_address: Some(
                            "Loopwerk Retours, Noorderlaan 100, 2030 Anvers".into(),
                        ),
                        community: community(&[
                            (
                                "Bruxelles",
                                "la course du Bois de la Cambre (dimanche 9 h 30)",
                            ),
                            ("Liège", "la boucle de la Citadelle (mercredi 19 h)"),
                            ("Namur", "les Namur Trail Runners (samedi 9 h)"),
                            ("Charleroi", "le Charleroi Running Club (jeudi 19 h)"),
                            ("Mons", "la course du Bois de Mons (dimanche 10 h)"),
                            ("Louvain-la-Neuve", "la boucle du Lac (mardi 19 h)"),
                        ]),
                    },
                ),
            ]),
            languages: Locale::ALL.to_vec(),
        }
    }
}

fn community(clubs: &[(&str, &str)]) -> BTreeMap<String, String> {
    clubs
        .iter()
        .map(|(city, club)| (city.to_string(), club.to_string()))
        .collect()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocaleTemplate {
    subject: String,
    body: String,
    /// The text for SMS and app push: short, no layout (CH2). A template without it
    /// cannot go by SMS or push.
    short: Option<String>,
}

/// A product as a template of `locale` reads it: its name and tips in that language
/// (issue 23 point 6), without the other languages'.
fn product_json(product: &ProductRecord, locale: Locale) -> serde_json::Value {
    let mut value = serde_json::to_value(product.in_locale(locale)).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("translations");
    }
    value
}

/// Everything a template may use about one message.
#[derive(Debug, Clone)]
pub struct RenderInput<'a> {
    /// The customer.
    pub customer: &'a CustomerRecord,
    /// The order the message is about, if any.
    pub order: Option<&'a OrderRecord>,
    /// The products of that order, in line order.
    pub products: &'a [ProductRecord],
    /// The triggering event's properties.
    pub event: &'a serde_json::Value,
    /// Products bought together with this order's, that the customer does not own (OF2).
    pub recommendations: &'a [ProductRecord],
    /// The catalogue's successors of these products, so templates name them
    /// (`product.successor_name`) instead of printing a SKU (issue 23 point 2).
    pub successors: &'a [ProductRecord],
    /// IN1: products from the catalogue the customer has never ordered, for inspiration,
    /// each with whether it is new in the catalogue (`picks`, with `new`).
    pub picks: &'a [(ProductRecord, bool)],
    /// The order's SKUs the customer had not ordered before it (`order.new_skus`, issue
    /// 23); `None` takes every SKU of the order as new (previews).
    pub new_skus: Option<&'a [String]>,
    /// Signed links to the customer's pages (`links.loyalty`), or null.
    pub links: &'a serde_json::Value,
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// Text part.
    pub text: String,
    /// HTML part.
    pub html: String,
    /// The greeting line used.
    pub greeting: String,
    /// The short text for SMS and app push, when the template has one.
    pub short: Option<String>,
}

/// A template that could not be rendered.
#[derive(Debug, thiserror::Error)]
#[error("template '{template}' ({locale}): {reason}")]
pub struct RenderError {
    /// Template name.
    pub template: String,
    /// Locale tag.
    pub locale: String,
    /// What went wrong.
    pub reason: String,
}

/// The loaded templates and the brand.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    names: HashSet<String>,
    /// The variables each template uses, so costly ones are only computed when needed.
    uses: BTreeMap<String, HashSet<String>>,
    /// Templates with a short text (for SMS and push) in every language.
    short_texts: HashSet<String>,
    brand: Brand,
    /// The customer pages' words, from `pages/` beside the templates.
    words: crate::words::PageWords,
    /// Each template's definition, by name.
    sources: BTreeMap<String, TemplateSource>,
}

/// A template's definition and where it came from (a file, or a version stored by the
/// template editor).
#[derive(Debug, Clone)]
struct TemplateSource {
    file: PathBuf,
    text: String,
}

/// Reads every `*.toml` file in `dir`, by template name (the file's stem).
fn read_dir(dir: &Path) -> Result<BTreeMap<String, TemplateSource>, Vec<Finding>> {
    let finding = |file: &Path, reason: String| Finding {
        file: file.to_path_buf(),
        line: 1,
        column: 1,
        reason,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        vec![finding(
            dir,
            format!("cannot read the template folder: {e}"),
        )]
    })?;
    let mut sources = BTreeMap::new();
    let mut findings = Vec::new();
    for file in entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
    {
        let Some(name) = file
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                sources.insert(name, TemplateSource { file, text });
            }
            Err(e) => findings.push(finding(&file, format!("cannot read: {e}"))),
        }
    }
    if findings.is_empty() {
        Ok(sources)
    } else {
        Err(findings)
    }
}

const LAYOUT: &str = include_str!("layout.html.j2");

/// The most a template's render may do (minijinja's instruction count): the library's
/// largest message takes a few thousand; a runaway loop stops here.
pub const RENDER_FUEL: u64 = 500_000;

impl Renderer {
    /// Loads every `*.toml` template in `dir`; returns every finding on failure.
    pub fn load_dir(dir: &Path, brand: Brand) -> Result<Self, Vec<Finding>> {
        let sources = read_dir(dir)?;
        let words = crate::words::PageWords::load_dir(&dir.join("pages"), &brand.languages);
        match (
            Self::from_sources(sources, brand, words.clone().unwrap_or_default()),
            words,
        ) {
            (Ok(r), Ok(_)) => Ok(r),
            (Ok(_), Err(more)) => Err(more),
            (Err(mut findings), words) => {
                findings.extend(words.err().unwrap_or_default());
                Err(findings)
            }
        }
    }

    /// This renderer with `template`'s definition replaced by `text` (or added), checked
    /// like a file: the template editor's draft, and the stored version a running worker
    /// picks up (issue 21).
    pub fn with_template(&self, template: &str, text: &str) -> Result<Self, Vec<Finding>> {
        let mut sources = self.sources.clone();
        sources.insert(
            template.to_string(),
            TemplateSource {
                file: PathBuf::from(format!("{template}.toml")),
                text: text.to_string(),
            },
        );
        Self::from_sources(sources, self.brand.clone(), self.words.clone())
    }

    /// This renderer with several templates' definitions replaced.
    pub fn with_templates(
        &self,
        texts: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, Vec<Finding>> {
        let mut sources = self.sources.clone();
        for (name, text) in texts {
            sources.insert(
                name.clone(),
                TemplateSource {
                    file: PathBuf::from(format!("{name}.toml")),
                    text,
                },
            );
        }
        Self::from_sources(sources, self.brand.clone(), self.words.clone())
    }

    /// The definition (TOML) each template was loaded from.
    pub fn source(&self, template: &str) -> Option<&str> {
        self.sources.get(template).map(|s| s.text.as_str())
    }

    /// Every template with its definition, by name.
    pub fn sources(&self) -> impl Iterator<Item = (&str, &str)> {
        self.sources
            .iter()
            .map(|(name, s)| (name.as_str(), s.text.as_str()))
    }

    /// Compiles templates from their definitions; returns every finding on failure.
    fn from_sources(
        sources: BTreeMap<String, TemplateSource>,
        brand: Brand,
        words: crate::words::PageWords,
    ) -> Result<Self, Vec<Finding>> {
        let mut findings = Vec::new();
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // Templates are written in the admin UI too (issue 21): a loop that would run for
        // ever runs out of fuel and fails that one render, instead of holding a worker.
        env.set_fuel(Some(RENDER_FUEL));
        env.add_filter("money", money);
        env.add_filter("date", date);
        env.add_filter("linkify", linkify);
        env.add_filter("carrier", carrier_name);
        env.add_filter("local", local_text);
        let mut names = HashSet::new();
        let mut uses: BTreeMap<String, HashSet<String>> = BTreeMap::new();
        let mut short_texts = HashSet::new();
        let finding = |file: &Path, line: usize, reason: String| Finding {
            file: file.to_path_buf(),
            line,
            column: 1,
            reason,
        };
        if let Err(e) = env.add_template("_layout.html", LAYOUT) {
            findings.push(finding(
                Path::new("layout.html.j2"),
                e.line().unwrap_or(1),
                e.to_string(),
            ));
        }
        for (name, TemplateSource { file, text }) in &sources {
            let (name, file, text) = (name.clone(), file.as_path(), text.as_str());
            let parsed: BTreeMap<String, LocaleTemplate> = match toml::from_str(text) {
                Ok(p) => p,
                Err(e) => {
                    let line = text[..e.span().map_or(0, |s| s.start)]
                        .matches('\n')
                        .count()
                        + 1;
                    findings.push(finding(file, line, e.message().to_string()));
                    continue;
                }
            };
            for &locale in &brand.languages {
                let Some(t) = parsed.get(locale.tag()) else {
                    findings.push(finding(
                        file,
                        1,
                        format!("template '{name}' has no [{}] section", locale.tag()),
                    ));
                    continue;
                };
                let short = t.short.as_ref().map(|s| ("short", s));
                for (part, source) in [("subject", &t.subject), ("body", &t.body)]
                    .into_iter()
                    .chain(short)
                {
                    let key = format!("{name}/{}/{part}", locale.tag());
                    // Issue 23 point 5: a promised discount is a code issued at send time.
                    if let Some(promise) = promised_discount(source)
                        && !source.contains("coupon")
                    {
                        findings.push(finding(
                            file,
                            line_of(text, source),
                            format!(
                                "[{}] {part} promises '{promise}' without a code: issue one with an issue_coupon step before the send and show {{{{ coupon.code }}}} and {{{{ coupon.value }}}}",
                                locale.tag()
                            ),
                        ));
                    }
                    if let Err(e) = env.add_template_owned(key.clone(), source.clone()) {
                        let line = line_of(text, source) + e.line().unwrap_or(1) - 1;
                        findings.push(finding(
                            file,
                            line,
                            format!("[{}] {part}: {e}", locale.tag()),
                        ));
                    } else if let Ok(t) = env.get_template(&key) {
                        uses.entry(name.clone())
                            .or_default()
                            .extend(t.undeclared_variables(false));
                    }
                }
            }
            let with_short = brand
                .languages
                .iter()
                .filter(|l| parsed.get(l.tag()).is_some_and(|t| t.short.is_some()))
                .count();
            if with_short == brand.languages.len() {
                short_texts.insert(name.clone());
            } else if with_short > 0 {
                findings.push(finding(
                    file,
                    1,
                    format!("template '{name}' has a short text in some languages but not all; SMS and push need it in every one"),
                ));
            }
            for key in parsed.keys() {
                if Locale::parse(key).is_none() {
                    findings.push(finding(
                        file,
                        1,
                        format!(
                            "unknown locale [{key}]; use {}",
                            Locale::ALL.map(Locale::tag).join(", ")
                        ),
                    ));
                }
            }
            names.insert(name);
        }
        if findings.is_empty() {
            Ok(Self {
                env,
                names,
                uses,
                short_texts,
                brand,
                words,
                sources,
            })
        } else {
            Err(findings)
        }
    }

    /// The customer pages' words.
    pub fn page_words(&self) -> &crate::words::PageWords {
        &self.words
    }

    /// Whether `template` has a short text for SMS and app push in every language.
    pub fn has_short_text(&self, template: &str) -> bool {
        self.short_texts.contains(template)
    }

    /// The names of the loaded templates.
    pub fn template_names(&self) -> &HashSet<String> {
        &self.names
    }

    /// Whether `template` uses the top-level variable `name` in any locale.
    pub fn template_uses(&self, template: &str, name: &str) -> bool {
        self.uses.get(template).is_some_and(|u| u.contains(name))
    }

    /// The brand.
    pub fn brand(&self) -> &Brand {
        &self.brand
    }

    /// The brand as a customer of `locale` meets it (its contact details and community).
    pub fn brand_for(&self, locale: Locale) -> Brand {
        self.brand.for_locale(locale.tag())
    }

    /// The greeting line for a customer, by the salutation rules (DQ2).
    pub fn greeting(&self, customer: &CustomerRecord) -> aftercare_domain::Greeting {
        greeting(NameInput {
            first_name: customer.first_name.as_deref(),
            name_prefix: customer.name_prefix.as_deref(),
            last_name: customer.last_name.as_deref(),
            gender: customer.gender,
            address_form: customer
                .address_form
                .unwrap_or(self.brand.default_address_form),
            locale: self.brand.language_for(customer.locale),
        })
    }

    /// Renders `template` for one customer.
    pub fn render(&self, template: &str, input: &RenderInput<'_>) -> Result<Rendered, RenderError> {
        self.render_tracked(template, input, &mut |_| None)
    }

    /// [`Renderer::render`], with each web link in the message's own text passed to `track`
    /// (in order of appearance, once per address): where it answers with another address
    /// (a click-tracking redirect), the text part shows that one and the HTML part links to
    /// it under the original address. The footer's links (unsubscribe, preferences, inbox)
    /// are never passed.
    pub fn render_tracked(
        &self,
        template: &str,
        input: &RenderInput<'_>,
        track: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Result<Rendered, RenderError> {
        let locale = self.brand.language_for(input.customer.locale);
        let err = |reason: String| RenderError {
            template: template.to_string(),
            locale: locale.tag().to_string(),
            reason,
        };
        if !self.names.contains(template) {
            return Err(err("no such template".into()));
        }
        let greeting = self.greeting(input.customer);
        let form = input
            .customer
            .address_form
            .unwrap_or(self.brand.default_address_form);
        let ctx = json!({
            "locale": locale.tag(),
            "greeting": greeting.line,
            "first_name": greeting.first_name,
            "name": greeting.addressed_as,
            "full_name": greeting.full_name,
            "formal": form == AddressForm::Formal,
            // Dutch pronouns in the customer's register: "{{ Jouw }} bestelling", "{{ je }} krijgt".
            "je": if form == AddressForm::Formal { "u" } else { "je" },
            "Je": if form == AddressForm::Formal { "U" } else { "Je" },
            "jouw": if form == AddressForm::Formal { "uw" } else { "je" },
            "Jouw": if form == AddressForm::Formal { "Uw" } else { "Je" },
            "customer": {
                "external_id": input.customer.external_id,
                "email": input.customer.email,
                "time_zone": input.customer.time_zone,
                "attributes": input.customer.attributes,
                "postal_address": input.customer.postal_address,
            },
            "brand": self.brand.for_locale(locale.tag()),
            "order": input.order.map(|o| json!({
                "external_id": o.external_id,
                "placed_at": o.placed_at.to_string(),
                "total_cents": o.total_cents(),
                "currency": o.currency,
                "delivery_method": o.delivery_method,
                "new_skus": input.new_skus.map_or_else(
                    || crate::condition::new_skus(o, &HashSet::new()),
                    <[String]>::to_vec,
                ),
                "lines": o.lines.iter().map(|l| json!({
                    "sku": l.sku,
                    "quantity": l.quantity,
                    "unit_price_cents": l.unit_price_cents,
                    "name": input.products.iter().find(|p| p.sku == l.sku).map_or_else(|| l.sku.to_string(), |p| p.in_locale(locale).name.clone()),
                })).collect::<Vec<_>>(),
            })),
            "products": input.products.iter().map(|p| {
                let mut product = product_json(p, locale);
                let successor = p.successor_sku.as_ref().map(aftercare_domain::ExternalId::as_str).and_then(|sku| {
                    input.successors.iter().chain(input.products).find(|s| s.sku.as_str() == sku)
                });
                product["successor_name"] = successor.map(|s| s.in_locale(locale).name.clone()).into();
                product
            }).collect::<Vec<_>>(),
            "recommendations": input.recommendations.iter().map(|p| product_json(p, locale)).collect::<Vec<_>>(),
            "picks": input.picks.iter().map(|(p, new)| {
                let mut product = product_json(p, locale);
                product["new"] = (*new).into();
                product
            }).collect::<Vec<_>>(),
            "event": input.event,
            // A coupon issued by `issue_coupon` or carried by the event (DQ1 checks it).
            "coupon": localised_coupon(input.event.get("coupon"), locale),
            "links": input.links,
        });
        let run = |part: &str| -> Result<String, RenderError> {
            let key = format!("{template}/{}/{part}", locale.tag());
            self.env
                .get_template(&key)
                .and_then(|t| t.render(&ctx))
                .map_err(|e| err(format!("{part}: {e}")))
        };
        let subject = run("subject")?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let body = tidy_text(&run("body")?);
        let mut tracked = BTreeMap::new();
        for url in body.split_whitespace().filter_map(web_link) {
            if !tracked.contains_key(url)
                && let Some(to) = track(url)
            {
                tracked.insert(url.to_string(), to);
            }
        }
        let mut text = if tracked.is_empty() {
            body.clone()
        } else {
            body.lines()
                .map(|line| {
                    line.split(' ')
                        .map(|word| match web_link(word) {
                            Some(url) if tracked.contains_key(url) => {
                                format!("{}{}", tracked[url], &word[url.len()..])
                            }
                            _ => word.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        };
        // Every non-transactional message says how to stop (the HTML footer has the link too).
        if let Some(url) = input.links.get("unsubscribe").and_then(|u| u.as_str()) {
            let label = match locale {
                Locale::En => "Unsubscribe from our emails",
                Locale::FrBe => "Se désabonner de nos e-mails",
                Locale::NlNl | Locale::NlBe => "Afmelden voor onze e-mails",
            };
            text.push_str(&format!("\n--\n{label}: {url}\n"));
        }
        let html = self
            .env
            .get_template("_layout.html")
            .and_then(|t| {
                t.render(json!({
                    "brand": self.brand.for_locale(locale.tag()),
                    "locale": locale.tag(),
                    "subject": subject,
                    "blocks": blocks(&body),
                    "tracked": tracked,
                    "links": input.links,
                    "formal": form == AddressForm::Formal,
                }))
            })
            .map_err(|e| err(format!("layout: {e}")))?;
        let short = if self.short_texts.contains(template) {
            Some(
                run("short")?
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        } else {
            None
        };
        Ok(Rendered {
            subject,
            text,
            html,
            greeting: greeting.line,
            short,
        })
    }
}

/// The first discount a text promises in figures — a percentage ("15%", "15 %") or an
/// amount in euros ("€10", "€ 7,50") — if it promises one.
pub fn promised_discount(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next_digit = |from: usize| {
            chars[from..]
                .iter()
                .take(2)
                .position(|c| !c.is_whitespace())
                .and_then(|k| chars.get(from + k))
                .is_some_and(|c| c.is_ascii_digit())
        };
        if *c == '%' {
            let mut start = i;
            while start > 0 && (chars[start - 1].is_ascii_digit() || chars[start - 1] == ' ') {
                start -= 1;
            }
            let figure: String = chars[start..=i].iter().collect();
            if figure
                .trim_start()
                .starts_with(|c: char| c.is_ascii_digit())
            {
                return Some(figure.trim().to_string());
            }
        }
        if *c == '€' && next_digit(i + 1) {
            let end = (i + 1..chars.len())
                .find(|&k| !(chars[k].is_ascii_digit() || matches!(chars[k], ' ' | ',' | '.')))
                .unwrap_or(chars.len());
            return Some(
                chars[i..end]
                    .iter()
                    .collect::<String>()
                    .trim_end_matches([' ', ',', '.'])
                    .to_string(),
            );
        }
    }
    None
}

fn line_of(file: &str, part: &str) -> usize {
    let probe = part
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    file.find(probe)
        .map_or(1, |i| file[..i].matches('\n').count() + 1)
}

/// Trims trailing spaces and collapses runs of blank lines left by template tags.
fn tidy_text(s: &str) -> String {
    let mut out = Vec::new();
    let mut blank = true;
    for line in s.lines().map(str::trim_end) {
        if line.is_empty() {
            if !blank {
                out.push("");
            }
            blank = true;
        } else {
            out.push(line);
            blank = false;
        }
    }
    while out.last() == Some(&"") {
        out.pop();
    }
    out.join("\n") + "\n"
}

/// The web address a word of text is, without the punctuation after it.
fn web_link(word: &str) -> Option<&str> {
    (word.starts_with("https://") || word.starts_with("http://"))
        .then(|| word.trim_end_matches(['.', ',', ';', ':', '!', '?', ')']))
}

/// `{{ line | linkify }}` in the HTML layout: the line escaped, each web address in it a
/// link — to its click-tracking redirect when the message tracks clicks (`tracked`).
fn linkify(state: &State<'_, '_>, line: String) -> minijinja::Value {
    let tracked = state.lookup("tracked");
    let words: Vec<String> = line
        .split(' ')
        .map(|word| match web_link(word) {
            Some(url) => {
                let href = tracked
                    .as_ref()
                    .and_then(|t| t.get_attr(url).ok())
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| url.to_string());
                format!(
                    "<a href=\"{}\" style=\"color:inherit;\">{}</a>{}",
                    minijinja::HtmlEscape(&href),
                    minijinja::HtmlEscape(url),
                    minijinja::HtmlEscape(&word[url.len()..])
                )
            }
            None => minijinja::HtmlEscape(word).to_string(),
        })
        .collect();
    minijinja::Value::from_safe_string(words.join(" "))
}

/// Splits text into paragraphs and bullet lists for the HTML layout.
fn blocks(text: &str) -> Vec<serde_json::Value> {
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let lines: Vec<&str> = p.lines().collect();
            if lines.iter().all(|l| l.starts_with("- ")) {
                json!({"list": lines.iter().map(|l| &l[2..]).collect::<Vec<_>>()})
            } else {
                json!({"lines": lines})
            }
        })
        .collect()
}

fn locale_of(state: &State<'_, '_>) -> Locale {
    state
        .lookup("locale")
        .and_then(|v| v.as_str().and_then(Locale::parse))
        .unwrap_or_default()
}

/// The coupon with its `value` written in the customer's language ("€ 10,00").
fn localised_coupon(coupon: Option<&serde_json::Value>, locale: Locale) -> serde_json::Value {
    let Some(coupon) = coupon else {
        return serde_json::Value::Null;
    };
    let mut coupon = coupon.clone();
    crate::loyalty::localise_coupon(&mut coupon, locale);
    coupon
}

/// A carrier as customers know it: `postnl` → "PostNL", `bpost` → "bpost" (issue 23: not
/// "POSTNL"); an unknown one with a capital first letter.
pub fn carrier_name(id: &str) -> String {
    const KNOWN: &[(&str, &str)] = &[
        ("postnl", "PostNL"),
        ("dhl", "DHL"),
        ("dhl_parcel", "DHL"),
        ("dpd", "DPD"),
        ("bpost", "bpost"),
        ("gls", "GLS"),
        ("ups", "UPS"),
        ("fedex", "FedEx"),
        ("budbee", "Budbee"),
        ("trunkrs", "Trunkrs"),
        ("homerr", "Homerr"),
    ];
    let key = id.trim().to_lowercase();
    if let Some((_, name)) = KNOWN.iter().find(|(k, _)| *k == key) {
        return (*name).to_string();
    }
    let mut chars = id.trim().chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `{{ 12995 | money }}` → "€ 129,95" (nl) or "€129.95" (en).
fn money(state: &State<'_, '_>, cents: i64) -> String {
    aftercare_domain::commerce::format_euros(cents, locale_of(state))
}

/// `{{ event.title | local }}`: a text the shop sent in several languages, as an object by
/// locale (`{"nl-NL": "Zomerdeals", "nl": "Zomerdeals", "fr": "Soldes d'été", "en": "Summer
/// deals"}`), in the customer's: their tag, then their language, then English, then the
/// first given. A plain text is printed as it is.
fn local_text(state: &State<'_, '_>, value: minijinja::Value) -> minijinja::Value {
    if value.kind() != minijinja::value::ValueKind::Map {
        return value;
    }
    let locale = locale_of(state);
    let language = locale.tag().split('-').next().unwrap_or_default();
    for key in [locale.tag(), language, "en"] {
        if let Ok(text) = value.get_attr(key)
            && !text.is_undefined()
            && !text.is_none()
        {
            return text;
        }
    }
    value
        .try_iter()
        .ok()
        .and_then(|mut keys| keys.next())
        .and_then(|first| value.get_item(&first).ok())
        .unwrap_or_default()
}

/// `{{ order.placed_at | date }}` → "12 maart 2026" / "12 March 2026", in the customer's zone.
fn date(state: &State<'_, '_>, value: String) -> Result<String, minijinja::Error> {
    // A calendar day (e.g. a new delivery day) prints as it is.
    if let Ok(d) = value.parse::<jiff::civil::Date>() {
        return Ok(aftercare_domain::commerce::format_date(d, locale_of(state)));
    }
    let ts: Timestamp = value.parse().map_err(|e| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("not a timestamp: {e}"),
        )
    })?;
    let tz = state
        .lookup("customer")
        .and_then(|c| c.get_attr("time_zone").ok())
        .and_then(|v| v.as_str().and_then(|s| jiff::tz::TimeZone::get(s).ok()))
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let d = ts.to_zoned_datetime(tz).date();
    Ok(aftercare_domain::commerce::format_date(d, locale_of(state)))
}

#[cfg(test)]
mod tests {

    /// Issue 23 point 5: `check` sees a discount promised in figures, and a template that
    /// promises one without showing a code is a finding.
    #[test]
    fn a_discount_promised_without_a_code_is_found() {
        assert_eq!(
            promised_discount("deze maand 15% extra").as_deref(),
            Some("15%")
        );
        assert_eq!(promised_discount("with 20 % off").as_deref(), Some("20 %"));
        assert_eq!(
            promised_discount("krijg je € 7,50 korting").as_deref(),
            Some("€ 7,50")
        );
        assert_eq!(promised_discount("€10 for both.").as_deref(), Some("€10"));
        assert_eq!(
            promised_discount("{{ coupon.value }} korting, 100% zeker"),
            Some("100%".into())
        );
        assert_eq!(promised_discount("geen korting, wel een € teken"), None);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pages")).unwrap();
        for locale in Locale::ALL {
            std::fs::write(
                dir.path().join(format!("pages/{}.toml", locale.tag())),
                "[tracking]\ntitle = \"…\"\n",
            )
            .unwrap();
        }
        let body = |text: &str| {
            let mut file = String::new();
            for locale in Locale::ALL {
                file.push_str(&format!(
                    "[{}]\nsubject = \"Hallo\"\nbody = \"{text}\"\n\n",
                    locale.tag()
                ));
            }
            file
        };
        std::fs::write(
            dir.path().join("promise.toml"),
            body("Deze maand 15% korting."),
        )
        .unwrap();
        let findings = Renderer::load_dir(dir.path(), Brand::default()).unwrap_err();
        assert!(
            findings
                .iter()
                .any(|f| f.reason.contains("promises '15%' without a code")),
            "{findings:?}"
        );
        std::fs::write(
            dir.path().join("promise.toml"),
            body("Met de code {{ coupon.code }} krijg je {{ coupon.value }} korting."),
        )
        .unwrap();
        assert!(Renderer::load_dir(dir.path(), Brand::default()).is_ok());
    }

    #[test]
    fn carriers_are_named_as_customers_know_them() {
        for (id, name) in [
            ("postnl", "PostNL"),
            ("BPOST", "bpost"),
            ("dhl", "DHL"),
            ("kurier", "Kurier"),
        ] {
            assert_eq!(carrier_name(id), name);
        }
    }

    use super::*;

    #[test]
    fn text_is_tidied_and_split_into_blocks() {
        let text = tidy_text("Beste Jan,  \n\n\n\nBedankt.\n- een\n- twee\n\n");
        assert_eq!(text, "Beste Jan,\n\nBedankt.\n- een\n- twee\n");
        let b = blocks("a\n\n- x\n- y\n");
        assert_eq!(b[1], json!({"list": ["x", "y"]}));
    }
}
