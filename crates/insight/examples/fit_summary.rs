//! Fits BG/NBD and Gamma-Gamma to a summary CSV (`frequency,recency,T,monetary_value`) and
//! prints the parameters and the seconds the fits took (reading excluded), as JSON: the
//! Aftercare side of `bench/clv/run.sh`.

use std::time::Instant;

use aftercare_insight::{BgNbd, GammaGamma, History};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: fit_summary FILE.csv");
    let text = std::fs::read_to_string(&path).expect("reading the summary");
    let histories: Vec<History> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<f64> = l
                .split(',')
                .map(|v| v.trim().parse().expect("a number"))
                .collect();
            History {
                frequency: f[0],
                recency: f[1],
                age: f[2],
                monetary: f[3],
            }
        })
        .collect();
    let started = Instant::now();
    let model = BgNbd::fit(&histories).expect("BG/NBD fit");
    let spend = GammaGamma::fit(&histories).expect("Gamma-Gamma fit");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"customers\": {}, \"bgnbd\": {{\"r\": {}, \"alpha\": {}, \"a\": {}, \"b\": {}, \"log_likelihood\": {}}}, \"gamma_gamma\": {{\"p\": {}, \"q\": {}, \"gamma\": {}}}, \"seconds\": {seconds}}}",
        histories.len(),
        model.r,
        model.alpha,
        model.a,
        model.b,
        model.log_likelihood,
        spend.p,
        spend.q,
        spend.gamma
    );
}
