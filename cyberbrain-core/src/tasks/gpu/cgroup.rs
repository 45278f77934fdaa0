//! GPU process → container attribution through `/proc/<pid>/cgroup`.
//!
//! Docker, Podman, containerd and CRI-O put each container in a cgroup whose path carries the
//! 64-hex container id, in one of these shapes (cgroup v1 repeats the path on one line per
//! controller, v2 has the single line `0::<path>`):
//!
//! | engine / cgroup driver | path |
//! |---|---|
//! | Docker, cgroupfs (v1 and v2) | `/docker/<id>` |
//! | Docker, systemd | `/system.slice/docker-<id>.scope` |
//! | Podman rootful, systemd | `/machine.slice/libpod-<id>.scope[/container]` |
//! | Podman rootless | `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-<id>.scope[/container]` |
//! | Podman, cgroupfs | `/libpod_parent/libpod-<id>` |
//! | Kubernetes + containerd / CRI-O | `…/cri-containerd-<id>.scope`, `…/crio-<id>.scope`, `/kubepods/…/pod<uid>/<id>` |
//!
//! Podman's monitor (`libpod-conmon-<id>.scope`) is not the container and is not matched.
//! Nested engines (`/docker/<outer>/docker/<inner>`) give every id, outermost first.
//!
//! The mapping is only against the containers the caller passes in — the allowlisted ones
//! (G5): a process in any other container stays unattributed, and the engine is never asked
//! about it. It needs cyberbrain to see host pids (the host pid namespace), because
//! `nvidia-smi` reports host pids.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::{Gpu, GpuProcess};
use crate::container::ContainerDetails;

/// One path segment that names a container: the bare id, or the id wrapped the way one of the
/// engines' cgroup drivers wraps it.
static SEGMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:(?:docker|libpod|cri-containerd|crio|cri-o|containerd)-)?([0-9a-f]{64})(?:\.scope)?$",
    )
    .expect("valid container id segment pattern")
});

/// Every container id in a `/proc/<pid>/cgroup` text, outermost first, without repeats.
pub fn container_ids_from_cgroup(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        // `hierarchy-id:controllers:path`; the path itself may contain colons.
        let path = match line.splitn(3, ':').nth(2) {
            Some(path) => path,
            None => line,
        };
        for segment in path.split('/') {
            if let Some(id) = SEGMENT.captures(segment).and_then(|c| c.get(1))
                && !ids.iter().any(|known| known == id.as_str())
            {
                ids.push(id.as_str().to_string());
            }
        }
    }
    ids
}

/// The container a process runs in according to its `/proc/<pid>/cgroup` text: the innermost
/// container id, or `None` for a process outside any container.
pub fn container_id_from_cgroup(text: &str) -> Option<String> {
    container_ids_from_cgroup(text).pop()
}

/// Reads `/proc/<pid>/cgroup`; `None` when the process is gone or unreadable (or pid 0).
/// Blocking, but a tiny read from procfs.
pub fn read_cgroup(pid: u32) -> Option<String> {
    if pid == 0 {
        return None;
    }
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()
}

/// A GPU process with its GPU index and, when it runs in one of the allowlisted containers,
/// that container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributedProcess {
    pub gpu_uuid: String,
    /// The index of the GPU with `gpu_uuid`; `None` if `nvidia-smi` listed no such GPU.
    pub gpu_index: Option<u32>,
    pub pid: u32,
    pub used_memory_mib: Option<u64>,
    /// Full id of the allowlisted container the process runs in.
    pub container_id: Option<String>,
    /// Name of that container.
    pub container_name: Option<String>,
}

/// Attributes each process to one of `containers` (the allowlisted ones only; see the module
/// docs), reading cgroups with `read_cgroup` (pass [`read_cgroup`]; tests pass a table).
///
/// A process matches a container when an id in its cgroup equals the container's id (or starts
/// with it, for a summary that carries a short id of at least 12 characters). When the cgroup
/// names no container at all (unreadable, process gone), a process whose pid is a container's
/// main pid is attributed to it. Result order: GPU index (unknown last), GPU uuid, pid.
pub fn attribute_processes(
    gpus: &[Gpu],
    processes: &[GpuProcess],
    containers: &[ContainerDetails],
    mut read_cgroup: impl FnMut(u32) -> Option<String>,
) -> Vec<AttributedProcess> {
    let mut attributed: Vec<AttributedProcess> = processes
        .iter()
        .map(|process| {
            let container = if containers.is_empty() {
                // Nothing to match: no need to read the process's cgroup.
                None
            } else {
                let ids = read_cgroup(process.pid)
                    .map(|text| container_ids_from_cgroup(&text))
                    .unwrap_or_default();
                if ids.is_empty() {
                    containers
                        .iter()
                        .find(|c| c.pid.is_some_and(|pid| pid != 0 && pid == process.pid))
                } else {
                    // Innermost first: with nested engines the closest container wins.
                    ids.iter()
                        .rev()
                        .find_map(|id| containers.iter().find(|c| id_matches(id, &c.summary.id)))
                }
            };
            AttributedProcess {
                gpu_uuid: process.gpu_uuid.clone(),
                gpu_index: gpus
                    .iter()
                    .find(|g| g.uuid == process.gpu_uuid)
                    .map(|g| g.index),
                pid: process.pid,
                used_memory_mib: process.used_memory_mib,
                container_id: container.map(|c| c.summary.id.clone()),
                container_name: container.map(|c| c.summary.name.clone()),
            }
        })
        .collect();
    attributed.sort_by(|a, b| {
        (a.gpu_index.is_none(), a.gpu_index, &a.gpu_uuid, a.pid).cmp(&(
            b.gpu_index.is_none(),
            b.gpu_index,
            &b.gpu_uuid,
            b.pid,
        ))
    });
    attributed
}

