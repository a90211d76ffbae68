//! The demo shop "Loopwerk", a running-shoe brand: a catalogue with lifespans and tips, and
//! a few thousand Dutch, Flemish and English customers with realistic mess — prefixes typed
//! into the last-name field, initials, capitals, missing genders, emails as first names.
//! Deterministic for a seed.

use std::collections::BTreeMap;

use aftercare_domain::{
    AddressForm, Channel, Consent, CustomerRecord, DeliveryMethod, EmailAddress, EventRecord,
    ExternalId, Gender, Locale, OrderLine, OrderRecord, PhoneNumber, PostalAddress, ProductRecord,
    ProductText, ProductTranslations, Purpose, ShipmentEventRecord, ShipmentStatus, TimeZoneName,
};
use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use serde_json::json;

fn id(s: &str) -> ExternalId {
    ExternalId::parse(s).unwrap_or_else(|_| ExternalId::parse("invalid").expect("literal id"))
}

/// A first name typed as its initial ("É." for Élise), by characters, not bytes.
fn initial(first: &str) -> String {
    first
        .chars()
        .next()
        .map_or_else(String::new, |c| format!("{c}."))
}

/// The catalogue.
pub fn products() -> Vec<ProductRecord> {
    let p = |sku: &str,
             name: &str,
             category: &str,
             price: i64,
             life: Option<u32>,
             tips: &[&str],
             successor: Option<&str>| ProductRecord {
        sku: id(sku),
        name: name.into(),
        category: category.into(),
        price_cents: price,
        currency: "EUR".into(),
        lifespan_days: life,
        tips: tips.iter().map(|t| t.to_string()).collect(),
        successor_sku: successor.map(id),
        translations: ProductTranslations::default(),
    };
    let mut catalogue = vec![
        p(
            "LW-STRIDE-4",
            "Stride 4 hardloopschoen",
            "running-shoes",
            12995,
            Some(365),
            &[
                "Loop de eerste week korte rondjes, zodat de voeten wennen aan de nieuwe demping.",
                "Laat ze na een natte run drogen met krantenpapier, niet op de verwarming.",
                "Na zo'n 800 km is de demping op: tijd voor een nieuw paar.",
            ],
            Some("LW-STRIDE-5"),
        ),
        p(
            "LW-STRIDE-5",
            "Stride 5 hardloopschoen",
            "running-shoes",
            13995,
            Some(365),
            &[
                "Loop de eerste week korte rondjes, zodat de voeten wennen aan de nieuwe demping.",
                "Wissel af met een tweede paar: de demping herstelt in 48 uur.",
            ],
            None,
        ),
        p(
            "LW-TRAIL-2",
            "Trailblazer 2 trailschoen",
            "trail-shoes",
            14995,
            Some(420),
            &[
                "Spoel modder eraf met lauw water en laat ze aan de lucht drogen.",
                "Strik de veters met een hielslot voor steile afdalingen.",
            ],
            None,
        ),
        p(
            "LW-RACE-1",
            "Racer 1 wedstrijdschoen",
            "racing-shoes",
            17995,
            Some(180),
            &[
                "Bewaar deze schoen voor wedstrijden en snelle trainingen.",
                "Na 300 km verliest het schuim zijn veerkracht.",
            ],
            None,
        ),
        p(
            "LW-SOCK-3",
            "Blaarvrije sokken (3 paar)",
            "socks",
            1995,
            Some(270),
            &["Was ze binnenstebuiten op 40 graden, zonder wasverzachter."],
            None,
        ),
        p(
            "LW-SHIRT-DRY",
            "DryFit shirt",
            "apparel",
            3495,
            Some(730),
            &["Geen wasverzachter: die sluit de ademende vezels af."],
            None,
        ),
        p(
            "LW-JACKET-WIND",
            "Windjack Reflect",
            "apparel",
            7995,
            Some(1095),
            &["De reflecterende strepen werken het best als het jack niet in de droger gaat."],
            None,
        ),
        p(
            "LW-INSOLE",
            "Steunzolen Comfort",
            "accessories",
            3995,
            Some(365),
            &["Haal de zolen na elke run uit de schoen, zodat ze kunnen drogen."],
            None,
        ),
        p(
            "LW-BOTTLE",
            "Soft flask 500 ml",
            "accessories",
            1495,
            None,
            &["Spoel de flask na gebruik met warm water en laat hem open drogen."],
            None,
        ),
        p(
            "LW-CAP",
            "Hardlooppet",
            "apparel",
            2495,
            None,
            &["Met de hand wassen houdt de vorm het mooist."],
            None,
        ),
    ];
    for product in &mut catalogue {
        product.translations = translations(product.sku.as_str());
    }
    catalogue
}

