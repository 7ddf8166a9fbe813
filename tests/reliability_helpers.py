"""Shared helpers of the reliability tests (tests/test_reliability_*.py).

They delay jobs of ``test.reliability.job`` (test addon), which record one
row per committed execution, and observe ``queue_job``, the rows and
PostgreSQL's advisory locks from the outside, with short autocommit
connections (each query sees what is committed at that moment).
"""
import time
from contextlib import closing
from pathlib import Path

import psycopg2
from harness.odoo_runtime import BUILD_DIR
from odoo.addons.queue_job.lease import JOB_LEASE_NAMESPACE, RUNNER_LEADER_NAMESPACE

WORKER_DIED_ERROR = "odoo.addons.queue_job.exception.WorkerDiedError"


def sql(db_name, query, args=None):
    with closing(psycopg2.connect(dbname=db_name)) as conn:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute(query, args)
            return cr.fetchall() if cr.description else None


def held_leases(db_name):
    """{job id: pid of the backend holding its lease}."""
    rows = sql(
        db_name,
        "SELECT objid::int, pid FROM pg_locks"
        " WHERE locktype = 'advisory' AND granted AND objsubid = 2"
        " AND classid = %s::oid"
        " AND database = (SELECT oid FROM pg_database WHERE datname = %s)",
        (JOB_LEASE_NAMESPACE, db_name),
    )
    return dict(rows)


def leader_pid(db_name):
    """pid of the backend holding the runner's leader lock of ``db_name``."""
    rows = sql(
        db_name,
        "SELECT pid FROM pg_locks"
        " WHERE locktype = 'advisory' AND granted AND objsubid = 2"
        " AND classid = %s::oid"
        " AND database = (SELECT oid FROM pg_database WHERE datname = %s)",
        (RUNNER_LEADER_NAMESPACE, db_name),
    )
    return rows[0][0] if rows else None


def wait_until(predicate, timeout, message, interval=0.05):
    """Poll ``predicate`` until it returns a truthy value; return it.

    ``message`` (a string, or a callable returning one) explains a timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            if callable(message):
                message = message()
            raise AssertionError("%s (after %ss)" % (message, timeout))
        time.sleep(interval)


def write_metric(name, line):
    """Print a measured figure and keep it in build/metrics/<name>.txt."""
    print(line)
    metrics = Path(BUILD_DIR) / "metrics"
    metrics.mkdir(parents=True, exist_ok=True)
    (metrics / ("%s.txt" % name)).write_text(line + "\n")


class DatabaseJobs:
    """Test jobs of the database ``db_name``, named with ``prefix``, delayed
    in committed transactions and observed directly in the database."""

    def __init__(self, db_name, committed_env, prefix):
        self.db_name = db_name
        self.committed_env = committed_env
        self.prefix = prefix
        self.uuids = []

    def sql(self, query, args=None):
        return sql(self.db_name, query, args)


class ReliabilityJobs(DatabaseJobs):
    """Delays ``test.reliability.job`` jobs on one database, and cleans up."""

    def __init__(self, db_name, committed_env, prefix):
        super().__init__(db_name, committed_env, prefix)
        self.names = {}  # uuid -> name of the execution rows
        self._count = 0

    def delay(self, count=1, method="sleep_and_record", duration=0.0, **options):
        """Delay ``count`` jobs in one transaction; return their uuids."""
        uuids = []
        with self.committed_env(db=self.db_name) as env:
            model = env["test.reliability.job"]
            for _index in range(count):
                self._count += 1
                name = "%s-%s" % (self.prefix, self._count)
                job = getattr(model.with_delay(**options), method)(name, duration)
                uuids.append(job.uuid)
                self.names[job.uuid] = name
        self.uuids += uuids
        return uuids

    def states(self, uuids=None):
        return dict(
            self.sql(
                "SELECT uuid, state FROM queue_job WHERE uuid = ANY(%s)",
                (list(uuids or self.uuids),),
            )
        )

    def started(self):
        """``{uuid: worker pid}`` of the jobs in state started."""
        return dict(
            self.sql(
                "SELECT uuid, worker_pid FROM queue_job"
                " WHERE uuid = ANY(%s) AND state = 'started'",
                (self.uuids,),
            )
        )

    def row(self, uuid, *columns):
        rows = self.sql(
            "SELECT %s FROM queue_job WHERE uuid = %%s" % ", ".join(columns), (uuid,)
        )
        return rows[0] if rows else None

    def wait_states(self, states, uuids=None, timeout=60):
        """Wait until every job is in one of ``states``."""
        uuids = list(uuids or self.uuids)

        def reached():
            current = self.states(uuids)
            return all(current.get(uuid) in states for uuid in uuids)

        wait_until(
            reached,
            timeout,
            lambda: "jobs not all in %s: %s" % (states, self.state_counts(uuids)),
        )

    def state_counts(self, uuids=None):
        counts = {}
        for state in self.states(uuids).values():
            counts[state] = counts.get(state, 0) + 1
        return counts

    def executions(self, stage="end"):
        """{job name: number of committed executions}, for this prefix."""
        rows = self.sql(
            "SELECT name, count(*) FROM test_reliability_job"
            " WHERE name LIKE %s AND stage = %s GROUP BY name",
            (self.prefix + "-%", stage),
        )
        return dict(rows)

    def cleanup(self):
        if self.uuids:
            self.sql("DELETE FROM queue_job WHERE uuid = ANY(%s)", (self.uuids,))
        self.sql(
            "DELETE FROM test_reliability_job WHERE name LIKE %s", (self.prefix + "-%",)
        )
