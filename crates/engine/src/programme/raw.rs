//! The programme files as serde reads them, with the places of their values, before
//! [`super::load`] turns them into the model and says what is wrong.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProgramme {
    pub(super) id: Spanned<String>,
    pub(super) name: String,
    pub(super) version: Spanned<i64>,
    #[serde(default)]
    pub(super) requirements: Vec<String>,
    pub(super) trigger: Spanned<RawTrigger>,
    #[serde(default)]
    pub(super) entry: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) audience: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) exit_on: Vec<Spanned<RawExitOn>>,
    #[serde(default)]
    pub(super) goal: Option<Spanned<RawGoal>>,
    #[serde(default)]
    pub(super) holdout: Option<Spanned<f64>>,
    #[serde(default)]
    pub(super) reentry: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) status: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) moment: Option<Spanned<String>>,
    pub(super) steps: Spanned<Vec<Spanned<RawStep>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrigger {
    pub(super) event: Option<Spanned<String>>,
    pub(super) occasion: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawExitOn {
    Event(String),
    Matching { event: String, matching: String },
}

impl RawExitOn {
    pub(super) fn into_exit(self) -> ExitOn {
        match self {
            RawExitOn::Event(event) => ExitOn {
                event,
                matching: None,
            },
            RawExitOn::Matching { event, matching } => ExitOn {
                event,
                matching: Some(matching),
            },
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGoal {
    pub(super) event: Spanned<String>,
    pub(super) within: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub(super) id: Option<Spanned<String>>,
    pub(super) send: Option<Spanned<toml::Value>>,
    pub(super) wait: Option<Spanned<toml::Value>>,
    pub(super) wait_for: Option<Spanned<toml::Value>>,
    pub(super) branch: Option<Spanned<toml::Value>>,
    pub(super) tag: Option<Spanned<toml::Value>>,
    pub(super) set: Option<Spanned<toml::Value>>,
    pub(super) grant_points: Option<Spanned<toml::Value>>,
    pub(super) issue_coupon: Option<Spanned<toml::Value>>,
    pub(super) survey: Option<Spanned<toml::Value>>,
    pub(super) webhook: Option<Spanned<toml::Value>>,
    pub(super) exit: Option<Spanned<toml::Value>>,
}

impl RawStep {
    pub(super) fn kinds(&self) -> Vec<(&'static str, &Spanned<toml::Value>)> {
        [
            ("send", &self.send),
            ("wait", &self.wait),
            ("wait_for", &self.wait_for),
            ("branch", &self.branch),
            ("tag", &self.tag),
            ("set", &self.set),
            ("grant_points", &self.grant_points),
            ("issue_coupon", &self.issue_coupon),
            ("survey", &self.survey),
            ("webhook", &self.webhook),
            ("exit", &self.exit),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGrant {
    pub(super) points: i64,
    pub(super) reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSend {
    pub(super) template: String,
    pub(super) class: String,
    #[serde(default)]
    pub(super) priority: Option<Priority>,
    #[serde(default)]
    pub(super) channel: Option<String>,
    #[serde(default)]
    pub(super) channels: Vec<String>,
    #[serde(default)]
    pub(super) track_clicks: bool,
    #[serde(default)]
    pub(super) at_most_every: Option<String>,
    /// A content experiment: two or more variants of this send (issue 21).
    #[serde(default)]
    pub(super) variants: Vec<RawVariant>,
}

/// One variant of a send step: its name, and the template and channels it uses instead of
/// the step's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVariant {
    pub(super) name: String,
    #[serde(default)]
    pub(super) template: Option<String>,
    #[serde(default)]
    pub(super) channels: Option<Vec<String>>,
    #[serde(default)]
    pub(super) wait: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWaitUntil {
    pub(super) until_time: Option<String>,
    pub(super) until: Option<String>,
    pub(super) offset: Option<String>,
    pub(super) at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSet {
    pub(super) attribute: String,
    pub(super) value: toml::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWaitFor {
    pub(super) event: String,
    pub(super) timeout: Option<String>,
    #[serde(default, rename = "match")]
    pub(super) matching: Option<String>,
    pub(super) on_event: Option<String>,
    pub(super) on_timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBranch {
    #[serde(rename = "if")]
    pub(super) condition: String,
    pub(super) then: Option<String>,
    #[serde(rename = "else")]
    pub(super) otherwise: Option<String>,
}

/// The step types a programme file may use, one key each.
pub const STEP_TYPES: &[&str] = &[
    "send",
    "wait",
    "wait_for",
    "branch",
    "tag",
    "set",
    "grant_points",
    "issue_coupon",
    "survey",
    "webhook",
    "exit",
];