/// The catalogue's names and tips in English, Belgian French and, where Flemish says it
/// otherwise, Belgian Dutch (issue 23 point 6: an English customer reads English). Tips
/// are written without "je" or "u", "tu" or "vous", so they fit either address form.
fn translations(sku: &str) -> ProductTranslations {
    let t = |name: &str, tips: &[&str]| {
        Some(ProductText {
            name: Some(name.into()),
            tips: tips.iter().map(|t| t.to_string()).collect(),
        })
    };
    let shoe_tips_en =
        "Keep to short runs in the first week, so the feet get used to the new cushioning.";
    let shoe_tips_fr = "La première semaine, privilégier les sorties courtes : les pieds s'habituent ainsi au nouvel amorti.";
    match sku {
        "LW-STRIDE-4" => ProductTranslations {
            nl_be: t("Stride 4 loopschoen", &[]),
            en: t(
                "Stride 4 running shoe",
                &[
                    shoe_tips_en,
                    "After a wet run, stuff them with newspaper to dry; never on the radiator.",
                    "After about 800 km the cushioning is worn: time for a new pair.",
                ],
            ),
            fr_be: t(
                "Chaussure de running Stride 4",
                &[
                    shoe_tips_fr,
                    "Après une sortie sous la pluie, les bourrer de papier journal pour les sécher, jamais sur le radiateur.",
                    "Après quelque 800 km, l'amorti est usé : il est temps de passer à une nouvelle paire.",
                ],
            ),
            ..Default::default()
        },
        "LW-STRIDE-5" => ProductTranslations {
            nl_be: t("Stride 5 loopschoen", &[]),
            en: t(
                "Stride 5 running shoe",
                &[
                    shoe_tips_en,
                    "Alternate with a second pair: the cushioning recovers in 48 hours.",
                ],
            ),
            fr_be: t(
                "Chaussure de running Stride 5",
                &[
                    shoe_tips_fr,
                    "Alterner avec une deuxième paire : l'amorti récupère en 48 heures.",
                ],
            ),
            ..Default::default()
        },
        "LW-TRAIL-2" => ProductTranslations {
            en: t(
                "Trailblazer 2 trail shoe",
                &[
                    "Rinse off the mud with lukewarm water and let them air-dry.",
                    "Tie the laces with a heel lock for steep descents.",
                ],
            ),
            fr_be: t(
                "Chaussure de trail Trailblazer 2",
                &[
                    "Rincer la boue à l'eau tiède et laisser sécher à l'air libre.",
                    "Pour les descentes raides, lacer avec un nœud de blocage du talon.",
                ],
            ),
            ..Default::default()
        },
        "LW-RACE-1" => ProductTranslations {
            en: t(
                "Racer 1 racing shoe",
                &[
                    "Save this shoe for races and fast sessions.",
                    "After 300 km the foam loses its spring.",
                ],
            ),
            fr_be: t(
                "Chaussure de compétition Racer 1",
                &[
                    "Réserver cette chaussure aux compétitions et aux séances rapides.",
                    "Après 300 km, la mousse perd de son dynamisme.",
                ],
            ),
            ..Default::default()
        },
        "LW-SOCK-3" => ProductTranslations {
            en: t(
                "Blister-free socks (3 pairs)",
                &["Wash them inside out at 40 degrees, without fabric softener."],
            ),
            fr_be: t(
                "Chaussettes anti-ampoules (3 paires)",
                &["Laver à l'envers à 40 degrés, sans adoucissant."],
            ),
            ..Default::default()
        },
        "LW-SHIRT-DRY" => ProductTranslations {
            en: t(
                "DryFit shirt",
                &["No fabric softener: it clogs the breathable fibres."],
            ),
            fr_be: t(
                "T-shirt DryFit",
                &["Pas d'adoucissant : il bouche les fibres respirantes."],
            ),
            ..Default::default()
        },
        "LW-JACKET-WIND" => ProductTranslations {
            en: t(
                "Reflect windbreaker",
                &["The reflective stripes last longest when the jacket stays out of the dryer."],
            ),
            fr_be: t(
                "Coupe-vent Reflect",
                &[
                    "Les bandes réfléchissantes durent plus longtemps si la veste ne passe pas au sèche-linge.",
                ],
            ),
            ..Default::default()
        },
        "LW-INSOLE" => ProductTranslations {
            nl_be: t("Steunzolen Comfort", &[]),
            en: t(
                "Comfort insoles",
                &["Take the insoles out of the shoe after every run, so they can dry."],
            ),
            fr_be: t(
                "Semelles Comfort",
                &[
                    "Retirer les semelles de la chaussure après chaque sortie pour qu'elles sèchent.",
                ],
            ),
            ..Default::default()
        },
        "LW-BOTTLE" => ProductTranslations {
            en: t(
                "Soft flask 500 ml",
                &["Rinse the flask with warm water after use and let it dry open."],
            ),
            fr_be: t(
                "Flasque souple 500 ml",
                &["Rincer la flasque à l'eau chaude après usage et la laisser sécher ouverte."],
            ),
            ..Default::default()
        },
        "LW-CAP" => ProductTranslations {
            nl_be: t("Looppet", &[]),
            en: t("Running cap", &["Washing it by hand keeps its shape best."]),
            fr_be: t(
                "Casquette de running",
                &["Un lavage à la main préserve au mieux sa forme."],
            ),
            ..Default::default()
        },
        _ => ProductTranslations::default(),
    }
}

