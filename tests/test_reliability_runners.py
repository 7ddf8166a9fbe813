"""Several job runners on one database, and runners losing their connection.

Two real prefork servers, each with its own job runner, serve the same
database: one runner is active (it holds the database's leader lock), the
other stands by and takes over when the active node dies. Jobs record a row
per committed execution (``test.reliability.job``): each job's effect is
committed exactly once, whatever happens to the runners.
"""
import signal
import time

import pytest
from reliability_helpers import leader_pid, sql, wait_until, write_metric

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

ROOT_2 = {"ODOO_QUEUE_JOB_CHANNELS": "root:2"}
TAKEOVER_TARGET = 10  # seconds
STANDING_BY = "another job runner is active on db %s, standing by"


def ready_line(db_name):
    return "queue job runner ready for db %s" % db_name


def dispatches(server):
    return server.log_text().count("asking Odoo to run job")


@pytest.mark.timeout(400)
def test_two_runners_one_active_and_takeover(odoo_server_factory, jobs, db_name):
    node_a = odoo_server_factory(name="node-a", env=ROOT_2)
    node_a.wait_for_log(ready_line(db_name), timeout=60)
    node_b = odoo_server_factory(name="node-b", env=ROOT_2)
    node_b.wait_for_log(STANDING_BY % db_name, timeout=60)
    assert leader_pid(db_name)

    count = 200
    jobs.delay(count=count, duration=0.05)
    wait_until(lambda: len(jobs.executions()) >= 60, 120, "node a runs no jobs")
    assert dispatches(node_b) == 0
    assert ready_line(db_name) not in node_b.log_text()

    node_a.kill(signal.SIGKILL)
    killed = time.monotonic()
    node_b.wait_for_log(ready_line(db_name), timeout=TAKEOVER_TARGET)
    takeover = time.monotonic() - killed
    node_a.process.wait(30)

    jobs.wait_states({"done"}, timeout=180)
    assert dispatches(node_b) > 0
    executions = jobs.executions()
    assert len(executions) == count
    assert set(executions.values()) == {1}
    write_metric(
        "runner_takeover",
        "TAKEOVER-METRIC kill -9 of the active node -> standby runner active"
        " on db %s: %.1fs" % (db_name, takeover),
    )


@pytest.mark.timeout(300)
def test_runner_connection_terminated_under_load(odoo_server_factory, jobs, db_name):
    server = odoo_server_factory(name="terminate", env=ROOT_2)
    server.wait_for_log(ready_line(db_name), timeout=60)
    count = 300
    jobs.delay(count=count, duration=0.05)
    terminated = 0
    for _round in range(3):
        wait_until(
            lambda: sql(
                db_name,
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = %s AND application_name = 'queue_job_runner'",
                (db_name,),
            ),
            30,
            "the runner did not reconnect",
        )
        time.sleep(1.0)
        terminated += sql(
            db_name,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = 'queue_job_runner'",
            (db_name,),
        )[0][0]
    assert terminated >= 3
    jobs.wait_states({"done"}, timeout=180)
    executions = jobs.executions()
    assert len(executions) == count
    assert set(executions.values()) == {1}
    assert "lost the connection to db %s" % db_name in server.log_text()
    # Back in charge of the database.
    wait_until(lambda: leader_pid(db_name), 30, "the runner is not the leader again")
