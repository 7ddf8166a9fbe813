-- NOTIFY the job runner of the changes of the scheduling settings of a
-- channel record, so that it applies them at once, without re-reading them.
--
-- Channel "queue_job" (the one the runner LISTENs on), payload: a JSON
-- object {"channel_settings": {"name", "old_name", "capacity",
-- "sequential", "throttle", "paused", "deleted"}} where name is the
-- channel's complete name, old_name its name before a rename (or null).
-- Notifications are delivered at commit.
--
-- Only writes of the settings, of the complete name, and deletions notify:
-- other writes (removal interval, functions) do not concern the runner.
CREATE OR REPLACE FUNCTION queue_job_channel_notify() RETURNS trigger AS $$
DECLARE
    old_name varchar := NULL;
    deleted boolean := FALSE;
    rec queue_job_channel;
BEGIN
    IF TG_OP = 'DELETE' THEN
        rec := OLD;
        deleted := TRUE;
    ELSE
        rec := NEW;
    END IF;
    IF rec.complete_name IS NULL THEN
        -- a record being created: its name comes with the next update
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW.complete_name IS NOT DISTINCT FROM OLD.complete_name
           AND NEW.capacity IS NOT DISTINCT FROM OLD.capacity
           AND NEW.sequential IS NOT DISTINCT FROM OLD.sequential
           AND NEW.throttle IS NOT DISTINCT FROM OLD.throttle
           AND NEW.paused IS NOT DISTINCT FROM OLD.paused THEN
            RETURN NULL;
        END IF;
        old_name := OLD.complete_name;
    END IF;
    PERFORM pg_notify(
        'queue_job',
        json_build_object(
            'channel_settings',
            json_build_object(
                'name', rec.complete_name,
                'old_name', old_name,
                'capacity', rec.capacity,
                'sequential', rec.sequential,
                'throttle', rec.throttle,
                'paused', rec.paused,
                'deleted', deleted
            )
        )::text
    );
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS queue_job_channel_notify ON queue_job_channel;
CREATE TRIGGER queue_job_channel_notify
    AFTER INSERT OR UPDATE OR DELETE ON queue_job_channel
    FOR EACH ROW EXECUTE PROCEDURE queue_job_channel_notify();
