-- What the overview, the metrics and the health check read besides queue_job.
--
-- queue_job_runner_heartbeat: one row per job runner serving the database,
-- written by the runner itself (see jobrunner/heartbeat.py) every few
-- seconds: host, pid, leader or standby, since when it leads, when it last
-- looped (the database's clock), the PostgreSQL backend of its connection
-- (the one holding the leader lock, for a leader), its effective channel
-- settings and what it dispatched, rescued and reset since it started.
--
-- queue_job_counter: counters of jobs done, failed, retried and rescued per
-- channel, monotonic: the purge of old done jobs and restarts leave them
-- alone. The queue_job_count triggers append a row to
-- queue_job_counter_delta per counted change of state (their WHEN clause is
-- evaluated without calling the function): a plain INSERT, which neither
-- waits for another transaction (workers ending jobs of one channel at the
-- same time) nor slows down as one transaction ends thousands of jobs (an
-- UPSERT of the same counter row would). The leading runner folds the
-- deltas into queue_job_counter every few seconds (see jobrunner/heartbeat);
-- readers add both. done_now is the number of done jobs in the table (the
-- jobs per state gauge reads it instead of counting done jobs, which may be
-- millions).
--
-- Idempotent: run at each install and update of queue_job.
CREATE TABLE IF NOT EXISTS queue_job_runner_heartbeat (
    host varchar NOT NULL,
    pid integer NOT NULL,
    role varchar NOT NULL,
    started_at timestamp NOT NULL,
    leader_since timestamp,
    last_seen timestamp NOT NULL,
    backend_pid integer,
    channels jsonb,
    dispatched bigint NOT NULL DEFAULT 0,
    rescued bigint NOT NULL DEFAULT 0,
    reset bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (host, pid)
);

DO $$
BEGIN
    IF to_regclass('queue_job_counter') IS NULL THEN
        CREATE TABLE queue_job_counter (
            channel varchar PRIMARY KEY,
            done bigint NOT NULL DEFAULT 0,
            failed bigint NOT NULL DEFAULT 0,
            retried bigint NOT NULL DEFAULT 0,
            rescued bigint NOT NULL DEFAULT 0,
            done_now bigint NOT NULL DEFAULT 0
        );
        -- Start from what the table holds: the jobs done and failed so far.
        INSERT INTO queue_job_counter (channel, done, failed, done_now)
        SELECT COALESCE(channel, 'root'),
            count(*) FILTER (WHERE state = 'done'),
            count(*) FILTER (WHERE state = 'failed'),
            count(*) FILTER (WHERE state = 'done')
        FROM queue_job WHERE state IN ('done', 'failed')
        GROUP BY COALESCE(channel, 'root');
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS queue_job_counter_delta (
    channel varchar NOT NULL,
    done integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    retried integer NOT NULL DEFAULT 0,
    rescued integer NOT NULL DEFAULT 0,
    done_now bigint NOT NULL DEFAULT 0
);

CREATE OR REPLACE FUNCTION queue_job_count_add(
    channel_name varchar, add_done integer, add_failed integer,
    add_retried integer, add_rescued integer, add_done_now bigint
) RETURNS void AS $$
    INSERT INTO queue_job_counter_delta
        (channel, done, failed, retried, rescued, done_now)
    VALUES (COALESCE(channel_name, 'root'),
        add_done, add_failed, add_retried, add_rescued, add_done_now)
$$ LANGUAGE sql;

-- A try that ended with the job back in the queue is a retry, unless the
-- rescue of a dead worker wrote it (its result starts with "Requeued: ", or
-- it failed with WorkerDiedError): then it is a rescue.
CREATE OR REPLACE FUNCTION queue_job_count() RETURNS trigger AS $$
DECLARE
    rescued boolean;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM queue_job_count_add(NEW.channel,
            (NEW.state = 'done')::int, (NEW.state = 'failed')::int, 0, 0,
            (NEW.state = 'done')::int);
        RETURN NULL;
    END IF;
    IF OLD.state = 'done' THEN
        PERFORM queue_job_count_add(OLD.channel, 0, 0, 0, 0, -1);
    END IF;
    rescued := OLD.state = 'started' AND NEW.state <> 'done' AND COALESCE(
        NEW.result LIKE 'Requeued: %'
        OR NEW.exc_name = 'odoo.addons.queue_job.exception.WorkerDiedError',
        FALSE);
    IF NEW.state = 'done' OR NEW.state = 'failed' OR rescued
       OR (OLD.state = 'started'
           AND NEW.state IN ('pending', 'wait_dependencies')) THEN
        PERFORM queue_job_count_add(NEW.channel,
            (NEW.state = 'done')::int,
            (NEW.state = 'failed')::int,
            (NOT rescued AND NEW.state IN ('pending', 'wait_dependencies'))::int,
            rescued::int,
            (NEW.state = 'done')::int);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- The purge of done jobs (and any delete) takes its done jobs out of
-- done_now, once per statement and channel.
CREATE OR REPLACE FUNCTION queue_job_count_deleted() RETURNS trigger AS $$
BEGIN
    INSERT INTO queue_job_counter_delta (channel, done_now)
    SELECT COALESCE(channel, 'root'), -count(*)
    FROM gone WHERE state = 'done' GROUP BY 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS queue_job_count ON queue_job;
CREATE TRIGGER queue_job_count
    AFTER UPDATE OF state ON queue_job
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state
          AND (NEW.state IN ('done', 'failed')
               OR OLD.state IN ('done', 'started')))
    EXECUTE PROCEDURE queue_job_count();

DROP TRIGGER IF EXISTS queue_job_count_inserted ON queue_job;
CREATE TRIGGER queue_job_count_inserted
    AFTER INSERT ON queue_job
    FOR EACH ROW
    WHEN (NEW.state IN ('done', 'failed'))
    EXECUTE PROCEDURE queue_job_count();

DROP TRIGGER IF EXISTS queue_job_count_deleted ON queue_job;
CREATE TRIGGER queue_job_count_deleted
    AFTER DELETE ON queue_job
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT
    EXECUTE PROCEDURE queue_job_count_deleted();

-- Jobs done lately (the overview's last 5 and 60 minutes, the purge of old
-- done jobs): an entry per done job only, written with its last change.
CREATE INDEX IF NOT EXISTS queue_job_date_done_index
    ON queue_job (date_done) WHERE date_done IS NOT NULL;
