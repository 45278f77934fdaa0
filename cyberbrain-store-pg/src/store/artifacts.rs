//! `ArtifactStore` (SPEC §2.4, §2.5, §2.8): report files, `service_map`'s inventory and its
//! network-policy recommendations.

use std::collections::BTreeSet;

use async_trait::async_trait;
use cyberbrain_core::domain::{
    Artifact, ArtifactQuery, InventoryQuery, InventorySnapshot, NetworkPolicyRecommendation,
    NewArtifact, NewInventorySnapshot, NewNetworkPolicy, Page, PageRequest,
};
use cyberbrain_core::store::ArtifactStore;
use cyberbrain_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};

use super::{PageSql, PgStore, json, page_where, wire};
use crate::error::PgContext;

macro_rules! artifact_columns {
    () => {
        "id, run_id, run_job_id, kind, relative_path, size_bytes, sha256, mime_type, created_at"
    };
}

macro_rules! inventory_columns {
    () => {
        "id, run_id, container_id, name, image, state, networks, ports, labels, created_at"
    };
}

macro_rules! policy_columns {
    () => {
        "id, run_id, source_service, target_service, port, protocol, recommendation, \
         policy_yaml, created_at"
    };
}

fn artifact_from_row(row: &PgRow) -> Result<Artifact, sqlx::Error> {
    Ok(Artifact {
        id: row.try_get("id")?,
        run_id: row.try_get("run_id")?,
        run_job_id: row.try_get("run_job_id")?,
        kind: wire(row, "kind")?,
        relative_path: row.try_get("relative_path")?,
        size_bytes: row.try_get("size_bytes")?,
        sha256: row.try_get("sha256")?,
        mime_type: row.try_get("mime_type")?,
        created_at: row.try_get("created_at")?,
    })
}

fn inventory_from_row(row: &PgRow) -> Result<InventorySnapshot, sqlx::Error> {
    Ok(InventorySnapshot {
        id: row.try_get("id")?,
        run_id: row.try_get("run_id")?,
        container_id: row.try_get("container_id")?,
        name: row.try_get("name")?,
        image: row.try_get("image")?,
        state: row.try_get("state")?,
        networks: row.try_get("networks")?,
        ports: row.try_get("ports")?,
        labels: json(row, "labels")?,
        created_at: row.try_get("created_at")?,
    })
}

