"""What a job run costs the worker in PostgreSQL round trips.

The runjob request goes through Odoo's WSGI application in this process, on
connections that count what psycopg2 sends: the statements of a trivial job
are a contract of the performance work (README, "Performance"), which a
change must not lose silently.
"""
import collections

import psycopg2.extensions
import pytest
from odoo.addons.queue_job.job import DONE
from odoo.addons.queue_job.lease import JOB_LEASE_NAMESPACE
from werkzeug.test import Client

COUNTS = collections.Counter()
STATEMENTS = []


def _counting_connection_class(odoo):
    """Connections counting the round trips of their statements: queries,
    the BEGIN and COMMIT that psycopg2 sends, resets (DISCARD ALL)."""

    class CountingCursor(psycopg2.extensions.cursor):
        def execute(self, query, vars=None):
            connection = self.connection
            if (
                connection.status == psycopg2.extensions.STATUS_READY
                and not connection.autocommit
            ):
                COUNTS["begins"] += 1  # psycopg2 sends a BEGIN first
            COUNTS["queries"] += 1
            STATEMENTS.append(" ".join(self.mogrify(query, vars).decode().split()))
            return super().execute(query, vars)

    class CountingConnection(odoo.sql_db.PsycoConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            COUNTS["connections"] += 1
            self.cursor_factory = CountingCursor

        def commit(self):
            # psycopg2 sends nothing when no transaction is open
            if self.status != psycopg2.extensions.STATUS_READY:
                COUNTS["commits"] += 1
            return super().commit()

        def reset(self):
            COUNTS["resets"] += 1
            return super().reset()

    return CountingConnection


@pytest.fixture
def counting_pool(odoo, db_name, monkeypatch):
    """Odoo's connections to the test database, new ones, counting."""
    monkeypatch.setattr(
        odoo.sql_db, "PsycoConnection", _counting_connection_class(odoo)
    )
    odoo.sql_db.close_db(db_name)
    yield COUNTS
    odoo.sql_db.close_db(db_name)


def test_trivial_job_round_trips(odoo, db_name, counting_pool, enqueued_jobs):
    client = Client(odoo.http.root)
    assert client.get("/queue_job/session?db=%s" % db_name).status_code == 200
    runjob = "/queue_job/runjob?db=%s&job_uuid=%%s" % db_name
    # warm-up: Odoo's routing, the pool's connections
    assert client.get(runjob % enqueued_jobs("testing_method", 1)).status_code == 200
    uuid = enqueued_jobs("testing_method", 1)
    job_id = _job_id(odoo, db_name, uuid)
    COUNTS.clear()
    STATEMENTS.clear()
    response = client.get(runjob % uuid)
    assert response.status_code == 200
    # the claim with the registry check, started, done with the lease release
    assert COUNTS["queries"] == 3, "\n".join(STATEMENTS)
    assert STATEMENTS[0].startswith("SET LOCAL synchronous_commit TO off; SELECT")
    assert "base_registry_signaling" in STATEMENTS[0]
    assert [s.split()[0] for s in STATEMENTS[1:]] == ["UPDATE", "UPDATE"]
    # started: committed with its UPDATE, which begins the job's transaction
    assert "'started'" in STATEMENTS[1]
    assert STATEMENTS[1].endswith("; COMMIT; BEGIN ISOLATION LEVEL REPEATABLE READ")
    assert "'done'" in STATEMENTS[2]
    assert STATEMENTS[2].endswith(
        "RETURNING pg_advisory_unlock(%s, %s)" % (JOB_LEASE_NAMESPACE, job_id)
    )
    # psycopg2's: the BEGIN of the first transaction, the COMMIT of the last
    assert COUNTS["begins"] == 1
    assert COUNTS["commits"] == 1
    # the pool's DISCARD ALL: the request's cursor, which also checks the
    # registry (Odoo's own check takes a cursor of its own): 6 round trips
    assert COUNTS["resets"] == 1
    assert COUNTS["connections"] == 0
    with odoo.registry(db_name).cursor() as cr:
        cr.execute("SELECT state FROM queue_job WHERE uuid = %s", (uuid,))
        assert cr.fetchone()[0] == DONE


def _job_id(odoo, db_name, uuid):
    with odoo.registry(db_name).cursor() as cr:
        cr.execute("SELECT id FROM queue_job WHERE uuid = %s", (uuid,))
        return cr.fetchone()[0]
