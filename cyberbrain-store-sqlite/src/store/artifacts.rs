//! `ArtifactStore` (SPEC §2.4, §2.5, §2.8): report files, inventory snapshots and
//! network-policy recommendations of runs.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use cyberbrain_core::domain::{
    Artifact, ArtifactKind, ArtifactQuery, InventoryQuery, InventorySnapshot,
    NetworkPolicyRecommendation, NewArtifact, NewInventorySnapshot, NewNetworkPolicy, Page,
    PageRequest,
};
use cyberbrain_core::store::ArtifactStore;
use cyberbrain_core::{Error, FieldErrors, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::runs::find_job;
use super::{Listing, SqliteStore, exists, page_matching};
use crate::codec::{Json, Time, Wire};
use crate::error::SqlContext;

const ARTIFACT_COLUMNS: &str = "id, run_id, run_job_id, kind, relative_path, size_bytes, sha256, \
     mime_type, created_at";

const INVENTORY_COLUMNS: &str = "id, run_id, container_id, name, image, state, networks, ports, \
     labels, created_at";

const POLICY_COLUMNS: &str = "id, run_id, source_service, target_service, port, protocol, \
     recommendation, policy_yaml, created_at";

/// Rows of one run (`?1`), or of every run when `?1` is NULL.
const OF_RUN: &str = "(?1 IS NULL OR run_id = ?1)";

fn artifact_from_row(row: &Row<'_>) -> rusqlite::Result<Artifact> {
    Ok(Artifact {
        id: row.get("id")?,
        run_id: row.get("run_id")?,
        run_job_id: row.get("run_job_id")?,
        kind: row.get::<_, Wire<ArtifactKind>>("kind")?.0,
        relative_path: row.get("relative_path")?,
        size_bytes: row.get("size_bytes")?,
        sha256: row.get("sha256")?,
        mime_type: row.get("mime_type")?,
        created_at: row.get::<_, Time>("created_at")?.0,
    })
}

fn inventory_from_row(row: &Row<'_>) -> rusqlite::Result<InventorySnapshot> {
    Ok(InventorySnapshot {
        id: row.get("id")?,
        run_id: row.get("run_id")?,
        container_id: row.get("container_id")?,
        name: row.get("name")?,
        image: row.get("image")?,
        state: row.get("state")?,
        networks: row.get::<_, Json<Vec<String>>>("networks")?.0,
        ports: row.get::<_, Json<Vec<String>>>("ports")?.0,
        labels: row.get::<_, Json<BTreeMap<String, String>>>("labels")?.0,
        created_at: row.get::<_, Time>("created_at")?.0,
    })
}

fn policy_from_row(row: &Row<'_>) -> rusqlite::Result<NetworkPolicyRecommendation> {
    Ok(NetworkPolicyRecommendation {
        id: row.get("id")?,
        run_id: row.get("run_id")?,
        source_service: row.get("source_service")?,
        target_service: row.get("target_service")?,
        port: row.get("port")?,
        protocol: row.get("protocol")?,
        recommendation: row.get("recommendation")?,
        policy_yaml: row.get("policy_yaml")?,
        created_at: row.get::<_, Time>("created_at")?.0,
    })
}

fn load_artifact(conn: &Connection, id: i64) -> Result<Artifact> {
    conn.prepare_cached(&format!(
        "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE id = ?1"
    ))
    .and_then(|mut s| s.query_row([id], artifact_from_row).optional())
    .context(&format!("loading artifact {id}"))?
    .ok_or_else(|| Error::not_found("artifact", id))
}

/// The schema's rules for an artifact row, as messages naming the field.
fn check_artifact(new: &NewArtifact) -> Result<()> {
    let mut errors = FieldErrors::new();
    if new.relative_path.is_empty() {
        errors.add(
            "relative_path",
            "must name the file under the artifacts root",
        );
    }
    if new.size_bytes < 0 {
        errors.add(
            "size_bytes",
            format!("must be 0 or more, got {}", new.size_bytes),
        );
    }
    if new.sha256.len() != 64 || !new.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        errors.add("sha256", "must be the file's SHA-256 as 64 hex digits");
    }
    errors.into_result()
}

/// Every run the rows name must exist: `NotFound` names the first that does not.
fn check_runs_exist(conn: &Connection, run_ids: impl IntoIterator<Item = i64>) -> Result<()> {
    for run_id in run_ids.into_iter().collect::<BTreeSet<_>>() {
        if !exists(conn, "runs", run_id)? {
            return Err(Error::not_found("run", run_id));
        }
    }
    Ok(())
}

