//! "Bought this, also bought" (OF2): association rules between products from the orders'
//! baskets, with support, confidence and lift, and recommendations for a basket that leave
//! out what the customer already owns.
//!
//! For products A and B over N orders: support = orders with both / N; confidence(A→B) =
//! orders with both / orders with A; lift = confidence / (orders with B / N). A rule needs a
//! minimum number of orders with both (two by default: one order is a coincidence), a
//! minimum confidence and a lift of at least one (B is not less likely with A than without).
//!
//! Requirements: OF2.

use std::collections::{BTreeMap, HashSet};

use rustc_hash::FxHashMap;

use serde::Serialize;

/// A rule A → B.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// A: the product bought.
    pub antecedent: String,
    /// B: the product also bought.
    pub consequent: String,
    /// Orders with both.
    pub pair_orders: u64,
    /// Share of all orders with both.
    pub support: f64,
    /// Share of A's orders that also have B.
    pub confidence: f64,
    /// How much more likely B is with A than in general.
    pub lift: f64,
}

/// The least a rule must show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Minimums {
    /// Orders with both products.
    pub pair_orders: u64,
    /// Confidence.
    pub confidence: f64,
    /// Lift.
    pub lift: f64,
}

impl Default for Minimums {
    fn default() -> Self {
        Self {
            pair_orders: 2,
            confidence: 0.05,
            lift: 1.0,
        }
    }
}

/// Every rule meeting `min` over `baskets` (each the products of one order; repeats in a
/// basket count once), by antecedent, then lift, confidence and name. Pairs are counted in
/// a dense table when the catalogue is small (up to 2,048 products seen), else in a hash map.
pub fn rules<'a, S: AsRef<str> + 'a>(
    baskets: impl IntoIterator<Item = &'a [S]>,
    min: Minimums,
) -> Vec<Rule> {
    let mut ids: FxHashMap<&'a str, u32> = FxHashMap::default();
    let mut names: Vec<&'a str> = Vec::new();
    let mut single: Vec<u64> = Vec::new();
    // Baskets as product ids, kept for the second (pair-counting) pass.
    let mut flat: Vec<u32> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    for basket in baskets {
        let start = flat.len();
        for sku in basket {
            let sku = sku.as_ref();
            let id = *ids.entry(sku).or_insert_with(|| {
                names.push(sku);
                single.push(0);
                u32::try_from(names.len() - 1).unwrap_or(u32::MAX)
            });
            if !flat[start..].contains(&id) {
                flat.push(id);
                single[id as usize] += 1;
            }
        }
        ends.push(flat.len());
    }
    let orders = ends.len() as u64;
    let items = names.len();
    let mut pairs: FxHashMap<(u32, u32), u64> = FxHashMap::default();
    let mut dense: Vec<u32> = if items <= 2048 {
        vec![0; items * items]
    } else {
        Vec::new()
    };
    let mut start = 0;
    for &end in &ends {
        let basket = &flat[start..end];
        for (i, &a) in basket.iter().enumerate() {
            for &b in &basket[i + 1..] {
                let (lo, hi) = (a.min(b), a.max(b));
                if dense.is_empty() {
                    *pairs.entry((lo, hi)).or_default() += 1;
                } else {
                    dense[lo as usize * items + hi as usize] += 1;
                }
            }
        }
        start = end;
    }
    if !dense.is_empty() {
        for lo in 0..items {
            for hi in lo + 1..items {
                let both = dense[lo * items + hi];
                if both > 0 {
                    pairs.insert((lo as u32, hi as u32), u64::from(both));
                }
            }
        }
    }
    let n = orders.max(1) as f64;
    let mut out = Vec::new();
    for (&(a, b), &both) in &pairs {
        if both < min.pair_orders {
            continue;
        }
        for (x, y) in [(a, b), (b, a)] {
            let confidence = both as f64 / single[x as usize] as f64;
            let lift = confidence / (single[y as usize] as f64 / n);
            if confidence >= min.confidence && lift >= min.lift {
                out.push(Rule {
                    antecedent: names[x as usize].to_string(),
                    consequent: names[y as usize].to_string(),
                    pair_orders: both,
                    support: both as f64 / n,
                    confidence,
                    lift,
                });
            }
        }
    }
    out.sort_by(|p, q| {
        p.antecedent
            .cmp(&q.antecedent)
            .then(q.lift.total_cmp(&p.lift))
            .then(q.confidence.total_cmp(&p.confidence))
            .then(p.consequent.cmp(&q.consequent))
    });
    out
}

