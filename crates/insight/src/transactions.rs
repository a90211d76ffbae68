//! Transactions in, purchase histories out: reads a CSV file (`customer,date,amount`, a
//! header line optional) or the CDNOW text format, and summarises each customer at the end
//! of a calibration period the way the buy-till-you-die literature does: purchases on the
//! same day count as one, `frequency` is the number of purchase days after the first,
//! `recency` and `age` are in weeks from the first purchase, and `monetary` is the mean
//! value of the repeat purchase days.

use std::collections::BTreeMap;

use jiff::civil::Date;

use crate::clv::History;

/// One purchase.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// The customer.
    pub customer: String,
    /// The day.
    pub date: Date,
    /// The amount.
    pub amount: f64,
}

/// A line that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub reason: String,
}

fn date(s: &str, line: usize) -> Result<Date, ParseError> {
    let s = s.trim();
    let parsed = if s.len() == 8 && s.chars().all(|c| c.is_ascii_digit()) {
        Date::strptime("%Y%m%d", s)
    } else {
        s.parse::<Date>()
    };
    parsed.map_err(|e| ParseError {
        line,
        reason: format!("'{s}' is not a date (YYYY-MM-DD or YYYYMMDD): {e}"),
    })
}

fn amount(s: &str, line: usize) -> Result<f64, ParseError> {
    let s = s.trim();
    s.parse::<f64>()
        .ok()
        .filter(|a| a.is_finite() && *a >= 0.0)
        .ok_or_else(|| ParseError {
            line,
            reason: format!("'{s}' is not an amount of zero or more"),
        })
}

/// Reads transactions: CSV with `customer,date,amount` (a header line is skipped), the
/// CDNOW master format (`id date cds value`, header line) or the CDNOW sample format
/// (`master-id sample-id date cds value`, keyed by the sample id).
pub fn parse(text: &str) -> Result<Vec<Transaction>, ParseError> {
    let mut out = Vec::new();
    for row in rows(text) {
        let (line, fields) = row?;
        let (customer, day, value) = match fields.as_slice() {
            [c, d, a] => (c, d, a),
            [c, d, _cds, a] => (c, d, a),
            // The sample's own id (1–2357) is the one the published summaries use.
            [_master, sample, d, _cds, a] => (sample, d, a),
            _ => {
                return Err(ParseError {
                    line,
                    reason: format!(
                        "expected customer, date and amount; found {} field(s)",
                        fields.len()
                    ),
                });
            }
        };
        // A header: the date column is not a date.
        if line == 1 && date(day, line).is_err() {
            continue;
        }
        out.push(Transaction {
            customer: customer.to_string(),
            date: date(day, line)?,
            amount: amount(value, line)?,
        });
    }
    Ok(out)
}

/// A row's line number and fields.
type Row = (usize, Vec<String>);

/// The non-empty rows of `text` with their line numbers: CSV (read by the `csv` crate, so a
/// quoted field may hold a comma) when the first row has a comma, else fields separated by
/// white space (the CDNOW files).
fn rows(text: &str) -> Box<dyn Iterator<Item = Result<Row, ParseError>> + '_> {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if first.contains(',') {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        Box::new(reader.into_records().filter_map(|record| match record {
            Ok(r) if r.iter().all(str::is_empty) => None,
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line() as usize);
                Some(Ok((line, r.iter().map(str::to_string).collect())))
            }
            Err(e) => Some(Err(ParseError {
                line: e.position().map_or(0, |p| p.line() as usize),
                reason: e.to_string(),
            })),
        }))
    } else {
        Box::new(text.lines().enumerate().filter_map(|(i, raw)| {
            let fields: Vec<String> = raw.split_whitespace().map(str::to_string).collect();
            (!fields.is_empty()).then_some(Ok((i + 1, fields)))
        }))
    }
}

/// Each customer's history at the end of `calibration_end` (inclusive), in weeks; customers
/// whose first purchase is after it are left out. Sorted by customer.
pub fn summarise(transactions: &[Transaction], calibration_end: Date) -> Vec<(String, History)> {
    let mut days: BTreeMap<&str, BTreeMap<Date, f64>> = BTreeMap::new();
    for t in transactions.iter().filter(|t| t.date <= calibration_end) {
        *days
            .entry(t.customer.as_str())
            .or_default()
            .entry(t.date)
            .or_default() += t.amount;
    }
    let weeks = |from: Date, to: Date| (to - from).get_days() as f64 / 7.0;
    days.into_iter()
        .filter_map(|(customer, by_day)| {
            let (&first, _) = by_day.iter().next()?;
            let (&last, _) = by_day.iter().next_back()?;
            let repeats: Vec<f64> = by_day.values().skip(1).copied().collect();
            let frequency = repeats.len() as f64;
            let monetary = if repeats.is_empty() {
                0.0
            } else {
                repeats.iter().sum::<f64>() / frequency
            };
            Some((
                customer.to_string(),
                History {
                    frequency,
                    recency: weeks(first, last),
                    age: weeks(first, calibration_end),
                    monetary,
                },
            ))
        })
        .collect()
}

/// Fuzz target for the transactions file (issue 19): arbitrary text and valid files with
/// random edits are read into transactions or refused with the line — never a panic, and
/// never more transactions than lines. `PROPTEST_CASES=…` runs it longer.
#[cfg(test)]
mod csv_tests {
    #[test]
    fn a_quoted_customer_may_hold_a_comma_and_a_header_is_skipped() {
        let text = "customer,date,amount\n\"Doe, J\",2026-01-02,19.95\nC2 , 20260103 , 5\n";
        let found = super::parse(text).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].customer, "Doe, J");
        assert_eq!(found[1].customer, "C2");
        assert_eq!(found[1].amount, 5.0);
        let e = super::parse("c,d,a\nC1,2026-01-02,-3\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    const CSV: &str = "customer,date,amount\nC1,2026-01-02,19.95\nC2,20260103,5\nC1,2026-02-01,0\n";
    const CDNOW: &str = "00001 19970101 1 11.77\n00002 19970112 1 12.00\n00002 19970112 5 77.00\n";

    proptest! {
        #[test]
        fn transaction_files_never_panic(text in prop_oneof![
            (prop::sample::select(vec![CSV, CDNOW]), prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 0..8))
                .prop_map(|(seed, edits)| {
                    let mut chars: Vec<char> = seed.chars().collect();
                    for (at, c) in edits {
                        let i = at.index(chars.len());
                        chars[i] = c;
                    }
                    chars.into_iter().collect::<String>()
                }),
            "[ -~\n]{0,300}",
        ]) {
            if let Ok(found) = super::parse(&text) {
                prop_assert!(found.len() <= text.lines().count());
            }
        }
    }
}
