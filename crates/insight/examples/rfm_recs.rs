//! RFM scores and "also bought" rules over an order-lines CSV
//! (`order,customer,day,sku,amount`, lines of one order together): the Aftercare side of
//! `bench/insight/run.sh`. Reading the file is not timed; aggregating, scoring and rule
//! mining are. Prints JSON.

use rustc_hash::FxHashMap;
use std::time::Instant;

use aftercare_insight::recs::{self, Minimums};
use aftercare_insight::rfm::{self, RfmInput};

fn main() {
    let path = std::env::args().nth(1).expect("usage: rfm_recs FILE.csv");
    let text = std::fs::read_to_string(&path).expect("reading the order lines");
    let mut lines: Vec<(u64, u64, i64, String, f64)> = Vec::new();
    for l in text.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        lines.push((
            f[0].parse().expect("order"),
            f[1].parse().expect("customer"),
            f[2].parse().expect("day"),
            f[3].to_string(),
            f[4].parse().expect("amount"),
        ));
    }
    let as_of = lines.iter().map(|l| l.2).max().unwrap_or(0);

    let started = Instant::now();
    // Per customer: last day, orders (lines of an order are adjacent), spend.
    let mut per: FxHashMap<u64, (i64, f64, f64)> = FxHashMap::default();
    let mut last_order = None;
    for (order, customer, day, _, amount) in &lines {
        let e = per.entry(*customer).or_insert((*day, 0.0, 0.0));
        e.0 = e.0.max(*day);
        e.2 += amount;
        if last_order != Some(*order) {
            e.1 += 1.0;
            last_order = Some(*order);
        }
    }
    let inputs: Vec<RfmInput> = per
        .values()
        .map(|(last, frequency, monetary)| RfmInput {
            recency_days: (as_of - last) as f64,
            frequency: *frequency,
            monetary: *monetary,
        })
        .collect();
    let scores = rfm::score(&inputs);
    let rfm_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut baskets: Vec<Vec<&str>> = Vec::new();
    let mut current = None;
    for (order, _, _, sku, _) in &lines {
        if current != Some(*order) {
            baskets.push(Vec::new());
            current = Some(*order);
        }
        if let Some(b) = baskets.last_mut() {
            b.push(sku.as_str());
        }
    }
    let rules = recs::rules(baskets.iter().map(Vec::as_slice), Minimums::default());
    let recs_seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"customers\": {}, \"rules\": {}, \"rfm_seconds\": {rfm_seconds}, \"recs_seconds\": {recs_seconds}}}",
        scores.len(),
        rules.len()
    );
}
