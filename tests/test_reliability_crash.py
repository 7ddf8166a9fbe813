"""Crashes on real prefork servers: no job is left started by a dead worker.

A job's lease (an advisory lock of the worker's connection) disappears with
its worker; the runner's rescue puts such jobs back in the queue within
seconds, without a restart, and right after a restart. Jobs record a row per
committed execution (``test.reliability.job``): whatever is killed, each
job's effect is committed exactly once.
"""
import os
import signal
import time

import pytest
from reliability_helpers import WORKER_DIED_ERROR, held_leases, wait_until, write_metric

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

ROOT_2 = {"ODOO_QUEUE_JOB_CHANNELS": "root:2"}
ROOT_3 = {"ODOO_QUEUE_JOB_CHANNELS": "root:3"}
RESCUE_TARGET = 10  # seconds


def runner_ready(server):
    server.wait_for_log("queue job runner ready for db %s" % server.db, timeout=60)


@pytest.mark.timeout(240)
def test_worker_killed_mid_job(odoo_server_factory, jobs):
    server = odoo_server_factory(name="worker-kill", workers=3, env=ROOT_3)
    runner_ready(server)
    (retried,) = jobs.delay(method="sleep_first_try", duration=60.0)
    (exhausted,) = jobs.delay(method="sleep_first_try", duration=60.0, max_retries=1)
    (alive,) = jobs.delay(duration=20.0)
    jobs.wait_states({"started"}, timeout=30)
    killed = {}
    for uuid in (retried, exhausted):
        killed[uuid] = jobs.row(uuid, "worker_pid")[0]
        os.kill(killed[uuid], signal.SIGKILL)
    killed_at = time.monotonic()

    def rescued():
        states = jobs.states([retried, exhausted])
        return states[retried] != "started" and states[exhausted] != "started"

    wait_until(rescued, RESCUE_TARGET, "jobs of killed workers still started")
    print("rescued %.1fs after the kill" % (time.monotonic() - killed_at))

    jobs.wait_states({"done"}, [retried], timeout=60)
    assert jobs.row(retried, "retry")[0] == 2  # the killed try counts
    assert jobs.row(exhausted, "state", "exc_name", "retry") == (
        "failed",
        WORKER_DIED_ERROR,
        1,
    )
    message = jobs.row(exhausted, "exc_message")[0]
    assert "worker" in message and str(killed[exhausted]) in message
    # The long job kept running on its live worker, through several rescues.
    assert jobs.row(alive, "state")[0] == "started"
    jobs.wait_states({"done"}, [alive], timeout=60)
    assert jobs.row(alive, "retry")[0] == 1
    # Each effect once; the failed job never committed one.
    assert jobs.executions() == {jobs.names[retried]: 1, jobs.names[alive]: 1}


@pytest.mark.timeout(600)
def test_server_killed_and_restarted(odoo_server_factory, jobs):
    """500 jobs of 0.2 s on root:2: kill -9 of everything, restart."""
    count, duration = 500, 0.2
    before = odoo_server_factory(name="crash-before", env=ROOT_2)
    runner_ready(before)
    jobs.delay(count=count, duration=duration)
    wait_until(
        lambda: len(jobs.executions()) >= 30, 120, "the jobs do not run before the kill"
    )
    before.kill(signal.SIGKILL)
    before.process.wait(30)
    wait_until(lambda: not before.child_pids(), 30, "processes survived the kill")
    killed_at = jobs.sql("SELECT now() AT TIME ZONE 'utc'")[0][0]
    at_kill = jobs.state_counts()
    dead_started = jobs.started()
    dead_enqueued = [
        uuid for uuid, state in jobs.states().items() if state == "enqueued"
    ]

    restart = time.monotonic()
    after = odoo_server_factory(name="crash-after", env=ROOT_2)
    runner_ready(after)
    ready = time.monotonic()

    def dead_jobs_left():
        rows = jobs.sql(
            "SELECT count(*) FROM queue_job WHERE uuid = ANY(%s) AND ("
            " (state = 'started' AND worker_pid = ANY(%s))"
            " OR (state = 'enqueued' AND uuid = ANY(%s) AND date_enqueued <= %s))",
            (jobs.uuids, list(dead_started.values()), dead_enqueued, killed_at),
        )
        return rows[0][0]

    wait_until(
        lambda: dead_jobs_left() == 0,
        RESCUE_TARGET,
        lambda: "%s jobs of the killed server still hold a slot" % dead_jobs_left(),
    )
    rescued = time.monotonic()
    jobs.wait_states({"done"}, timeout=300)
    empty = time.monotonic()

    executions = jobs.executions()
    assert len(executions) == count
    assert set(executions.values()) == {1}
    assert not held_leases(jobs.db_name)
    write_metric(
        "rescue_kill9_restart",
        "RESCUE-METRIC kill -9 + restart, %d jobs of %ss on root:2"
        " (at the kill: %s): restart -> runner ready %.1fs,"
        " runner ready -> dead jobs rescued %.1fs,"
        " restart -> empty queue %.1fs"
        % (
            count,
            duration,
            ", ".join("%s %s" % item for item in sorted(at_kill.items())),
            ready - restart,
            rescued - ready,
            empty - restart,
        ),
    )


@pytest.mark.timeout(300)
def test_sigterm_while_jobs_run(odoo_server_factory, jobs):
    # SIGTERM to the master: workers finish the jobs they run, then exit.
    graceful = odoo_server_factory(name="sigterm-master", env=ROOT_2)
    runner_ready(graceful)
    first = jobs.delay(count=4, duration=3.0)
    wait_until(
        lambda: list(jobs.states(first).values()).count("started") == 2,
        30,
        "jobs did not start",
    )
    running = [uuid for uuid, state in jobs.states(first).items() if state == "started"]
    os.kill(graceful.process.pid, signal.SIGTERM)
    graceful.process.wait(60)
    assert set(jobs.states(running).values()) == {"done"}

    # SIGTERM to every process (as systemd does): the workers die at once,
    # their jobs are left started, without lease.
    abrupt = odoo_server_factory(name="sigterm-group", env=ROOT_2)
    runner_ready(abrupt)
    wait_until(
        lambda: "started" in jobs.states(first).values(),
        30,
        "jobs did not start again",
    )
    abrupt.kill(signal.SIGTERM)
    abrupt.process.wait(60)
    wait_until(lambda: not abrupt.child_pids(), 30, "processes survived SIGTERM")
    left_started = jobs.started()
    assert left_started

    restarted = odoo_server_factory(name="sigterm-restart", env=ROOT_2)
    runner_ready(restarted)
    ready = time.monotonic()

    def stale_started():
        return set(jobs.started().items()) & set(left_started.items())

    wait_until(
        lambda: not stale_started(),
        RESCUE_TARGET,
        "jobs left started by the stopped server",
    )
    print("stale started jobs rescued %.1fs after ready" % (time.monotonic() - ready))
    jobs.wait_states({"done"}, timeout=60)
    assert set(jobs.executions().values()) == {1}
    assert len(jobs.executions()) == 4
