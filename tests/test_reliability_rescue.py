"""Rescue of dead jobs and leader election, on real PostgreSQL.

The runner's SQL and loop run for real against small databases holding the
part of queue_job the runner uses, with a fake Odoo answering runjob like
the controller (it takes the job's lease); see ``runner_fakes``. The same
behaviours on real Odoo servers are in test_reliability_crash.py and
test_reliability_runners.py.
"""
import logging
import time
from contextlib import closing

import psycopg2
import pytest
from odoo.addons.queue_job.jobrunner import timings
from odoo.addons.queue_job.jobrunner.database import QueueJobDatabase
from odoo.addons.queue_job.lease import JobLease, acquire_job_lease
from test_runner_loop import wait_for, wait_log

WORKER_DIED_ERROR = "odoo.addons.queue_job.exception.WorkerDiedError"
RUNNER_LOGGER = "odoo.addons.queue_job.jobrunner"


@pytest.fixture
def fake_db(fake_db_factory):
    return fake_db_factory()


@pytest.fixture
def runner_db(fake_db):
    db = QueueJobDatabase(fake_db.name, {"dbname": fake_db.name})
    yield db
    db.close()


@pytest.fixture
def fast_runner(monkeypatch):
    monkeypatch.setattr(timings, "MAINTENANCE_INTERVAL", 0.2)
    monkeypatch.setattr(timings, "DISCOVERY_INTERVAL", 0.5)
    monkeypatch.setattr(timings, "ENQUEUED_RESCUE_GRACE", 1)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger=RUNNER_LOGGER)
    return caplog


def add_job(db, state="started", **values):
    uuid = db.add_job(state=state)
    if state == "started":
        db.execute(
            "UPDATE queue_job SET date_started = now() at time zone 'utc'"
            " WHERE uuid = %s",
            (uuid,),
        )
    if values:
        db.execute(
            "UPDATE queue_job SET %s WHERE uuid = %%s"
            % ", ".join("%s = %%s" % column for column in values),
            tuple(values.values()) + (uuid,),
        )
    return uuid


def row(db, uuid, *columns):
    return db.execute(
        "SELECT %s FROM queue_job WHERE uuid = %%s" % ", ".join(columns), (uuid,)
    )[0]


class Worker:
    """A connection playing a live worker: it holds the lease of a job."""

    def __init__(self, db, uuid):
        self.conn = psycopg2.connect(dbname=db.name)
        self.conn.autocommit = True
        with self.conn.cursor() as cr:
            cr.execute("SELECT id FROM queue_job WHERE uuid = %s", (uuid,))
            assert acquire_job_lease(cr, cr.fetchone()[0], wait=0)

    def die(self):
        self.conn.close()


# -- the rescue statements ----------------------------------------------


def test_dead_started_job_is_requeued(fake_db, runner_db):
    uuid = add_job(fake_db, worker_pid=4242, retry=0, max_retries=5)
    assert runner_db.rescue_dead_started_jobs() == [(uuid, "pending", 4242, 1)]
    assert row(fake_db, uuid, "state", "retry", "date_started", "worker_pid") == (
        "pending",
        1,
        None,
        None,
    )
    assert row(fake_db, uuid, "result") == (
        "Requeued: the worker running the job (pid 4242) died.",
    )
    assert runner_db.rescue_dead_started_jobs() == []


def test_dead_job_without_try_left_fails(fake_db, runner_db):
    uuid = add_job(fake_db, worker_pid=4242, retry=4, max_retries=5)
    infinite = add_job(fake_db, worker_pid=4243, retry=100, max_retries=0)
    rescued = {
        uuid: state
        for uuid, state, _pid, _retry in runner_db.rescue_dead_started_jobs()
    }
    assert rescued == {uuid: "failed", infinite: "pending"}
    state, retry, exc_name, exc_message, date_started = row(
        fake_db, uuid, "state", "retry", "exc_name", "exc_message", "date_started"
    )
    assert (state, retry, exc_name) == ("failed", 5, WORKER_DIED_ERROR)
    assert exc_message == (
        "The worker running the job (pid 4242) died, and the job has no try left"
        " (max. retries: 5)."
    )
    assert date_started is not None


def test_job_of_a_live_worker_is_never_touched(fake_db, runner_db):
    alive = add_job(fake_db, worker_pid=1)
    worker = Worker(fake_db, alive)
    try:
        for _tick in range(3):
            assert runner_db.rescue_dead_started_jobs() == []
        assert row(fake_db, alive, "state", "retry") == ("started", 0)
    finally:
        worker.die()
    # PostgreSQL releases the lease once the backend has exited
    rescued = wait_for(runner_db.rescue_dead_started_jobs, 5, "rescue")
    assert [r[:2] for r in rescued] == [(alive, "pending")]


