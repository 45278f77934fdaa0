//! Parsers for `nvidia-smi --format=csv,noheader,nounits` output.
//!
//! What real `nvidia-smi` prints, and how it is read:
//! - One record per line, fields separated by `, ` (comma + space); no header (`noheader`), no
//!   units (`nounits`), no quoting. Fields are trimmed, `\r\n` line ends are accepted.
//! - A value the GPU or driver cannot give is written in brackets: `[N/A]`, `[Not Supported]`,
//!   `[Unknown Error]`, `[Insufficient Permissions]`, `[GPU requires reset]`. Any bracketed
//!   value, a bare `N/A` and an empty field read as `None` for optional fields.
//! - Product names contain no commas in practice (`NVIDIA H100 80GB HBM3`,
//!   `NVIDIA A100-SXM4-80GB`, `NVIDIA GeForce RTX 4090`), but nothing guarantees it and the
//!   output is not quoted. The name is the only free-text field, so a GPU line is split by its
//!   first two and last five commas and whatever lies between is the name, commas included.
//! - `WARNING: …` lines (e.g. `WARNING: infoROM is corrupted at gpu 0000:01:00.0`) and the
//!   `No running processes found` line some drivers print are skipped.
//! - Empty output is an empty list.
//!
//! A line that does not fit is an [`Error::Backend`] naming the query, the 1-based line number,
//! the rule and the line itself (cut to 200 characters) — never a panic.

use std::str::FromStr;

use super::{Gpu, GpuProcess};
use crate::{Error, Result};

/// How many fields a `--query-gpu` line has (see [`super::GPU_FIELDS`]).
const GPU_FIELD_COUNT: usize = 8;
/// How many fields a `--query-compute-apps` line has (see [`super::APPS_FIELDS`]).
const APPS_FIELD_COUNT: usize = 3;

/// Parses the output of [`super::GPU_QUERY_ARGS`] into GPUs sorted by index (then uuid).
pub fn parse_gpus(csv: &str) -> Result<Vec<Gpu>> {
    let mut gpus = Vec::new();
    for (number, line) in records(csv) {
        let at = Location {
            query: "--query-gpu",
            number,
            line,
        };
        gpus.push(parse_gpu_line(&at)?);
    }
    gpus.sort_by(|a, b| a.index.cmp(&b.index).then_with(|| a.uuid.cmp(&b.uuid)));
    Ok(gpus)
}

/// Parses the output of [`super::APPS_QUERY_ARGS`] into processes sorted by GPU uuid, then pid.
pub fn parse_processes(csv: &str) -> Result<Vec<GpuProcess>> {
    let mut processes = Vec::new();
    for (number, line) in records(csv) {
        if line.eq_ignore_ascii_case("No running processes found") {
            continue;
        }
        let at = Location {
            query: "--query-compute-apps",
            number,
            line,
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != APPS_FIELD_COUNT {
            return Err(at.error(format!(
                "expected {APPS_FIELD_COUNT} comma-separated fields (gpu_uuid, pid, \
                 used_memory), found {}",
                fields.len()
            )));
        }
        processes.push(GpuProcess {
            gpu_uuid: at.required_text(fields[0], "gpu_uuid")?,
            pid: at.required(fields[1], "pid", "a process id")?,
            used_memory_mib: at.optional(fields[2], "used_memory", "a whole number of MiB")?,
        });
    }
    processes.sort_by(|a, b| a.gpu_uuid.cmp(&b.gpu_uuid).then(a.pid.cmp(&b.pid)));
    Ok(processes)
}

fn parse_gpu_line(at: &Location<'_>) -> Result<Gpu> {
    let field_count = at.line.split(',').count();
    let wrong_count = || {
        at.error(format!(
            "expected {GPU_FIELD_COUNT} comma-separated fields (index, uuid, name, memory.total, \
             memory.used, utilization.gpu, temperature.gpu, power.draw), found {field_count}"
        ))
    };
    if field_count < GPU_FIELD_COUNT {
        return Err(wrong_count());
    }
    // index, uuid, then the rest; the last five fields are numeric, so the name is what is left.
    let mut head = at.line.splitn(3, ',');
    let (Some(index), Some(uuid), Some(rest)) = (head.next(), head.next(), head.next()) else {
        return Err(wrong_count());
    };
    let mut tail: Vec<&str> = rest.rsplitn(6, ',').collect();
    if tail.len() != 6 {
        return Err(wrong_count());
    }
    tail.reverse();
    let [name, total, used, util, temp, power] = [
        tail[0].trim(),
        tail[1].trim(),
        tail[2].trim(),
        tail[3].trim(),
        tail[4].trim(),
        tail[5].trim(),
    ];
    let power_draw_w: Option<f64> = at.optional(power, "power.draw", "a number of watts")?;
    if power_draw_w.is_some_and(|w| !w.is_finite()) {
        return Err(at.error(format!(
            "field power.draw must be a finite number of watts or [N/A], got {power:?}"
        )));
    }
    Ok(Gpu {
        index: at.required(index.trim(), "index", "a GPU index")?,
        uuid: at.required_text(uuid.trim(), "uuid")?,
        name: name.to_string(),
        memory_total_mib: at.optional(total, "memory.total", "a whole number of MiB")?,
        memory_used_mib: at.optional(used, "memory.used", "a whole number of MiB")?,
        utilization_pct: at.optional(util, "utilization.gpu", "a whole percentage")?,
        temperature_c: at.optional(temp, "temperature.gpu", "a whole number of °C")?,
        power_draw_w,
    })
}

/// The lines that carry records, with their 1-based line numbers: blank lines and `WARNING:`
/// lines are skipped.
fn records(csv: &str) -> impl Iterator<Item = (usize, &str)> {
    csv.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with("WARNING:"))
}