/// Up to `limit` products to recommend for a basket, best first, leaving out the basket and
/// what the customer owns. A product suggested by several basket items keeps its best rule.
pub fn recommend<'r>(
    rules: impl IntoIterator<Item = &'r Rule>,
    basket: &[&str],
    owned: &HashSet<String>,
    limit: usize,
) -> Vec<&'r Rule> {
    let mut best: BTreeMap<&str, &Rule> = BTreeMap::new();
    for rule in rules {
        if !basket.contains(&rule.antecedent.as_str())
            || basket.contains(&rule.consequent.as_str())
            || owned.contains(&rule.consequent)
        {
            continue;
        }
        let slot = best.entry(rule.consequent.as_str()).or_insert(rule);
        if (rule.lift, rule.confidence) > (slot.lift, slot.confidence) {
            *slot = rule;
        }
    }
    let mut ranked: Vec<&Rule> = best.into_values().collect();
    ranked.sort_by(|p, q| {
        q.lift
            .total_cmp(&p.lift)
            .then(q.confidence.total_cmp(&p.confidence))
            .then(p.consequent.cmp(&q.consequent))
    });
    ranked.truncate(limit);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baskets(list: &[&[&str]]) -> Vec<Vec<String>> {
        list.iter()
            .map(|b| b.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn support_confidence_and_lift_on_a_hand_checked_shop() {
        // 8 orders. Shoes in 5, socks in 4, both in 3; caps in 3, with shoes once.
        let data = baskets(&[
            &["shoe", "sock"],
            &["shoe", "sock"],
            &["shoe", "sock", "cap"],
            &["shoe"],
            &["shoe"],
            &["sock"],
            &["cap"],
            &["cap", "bottle"],
        ]);
        let r = rules(data.iter().map(Vec::as_slice), Minimums::default());
        let shoe_sock = r
            .iter()
            .find(|x| x.antecedent == "shoe" && x.consequent == "sock")
            .unwrap();
        assert_eq!(shoe_sock.pair_orders, 3);
        assert!((shoe_sock.support - 3.0 / 8.0).abs() < 1e-12);
        assert!((shoe_sock.confidence - 3.0 / 5.0).abs() < 1e-12);
        assert!(
            (shoe_sock.lift - (3.0 / 5.0) / (4.0 / 8.0)).abs() < 1e-12,
            "1.2"
        );
        let sock_shoe = r
            .iter()
            .find(|x| x.antecedent == "sock" && x.consequent == "shoe")
            .unwrap();
        assert!((sock_shoe.confidence - 0.75).abs() < 1e-12);
        // shoe & cap together once: below the two-order minimum; cap & bottle likewise.
        assert!(
            !r.iter()
                .any(|x| x.consequent == "cap" || x.consequent == "bottle")
        );
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn recommendations_leave_out_the_basket_and_what_is_owned() {
        let data = baskets(&[
            &["shoe", "sock", "cap"],
            &["shoe", "sock", "cap"],
            &["shoe", "cap"],
            &["sock"],
        ]);
        let r = rules(data.iter().map(Vec::as_slice), Minimums::default());
        let none = HashSet::new();
        let recs: Vec<&str> = recommend(&r, &["shoe"], &none, 5)
            .iter()
            .map(|x| x.consequent.as_str())
            .collect();
        // shoe→cap: confidence 3/3, lift 4/3. shoe→sock: confidence 2/3, lift 8/9 — socks
        // are *less* likely with shoes than without, so they are not suggested.
        assert_eq!(recs, vec!["cap"]);
        let owned: HashSet<String> = ["cap".to_string()].into();
        assert!(
            recommend(&r, &["shoe"], &owned, 5).is_empty(),
            "owned things are not suggested"
        );
        // sock→cap and sock→shoe: confidence 2/3 against 3/4 in general, lift 8/9.
        assert!(recommend(&r, &["sock"], &none, 5).is_empty());
    }
}
