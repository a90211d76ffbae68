//! Programme versions: every version a running enrolment may still be on.
//!
//! When the engine starts, each programme file's version is stored the first time it is
//! seen. A version is immutable: a file changed without raising `version` is refused, so an
//! enrolment that started on version 1 finishes on exactly version 1 — also when it waits
//! eleven months for an anniversary and the binary is upgraded in between.
//!
//! New enrolments start on the programme's **live** version (issue 21): the file's, unless
//! the admin UI's programme editor published a later one or rolled back to an earlier one.
//! A file whose version is higher than any version read from it before is a deploy and
//! goes live; otherwise the live pointer stays where the editor put it.

use std::collections::HashMap;
use std::sync::Arc;

use aftercare_store::Store;
use jiff::Timestamp;

use crate::programme::{CheckContext, Finding, Library, Programme, parse_programme};

/// The current library and every stored version.
#[derive(Debug, Clone, Default)]
pub struct Programmes {
    current: Arc<Library>,
    versions: HashMap<(String, i32), Arc<Programme>>,
}

impl Programmes {
    /// Only the current library (for tools that do not run enrolments).
    pub fn from_library(library: Library) -> Self {
        let versions = library
            .programmes
            .values()
            .map(|p| ((p.id.clone(), p.version), Arc::new(p.clone())))
            .collect();
        Self {
            current: Arc::new(library),
            versions,
        }
    }

    /// The programmes new enrolments start on.
    pub fn current(&self) -> &Library {
        &self.current
    }

    /// A programme at a version.
    pub fn version(&self, id: &str, version: i32) -> Option<&Programme> {
        self.versions
            .get(&(id.to_string(), version))
            .map(Arc::as_ref)
    }
}

/// The same definition, whatever its comments and layout.
fn canonical(text: &str) -> Option<String> {
    toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| toml::to_string(&t).ok())
}

/// Stores new versions, refuses changed ones, and loads every stored version.
pub async fn sync(
    store: &Store,
    library: Library,
    ctx: &CheckContext,
    now: Timestamp,
) -> Result<Programmes, SyncError> {
    let mut findings = Vec::new();
    let mut tx = store.begin().await?;
    tx.lock_content().await?;
    let live: HashMap<String, i32> = tx
        .live_programmes()
        .await?
        .into_iter()
        .map(|(id, v, _, _)| (id, v))
        .collect();
    for p in library.programmes.values() {
        let read_before = tx.latest_file_programme_version(&p.id).await?;
        let deploy = read_before.is_none_or(|v| p.version > v) || !live.contains_key(&p.id);
        if deploy && live.get(&p.id) != Some(&p.version) {
            tx.set_live(
                aftercare_store::Content::Programme,
                &p.id,
                p.version,
                "deploy",
                "files",
                now,
            )
            .await?;
        }
        match tx.programme_version(&p.id, p.version).await? {
            None => tx.insert_programme_version(&p.id, p.version, &p.text, now).await?,
            Some(stored) if canonical(&stored) != canonical(&p.text) => findings.push(Finding {
                file: p.source.clone(),
                line: 1,
                column: 1,
                reason: format!(
                    "programme '{}' version {} changed since customers were enrolled on it (or it was published in the admin UI); raise `version` above every stored one so running enrolments finish on the old one",
                    p.id, p.version
                ),
            }),
            Some(_) => {}
        }
    }
    let stored = tx.programme_versions().await?;
    let live = tx.live_programmes().await?;
    let begun = begun_in_editor(&mut tx, &live, |id| library.programmes.contains_key(id)).await?;
    if !findings.is_empty() {
        return Err(SyncError::Changed(findings));
    }
    tx.commit().await?;
    let mut programmes = Programmes::from_library(library);
    for (id, version, text) in stored {
        if programmes.versions.contains_key(&(id.clone(), version)) {
            continue;
        }
        let source = std::path::PathBuf::from(format!("(stored) {id} v{version}"));
        match parse_programme(&source, &text, ctx) {
            Ok(p) => {
                programmes.versions.insert((id, version), Arc::new(p));
            }
            Err(f) => {
                tracing::warn!(programme = %id, version, findings = ?f, "A stored programme version no longer loads; its enrolments will stop.")
            }
        }
    }
    let mut programmes = programmes.with_live(&live, &begun);
    programmes.resolve_audiences(store).await?;
    Ok(programmes)
}

/// The live programmes no file ever held (begun in the admin UI's editor), among those
/// `known` does not know: they are part of the library though no file holds them, while a
/// programme whose file was removed stays out.
async fn begun_in_editor(
    tx: &mut aftercare_store::Tx,
    live: &[(String, i32, Timestamp, String)],
    known: impl Fn(&str) -> bool,
) -> Result<Vec<String>, aftercare_store::StoreError> {
    let mut begun = Vec::new();
    for (id, ..) in live {
        if !known(id) && tx.latest_file_programme_version(id).await?.is_none() {
            begun.push(id.clone());
        }
    }
    Ok(begun)
}

