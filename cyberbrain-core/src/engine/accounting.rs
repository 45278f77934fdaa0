//! Token accounting, cost estimates, inventory and the numbers behind `/metrics` (SPEC §4).

use std::collections::BTreeMap;

use serde::Serialize;

use super::Cyberbrain;
use crate::Result;
use crate::domain::{
    DirectiveUsage, InventoryQuery, InventorySnapshot, NetworkPolicyRecommendation, Page,
    PageRequest, StoreMetrics, TokenStats,
};

/// `GET /api/cost-report/`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CostReport {
    pub total_cost: f64,
    pub by_model: BTreeMap<String, ModelCost>,
    pub note: String,
}

/// One model's share of the cost report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelCost {
    pub tokens: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub calls: i64,
    pub estimated_cost: f64,
    /// False when no rate is configured for this model (its cost counts as 0).
    pub rate_configured: bool,
}

/// Everything `/metrics` and `/metrics/json/` show.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricsSnapshot {
    #[serde(flatten)]
    pub store: StoreMetrics,
    pub max_running_runs: u32,
    pub max_running_jobs_per_task: u32,
}

impl Cyberbrain {
    pub async fn token_stats(&self) -> Result<TokenStats> {
        self.store.token_stats().await
    }

    /// Estimated cost per model from the configured per-1000-token rates (`llm.rates`), prompt
    /// and completion priced separately. Local models usually cost nothing; rates let an
    /// operator compare with a hosted service or account for power.
    pub async fn cost_report(&self) -> Result<CostReport> {
        let mut by_model = BTreeMap::new();
        let mut total_cost = 0.0;
        for usage in self.store.usage_by_model().await? {
            let rates = self.config.llm.rates.get(&usage.model);
            let estimated_cost = rates.map_or(0.0, |rates| {
                round6(
                    usage.prompt_tokens as f64 * rates.prompt_per_1k / 1000.0
                        + usage.completion_tokens as f64 * rates.completion_per_1k / 1000.0,
                )
            });
            total_cost += estimated_cost;
            by_model.insert(
                usage.model,
                ModelCost {
                    tokens: usage.total_tokens,
                    prompt_tokens: usage.prompt_tokens,
                    completion_tokens: usage.completion_tokens,
                    calls: usage.calls,
                    estimated_cost,
                    rate_configured: rates.is_some(),
                },
            );
        }
        Ok(CostReport {
            total_cost: round6(total_cost),
            by_model,
            note: "Estimates from the per-1000-token rates in `llm.rates` of the configuration \
                   (prompt and completion priced separately); models without a rate count as 0."
                .into(),
        })
    }

    pub async fn usage_by_directive(&self) -> Result<Vec<DirectiveUsage>> {
        self.store.usage_by_directive().await
    }

    /// One run's inventory, or the latest run's when none is named.
    pub async fn container_inventory(
        &self,
        query: InventoryQuery,
    ) -> Result<Page<InventorySnapshot>> {
        if let Some(run_id) = query.run_id {
            self.store.get_run(run_id).await?;
        }
        self.store.list_inventory(query).await
    }

    pub async fn network_policies(
        &self,
        run_id: Option<i64>,
        page: PageRequest,
    ) -> Result<Page<NetworkPolicyRecommendation>> {
        if let Some(run_id) = run_id {
            self.store.get_run(run_id).await?;
        }
        self.store.list_network_policies(run_id, page).await
    }

    pub async fn metrics(&self) -> Result<MetricsSnapshot> {
        Ok(MetricsSnapshot {
            store: self.store.metrics().await?,
            max_running_runs: self.config.scheduler.max_global,
            max_running_jobs_per_task: self.config.scheduler.max_per_task,
        })
    }
}

fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}
