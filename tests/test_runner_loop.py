"""The runner loop (jobrunner.runner.QueueJobRunner) on real PostgreSQL.

The runner runs for real (LISTEN/NOTIFY, its SQL, its HTTP dispatcher)
against small databases holding only what it uses, and a tiny HTTP server
standing in for Odoo's ``/queue_job/runjob`` (see ``runner_fakes``). The
end-to-end tests with real Odoo servers are in test_e2e_runner.py.
"""
import logging
import socket
import threading
import time
from contextlib import closing

import psycopg2
import pytest
from odoo.addons.queue_job.jobrunner import runner as runner_module
from odoo.addons.queue_job.jobrunner import timings
from odoo.addons.queue_job.jobrunner.config import RunnerConfig
from odoo.addons.queue_job.jobrunner.runner import QueueJobRunner
from odoo.addons.queue_job.lease import acquire_job_lease
from runner_fakes import FakeOdoo, install_trigger

RUNNER_LOGGER = "odoo.addons.queue_job.jobrunner"


class RunnerUnderTest(QueueJobRunner):
    """A runner serving an explicit, changeable list of databases."""

    def __init__(self, db_names, port, channels="root:4"):
        super().__init__(
            config=RunnerConfig(channels=channels, host="127.0.0.1", port=port)
        )
        self.db_names = list(db_names)

    def get_db_names(self):
        return list(self.db_names)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger=RUNNER_LOGGER)
    return caplog


@pytest.fixture
def fast_maintenance(monkeypatch):
    monkeypatch.setattr(timings, "MAINTENANCE_INTERVAL", 0.2)
    monkeypatch.setattr(timings, "DISCOVERY_INTERVAL", 0.5)


@pytest.fixture
def long_waits(monkeypatch):
    """Nothing periodic wakes the runner: only what a test is about does."""
    monkeypatch.setattr(timings, "SELECT_TIMEOUT", 3600)
    monkeypatch.setattr(timings, "MAINTENANCE_INTERVAL", 3600)
    monkeypatch.setattr(timings, "DISCOVERY_INTERVAL", 3600)


@pytest.fixture
def driven_runner(fake_odoo):
    """Runners driven step by step by the test (``work_once``, ``wait``)."""
    runners = []

    def build(db_names, channels="root:4"):
        runner = RunnerUnderTest(db_names, fake_odoo.port, channels=channels)
        runner.start()
        runners.append(runner)
        return runner

    yield build
    for runner in runners:
        runner.close()