/// Whether a full id from a cgroup path is the container `summary_id` (full, or a short id of
/// at least 12 characters as some listings give).
fn id_matches(cgroup_id: &str, summary_id: &str) -> bool {
    let summary_id = summary_id.trim().to_ascii_lowercase();
    cgroup_id == summary_id || (summary_id.len() >= 12 && cgroup_id.starts_with(&summary_id))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::container::ContainerSummary;

    const A: &str = "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
    const B: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn container_ids_in_real_cgroup_formats() {
        let cases: Vec<(&str, String, Option<&str>)> = vec![
            ("host process, cgroup v2", "0::/init.scope\n".into(), None),
            (
                "host user session, cgroup v2",
                "0::/user.slice/user-1000.slice/session-3.scope\n".into(),
                None,
            ),
            ("root cgroup", "0::/\n".into(), None),
            ("empty", String::new(), None),
            (
                "docker, systemd driver, cgroup v2",
                format!("0::/system.slice/docker-{A}.scope\n"),
                Some(A),
            ),
            (
                "docker, cgroupfs driver, cgroup v2",
                format!("0::/docker/{A}\n"),
                Some(A),
            ),
            (
                "docker, cgroupfs driver, cgroup v1",
                format!(
                    "12:pids:/docker/{A}\n11:hugetlb:/docker/{A}\n10:net_cls,net_prio:/docker/{A}\n\
                     9:memory:/docker/{A}\n8:cpu,cpuacct:/docker/{A}\n3:devices:/docker/{A}\n\
                     1:name=systemd:/docker/{A}\n0::/system.slice/containerd.service\n"
                ),
                Some(A),
            ),
            (
                "docker, systemd driver, cgroup v1",
                format!(
                    "11:memory:/system.slice/docker-{A}.scope\n\
                     1:name=systemd:/system.slice/docker-{A}.scope\n"
                ),
                Some(A),
            ),
            (
                "podman rootful, systemd, crun sub-cgroup",
                format!("0::/machine.slice/libpod-{A}.scope/container\n"),
                Some(A),
            ),
            (
                "podman rootless",
                format!(
                    "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{A}.scope/container\n"
                ),
                Some(A),
            ),
            (
                "podman, cgroupfs driver",
                format!("0::/libpod_parent/libpod-{A}\n"),
                Some(A),
            ),
            (
                "podman conmon is not the container",
                format!("0::/machine.slice/libpod-conmon-{A}.scope\n"),
                None,
            ),
            (
                "kubernetes, containerd, systemd driver",
                format!(
                    "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1f2e3d4c_5b6a_7980_a1b2_c3d4e5f6a7b8.slice/cri-containerd-{A}.scope\n"
                ),
                Some(A),
            ),
            (
                "kubernetes, cri-o",
                format!(
                    "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podabc.slice/crio-{A}.scope\n"
                ),
                Some(A),
            ),
            (
                "kubernetes, cgroupfs driver",
                format!("0::/kubepods/burstable/pod1f2e3d4c-5b6a-7980-a1b2-c3d4e5f6a7b8/{A}\n"),
                Some(A),
            ),
            (
                "docker in docker: innermost wins",
                format!("0::/docker/{A}/docker/{B}\n"),
                Some(B),
            ),
            (
                "crlf and spaces",
                format!("  0::/docker/{A}  \r\n"),
                Some(A),
            ),
            (
                "63 hex is not an id",
                format!("0::/docker/{}\n", &A[..63]),
                None,
            ),
            ("65 hex is not an id", format!("0::/docker/{A}0\n"), None),
            (
                "upper-case hex is not an engine id",
                format!("0::/docker/{}\n", A.to_ascii_uppercase()),
                None,
            ),
            (
                "id inside a longer segment name",
                format!("0::/system.slice/myapp-{A}-worker.service\n"),
                None,
            ),
            (
                "a bare path without the hierarchy prefix",
                format!("/docker/{A}"),
                Some(A),
            ),
        ];
        for (name, text, expected) in cases {
            assert_eq!(
                container_id_from_cgroup(&text).as_deref(),
                expected,
                "{name}"
            );
        }
        assert_eq!(
            container_ids_from_cgroup(&format!(
                "2:memory:/docker/{A}/docker/{B}\n0::/docker/{A}/docker/{B}\n"
            )),
            vec![A.to_string(), B.to_string()],
            "outermost first, no repeats"
        );
    }

    fn container(id: &str, name: &str, pid: Option<u32>) -> ContainerDetails {
        ContainerDetails {
            summary: ContainerSummary {
                id: id.into(),
                name: name.into(),
                image: "pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime".into(),
                state: "running".into(),
                labels: BTreeMap::new(),
                networks: vec![],
                ports: vec![],
            },
            pid,
        }
    }

    fn gpu(index: u32, uuid: &str) -> Gpu {
        Gpu {
            index,
            uuid: uuid.into(),
            name: "NVIDIA A100-SXM4-80GB".into(),
            memory_total_mib: Some(81920),
            memory_used_mib: Some(0),
            utilization_pct: Some(0),
            temperature_c: Some(30),
            power_draw_w: Some(60.0),
        }
    }

    fn process(uuid: &str, pid: u32) -> GpuProcess {
        GpuProcess {
            gpu_uuid: uuid.into(),
            pid,
            used_memory_mib: Some(1024),
        }
    }

    #[test]
    fn attributes_only_to_the_containers_passed_in() {
        let gpus = [gpu(1, "GPU-b"), gpu(0, "GPU-a")];
        let processes = [
            process("GPU-b", 300),   // allowlisted container A (systemd cgroup)
            process("GPU-a", 200),   // container B, not allowlisted
            process("GPU-a", 100),   // host process
            process("GPU-a", 400),   // gone: cgroup unreadable, but A's main pid? no
            process("GPU-zzz", 500), // a GPU nvidia-smi did not list; allowlisted by short id
            process("GPU-b", 600),   // cgroup unreadable, pid is A's main pid
        ];
        let cgroups: BTreeMap<u32, String> = [
            (300, format!("0::/system.slice/docker-{A}.scope\n")),
            (200, format!("0::/docker/{B}\n")),
            (
                100,
                "0::/user.slice/user-1000.slice/session-2.scope\n".to_string(),
            ),
            (
                500,
                format!("0::/machine.slice/libpod-{A}.scope/container\n"),
            ),
        ]
        .into();
        let mut asked = Vec::new();
        let result = attribute_processes(
            &gpus,
            &processes,
            &[container(A, "trainer", Some(600))],
            |pid| {
                asked.push(pid);
                cgroups.get(&pid).cloned()
            },
        );
        let summary: Vec<(Option<u32>, u32, Option<&str>)> = result
            .iter()
            .map(|p| (p.gpu_index, p.pid, p.container_name.as_deref()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Some(0), 100, None),
                (Some(0), 200, None),
                (Some(0), 400, None),
                (Some(1), 300, Some("trainer")),
                (Some(1), 600, Some("trainer")),
                (None, 500, Some("trainer")),
            ]
        );
        assert!(
            result
                .iter()
                .filter(|p| p.container_id.is_some())
                .all(|p| p.container_id.as_deref() == Some(A))
        );
        asked.sort_unstable();
        assert_eq!(asked, [100, 200, 300, 400, 500, 600]);

        // A short id (12+ characters) in the summary matches; shorter prefixes do not.
        let short = attribute_processes(
            &gpus,
            &[process("GPU-a", 300)],
            &[container(&A[..12], "short", None)],
            |pid| cgroups.get(&pid).cloned(),
        );
        assert_eq!(short[0].container_name.as_deref(), Some("short"));
        let too_short = attribute_processes(
            &gpus,
            &[process("GPU-a", 300)],
            &[container(&A[..11], "short", None)],
            |pid| cgroups.get(&pid).cloned(),
        );
        assert_eq!(too_short[0].container_name, None);
    }

    #[test]
    fn a_cgroup_id_beats_a_pid_coincidence_and_pid_zero_never_matches() {
        let gpus = [gpu(0, "GPU-a")];
        // The cgroup says container B (not allowlisted) although A reports the same main pid
        // (pid reuse after A restarted): stays unattributed.
        let result = attribute_processes(
            &gpus,
            &[process("GPU-a", 77)],
            &[container(A, "a", Some(77))],
            |_| Some(format!("0::/docker/{B}\n")),
        );
        assert_eq!(result[0].container_id, None);
        // Stopped containers report pid 0; nvidia-smi never lists pid 0, but be safe.
        let result = attribute_processes(
            &gpus,
            &[process("GPU-a", 0)],
            &[container(A, "a", Some(0))],
            |_| None,
        );
        assert_eq!(result[0].container_id, None);
    }

    #[test]
    fn without_containers_no_cgroup_is_read() {
        let result = attribute_processes(&[gpu(0, "GPU-a")], &[process("GPU-a", 1)], &[], |_| {
            panic!("no cgroup should be read when no container can match")
        });
        assert_eq!(result[0].gpu_index, Some(0));
        assert_eq!(result[0].container_id, None);
    }

    #[test]
    fn reads_this_process_cgroup() {
        // Linux only (procfs): our own pid has a cgroup file; pid 0 and an absurd pid do not.
        let own = read_cgroup(std::process::id());
        assert!(own.is_some_and(|text| text.contains(':')));
        assert_eq!(read_cgroup(0), None);
        assert_eq!(read_cgroup(u32::MAX), None);
    }
}
