//! Server-rendered SVG charts for the dashboards and the simulator, drawn with plotters'
//! SVG backend: a histogram with a highlighted band (contacts per customer against FR1's
//! band), horizontal bars (RFM segments), and estimates with their 95% intervals (uplift
//! per programme, the Pulse gap per driver). Each chart is an inline `<svg role="img">`
//! with a `<title>`; the page shows the same numbers in a table beside it, so nothing is
//! only in the picture.

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::prelude::*;

/// The admin UI's colours.
const INK: RGBColor = RGBColor(0x1f, 0x2a, 0x37);
const ACCENT: RGBColor = RGBColor(0x2f, 0x5d, 0x8a);
const GOOD: RGBColor = RGBColor(0x2e, 0x7d, 0x32);
const BAD: RGBColor = RGBColor(0xb2, 0x3b, 0x3b);
const MUTED: RGBColor = RGBColor(0x8a, 0x94, 0xa0);
const BAND: RGBColor = RGBColor(0xe3, 0xf1, 0xe4);

/// Where a histogram's bar stands against the band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Below the band.
    Below,
    /// Inside it.
    Inside,
    /// Above it.
    Above,
}

/// The width of every chart (its `viewBox`; the page scales it).
const WIDTH: u32 = 720;

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&INK)
}

/// Draws into an SVG string of `height` and makes it accessible.
fn svg(
    title: &str,
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> String {
    let mut out = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        draw(&root).and_then(|()| root.present().map_err(|e| e.to_string()))
    };
    if let Err(e) = drawn {
        tracing::warn!(chart = title, error = %e, "chart not drawn");
        return String::new();
    }
    let title = escape(title);
    out.replacen(
        "<svg ",
        &format!("<svg class=\"chart\" role=\"img\" aria-label=\"{title}\" "),
        1,
    )
    .replacen('>', &format!("><title>{title}</title>"), 1)
}

/// A chart's text as it goes inside the SVG's markup (minijinja's HTML escaping, the same
/// the pages' templates use).
fn escape(s: &str) -> String {
    minijinja::HtmlEscape(s).to_string()
}

/// A vertical histogram: one bar per `(label, count)`, coloured by its [`Mark`], with the
/// band's bars on a shaded background.
pub fn histogram(title: &str, x_desc: &str, y_desc: &str, bars: &[(String, i64, Mark)]) -> String {
    let n = bars.len().max(1);
    let top = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let top = top + top / 10 + 1;
    svg(title, 300, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d((0..n).into_segmented(), 0..top)
            .map_err(|e| e.to_string())?;
        let band: Vec<usize> = (0..bars.len())
            .filter(|i| bars[*i].2 == Mark::Inside)
            .collect();
        if let (Some(first), Some(last)) = (band.first(), band.last()) {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [
                        (SegmentValue::Exact(*first), 0),
                        (SegmentValue::Exact(*last + 1), top),
                    ],
                    BAND.filled(),
                )))
                .map_err(|e| e.to_string())?;
        }
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(MUTED.mix(0.3))
            .x_labels(n)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style(font(14))
            .axis_desc_style(font(14))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, count, mark))| {
                let colour = match mark {
                    Mark::Below => MUTED,
                    Mark::Inside => GOOD,
                    Mark::Above => BAD,
                };
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0),
                        (SegmentValue::Exact(i + 1), *count),
                    ],
                    colour.filled(),
                );
                bar.set_margin(0, 0, 4, 4);
                bar
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// A chart with one row per label (top to bottom) and a value axis across, its mesh drawn.
type RowsChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, SegmentedCoord<RangedCoordusize>>>;

fn rows_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    label_width: u32,
    range: std::ops::Range<f64>,
    labels: &[String],
    x_desc: &str,
    x_format: &dyn Fn(&f64) -> String,
) -> Result<RowsChart<'a, 'b>, String> {
    let n = labels.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(label_width)
        .build_cartesian_2d(range, (0..n).into_segmented())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .bold_line_style(MUTED.mix(0.3))
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_labels(6)
        .x_label_formatter(x_format)
        .x_desc(x_desc)
        .label_style(font(14))
        .axis_desc_style(font(14))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// Horizontal bars, one per `(label, value)`, with the value printed after each bar.
pub fn bars(title: &str, x_desc: &str, rows: &[(String, f64)]) -> String {
    // The axis runs upwards; the first row belongs on top.
    let rows: Vec<(String, f64)> = rows.iter().rev().cloned().collect();
    let n = rows.len().max(1);
    // At least 5, so small counts do not get ticks at 0.2, 0.4, …
    let top = (rows.iter().map(|r| r.1).fold(0.0_f64, f64::max) * 1.15).max(5.0);
    let height = 70 + 32 * u32::try_from(n).unwrap_or(20);
    svg(title, height, |root| {
        let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        let mut chart = rows_chart(root, 150, 0.0..top, &labels, x_desc, &|v| number(*v))?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, (_, v))| {
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (*v, SegmentValue::Exact(i + 1)),
                    ],
                    ACCENT.filled(),
                );
                bar.set_margin(5, 5, 0, 0);
                bar
            }))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, (_, v))| {
                Text::new(
                    format!(" {}", number(*v)),
                    (*v, SegmentValue::CenterOf(i)),
                    font(14).pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Left,
                        plotters::style::text_anchor::VPos::Center,
                    )),
                )
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// One estimate with its 95% interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// What it is about.
    pub label: String,
    /// The estimate.
    pub value: f64,
    /// The interval, when there are enough answers for one.
    pub interval: Option<(f64, f64)>,
}

