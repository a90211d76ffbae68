//! The demo shop's `[tracking]`: PostNL and bpost with pick-up points in the demo's cities,
//! two stores with fittings, and running clubs per city (PX2, PX4, PX5). The carriers'
//! adapter webhooks point at the demo's stand-in carrier (`/demo/carrier/{carrier}` on the
//! demo server itself), so a delivery change in the demo takes the real path: stored,
//! signed, posted, confirmed, and confirmed to the customer by email in the outbox.

use std::collections::BTreeMap;

use aftercare_domain::delivery::{
    CarrierConfig, CommunityItem, PickupPoint, StoreLocation, TrackingConfig,
};

/// The secret the demo's carriers and stand-in carrier share.
pub const DEMO_CARRIER_SECRET: &str = "demo-carrier-secret-not-for-production";

const CITIES: &[(&str, &str, &str)] = &[
    ("Amsterdam", "1012", "NL"),
    ("Utrecht", "3511", "NL"),
    ("Rotterdam", "3011", "NL"),
    ("Den Haag", "2511", "NL"),
    ("Eindhoven", "5611", "NL"),
    ("Groningen", "9711", "NL"),
    ("Zwolle", "8011", "NL"),
    ("Nijmegen", "6511", "NL"),
    ("Antwerpen", "2000", "BE"),
    ("Gent", "9000", "BE"),
    ("Leuven", "3000", "BE"),
    ("Brugge", "8000", "BE"),
    ("Hasselt", "3500", "BE"),
    ("Mechelen", "2800", "BE"),
];

/// Clubs per city: (city, club, when in Dutch, when in English, where).
/// French-speaking Belgium's clubs: city, name, when in French and English, where.
const FR_CLUBS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "Bruxelles",
        "Bois de la Cambre Run",
        "dimanche 9 h 30",
        "Sundays 9:30",
        "Bois de la Cambre, entrée avenue Louise",
    ),
    (
        "Liège",
        "Boucle de la Citadelle",
        "mercredi 19 h",
        "Wednesdays 19:00",
        "Parc de la Citadelle",
    ),
    (
        "Namur",
        "Namur Trail Runners",
        "samedi 9 h",
        "Saturdays 9:00",
        "Citadelle de Namur, Terra Nova",
    ),
];

const CLUBS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "Amsterdam",
        "Vondelpark Runners",
        "zondag 9:00",
        "Sundays 9:00",
        "Vondelpark, bij het Blauwe Theehuis",
    ),
    (
        "Utrecht",
        "Maliebaan-loop",
        "woensdag 19:00",
        "Wednesdays 19:00",
        "Maliebaan",
    ),
    (
        "Rotterdam",
        "Kralingse Plas Run",
        "zaterdag 9:00",
        "Saturdays 9:00",
        "Kralingse Plas, bij de molen",
    ),
    (
        "Den Haag",
        "Duinloop",
        "zondag 10:00",
        "Sundays 10:00",
        "Scheveningse Bosjes",
    ),
    (
        "Eindhoven",
        "Genneper Parken Runners",
        "dinsdag 19:00",
        "Tuesdays 19:00",
        "Genneper Parken",
    ),
    (
        "Groningen",
        "Noorderplantsoen-loop",
        "donderdag 19:00",
        "Thursdays 19:00",
        "Noorderplantsoen",
    ),
    (
        "Zwolle",
        "Engelse Werk Run",
        "zaterdag 9:30",
        "Saturdays 9:30",
        "Engelse Werk",
    ),
    (
        "Nijmegen",
        "Zevenheuvelen-training",
        "zondag 9:00",
        "Sundays 9:00",
        "Heilig Landstichting",
    ),
    (
        "Antwerpen",
        "Rivierenhof Runners",
        "zondag 9:00",
        "Sundays 9:00",
        "Rivierenhof",
    ),
    (
        "Gent",
        "Blaarmeersen-loop",
        "woensdag 19:00",
        "Wednesdays 19:00",
        "Blaarmeersen",
    ),
    (
        "Leuven",
        "Kessel-Lo Run",
        "zaterdag 9:00",
        "Saturdays 9:00",
        "Provinciedomein Kessel-Lo",
    ),
    (
        "Brugge",
        "Vesten-loop",
        "dinsdag 19:00",
        "Tuesdays 19:00",
        "Kruispoort",
    ),
    (
        "Hasselt",
        "Kapermolen Runners",
        "donderdag 19:00",
        "Thursdays 19:00",
        "Kapermolenpark",
    ),
    (
        "Mechelen",
        "Vrijbroekpark-loop",
        "zondag 10:00",
        "Sundays 10:00",
        "Vrijbroekpark",
    ),
];

