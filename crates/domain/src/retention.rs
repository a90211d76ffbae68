//! Retention offers at cancellation (RT1): "never silently" — when a customer asks to cancel,
//! the brand answers at once with an offer that fits the reason they gave and the product
//! they cancel, which they can accept with one click on a signed page; the shop hears of
//! the acceptance by a signed webhook and carries it out.
//!
//! This module holds the rules (`[retention]` in `aftercare.toml`): the reasons a shop may
//! send, the offers with what they fit, and [`choose`], which picks the best-fitting one. The
//! engine stores the chosen offer and sends it; the web layer serves the accept page.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldError;
use crate::customer::Locale;
use crate::text;

/// Why a customer cancels, as the shop's cancellation form asks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancellationReason {
    /// It costs too much.
    Price,
    /// They hardly use it.
    NotUsing,
    /// More than they need (too many deliveries, too much product).
    TooMuch,
    /// The product disappointed them.
    Quality,
    /// A break: an injury, a holiday, a busy season.
    Temporary,
    /// They move away (out of the delivery area).
    Moving,
    /// Anything else, or not said.
    Other,
}

impl CancellationReason {
    /// The snake_case name, as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Price => "price",
            Self::NotUsing => "not_using",
            Self::TooMuch => "too_much",
            Self::Quality => "quality",
            Self::Temporary => "temporary",
            Self::Moving => "moving",
            Self::Other => "other",
        }
    }
}

/// What the shop does when the customer accepts; the webhook carries it with its
/// parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferKind {
    /// `percent` off for `months`.
    Discount,
    /// The subscription paused for `months`.
    Pause,
    /// A lighter plan: the shop's `plan`.
    Downgrade,
    /// A product free (`sku`), e.g. a replacement for what disappointed.
    Gift,
}

/// One offer in `[[retention.offers]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionOffer {
    /// Its name, told to the shop.
    pub id: String,
    /// The reasons it answers; empty means any reason.
    #[serde(default)]
    pub reasons: Vec<CancellationReason>,
    /// The product categories it fits; empty means any product (or none named).
    #[serde(default)]
    pub categories: Vec<String>,
    /// What the shop does.
    pub kind: OfferKind,
    /// Percent off (discount).
    #[serde(default)]
    pub percent: Option<u32>,
    /// For how many months (discount, pause).
    #[serde(default)]
    pub months: Option<u32>,
    /// The shop's lighter plan (downgrade).
    #[serde(default)]
    pub plan: Option<String>,
    /// The free product (gift).
    #[serde(default)]
    pub sku: Option<String>,
    /// The offer in a few words, per language or locale (`nl`, `nl-BE`, `en`, `fr`).
    pub title: BTreeMap<String, String>,
    /// What it means for the customer, per language or locale.
    pub description: BTreeMap<String, String>,
}

impl RetentionOffer {
    /// The text for `locale`: its own tag, then its language, then English, then any.
    pub fn text(map: &BTreeMap<String, String>, locale: Locale) -> &str {
        let language = locale.tag().split('-').next().unwrap_or_default();
        [locale.tag(), language, "en"]
            .iter()
            .find_map(|k| map.get(*k))
            .or_else(|| map.values().next())
            .map_or("", String::as_str)
    }

    /// The terms the shop carries out, as the webhook and the stored offer say them.
    pub fn terms(&self) -> serde_json::Value {
        let mut terms = serde_json::json!({"offer": self.id, "kind": self.kind});
        for (key, value) in [
            ("percent", self.percent.map(serde_json::Value::from)),
            ("months", self.months.map(serde_json::Value::from)),
            ("plan", self.plan.clone().map(serde_json::Value::from)),
            ("sku", self.sku.clone().map(serde_json::Value::from)),
        ] {
            if let Some(value) = value {
                terms[key] = value;
            }
        }
        terms
    }
}

/// `[retention]` in `aftercare.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// The `[webhooks]` target told of every accepted offer (`retention.offer_accepted`);
    /// without one, the acceptance is only on the customer's timeline and in the event
    /// `retention_offer_accepted`.
    pub webhook: Option<String>,
    /// How long an offer stands, in days.
    pub valid_days: u32,
    /// The offers, most specific first wins (see [`choose`]).
    pub offers: Vec<RetentionOffer>,
}

