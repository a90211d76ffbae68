//! Programmes: declarative TOML files, loaded into a [`Library`] and checked.
//!
//! A programme has a trigger event, steps, and a version. Each mistake is reported as
//! `file:line:column: reason` (unknown step or event type, missing template, wait without
//! duration, unreachable step), so `aftercare check` and `serve` say exactly what to fix.
//!
//! ```toml
//! id = "after-purchase"
//! name = "After the purchase"
//! version = 1
//! requirements = ["PP1", "PP4"]
//! trigger = { event = "order_placed" }
//!
//! [[steps]]
//! id = "confirmation"
//! send = { template = "order_confirmation", class = "transactional" }
//!
//! [[steps]]
//! id = "pause"
//! wait = "1d"
//! ```
//!
//! Requirements: FR1 (structured, always-on programmes instead of ad-hoc mailings).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use aftercare_domain::commerce::BUILT_IN_EVENT_TYPES;
use aftercare_domain::{Channel, MessageClass};
use jiff::Span;
use serde::Deserialize;
use toml::Spanned;

/// A checked programme.
#[derive(Debug, Clone)]
pub struct Programme {
    /// Stable id, e.g. `after-purchase`.
    pub id: String,
    /// Name shown to the team.
    pub name: String,
    /// Version; running enrolments finish on the version they started.
    pub version: i32,
    /// Requirement ids the programme serves.
    pub requirements: Vec<String>,
    /// The event type that enrols a customer.
    pub trigger_event: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The file it came from.
    pub source: PathBuf,
}

/// One step of a programme.
#[derive(Debug, Clone)]
pub struct Step {
    /// Unique within the programme; keys the message a `send` creates.
    pub id: String,
    /// What the step does.
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Create a message.
    Send(SendStep),
    /// Wait a calendar duration in the customer's time zone (DST-correct).
    Wait(Span),
    /// Leave the programme.
    Exit,
}

/// A `send` step.
#[derive(Debug, Clone)]
pub struct SendStep {
    /// Template name.
    pub template: String,
    /// Message class.
    pub class: MessageClass,
    /// Channel.
    pub channel: Channel,
}

/// One mistake in a programme file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.reason
        )
    }
}

/// All programmes of a folder, checked.
#[derive(Debug, Clone, Default)]
pub struct Library {
    /// The programmes, by id.
    pub programmes: BTreeMap<String, Programme>,
}

impl Library {
    /// Programmes triggered by `event_type`.
    pub fn triggered_by<'a>(&'a self, event_type: &'a str) -> impl Iterator<Item = &'a Programme> {
        self.programmes
            .values()
            .filter(move |p| p.trigger_event == event_type)
    }

