-- NOTIFY the job runner of the changes of queue_job rows it schedules on.
--
-- Channel "queue_job", payload: a JSON object with what the scheduler needs,
-- so that it does not have to read the row back:
--   {"uuid", "id", "state", "channel", "priority", "eta", "date_created"}
-- where eta and date_created are epoch seconds of the naive UTC timestamps
-- (eta may be null). Notifications are delivered at commit.
--
-- * INSERT: always.
-- * UPDATE: only when state, channel, priority or eta changed: other writes
--   (results, exception details, chatter bookkeeping) do not concern the
--   runner and would only wake it up for nothing. Neither do the two steps
--   of a dispatch: pending -> enqueued is the runner's own write (it
--   already counts the job as running), and enqueued -> started changes
--   nothing for it (both are running). A runner that missed them anyway
--   (a job enqueued by someone else) finds out when it dispatches the job.
-- * DELETE: only for rows that are not done (done jobs are already
--   forgotten by the runner), with a null state meaning "forget this job".
--
-- One trigger for the three events: information_schema.triggers lists it as
-- 3 rows, which the runner checks before using a database.
CREATE OR REPLACE FUNCTION queue_job_notify() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.state = 'done' THEN
            RETURN NULL;
        END IF;
        PERFORM pg_notify(
            'queue_job',
            json_build_object(
                'uuid', OLD.uuid,
                'id', OLD.id,
                'state', NULL,
                'channel', OLD.channel,
                'priority', OLD.priority,
                'eta', EXTRACT(EPOCH FROM OLD.eta),
                'date_created', EXTRACT(EPOCH FROM OLD.date_created)
            )::text
        );
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE'
       AND NEW.channel IS NOT DISTINCT FROM OLD.channel
       AND NEW.priority IS NOT DISTINCT FROM OLD.priority
       AND NEW.eta IS NOT DISTINCT FROM OLD.eta
       AND (NEW.state IS NOT DISTINCT FROM OLD.state
            OR (OLD.state = 'pending' AND NEW.state = 'enqueued')
            OR (OLD.state = 'enqueued' AND NEW.state = 'started')) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify(
        'queue_job',
        json_build_object(
            'uuid', NEW.uuid,
            'id', NEW.id,
            'state', NEW.state,
            'channel', NEW.channel,
            'priority', NEW.priority,
            'eta', EXTRACT(EPOCH FROM NEW.eta),
            'date_created', EXTRACT(EPOCH FROM NEW.date_created)
        )::text
    );
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS queue_job_notify ON queue_job;
CREATE TRIGGER queue_job_notify
    AFTER INSERT OR UPDATE OR DELETE ON queue_job
    FOR EACH ROW EXECUTE PROCEDURE queue_job_notify();