def test_job_being_stored_by_its_worker_is_skipped(fake_db, runner_db):
    """A row locked by a transaction (a worker storing the job's end)."""
    uuid = add_job(fake_db)
    with closing(psycopg2.connect(dbname=fake_db.name)) as conn:
        with conn.cursor() as cr:
            cr.execute("UPDATE queue_job SET state = 'done' WHERE uuid = %s", (uuid,))
            assert runner_db.rescue_dead_started_jobs() == []
        conn.commit()
    assert runner_db.rescue_dead_started_jobs() == []
    assert row(fake_db, uuid, "state", "retry") == ("done", 0)


def test_lease_released_before_the_final_commit(fake_db, runner_db):
    """The controller releases the lease in the transaction that stores the
    job's end, after the UPDATE: until the commit, the row lock keeps the
    rescue off; a failed commit leaves a dead job, which is requeued."""
    for end in ("commit", "rollback"):
        uuid = add_job(fake_db)
        with closing(psycopg2.connect(dbname=fake_db.name)) as conn:
            with conn.cursor() as cr:
                cr.execute("SELECT id FROM queue_job WHERE uuid = %s", (uuid,))
                lease = JobLease(cr, cr.fetchone()[0])
                assert acquire_job_lease(cr, lease.job_id, wait=0)
                conn.commit()
                cr.execute(
                    "UPDATE queue_job SET state = 'done' WHERE uuid = %s", (uuid,)
                )
                assert lease.release()
                assert not lease.held
                assert runner_db.rescue_dead_started_jobs() == []
            getattr(conn, end)()
        if end == "commit":
            assert runner_db.rescue_dead_started_jobs() == []
            assert row(fake_db, uuid, "state", "retry") == ("done", 0)
        else:
            rescued = runner_db.rescue_dead_started_jobs()
            assert [r[:2] for r in rescued] == [(uuid, "pending")]


def test_dead_duplicate_of_a_waiting_job_is_cancelled(fake_db, runner_db):
    dead = add_job(fake_db, identity_key="k")
    waiting = add_job(fake_db, state="pending", identity_key="k")
    in_graph = add_job(fake_db, identity_key="g", graph_uuid="graph")
    add_job(fake_db, state="pending", identity_key="g", graph_uuid="graph")
    rescued = {r[0]: r[1] for r in runner_db.rescue_dead_started_jobs()}
    assert rescued == {dead: "cancelled", in_graph: "pending"}
    assert row(fake_db, dead, "result")[0] == (
        "Not queued again: job %s with the same identity key is already waiting"
        % waiting
    )
    assert row(fake_db, dead, "date_cancelled")[0] is not None


def test_lost_enqueued_jobs_are_reset_after_the_grace(fake_db, runner_db):
    old, recent, in_flight, locked = (
        add_job(fake_db, state="enqueued") for _i in range(4)
    )
    fake_db.execute(
        "UPDATE queue_job SET date_enqueued = now() at time zone 'utc'"
        " - interval '10 seconds' WHERE uuid <> %s",
        (recent,),
    )
    fake_db.execute(
        "UPDATE queue_job SET date_enqueued = now() at time zone 'utc'"
        " WHERE uuid = %s",
        (recent,),
    )
    with closing(psycopg2.connect(dbname=fake_db.name)) as conn:
        with conn.cursor() as cr:
            # a worker starting it holds its row
            cr.execute("SELECT 1 FROM queue_job WHERE uuid = %s FOR UPDATE", (locked,))
            assert runner_db.rescue_lost_enqueued_jobs(5, [in_flight]) == {old}
        conn.rollback()
    assert row(fake_db, old, "state", "date_enqueued") == ("pending", None)
    for uuid in (recent, in_flight, locked):
        assert row(fake_db, uuid, "state") == ("enqueued",)
    assert runner_db.rescue_lost_enqueued_jobs(5, []) == {in_flight, locked}


def test_leader_lock(fake_db):
    first = QueueJobDatabase(fake_db.name, {"dbname": fake_db.name})
    second = QueueJobDatabase(fake_db.name, {"dbname": fake_db.name})
    try:
        assert first.try_become_leader()
        assert first.try_become_leader()  # still it
        assert not second.try_become_leader()
        assert second.leader_backend_pid() == first.conn.get_backend_pid()
        first.close()
        # released once the server has ended the first backend
        wait_for(second.try_become_leader, 10, "the lock passed on")
    finally:
        first.close()
        second.close()