    /// A programme by id.
    pub fn get(&self, id: &str) -> Option<&Programme> {
        self.programmes.get(id)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgramme {
    id: Spanned<String>,
    name: String,
    version: Spanned<i64>,
    #[serde(default)]
    requirements: Vec<String>,
    trigger: Spanned<RawTrigger>,
    steps: Spanned<Vec<Spanned<RawStep>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    event: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Option<Spanned<String>>,
    send: Option<Spanned<toml::Value>>,
    wait: Option<Spanned<toml::Value>>,
    exit: Option<Spanned<toml::Value>>,
}

impl RawStep {
    fn kinds(&self) -> Vec<(&'static str, &Spanned<toml::Value>)> {
        [
            ("send", &self.send),
            ("wait", &self.wait),
            ("exit", &self.exit),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSend {
    template: String,
    class: String,
    #[serde(default)]
    channel: Option<String>,
}

const STEP_TYPES: &[&str] = &["send", "wait", "exit"];

/// What checking needs to know besides the files.
#[derive(Debug, Clone, Default)]
pub struct CheckContext {
    /// Templates that exist, by name.
    pub templates: HashSet<String>,
    /// Event types the brand declared besides the built-in ones.
    pub custom_events: HashSet<String>,
}

/// Loads every `*.toml` programme in `dir`; returns the library or every finding.
pub fn load_dir(dir: &Path, ctx: &CheckContext) -> Result<Library, Vec<Finding>> {
    let mut findings = Vec::new();
    let mut library = Library::default();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) => {
            return Err(vec![Finding {
                file: dir.to_path_buf(),
                line: 1,
                column: 1,
                reason: format!("cannot read the programme folder: {e}"),
            }]);
        }
    };
    files.sort();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                findings.push(Finding {
                    file,
                    line: 1,
                    column: 1,
                    reason: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        match parse_programme(&file, &text, ctx) {
            Ok(p) => {
                if let Some(other) = library.programmes.get(&p.id) {
                    findings.push(Finding {
                        file: file.clone(),
                        line: 1,
                        column: 1,
                        reason: format!(
                            "programme id '{}' is also used by {}",
                            p.id,
                            other.source.display()
                        ),
                    });
                } else {
                    library.programmes.insert(p.id.clone(), p);
                }
            }
            Err(mut f) => findings.append(&mut f),
        }
    }
    if findings.is_empty() {
        Ok(library)
    } else {
        Err(findings)
    }
}

/// Parses and checks one programme file's text.
pub fn parse_programme(
    file: &Path,
    text: &str,
    ctx: &CheckContext,
) -> Result<Programme, Vec<Finding>> {
    let at = |span: Range<usize>, reason: String| {
        let (line, column) = line_column(text, span.start);
        Finding {
            file: file.to_path_buf(),
            line,
            column,
            reason,
        }
    };
    let raw: RawProgramme = toml::from_str(text).map_err(|e| {
        let message = e.message();
        // serde names an unknown key in a step "unknown field"; say what it means here.
        let reason = match message.strip_prefix("unknown field `") {
            Some(rest) if message.contains("`send`") => {
                let key = rest.split('`').next().unwrap_or_default();
                format!(
                    "unknown step type '{key}'; a step is one of {}",
                    STEP_TYPES.join(", ")
                )
            }
            _ => message.to_string(),
        };
        vec![at(e.span().unwrap_or(0..0), reason)]
    })?;
    let mut findings = Vec::new();

    let id = raw.id.get_ref();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        findings.push(at(
            raw.id.span(),
            format!("programme id '{id}' must be lower-case letters, digits and '-'"),
        ));
    }
    let version = i32::try_from(*raw.version.get_ref())
        .ok()
        .filter(|v| *v >= 1);
    if version.is_none() {
        findings.push(at(
            raw.version.span(),
            "version must be a whole number of at least 1".into(),
        ));
    }
    let trigger = raw.trigger.get_ref().event.get_ref();
    if !BUILT_IN_EVENT_TYPES.contains(&trigger.as_str()) && !ctx.custom_events.contains(trigger) {
        findings.push(at(
            raw.trigger.get_ref().event.span(),
            format!(
                "unknown event type '{trigger}'; built-in types are {}",
                BUILT_IN_EVENT_TYPES.join(", ")
            ),
        ));
    }
    if raw.steps.get_ref().is_empty() {
        findings.push(at(
            raw.steps.span(),
            "a programme needs at least one step".into(),
        ));
    }

    let mut steps = Vec::new();
    let mut seen_ids = HashSet::new();
    let mut exited_at: Option<String> = None;
    for step in raw.steps.get_ref() {
        let span = step.span();
        let step = step.get_ref();
        let Some(step_id) = &step.id else {
            findings.push(at(span, "step has no id".into()));
            continue;
        };
        if !seen_ids.insert(step_id.get_ref().clone()) {
            findings.push(at(
                step_id.span(),
                format!("step id '{}' is used twice", step_id.get_ref()),
            ));
        }
        if let Some(exit_id) = &exited_at {
            findings.push(at(
                step_id.span(),
                format!(
                    "step '{}' is unreachable: step '{exit_id}' exits before it",
                    step_id.get_ref()
                ),
            ));
        }
        let kinds = step.kinds();
        if kinds.len() != 1 {
            findings.push(at(
                step_id.span(),
                format!(
                    "step '{}' must have exactly one of {}",
                    step_id.get_ref(),
                    STEP_TYPES.join(", ")
                ),
            ));
            continue;
        }
        let (kind, value) = kinds[0];
        let action = match kind {
            "send" => match parse_send(value, ctx) {
                Ok(send) => Action::Send(send),
                Err((span, reason)) => {
                    findings.push(at(span, reason));
                    continue;
                }
            },
            "wait" => match value.get_ref().as_str().map(parse_duration) {
                Some(Ok(span)) => Action::Wait(span),
                Some(Err(reason)) => {
                    findings.push(at(value.span(), reason));
                    continue;
                }
                None => {
                    findings.push(at(
                        value.span(),
                        "wait without duration: write e.g. wait = \"3d\"".into(),
                    ));
                    continue;
                }
            },
            _ => {
                if value.get_ref().as_bool() != Some(true) {
                    findings.push(at(value.span(), "write exit = true".into()));
                    continue;
                }
                exited_at = Some(step_id.get_ref().clone());
                Action::Exit
            }
        };
        steps.push(Step {
            id: step_id.get_ref().clone(),
            action,
        });
    }
    if !findings.is_empty() {
        return Err(findings);
    }
    Ok(Programme {
        id: id.clone(),
        name: raw.name,
        version: version.unwrap_or(1),
        requirements: raw.requirements,
        trigger_event: trigger.clone(),
        steps,
        source: file.to_path_buf(),
    })
}

fn parse_send(
    value: &Spanned<toml::Value>,
    ctx: &CheckContext,
) -> Result<SendStep, (Range<usize>, String)> {
    let raw: RawSend = value
        .get_ref()
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| {
            (value.span(), format!("invalid send step: {}", e.message()))
        })?;
    // Spans inside a re-deserialised value are lost; report at the step's value.
    let template = raw.template;
    if !ctx.templates.contains(&template) {
        return Err((
            value.span(),
            format!("missing template '{template}': no templates/{template}.toml"),
        ));
    }
    let class_name = raw.class;
    let class = MessageClass::parse(&class_name).ok_or_else(|| {
        (value.span(), format!("unknown message class '{class_name}'; use transactional, service, relationship or promotional"))
    })?;
    let channel = match raw.channel {
        None => Channel::Email,
        Some(name) => match Channel::parse(&name) {
            Some(Channel::Email) => Channel::Email,
            Some(_) => {
                return Err((
                    value.span(),
                    format!("channel '{name}' is not available yet; use email"),
                ));
            }
            None => return Err((value.span(), format!("unknown channel '{name}'"))),
        },
    };
    Ok(SendStep {
        template,
        class,
        channel,
    })
}

/// Parses "3d", "2w", "12h", "90m", "1 month" into a calendar span.
pub fn parse_duration(s: &str) -> Result<Span, String> {
    if s.trim().is_empty() {
        return Err("wait without duration: write e.g. wait = \"3d\"".into());
    }
    let span: Span = s
        .parse()
        .map_err(|_| format!("'{s}' is not a duration; write e.g. \"3d\", \"2w\", \"12h\""))?;
    if span.is_negative() || span.is_zero() {
        return Err(format!("wait '{s}' must be longer than zero"));
    }
    Ok(span)
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> CheckContext {
        CheckContext {
            templates: ["thanks".to_string()].into_iter().collect(),
            custom_events: HashSet::new(),
        }
    }

    fn findings(text: &str) -> Vec<String> {
        match parse_programme(Path::new("p.toml"), text, &ctx()) {
            Ok(_) => vec![],
            Err(f) => f.into_iter().map(|f| f.to_string()).collect(),
        }
    }

    const HEAD: &str =
        "id = \"p\"\nname = \"P\"\nversion = 1\ntrigger = { event = \"order_placed\" }\n";

    #[test]
    fn a_valid_programme_loads() {
        let text = format!(
            "{HEAD}[[steps]]\nid = \"a\"\nsend = {{ template = \"thanks\", class = \"service\" }}\n[[steps]]\nid = \"b\"\nwait = \"3d\"\n"
        );
        let p = parse_programme(Path::new("p.toml"), &text, &ctx()).unwrap();
        assert_eq!(p.steps.len(), 2);
    }

    #[test]
    fn each_kind_of_mistake_names_its_line() {
        let cases = [
            (format!("{HEAD}[[steps]]\nid = \"a\"\nsned = {{ template = \"thanks\" }}\n"), "p.toml:7:1: unknown step type 'sned'"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nsend = {{ template = \"nope\", class = \"service\" }}\n"), "p.toml:7:8: missing template 'nope'"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nwait = \"\"\n"), "p.toml:7:8: wait without duration"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nwait = {{}}\n"), "p.toml:7:8: wait without duration"),
            (format!("{HEAD}[[steps]]\nid = \"a\"\nexit = true\n[[steps]]\nid = \"b\"\nwait = \"1d\"\n"), "p.toml:9:6: step 'b' is unreachable"),
            ("id = \"p\"\nname = \"P\"\nversion = 1\ntrigger = { event = \"order_shipped\" }\n[[steps]]\nid = \"a\"\nwait = \"1d\"\n".to_string(), "p.toml:4:21: unknown event type 'order_shipped'"),
        ];
        for (text, expected) in cases {
            let got = findings(&text);
            assert!(
                got.iter().any(|f| f.starts_with(expected)),
                "expected {expected:?} in {got:?}"
            );
        }
    }

    #[test]
    fn durations_are_calendar_spans() {
        assert_eq!(parse_duration("3d").unwrap().get_days(), 3);
        assert_eq!(parse_duration("2w").unwrap().get_weeks(), 2);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0d").is_err());
    }
}
