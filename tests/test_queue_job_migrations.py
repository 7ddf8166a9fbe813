"""Migration scripts and the install hook, run on the test
database inside the test transaction (rolled back, DDL included)."""
import importlib.util
from datetime import datetime, timedelta
from pathlib import Path

from odoo.addons.queue_job.job import Job
from odoo.addons.queue_job.post_init_hook import post_init_hook
from odoo.tests.common import TransactionCase

MIGRATIONS = Path(__file__).resolve().parents[1] / "queue_job" / "migrations"


def load_migration(version, name):
    path = MIGRATIONS / version / ("%s.py" % name)
    spec = importlib.util.spec_from_file_location(
        "queue_job_migration_%s_%s" % (version.replace(".", "_"), name), path
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_exception():
    parse = load_migration("15.0.1.1.0", "post-migration").parse_exception
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "job.py", line 1, in perform\n'
        "odoo.exceptions.UserError: ('The record does not exist', '')\n"
        "\n"
    )
    assert parse(traceback) == (
        "odoo.exceptions.UserError",
        "The record does not exist",
    )
    assert parse("ValueError: boom\nKeyError: 'x'") == ("KeyError", "x")
    assert parse(
        "requests.exceptions.MissingSchema: Invalid URL 'x': No schema supplied"
    ) == ("requests.exceptions.MissingSchema", "Invalid URL 'x': No schema supplied")
    assert parse("Traceback\n  nothing to see") is None


class TestMigrations(TransactionCase):
    def _trigger_enabled(self):
        self.env.cr.execute(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'queue_job_notify'"
        )
        return self.env.cr.fetchone()[0] == "O"

    def _store(self, **values):
        job = Job(self.env["test.queue.job"].testing_method)
        for key, value in values.items():
            setattr(job, key, value)
        job.store()
        return job.db_record()

    def test_exec_time(self):
        started = datetime(2021, 1, 1, 10, 0, 0)
        done = self._store(
            state="done", date_started=started, date_done=started + timedelta(7)
        )
        pending = self._store()
        self.env["queue.job"].flush()
        self.env.cr.execute("ALTER TABLE queue_job DROP COLUMN exec_time")
        load_migration("15.0.1.1.0", "pre-migration").migrate(self.env.cr, "15.0.1.0.0")
        self.assertTrue(self._trigger_enabled())
        self.env.cr.execute(
            "SELECT id, exec_time FROM queue_job WHERE id IN %s",
            (tuple((done | pending).ids),),
        )
        self.assertEqual(
            dict(self.env.cr.fetchall()), {done.id: 7 * 86400.0, pending.id: 0}
        )
        # nothing to do the second time
        load_migration("15.0.1.1.0", "pre-migration").migrate(self.env.cr, "15.0.1.0.0")

    def test_exception_fields(self):
        failed = self._store(
            state="failed",
            exc_info="Traceback (most recent call last):\n"
            "  File 'x.py', line 3\n"
            "ValueError: ('boom', )\n",
        )
        pending = self._store(exc_info="ZeroDivisionError: division by zero")
        self.env["queue.job"].flush()
        self.env.cr.execute(
            "UPDATE queue_job SET exc_name = NULL, exc_message = NULL WHERE id IN %s",
            (tuple((failed | pending).ids),),
        )
        load_migration("15.0.1.1.0", "post-migration").migrate(
            self.env.cr, "15.0.1.0.0"
        )
        self.env["queue.job"].invalidate_cache()
        self.assertEqual(failed.exc_name, "ValueError")
        self.assertEqual(failed.exc_message, "boom")
        self.assertFalse(pending.exc_name)

    def test_identity_key_index(self):
        def index_exists():
            self.env.cr.execute(
                "SELECT 1 FROM pg_indexes"
                " WHERE indexname = 'queue_job_identity_key_state_partial_index'"
            )
            return bool(self.env.cr.fetchone())

        self.assertTrue(index_exists())
        load_migration("15.0.2.3.6", "pre-migration").migrate(self.env.cr, "15.0.2.3.5")
        self.assertFalse(index_exists())
        self.env["queue.job"].init()
        self.assertTrue(index_exists())

    def _trigger_function_source(self):
        self.env.cr.execute(
            "SELECT prosrc FROM pg_proc WHERE proname = 'queue_job_notify'"
        )
        return self.env.cr.fetchone()[0]

    def test_trigger_replaced_on_upgrade(self):
        # the trigger of the original addon: bare uuid, on every change
        self.env.cr.execute(
            """
            CREATE OR REPLACE FUNCTION queue_job_notify() RETURNS trigger AS $$
            BEGIN
                PERFORM pg_notify('queue_job', NEW.uuid);
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql;
            """
        )
        load_migration("15.0.3.1.0", "post-migration").migrate(
            self.env.cr, "15.0.2.3.10"
        )
        self.assertIn("json_build_object", self._trigger_function_source())

    def test_post_init_hook_is_idempotent(self):
        post_init_hook(self.env.cr, self.registry)
        post_init_hook(self.env.cr, self.registry)
        self.env.cr.execute(
            "SELECT count(*) FROM information_schema.triggers"
            " WHERE event_object_table = 'queue_job'"
            " AND trigger_name = 'queue_job_notify'"
        )
        self.assertEqual(self.env.cr.fetchone()[0], 3)
        self.assertIn("json_build_object", self._trigger_function_source())