/// Every stored version and, for each of `ids`, its live one as the current library: what a
/// running process reloads when the editor published or rolled back (issue 21).
pub async fn reload(
    store: &Store,
    ids: &[String],
    ctx: &CheckContext,
) -> Result<Programmes, aftercare_store::StoreError> {
    let mut tx = store.begin_read().await?;
    let stored = tx.programme_versions().await?;
    let live = tx.live_programmes().await?;
    let begun = begun_in_editor(&mut tx, &live, |id| ids.iter().any(|i| i == id)).await?;
    tx.commit().await?;
    let mut versions = HashMap::new();
    for (id, version, text) in stored {
        let source = std::path::PathBuf::from(format!("(stored) {id} v{version}"));
        match parse_programme(&source, &text, ctx) {
            Ok(p) => {
                versions.insert((id, version), Arc::new(p));
            }
            Err(f) => {
                tracing::warn!(programme = %id, version, findings = ?f, "A stored programme version no longer loads.")
            }
        }
    }
    let mut library = Library::default();
    for (id, version, _, _) in &live {
        if (ids.contains(id) || begun.contains(id))
            && let Some(p) = versions.get(&(id.clone(), *version))
        {
            library.programmes.insert(id.clone(), (**p).clone());
        }
    }
    let mut programmes = Programmes {
        current: Arc::new(library),
        versions,
    };
    programmes.resolve_audiences(store).await?;
    Ok(programmes)
}

impl Programmes {
    /// Gives every programme that names a saved audience that audience's condition as the
    /// store has it now; one that names an unknown audience enrols nobody (and says so).
    pub async fn resolve_audiences(
        &mut self,
        store: &Store,
    ) -> Result<(), aftercare_store::StoreError> {
        let needs = |p: &Programme| p.audience.is_some();
        if !self.current.programmes.values().any(needs) && !self.versions.values().any(|p| needs(p))
        {
            return Ok(());
        }
        let mut tx = store.begin_read().await?;
        let audiences = tx.audiences().await?;
        tx.commit().await?;
        let conditions: HashMap<String, crate::condition::Condition> = audiences
            .iter()
            .filter_map(|a| {
                crate::campaigns::parse_audience(&a.definition)
                    .ok()
                    .map(|c| (a.id.clone(), c))
            })
            .collect();
        let resolve = |p: &mut Programme| {
            if let Some(id) = &p.audience {
                p.audience_condition = conditions.get(id).cloned();
                if p.audience_condition.is_none() {
                    tracing::warn!(programme = %p.id, audience = %id, "The programme's audience is not saved; nobody is enrolled until it is.");
                }
            }
        };
        let mut library = (*self.current).clone();
        library.programmes.values_mut().for_each(resolve);
        self.current = Arc::new(library);
        for p in self.versions.values_mut() {
            if p.audience.is_some() {
                resolve(Arc::make_mut(p));
            }
        }
        Ok(())
    }

    /// These programmes, with `before`'s for every programme or version these lack (one
    /// whose stored versions no longer load keeps running as it was).
    pub fn keeping(mut self, before: &Programmes) -> Self {
        let mut library = (*self.current).clone();
        for (id, p) in &before.current.programmes {
            library
                .programmes
                .entry(id.clone())
                .or_insert_with(|| p.clone());
        }
        for (key, p) in &before.versions {
            self.versions
                .entry(key.clone())
                .or_insert_with(|| p.clone());
        }
        self.current = Arc::new(library);
        self
    }

    /// The current library with each programme at its live stored version, and those
    /// `begun` in the editor added.
    fn with_live(mut self, live: &[(String, i32, Timestamp, String)], begun: &[String]) -> Self {
        let mut library = (*self.current).clone();
        for (id, version, _, _) in live {
            let Some(stored) = self.versions.get(&(id.clone(), *version)).cloned() else {
                continue;
            };
            match library.programmes.get_mut(id) {
                Some(p) if p.version != *version => *p = (*stored).clone(),
                Some(_) => {}
                None if begun.contains(id) => {
                    library.programmes.insert(id.clone(), (*stored).clone());
                }
                None => {}
            }
        }
        self.current = Arc::new(library);
        self
    }
}

/// Why the versions could not be synced.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Files changed without a version bump.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Changed(Vec<Finding>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] aftercare_store::StoreError),
}

/// A unified diff between two versions of a programme, for `aftercare programme diff`.
pub fn diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_layout_do_not_count_as_a_change() {
        assert_eq!(canonical("a = 1 # x\nb=2"), canonical("b = 2\n\n a = 1"));
        assert_ne!(canonical("a = 1"), canonical("a = 2"));
    }

    #[test]
    fn diff_marks_added_and_removed_lines() {
        let d = diff("a\nb\nc\n", "a\nc\nd\n", "v1", "v2");
        assert!(
            d.contains("-b\n") && d.contains("+d\n") && d.starts_with("--- v1\n+++ v2\n"),
            "{d}"
        );
    }
}
