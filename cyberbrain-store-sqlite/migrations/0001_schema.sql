-- Cyberbrain schema, all phases (SPEC §2).
--
-- Conventions:
-- * Ids are INTEGER PRIMARY KEY AUTOINCREMENT, so a deleted row's id is never handed out again
--   (run snapshots and logs keep pointing at the row that really existed).
-- * Times are TEXT in RFC 3339 UTC with exactly six fractional digits and a `Z`
--   (`2025-01-31T08:15:00.123456Z`): fixed width, so text order is time order and `<=`
--   comparisons in SQL are time comparisons. Nothing finer than a microsecond is stored.
-- * JSON columns are TEXT holding valid JSON (checked); tags and lists are JSON arrays.
-- * Booleans are INTEGER 0/1; enums are TEXT checked against their wire names.

CREATE TABLE directives (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT    NOT NULL UNIQUE CHECK (length(name) > 0),
    directive_type    TEXT    NOT NULL CHECK (directive_type IN ('D1', 'D2', 'D3', 'D4')),
    description       TEXT    NOT NULL DEFAULT '',
    directive_text    TEXT    NOT NULL DEFAULT '',
    task_config       TEXT    NOT NULL DEFAULT '{}'
                      CHECK (json_valid(task_config) AND json_type(task_config) = 'object'),
    is_builtin        INTEGER NOT NULL DEFAULT 0 CHECK (is_builtin IN (0, 1)),
    is_active         INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    approval_required INTEGER NOT NULL DEFAULT 0 CHECK (approval_required IN (0, 1)),
    version           INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
);

CREATE TABLE task_definitions (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    task_key             TEXT    NOT NULL UNIQUE CHECK (length(task_key) > 0),
    name                 TEXT    NOT NULL,
    description          TEXT    NOT NULL DEFAULT '',
    -- A deleted directive leaves the task on the default directive.
    default_directive_id INTEGER REFERENCES directives (id) ON DELETE SET NULL,
    config               TEXT    NOT NULL DEFAULT '{}'
                         CHECK (json_valid(config) AND json_type(config) = 'object'),
    is_active            INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL
);
CREATE INDEX task_definitions_default_directive ON task_definitions (default_directive_id);

CREATE TABLE container_allowlist (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    container_id TEXT    NOT NULL UNIQUE CHECK (length(container_id) > 0),
    name         TEXT    NOT NULL DEFAULT '',
    description  TEXT    NOT NULL DEFAULT '',
    enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    tags         TEXT    NOT NULL DEFAULT '[]'
                 CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL
);
CREATE INDEX container_allowlist_enabled ON container_allowlist (enabled, id);

-- Phase 2: schedules. A task definition or directive a schedule uses cannot be deleted
-- (RESTRICT); the operator changes or deletes the schedule first, or deactivates instead.
CREATE TABLE schedules (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    name                  TEXT    NOT NULL UNIQUE CHECK (length(name) > 0),
    task_key              TEXT    NOT NULL
                          REFERENCES task_definitions (task_key) ON DELETE RESTRICT ON UPDATE CASCADE,
    directive_id          INTEGER REFERENCES directives (id) ON DELETE RESTRICT,
    custom_directive_text TEXT,
    enabled               INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    schedule_type         TEXT    NOT NULL CHECK (schedule_type IN ('interval', 'cron', 'one_shot')),
    interval_minutes      INTEGER CHECK (interval_minutes IS NULL OR interval_minutes >= 1),
    cron_expr             TEXT,
    run_at                TEXT,
    timezone              TEXT    NOT NULL DEFAULT 'UTC',
    task3_scope           TEXT    NOT NULL DEFAULT 'allowlist' CHECK (task3_scope IN ('allowlist', 'all')),
    use_rag               INTEGER NOT NULL DEFAULT 0 CHECK (use_rag IN (0, 1)),
    max_global            INTEGER CHECK (max_global IS NULL OR max_global >= 1),
    max_per_job           INTEGER CHECK (max_per_job IS NULL OR max_per_job >= 1),
    misfire_policy        TEXT    NOT NULL DEFAULT 'run_once' CHECK (misfire_policy IN ('run_once', 'skip')),
    last_run_at           TEXT,
    next_run_at           TEXT,
    created_at            TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL,
    CHECK (directive_id IS NULL OR custom_directive_text IS NULL),
    CHECK (schedule_type <> 'interval' OR interval_minutes IS NOT NULL),
    CHECK (schedule_type <> 'cron' OR cron_expr IS NOT NULL),
    CHECK (schedule_type <> 'one_shot' OR run_at IS NOT NULL)
);
CREATE INDEX schedules_due ON schedules (enabled, next_run_at);
CREATE INDEX schedules_task_key ON schedules (task_key);
CREATE INDEX schedules_directive ON schedules (directive_id);