impl Default for RetentionConfig {
    /// The demo running shop's offers: half price for three months when it is the price, a
    /// pause for a break or little use, one delivery a quarter when it is too much, and for
    /// a disappointing product a free replacement that fits it. Moving away gets no offer.
    fn default() -> Self {
        let texts = |nl: &str, en: &str, fr: &str| {
            [("nl", nl), ("en", en), ("fr", fr)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let offer = |id: &str, reasons: &[CancellationReason], kind| RetentionOffer {
            id: id.into(),
            reasons: reasons.to_vec(),
            categories: Vec::new(),
            kind,
            percent: None,
            months: None,
            plan: None,
            sku: None,
            title: BTreeMap::new(),
            description: BTreeMap::new(),
        };
        use CancellationReason as R;
        Self {
            webhook: None,
            valid_days: 14,
            offers: vec![
                RetentionOffer {
                    percent: Some(50),
                    months: Some(3),
                    title: texts(
                        "Drie maanden voor de halve prijs",
                        "Three months at half price",
                        "Trois mois à moitié prix",
                    ),
                    description: texts(
                        "Het abonnement loopt gewoon door, de komende drie maanden met 50% korting. Daarna geldt weer de normale prijs, en opzeggen kan altijd.",
                        "The subscription simply continues, with 50% off for the next three months. After that the usual price applies again, and cancelling is always possible.",
                        "L'abonnement continue, avec 50 % de réduction pendant les trois prochains mois. Ensuite, le prix habituel s'applique à nouveau, et la résiliation reste possible à tout moment.",
                    ),
                    ..offer("half-price", &[R::Price], OfferKind::Discount)
                },
                RetentionOffer {
                    plan: Some("quarterly".into()),
                    title: texts(
                        "Eén levering per kwartaal",
                        "One delivery a quarter",
                        "Une livraison par trimestre",
                    ),
                    description: texts(
                        "In plaats van elke maand komt er voortaan één levering per kwartaal, voor een derde van de prijs.",
                        "Instead of every month, one delivery a quarter from now on, for a third of the price.",
                        "Au lieu de chaque mois, une livraison par trimestre désormais, pour un tiers du prix.",
                    ),
                    ..offer("quarterly", &[R::TooMuch], OfferKind::Downgrade)
                },
                RetentionOffer {
                    categories: vec![
                        "running-shoes".into(),
                        "trail-shoes".into(),
                        "racing-shoes".into(),
                    ],
                    sku: Some("LW-INSOLE".into()),
                    title: texts(
                        "Gratis loopanalyse en steunzolen",
                        "A free gait analysis and insoles",
                        "Analyse de foulée et semelles offertes",
                    ),
                    description: texts(
                        "In een van onze winkels kijken we gratis hoe de schoen loopt, en de Steunzolen Comfort krijgt het abonnement erbij cadeau.",
                        "In one of our stores we look at how the shoe runs, free of charge, and the subscription gets the Comfort insoles as a gift.",
                        "Dans l'un de nos magasins, nous analysons gratuitement la foulée avec la chaussure, et les semelles Comfort sont offertes avec l'abonnement.",
                    ),
                    ..offer("gait-check", &[R::Quality], OfferKind::Gift)
                },
                RetentionOffer {
                    categories: vec!["socks".into()],
                    sku: Some("LW-SOCK-3".into()),
                    title: texts(
                        "Een nieuw pakket sokken, gratis",
                        "A new pack of socks, free",
                        "Un nouveau lot de chaussettes, offert",
                    ),
                    description: texts(
                        "Het pakket Blaarvrije sokken dat tegenviel, vervangen we gratis door een nieuw.",
                        "The pack of blister-free socks that disappointed is replaced by a new one, free of charge.",
                        "Le lot de chaussettes anti-ampoules qui a déçu est remplacé gratuitement par un nouveau.",
                    ),
                    ..offer("sock-swap", &[R::Quality], OfferKind::Gift)
                },
                RetentionOffer {
                    months: Some(3),
                    title: texts(
                        "Drie maanden pauze",
                        "A three-month break",
                        "Trois mois de pause",
                    ),
                    description: texts(
                        "Het abonnement staat drie maanden stil: geen leveringen, geen kosten. Daarna loopt het vanzelf weer door.",
                        "The subscription rests for three months: no deliveries, no charges. After that it simply continues.",
                        "L'abonnement est suspendu trois mois : aucune livraison, aucun frais. Ensuite, il reprend tout seul.",
                    ),
                    ..offer(
                        "pause",
                        &[R::NotUsing, R::Temporary, R::Quality, R::Other],
                        OfferKind::Pause,
                    )
                },
            ],
        }
    }
}

impl RetentionConfig {
    /// Checks what serde cannot: every offer has its kind's parameters, texts in English
    /// at least, and a unique id. The error names the offer's field.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.valid_days == 0 || self.valid_days > 365 {
            return Err(FieldError::new(
                "retention.valid_days",
                "must be 1 to 365 days",
            ));
        }
        let mut ids = std::collections::HashSet::new();
        for (i, o) in self.offers.iter().enumerate() {
            let at = |field: &str| format!("retention.offers[{i}].{field}");
            text::required_line(&at("id"), &o.id, 64)?;
            if !ids.insert(o.id.as_str()) {
                return Err(FieldError::new(at("id"), format!("'{}' twice", o.id)));
            }
            let need = |field: &str, present: bool| {
                if present {
                    Ok(())
                } else {
                    Err(FieldError::new(
                        at(field),
                        format!("a {} offer needs it", serde_json::json!(o.kind)),
                    ))
                }
            };
            match o.kind {
                OfferKind::Discount => {
                    need("percent", o.percent.is_some_and(|p| (1..=100).contains(&p)))?;
                    need("months", o.months.is_some_and(|m| (1..=24).contains(&m)))?;
                }
                OfferKind::Pause => {
                    need("months", o.months.is_some_and(|m| (1..=24).contains(&m)))?
                }
                OfferKind::Downgrade => need("plan", o.plan.is_some())?,
                OfferKind::Gift => need("sku", o.sku.is_some())?,
            }
            for (field, map, max) in [
                ("title", &o.title, 120),
                ("description", &o.description, 1_000),
            ] {
                if !map.contains_key("en") {
                    return Err(FieldError::new(
                        at(field),
                        "needs an English text (`en`) for customers whose language has none",
                    ));
                }
                for (key, value) in map {
                    text::required_line(&format!("{}.{key}", at(field)), value, max)?;
                }
            }
        }
        Ok(())
    }
}