def wait_for(predicate, timeout=10, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("%s not reached within %ss" % (message, timeout))


def wait_log(logs, text, timeout=10):
    wait_for(lambda: text in logs.text, timeout, "log %r" % text)


def test_notified_job_is_marked_enqueued_then_dispatched(
    fake_db_factory, fake_odoo, start_runner, logs
):
    db = fake_db_factory()
    start_runner([db.name], fake_odoo.port)
    wait_log(logs, "queue job runner ready for db %s" % db.name)
    uuid = db.add_job()
    db.wait_state(uuid, "done")
    assert fake_odoo.requests[0][:2] == (db.name, uuid)
    # The fake controller only runs jobs it finds enqueued.
    assert db.job(uuid)["date_enqueued"] is not None
    assert "asking Odoo to run job %s on db %s" % (uuid, db.name) in logs.text
    for line in ("starting", "initializing database connections"):
        assert line in logs.text
    wait_log(logs, "database connections ready")


def test_initial_load_counts_running_jobs(
    fake_db_factory, fake_odoo, driven_runner, logs
):
    db = fake_db_factory()
    started = db.add_job(state="started")
    enqueued = db.add_job(state="enqueued")
    db.execute(
        "UPDATE queue_job SET date_enqueued = now() at time zone 'utc'"
        " WHERE uuid = %s",
        (enqueued,),
    )
    pending = db.add_job()
    failed = db.add_job(state="failed")
    waiting = db.add_job(state="wait_dependencies")
    # A live worker runs the started job: it holds the job's lease.
    worker = psycopg2.connect(dbname=db.name)
    worker.autocommit = True
    with worker.cursor() as cr:
        cr.execute("SELECT id FROM queue_job WHERE uuid = %s", (started,))
        assert acquire_job_lease(cr, cr.fetchone()[0])
    try:
        runner = driven_runner([db.name], channels="root:2")
        runner.work_once()  # load, then dispatch what the capacity allows
        assert "queue job runner ready for db %s" % db.name in logs.text
        assert runner._in_flight == set()  # capacity 2 used by started + enqueued
        db.execute("UPDATE queue_job SET state = 'done' WHERE uuid = %s", (started,))
    finally:
        worker.close()
    runner.wait()  # the notification of the started job's end
    runner.work_once()
    assert runner._in_flight == {(db.name, pending)}
    db.wait_state(pending, "done")
    assert fake_odoo.uuids() == [pending]
    assert db.state(enqueued) == "enqueued"
    assert db.state(failed) == "failed"
    assert db.state(waiting) == "wait_dependencies"
    assert runner.channel_manager.get_job(waiting, db.name) is None


def test_capacity_is_respected(fake_db_factory, fake_odoo, start_runner):
    db = fake_db_factory()
    fake_odoo.job_duration = 0.3
    uuids = [db.add_job() for _i in range(8)]
    start_runner([db.name], fake_odoo.port, channels="root:3")
    for uuid in uuids:
        db.wait_state(uuid, "done", timeout=20)
    assert fake_odoo.peak_concurrency() == 3


def test_failed_dispatch_resets_the_job_then_retries_it(
    fake_db_factory, fake_odoo, start_runner, logs
):
    db = fake_db_factory()
    fake_odoo.behaviour = "error"
    start_runner([db.name], fake_odoo.port)
    uuid = db.add_job()
    fake_odoo.wait_requests(1)
    wait_log(logs, "state of job %s was reset from enqueued to pending" % uuid)
    job = db.job(uuid)
    assert (job["state"], job["date_enqueued"], job["date_started"]) == (
        "pending",
        None,
        None,
    )
    assert (
        "could not dispatch job %s on db %s: HTTP status 500"
        % (
            uuid,
            db.name,
        )
        in logs.text
    )
    fake_odoo.behaviour = "run"
    db.wait_state(uuid, "done", timeout=15)
    assert fake_odoo.uuids().count(uuid) >= 2


def test_refused_connection_never_loses_the_job(fake_db_factory, start_runner, logs):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = fake_db_factory()
    start_runner([db.name], port)
    uuid = db.add_job()
    wait_log(logs, "state of job %s was reset from enqueued to pending" % uuid)
    wait_log(logs, "dispatching paused for")
    assert db.state(uuid) in ("pending", "enqueued")
    # Odoo comes up on that port: the job runs.
    with FakeOdoo() as server:
        server.server_close()
        server.socket = socket.socket()
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.socket.bind(("127.0.0.1", port))
        server.server_activate()
        db.wait_state(uuid, "done", timeout=20)


def test_error_after_the_job_started_does_not_reset_it(
    fake_db_factory, fake_odoo, start_runner, logs
):
    """HTTP 500 for a job that failed: it got through, it stays failed."""
    db = fake_db_factory()

    def fail_job(db_name, uuid):
        with closing(psycopg2.connect(dbname=db_name)) as conn:
            conn.autocommit = True
            with conn.cursor() as cr:
                cr.execute(
                    "UPDATE queue_job SET state = 'failed' WHERE uuid = %s", (uuid,)
                )

    fake_odoo.run_job = fail_job
    fake_odoo.behaviour = "run"
    fake_odoo.error_status = 500
    start_runner([db.name], fake_odoo.port)
    uuid = db.add_job()
    db.wait_state(uuid, "failed")
    time.sleep(0.5)
    assert db.state(uuid) == "failed"
    assert "was reset from enqueued to pending" not in logs.text


def test_eta_is_honoured(fake_db_factory, fake_odoo, driven_runner, long_waits):
    db = fake_db_factory()
    runner = driven_runner([db.name])
    runner.work_once()
    uuid = db.add_job(eta_in=1.5)
    eta = float(db.execute("SELECT EXTRACT(EPOCH FROM eta) FROM queue_job")[0][0])
    runner.wait()  # for the notification: nothing else can wake it
    runner.work_once()
    assert runner.channel_manager.get_job(uuid, db.name) is not None
    assert runner._in_flight == set()
    # The next wait ends at the eta (the periodic tasks are hours away).
    until_eta = eta - runner_module._odoo_now()
    assert 0 < runner._wait_timeout() <= until_eta
    runner.wait()
    runner.work_once()
    assert runner._in_flight == {(db.name, uuid)}
    db.wait_state(uuid, "done")
    (started,) = db.execute(
        "SELECT EXTRACT(EPOCH FROM date_started) FROM queue_job WHERE uuid = %s",
        (uuid,),
    )[0]
    assert float(started) >= eta


def test_priority_orders_dispatch(fake_db_factory, fake_odoo, start_runner):
    db = fake_db_factory()
    fake_odoo.job_duration = 0.2
    low = [db.add_job(priority=20) for _i in range(3)]
    high = [db.add_job(priority=1) for _i in range(3)]
    start_runner([db.name], fake_odoo.port, channels="root:1")
    for uuid in low + high:
        db.wait_state(uuid, "done", timeout=20)
    assert fake_odoo.uuids() == high + low


def test_bare_uuid_notification_rereads_the_job(
    fake_db_factory, fake_odoo, start_runner, logs
):
    db = fake_db_factory()
    start_runner([db.name], fake_odoo.port)
    wait_log(logs, "queue job runner ready for db %s" % db.name)
    db.execute("ALTER TABLE queue_job DISABLE TRIGGER queue_job_notify")
    uuid = db.add_job()
    time.sleep(0.3)
    assert db.state(uuid) == "pending"
    db.execute("NOTIFY queue_job, %s", (uuid,))
    db.wait_state(uuid, "done")


def test_lost_connection_is_reconnected_and_jobs_reloaded(
    fake_db_factory, fake_odoo, start_runner, logs
):
    db = fake_db_factory()
    start_runner([db.name], fake_odoo.port)
    wait_log(logs, "queue job runner ready for db %s" % db.name)
    terminated = db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'queue_job_runner' AND datname = current_database()"
    )
    assert terminated == [(True,)]
    db.execute("ALTER TABLE queue_job DISABLE TRIGGER queue_job_notify")
    missed = db.add_job()  # no notification: found by the reload
    db.execute("ALTER TABLE queue_job ENABLE TRIGGER queue_job_notify")
    wait_log(logs, "lost the connection to db %s" % db.name)
    db.wait_state(missed, "done", timeout=15)
    assert logs.text.count("queue job runner ready for db %s" % db.name) == 2
    notified = db.add_job()
    db.wait_state(notified, "done")
    # Reconnected by itself, not by the loop's catch-all recovery.
    assert "exception: sleeping" not in logs.text


