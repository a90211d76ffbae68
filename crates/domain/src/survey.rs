//! The surveys programmes send (MQ1, MQ2): a Net Promoter or a satisfaction (CSAT) question
//! with an optional comment,
//! and a relationship survey that rates each emotional driver for importance and for how
//! well the brand does it (the Pulse gap). One question per screen.

use serde::Serialize;

/// The drivers of the relationship survey.
pub const DRIVERS: [&str; 5] = [
    "rewards_loyalty",
    "keeps_promises",
    "trustworthy",
    "surprises_me",
    "knows_me",
];

/// Which survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyKind {
    /// "How likely are you to recommend us?" 0–10, then an optional comment.
    Nps,
    /// "How satisfied are you with …?" 1–5, then an optional comment.
    Csat,
    /// Each driver rated for importance and evaluation, 1–7.
    Relationship,
}

/// One screen of a survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// 0–10.
    Nps,
    /// 1–5.
    Csat,
    /// Free text, may be left empty.
    Comment,
    /// Importance and evaluation of a driver, 1–7 each.
    Driver(&'static str),
}

impl Question {
    /// The stored key: `nps`, `comment` or `driver:<name>`.
    pub fn key(self) -> String {
        match self {
            Question::Nps => "nps".into(),
            Question::Csat => "csat".into(),
            Question::Comment => "comment".into(),
            Question::Driver(d) => format!("driver:{d}"),
        }
    }
}

impl SurveyKind {
    /// The name in programmes and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyKind::Nps => "nps",
            SurveyKind::Csat => "csat",
            SurveyKind::Relationship => "relationship",
        }
    }

    /// Parses the name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "nps" => Some(SurveyKind::Nps),
            "csat" => Some(SurveyKind::Csat),
            "relationship" => Some(SurveyKind::Relationship),
            _ => None,
        }
    }

    /// The questions, in order.
    pub fn questions(self) -> Vec<Question> {
        match self {
            SurveyKind::Nps => vec![Question::Nps, Question::Comment],
            SurveyKind::Csat => vec![Question::Csat, Question::Comment],
            SurveyKind::Relationship => DRIVERS.iter().map(|d| Question::Driver(d)).collect(),
        }
    }
}