-- Runs hold a snapshot of their directive (G4), never a reference to it: editing or deleting
-- a directive cannot change or delete a run.
CREATE TABLE runs (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    status                   TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    directive_snapshot       TEXT    NOT NULL
                             CHECK (json_valid(directive_snapshot) AND json_type(directive_snapshot) = 'object'),
    snapshot_sha256          TEXT    NOT NULL CHECK (length(snapshot_sha256) = 64),
    use_rag                  INTEGER NOT NULL DEFAULT 0 CHECK (use_rag IN (0, 1)),
    task3_scope              TEXT    NOT NULL DEFAULT 'allowlist' CHECK (task3_scope IN ('allowlist', 'all')),
    "trigger"                TEXT    NOT NULL
                             CHECK ("trigger" IN ('manual', 'schedule', 'mcp', 'python', 'api')),
    schedule_id              INTEGER REFERENCES schedules (id) ON DELETE SET NULL,
    approval_status          TEXT    NOT NULL DEFAULT 'none'
                             CHECK (approval_status IN ('none', 'pending', 'approved', 'denied')),
    approved_by              TEXT,
    approved_at              TEXT,
    -- The snapshot hash the approver saw; execution checks it still matches.
    approved_snapshot_sha256 TEXT CHECK (approved_snapshot_sha256 IS NULL OR length(approved_snapshot_sha256) = 64),
    created_at               TEXT    NOT NULL,
    started_at               TEXT,
    ended_at                 TEXT,
    prompt_tokens            INTEGER NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens        INTEGER NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    total_tokens             INTEGER NOT NULL DEFAULT 0 CHECK (total_tokens >= 0),
    error_summary            TEXT,
    report_summary           TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(report_summary))
);
CREATE INDEX runs_status ON runs (status, id);
CREATE INDEX runs_approval_status ON runs (approval_status, id);
CREATE INDEX runs_schedule ON runs (schedule_id);
CREATE INDEX runs_created_at ON runs (created_at);

CREATE TABLE run_jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id            INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    -- The key as launched; no reference, so a later task rename or delete leaves history intact.
    task_key          TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_owner       TEXT,
    lease_until       TEXT,
    started_at        TEXT,
    ended_at          TEXT,
    result            TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(result)),
    error_summary     TEXT,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens INTEGER NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    total_tokens      INTEGER NOT NULL DEFAULT 0 CHECK (total_tokens >= 0)
);
CREATE INDEX run_jobs_status ON run_jobs (status, id);
CREATE INDEX run_jobs_run ON run_jobs (run_id, id);
CREATE INDEX run_jobs_task_status ON run_jobs (task_key, status);
CREATE INDEX run_jobs_lease ON run_jobs (status, lease_until);

-- G2: accounting only — no prompt, no response.
CREATE TABLE llm_calls (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id            INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    run_job_id        INTEGER REFERENCES run_jobs (id) ON DELETE SET NULL,
    model             TEXT    NOT NULL,
    endpoint_host     TEXT    NOT NULL,
    prompt_tokens     INTEGER NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens INTEGER NOT NULL CHECK (completion_tokens >= 0),
    total_tokens      INTEGER NOT NULL CHECK (total_tokens >= 0),
    duration_ms       INTEGER NOT NULL CHECK (duration_ms >= 0),
    outcome           TEXT    NOT NULL CHECK (outcome IN ('ok', 'error')),
    created_at        TEXT    NOT NULL
);
CREATE INDEX llm_calls_run ON llm_calls (run_id, id);
CREATE INDEX llm_calls_job ON llm_calls (run_job_id);
CREATE INDEX llm_calls_model ON llm_calls (model);

CREATE TABLE inventory_snapshots (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    container_id TEXT    NOT NULL,
    name         TEXT    NOT NULL DEFAULT '',
    image        TEXT    NOT NULL DEFAULT '',
    state        TEXT    NOT NULL DEFAULT '',
    networks     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(networks) AND json_type(networks) = 'array'),
    ports        TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(ports) AND json_type(ports) = 'array'),
    labels       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(labels) AND json_type(labels) = 'object'),
    created_at   TEXT    NOT NULL
);
CREATE INDEX inventory_snapshots_run ON inventory_snapshots (run_id, id);
CREATE INDEX inventory_snapshots_container ON inventory_snapshots (container_id);

