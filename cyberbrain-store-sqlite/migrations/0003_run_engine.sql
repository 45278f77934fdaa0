-- The run engine (issue 4): cancel requests, and indexes for what the executors and the
-- reports ask most.

-- Set when a run is cancelled while jobs were running; they stop at their next lease check and
-- the run ends `cancelled` once they finished.
ALTER TABLE runs ADD COLUMN cancel_requested_at TEXT;

-- `last_success`: the completed job of a task that ended last.
CREATE INDEX run_jobs_task_ended ON run_jobs (task_key, status, ended_at);

-- Artifacts of one run in id order.
CREATE INDEX artifacts_run ON artifacts (run_id, id);