/// Estimates as dots with their intervals as whiskers, around a line at zero: green when the
/// whole interval is above zero, red when below, grey when it includes zero.
pub fn intervals(title: &str, x_desc: &str, rows: &[Estimate]) -> String {
    // The axis runs upwards; the first row belongs on top.
    let rows: Vec<Estimate> = rows.iter().rev().cloned().collect();
    let n = rows.len().max(1);
    let (mut lo, mut hi) = (0.0_f64, 0.0_f64);
    for r in &rows {
        let (a, b) = r.interval.unwrap_or((r.value, r.value));
        lo = lo.min(a).min(r.value);
        hi = hi.max(b).max(r.value);
    }
    let pad = ((hi - lo) * 0.1).max(0.5);
    let height = 90 + 34 * u32::try_from(n).unwrap_or(20);
    svg(title, height, |root| {
        let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
        let mut chart = rows_chart(root, 170, (lo - pad)..(hi + pad), &labels, x_desc, &|v| {
            format!("{v:+.1}")
        })?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, SegmentValue::Exact(0)), (0.0, SegmentValue::Exact(n))],
                INK.stroke_width(1),
            )))
            .map_err(|e| e.to_string())?;
        for (i, r) in rows.iter().enumerate() {
            let colour = match r.interval {
                Some((a, _)) if a > 0.0 => GOOD,
                Some((_, b)) if b < 0.0 => BAD,
                _ => MUTED,
            };
            if let Some((a, b)) = r.interval {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![
                            (a, SegmentValue::CenterOf(i)),
                            (b, SegmentValue::CenterOf(i)),
                        ],
                        colour.stroke_width(3),
                    )))
                    .map_err(|e| e.to_string())?;
            }
            chart
                .draw_series(std::iter::once(Circle::new(
                    (r.value, SegmentValue::CenterOf(i)),
                    6,
                    colour.filled(),
                )))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// A number as a person reads it: whole when large, two decimals when small.
fn number(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_accessible_inline_svg_with_escaped_labels() {
        let svg = bars(
            "Segments & <friends>",
            "customers",
            &[("champions".into(), 12.0), ("<b>".into(), 3.0)],
        );
        assert!(
            svg.starts_with(
                "<svg class=\"chart\" role=\"img\" aria-label=\"Segments &amp; &lt;friends&gt;\""
            ),
            "{svg}"
        );
        assert!(svg.contains("<title>Segments &amp; &lt;friends&gt;</title>"));
        assert!(svg.contains("viewBox"));
        assert!(svg.contains("champions") && svg.contains("&lt;b&gt;"));
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn histogram_bars_are_coloured_by_their_place_against_the_band() {
        let svg = histogram(
            "Contacts",
            "contacts",
            "customers",
            &[
                ("0".into(), 4, Mark::Below),
                ("8".into(), 9, Mark::Inside),
                ("12".into(), 1, Mark::Above),
            ],
        );
        for colour in ["#8A94A0", "#2E7D32", "#B23B3B", "#E3F1E4"] {
            assert!(svg.to_uppercase().contains(colour), "{colour} in {svg}");
        }
    }

    #[test]
    fn an_interval_wholly_above_zero_is_green_and_one_across_zero_grey() {
        let svg = intervals(
            "Uplift",
            "points",
            &[
                Estimate {
                    label: "win-back".into(),
                    value: 4.0,
                    interval: Some((1.0, 7.0)),
                },
                Estimate {
                    label: "tips".into(),
                    value: 0.5,
                    interval: Some((-2.0, 3.0)),
                },
            ],
        )
        .to_uppercase();
        assert!(svg.contains("#2E7D32") && svg.contains("#8A94A0"), "{svg}");
        assert!(!svg.contains("#B23B3B"));
    }
}