CREATE TABLE artifacts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    run_job_id    INTEGER REFERENCES run_jobs (id) ON DELETE SET NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('markdown', 'json', 'text', 'mermaid')),
    relative_path TEXT    NOT NULL CHECK (length(relative_path) > 0),
    size_bytes    INTEGER NOT NULL CHECK (size_bytes >= 0),
    sha256        TEXT    NOT NULL CHECK (length(sha256) = 64),
    mime_type     TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    UNIQUE (run_id, relative_path)
);
CREATE INDEX artifacts_job ON artifacts (run_job_id);

CREATE TABLE scheduled_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id   INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    run_id        INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    scheduled_for TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'started', 'finished', 'failed')),
    started_at    TEXT,
    finished_at   TEXT,
    error_summary TEXT,
    -- One run per due slot, however many schedulers race for it.
    UNIQUE (schedule_id, scheduled_for)
);
CREATE INDEX scheduled_runs_run ON scheduled_runs (run_id);
CREATE INDEX scheduled_runs_status ON scheduled_runs (status);

-- Phase 3: RAG.
CREATE TABLE uploads (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    filename      TEXT    NOT NULL,
    mime_type     TEXT    NOT NULL,
    size_bytes    INTEGER NOT NULL CHECK (size_bytes >= 0),
    sha256        TEXT    NOT NULL UNIQUE CHECK (length(sha256) = 64),
    stored_path   TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'processing', 'ready', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error_message TEXT    CHECK (error_message IS NULL OR length(error_message) <= 1000),
    lease_owner   TEXT,
    lease_until   TEXT,
    uploaded_at   TEXT    NOT NULL,
    processed_at  TEXT
);
CREATE INDEX uploads_status ON uploads (status, id);

CREATE TABLE documents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    upload_id  INTEGER NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    title      TEXT    NOT NULL,
    source     TEXT    NOT NULL DEFAULT '',
    created_at TEXT    NOT NULL
);
CREATE INDEX documents_upload ON documents (upload_id);

CREATE TABLE chunks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    chunk_index INTEGER NOT NULL CHECK (chunk_index >= 0),
    text        TEXT    NOT NULL,
    word_count  INTEGER NOT NULL CHECK (word_count >= 0),
    UNIQUE (document_id, chunk_index)
);

-- Vectors are little-endian f32, 4 bytes per dimension.
CREATE TABLE embeddings (
    chunk_id INTEGER NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    model_id TEXT    NOT NULL,
    vector   BLOB    NOT NULL CHECK (length(vector) > 0 AND length(vector) % 4 = 0),
    PRIMARY KEY (chunk_id, model_id)
);
CREATE INDEX embeddings_model ON embeddings (model_id);

-- G3: the SHA-256 of the trimmed query, never the query text.
CREATE TABLE retrieval_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    query_hash    TEXT    NOT NULL CHECK (length(query_hash) = 64),
    top_k         INTEGER NOT NULL CHECK (top_k >= 1),
    results_count INTEGER NOT NULL CHECK (results_count >= 0),
    created_at    TEXT    NOT NULL
);
CREATE INDEX retrieval_events_run ON retrieval_events (run_id);

-- Phase 4: notifications, network policies, API tokens.
CREATE TABLE notification_targets (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE CHECK (length(name) > 0),
    kind       TEXT    NOT NULL CHECK (kind IN ('discord', 'email', 'webhook')),
    enabled    INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    config     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(config) AND json_type(config) = 'object'),
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);

CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    target_id       INTEGER NOT NULL REFERENCES notification_targets (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT,
    sent_at         TEXT,
    error_summary   TEXT,
    created_at      TEXT    NOT NULL,
    UNIQUE (run_id, target_id)
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_target ON notifications (target_id);

CREATE TABLE network_policy_recommendations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id         INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    source_service TEXT    NOT NULL,
    target_service TEXT    NOT NULL,
    port           INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    protocol       TEXT    NOT NULL DEFAULT 'TCP',
    recommendation TEXT    NOT NULL,
    policy_yaml    TEXT    NOT NULL,
    created_at     TEXT    NOT NULL
);
CREATE INDEX network_policy_recommendations_run ON network_policy_recommendations (run_id, id);

-- Tokens are stored only as their SHA-256 hex.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL CHECK (length(name) > 0),
    role         TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_sha256 TEXT    NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
    created_at   TEXT    NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
