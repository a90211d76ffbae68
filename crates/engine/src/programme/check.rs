//! What checking a programme needs besides its file ([`CheckContext`]), and the checks on
//! a programme's shape as a whole: where its steps jump and which of them can be reached.

use super::*;

/// What checking needs to know besides the files.
#[derive(Debug, Clone, Default)]
pub struct CheckContext {
    /// Templates that exist, by name.
    pub templates: HashSet<String>,
    /// Event types the brand declared besides the built-in ones.
    pub custom_events: HashSet<String>,
    /// Coupon pools configured in `[loyalty.pools]`.
    pub coupon_pools: HashSet<String>,
    /// Systems configured in `[webhooks]`.
    pub webhook_targets: HashSet<String>,
    /// Templates with a short text for SMS and push in every language.
    pub short_templates: HashSet<String>,
    /// Channels with a provider in `[channels]` (SMS, push); email, letter and the portal
    /// are always there.
    pub providers: HashSet<Channel>,
}

impl CheckContext {
    pub(super) fn knows_event(&self, event: &str) -> bool {
        BUILT_IN_EVENT_TYPES.contains(&event)
            || aftercare_domain::commerce::BEHAVIOUR_EVENT_TYPES.contains(&event)
            || self.custom_events.contains(event)
            || event
                .strip_prefix("occasion_")
                .is_some_and(|o| OCCASIONS.contains(&o))
    }

    pub(super) fn unknown_event(&self, event: &str) -> String {
        format!(
            "unknown event type '{event}'; built-in types are {} (declare others in custom_events)",
            BUILT_IN_EVENT_TYPES.join(", ")
        )
    }
}

pub(super) fn jumps(action: &Action) -> Vec<&String> {
    match action {
        Action::WaitFor(w) => w.on_event.iter().chain(w.on_timeout.iter()).collect(),
        Action::Branch {
            then, otherwise, ..
        } => then.iter().chain(otherwise.iter()).collect(),
        _ => Vec::new(),
    }
}

/// The step indices reachable from the first step.
pub(super) fn reachable_steps(steps: &[Step]) -> HashSet<usize> {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut seen = HashSet::new();
    let mut todo = vec![0usize];
    while let Some(i) = todo.pop() {
        if i >= steps.len() || !seen.insert(i) {
            continue;
        }
        let next = |target: &Option<String>| {
            target
                .as_deref()
                .and_then(|t| index.get(t).copied())
                .unwrap_or(i + 1)
        };
        match &steps[i].action {
            Action::Exit => {}
            Action::WaitFor(w) => todo.extend([next(&w.on_event), next(&w.on_timeout)]),
            Action::Branch {
                then, otherwise, ..
            } => todo.extend([next(then), next(otherwise)]),
            _ => todo.push(i + 1),
        }
    }
    seen
}