fn policy_from_row(row: &PgRow) -> Result<NetworkPolicyRecommendation, sqlx::Error> {
    Ok(NetworkPolicyRecommendation {
        id: row.try_get("id")?,
        run_id: row.try_get("run_id")?,
        source_service: row.try_get("source_service")?,
        target_service: row.try_get("target_service")?,
        port: row.try_get("port")?,
        protocol: row.try_get("protocol")?,
        recommendation: row.try_get("recommendation")?,
        policy_yaml: row.try_get("policy_yaml")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Artifacts, optionally of one run (`$1`), by id.
const LIST_ARTIFACTS: PageSql = PageSql {
    count: "SELECT COUNT(*) FROM artifacts WHERE ($1::bigint IS NULL OR run_id = $1)",
    page: concat!(
        "SELECT ",
        artifact_columns!(),
        " FROM artifacts WHERE ($1::bigint IS NULL OR run_id = $1) ORDER BY id LIMIT $2 OFFSET $3"
    ),
};

macro_rules! inventory_run {
    () => {
        "run_id = COALESCE($1::bigint, (SELECT MAX(run_id) FROM inventory_snapshots))"
    };
}

/// One run's inventory (`$1`) by id; with no run, the inventory of the latest run that has one.
const LIST_INVENTORY: PageSql = PageSql {
    count: concat!(
        "SELECT COUNT(*) FROM inventory_snapshots WHERE ",
        inventory_run!()
    ),
    page: concat!(
        "SELECT ",
        inventory_columns!(),
        " FROM inventory_snapshots WHERE ",
        inventory_run!(),
        " ORDER BY id LIMIT $2 OFFSET $3"
    ),
};

/// Recommendations, optionally of one run (`$1`), by id.
const LIST_POLICIES: PageSql = PageSql {
    count: "SELECT COUNT(*) FROM network_policy_recommendations \
            WHERE ($1::bigint IS NULL OR run_id = $1)",
    page: concat!(
        "SELECT ",
        policy_columns!(),
        " FROM network_policy_recommendations WHERE ($1::bigint IS NULL OR run_id = $1) \
         ORDER BY id LIMIT $2 OFFSET $3"
    ),
};

/// Makes sure every run exists and keeps it from being deleted until the transaction ends.
async fn lock_runs(
    conn: &mut PgConnection,
    runs: impl IntoIterator<Item = i64>,
    what: &str,
) -> Result<()> {
    let wanted: BTreeSet<i64> = runs.into_iter().collect();
    let ids: Vec<i64> = wanted.iter().copied().collect();
    let found: BTreeSet<i64> =
        sqlx::query_scalar("SELECT id FROM runs WHERE id = ANY ($1) ORDER BY id FOR KEY SHARE")
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await
            .context(what)?
            .into_iter()
            .collect();
    match wanted.difference(&found).next() {
        Some(missing) => Err(Error::not_found("run", missing)),
        None => Ok(()),
    }
}

/// Makes sure the job exists and belongs to `run_id`.
async fn check_job(conn: &mut PgConnection, run_id: i64, job_id: i64, what: &str) -> Result<()> {
    let owner: Option<i64> =
        sqlx::query_scalar("SELECT run_id FROM run_jobs WHERE id = $1 FOR KEY SHARE")
            .bind(job_id)
            .fetch_optional(conn)
            .await
            .context(what)?;
    match owner {
        None => Err(Error::not_found("run job", job_id)),
        Some(owner) if owner != run_id => Err(Error::invalid(
            "run_job_id",
            format!("job {job_id} belongs to run {owner}, not run {run_id}"),
        )),
        Some(_) => Ok(()),
    }
}

#[async_trait]
impl ArtifactStore for PgStore {
    async fn put_artifact(&self, new: NewArtifact) -> Result<Artifact> {
        let what = format!(
            "registering artifact {:?} of run {}",
            new.relative_path, new.run_id
        );
        let mut tx = self.begin(&what).await?;
        lock_runs(&mut tx, [new.run_id], &what).await?;
        if let Some(job_id) = new.run_job_id {
            check_job(&mut tx, new.run_id, job_id, &what).await?;
        }
        // One statement: concurrent registrations of one path leave one row, with its first id.
        let row = sqlx::query(concat!(
            "INSERT INTO artifacts (run_id, run_job_id, kind, relative_path, size_bytes, sha256, \
               mime_type, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT ON CONSTRAINT artifacts_run_path_key DO UPDATE SET \
               run_job_id = EXCLUDED.run_job_id, kind = EXCLUDED.kind, \
               size_bytes = EXCLUDED.size_bytes, sha256 = EXCLUDED.sha256, \
               mime_type = EXCLUDED.mime_type, created_at = EXCLUDED.created_at \
             RETURNING ",
            artifact_columns!()
        ))
        .bind(new.run_id)
        .bind(new.run_job_id)
        .bind(new.kind.as_str())
        .bind(&new.relative_path)
        .bind(new.size_bytes)
        .bind(&new.sha256)
        .bind(&new.mime_type)
        .bind(new.created_at)
        .fetch_one(&mut *tx)
        .await
        .context(&what)?;
        let artifact = artifact_from_row(&row).context(&what)?;
        tx.commit().await.context(&what)?;
        Ok(artifact)
    }

    async fn get_artifact(&self, id: i64) -> Result<Artifact> {
        let what = format!("loading artifact {id}");
        sqlx::query(concat!(
            "SELECT ",
            artifact_columns!(),
            " FROM artifacts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .context(&what)?
        .map(|row| artifact_from_row(&row))
        .transpose()
        .context(&what)?
        .ok_or_else(|| Error::not_found("artifact", id))
    }

    async fn list_artifacts(&self, query: ArtifactQuery) -> Result<Page<Artifact>> {
        let run_id = query.run_id;
        page_where(
            self,
            "listing artifacts",
            &LIST_ARTIFACTS,
            query.page,
            move |q| q.bind(run_id),
            artifact_from_row,
        )
        .await
    }

    async fn add_inventory(&self, snapshots: Vec<NewInventorySnapshot>) -> Result<()> {
        let what = "recording the container inventory";
        if snapshots.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin(what).await?;
        lock_runs(&mut tx, snapshots.iter().map(|s| s.run_id), what).await?;
        for snapshot in &snapshots {
            sqlx::query(
                "INSERT INTO inventory_snapshots (run_id, container_id, name, image, state, \
                   networks, ports, labels, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(snapshot.run_id)
            .bind(&snapshot.container_id)
            .bind(&snapshot.name)
            .bind(&snapshot.image)
            .bind(&snapshot.state)
            .bind(&snapshot.networks)
            .bind(&snapshot.ports)
            .bind(Json(&snapshot.labels))
            .bind(snapshot.created_at)
            .execute(&mut *tx)
            .await
            .context(what)?;
        }
        tx.commit().await.context(what)
    }

    async fn list_inventory(&self, query: InventoryQuery) -> Result<Page<InventorySnapshot>> {
        let run_id = query.run_id;
        page_where(
            self,
            "listing the container inventory",
            &LIST_INVENTORY,
            query.page,
            move |q| q.bind(run_id),
            inventory_from_row,
        )
        .await
    }

    async fn add_network_policies(&self, policies: Vec<NewNetworkPolicy>) -> Result<()> {
        let what = "recording network-policy recommendations";
        if let Some(bad) = policies.iter().find(|p| !(1..=65535).contains(&p.port)) {
            return Err(Error::invalid(
                "port",
                format!(
                    "{} is not a TCP/UDP port (1-65535) in the recommendation for {} -> {}",
                    bad.port, bad.source_service, bad.target_service
                ),
            ));
        }
        if policies.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin(what).await?;
        lock_runs(&mut tx, policies.iter().map(|p| p.run_id), what).await?;
        for policy in &policies {
            sqlx::query(
                "INSERT INTO network_policy_recommendations (run_id, source_service, \
                   target_service, port, protocol, recommendation, policy_yaml, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(policy.run_id)
            .bind(&policy.source_service)
            .bind(&policy.target_service)
            .bind(policy.port)
            .bind(&policy.protocol)
            .bind(&policy.recommendation)
            .bind(&policy.policy_yaml)
            .bind(policy.created_at)
            .execute(&mut *tx)
            .await
            .context(what)?;
        }
        tx.commit().await.context(what)
    }

    async fn list_network_policies(
        &self,
        run_id: Option<i64>,
        page: PageRequest,
    ) -> Result<Page<NetworkPolicyRecommendation>> {
        page_where(
            self,
            "listing network-policy recommendations",
            &LIST_POLICIES,
            page,
            move |q| q.bind(run_id),
            policy_from_row,
        )
        .await
    }
}
