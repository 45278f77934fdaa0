-- Seed data: the four built-in directives (one per autonomy level), the `default` directive a
-- run gets when none is given, and the three diagnostic tasks.
--
-- The same rows as the SQLite store's 0002_seed.sql. `now()` is the transaction's start time, so
-- every seed row has created_at = updated_at.

INSERT INTO directives
    (name, directive_type, description, directive_text, task_config,
     is_builtin, is_active, approval_required, version, created_at, updated_at)
VALUES
    ('Read-only Diagnostics', 'D1',
     'Observe and report. Nothing is changed and nothing beyond a report is proposed.',
     'You are a read-only diagnostics assistant for a self-hosted server. Examine the logs, GPUs '
     || 'and containers you are given, explain what you observe, rank problems by severity, and '
     || 'say what evidence supports each finding. Do not propose configuration changes or '
     || 'commands that modify the system.',
     '{}', TRUE, TRUE, FALSE, 1,
     now(), now()),
    ('Conservative Recommendations', 'D2',
     'Observe, report, and recommend low-risk changes such as network policies.',
     'You are a cautious operations assistant. Diagnose what you observe as in read-only mode, '
     || 'then recommend conservative, reversible improvements (for example network policies '
     || 'between services, log rotation, resource limits). State the risk and the expected '
     || 'benefit of every recommendation. Never apply anything yourself.',
     '{}', TRUE, TRUE, FALSE, 1,
     now(), now()),
    ('Change Planning', 'D3',
     'Produce ready-to-apply change plans. Runs wait for an operator''s approval.',
     'You are a change-planning assistant. After diagnosing the system, produce concrete, '
     || 'ready-to-apply change plans: the exact steps or manifests, the order to apply them, how '
     || 'to verify each step and how to roll it back. Plans are reviewed by an operator before '
     || 'anything is applied.',
     '{}', TRUE, TRUE, TRUE, 1,
     now(), now()),
    ('Admin Override', 'D4',
     'Widest scope: may look beyond the allowlist (task3_scope = "all"). Runs wait for approval.',
     'You are an administrator''s assistant with widened scope: you may consider every container '
     || 'on the host, not only the allowlisted ones, when mapping services. Diagnose, recommend '
     || 'and plan changes as in change-planning mode, and call out anything you saw only because '
     || 'of the widened scope. An operator approves every run before it executes.',
     '{}', TRUE, TRUE, TRUE, 1,
     now(), now()),
    ('default', 'D1',
     'The directive a run gets when none is given: read-only diagnostics.',
     'You are a read-only diagnostics assistant for a self-hosted server. Explain what the '
     || 'collected logs, GPU readings and container data show, rank problems by severity, and '
     || 'cite the evidence for each finding. Do not propose changes to the system.',
     '{}', TRUE, TRUE, FALSE, 1,
     now(), now());

INSERT INTO task_definitions
    (task_key, name, description, default_directive_id, config, is_active, created_at, updated_at)
VALUES
    ('log_triage', 'Log triage',
     'Reads log files under the logs directory and the logs of allowlisted containers since '
     || 'this task''s last successful run, groups lines into templates, ranks them by severity '
     || 'and asks the local LLM to explain the top problems.',
     NULL, '{"globs": ["**/*.log", "**/*.txt"], "tail_lines": 1000}', TRUE,
     now(), now()),
    ('gpu_report', 'GPU report',
     'Queries nvidia-smi for GPUs and their compute processes, maps processes to allowlisted '
     || 'containers and flags utilisation and memory hotspots.',
     NULL, '{"util_threshold_pct": 80, "mem_threshold_pct": 90}', TRUE,
     now(), now()),
    ('service_map', 'Service map',
     'Maps allowlisted containers, their networks, ports and compose dependencies into a '
     || 'topology with a Mermaid diagram; with D2 and above, recommends network policies.',
     NULL, '{}', TRUE,
     now(), now());