def test_unreachable_database_does_not_starve_the_others(
    fake_db_factory, fake_odoo, start_runner, logs, fast_maintenance
):
    db = fake_db_factory()
    missing = "qjl_does_not_exist_%s" % int(time.time())
    start_runner([missing, db.name], fake_odoo.port)
    uuid = db.add_job()
    db.wait_state(uuid, "done")
    wait_log(logs, "database %s is not available" % missing)
    # Retried with a growing delay, without re-initialising the others.
    wait_for(
        lambda: logs.text.count("database %s is not available" % missing) >= 3,
        timeout=15,
    )
    assert logs.text.count("queue job runner ready for db %s" % db.name) == 1
    assert "next attempt in 1s" in logs.text and "next attempt in 2s" in logs.text


def test_databases_are_discovered_and_forgotten(
    fake_db_factory, fake_odoo, start_runner, logs, fast_maintenance
):
    first = fake_db_factory()
    runner = start_runner([first.name], fake_odoo.port)
    wait_log(logs, "queue job runner ready for db %s" % first.name)

    # A new database with queue_job: served without a restart.
    second = fake_db_factory()
    runner.db_names.append(second.name)
    uuid = second.add_job()
    second.wait_state(uuid, "done", timeout=10)

    # queue_job installed later in a listed database (trigger created last).
    third = fake_db_factory(with_trigger=False)
    runner.db_names.append(third.name)
    wait_log(logs, "queue_job_notify trigger is missing in db %s" % third.name)
    install_trigger(third.name)
    wait_log(logs, "queue job runner ready for db %s" % third.name)

    # A database removed from the list is forgotten, with its jobs.
    first.execute("ALTER TABLE queue_job DISABLE TRIGGER queue_job_notify")
    runner.db_names.remove(first.name)
    wait_log(logs, "db %s is no longer listed" % first.name)
    assert first.name not in runner.db_by_name
    first_active = first.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name ="
        " 'queue_job_runner' AND datname = current_database()"
    )[0][0]
    assert first_active == 0
    # The trigger-missing error is logged once, not at every discovery.
    assert logs.text.count("queue_job_notify trigger is missing") == 1