const NL_FEMALE: &[&str] = &[
    "Anna", "Sanne", "Lotte", "Emma", "Fleur", "Els", "Marieke", "Anouk", "Femke", "Iris", "Noor",
    "Lieke", "Julia", "Eva", "Sophie",
];
const NL_MALE: &[&str] = &[
    "Jan",
    "Pieter",
    "Daan",
    "Bram",
    "Kees",
    "Jan-Willem",
    "Thijs",
    "Ruben",
    "Sem",
    "Lars",
    "Koen",
    "Joost",
    "Maarten",
    "Wouter",
    "Tim",
];
const BE_FEMALE: &[&str] = &[
    "Lies", "Elke", "Hanne", "Ine", "Marie", "Lotte", "Fien", "Zoë", "Nele", "Griet",
];
const BE_MALE: &[&str] = &[
    "Koen",
    "Wout",
    "Pieter-Jan",
    "Jens",
    "Stijn",
    "Bart",
    "Dries",
    "Arne",
    "Tom",
    "Jef",
];
const FR_FEMALE: &[&str] = &[
    "Camille", "Léa", "Manon", "Chloé", "Juliette", "Amélie", "Sophie", "Louise", "Élise",
];
const FR_MALE: &[&str] = &[
    "Louis",
    "Nathan",
    "Hugo",
    "Arthur",
    "Julien",
    "Mathieu",
    "Jean-François",
    "Théo",
    "Maxime",
];
/// Walloon and Brussels surnames, particles as families write them.
const FR_LAST: &[&str] = &[
    "Dubois",
    "Lambert",
    "Dupont",
    "Martin",
    "Leclercq",
    "Renard",
    "de Villers",
    "Delhaize",
    "Lejeune",
    "Van Damme",
];
const FR_CITIES: &[(&str, &str)] = &[
    ("Bruxelles", "1000"),
    ("Liège", "4000"),
    ("Namur", "5000"),
    ("Charleroi", "6000"),
    ("Mons", "7000"),
    ("Louvain-la-Neuve", "1348"),
];
const EN_FEMALE: &[&str] = &["Emily", "Olivia", "Grace", "Charlotte", "Amelia", "Sophie"];
const EN_MALE: &[&str] = &["James", "Oliver", "Harry", "Jack", "Sean", "Ronald"];
const NL_LAST: &[(&str, &str)] = &[
    ("de", "Vries"),
    ("", "Jansen"),
    ("van den", "Berg"),
    ("", "Bakker"),
    ("van", "Dijk"),
    ("", "Visser"),
    ("", "Smit"),
    ("de", "Boer"),
    ("", "Mulder"),
    ("de", "Groot"),
    ("van der", "Meer"),
    ("", "Bos"),
    ("ter", "Horst"),
    ("van 't", "Hek"),
    ("", "Dekker"),
    ("van", "Leeuwen"),
];
const BE_LAST: &[&str] = &[
    "Peeters",
    "Janssens",
    "Maes",
    "Van den Bossche",
    "De Smet",
    "Claes",
    "D'Hondt",
    "Van Damme",
    "Vermeulen",
    "De Backer",
    "Willems",
    "Goossens",
];
const EN_LAST: &[&str] = &[
    "Smith", "Clarke", "O'Neill", "McDonald", "Taylor", "Brown", "Wilson",
];
const NL_CITIES: &[(&str, &str)] = &[
    ("Amsterdam", "1012"),
    ("Utrecht", "3511"),
    ("Rotterdam", "3011"),
    ("Den Haag", "2511"),
    ("Eindhoven", "5611"),
    ("Groningen", "9711"),
    ("Zwolle", "8011"),
    ("Nijmegen", "6511"),
];
const BE_CITIES: &[(&str, &str)] = &[
    ("Antwerpen", "2000"),
    ("Gent", "9000"),
    ("Leuven", "3000"),
    ("Brugge", "8000"),
    ("Hasselt", "3500"),
    ("Mechelen", "2800"),
];
const STREETS: &[&str] = &[
    "Kerkstraat",
    "Dorpsstraat",
    "Stationsweg",
    "Molenlaan",
    "Schoolstraat",
    "Lindenlaan",
    "Nieuwstraat",
];

