//! Hotspots (SPEC §3.3): a GPU whose utilisation is above the utilisation threshold (default
//! 80 %) or whose memory use is above the memory threshold (default 90 %).
//!
//! "Above" is strict: a GPU at exactly 80 % utilisation or exactly 90 % memory is not a hotspot.
//! Unknown values (`[N/A]`) never make a hotspot.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Gpu, round2};
use crate::{Error, FieldErrors, Result};

/// The default utilisation threshold in percent (task config `util_threshold_pct`).
pub const DEFAULT_UTIL_THRESHOLD_PCT: f64 = 80.0;
/// The default memory threshold in percent (task config `mem_threshold_pct`).
pub const DEFAULT_MEM_THRESHOLD_PCT: f64 = 90.0;

/// The two thresholds, in percent (0–100).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub util_threshold_pct: f64,
    pub mem_threshold_pct: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            util_threshold_pct: DEFAULT_UTIL_THRESHOLD_PCT,
            mem_threshold_pct: DEFAULT_MEM_THRESHOLD_PCT,
        }
    }
}

impl Thresholds {
    /// Reads `util_threshold_pct` and `mem_threshold_pct` from a task (or directive task)
    /// config object such as the seeded `{"util_threshold_pct": 80, "mem_threshold_pct": 90}`.
    /// A missing key or a `null` takes the default; other keys are ignored (the config object
    /// is shared with other settings). A value that is not a number from 0 to 100 is
    /// [`Error::InvalidInput`] naming `config.<key>`.
    pub fn from_config(config: &Value) -> Result<Self> {
        let mut thresholds = Self::default();
        let Some(object) = config.as_object() else {
            return match config {
                Value::Null => Ok(thresholds),
                _ => Err(Error::invalid(
                    "config",
                    "must be a JSON object such as {\"util_threshold_pct\": 80, \
                     \"mem_threshold_pct\": 90}",
                )),
            };
        };
        let mut errors = FieldErrors::new();
        for (key, slot) in [
            ("util_threshold_pct", &mut thresholds.util_threshold_pct),
            ("mem_threshold_pct", &mut thresholds.mem_threshold_pct),
        ] {
            match object.get(key) {
                None | Some(Value::Null) => {}
                Some(value) => match value.as_f64() {
                    Some(pct) if (0.0..=100.0).contains(&pct) => *slot = pct,
                    _ => errors.add(
                        format!("config.{key}"),
                        format!("must be a number from 0 to 100 (percent), got {value}"),
                    ),
                },
            }
        }
        errors.into_result()?;
        Ok(thresholds)
    }
}

/// What crossed its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HotspotKind {
    Utilization,
    Memory,
}

impl HotspotKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Utilization => "utilization",
            Self::Memory => "memory",
        }
    }
}

/// One GPU above one threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hotspot {
    pub gpu_index: u32,
    pub kind: HotspotKind,
    /// The measured value in percent, rounded to two decimals (the comparison uses the exact
    /// value).
    pub value_pct: f64,
    pub threshold_pct: f64,
}

