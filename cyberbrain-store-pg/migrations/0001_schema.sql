-- Cyberbrain schema, all phases (SPEC §2): the same logical schema as the SQLite store's
-- 0001_schema.sql, in PostgreSQL's own types.
--
-- Conventions:
-- * Ids are BIGINT identity columns: a sequence never hands out an id twice, so run snapshots
--   and logs keep pointing at the row that really existed.
-- * Times are TIMESTAMPTZ (microsecond precision, the precision the SQLite store keeps too).
-- * JSON columns are JSONB, checked to be an object or array where the domain says so. The one
--   exception is `runs.directive_snapshot`: JSON, which keeps the exact text whose SHA-256 is
--   stored beside it (JSONB would re-serialise it).
-- * Lists of strings (tags, networks, ports) are TEXT[] with no NULL elements.
-- * Enums are TEXT checked against their wire names.
-- * Vectors are pgvector `vector(384)` with an HNSW index for cosine distance.

-- Usually created before this runs (by `migrate`, in schema public, or by an operator); kept
-- here so the file also works on its own.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE directives (
    id                BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              TEXT        NOT NULL CHECK (length(name) > 0),
    directive_type    TEXT        NOT NULL CHECK (directive_type IN ('D1', 'D2', 'D3', 'D4')),
    description       TEXT        NOT NULL DEFAULT '',
    directive_text    TEXT        NOT NULL DEFAULT '',
    task_config       JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(task_config) = 'object'),
    is_builtin        BOOLEAN     NOT NULL DEFAULT FALSE,
    is_active         BOOLEAN     NOT NULL DEFAULT TRUE,
    approval_required BOOLEAN     NOT NULL DEFAULT FALSE,
    version           INTEGER     NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    CONSTRAINT directives_name_key UNIQUE (name)
);

CREATE TABLE task_definitions (
    id                   BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_key             TEXT        NOT NULL CHECK (length(task_key) > 0),
    name                 TEXT        NOT NULL,
    description          TEXT        NOT NULL DEFAULT '',
    -- A deleted directive leaves the task on the default directive.
    default_directive_id BIGINT      REFERENCES directives (id) ON DELETE SET NULL,
    config               JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    is_active            BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    CONSTRAINT task_definitions_task_key_key UNIQUE (task_key)
);
CREATE INDEX task_definitions_default_directive ON task_definitions (default_directive_id);

CREATE TABLE container_allowlist (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    container_id TEXT        NOT NULL CHECK (length(container_id) > 0),
    name         TEXT        NOT NULL DEFAULT '',
    description  TEXT        NOT NULL DEFAULT '',
    enabled      BOOLEAN     NOT NULL DEFAULT TRUE,
    tags         TEXT[]      NOT NULL DEFAULT '{}' CHECK (array_position(tags, NULL) IS NULL),
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT container_allowlist_container_id_key UNIQUE (container_id)
);
CREATE INDEX container_allowlist_enabled ON container_allowlist (enabled, id);

