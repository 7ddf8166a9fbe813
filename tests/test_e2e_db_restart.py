"""PostgreSQL restarted under a real prefork Odoo server running jobs.

On a private cluster the test creates and restarts itself (never the
machine's main one). The jobs being run lose their transaction with their
worker's connection: they must go back to pending without counting a try
(their workers are alive), and all end done, each committed once.
"""
import time
from contextlib import closing, contextmanager

import psycopg2
import pytest
from harness import database
from harness.pg_cluster import PrivateCluster
from harness.server import OdooServer

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

JOBS = 8
DURATION = 4  # seconds each job sleeps before writing its record


@pytest.fixture(scope="module")
def cluster():
    cluster = PrivateCluster().create()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def cluster_db(odoo, addons_path, cluster):
    name = database.unique_db_name("qjhard_restart")
    database.install_modules(
        odoo,
        name,
        addons_path,
        modules=database.BENCHMARK_MODULES,
        extra_args=cluster.odoo_args(),
    )
    return name


@pytest.fixture
def cluster_odoo(odoo, cluster, cluster_db, monkeypatch):
    """This process's Odoo pointed at the cluster (to delay jobs there)."""
    for key, value in (
        ("db_host", cluster.socket_dir),
        ("db_port", cluster.port),
        ("db_user", cluster.user),
    ):
        monkeypatch.setitem(odoo.tools.config.options, key, value)
    yield odoo
    odoo.sql_db.close_db(cluster_db)
    odoo.modules.registry.Registry.delete(cluster_db)


@contextmanager
def cursor(cluster, db):
    with closing(psycopg2.connect(**cluster.params(db))) as conn:
        conn.autocommit = True
        with conn.cursor() as cr:
            yield cr


def fetch(cluster, db, query, args=None):
    with cursor(cluster, db) as cr:
        cr.execute(query, args)
        return cr.fetchall()


def wait_until(predicate, timeout, message):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except psycopg2.OperationalError:
            value = None  # the cluster is restarting
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(message())


def test_restart_of_postgresql_costs_no_try(
    cluster, cluster_db, cluster_odoo, addons_path
):
    server = OdooServer(
        db=cluster_db,
        addons_path=addons_path,
        workers=2,
        env={"ODOO_QUEUE_JOB_CHANNELS": "root:4"},
        extra_args=cluster.odoo_args(),
        name="db-restart",
    )
    try:
        server.start()
        server.wait_for_log("queue job runner ready for db %s" % cluster_db)
        registry = cluster_odoo.registry(cluster_db)
        with registry.cursor() as cr:
            env = cluster_odoo.api.Environment(cr, cluster_odoo.SUPERUSER_ID, {})
            model = env["test.reliability.job"]
            uuids = [
                model.with_delay(max_retries=5)
                .sleep_and_record("restart-%d" % index, DURATION)
                .uuid
                for index in range(JOBS)
            ]

        def states():
            return dict(
                fetch(
                    cluster,
                    cluster_db,
                    "SELECT uuid, state FROM queue_job WHERE uuid = ANY(%s)",
                    (uuids,),
                )
            )

        # a restart while jobs run
        wait_until(
            lambda: list(states().values()).count("started") >= 2,
            60,
            lambda: "jobs not started: %s" % states(),
        )
        cluster.stop(mode="fast")
        time.sleep(1)
        cluster.start()

        wait_until(
            lambda: set(states().values()) == {"done"},
            180,
            lambda: "jobs not all done: %s\n%s" % (states(), server.log_tail()),
        )
        retries = dict(
            fetch(
                cluster,
                cluster_db,
                "SELECT uuid, retry FROM queue_job WHERE uuid = ANY(%s)",
                (uuids,),
            )
        )
        # the try of their one complete execution, nothing for the restart
        assert retries == {uuid: 1 for uuid in uuids}
        executions = dict(
            fetch(
                cluster,
                cluster_db,
                "SELECT name, count(*) FROM test_reliability_job"
                " WHERE name LIKE 'restart-%%' AND stage = 'end' GROUP BY name",
            )
        )
        assert executions == {"restart-%d" % index: 1 for index in range(JOBS)}
        log = server.log_text()
        assert "worker that died" not in log
        assert "interrupted" in log
    finally:
        server.stop()
