//! How long an SMS text is, in the parts the network bills and delivers (CH2: "SMS needs a
//! short text").
//!
//! A text written entirely in the GSM 03.38 alphabet goes as 7-bit characters: 160 in one
//! part, 153 per part when it needs more (the rest carries the joining header). Characters
//! of the alphabet's extension table (`€`, `[`, `{`, …) take two. Any other character —
//! curly quotes, most accented capitals, emoji — sends the whole text as UCS-2: 70
//! characters in one part, 67 per part beyond (UTF-16 units, so an emoji counts twice).

/// The GSM 03.38 basic character set.
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The extension table, reached with an escape: two septets each.
const EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// How a text is encoded for SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The GSM 7-bit alphabet.
    Gsm7,
    /// UCS-2, for any text outside it.
    Ucs2,
}

/// The size of a text as an SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsLength {
    /// How it is encoded.
    pub encoding: Encoding,
    /// Septets (GSM) or UTF-16 units (UCS-2).
    pub units: usize,
    /// Parts it is sent in.
    pub parts: usize,
}

/// Measures `text` as an SMS.
pub fn measure(text: &str) -> SmsLength {
    let gsm: Option<usize> = text
        .chars()
        .map(|c| {
            if BASIC.contains(c) {
                Some(1)
            } else if EXTENDED.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (encoding, units, single, multi) = match gsm {
        Some(septets) => (Encoding::Gsm7, septets, 160, 153),
        None => (Encoding::Ucs2, text.encode_utf16().count(), 70, 67),
    };
    let parts = if units <= single {
        1
    } else {
        units.div_ceil(multi)
    };
    SmsLength {
        encoding,
        units,
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_dutch_fits_160_characters_in_one_part() {
        let text = "a".repeat(160);
        assert_eq!(measure(&text).parts, 1);
        assert_eq!(measure(&(text + "b")).parts, 2);
        assert_eq!(measure(&"a".repeat(306)).parts, 2);
        assert_eq!(measure(&"a".repeat(307)).parts, 3);
    }

    #[test]
    fn the_euro_sign_takes_two_septets_and_curly_quotes_switch_to_ucs2() {
        let euro = measure("Je tegoed: €10");
        assert_eq!((euro.encoding, euro.units), (Encoding::Gsm7, 15));
        let quoted = measure("Je pakket is “onderweg”");
        assert_eq!(quoted.encoding, Encoding::Ucs2);
        assert_eq!(measure(&"ë".repeat(71)).parts, 2);
        assert_eq!(measure("🏃").units, 2);
    }
}