-- Phase 2: schedules. A task definition or directive a schedule uses cannot be deleted
-- (RESTRICT); the operator changes or deletes the schedule first, or deactivates instead.
CREATE TABLE schedules (
    id                    BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                  TEXT        NOT NULL CHECK (length(name) > 0),
    task_key              TEXT        NOT NULL
                          REFERENCES task_definitions (task_key) ON DELETE RESTRICT ON UPDATE CASCADE,
    directive_id          BIGINT      REFERENCES directives (id) ON DELETE RESTRICT,
    custom_directive_text TEXT,
    enabled               BOOLEAN     NOT NULL DEFAULT TRUE,
    schedule_type         TEXT        NOT NULL CHECK (schedule_type IN ('interval', 'cron', 'one_shot')),
    interval_minutes      INTEGER     CHECK (interval_minutes IS NULL OR interval_minutes >= 1),
    cron_expr             TEXT,
    run_at                TIMESTAMPTZ,
    timezone              TEXT        NOT NULL DEFAULT 'UTC',
    task3_scope           TEXT        NOT NULL DEFAULT 'allowlist' CHECK (task3_scope IN ('allowlist', 'all')),
    use_rag               BOOLEAN     NOT NULL DEFAULT FALSE,
    max_global            INTEGER     CHECK (max_global IS NULL OR max_global >= 1),
    max_per_job           INTEGER     CHECK (max_per_job IS NULL OR max_per_job >= 1),
    misfire_policy        TEXT        NOT NULL DEFAULT 'run_once' CHECK (misfire_policy IN ('run_once', 'skip')),
    last_run_at           TIMESTAMPTZ,
    next_run_at           TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    CONSTRAINT schedules_name_key UNIQUE (name),
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
    id                       BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status                   TEXT        NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    directive_snapshot       JSON        NOT NULL CHECK (json_typeof(directive_snapshot) = 'object'),
    snapshot_sha256          TEXT        NOT NULL CHECK (length(snapshot_sha256) = 64),
    use_rag                  BOOLEAN     NOT NULL DEFAULT FALSE,
    task3_scope              TEXT        NOT NULL DEFAULT 'allowlist' CHECK (task3_scope IN ('allowlist', 'all')),
    "trigger"                TEXT        NOT NULL
                             CHECK ("trigger" IN ('manual', 'schedule', 'mcp', 'python', 'api')),
    schedule_id              BIGINT      REFERENCES schedules (id) ON DELETE SET NULL,
    approval_status          TEXT        NOT NULL DEFAULT 'none'
                             CHECK (approval_status IN ('none', 'pending', 'approved', 'denied')),
    approved_by              TEXT,
    approved_at              TIMESTAMPTZ,
    -- The snapshot hash the approver saw; execution checks it still matches.
    approved_snapshot_sha256 TEXT        CHECK (approved_snapshot_sha256 IS NULL OR length(approved_snapshot_sha256) = 64),
    created_at               TIMESTAMPTZ NOT NULL,
    started_at               TIMESTAMPTZ,
    ended_at                 TIMESTAMPTZ,
    prompt_tokens            BIGINT      NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens        BIGINT      NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    total_tokens             BIGINT      NOT NULL DEFAULT 0 CHECK (total_tokens >= 0),
    error_summary            TEXT,
    report_summary           JSONB       NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_status ON runs (status, id);
CREATE INDEX runs_approval_status ON runs (approval_status, id);
CREATE INDEX runs_schedule ON runs (schedule_id);
CREATE INDEX runs_created_at ON runs (created_at);

CREATE TABLE run_jobs (
    id                BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id            BIGINT      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    -- The key as launched; no reference, so a later task rename or delete leaves history intact.
    task_key          TEXT        NOT NULL,
    status            TEXT        NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    attempts          INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_owner       TEXT,
    lease_until       TIMESTAMPTZ,
    started_at        TIMESTAMPTZ,
    ended_at          TIMESTAMPTZ,
    result            JSONB       NOT NULL DEFAULT '{}',
    error_summary     TEXT,
    prompt_tokens     BIGINT      NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens BIGINT      NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    total_tokens      BIGINT      NOT NULL DEFAULT 0 CHECK (total_tokens >= 0)
);
CREATE INDEX run_jobs_status ON run_jobs (status, id);
CREATE INDEX run_jobs_run ON run_jobs (run_id, id);
CREATE INDEX run_jobs_task_status ON run_jobs (task_key, status);
CREATE INDEX run_jobs_lease ON run_jobs (status, lease_until);

-- G2: accounting only — no prompt, no response.
CREATE TABLE llm_calls (
    id                BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id            BIGINT      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    run_job_id        BIGINT      REFERENCES run_jobs (id) ON DELETE SET NULL,
    model             TEXT        NOT NULL,
    endpoint_host     TEXT        NOT NULL,
    prompt_tokens     BIGINT      NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens BIGINT      NOT NULL CHECK (completion_tokens >= 0),
    total_tokens      BIGINT      NOT NULL CHECK (total_tokens >= 0),
    duration_ms       BIGINT      NOT NULL CHECK (duration_ms >= 0),
    outcome           TEXT        NOT NULL CHECK (outcome IN ('ok', 'error')),
    created_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX llm_calls_run ON llm_calls (run_id, id);
CREATE INDEX llm_calls_job ON llm_calls (run_job_id);
CREATE INDEX llm_calls_model ON llm_calls (model);

CREATE TABLE inventory_snapshots (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       BIGINT      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    container_id TEXT        NOT NULL,
    name         TEXT        NOT NULL DEFAULT '',
    image        TEXT        NOT NULL DEFAULT '',
    state        TEXT        NOT NULL DEFAULT '',
    networks     TEXT[]      NOT NULL DEFAULT '{}' CHECK (array_position(networks, NULL) IS NULL),
    ports        TEXT[]      NOT NULL DEFAULT '{}' CHECK (array_position(ports, NULL) IS NULL),
    labels       JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX inventory_snapshots_run ON inventory_snapshots (run_id, id);
CREATE INDEX inventory_snapshots_container ON inventory_snapshots (container_id);

CREATE TABLE artifacts (
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        BIGINT      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    run_job_id    BIGINT      REFERENCES run_jobs (id) ON DELETE SET NULL,
    kind          TEXT        NOT NULL CHECK (kind IN ('markdown', 'json', 'text', 'mermaid')),
    relative_path TEXT        NOT NULL CHECK (length(relative_path) > 0),
    size_bytes    BIGINT      NOT NULL CHECK (size_bytes >= 0),
    sha256        TEXT        NOT NULL CHECK (length(sha256) = 64),
    mime_type     TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT artifacts_run_path_key UNIQUE (run_id, relative_path)
);
CREATE INDEX artifacts_job ON artifacts (run_job_id);

CREATE TABLE scheduled_runs (
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id   BIGINT      NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    run_id        BIGINT      REFERENCES runs (id) ON DELETE SET NULL,
    scheduled_for TIMESTAMPTZ NOT NULL,
    status        TEXT        NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'started', 'finished', 'failed')),
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    error_summary TEXT,
    -- One run per due slot, however many schedulers race for it.
    CONSTRAINT scheduled_runs_slot_key UNIQUE (schedule_id, scheduled_for)
);
CREATE INDEX scheduled_runs_run ON scheduled_runs (run_id);
CREATE INDEX scheduled_runs_status ON scheduled_runs (status);

-- Phase 3: RAG.
CREATE TABLE uploads (
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    filename      TEXT        NOT NULL,
    mime_type     TEXT        NOT NULL,
    size_bytes    BIGINT      NOT NULL CHECK (size_bytes >= 0),
    sha256        TEXT        NOT NULL CHECK (length(sha256) = 64),
    stored_path   TEXT        NOT NULL,
    status        TEXT        NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'processing', 'ready', 'failed')),
    attempts      INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error_message TEXT        CHECK (error_message IS NULL OR length(error_message) <= 1000),
    lease_owner   TEXT,
    lease_until   TIMESTAMPTZ,
    uploaded_at   TIMESTAMPTZ NOT NULL,
    processed_at  TIMESTAMPTZ,
    CONSTRAINT uploads_sha256_key UNIQUE (sha256)
);
CREATE INDEX uploads_status ON uploads (status, id);

