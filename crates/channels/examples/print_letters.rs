//! Benchmark helper: `print_letters N` lays out N letters (the same one-page letter with a
//! different name and reference each) into one print PDF and prints JSON with the time
//! taken. `bench/print/run.sh` runs it beside Python's reportlab doing the same.

use std::time::Instant;

use aftercare_channels::letter::{Letter, Letterhead, pdf};

// The same allocator as the `aftercare` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BODY: &str = "Beste {name},\n\nOnlangs ging er iets mis met je bestelling. Je klacht is opgelost, maar we wilden het niet bij een e-mail laten: bij deze kaart zit een reep chocola, met onze excuses.\n\nBedankt dat je het ons liet weten. Zo worden we beter, en hopen we je nog vaak te zien.\n\nSportieve groet,\nTeam Loopwerk";

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let out = std::env::args().nth(2);
    let head = Letterhead {
        brand: "Loopwerk".into(),
        colour: (0x0b, 0x5d, 0x4b),
        return_address: "Loopwerk · Postbus 1234 · 1000 AB Amsterdam".into(),
        footer: "loopwerk.nl · 020 123 45 67 · klantenservice@loopwerk.nl".into(),
    };
    let letters: Vec<Letter> = (0..n)
        .map(|i| {
            let name = format!("Klant {i}");
            Letter {
                reference: i.to_string(),
                address: vec![
                    name.clone(),
                    format!("Kerkstraat {}", i % 300 + 1),
                    "1012 AB  AMSTERDAM".into(),
                ],
                date_line: "Amsterdam, 27 november 2026".into(),
                subject: "Sorry, en bedankt".into(),
                body: BODY.replace("{name}", &name),
            }
        })
        .collect();
    let started = Instant::now();
    let bytes = pdf(&letters, &head).expect("the batch renders");
    let seconds = started.elapsed().as_secs_f64();
    if let Some(path) = out {
        std::fs::write(path, &bytes).expect("writing the PDF");
    }
    println!(
        "{{\"letters\": {n}, \"bytes\": {}, \"seconds\": {seconds:.4}}}",
        bytes.len()
    );
}