/// `n` customers who joined between `from` and `to`.
pub fn customers(
    rng: &mut StdRng,
    n: usize,
    from: Timestamp,
    to: Timestamp,
) -> Vec<CustomerRecord> {
    (0..n).map(|i| customer(rng, i, from, to)).collect()
}

/// The `i`-th generated customer (`C0000{i+1}`), who joined between `from` and `to`.
pub fn customer(rng: &mut StdRng, i: usize, from: Timestamp, to: Timestamp) -> CustomerRecord {
    let span = (to - from).as_secs().max(1);
    {
        {
            let roll: f64 = rng.random();
            let locale = if roll < 0.6 {
                Locale::NlNl
            } else if roll < 0.82 {
                Locale::NlBe
            } else if roll < 0.9 {
                Locale::FrBe
            } else {
                Locale::En
            };
            let female = rng.random_bool(0.5);
            let pick =
                |rng: &mut StdRng, list: &[&'static str]| *list.choose(rng).unwrap_or(&"Jan");
            let (mut first, mut prefix, mut last): (
                Option<String>,
                Option<String>,
                Option<String>,
            ) = match locale {
                Locale::NlNl => {
                    let (p, l) = *NL_LAST.choose(rng).unwrap_or(&("", "Jansen"));
                    let f = pick(rng, if female { NL_FEMALE } else { NL_MALE });
                    (
                        Some(f.into()),
                        (!p.is_empty()).then(|| p.to_string()),
                        Some(l.into()),
                    )
                }
                Locale::NlBe => (
                    Some(pick(rng, if female { BE_FEMALE } else { BE_MALE }).into()),
                    None,
                    Some(pick(rng, BE_LAST).into()),
                ),
                Locale::En => (
                    Some(pick(rng, if female { EN_FEMALE } else { EN_MALE }).into()),
                    None,
                    Some(pick(rng, EN_LAST).into()),
                ),
                Locale::FrBe => (
                    Some(pick(rng, if female { FR_FEMALE } else { FR_MALE }).into()),
                    None,
                    Some(pick(rng, FR_LAST).into()),
                ),
            };
            let clean_first = first.clone().unwrap_or_default();
            let clean_last = last.clone().unwrap_or_default();
            // Mess, the way real shop data has it.
            match rng.random_range(0..100) {
                0..=5 => first = None,
                6..=9 => first = first.map(|f| initial(&f)),
                10..=12 => first = first.map(|f| f.to_uppercase()),
                13..=14 => first = Some(format!("{}@example.nl", clean_first.to_lowercase())),
                15 => first = Some("test".into()),
                16..=18 if prefix.is_some() => {
                    last = Some(format!(
                        "{} {}",
                        prefix.take().unwrap_or_default(),
                        clean_last
                    ))
                }
                19..=20 => last = last.map(|l| l.to_uppercase()),
                21 => first = first.map(|f| f.to_lowercase()),
                22 => first = Some(clean_last.clone()),
                _ => {}
            }
            let gender = match rng.random_range(0..100) {
                0..=14 => Gender::Unknown,
                15..=16 => Gender::X,
                _ if female => Gender::Female,
                _ => Gender::Male,
            };
            let joined = from + SignedDuration::from_secs(rng.random_range(0..span));
            let (country, city, postcode) = match locale {
                Locale::NlBe => {
                    let (c, p) = *BE_CITIES.choose(rng).unwrap_or(&("Gent", "9000"));
                    ("BE", c, p.to_string())
                }
                Locale::FrBe => {
                    let (c, p) = *FR_CITIES.choose(rng).unwrap_or(&("Namur", "5000"));
                    ("BE", c, p.to_string())
                }
                _ => {
                    let (c, p) = *NL_CITIES.choose(rng).unwrap_or(&("Utrecht", "3511"));
                    let letters = ["AB", "CD", "EF", "GH", "KL"]
                        .choose(rng)
                        .copied()
                        .unwrap_or("AB");
                    ("NL", c, format!("{p} {letters}"))
                }
            };
            let address = rng.random_bool(0.9).then(|| PostalAddress {
                street: pick(rng, STREETS).into(),
                house_number: rng.random_range(1..200).to_string(),
                house_number_addition: rng.random_bool(0.1).then(|| "A".to_string()),
                postcode,
                city: city.into(),
                country: country.into(),
            });
            let email_local = format!(
                "{}.{}{}",
                clean_first.to_lowercase(),
                clean_last.to_lowercase(),
                i
            )
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect::<String>();
            let email = rng
                .random_bool(0.97)
                .then(|| EmailAddress::parse(&format!("{email_local}@example.nl")))
                .and_then(Result::ok);
            let phone = rng
                .random_bool(0.6)
                .then(|| {
                    PhoneNumber::parse(&format!("+316{:08}", rng.random_range(0..100_000_000)))
                })
                .and_then(Result::ok);
            let mut consents = vec![Consent {
                purpose: Purpose::Service,
                channel: Channel::Email,
                granted: true,
                source: "checkout".into(),
                at: joined,
            }];
            if rng.random_bool(0.65) {
                consents.push(Consent {
                    purpose: Purpose::Marketing,
                    channel: Channel::Email,
                    granted: true,
                    source: "checkout".into(),
                    at: joined,
                });
            }
            let mut attributes = BTreeMap::new();
            let segment = [
                "runner",
                "runner",
                "trail",
                "casual",
                "bargain-hunter",
                "grocery",
            ]
            .choose(rng)
            .copied()
            .unwrap_or("runner");
            attributes.insert("segment".to_string(), serde_json::json!(segment));
            attributes.insert(
                "income_band".to_string(),
                serde_json::json!(
                    ["low", "middle", "high"]
                        .choose(rng)
                        .copied()
                        .unwrap_or("middle")
                ),
            );
            if rng.random_bool(0.3) {
                let kids: Vec<serde_json::Value> = (0..rng.random_range(1..=2))
                    .map(|_| {
                        let girl = rng.random_bool(0.5);
                        let name = pick(rng, if girl { NL_FEMALE } else { NL_MALE });
                        let born = jiff::civil::Date::new(rng.random_range(2008..2020), rng.random_range(1..13), rng.random_range(1..29)).map(|d| d.to_string()).unwrap_or_default();
                        json!({"first_name": name, "birth_date": born, "relation": if girl { "daughter" } else { "son" }})
                    })
                    .collect();
                attributes.insert("household_members".to_string(), json!(kids));
            }
            let birth_year = rng.random_range(1950..2006);
            CustomerRecord {
                external_id: id(&format!("C{:05}", i + 1)),
                email,
                phone,
                first_name: first,
                name_prefix: prefix,
                last_name: last,
                gender,
                address_form: Some(if rng.random_bool(0.25) {
                    AddressForm::Formal
                } else {
                    AddressForm::Informal
                }),
                locale,
                time_zone: TimeZoneName::parse(match locale {
                    Locale::NlBe | Locale::FrBe => "Europe/Brussels",
                    Locale::En if rng.random_bool(0.5) => "Europe/London",
                    _ => "Europe/Amsterdam",
                })
                .unwrap_or_default(),
                birth_date: jiff::civil::Date::new(
                    birth_year,
                    rng.random_range(1..13),
                    rng.random_range(1..29),
                )
                .ok(),
                customer_since: Some(joined.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()),
                postal_address: address,
                attributes,
                consents,
            }
        }
    }
}

/// Something that happens in the demo shop at a moment.
#[derive(Debug, Clone)]
pub enum ShopAction {
    /// A customer places an order.
    Order(OrderRecord),
    /// A carrier reports a status.
    Shipment(ShipmentEventRecord),
    /// The shop, helpdesk or app reports something else (a case, an offer).
    Event(EventRecord),
    /// A customer asks to cancel, with a reason and a product (RT1).
    Cancellation(Box<aftercare_domain::CancellationRecord>),
    /// A new customer signs up.
    NewCustomer(Box<CustomerRecord>),
    /// A new customer came through an existing customer's referral link (RF1).
    Referral {
        /// The existing customer.
        referrer: ExternalId,
        /// The new one.
        referred: ExternalId,
    },
    /// An order comes back.
    Return(ExternalId),
    /// A customer tries to spend points on a reward (refused when the balance is short).
    ClaimReward {
        /// Who.
        customer: ExternalId,
        /// The reward's id.
        reward: String,
    },
    /// A customer acts on the tracking page of a shipment (PX2, PX5, PX6).
    Page {
        /// The shipment's tracking code.
        shipment: ExternalId,
        /// What they do.
        action: PageAction,
    },
}

/// What customers do on the tracking page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageAction {
    /// Change the delivery: another day (0), a pick-up point (1), a neighbour (2) or a safe
    /// place (3).
    ChangeDelivery(u8),
    /// Book a fitting when collecting (click & collect).
    BookFitting,
    /// Ask for a free recycling return once delivered.
    Recycle,
}

