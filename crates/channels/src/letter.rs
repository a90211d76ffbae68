//! Letters for the print partner: one A4 page per letter in one PDF (krilla, with DejaVu Sans
//! embedded and subset), an address file (CSV) and their checksums for the manifest.
//!
//! The page follows DIN 5008 form B, which Dutch and Belgian window envelopes (DL and C5/6,
//! window on the left) are made for: the window shows the area 20–105 mm from the left and
//! 45–90 mm from the top; a small return-address line sits at its top and the address block
//! below it. The brand's name is set as a wordmark in its colour at the top right; the date
//! line, subject and text follow, then the brand's footer. Each line is shaped once with
//! rustybuzz (kerning included) and its glyphs drawn as shaped; text is wrapped with the
//! shaped widths of its words, so lines never run into the margin. A letter that does not fit
//! on one page is refused with the reason, so a batch is always one sheet per envelope.
//!
//! Requirements: CH1 (the letterbox as a channel), SU1/CM1 (the cards that arrive by post).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, GlyphId, KrillaGlyph};
use sha2::{Digest, Sha256};

const REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// Points per millimetre.
const MM: f32 = 72.0 / 25.4;
/// A4 in points.
const PAGE: (f32, f32) = (210.0 * MM, 297.0 * MM);
/// The envelope window, in millimetres from the page's top left: (left, top, right, bottom).
pub const WINDOW_MM: (f32, f32, f32, f32) = (20.0, 45.0, 105.0, 90.0);
/// The text column: left and right margins in millimetres.
const COLUMN_MM: (f32, f32) = (25.0, 190.0);
/// The body may run down to here (mm from the top); the footer sits below.
const BODY_BOTTOM_MM: f32 = 270.0;
const BODY_SIZE: f32 = 10.5;
const LINE: f32 = 14.5;

/// One letter as the customer will read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    /// A short reference printed in the footer (e.g. the message id) for the print partner.
    pub reference: String,
    /// The address block, one line each (name, street, postcode and city, country).
    pub address: Vec<String>,
    /// "Amsterdam, 27 november 2026".
    pub date_line: String,
    /// Set in bold above the text.
    pub subject: String,
    /// The text; blank lines separate paragraphs.
    pub body: String,
}

/// The brand's side of every page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letterhead {
    /// The brand's name, set as a wordmark.
    pub brand: String,
    /// The wordmark's colour.
    pub colour: (u8, u8, u8),
    /// The return address line inside the window, above the address.
    pub return_address: String,
    /// The footer line (web shop, customer service).
    pub footer: String,
}

/// Why a letter or batch could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LetterError {
    /// The letter needs more than one page.
    #[error(
        "letter {reference}: the text needs {lines} lines, one page holds {fits}; shorten the template"
    )]
    TooLong {
        /// The letter.
        reference: String,
        /// Lines needed.
        lines: usize,
        /// Lines that fit.
        fits: usize,
    },
    /// The address block does not fit the window.
    #[error("letter {0}: the address has more lines than the envelope window holds")]
    AddressTooLong(String),
    /// The PDF or CSV could not be written.
    #[error("writing the batch: {0}")]
    Write(String),
}

/// One embedded font, parsed once: shapes text into glyphs and measures it.
struct Shaper {
    face: rustybuzz::Face<'static>,
    /// Compiled once: compiling a plan per line is most of the cost of shaping.
    plan: rustybuzz::ShapePlan,
    font: Font,
    units_per_em: f32,
    /// Letters of a batch share most of their text: each word's width and each line's
    /// glyphs are shaped once per batch.
    widths: RefCell<HashMap<String, f32>>,
    lines: RefCell<HashMap<String, Rc<[KrillaGlyph]>>>,
}

impl Shaper {
    fn new(bytes: &'static [u8]) -> Result<Self, LetterError> {
        let face = rustybuzz::Face::from_slice(bytes, 0)
            .ok_or_else(|| LetterError::Write("the embedded font does not parse".into()))?;
        let font = Font::new(bytes.into(), 0)
            .ok_or_else(|| LetterError::Write("the embedded font does not load".into()))?;
        let units_per_em = face.units_per_em() as f32;
        let plan = rustybuzz::ShapePlan::new(
            &face,
            rustybuzz::Direction::LeftToRight,
            Some(rustybuzz::script::LATIN),
            None,
            &[],
        );
        Ok(Self {
            face,
            plan,
            font,
            units_per_em,
            widths: RefCell::default(),
            lines: RefCell::default(),
        })
    }

