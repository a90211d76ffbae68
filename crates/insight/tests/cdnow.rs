//! The published CDNOW results (Fader, Hardie & Lee 2005; Fader & Hardie 2013), reproduced
//! on the 1-in-10 sample with a 39-week calibration period (WB1, RT2).

use aftercare_insight::transactions::{parse, summarise};
use aftercare_insight::{BgNbd, GammaGamma, History};

/// Rounds to three significant figures.
fn sig3(x: f64) -> f64 {
    let magnitude = 10f64.powi(2 - x.abs().log10().floor() as i32);
    (x * magnitude).round() / magnitude
}

fn published_summary() -> Vec<History> {
    include_str!("data/cdnow_customers_summary_with_transactions.csv")
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<f64> = l.split(',').map(|v| v.parse().unwrap()).collect();
            History {
                frequency: f[1],
                recency: f[2],
                age: f[3],
                monetary: f[4],
            }
        })
        .collect()
}

#[test]
fn bgnbd_on_the_cdnow_sample_matches_the_published_parameters() {
    let m = BgNbd::fit(&published_summary()).unwrap();
    assert_eq!(sig3(m.r), 0.243, "{m:?}");
    assert_eq!(sig3(m.alpha), 4.41, "{m:?}");
    assert_eq!(sig3(m.a), 0.793, "{m:?}");
    assert_eq!(sig3(m.b), 2.43, "{m:?}");
    assert_eq!(sig3(m.log_likelihood), -9580.0, "{m:?}");
    assert!((m.log_likelihood - -9582.4).abs() < 0.1, "{m:?}");
}

#[test]
fn conditional_expectation_matches_the_published_example() {
    let m = BgNbd::fit(&published_summary()).unwrap();
    let h = History {
        frequency: 2.0,
        recency: 30.43,
        age: 38.86,
        monetary: 0.0,
    };
    let e = m.expected_purchases(&h, 39.0);
    assert!((e - 1.226).abs() < 0.0015, "{e}");
    let alive = m.p_alive(&h);
    assert!(alive > 0.0 && alive < 1.0);
}

#[test]
fn gamma_gamma_on_the_cdnow_sample_matches_the_published_parameters() {
    let m = GammaGamma::fit(&published_summary()).unwrap();
    assert_eq!(sig3(m.p), 6.25, "{m:?}");
    assert_eq!(sig3(m.q), 3.74, "{m:?}");
    assert_eq!(sig3(m.gamma), 15.4, "{m:?}");
    assert!((m.log_likelihood - -4055.9).abs() < 1.0, "{m:?}");
}

#[test]
fn summarising_the_raw_cdnow_sample_gives_the_published_summary() {
    let transactions = parse(include_str!("data/CDNOW_sample.txt")).unwrap();
    assert_eq!(transactions.len(), 6919);
    let end = jiff::civil::date(1997, 9, 30);
    let ours = summarise(&transactions, end);
    let published = published_summary();
    assert_eq!(ours.len(), published.len());
    // The published file lists customers by sample id.
    for ((id, h), p) in ours.iter().zip(&published) {
        assert_eq!(h.frequency, p.frequency, "{id}");
        assert!(
            (h.recency - p.recency).abs() < 0.006,
            "{id}: {h:?} vs {p:?}"
        );
        assert!((h.age - p.age).abs() < 0.006, "{id}: {h:?} vs {p:?}");
        assert!(
            (h.monetary - p.monetary).abs() < 0.006,
            "{id}: {h:?} vs {p:?}"
        );
    }
}