#[async_trait]
impl ArtifactStore for SqliteStore {
    async fn put_artifact(&self, new: NewArtifact) -> Result<Artifact> {
        check_artifact(&new)?;
        self.write(move |conn| {
            check_runs_exist(conn, [new.run_id])?;
            if let Some(job_id) = new.run_job_id {
                let job =
                    find_job(conn, job_id)?.ok_or_else(|| Error::not_found("run job", job_id))?;
                if job.run_id != new.run_id {
                    return Err(Error::invalid(
                        "run_job_id",
                        format!(
                            "job {job_id} belongs to run {}, not run {}; register the artifact \
                             under the job's own run",
                            job.run_id, new.run_id
                        ),
                    ));
                }
            }
            let id: i64 = conn
                .prepare_cached(
                    "INSERT INTO artifacts (run_id, run_job_id, kind, relative_path, size_bytes, \
                     sha256, mime_type, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (run_id, relative_path) DO UPDATE SET \
                     run_job_id = excluded.run_job_id, kind = excluded.kind, \
                     size_bytes = excluded.size_bytes, sha256 = excluded.sha256, \
                     mime_type = excluded.mime_type, created_at = excluded.created_at \
                     RETURNING id",
                )
                .and_then(|mut s| {
                    s.query_row(
                        params![
                            new.run_id,
                            new.run_job_id,
                            Wire(new.kind),
                            new.relative_path,
                            new.size_bytes,
                            new.sha256,
                            new.mime_type,
                            Time(new.created_at),
                        ],
                        |r| r.get(0),
                    )
                })
                .context(&format!("registering artifact {:?}", new.relative_path))?;
            load_artifact(conn, id)
        })
        .await
    }

    async fn get_artifact(&self, id: i64) -> Result<Artifact> {
        self.read(move |conn| load_artifact(conn, id)).await
    }

    async fn list_artifacts(&self, query: ArtifactQuery) -> Result<Page<Artifact>> {
        self.read(move |conn| {
            page_matching(
                conn,
                Listing {
                    table: "artifacts",
                    columns: ARTIFACT_COLUMNS,
                    filter: OF_RUN,
                    order: "id",
                },
                &[&query.run_id],
                query.page,
                artifact_from_row,
            )
        })
        .await
    }

    async fn add_inventory(&self, snapshots: Vec<NewInventorySnapshot>) -> Result<()> {
        if snapshots.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            check_runs_exist(conn, snapshots.iter().map(|s| s.run_id))?;
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO inventory_snapshots (run_id, container_id, name, image, state, \
                     networks, ports, labels, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .context("recording the container inventory")?;
            for s in &snapshots {
                insert
                    .execute(params![
                        s.run_id,
                        s.container_id,
                        s.name,
                        s.image,
                        s.state,
                        Json(&s.networks),
                        Json(&s.ports),
                        Json(&s.labels),
                        Time(s.created_at),
                    ])
                    .context(&format!(
                        "recording container {:?} in the inventory of run {}",
                        s.container_id, s.run_id
                    ))?;
            }
            Ok(())
        })
        .await
    }

    async fn list_inventory(&self, query: InventoryQuery) -> Result<Page<InventorySnapshot>> {
        self.read(move |conn| {
            let run_id = match query.run_id {
                Some(run_id) => Some(run_id),
                None => conn
                    .query_row("SELECT MAX(run_id) FROM inventory_snapshots", [], |r| {
                        r.get::<_, Option<i64>>(0)
                    })
                    .context("finding the latest container inventory")?,
            };
            let Some(run_id) = run_id else {
                return Ok(Page {
                    count: 0,
                    items: Vec::new(),
                });
            };
            page_matching(
                conn,
                Listing {
                    table: "inventory_snapshots",
                    columns: INVENTORY_COLUMNS,
                    filter: "run_id = ?1",
                    order: "id",
                },
                &[&run_id],
                query.page,
                inventory_from_row,
            )
        })
        .await
    }

    async fn add_network_policies(&self, policies: Vec<NewNetworkPolicy>) -> Result<()> {
        let mut errors = FieldErrors::new();
        for policy in &policies {
            if !(1..=65535).contains(&policy.port) {
                errors.add(
                    "port",
                    format!(
                        "{} is not a TCP/UDP port (1–65535) in the policy from {:?} to {:?}",
                        policy.port, policy.source_service, policy.target_service
                    ),
                );
            }
        }
        errors.into_result()?;
        if policies.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            check_runs_exist(conn, policies.iter().map(|p| p.run_id))?;
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO network_policy_recommendations (run_id, source_service, \
                     target_service, port, protocol, recommendation, policy_yaml, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .context("recording network-policy recommendations")?;
            for p in &policies {
                insert
                    .execute(params![
                        p.run_id,
                        p.source_service,
                        p.target_service,
                        p.port,
                        p.protocol,
                        p.recommendation,
                        p.policy_yaml,
                        Time(p.created_at),
                    ])
                    .context(&format!(
                        "recording the network policy from {:?} to {:?} of run {}",
                        p.source_service, p.target_service, p.run_id
                    ))?;
            }
            Ok(())
        })
        .await
    }

    async fn list_network_policies(
        &self,
        run_id: Option<i64>,
        page: PageRequest,
    ) -> Result<Page<NetworkPolicyRecommendation>> {
        self.read(move |conn| {
            page_matching(
                conn,
                Listing {
                    table: "network_policy_recommendations",
                    columns: POLICY_COLUMNS,
                    filter: OF_RUN,
                    order: "id",
                },
                &[&run_id],
                page,
                policy_from_row,
            )
        })
        .await
    }
}