    /// Shapes `text` as Latin, left to right, with the compiled plan.
    fn shape(&self, text: &str) -> rustybuzz::GlyphBuffer {
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.set_direction(rustybuzz::Direction::LeftToRight);
        buffer.set_script(rustybuzz::script::LATIN);
        rustybuzz::shape_with_plan(&self.face, &self.plan, buffer)
    }

    /// `text` shaped left to right, advances in em (remembered for the batch).
    fn glyphs(&self, text: &str) -> Rc<[KrillaGlyph]> {
        if let Some(glyphs) = self.lines.borrow().get(text) {
            return glyphs.clone();
        }
        let glyphs: Rc<[KrillaGlyph]> = self.shape_glyphs(text).into();
        self.lines
            .borrow_mut()
            .insert(text.to_string(), glyphs.clone());
        glyphs
    }

    fn shape_glyphs(&self, text: &str) -> Vec<KrillaGlyph> {
        let output = self.shape(text);
        let (infos, positions) = (output.glyph_infos(), output.glyph_positions());
        let em = self.units_per_em;
        (0..infos.len())
            .map(|i| {
                let start = infos[i].cluster as usize;
                let end = infos[i + 1..]
                    .iter()
                    .find(|next| next.cluster != infos[i].cluster)
                    .map_or(text.len(), |next| next.cluster as usize);
                let p = positions[i];
                KrillaGlyph::new(
                    GlyphId::new(infos[i].glyph_id),
                    p.x_advance as f32 / em,
                    p.x_offset as f32 / em,
                    p.y_offset as f32 / em,
                    p.y_advance as f32 / em,
                    start..end,
                    None,
                )
            })
            .collect()
    }

    /// The width of `text` at `size` points (remembered for the batch).
    fn width(&self, text: &str, size: f32) -> f32 {
        let em = self.widths.borrow().get(text).copied();
        let em = em.unwrap_or_else(|| {
            let output = self.shape(text);
            let units: i32 = output.glyph_positions().iter().map(|p| p.x_advance).sum();
            let em = units as f32 / self.units_per_em;
            self.widths.borrow_mut().insert(text.to_string(), em);
            em
        });
        em * size
    }
}

