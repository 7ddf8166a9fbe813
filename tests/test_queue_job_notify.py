"""The ``queue_job_notify`` trigger: what the job runner is told, and when
(the NOTIFY contract with the runner), seen from a LISTEN connection."""
import json
import select
import time
from contextlib import closing
from datetime import datetime, timedelta

import psycopg2
import pytest
from harness.odoo_runtime import postgres_connect_kwargs
from odoo.addons.queue_job.job import DONE, ENQUEUED, FAILED, PENDING, STARTED, Job


@pytest.fixture
def listener(odoo, db_name):
    conn = psycopg2.connect(**postgres_connect_kwargs(odoo, db_name))
    conn.autocommit = True
    with closing(conn), conn.cursor() as cr:
        cr.execute("LISTEN queue_job")
        yield Listener(conn)


class Listener:
    def __init__(self, conn):
        self.conn = conn
        self.received = []

    def payloads(self, uuid, wait=5.0, count=1):
        """Take the payloads about job ``uuid``: waits for ``count`` of them (at
        most ``wait`` seconds), or the whole ``wait`` when ``count`` is 0."""
        deadline = time.monotonic() + wait
        while True:
            matching = [p for p in self.received if p["uuid"] == uuid]
            remaining = deadline - time.monotonic()
            if (count and len(matching) >= count) or remaining <= 0:
                break
            select.select([self.conn], [], [], remaining)
            self.conn.poll()
            while self.conn.notifies:
                self.received.append(json.loads(self.conn.notifies.pop(0).payload))
        self.received = [p for p in self.received if p["uuid"] != uuid]
        return matching


@pytest.fixture
def stored_jobs(committed_env):
    """Create committed jobs; deleted at teardown."""
    uuids = []

    def create(**kwargs):
        with committed_env() as env:
            job = Job(env["test.queue.job"].testing_method, **kwargs)
            job.store()
            uuids.append(job.uuid)
            return job.uuid, job.db_record().id

    yield create
    with committed_env() as env:
        env["queue.job"].search([("uuid", "in", uuids)]).unlink()


def _epoch(value):
    return (value - datetime(1970, 1, 1)).total_seconds()


def _update(committed_env, uuid, vals):
    with committed_env() as env:
        record = env["queue.job"].search([("uuid", "=", uuid)])
        record.with_context(_job_edit_sentinel=record.EDIT_SENTINEL).write(vals)


def test_trigger_rows(committed_env):
    with committed_env() as env:
        env.cr.execute(
            "SELECT event_manipulation FROM information_schema.triggers"
            " WHERE event_object_table = 'queue_job'"
            " AND trigger_name = 'queue_job_notify'"
        )
        events = sorted(row[0] for row in env.cr.fetchall())
    assert events == ["DELETE", "INSERT", "UPDATE"]


def test_insert_payload(listener, stored_jobs, committed_env):
    eta = datetime.now().replace(microsecond=250000) + timedelta(hours=1)
    uuid, job_id = stored_jobs(priority=7, eta=eta, channel="root.sub")
    (payload,) = listener.payloads(uuid)
    with committed_env() as env:
        record = env["queue.job"].browse(job_id)
        date_created = record.date_created
    assert set(payload) == {
        "uuid",
        "id",
        "state",
        "channel",
        "priority",
        "eta",
        "date_created",
    }
    assert payload["id"] == job_id
    assert payload["state"] == PENDING
    assert payload["channel"] == "root.sub"
    assert payload["priority"] == 7
    assert isinstance(payload["eta"], float)
    assert payload["eta"] == pytest.approx(_epoch(eta), abs=1e-6)
    assert payload["date_created"] == pytest.approx(_epoch(date_created), abs=1e-6)


def test_insert_without_eta(listener, stored_jobs):
    uuid, __ = stored_jobs()
    (payload,) = listener.payloads(uuid)
    assert payload["eta"] is None
    assert payload["channel"] == "root"


def test_update_notifies_relevant_changes_only(listener, stored_jobs, committed_env):
    uuid, __ = stored_jobs()
    listener.payloads(uuid)
    _update(committed_env, uuid, {"result": "irrelevant", "exc_info": "nothing"})
    assert listener.payloads(uuid, wait=0.5, count=0) == []
    _update(committed_env, uuid, {"priority": 3})
    assert [p["priority"] for p in listener.payloads(uuid)] == [3]
    _update(committed_env, uuid, {"channel": "root.other"})
    assert [p["channel"] for p in listener.payloads(uuid)] == ["root.other"]
    eta = datetime(2030, 1, 1, 12, 0, 0)
    _update(committed_env, uuid, {"eta": eta})
    assert [p["eta"] for p in listener.payloads(uuid)] == [_epoch(eta)]
    _update(committed_env, uuid, {"state": FAILED})
    assert [p["state"] for p in listener.payloads(uuid)] == [FAILED]


def test_dispatch_steps_not_notified(listener, stored_jobs, committed_env):
    """pending -> enqueued -> started concerns no runner: not notified."""
    uuid, __ = stored_jobs()
    listener.payloads(uuid)
    _update(committed_env, uuid, {"state": ENQUEUED})
    _update(committed_env, uuid, {"state": STARTED})
    assert listener.payloads(uuid, wait=0.5, count=0) == []
    _update(committed_env, uuid, {"state": DONE})
    assert [p["state"] for p in listener.payloads(uuid)] == [DONE]


def test_other_ways_into_enqueued_or_started_are_notified(
    listener, stored_jobs, committed_env
):
    uuid, __ = stored_jobs()
    listener.payloads(uuid)
    _update(committed_env, uuid, {"state": STARTED})
    _update(committed_env, uuid, {"state": ENQUEUED})
    _update(committed_env, uuid, {"state": PENDING, "priority": 4})
    _update(committed_env, uuid, {"state": ENQUEUED, "priority": 5})
    assert [(p["state"], p["priority"]) for p in listener.payloads(uuid, count=4)] == [
        (STARTED, 10),
        (ENQUEUED, 10),
        (PENDING, 4),
        (ENQUEUED, 5),
    ]


def test_delete(listener, stored_jobs, committed_env):
    pending_uuid, __ = stored_jobs()
    done_uuid, __ = stored_jobs()
    _update(committed_env, done_uuid, {"state": DONE})
    listener.payloads(pending_uuid)
    assert [p["state"] for p in listener.payloads(done_uuid, count=2)] == [
        PENDING,
        DONE,
    ]
    with committed_env() as env:
        env["queue.job"].search([("uuid", "in", [pending_uuid, done_uuid])]).unlink()
    (payload,) = listener.payloads(pending_uuid)
    assert payload["state"] is None
    assert listener.payloads(done_uuid, wait=0.5, count=0) == []


def test_rolled_back_changes_not_notified(listener, stored_jobs, odoo, db_name):
    uuid, __ = stored_jobs()
    listener.payloads(uuid)
    with odoo.registry(db_name).cursor() as cr:
        cr.execute("UPDATE queue_job SET priority = 1 WHERE uuid = %s", (uuid,))
        cr.rollback()
    assert listener.payloads(uuid, wait=0.5, count=0) == []