fn event(
    customer: &ExternalId,
    event_type: &str,
    at: Timestamp,
    properties: serde_json::Value,
) -> ShopAction {
    let properties = match properties {
        serde_json::Value::Object(map) => map.into_iter().collect(),
        _ => Default::default(),
    };
    ShopAction::Event(EventRecord {
        id: None,
        event_type: event_type.to_string(),
        customer_external_id: customer.clone(),
        at,
        properties,
    })
}

/// What the brand and its helpdesk do for the `index`-th customer besides orders, between
/// `from` and `to`: a weekly offer for a rotating tenth of the customers, two product
/// launches, co-creation calls for the grocery segment, complaints and questions (resolved
/// in one to three days, by phone, chat or email), cancellations and contracts running out;
/// and what the shop sees the customer do: products looked at, carts left at the checkout.
pub fn brand_activity(
    rng: &mut StdRng,
    index: usize,
    c: &CustomerRecord,
    from: Timestamp,
    to: Timestamp,
    details_from: Timestamp,
) -> Vec<(Timestamp, ShopAction)> {
    let mut out = Vec::new();
    let day = SignedDuration::from_hours(24);
    let grocery = c.attributes.get("segment").and_then(|v| v.as_str()) == Some("grocery");
    let mut t = from;
    let mut week = 0;
    while t < to {
        // A weekly offer, each week for another tenth of the customers.
        let titles = [
            "Weekdeal: trailschoenen",
            "Zomerdeals",
            "Najaarsactie",
            "Winterdeals",
        ];
        // The brand's own announcements before `details_from` are left out (they draw
        // nothing from `rng`, so the rest stays the same).
        let details = t >= details_from;
        if details && index % 10 == week % 10 {
            let valid_until = (t + day * 7).to_string()[..10].to_string();
            out.push((t, event(&c.external_id, "offer_published", t, json!({
                "title": titles[week % titles.len()], "description": "Deze week 20% korting op een selectie.", "valid_until": valid_until
            }))));
        }
        if t + SignedDuration::from_hours(8) >= details_from && week % 26 == 10 {
            out.push((
                t + SignedDuration::from_hours(8),
                event(
                    &c.external_id,
                    "product_launched",
                    t,
                    json!({"product_name": "Stride 5"}),
                ),
            ));
        }
        if details && week % 26 == 20 && grocery {
            out.push((
                t,
                event(
                    &c.external_id,
                    "cocreation_opened",
                    t,
                    json!({"topic": "een nieuwe sportdrank"}),
                ),
            ));
        }
        // Remarketing on behaviour (CH3): twice a year a third of the customers look at a
        // product and go no further, and once a year a fifth leave a cart at the checkout
        // (by the week and the customer's number, so the random stream stays as it was).
        // A view or a checkout days into the week is kept by its own time: one in the
        // first live days belongs to the simulated period even when its week began before.
        let at = t + day * 2 + SignedDuration::from_hours(19);
        if at >= details_from && index.is_multiple_of(3) && week % 26 == index % 26 {
            let sku = ["LW-TRAIL-2", "LW-JACKET-WIND", "LW-RACE-1"][(index / 3 + week) % 3];
            out.push((
                at,
                event(&c.external_id, "product_viewed", at, json!({"sku": sku})),
            ));
        }
        let at = t + day * 4 + SignedDuration::from_hours(20);
        if at >= details_from && index % 5 == 1 && week % 52 == (index * 7) % 52 {
            out.push((at, event(&c.external_id, "checkout_started", at, json!({
                "checkout": format!("demo-{}-{week}", c.external_id), "currency": "EUR",
                "total_cents": 14995, "url": "https://loopwerk.example/checkout",
                "lines": [{"sku": "LW-TRAIL-2", "name": "Trailblazer 2 trailschoen", "quantity": 1, "price_cents": 14995}]
            }))));
        }
        let at = t + SignedDuration::from_secs(rng.random_range(0..7 * 24 * 3600));
        let roll: f64 = rng.random();
        if roll < 0.004 {
            let kind = if rng.random_bool(0.4) {
                "complaint"
            } else {
                "question"
            };
            let channel = ["phone", "chat", "email", "store"]
                .choose(rng)
                .copied()
                .unwrap_or("phone");
            out.push((
                at,
                event(
                    &c.external_id,
                    "case_opened",
                    at,
                    json!({"case_id": format!("K-{}-{}", c.external_id, at.as_second()), "kind": kind, "subject": "bestelling"}),
                ),
            ));
            let resolved = at + SignedDuration::from_hours(rng.random_range(6..72));
            out.push((
                resolved,
                event(
                    &c.external_id,
                    "case_resolved",
                    resolved,
                    json!({"case_id": format!("K-{}-{}", c.external_id, at.as_second()), "kind": kind, "channel": channel}),
                ),
            ));
        } else if roll < 0.0045 {
            // The reason and product the cancellation form asks (RT1), by the week, so
            // the random stream stays as it was.
            use aftercare_domain::retention::CancellationReason as R;
            let (reason, sku, words) = match week % 7 {
                0 | 1 => (R::Price, None, "te duur"),
                2 => (R::TooMuch, Some("LW-SOCK-3"), "te veel sokken"),
                3 => (R::Quality, Some("LW-SOCK-3"), "sokken slijten snel"),
                4 => (R::Quality, Some("LW-STRIDE-4"), "schoen knelt"),
                5 => (R::Temporary, None, "blessure"),
                _ => (R::Moving, None, "verhuizing naar het buitenland"),
            };
            out.push((
                at,
                ShopAction::Cancellation(Box::new(aftercare_domain::CancellationRecord {
                    customer_external_id: c.external_id.clone(),
                    at,
                    contract_external_id: None,
                    reason_code: Some(reason),
                    product_sku: sku.map(id),
                    reason: Some(words.into()),
                })),
            ));
        } else if roll < 0.0050 {
            out.push((
                at,
                event(
                    &c.external_id,
                    "contract_ending",
                    at,
                    json!({"ends_on": (at + day * 30).to_string()[..10].to_string()}),
                ),
            ));
        }
        t += day * 7;
        week += 1;
    }
    out
}