/// The offer that fits a cancellation best (RT1): of the offers that answer the reason (or
/// any reason) and fit the product's category (or any product), the one that fits the
/// product specifically, then the one that names the reason, then the first in the file.
/// `None` when nothing fits — then the customer gets no offer, not a wrong one.
pub fn choose<'a>(
    offers: &'a [RetentionOffer],
    reason: CancellationReason,
    category: Option<&str>,
) -> Option<&'a RetentionOffer> {
    offers
        .iter()
        .filter(|o| o.reasons.is_empty() || o.reasons.contains(&reason))
        .filter(|o| {
            o.categories.is_empty() || category.is_some_and(|c| o.categories.iter().any(|k| k == c))
        })
        .enumerate()
        .max_by_key(|(i, o)| {
            (
                !o.categories.is_empty(),
                !o.reasons.is_empty(),
                std::cmp::Reverse(*i),
            )
        })
        .map(|(_, o)| o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(reason: CancellationReason, category: Option<&str>) -> Option<String> {
        let config = RetentionConfig::default();
        choose(&config.offers, reason, category).map(|o| o.id.clone())
    }

    #[test]
    fn the_offer_fits_the_reason_rt1() {
        assert_eq!(
            pick(CancellationReason::Price, None).as_deref(),
            Some("half-price")
        );
        assert_eq!(
            pick(CancellationReason::TooMuch, None).as_deref(),
            Some("quarterly")
        );
        assert_eq!(
            pick(CancellationReason::Temporary, None).as_deref(),
            Some("pause")
        );
        assert_eq!(
            pick(CancellationReason::Moving, None),
            None,
            "no wrong offer"
        );
    }

    #[test]
    fn a_disappointing_product_gets_an_offer_for_that_product_rt1() {
        use CancellationReason::Quality;
        assert_eq!(
            pick(Quality, Some("running-shoes")).as_deref(),
            Some("gait-check")
        );
        assert_eq!(pick(Quality, Some("socks")).as_deref(), Some("sock-swap"));
        // A product no offer is made for falls back to the general one.
        assert_eq!(pick(Quality, Some("apparel")).as_deref(), Some("pause"));
        assert_eq!(pick(Quality, None).as_deref(), Some("pause"));
    }

    #[test]
    fn the_default_offers_are_valid_and_a_missing_parameter_is_named() {
        RetentionConfig::default().validate().unwrap();
        let mut config = RetentionConfig::default();
        config.offers[0].percent = None;
        let e = config.validate().unwrap_err();
        assert_eq!(e.field, "retention.offers[0].percent");
        let mut config = RetentionConfig::default();
        config.offers[1].title.remove("en");
        assert_eq!(
            config.validate().unwrap_err().field,
            "retention.offers[1].title"
        );
    }

    #[test]
    fn texts_fall_back_from_locale_to_language_to_english() {
        let o = &RetentionConfig::default().offers[0];
        assert_eq!(
            RetentionOffer::text(&o.title, Locale::NlBe),
            "Drie maanden voor de halve prijs"
        );
        assert_eq!(
            RetentionOffer::text(&o.title, Locale::FrBe),
            "Trois mois à moitié prix"
        );
        assert_eq!(
            RetentionOffer::text(&o.title, Locale::En),
            "Three months at half price"
        );
    }
}
