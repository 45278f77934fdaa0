//! G5 in front of any [`ContainerEngine`]: calls that name a container are refused before the
//! inner engine is contacted unless the container is on the enabled allowlist.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{ContainerDetails, ContainerEngine, ContainerSummary, LogLine, NetworkSummary};
use crate::domain::{AllowlistEntry, Timestamp};
use crate::{Error, Result};

/// Wraps an engine so that only allowlisted containers are inspected or read (G5).
///
/// A reference (name, full id or id prefix of at least 12 characters) is resolved against a
/// container listing — the one untargeted call G5 permits — and the inner engine is then called
/// with the resolved full id, so the engine cannot resolve the reference to another container
/// than the one that was checked. With `all_scope` (`task3_scope = "all"` on a D4 directive)
/// every container is in scope and calls pass straight through.
#[derive(Debug)]
pub struct AllowlistedEngine {
    inner: Arc<dyn ContainerEngine>,
    entries: Vec<AllowlistEntry>,
    all_scope: bool,
    /// The last listing and when it was taken, to resolve references without listing again
    /// for every call of one task.
    listing: Mutex<Option<(Instant, Vec<ContainerSummary>)>>,
}

/// How long a listing resolves references. Short, because compose recreates containers under
/// the same name with a new id; a stale hit costs an empty answer for that container.
const LISTING_TTL: Duration = Duration::from_secs(5);

/// What a reference resolved to.
enum Resolved {
    /// An allowlisted container: call the inner engine with this full id.
    Allowed(String),
    /// An allowlisted reference that names no container any more.
    Vanished,
}

impl AllowlistedEngine {
    /// Limits `inner` to the enabled entries among `entries` (disabled ones are dropped).
    pub fn new(
        inner: Arc<dyn ContainerEngine>,
        entries: impl IntoIterator<Item = AllowlistEntry>,
    ) -> Self {
        Self {
            inner,
            entries: entries.into_iter().filter(|e| e.enabled).collect(),
            all_scope: false,
            listing: Mutex::new(None),
        }
    }

    /// Every container in scope (`task3_scope = "all"`, only with a D4 directive: the caller
    /// checks that and records it in the run's snapshot).
    pub fn all_scope(inner: Arc<dyn ContainerEngine>) -> Self {
        Self {
            inner,
            entries: Vec::new(),
            all_scope: true,
            listing: Mutex::new(None),
        }
    }

    pub fn is_all_scope(&self) -> bool {
        self.all_scope
    }

    /// The enabled entries this wrapper admits.
    pub fn entries(&self) -> &[AllowlistEntry] {
        &self.entries
    }

    fn is_allowed(&self, container: &ContainerSummary) -> bool {
        self.entries
            .iter()
            .any(|e| e.matches(&container.id, &container.name))
    }

    /// Lists through the inner engine and remembers the answer for resolving references.
    async fn refresh(&self) -> Result<Vec<ContainerSummary>> {
        let containers = self.inner.list_containers().await?;
        *self.listing.lock().expect("listing lock") = Some((Instant::now(), containers.clone()));
        Ok(containers)
    }

    fn cached(&self) -> Option<Vec<ContainerSummary>> {
        match &*self.listing.lock().expect("listing lock") {
            Some((taken, containers)) if taken.elapsed() < LISTING_TTL => Some(containers.clone()),
            _ => None,
        }
    }

    async fn resolve(&self, reference: &str) -> Result<Resolved> {
        let wanted = reference.trim().trim_start_matches('/');
        let found = match self.cached().and_then(|list| find(&list, wanted)) {
            Some(container) => Some(container),
            // Not in the last listing (or none recent): the container may be new.
            None => find(&self.refresh().await?, wanted),
        };
        match found {
            Some(container) if self.is_allowed(&container) => Ok(Resolved::Allowed(container.id)),
            None if self.entries.iter().any(|e| e.matches(wanted, wanted)) => {
                Ok(Resolved::Vanished)
            }
            _ => Err(Error::Forbidden(format!(
                "container {wanted} is not on the enabled allowlist (G5); add and enable it on the \
                 allowlist, or run with task3_scope=all under a D4 directive"
            ))),
        }
    }
}