pub fn order_with_shipping(
    rng: &mut StdRng,
    seq: usize,
    customer: &ExternalId,
    at: Timestamp,
    catalogue: &[ProductRecord],
    hours: f64,
) -> Vec<(Timestamp, ShopAction)> {
    order_maybe_shipped(rng, seq, customer, at, catalogue, hours, true)
}

/// [`order_with_shipping`], leaving out the shipment and the tracking page when `shipped`
/// is false (the same random draws either way, so the rest of the shop stays the same).
pub fn order_maybe_shipped(
    rng: &mut StdRng,
    seq: usize,
    customer: &ExternalId,
    at: Timestamp,
    catalogue: &[ProductRecord],
    hours: f64,
    shipped: bool,
) -> Vec<(Timestamp, ShopAction)> {
    let mut lines: Vec<OrderLine> = Vec::new();
    for _ in 0..rng.random_range(1..=3) {
        let Some(p) = catalogue.choose(rng) else {
            continue;
        };
        if lines.iter().any(|l| l.sku == p.sku) {
            continue;
        }
        lines.push(OrderLine {
            sku: p.sku.clone(),
            quantity: 1,
            unit_price_cents: p.price_cents,
        });
    }
    // What goes with what, so "also bought" (OF1) has something to say: every other
    // running-shoe order takes a pair of socks along, every third trail order a bottle. Decided
    // by the order's number, not the random stream, so the shop's other numbers stay as they were.
    let category = |sku: &ExternalId| {
        catalogue
            .iter()
            .find(|p| &p.sku == sku)
            .map(|p| p.category.as_str())
    };
    for (in_category, every, sku) in [
        ("running-shoes", 2, "LW-SOCK-3"),
        ("trail-shoes", 3, "LW-BOTTLE"),
    ] {
        let with = lines.iter().any(|l| category(&l.sku) == Some(in_category));
        if with
            && seq.is_multiple_of(every)
            && !lines.iter().any(|l| l.sku.as_str() == sku)
            && let Some(p) = catalogue.iter().find(|p| p.sku.as_str() == sku)
        {
            lines.push(OrderLine {
                sku: p.sku.clone(),
                quantity: 1,
                unit_price_cents: p.price_cents,
            });
        }
    }
    let method = match rng.random_range(0..100) {
        0..=74 => DeliveryMethod::Home,
        75..=89 => DeliveryMethod::PickupPoint,
        _ => DeliveryMethod::ClickAndCollect,
    };
    let order_id = id(&format!("W{:06}", seq));
    let order = OrderRecord {
        external_id: order_id.clone(),
        customer_external_id: customer.clone(),
        placed_at: at,
        currency: "EUR".into(),
        delivery_method: method,
        // The demo's two stores with fittings (PX5).
        store_id: (method == DeliveryMethod::ClickAndCollect)
            .then(|| if seq.is_multiple_of(2) { "ams" } else { "utr" }.to_string()),
        lines,
    };
    let carrier = if rng.random_bool(0.7) {
        "postnl"
    } else {
        "bpost"
    };
    if !shipped {
        return vec![(at, ShopAction::Order(order))];
    }
    let shipment = id(&format!("3S{:09}", seq));
    let statuses: &[(ShipmentStatus, f64)] = match method {
        DeliveryMethod::Home => &[
            (ShipmentStatus::LabelCreated, 0.05),
            (ShipmentStatus::HandedOver, 0.4),
            (ShipmentStatus::InTransit, 0.6),
            (ShipmentStatus::OutForDelivery, 0.8),
            (ShipmentStatus::Delivered, 1.0),
        ],
        _ => &[
            (ShipmentStatus::LabelCreated, 0.05),
            (ShipmentStatus::HandedOver, 0.4),
            (ShipmentStatus::ReadyForPickup, 1.0),
            (ShipmentStatus::PickedUp, 1.6),
        ],
    };
    let has_shoes = order.lines.iter().any(|l| {
        catalogue
            .iter()
            .any(|p| p.sku == l.sku && p.category == "running-shoes")
    });
    let mut out = vec![(at, ShopAction::Order(order))];
    // What customers do on the tracking page, from their own random stream so the shop's
    // other numbers stay as they were: about 30% change a home delivery (PX2), half of the
    // click & collect customers book a fitting (PX5), one in ten running-shoe buyers sends
    // the old pair back for recycling (PX6).
    {
        use rand::SeedableRng;
        let mut page_rng = StdRng::seed_from_u64(0x7472_6163_6b00 ^ seq as u64);
        let page = |fraction: f64, action: PageAction| {
            (
                at + SignedDuration::from_secs_f64(hours * 3600.0 * fraction),
                ShopAction::Page {
                    shipment: shipment.clone(),
                    action,
                },
            )
        };
        match method {
            DeliveryMethod::Home if page_rng.random_bool(0.3) => {
                out.push(page(
                    0.45,
                    PageAction::ChangeDelivery(page_rng.random_range(0..4)),
                ));
            }
            DeliveryMethod::ClickAndCollect if page_rng.random_bool(0.5) => {
                out.push(page(1.05, PageAction::BookFitting));
            }
            _ => {}
        }
        if method == DeliveryMethod::Home && has_shoes && page_rng.random_bool(0.1) {
            out.push(page(1.5, PageAction::Recycle));
        }
    }
    // The carrier's two-hour window around the delivery, from the moment it has the parcel.
    let delivered = at + SignedDuration::from_secs_f64(hours * 3600.0);
    for (status, fraction) in statuses {
        let t = at + SignedDuration::from_secs_f64(hours * 3600.0 * fraction);
        let window = method == DeliveryMethod::Home
            && matches!(
                status,
                ShipmentStatus::HandedOver | ShipmentStatus::InTransit
            );
        out.push((
            t,
            ShopAction::Shipment(ShipmentEventRecord {
                shipment_id: shipment.clone(),
                order_external_id: order_id.clone(),
                carrier: carrier.into(),
                status: *status,
                at: t,
                location: None,
                expected_from: window.then(|| delivered - SignedDuration::from_hours(1)),
                expected_until: window.then(|| delivered + SignedDuration::from_hours(1)),
            }),
        ));
    }
    out
}

