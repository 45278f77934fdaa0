-- The run engine (issue 4): cancel requests, and indexes for what the executors and the
-- reports ask most. Claims read `run_jobs_status` and `run_jobs_task_status` from 0001.

-- Set when a run is cancelled while jobs were running; they stop at their next lease renewal
-- and the run ends `cancelled` once they finished.
ALTER TABLE runs ADD COLUMN cancel_requested_at TIMESTAMPTZ;

-- `last_success`: the completed job of a task that ended last.
CREATE INDEX run_jobs_task_completed ON run_jobs (task_key, ended_at DESC, id DESC)
    WHERE status = 'completed';

-- Artifacts of one run in id order.
CREATE INDEX artifacts_run ON artifacts (run_id, id);