/// Greedy word wrap of one paragraph to `max` points, by the shaped width of each word.
fn wrap(paragraph: &str, shaper: &Shaper, size: f32, max: f32) -> Vec<String> {
    let space = shaper.width(" ", size);
    let mut lines = Vec::new();
    let (mut line, mut width) = (String::new(), 0.0_f32);
    for word in paragraph.split_whitespace() {
        let w = shaper.width(word, size);
        if line.is_empty() {
            (line, width) = (word.to_string(), w);
        } else if width + space + w <= max {
            line.push(' ');
            line.push_str(word);
            width += space + w;
        } else {
            lines.push(std::mem::replace(&mut line, word.to_string()));
            width = w;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The body's lines as they will be printed (`None` for a paragraph break).
fn body_lines(letter: &Letter, shaper: &Shaper) -> Vec<Option<String>> {
    let max = (COLUMN_MM.1 - COLUMN_MM.0) * MM;
    let mut out = Vec::new();
    for (i, paragraph) in letter.body.split("\n\n").enumerate() {
        if i > 0 {
            out.push(None);
        }
        for raw in paragraph.lines() {
            out.extend(wrap(raw, shaper, BODY_SIZE, max).into_iter().map(Some));
        }
    }
    out
}

/// Where the body starts (mm from the top) and how many lines fit below it.
fn body_room() -> (f32, usize) {
    let top = 122.0;
    let fits = ((BODY_BOTTOM_MM - top) * MM / LINE).floor() as usize;
    (top, fits)
}

/// Checks that a letter fits its page and its window; the same check the batch makes.
pub fn check(letter: &Letter) -> Result<(), LetterError> {
    fits(letter, &Shaper::new(REGULAR)?).map(|_| ())
}

/// The letter's body lines when it fits its page and window.
fn fits(letter: &Letter, shaper: &Shaper) -> Result<Vec<Option<String>>, LetterError> {
    if letter.address.len() > 6 {
        return Err(LetterError::AddressTooLong(letter.reference.clone()));
    }
    let lines = body_lines(letter, shaper);
    let (_, fits) = body_room();
    if lines.len() > fits {
        return Err(LetterError::TooLong {
            reference: letter.reference.clone(),
            lines: lines.len(),
            fits,
        });
    }
    Ok(lines)
}

fn fill(colour: (u8, u8, u8)) -> Fill {
    Fill {
        paint: rgb::Color::new(colour.0, colour.1, colour.2).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

/// The batch's PDF: one page per letter, in order.
pub fn pdf(letters: &[Letter], head: &Letterhead) -> Result<Vec<u8>, LetterError> {
    let regular = Shaper::new(REGULAR)?;
    let bold = Shaper::new(BOLD)?;
    let ink = (0x1d, 0x1d, 0x1b);
    let mut document = Document::new();
    for letter in letters {
        let body = fits(letter, &regular)?;
        let settings =
            PageSettings::from_wh(PAGE.0, PAGE.1).ok_or(LetterError::Write("page size".into()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        let text = |surface: &mut krilla::surface::Surface<'_>,
                    x_mm: f32,
                    y_mm: f32,
                    shaper: &Shaper,
                    size: f32,
                    s: &str| {
            surface.draw_glyphs(
                Point::from_xy(x_mm * MM, y_mm * MM),
                &shaper.glyphs(s)[..],
                shaper.font.clone(),
                s,
                size,
                false,
            );
        };
        // The wordmark, right-aligned at the top.
        surface.set_fill(Some(fill(head.colour)));
        let mark = bold.width(&head.brand, 20.0);
        text(
            &mut surface,
            COLUMN_MM.1 - mark / MM,
            28.0,
            &bold,
            20.0,
            &head.brand,
        );
        // A thin rule under the letterhead.
        let mut rule = PathBuilder::new();
        if let Some(r) = Rect::from_xywh(
            COLUMN_MM.0 * MM,
            33.0 * MM,
            (COLUMN_MM.1 - COLUMN_MM.0) * MM,
            0.6,
        ) {
            rule.push_rect(r);
        }
        if let Some(path) = rule.finish() {
            surface.draw_path(&path);
        }
        surface.set_fill(Some(fill(ink)));
        // Inside the window: the return address, small, then the address block.
        let (left, top, _, _) = WINDOW_MM;
        let x = left + 5.0;
        if !head.return_address.is_empty() {
            text(
                &mut surface,
                x,
                top + 6.0,
                &regular,
                7.0,
                &head.return_address,
            );
        }
        for (i, line) in letter.address.iter().enumerate() {
            text(
                &mut surface,
                x,
                top + 15.0 + 5.0 * i as f32,
                &regular,
                10.0,
                line,
            );
        }
        // Date, subject, text.
        text(
            &mut surface,
            COLUMN_MM.0,
            105.0,
            &regular,
            BODY_SIZE,
            &letter.date_line,
        );
        text(
            &mut surface,
            COLUMN_MM.0,
            114.0,
            &bold,
            11.5,
            &letter.subject,
        );
        let (body_top, _) = body_room();
        for (i, line) in body.iter().enumerate() {
            if let Some(line) = line {
                text(
                    &mut surface,
                    COLUMN_MM.0,
                    body_top + (i as f32 * LINE) / MM,
                    &regular,
                    BODY_SIZE,
                    line,
                );
            }
        }
        // The footer, with the letter's reference for the print partner.
        surface.set_fill(Some(fill((0x5a, 0x5a, 0x55))));
        text(
            &mut surface,
            COLUMN_MM.0,
            284.0,
            &regular,
            7.5,
            &head.footer,
        );
        let reference = format!("ref. {}", letter.reference);
        let w = regular.width(&reference, 7.5);
        text(
            &mut surface,
            COLUMN_MM.1 - w / MM,
            284.0,
            &regular,
            7.5,
            &reference,
        );
        surface.set_stroke(None::<Stroke>);
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| LetterError::Write(format!("{e:?}")))
}

/// One row of the address file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AddressRow {
    /// Position in the batch, from 1 (the PDF's page number).
    pub page: usize,
    /// The letter's reference.
    pub reference: String,
    /// The customer's id.
    pub customer: String,
    /// Address lines 1 to 4 (empty when unused).
    pub line_1: String,
    /// Second line.
    pub line_2: String,
    /// Third line.
    pub line_3: String,
    /// Fourth line.
    pub line_4: String,
    /// ISO country code.
    pub country: String,
}

/// The address file: a header and one row per letter, in page order.
pub fn csv(rows: &[AddressRow]) -> Result<Vec<u8>, LetterError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        // Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` as a formula.
        let cell = |s: &String| aftercare_domain::text::csv_cell(s).into_owned();
        let row = AddressRow {
            page: row.page,
            reference: cell(&row.reference),
            customer: cell(&row.customer),
            line_1: cell(&row.line_1),
            line_2: cell(&row.line_2),
            line_3: cell(&row.line_3),
            line_4: cell(&row.line_4),
            country: cell(&row.country),
        };
        writer
            .serialize(&row)
            .map_err(|e| LetterError::Write(e.to_string()))?;
    }
    writer
        .into_inner()
        .map_err(|e| LetterError::Write(e.to_string()))
}

/// The SHA-256 of a file's bytes, in hex (for the manifest).
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(body: &str) -> Letter {
        Letter {
            reference: "42".into(),
            address: vec![
                "Jan de Vries".into(),
                "Kerkstraat 12".into(),
                "1012 AB  AMSTERDAM".into(),
            ],
            date_line: "Amsterdam, 27 november 2026".into(),
            subject: "Gefeliciteerd".into(),
            body: body.into(),
        }
    }

    #[test]
    fn wrapping_keeps_every_line_inside_the_column() {
        let shaper = Shaper::new(REGULAR).unwrap();
        let text =
            "Hardlopen in de herfst vraagt om goede schoenen en een beetje moed. ".repeat(12);
        let max = (COLUMN_MM.1 - COLUMN_MM.0) * MM;
        let lines = wrap(&text, &shaper, BODY_SIZE, max);
        assert!(lines.len() > 5);
        for line in &lines {
            assert!(shaper.width(line, BODY_SIZE) <= max + 0.5, "{line}");
        }
        assert_eq!(
            lines.join(" "),
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }

    #[test]
    fn a_letter_longer_than_a_page_is_refused_naming_the_lines() {
        let long = "Een regel.\n".repeat(80);
        match check(&letter(&long)) {
            Err(LetterError::TooLong {
                lines: 80, fits, ..
            }) => assert!(fits < 80),
            other => panic!("{other:?}"),
        }
        assert!(check(&letter("Kort en goed.")).is_ok());
    }

    #[test]
    fn a_batch_is_a_pdf_with_embedded_fonts_and_a_csv_with_a_header() {
        let head = Letterhead {
            brand: "Loopwerk".into(),
            colour: (0x0b, 0x5d, 0x4b),
            return_address: "Loopwerk · Postbus 1 · 1000 AA Amsterdam".into(),
            footer: "loopwerk.nl · 020 123 45 67".into(),
        };
        let bytes = pdf(&[letter("Hallo."), letter("Nog een.")], &head).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("FontFile2"), "the fonts are embedded");
        let rows = [AddressRow {
            page: 1,
            reference: "42".into(),
            customer: "C1".into(),
            line_1: "Jan de Vries".into(),
            line_2: "Kerkstraat 12".into(),
            line_3: "1012 AB  AMSTERDAM".into(),
            line_4: String::new(),
            country: "NL".into(),
        }];
        let csv = String::from_utf8(csv(&rows).unwrap()).unwrap();
        assert_eq!(
            csv,
            "page,reference,customer,line_1,line_2,line_3,line_4,country\n1,42,C1,Jan de Vries,Kerkstraat 12,1012 AB  AMSTERDAM,,NL\n"
        );
        assert_eq!(sha256(b"abc").len(), 64);
    }

    #[test]
    fn an_address_file_never_carries_a_formula() {
        let rows = [AddressRow {
            page: 1,
            reference: "42".into(),
            customer: "=HYPERLINK(\"http://evil.example\",\"C1\")".into(),
            line_1: "@SUM(1+1)".into(),
            line_2: "Kerkstraat 12".into(),
            line_3: "1012 AB  AMSTERDAM".into(),
            line_4: "-1".into(),
            country: "NL".into(),
        }];
        let csv = String::from_utf8(csv(&rows).unwrap()).unwrap();
        let row = csv.lines().nth(1).unwrap();
        assert_eq!(
            row,
            "1,42,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"C1\"\")\",'@SUM(1+1),Kerkstraat 12,1012 AB  AMSTERDAM,'-1,NL"
        );
    }
}