/// A referral between `from` and `to` (RF1): about one customer in ten tells a friend
/// (`R0000{index+1}`), who signs up, is registered as referred, and orders within a few
/// days; one first order in ten comes back (which voids the reward). `seq` numbers the
/// orders.
pub fn referral(
    rng: &mut StdRng,
    index: usize,
    referrer: &CustomerRecord,
    seq: &mut usize,
    from: Timestamp,
    to: Timestamp,
    catalogue: &[ProductRecord],
) -> Vec<(Timestamp, ShopAction)> {
    let mut out = Vec::new();
    let span = (to - from).as_secs().max(1);
    if !rng.random_bool(0.1) {
        return out;
    }
    let n = index + 1;
    let at = from + SignedDuration::from_secs(rng.random_range(0..span));
    let mut friend = customer(rng, 0, at, at);
    friend.external_id = id(&format!("R{n:05}"));
    friend.email = EmailAddress::parse(&format!("friend{n}@example.nl")).ok();
    friend.postal_address = None;
    friend.phone = None;
    let referred = friend.external_id.clone();
    out.push((at, ShopAction::NewCustomer(Box::new(friend))));
    out.push((
        at + SignedDuration::from_secs(60),
        ShopAction::Referral {
            referrer: referrer.external_id.clone(),
            referred: referred.clone(),
        },
    ));
    *seq += 1;
    let ordered = at + SignedDuration::from_hours(rng.random_range(2..120));
    let order = order_with_shipping(rng, *seq, &referred, ordered, catalogue, 48.0);
    if rng.random_bool(0.1)
        && let Some((_, ShopAction::Order(o))) = order.first()
    {
        out.push((
            ordered + SignedDuration::from_hours(24 * 10),
            ShopAction::Return(o.external_id.clone()),
        ));
    }
    out.extend(order);
    out
}

/// A customer visiting their loyalty page between `from` and `to`: about one in five tries
/// to claim the €5 reward once (it only works with enough points).
pub fn reward_claim(
    rng: &mut StdRng,
    c: &CustomerRecord,
    from: Timestamp,
    to: Timestamp,
) -> Option<(Timestamp, ShopAction)> {
    let span = (to - from).as_secs().max(1);
    rng.random_bool(0.2).then(|| {
        let at = from + SignedDuration::from_secs(rng.random_range(0..span));
        let claim = ShopAction::ClaimReward {
            customer: c.external_id.clone(),
            reward: "five-euro".into(),
        };
        (at, claim)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A million-customer simulation died on "Élise" typed as an initial (a byte slice
    /// inside 'É').
    #[test]
    fn an_initial_is_the_first_character_not_the_first_byte() {
        assert_eq!(initial("Élise"), "É.");
        assert_eq!(initial("Jan"), "J.");
        assert_eq!(initial(""), "");
    }
}