def test_marking_enqueued_is_guarded(fake_db_factory, fake_odoo):
    """A job the scheduler believes pending, but which is not: not sent."""
    db = fake_db_factory()
    uuid = db.add_job()
    runner = RunnerUnderTest([db.name], fake_odoo.port)
    runner.dispatcher.start()
    try:
        runner.initialize_databases()
        assert runner.channel_manager.get_job(uuid, db.name) is not None
        # Changed behind the runner's back (no notification).
        db.execute("ALTER TABLE queue_job DISABLE TRIGGER queue_job_notify")
        db.execute("UPDATE queue_job SET state = 'started' WHERE uuid = %s", (uuid,))
        runner.run_jobs()
        assert runner._in_flight == set() and runner.dispatcher.in_flight == 0
        assert db.state(uuid) == "started"
        # Re-read: the scheduler now counts it as running.
        job = runner.channel_manager.get_job(uuid, db.name)
        assert job in job.channel._running
    finally:
        runner.close_databases()
        runner.dispatcher.stop()


def test_jobs_of_several_databases_share_the_capacity(
    fake_db_factory, fake_odoo, start_runner
):
    one, two = fake_db_factory(), fake_db_factory()
    fake_odoo.job_duration = 0.3
    jobs = [(db, db.add_job()) for db in (one, two) for _i in range(3)]
    start_runner([one.name, two.name], fake_odoo.port, channels="root:2")
    for db, uuid in jobs:
        db.wait_state(uuid, "done", timeout=20)
    assert fake_odoo.peak_concurrency() == 2


def test_stop_is_prompt_and_closes_connections(
    fake_db_factory, fake_odoo, logs, long_waits
):
    db = fake_db_factory()
    runner = RunnerUnderTest([db.name], fake_odoo.port)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    wait_log(logs, "queue job runner ready for db %s" % db.name)
    runner.stop()
    # Its wait would last an hour: stop() ends it.
    thread.join(10)
    assert not thread.is_alive()
    assert "graceful stop requested" in logs.text
    wait_log(logs, "stopped")
    active = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name ="
        " 'queue_job_runner' AND datname = current_database()"
    )[0][0]
    assert active == 0


def test_async_http_get_compatibility_helper(fake_db_factory, fake_odoo, logs):
    """The original's module-level dispatch function still works alike."""
    db = fake_db_factory()
    uuid = db.add_job(state="enqueued")
    fake_odoo.behaviour = "error"
    thread = runner_module._async_http_get(
        "http", "127.0.0.1", fake_odoo.port, "u", "p", db.name, uuid
    )
    thread.join(10)
    assert fake_odoo.requests[0][:2] == (db.name, uuid)
    assert db.state(uuid) == "pending"
    assert "state of job %s was reset from enqueued to pending" % uuid in logs.text
    fake_odoo.behaviour = "run"
    db.execute("UPDATE queue_job SET state = 'enqueued' WHERE uuid = %s", (uuid,))
    runner_module._async_http_get(
        "http", "127.0.0.1", fake_odoo.port, None, None, db.name, uuid
    ).join(10)
    assert db.state(uuid) == "done"


def test_unexpected_error_closes_pauses_and_reopens(
    fake_db_factory, driven_runner, logs, long_waits, monkeypatch
):
    """The recovery is one iteration's business: close, pause, then the
    next iteration after the pause opens the databases again."""
    monkeypatch.setattr(timings, "ERROR_RECOVERY_DELAY", 0.2)
    db = fake_db_factory()
    runner = driven_runner([db.name])
    runner.work_once()
    failures = []

    def broken_notifications():
        failures.append(True)
        raise RuntimeError("surprise")

    runner.process_notifications = broken_notifications
    runner.work_once()
    assert "exception: sleeping 0s and retrying" in logs.text
    assert runner.db_by_name == {}
    del runner.process_notifications
    runner.work_once()  # paused: nothing happens
    assert len(failures) == 1 and runner.db_by_name == {}
    runner.wait()  # until the pause is over
    runner.work_once()
    assert list(runner.db_by_name) == [db.name]
    ready = "queue job runner ready for db %s" % db.name
    assert logs.text.count(ready) == 2
    assert logs.text.count("initializing database connections") == 2