/// Docker's resolution order: exact id, exact name, then a unique id prefix (at least 12
/// characters, the allowlist's own rule for short ids).
fn find(containers: &[ContainerSummary], wanted: &str) -> Option<ContainerSummary> {
    if wanted.is_empty() {
        return None;
    }
    if let Some(c) = containers
        .iter()
        .find(|c| c.id == wanted)
        .or_else(|| containers.iter().find(|c| c.name == wanted))
    {
        return Some(c.clone());
    }
    if wanted.len() < 12 {
        return None;
    }
    let mut by_prefix = containers.iter().filter(|c| c.id.starts_with(wanted));
    match (by_prefix.next(), by_prefix.next()) {
        (Some(c), None) => Some(c.clone()),
        _ => None,
    }
}

#[async_trait]
impl ContainerEngine for AllowlistedEngine {
    /// Only allowlisted containers, unless all containers are in scope.
    async fn list_containers(&self) -> Result<Vec<ContainerSummary>> {
        let containers = self.refresh().await?;
        if self.all_scope {
            return Ok(containers);
        }
        Ok(containers
            .into_iter()
            .filter(|c| self.is_allowed(c))
            .collect())
    }

    /// Every network, with members limited to allowlisted containers (unless all are in scope),
    /// so nothing about other containers leaks into reports.
    async fn list_networks(&self) -> Result<Vec<NetworkSummary>> {
        let networks = self.inner.list_networks().await?;
        if self.all_scope {
            return Ok(networks);
        }
        let allowed: Vec<String> = self
            .refresh()
            .await?
            .into_iter()
            .filter(|c| self.is_allowed(c))
            .map(|c| c.id)
            .collect();
        Ok(networks
            .into_iter()
            .map(|mut n| {
                n.containers.retain(|id| allowed.contains(id));
                n
            })
            .collect())
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerDetails> {
        if self.all_scope {
            return self.inner.inspect_container(id).await;
        }
        match self.resolve(id).await? {
            Resolved::Allowed(full_id) => self.inner.inspect_container(&full_id).await,
            Resolved::Vanished => Err(Error::not_found("container", id)),
        }
    }

    async fn logs(&self, id: &str, since: Option<Timestamp>, tail: u32) -> Result<Vec<LogLine>> {
        if self.all_scope {
            return self.inner.logs(id, since, tail).await;
        }
        match self.resolve(id).await? {
            Resolved::Allowed(full_id) => self.inner.logs(&full_id, since, tail).await,
            // The trait's contract for a vanished container.
            Resolved::Vanished => Ok(Vec::new()),
        }
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::testing::FakeContainerEngine;

    const WEB_ID: &str = "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111";
    const DB_ID: &str = "bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222";
    const SECRET_ID: &str = "cccccccccccc3333333333333333333333333333333333333333333333333333";

    fn container(id: &str, name: &str) -> ContainerSummary {
        ContainerSummary {
            id: id.into(),
            name: name.into(),
            image: "busybox".into(),
            state: "running".into(),
            labels: BTreeMap::new(),
            networks: vec!["appnet".into()],
            ports: vec![],
        }
    }

    fn line(text: &str) -> LogLine {
        LogLine {
            timestamp: None,
            stream: "stdout".into(),
            line: text.into(),
        }
    }

    fn entry(container_id: &str, enabled: bool) -> AllowlistEntry {
        AllowlistEntry::for_test(container_id, enabled)
    }

    fn fake() -> Arc<FakeContainerEngine> {
        let engine = FakeContainerEngine::new();
        engine.add_container(container(WEB_ID, "web"), vec![line("web up")]);
        engine.add_container(container(DB_ID, "db"), vec![line("db up")]);
        engine.add_container(container(SECRET_ID, "secret"), vec![line("secret data")]);
        engine.add_network(NetworkSummary {
            id: "n1".into(),
            name: "appnet".into(),
            driver: "bridge".into(),
            containers: vec![WEB_ID.into(), DB_ID.into(), SECRET_ID.into()],
        });
        Arc::new(engine)
    }

    /// web by name, db by short id; secret is on the list but disabled.
    fn wrapped(inner: &Arc<FakeContainerEngine>) -> AllowlistedEngine {
        AllowlistedEngine::new(
            inner.clone(),
            [
                entry("web", true),
                entry(&DB_ID[..12], true),
                entry("secret", false),
            ],
        )
    }

    fn assert_forbidden(err: Error, name: &str) {
        let Error::Forbidden(message) = &err else {
            panic!("expected Forbidden, got {err:?}");
        };
        assert!(
            message.starts_with(&format!(
                "container {name} is not on the enabled allowlist (G5)"
            )),
            "{message}"
        );
    }

    #[tokio::test]
    async fn refused_containers_are_never_contacted() {
        let inner = fake();
        let engine = wrapped(&inner);
        for reference in ["secret", SECRET_ID, &SECRET_ID[..12], "/secret", "nope"] {
            assert_forbidden(
                engine.logs(reference, None, 10).await.unwrap_err(),
                reference.trim_start_matches('/'),
            );
            assert_forbidden(
                engine.inspect_container(reference).await.unwrap_err(),
                reference.trim_start_matches('/'),
            );
        }
        assert!(
            inner.contacted().is_empty(),
            "the inner engine was contacted: {:?}",
            inner.contacted()
        );
    }

    #[tokio::test]
    async fn allowed_containers_are_read_by_their_resolved_full_id() {
        let inner = fake();
        let engine = wrapped(&inner);
        assert_eq!(
            engine.logs("web", None, 10).await.unwrap(),
            vec![line("web up")]
        );
        assert_eq!(
            engine.logs(DB_ID, None, 10).await.unwrap(),
            vec![line("db up")]
        );
        let details = engine.inspect_container("db").await.unwrap();
        assert_eq!(details.summary.id, DB_ID);
        assert_eq!(inner.contacted(), vec![WEB_ID, DB_ID, DB_ID]);
    }

    #[tokio::test]
    async fn listings_show_only_allowlisted_containers() {
        let inner = fake();
        let engine = wrapped(&inner);
        let names: Vec<String> = engine
            .list_containers()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, vec!["web", "db"]);
        let networks = engine.list_networks().await.unwrap();
        assert_eq!(networks[0].containers, vec![WEB_ID, DB_ID]);
        assert!(inner.contacted().is_empty());
    }

    #[tokio::test]
    async fn a_vanished_allowlisted_container_gives_empty_logs_and_not_found() {
        let inner = fake();
        let engine = wrapped(&inner);
        engine.list_containers().await.unwrap();
        inner.remove_container(WEB_ID);
        assert!(engine.logs("web", None, 10).await.unwrap().is_empty());
        assert!(matches!(
            engine.inspect_container("web").await.unwrap_err(),
            Error::NotFound { .. }
        ));
        // Still in the cached listing: the engine itself says it is gone (allowed to ask).
        assert_eq!(inner.contacted(), vec![WEB_ID, WEB_ID]);

        // Not in a fresh listing: answered without asking the engine about it.
        let fresh = wrapped(&inner);
        assert!(fresh.logs("web", None, 10).await.unwrap().is_empty());
        assert!(matches!(
            fresh.inspect_container("web").await.unwrap_err(),
            Error::NotFound { .. }
        ));
        assert_eq!(inner.contacted().len(), 2);
    }

    #[tokio::test]
    async fn a_container_started_after_the_last_listing_is_found() {
        let inner = fake();
        let engine = AllowlistedEngine::new(inner.clone(), [entry("late", true)]);
        engine.list_containers().await.unwrap();
        let late_id = "dddddddddddd4444444444444444444444444444444444444444444444444444";
        inner.add_container(container(late_id, "late"), vec![line("hello")]);
        assert_eq!(
            engine.logs("late", None, 10).await.unwrap(),
            vec![line("hello")]
        );
        assert_eq!(inner.contacted(), vec![late_id]);
    }

    #[tokio::test]
    async fn all_scope_passes_everything_through() {
        let inner = fake();
        let engine = AllowlistedEngine::all_scope(inner.clone());
        assert!(engine.is_all_scope());
        assert_eq!(engine.list_containers().await.unwrap().len(), 3);
        assert_eq!(
            engine.logs("secret", None, 10).await.unwrap(),
            vec![line("secret data")]
        );
        assert_eq!(engine.list_networks().await.unwrap()[0].containers.len(), 3);
        assert_eq!(inner.contacted(), vec!["secret"]);
    }

    #[tokio::test]
    async fn an_unreachable_engine_stays_unavailable() {
        let inner = fake();
        inner.set_unavailable(Some("socket gone".into()));
        let engine = wrapped(&inner);
        assert!(
            engine
                .logs("web", None, 10)
                .await
                .unwrap_err()
                .is_retryable()
        );
        assert!(engine.list_containers().await.unwrap_err().is_retryable());
    }
}