CREATE TABLE documents (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    upload_id  BIGINT      NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    title      TEXT        NOT NULL,
    source     TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX documents_upload ON documents (upload_id);

CREATE TABLE chunks (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id BIGINT  NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    chunk_index INTEGER NOT NULL CHECK (chunk_index >= 0),
    text        TEXT    NOT NULL,
    word_count  INTEGER NOT NULL CHECK (word_count >= 0),
    CONSTRAINT chunks_document_index_key UNIQUE (document_id, chunk_index)
);

-- all-MiniLM-L6-v2 vectors (384 dimensions, L2-normalised); HNSW for cosine distance (`<=>`).
CREATE TABLE embeddings (
    chunk_id BIGINT      NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    model_id TEXT        NOT NULL,
    vector   vector(384) NOT NULL,
    PRIMARY KEY (chunk_id, model_id)
);
CREATE INDEX embeddings_model ON embeddings (model_id);
CREATE INDEX embeddings_vector_hnsw ON embeddings USING hnsw (vector vector_cosine_ops);

-- G3: the SHA-256 of the trimmed query, never the query text.
CREATE TABLE retrieval_events (
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        BIGINT      REFERENCES runs (id) ON DELETE SET NULL,
    query_hash    TEXT        NOT NULL CHECK (length(query_hash) = 64),
    top_k         INTEGER     NOT NULL CHECK (top_k >= 1),
    results_count INTEGER     NOT NULL CHECK (results_count >= 0),
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX retrieval_events_run ON retrieval_events (run_id);

-- Phase 4: notifications, network policies, API tokens.
CREATE TABLE notification_targets (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT        NOT NULL CHECK (length(name) > 0),
    kind       TEXT        NOT NULL CHECK (kind IN ('discord', 'email', 'webhook')),
    enabled    BOOLEAN     NOT NULL DEFAULT TRUE,
    config     JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT notification_targets_name_key UNIQUE (name)
);

CREATE TABLE notifications (
    id              BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          BIGINT      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    target_id       BIGINT      NOT NULL REFERENCES notification_targets (id) ON DELETE CASCADE,
    status          TEXT        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'dead')),
    attempts        INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TIMESTAMPTZ,
    sent_at         TIMESTAMPTZ,
    error_summary   TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT notifications_run_target_key UNIQUE (run_id, target_id)
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_target ON notifications (target_id);

CREATE TABLE network_policy_recommendations (
    id             BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id         BIGINT      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    source_service TEXT        NOT NULL,
    target_service TEXT        NOT NULL,
    port           INTEGER     NOT NULL CHECK (port BETWEEN 1 AND 65535),
    protocol       TEXT        NOT NULL DEFAULT 'TCP',
    recommendation TEXT        NOT NULL,
    policy_yaml    TEXT        NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX network_policy_recommendations_run ON network_policy_recommendations (run_id, id);

-- Tokens are stored only as their SHA-256 hex.
CREATE TABLE api_tokens (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT        NOT NULL CHECK (length(name) > 0),
    role         TEXT        NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_sha256 TEXT        NOT NULL CHECK (length(token_sha256) = 64),
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    CONSTRAINT api_tokens_token_sha256_key UNIQUE (token_sha256)
);