/// The demo's tracking configuration, with carrier webhooks under `public_url`.
pub fn tracking(public_url: &str) -> TrackingConfig {
    let base = public_url.trim_end_matches('/');
    let points = |country: &str, shop: &str, locker: &str| -> Vec<PickupPoint> {
        CITIES
            .iter()
            .filter(|(_, _, c)| *c == country)
            .flat_map(|(city, pc, _)| {
                let n: u32 = pc.parse().unwrap_or(1000);
                [
                    PickupPoint {
                        id: format!("{country}-{pc}-1"),
                        name: format!("{shop} {city} Centrum"),
                        street: "Marktplein 3".into(),
                        postcode: if country == "NL" {
                            format!("{pc} AB")
                        } else {
                            pc.to_string()
                        },
                        city: (*city).into(),
                        hours: Some("ma–za 9:00–18:00".into()),
                    },
                    PickupPoint {
                        id: format!("{country}-{pc}-2"),
                        name: format!("{locker} {city} Station"),
                        street: "Stationsplein 1".into(),
                        postcode: if country == "NL" {
                            format!("{} CD", n + 2)
                        } else {
                            (n + 2).to_string()
                        },
                        city: (*city).into(),
                        hours: Some("24/7".into()),
                    },
                ]
            })
            .collect()
    };
    let carrier = |name: &str, key: &str, country: &str, shop: &str, locker: &str| CarrierConfig {
        name: name.into(),
        webhook_url: Some(format!("{base}/demo/carrier/{key}")),
        webhook_secret: Some(DEMO_CARRIER_SECRET.into()),
        pickup_points: points(country, shop, locker),
        ..CarrierConfig::default()
    };
    let mut carriers = BTreeMap::new();
    carriers.insert(
        "postnl".into(),
        carrier(
            "PostNL",
            "postnl",
            "NL",
            "PostNL-punt Primera",
            "PostNL Pakketautomaat",
        ),
    );
    carriers.insert(
        "bpost".into(),
        carrier(
            "bpost",
            "bpost",
            "BE",
            "Bpost-punt Press Shop",
            "Bpost Pakjesautomaat",
        ),
    );
    let fitting = |id: &str, name: &str, address: &str| StoreLocation {
        id: id.into(),
        name: name.into(),
        address: address.into(),
        fitting_days: ["tue", "thu", "fri", "sat"].map(String::from).to_vec(),
        fitting_times: ["10:00", "11:00", "14:00", "15:00", "16:00"]
            .map(String::from)
            .to_vec(),
        time_zone: "Europe/Amsterdam".into(),
    };
    TrackingConfig {
        carriers,
        stores: vec![
            fitting(
                "ams",
                "Loopwerk Amsterdam",
                "Overtoom 120, 1054 HN Amsterdam",
            ),
            fitting("utr", "Loopwerk Utrecht", "Oudegracht 200, 3511 NR Utrecht"),
        ],
        community: CLUBS
            .iter()
            .map(|c| (c, "nl"))
            .chain(FR_CLUBS.iter().map(|c| (c, "fr")))
            .map(|((city, name, local, en, place), language)| CommunityItem {
                city: (*city).into(),
                name: (*name).into(),
                when: BTreeMap::from([
                    (language.to_string(), (*local).to_string()),
                    ("en".to_string(), (*en).to_string()),
                ]),
                place: (*place).into(),
                url: None,
            })
            .collect(),
        // The stand-in carrier runs on the demo server itself, on loopback.
        allow_private_targets: true,
        ..TrackingConfig::default()
    }
}