# -- the runner ---------------------------------------------------------


def test_runner_rescues_a_job_whose_worker_dies(
    fake_db, fake_odoo, start_runner, logs, fast_runner
):
    start_runner([fake_db.name], fake_odoo.port)
    wait_log(logs, "queue job runner ready for db %s" % fake_db.name)
    uuid = add_job(fake_db, worker_pid=4242)
    worker = Worker(fake_db, uuid)
    time.sleep(1.0)  # several maintenance ticks: alive, untouched
    assert row(fake_db, uuid, "state") == ("started",)
    worker.die()
    fake_db.wait_state(uuid, "done", timeout=10)
    assert row(fake_db, uuid, "retry") == (1,)
    assert (
        "job %s of db %s was started by a worker that died (pid 4242), try 1:"
        " requeued" % (uuid, fake_db.name)
    ) in logs.text
    # the fake Odoo has no /queue_job/rescue: the runner fell back to SQL
    assert (
        "Odoo could not be asked to end the jobs of dead workers of db %s"
        % fake_db.name
    ) in logs.text


def test_request_in_flight_is_not_rescued(
    fake_db, fake_odoo, start_runner, logs, fast_runner
):
    """A request queued in Odoo longer than the grace: its job stays enqueued."""
    fake_odoo.pickup_delay = 2.5
    start_runner([fake_db.name], fake_odoo.port)
    wait_log(logs, "queue job runner ready for db %s" % fake_db.name)
    uuid = fake_db.add_job()
    fake_db.wait_state(uuid, "done", timeout=15)
    assert len(fake_odoo.executions) == 1
    assert "reset to pending" not in logs.text


def test_one_runner_active_per_database(
    fake_db, fake_odoo, start_runner, logs, fast_runner
):
    first = start_runner([fake_db.name], fake_odoo.port)
    wait_log(logs, "queue job runner ready for db %s" % fake_db.name)
    second = start_runner([fake_db.name], fake_odoo.port)
    wait_log(logs, "another job runner is active on db %s, standing by" % fake_db.name)
    uuids = [fake_db.add_job() for _i in range(5)]
    for uuid in uuids:
        fake_db.wait_state(uuid, "done")
    assert fake_db.name in first.db_by_name
    assert fake_db.name not in second.db_by_name
    time.sleep(1.0)
    # logged once, not at every retry
    assert logs.text.count("standing by") == 1

    first.stop()
    wait_for(lambda: fake_db.name in second.db_by_name, 5, "takeover")
    uuid = fake_db.add_job()
    fake_db.wait_state(uuid, "done")
    assert len(fake_odoo.executions) == 6


def test_job_enqueued_before_the_server_started_is_requeued_without_a_try(
    fake_db, runner_db
):
    """Its worker's connection went with a restart of PostgreSQL: the worker
    may be alive, the try is not counted."""
    before_start = "(pg_postmaster_start_time() AT TIME ZONE 'utc') - interval '1s'"
    uuid = add_job(fake_db, worker_pid=4242, retry=2, max_retries=3)
    fake_db.execute(
        "UPDATE queue_job SET date_enqueued = %s, date_started = %s WHERE uuid = %%s"
        % (before_start, before_start),
        (uuid,),
    )
    recent = add_job(fake_db, worker_pid=4243, retry=0, max_retries=5)
    fake_db.execute(
        "UPDATE queue_job SET date_enqueued = now() AT TIME ZONE 'utc'"
        " WHERE uuid = %s",
        (recent,),
    )
    assert runner_db.rescue_interrupted_started_jobs() == [(uuid, "pending", 4242, 2)]
    # with no try left, it is not failed either
    assert row(fake_db, uuid, "state", "retry", "worker_pid", "date_started") == (
        "pending",
        2,
        None,
        None,
    )
    assert "PostgreSQL restarted" in row(fake_db, uuid, "result")[0]
    # a job started since the server started lost its worker: a try
    assert runner_db.rescue_dead_started_jobs() == [(recent, "pending", 4243, 1)]


def test_job_enqueued_before_the_server_started_alive_is_not_touched(
    fake_db, runner_db
):
    uuid = add_job(fake_db, worker_pid=1)
    fake_db.execute(
        "UPDATE queue_job SET date_enqueued = '2000-01-01' WHERE uuid = %s", (uuid,)
    )
    worker = Worker(fake_db, uuid)
    try:
        assert runner_db.rescue_interrupted_started_jobs() == []
        assert row(fake_db, uuid, "state", "retry") == ("started", 0)
    finally:
        worker.die()
