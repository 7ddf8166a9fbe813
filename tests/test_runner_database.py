"""The runner's per-database connection (jobrunner.database) on real PostgreSQL.

Most tests use small databases holding only what the runner touches (see
``runner_fakes``); the payload contract is also checked on the Odoo test
database, with jobs delayed through the ORM.
"""
import select
import time
from contextlib import closing

import psycopg2
import pytest
from odoo.addons.queue_job.jobrunner import database as database_module
from odoo.addons.queue_job.jobrunner.database import (
    NOT_INSTALLED,
    NOT_ODOO_DB,
    TRIGGER_MISSING,
    QueueJobDatabase,
    job_row,
    parse_notification,
)
from odoo.addons.queue_job.jobrunner.runner import Database
from runner_fakes import notification_payload


@pytest.fixture
def fake_db(fake_db_factory):
    return fake_db_factory()


@pytest.fixture
def connections():
    opened = []

    def connect(db_name):
        db = QueueJobDatabase(db_name, {"dbname": db_name})
        opened.append(db)
        return db

    yield connect
    for db in opened:
        db.close()


def wait_notifications(db, count=1, timeout=5):
    payloads = []
    deadline = time.monotonic() + timeout
    while len(payloads) < count and time.monotonic() < deadline:
        if select.select([db], [], [], 0.1)[0]:
            db.poll()
        payloads += db.pop_notifications()
    return payloads


def test_eligibility(fake_db_factory, connections):
    empty = fake_db_factory(with_queue_job=False)
    db = connections(empty.name)
    assert not db.has_queue_job and db.not_served_reason == NOT_ODOO_DB

    fake = fake_db_factory(with_trigger=False)
    db = connections(fake.name)
    assert not db.has_queue_job and db.not_served_reason == TRIGGER_MISSING

    fake.execute("UPDATE ir_module_module SET state = 'to install'")
    assert not connections(fake.name).has_queue_job
    assert connections(fake.name).not_served_reason == NOT_INSTALLED


def test_listens_when_eligible(fake_db, connections):
    db = connections(fake_db.name)
    assert db.has_queue_job and db.not_served_reason is None
    with db.conn.cursor() as cr:
        cr.execute("SELECT pg_listening_channels()")
        assert cr.fetchall() == [("queue_job",)]
        # its writes can all be redone: they do not wait for the WAL flush
        cr.execute("SHOW synchronous_commit")
        assert cr.fetchone()[0] == "off"


def test_recheck_after_uninstall(fake_db, connections):
    db = connections(fake_db.name)
    fake_db.execute("UPDATE ir_module_module SET state = 'uninstalled'")
    assert not db.check_has_queue_job()
    assert db.not_served_reason == NOT_INSTALLED


def test_notification_carries_what_the_scheduler_needs(fake_db, connections):
    db = connections(fake_db.name)
    uuid = fake_db.add_job(channel="root.sub", priority=7, eta_in=30)
    (payload,) = wait_notifications(db)
    row = parse_notification(payload)
    # Exactly what a re-read gives (same epoch floats): no re-read needed.
    assert row == db.fetch_job(uuid)
    channel, row_uuid, seq, date_created, priority, eta, state = row
    assert (channel, row_uuid, priority, state) == ("root.sub", uuid, 7, "pending")
    assert isinstance(date_created, float) and isinstance(eta, float)
    # both from one statement's now(): the eta asked for, in epoch seconds
    assert eta - date_created == 30


def test_notifications_in_commit_order_and_delete(fake_db, connections):
    db = connections(fake_db.name)
    uuid = fake_db.add_job()
    fake_db.execute("UPDATE queue_job SET state = 'failed' WHERE uuid = %s", (uuid,))
    # Not a change the runner cares about: no notification.
    fake_db.execute("UPDATE queue_job SET date_done = now() WHERE uuid = %s", (uuid,))
    fake_db.execute("DELETE FROM queue_job WHERE uuid = %s", (uuid,))
    rows = [parse_notification(p) for p in wait_notifications(db, 3)]
    assert [row[-1] for row in rows] == ["pending", "failed", None]
    assert not wait_notifications(db, 1, timeout=0.3)


