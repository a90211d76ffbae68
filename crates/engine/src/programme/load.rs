//! Reading programme files into the model: every mistake with its `file:line:column`.

use super::check::*;
use super::raw::*;
use super::*;

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
    let trigger = raw.trigger.get_ref();
    let trigger_event = match (&trigger.event, &trigger.occasion) {
        (Some(event), None) => {
            if !ctx.knows_event(event.get_ref()) {
                findings.push(at(event.span(), ctx.unknown_event(event.get_ref())));
            }
            event.get_ref().clone()
        }
        (None, Some(occasion)) => {
            if !OCCASIONS.contains(&occasion.get_ref().as_str()) {
                findings.push(at(
                    occasion.span(),
                    format!(
                        "unknown occasion '{}'; occasions are {}",
                        occasion.get_ref(),
                        OCCASIONS.join(", ")
                    ),
                ));
            }
            occasion_event(occasion.get_ref())
        }
        _ => {
            findings.push(at(
                raw.trigger.span(),
                "a trigger has either an event or an occasion".into(),
            ));
            String::new()
        }
    };
    let entry = raw
        .entry
        .as_ref()
        .and_then(|e| match Condition::parse(e.get_ref()) {
            Ok(c) => Some(c),
            Err(reason) => {
                findings.push(at(e.span(), reason));
                None
            }
        });
    let audience = raw.audience.as_ref().and_then(|a| {
        let id = a.get_ref();
        if !id.is_empty()
            && id.len() <= 60
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            Some(id.clone())
        } else {
            findings.push(at(
                a.span(),
                format!("audience '{id}' is not an audience's id (1 to 60 of a-z, 0-9 and -)"),
            ));
            None
        }
    });
    for exit in &raw.exit_on {
        let event = match exit.get_ref() {
            RawExitOn::Event(e) | RawExitOn::Matching { event: e, .. } => e,
        };
        if !ctx.knows_event(event) {
            findings.push(at(exit.span(), ctx.unknown_event(event)));
        }
    }
    let goal = raw.goal.as_ref().and_then(|g| {
        let raw_goal = g.get_ref();
        if !ctx.knows_event(raw_goal.event.get_ref()) {
            findings.push(at(
                raw_goal.event.span(),
                ctx.unknown_event(raw_goal.event.get_ref()),
            ));
        }
        match parse_duration(raw_goal.within.get_ref()) {
            Ok(within) => Some(Goal {
                event: raw_goal.event.get_ref().clone(),
                within,
            }),
            Err(reason) => {
                findings.push(at(raw_goal.within.span(), reason));
                None
            }
        }
    });
    let holdout = raw.holdout.as_ref().map_or(0.0, |h| *h.get_ref());
    if let Some(h) = &raw.holdout
        && !(0.0..=0.5).contains(h.get_ref())
    {
        findings.push(at(
            h.span(),
            "holdout must be a share between 0 and 0.5, e.g. 0.1".into(),
        ));
    }
    let reentry = match raw
        .reentry
        .as_ref()
        .map(|r| (r.get_ref().as_str(), r.span()))
    {
        None | Some(("always", _)) => Reentry::Always,
        Some(("once", _)) => Reentry::Once,
        Some((other, span)) => match parse_duration(other) {
            Ok(s) => Reentry::After(s),
            Err(_) => {
                findings.push(at(span, format!("reentry '{other}' must be \"always\", \"once\" or a duration such as \"90d\"")));
                Reentry::Always
            }
        },
    };
    // A moment takes room the band keeps for it, so only the programme its trigger names
    // may claim it (issue 23 point 4).
    let moment = raw.moment.as_ref().and_then(|m| {
        let Some(moment) = Moment::parse(m.get_ref()) else {
            findings.push(at(
                m.span(),
                format!(
                    "unknown moment '{}'; moments are {}",
                    m.get_ref(),
                    Moment::ALL.map(Moment::as_str).join(", ")
                ),
            ));
            return None;
        };
        let fits = match moment {
            Moment::Birthday => occasion_event("birthday"),
            Moment::Anniversary => occasion_event("customer_anniversary"),
            Moment::Recovery => "case_resolved".to_string(),
            Moment::ReferralReward => "referral_converted".to_string(),
        };
        if trigger_event != fits {
            findings.push(at(
                m.span(),
                format!(
                    "moment '{}' belongs to a programme triggered by {}; this one is triggered by {trigger_event}",
                    m.get_ref(),
                    fits.strip_prefix("occasion_").map_or(format!("event {fits}"), |o| format!("occasion {o}"))
                ),
            ));
            return None;
        }
        Some(moment)
    });
    if raw.steps.get_ref().is_empty() {
        findings.push(at(
            raw.steps.span(),
            "a programme needs at least one step".into(),
        ));
    }

    let mut steps = Vec::new();
    let mut spans: HashMap<String, Range<usize>> = HashMap::new();
    for step in raw.steps.get_ref() {
        let span = step.span();
        let step = step.get_ref();
        let Some(step_id) = &step.id else {
            findings.push(at(span, "step has no id".into()));
            continue;
        };
        if spans
            .insert(step_id.get_ref().clone(), step_id.span())
            .is_some()
        {
            findings.push(at(
                step_id.span(),
                format!("step id '{}' is used twice", step_id.get_ref()),
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
        match parse_action(kind, value, ctx) {
            Ok(action) => steps.push(Step {
                id: step_id.get_ref().clone(),
                action,
            }),
            Err(reason) => findings.push(at(value.span(), reason)),
        }
    }
    // Jumps must land on a step; every step must be reachable from the first.
    for step in &steps {
        for target in jumps(&step.action) {
            if !spans.contains_key(target) {
                let span = spans.get(&step.id).cloned().unwrap_or(0..0);
                findings.push(at(
                    span,
                    format!(
                        "step '{}' jumps to '{target}', which does not exist",
                        step.id
                    ),
                ));
            }
        }
    }
    if findings.is_empty() {
        let reachable = reachable_steps(&steps);
        for (i, step) in steps.iter().enumerate() {
            if !reachable.contains(&i) {
                let span = spans.get(&step.id).cloned().unwrap_or(0..0);
                findings.push(at(
                    span,
                    format!("step '{}' is unreachable: no step leads to it", step.id),
                ));
            }
        }
    }
    let draft = match &raw.status {
        None => false,
        Some(status) => match status.get_ref().as_str() {
            "live" => false,
            "draft" => true,
            other => {
                findings.push(at(
                    status.span(),
                    format!("status '{other}' is not one of live, draft"),
                ));
                false
            }
        },
    };
    if !findings.is_empty() {
        return Err(findings);
    }
    Ok(Programme {
        id: id.clone(),
        draft,
        name: raw.name,
        version: version.unwrap_or(1),
        requirements: raw.requirements,
        trigger_event,
        entry,
        audience,
        audience_condition: None,
        exit_on: raw
            .exit_on
            .into_iter()
            .map(|x| x.into_inner().into_exit())
            .collect(),
        goal,
        holdout,
        reentry,
        moment,
        steps,
        source: file.to_path_buf(),
        text: text.to_string(),
    })
}
pub(super) fn parse_action(
    kind: &str,
    value: &Spanned<toml::Value>,
    ctx: &CheckContext,
) -> Result<Action, String> {
    let table = |what: &str| -> Result<toml::Value, String> {
        match value.get_ref() {
            v @ toml::Value::Table(_) => Ok(v.clone()),
            _ => Err(format!("{what} takes a table, e.g. {what} = {{ … }}")),
        }
    };
    match kind {
        "send" => {
            let raw: RawSend = table("send")?
                .try_into()
                .map_err(|e: toml::de::Error| format!("invalid send step: {}", e.message()))?;
            if !ctx.templates.contains(&raw.template) {
                return Err(format!(
                    "missing template '{}': no templates/{}.toml",
                    raw.template, raw.template
                ));
            }
            let class = MessageClass::parse(&raw.class).ok_or_else(|| {
                format!("unknown message class '{}'; use transactional, service, relationship or promotional", raw.class)
            })?;
            let names: Vec<String> = raw.channel.into_iter().chain(raw.channels).collect();
            let channels = send_channels(&names, &raw.template, ctx)?;
            let mut variants: Vec<Variant> = Vec::new();
            for (i, v) in raw.variants.iter().enumerate() {
                let name = v.name.trim();
                if name.is_empty() || name.chars().count() > 40 {
                    return Err(format!("variants[{i}].name: 1 to 40 characters"));
                }
                if variants.iter().any(|other| other.name == name) {
                    return Err(format!("variants[{i}].name: '{name}' is used twice"));
                }
                let template = v.template.clone().unwrap_or_else(|| raw.template.clone());
                if !ctx.templates.contains(&template) {
                    return Err(format!(
                        "variants[{i}].template: missing template '{template}': no templates/{template}.toml"
                    ));
                }
                let channels = match &v.channels {
                    Some(names) => send_channels(names, &template, ctx)
                        .map_err(|e| format!("variants[{i}].channels: {e}"))?,
                    None => send_channels(&names, &template, ctx)
                        .map_err(|e| format!("variants[{i}]: {e}"))?,
                };
                let wait = match &v.wait {
                    Some(w) => {
                        Some(parse_duration(w).map_err(|e| format!("variants[{i}].wait: {e}"))?)
                    }
                    None => None,
                };
                variants.push(Variant {
                    name: name.to_string(),
                    template,
                    channels,
                    wait,
                });
            }
            if variants.len() == 1 {
                return Err("variants: an experiment needs at least two variants".into());
            }
            let at_most_every_days = match &raw.at_most_every {
                None => 0,
                Some(text) => {
                    let span = parse_duration(text)?;
                    let days = span
                        .total((jiff::Unit::Day, jiff::civil::date(2026, 1, 1)))
                        .map_err(|e| format!("at_most_every '{text}': {e}"))?;
                    if class == MessageClass::Transactional {
                        return Err("at_most_every is for non-transactional messages; a transactional one answers each action".into());
                    }
                    days.ceil() as u32
                }
            };
            Ok(Action::Send(SendStep {
                template: raw.template,
                class,
                priority: raw.priority.unwrap_or(Priority::Normal),
                channels,
                track_clicks: raw.track_clicks,
                at_most_every_days,
                variants,
            }))
        }
        "wait" => match value.get_ref() {
            toml::Value::String(s) => parse_duration(s).map(|s| Action::Wait(Wait::For(s))),
            toml::Value::Table(t) if t.is_empty() => {
                Err("wait without duration: write e.g. wait = \"3d\"".into())
            }
            v @ toml::Value::Table(_) => {
                let raw: RawWaitUntil = v.clone().try_into().map_err(|e: toml::de::Error| {
                    format!(
                        "invalid wait: {}; write wait = \"3d\", wait = {{ until_time = \"09:00\" }} or wait = {{ until = \"event.ends_on\", offset = \"-30d\" }}",
                        e.message()
                    )
                })?;
                let time = |s: &str, key: &str| -> Result<Time, String> {
                    s.parse()
                        .map_err(|_| format!("{key} '{s}' is not a time of day such as \"09:00\""))
                };
                match (raw.until_time, raw.until) {
                    (Some(t), None) if raw.offset.is_none() && raw.at.is_none() => {
                        Ok(Action::Wait(Wait::UntilTime(time(&t, "until_time")?)))
                    }
                    (None, Some(expr)) => {
                        let offset = match raw.offset.as_deref() {
                            None => None,
                            Some(o) => Some(o.parse::<Span>().map_err(|_| {
                                format!("offset '{o}' is not a duration such as \"-30d\"")
                            })?),
                        };
                        let at = time(raw.at.as_deref().unwrap_or("09:00"), "at")?;
                        Ok(Action::Wait(Wait::UntilDate {
                            date: Condition::parse_date(&expr)?,
                            offset,
                            at,
                        }))
                    }
                    _ => Err(
                        "a wait has either until_time, or until with an optional offset and at"
                            .into(),
                    ),
                }
            }
            _ => Err("wait without duration: write e.g. wait = \"3d\"".into()),
        },
        "wait_for" => {
            let raw: RawWaitFor = table("wait_for")?
                .try_into()
                .map_err(|e: toml::de::Error| format!("invalid wait_for: {}", e.message()))?;
            if !ctx.knows_event(&raw.event) {
                return Err(ctx.unknown_event(&raw.event));
            }
            let timeout = parse_duration(raw.timeout.as_deref().unwrap_or_default())
                .map_err(|_| "wait_for needs a timeout, e.g. timeout = \"14d\"".to_string())?;
            Ok(Action::WaitFor(WaitFor {
                event: raw.event,
                matching: raw.matching,
                timeout,
                on_event: raw.on_event,
                on_timeout: raw.on_timeout,
            }))
        }
        "branch" => {
            let raw: RawBranch = table("branch")?
                .try_into()
                .map_err(|e: toml::de::Error| format!("invalid branch: {}", e.message()))?;
            if raw.then.is_none() && raw.otherwise.is_none() {
                return Err("a branch needs then = \"step\" or else = \"step\"".into());
            }
            Ok(Action::Branch {
                condition: Condition::parse(&raw.condition)?,
                then: raw.then,
                otherwise: raw.otherwise,
            })
        }
        "set" => {
            let raw: RawSet = table("set")?.try_into().map_err(|e: toml::de::Error| {
                format!(
                    "invalid set: {}; write set = {{ attribute = \"name\", value = … }}",
                    e.message()
                )
            })?;
            if raw.attribute.trim().is_empty() || raw.attribute == "tags" {
                return Err(
                    "set needs an attribute name other than tags (use tag for tags)".into(),
                );
            }
            let value =
                serde_json::to_value(&raw.value).map_err(|e| format!("invalid value: {e}"))?;
            Ok(Action::Set {
                attribute: raw.attribute,
                value,
            })
        }
        "grant_points" => {
            let raw: RawGrant = table("grant_points")?.try_into().map_err(|e: toml::de::Error| {
                format!(
                    "invalid grant_points: {}; write grant_points = {{ points = 50, reason = \"Birthday\" }}",
                    e.message()
                )
            })?;
            if raw.points <= 0 {
                return Err("grant_points needs points above zero".into());
            }
            if raw.reason.trim().is_empty() {
                return Err("grant_points needs a reason the customer can read".into());
            }
            Ok(Action::GrantPoints {
                points: raw.points,
                reason: raw.reason,
            })
        }
        "issue_coupon" => {
            let pool =
                match value.get_ref() {
                    toml::Value::String(p) => p.clone(),
                    toml::Value::Table(t) => match t.get("pool").and_then(|p| p.as_str()) {
                        Some(p) if t.len() == 1 => p.to_string(),
                        _ => return Err(
                            "write issue_coupon = \"pool\" or issue_coupon = { pool = \"pool\" }"
                                .into(),
                        ),
                    },
                    _ => return Err("write issue_coupon = \"pool\"".into()),
                };
            if !ctx.coupon_pools.contains(&pool) {
                let mut known: Vec<&String> = ctx.coupon_pools.iter().collect();
                known.sort();
                let known: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
                return Err(format!(
                    "unknown coupon pool '{pool}'; pools in [loyalty.pools] are: {}",
                    known.join(", ")
                ));
            }
            Ok(Action::IssueCoupon { pool })
        }
        "webhook" => {
            let (target, event) = match value.get_ref() {
                toml::Value::String(t) => (t.clone(), None),
                toml::Value::Table(t)
                    if t.keys().all(|k| k == "target" || k == "event")
                        && t.get("target").is_some_and(|v| v.is_str()) =>
                {
                    (
                        t.get("target")
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_string(),
                        t.get("event").and_then(|v| v.as_str()).map(str::to_string),
                    )
                }
                _ => {
                    return Err(
                        "write webhook = \"target\" or webhook = { target = \"target\", event = \"name\" }"
                            .into(),
                    );
                }
            };
            if !ctx.webhook_targets.contains(&target) {
                let mut known: Vec<&str> = ctx.webhook_targets.iter().map(String::as_str).collect();
                known.sort_unstable();
                return Err(format!(
                    "unknown webhook target '{target}'; targets in [webhooks] are: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
            Ok(Action::Webhook { target, event })
        }
        "survey" => match value
            .get_ref()
            .as_str()
            .and_then(aftercare_domain::survey::SurveyKind::parse)
        {
            Some(kind) => Ok(Action::Survey(kind)),
            None => Err("write survey = \"nps\", \"csat\" or \"relationship\"".into()),
        },
        "tag" => match value.get_ref().as_str() {
            Some(tag) if !tag.trim().is_empty() => Ok(Action::Tag(tag.trim().to_string())),
            _ => Err("write tag = \"name\"".into()),
        },
        _ => match value.get_ref().as_bool() {
            Some(true) => Ok(Action::Exit),
            _ => Err("write exit = true".into()),
        },
    }
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
        return Err(format!("duration '{s}' must be longer than zero"));
    }
    Ok(span)
}

pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A send's channels in order of preference (email when none is named): each one known,
/// SMS and push only with a provider and a short text in `template`.
fn send_channels(
    names: &[String],
    template: &str,
    ctx: &CheckContext,
) -> Result<Vec<Channel>, String> {
    let mut channels = Vec::new();
    for name in names {
        match Channel::parse(name) {
            Some(c @ (Channel::Email | Channel::Letter | Channel::Portal)) => {
                channels.push(c);
            }
            Some(c @ (Channel::Sms | Channel::Push)) => {
                if !ctx.providers.contains(&c) {
                    return Err(format!(
                        "channel '{name}' needs a provider: set [channels] {name} = \"<a target in [webhooks]>\""
                    ));
                }
                if !ctx.short_templates.contains(template) {
                    return Err(format!(
                        "template '{template}' has no short text for {name}; add short = \"…\" to each language"
                    ));
                }
                channels.push(c);
            }
            None => {
                return Err(format!(
                    "unknown channel '{name}'; channels are email, sms, push, letter, portal"
                ));
            }
        }
    }
    if channels.is_empty() {
        channels.push(Channel::Email);
    }
    Ok(channels)
}
