"""The runner after a PostgreSQL outage, on a private cluster it may stop.

The cluster is the test's own (``harness.pg_cluster``), never the machine's
main one. The runner runs in a thread against stand-in databases (see
test_runner_loop.py), pointed at the cluster by the libpq environment.

``QUEUE_JOB_TEST_OUTAGE`` sets the length of the outage (seconds), to
measure the recovery after a long one.
"""
import os
import time

import pytest
from harness.pg_cluster import PrivateCluster
from test_runner_loop import logs, wait_for, wait_log  # noqa: F401 (fixture)

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

OUTAGE = float(os.environ.get("QUEUE_JOB_TEST_OUTAGE", "8"))
SERVES_AGAIN_WITHIN = 2.0  # seconds after PostgreSQL accepts connections


@pytest.fixture(scope="module")
def cluster():
    cluster = PrivateCluster().create()
    yield cluster
    cluster.destroy()


@pytest.fixture
def on_cluster(cluster, monkeypatch):
    """Connections made without host and port go to the private cluster."""
    monkeypatch.setenv("PGHOST", cluster.socket_dir)
    monkeypatch.setenv("PGPORT", str(cluster.port))
    yield cluster
    if not cluster.accepts_connections():  # a test failed in its outage
        cluster.start()


def ready_records(logs, db_name):  # noqa: F811
    text = "queue job runner ready for db %s" % db_name
    return [record for record in logs.records if record.getMessage() == text]


def test_runner_serves_again_soon_after_an_outage(
    on_cluster, fake_db_factory, fake_odoo, start_runner, logs  # noqa: F811
):
    cluster = on_cluster
    db = fake_db_factory()
    start_runner([db.name], fake_odoo.port)
    wait_log(logs, "queue job runner ready for db %s" % db.name)
    db.wait_state(db.add_job(), "done")

    cluster.stop()
    wait_log(logs, "lost the connection to db %s" % db.name)
    time.sleep(OUTAGE)
    cluster.start(wait=False)
    back = cluster.wait_accepting()
    (ready,) = wait_for(
        lambda: ready_records(logs, db.name)[1:], timeout=60, message="ready again"
    )
    delay = ready.created - back
    print("served again %.2fs after PostgreSQL accepted connections" % delay)
    assert delay < SERVES_AGAIN_WITHIN
    assert "db %s accepts connections again" % db.name in logs.text
    # full attempts kept their growing delay meanwhile: no hammering
    attempts = logs.text.count("database %s is not available" % db.name)
    assert attempts <= 2 + OUTAGE / 2
    db.wait_state(db.add_job(), "done")
    assert "exception: sleeping" not in logs.text


def test_database_failing_for_its_own_reason_keeps_its_backoff(
    on_cluster, fake_db_factory, fake_odoo, start_runner, logs  # noqa: F811
):
    """A database that does not exist on a server that is up: probed once
    per failure, not reopened at every probe."""
    db = fake_db_factory()
    missing = "qjhard_does_not_exist_%d" % os.getpid()
    start_runner([missing, db.name], fake_odoo.port)
    wait_log(logs, "queue job runner ready for db %s" % db.name)
    time.sleep(4)
    # at the start, then after each of the backoff's first delays
    assert logs.text.count("database %s is not available" % missing) <= 3
    assert "db %s accepts connections again" % missing not in logs.text


def test_server_probe_reopens_only_after_a_failed_probe():
    from odoo.addons.queue_job.jobrunner.backoff import ServerProbe

    probe = ServerProbe(0.25, 1)
    assert probe.due(0)
    assert not probe.succeeded()  # up at once: the database fails by itself
    probe.failed(0)
    assert not probe.due(0.1) and probe.due(0.25)
    probe.failed(0.25)
    probe.failed(0.75)
    probe.failed(1.75)
    assert not probe.due(2.5) and probe.due(2.75)  # never more than a second
    assert probe.succeeded()  # down, then up: the server is back