def test_bare_uuid_payload_is_not_parsed():
    assert parse_notification("2d3c4e1a-0000-4000-8000-000000000000") is None
    assert parse_notification('{"uuid": "x"}') is None
    assert parse_notification("[1, 2]") is None


def test_job_row_defaults():
    assert job_row("c", "u", 1, None, None, None, "pending") == (
        "c",
        "u",
        1,
        database_module.DEFAULT_DATE_CREATED,
        database_module.DEFAULT_PRIORITY,
        None,
        "pending",
    )


def test_iter_not_done_jobs(fake_db, connections):
    states = ["wait_dependencies", "pending", "enqueued", "started", "failed"]
    expected = {fake_db.add_job(state=state): state for state in states}
    for state in ("done", "cancelled"):
        fake_db.add_job(state=state)
    db = connections(fake_db.name)
    rows = []
    db.iter_not_done_jobs(rows.append)
    assert {row[1]: row[-1] for row in rows} == expected
    with db.select_jobs("state = %s", ("failed",)) as found:
        assert [row[1] for row in found] == [
            uuid for uuid, state in expected.items() if state == "failed"
        ]


def test_mark_enqueued_only_from_pending(fake_db, connections):
    pending = fake_db.add_job()
    started = fake_db.add_job(state="started")
    cancelled = fake_db.add_job(state="cancelled")
    db = connections(fake_db.name)
    marked = db.set_jobs_enqueued([pending, started, cancelled, "no-such-job"])
    assert marked == {pending}
    job = fake_db.job(pending)
    assert job["state"] == "enqueued"
    assert job["date_enqueued"].microsecond == 0
    assert fake_db.state(started) == "started"
    assert fake_db.state(cancelled) == "cancelled"
    assert not db.set_job_enqueued(pending)


def test_reset_to_pending_only_when_still_enqueued(fake_db, connections):
    enqueued = fake_db.add_job()
    started = fake_db.add_job()
    db = connections(fake_db.name)
    db.set_jobs_enqueued([enqueued, started])
    fake_db.execute(
        "UPDATE queue_job SET state = 'started', date_started = now()"
        " WHERE uuid = %s",
        (started,),
    )
    assert db.reset_jobs_to_pending([enqueued, started]) == {enqueued}
    job = fake_db.job(enqueued)
    assert (job["state"], job["date_enqueued"], job["date_started"]) == (
        "pending",
        None,
        None,
    )
    assert fake_db.state(started) == "started"


def test_fetch_job_of_a_deleted_row(fake_db, connections):
    assert connections(fake_db.name).fetch_job("nope") is None


def test_broken_connection_raises_psycopg2_errors(fake_db, connections):
    db = connections(fake_db.name)
    with closing(psycopg2.connect(dbname="postgres")) as admin:
        admin.autocommit = True
        with admin.cursor() as cr:
            cr.execute("SELECT pg_terminate_backend(%s)", (db.conn.get_backend_pid(),))
    with pytest.raises(psycopg2.Error):
        db.keep_alive()
    db.close()
    db.close()


def test_runner_database_on_the_odoo_test_database(db_name, committed_env):
    """The real trigger and a job delayed through the ORM: same contract."""
    db = Database(db_name)
    try:
        assert db.has_queue_job
        with db.conn.cursor() as cr:
            cr.execute(
                "SELECT application_name FROM pg_stat_activity"
                " WHERE pid = pg_backend_pid()"
            )
            assert cr.fetchone()[0] == "queue_job_runner"
        with committed_env() as env:
            job = (
                env["test.runner.job"]
                .with_delay(channel="root.runner_db_test", priority=3, eta=60)
                .record_run("payload contract")
            )
            uuid = job.uuid
        try:
            payloads = wait_notifications(db)
            rows = [parse_notification(p) for p in payloads]
            assert db.fetch_job(uuid) in rows
            assert notification_payload(db_name, uuid)["uuid"] == uuid
        finally:
            with committed_env() as env:
                env["queue.job"].search([("uuid", "=", uuid)]).unlink()
    finally:
        db.close()