/// Whether a field says "no value": `[N/A]`, `[Not Supported]` or any other bracketed note,
/// a bare `N/A`, or nothing at all.
fn is_missing(field: &str) -> bool {
    field.is_empty()
        || field.eq_ignore_ascii_case("N/A")
        || (field.starts_with('[') && field.ends_with(']'))
}

/// Where in the output a record came from, for error messages.
struct Location<'a> {
    query: &'static str,
    number: usize,
    line: &'a str,
}

impl Location<'_> {
    fn error(&self, rule: String) -> Error {
        const MAX_SHOWN: usize = 200;
        let shown: String = self.line.chars().take(MAX_SHOWN).collect();
        let cut = if shown.len() < self.line.len() {
            "…"
        } else {
            ""
        };
        Error::backend(format!(
            "unexpected nvidia-smi {} output on line {}: {rule}; the line was {shown:?}{cut} \
             (check that NVIDIA_SMI points to nvidia-smi itself)",
            self.query, self.number
        ))
    }

    /// A value that may be missing (`None`) but must parse when present.
    fn optional<T: FromStr>(&self, field: &str, name: &str, what: &str) -> Result<Option<T>> {
        if is_missing(field) {
            return Ok(None);
        }
        field.parse().map(Some).map_err(|_| {
            self.error(format!(
                "field {name} must be {what} or [N/A], got {field:?}"
            ))
        })
    }

    /// A value that must be present and parse.
    fn required<T: FromStr>(&self, field: &str, name: &str, what: &str) -> Result<T> {
        field
            .parse()
            .map_err(|_| self.error(format!("field {name} must be {what}, got {field:?}")))
    }

    /// A text value that must be present.
    fn required_text(&self, field: &str, name: &str) -> Result<String> {
        if is_missing(field) {
            return Err(self.error(format!("field {name} must not be empty, got {field:?}")));
        }
        Ok(field.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(index: u32, uuid: &str, name: &str) -> Gpu {
        Gpu {
            index,
            uuid: uuid.into(),
            name: name.into(),
            memory_total_mib: None,
            memory_used_mib: None,
            utilization_pct: None,
            temperature_c: None,
            power_draw_w: None,
        }
    }

    #[test]
    fn parses_a_full_h100_line() {
        let gpus = parse_gpus(
            "0, GPU-3c2a6f4e-8b1d-7e5f-a9c0-1d2e3f4a5b6c, NVIDIA H100 80GB HBM3, 81559, 0, 0, \
             31, 69.84\n",
        )
        .unwrap();
        assert_eq!(
            gpus,
            vec![Gpu {
                memory_total_mib: Some(81559),
                memory_used_mib: Some(0),
                utilization_pct: Some(0),
                temperature_c: Some(31),
                power_draw_w: Some(69.84),
                ..gpu(
                    0,
                    "GPU-3c2a6f4e-8b1d-7e5f-a9c0-1d2e3f4a5b6c",
                    "NVIDIA H100 80GB HBM3"
                )
            }]
        );
    }

    #[test]
    fn missing_values_in_every_spelling_are_none() {
        for missing in [
            "[N/A]",
            "[Not Supported]",
            "N/A",
            "n/a",
            "[Unknown Error]",
            "",
        ] {
            let line = format!(
                "1, GPU-a, NVIDIA GeForce RTX 3060 Laptop GPU, {missing}, {missing}, {missing}, \
                 {missing}, {missing}"
            );
            let gpus = parse_gpus(&line).unwrap_or_else(|e| panic!("{missing:?}: {e}"));
            assert_eq!(
                gpus,
                vec![gpu(1, "GPU-a", "NVIDIA GeForce RTX 3060 Laptop GPU")],
                "{missing:?}"
            );
        }
    }

    #[test]
    fn tolerates_spacing_crlf_blank_and_warning_lines() {
        let csv = "WARNING: infoROM is corrupted at gpu 0000:01:00.0\r\n\r\n  1 ,GPU-b,Tesla \
                   T4,15360,  105 ,0,38,  27.5  \r\n0,GPU-a,Tesla T4,15360,0,100,71,70\r\n\n";
        let gpus = parse_gpus(csv).unwrap();
        assert_eq!(
            gpus.iter().map(|g| g.index).collect::<Vec<_>>(),
            [0, 1],
            "sorted by index"
        );
        assert_eq!(gpus[1].memory_used_mib, Some(105));
        assert_eq!(gpus[1].power_draw_w, Some(27.5));
        assert_eq!(gpus[0].power_draw_w, Some(70.0), "integral watts parse");
        assert_eq!(gpus[0].name, "Tesla T4");
    }

    #[test]
    fn a_name_with_commas_is_kept_whole() {
        let gpus = parse_gpus("0, GPU-a, Odd, Vendor, Name, 1024, 512, 50, 40, [N/A]\n").unwrap();
        assert_eq!(gpus[0].name, "Odd, Vendor, Name");
        assert_eq!(gpus[0].memory_total_mib, Some(1024));
        assert_eq!(gpus[0].utilization_pct, Some(50));
    }

    #[test]
    fn empty_output_is_no_gpus_and_no_processes() {
        for empty in ["", "\n", "  \n\r\n", "WARNING: something\n"] {
            assert!(parse_gpus(empty).unwrap().is_empty(), "{empty:?}");
            assert!(parse_processes(empty).unwrap().is_empty(), "{empty:?}");
        }
        assert!(
            parse_processes("No running processes found\n")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn malformed_gpu_lines_name_the_line_and_the_rule() {
        let good = "0, GPU-a, NVIDIA H100 80GB HBM3, 81559, 0, 0, 31, 69.84\n";
        let cases: &[(&str, &str)] = &[
            (
                "0, GPU-b, NVIDIA H100, 81559, 0, 0, 31",
                "expected 8 comma-separated fields",
            ),
            ("garbage", "found 1"),
            (
                "x, GPU-b, H100, 1, 0, 0, 31, 69.84",
                "field index must be a GPU index",
            ),
            ("-1, GPU-b, H100, 1, 0, 0, 31, 69.84", "field index"),
            ("[N/A], GPU-b, H100, 1, 0, 0, 31, 69.84", "field index"),
            (
                "1, [N/A], H100, 1, 0, 0, 31, 69.84",
                "field uuid must not be empty",
            ),
            (
                "1, , H100, 1, 0, 0, 31, 69.84",
                "field uuid must not be empty",
            ),
            (
                "1, GPU-b, H100, 80 GiB, 0, 0, 31, 69.84",
                "field memory.total",
            ),
            ("1, GPU-b, H100, 1, -5, 0, 31, 69.84", "field memory.used"),
            (
                "1, GPU-b, H100, 1, 0, 50 %, 31, 69.84",
                "field utilization.gpu",
            ),
            (
                "1, GPU-b, H100, 1, 0, 50.5, 31, 69.84",
                "field utilization.gpu",
            ),
            (
                "1, GPU-b, H100, 1, 0, 0, hot, 69.84",
                "field temperature.gpu",
            ),
            ("1, GPU-b, H100, 1, 0, 0, 31, 69.84 W", "field power.draw"),
            ("1, GPU-b, H100, 1, 0, 0, 31, NaN", "finite number"),
            ("1, GPU-b, H100, 1, 0, 0, 31, inf", "finite number"),
        ];
        for (bad, expected) in cases {
            let csv = format!("{good}\n{bad}\n");
            let error = parse_gpus(&csv).expect_err(bad).to_string();
            assert!(error.contains("line 3"), "{bad:?}: {error}");
            assert!(error.contains("--query-gpu"), "{bad:?}: {error}");
            assert!(error.contains(expected), "{bad:?}: {error}");
            assert!(matches!(parse_gpus(bad), Err(Error::Backend { .. })));
        }
    }

    #[test]
    fn a_long_bad_line_is_cut_in_the_message() {
        let bad = "x".repeat(5000);
        let error = parse_gpus(&bad).unwrap_err().to_string();
        assert!(error.len() < 700, "{}", error.len());
        assert!(error.contains('…'));
    }

    #[test]
    fn parses_processes_sorted_with_missing_memory() {
        let csv = "GPU-b, 4242, [N/A]\nGPU-a, 31337, 40960\n  GPU-a ,  1201 , 512 \n";
        assert_eq!(
            parse_processes(csv).unwrap(),
            vec![
                GpuProcess {
                    gpu_uuid: "GPU-a".into(),
                    pid: 1201,
                    used_memory_mib: Some(512),
                },
                GpuProcess {
                    gpu_uuid: "GPU-a".into(),
                    pid: 31337,
                    used_memory_mib: Some(40960),
                },
                GpuProcess {
                    gpu_uuid: "GPU-b".into(),
                    pid: 4242,
                    used_memory_mib: None,
                },
            ]
        );
    }

    #[test]
    fn malformed_process_lines_name_the_line_and_the_rule() {
        let cases: &[(&str, &str)] = &[
            ("GPU-a, 1", "expected 3 comma-separated fields"),
            ("GPU-a, 1, 2, 3", "found 4"),
            ("GPU-a, [N/A], 2", "field pid must be a process id"),
            ("GPU-a, -7, 2", "field pid"),
            ("GPU-a, 99999999999, 2", "field pid"),
            ("[N/A], 12, 2", "field gpu_uuid must not be empty"),
            ("GPU-a, 12, 2 MiB", "field used_memory"),
        ];
        for (bad, expected) in cases {
            let csv = format!("GPU-a, 1, 2\n{bad}");
            let error = parse_processes(&csv).expect_err(bad).to_string();
            assert!(error.contains("line 2"), "{bad:?}: {error}");
            assert!(error.contains("--query-compute-apps"), "{bad:?}: {error}");
            assert!(error.contains(expected), "{bad:?}: {error}");
        }
    }

    #[test]
    fn the_fixtures_parse() {
        let h100 = parse_gpus(include_str!(
            "../../../tests/fixtures/gpu/h100-idle.gpus.csv"
        ))
        .unwrap();
        assert_eq!(h100.len(), 1);
        assert_eq!(h100[0].name, "NVIDIA H100 80GB HBM3");
        assert!(
            parse_processes(include_str!(
                "../../../tests/fixtures/gpu/h100-idle.apps.csv"
            ))
            .unwrap()
            .is_empty()
        );

        let a100 = parse_gpus(include_str!(
            "../../../tests/fixtures/gpu/a100x8-busy.gpus.csv"
        ))
        .unwrap();
        assert_eq!(a100.len(), 8);
        assert!(a100.iter().all(|g| g.name == "NVIDIA A100-SXM4-80GB"));
        assert_eq!(
            a100.iter().map(|g| g.index).collect::<Vec<_>>(),
            (0..8).collect::<Vec<_>>()
        );
        let apps = parse_processes(include_str!(
            "../../../tests/fixtures/gpu/a100x8-busy.apps.csv"
        ))
        .unwrap();
        assert_eq!(apps.len(), 10);
        assert!(
            apps.iter()
                .all(|p| a100.iter().any(|g| g.uuid == p.gpu_uuid))
        );

        let mixed = parse_gpus(include_str!(
            "../../../tests/fixtures/gpu/mixed-na.gpus.csv"
        ))
        .unwrap();
        assert_eq!(mixed.len(), 3);
        assert_eq!(
            mixed[0].power_draw_w, None,
            "laptop GPU without power reading"
        );
        assert_eq!(
            mixed[1].utilization_pct, None,
            "MIG mode has no utilisation"
        );
        assert_eq!(mixed[2].temperature_c, None);
        let mixed_apps = parse_processes(include_str!(
            "../../../tests/fixtures/gpu/mixed-na.apps.csv"
        ))
        .unwrap();
        assert!(mixed_apps.iter().any(|p| p.used_memory_mib.is_none()));
    }
}