/// The hotspots of `gpus`, ordered by GPU index, utilisation before memory.
pub fn hotspots(gpus: &[Gpu], thresholds: Thresholds) -> Vec<Hotspot> {
    let mut found = Vec::new();
    for gpu in gpus {
        let measured = [
            (
                HotspotKind::Utilization,
                gpu.utilization_pct.map(f64::from),
                thresholds.util_threshold_pct,
            ),
            (
                HotspotKind::Memory,
                gpu.memory_used_pct(),
                thresholds.mem_threshold_pct,
            ),
        ];
        for (kind, value, threshold) in measured {
            if let Some(value) = value.filter(|v| *v > threshold) {
                found.push(Hotspot {
                    gpu_index: gpu.index,
                    kind,
                    value_pct: round2(value),
                    threshold_pct: threshold,
                });
            }
        }
    }
    found.sort_by(|a, b| a.gpu_index.cmp(&b.gpu_index).then(a.kind.cmp(&b.kind)));
    found
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn gpu(index: u32, util: Option<u32>, used: Option<u64>, total: Option<u64>) -> Gpu {
        Gpu {
            index,
            uuid: format!("GPU-{index}"),
            name: "NVIDIA A100-SXM4-80GB".into(),
            memory_total_mib: total,
            memory_used_mib: used,
            utilization_pct: util,
            temperature_c: Some(50),
            power_draw_w: Some(300.0),
        }
    }

    fn kinds(gpu: Gpu, thresholds: Thresholds) -> Vec<HotspotKind> {
        hotspots(&[gpu], thresholds)
            .into_iter()
            .map(|h| h.kind)
            .collect()
    }

    #[test]
    fn thresholds_are_strict_at_the_boundaries() {
        use HotspotKind::{Memory, Utilization};
        let d = Thresholds::default();
        // 81920 MiB total: 73728 is exactly 90 %, 73729 just above.
        let cases: &[(Option<u32>, Option<u64>, &[HotspotKind])] = &[
            (Some(79), Some(0), &[]),
            (Some(80), Some(0), &[]),
            (Some(81), Some(0), &[Utilization]),
            (Some(100), Some(0), &[Utilization]),
            (Some(0), Some(73727), &[]),
            (Some(0), Some(73728), &[]),
            (Some(0), Some(73729), &[Memory]),
            (Some(0), Some(81920), &[Memory]),
            (Some(95), Some(80000), &[Utilization, Memory]),
            (None, None, &[]),
            (None, Some(81920), &[Memory]),
            (Some(99), None, &[Utilization]),
        ];
        for (util, used, expected) in cases {
            assert_eq!(
                kinds(gpu(0, *util, *used, Some(81920)), d),
                *expected,
                "util {util:?} used {used:?}"
            );
        }
    }

    #[test]
    fn unknown_or_zero_total_memory_is_never_a_hotspot() {
        let d = Thresholds::default();
        assert!(kinds(gpu(0, Some(0), Some(100), None), d).is_empty());
        assert!(kinds(gpu(0, Some(0), Some(100), Some(0)), d).is_empty());
    }

    #[test]
    fn custom_thresholds_including_zero_and_hundred() {
        let zero = Thresholds {
            util_threshold_pct: 0.0,
            mem_threshold_pct: 0.0,
        };
        assert!(kinds(gpu(0, Some(0), Some(0), Some(10)), zero).is_empty());
        assert_eq!(kinds(gpu(0, Some(1), Some(1), Some(10)), zero).len(), 2);
        let hundred = Thresholds {
            util_threshold_pct: 100.0,
            mem_threshold_pct: 100.0,
        };
        assert!(kinds(gpu(0, Some(100), Some(10), Some(10)), hundred).is_empty());
    }

    #[test]
    fn hotspots_are_ordered_and_rounded() {
        let gpus = [
            gpu(3, Some(90), Some(80000), Some(81920)),
            gpu(1, Some(10), Some(81000), Some(81920)),
            gpu(2, Some(10), Some(10), Some(81920)),
        ];
        let found = hotspots(&gpus, Thresholds::default());
        assert_eq!(
            found,
            vec![
                Hotspot {
                    gpu_index: 1,
                    kind: HotspotKind::Memory,
                    value_pct: 98.88,
                    threshold_pct: 90.0,
                },
                Hotspot {
                    gpu_index: 3,
                    kind: HotspotKind::Utilization,
                    value_pct: 90.0,
                    threshold_pct: 80.0,
                },
                Hotspot {
                    gpu_index: 3,
                    kind: HotspotKind::Memory,
                    value_pct: 97.66,
                    threshold_pct: 90.0,
                },
            ]
        );
        assert_eq!(
            serde_json::to_value(&found[0]).unwrap()["kind"],
            json!("memory")
        );
    }

    #[test]
    fn thresholds_from_config() {
        let ok: &[(Value, Thresholds)] = &[
            (Value::Null, Thresholds::default()),
            (json!({}), Thresholds::default()),
            (
                json!({"util_threshold_pct": 80, "mem_threshold_pct": 90}),
                Thresholds::default(),
            ),
            (
                json!({"util_threshold_pct": 50.5, "other": "ignored"}),
                Thresholds {
                    util_threshold_pct: 50.5,
                    mem_threshold_pct: 90.0,
                },
            ),
            (
                json!({"util_threshold_pct": null, "mem_threshold_pct": 0}),
                Thresholds {
                    util_threshold_pct: 80.0,
                    mem_threshold_pct: 0.0,
                },
            ),
        ];
        for (config, expected) in ok {
            assert_eq!(
                Thresholds::from_config(config).unwrap(),
                *expected,
                "{config}"
            );
        }

        let bad: &[(Value, &str)] = &[
            (
                json!({"util_threshold_pct": 101}),
                "config.util_threshold_pct",
            ),
            (
                json!({"util_threshold_pct": -1}),
                "config.util_threshold_pct",
            ),
            (
                json!({"mem_threshold_pct": "90"}),
                "config.mem_threshold_pct",
            ),
            (
                json!({"mem_threshold_pct": [90]}),
                "config.mem_threshold_pct",
            ),
            (json!([1, 2]), "config"),
            (json!("x"), "config"),
        ];
        for (config, field) in bad {
            match Thresholds::from_config(config) {
                Err(Error::InvalidInput(errors)) => assert!(
                    errors.fields().any(|(f, _)| f == *field),
                    "{config}: {errors}"
                ),
                other => panic!("{config}: {other:?}"),
            }
        }
    }
}
