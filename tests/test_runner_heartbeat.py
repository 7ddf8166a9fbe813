"""The job runner's heartbeat: a row per runner and database, leader or standby,
with the effective channel settings and what it dispatched."""
import threading

import psycopg2
import pytest
from odoo.addons.queue_job.jobrunner import heartbeat as heartbeat_module
from odoo.addons.queue_job.jobrunner.channels import ChannelManager
from odoo.addons.queue_job.jobrunner.heartbeat import (
    RunnerHeartbeat,
    effective_channels,
)
from odoo.addons.queue_job.jobrunner.served_database import (
    LEADER,
    STANDBY,
    ServedDatabase,
)
from test_runner_loop import RunnerUnderTest, wait_for

HEARTBEAT_ROWS = (
    "SELECT host, pid, role, leader_since IS NOT NULL, channels, dispatched,"
    " rescued, reset, last_seen > now() AT TIME ZONE 'utc' - interval '1 minute'"
    " FROM queue_job_runner_heartbeat ORDER BY role, pid"
)


@pytest.fixture
def fast_heartbeat(monkeypatch):
    monkeypatch.setattr(heartbeat_module, "HEARTBEAT_INTERVAL", 0.1)


def _rows(db):
    return db.execute(HEARTBEAT_ROWS)


def test_leader_writes_its_row_with_channels_and_counters(
    fake_db_factory, fake_odoo, start_runner, fast_heartbeat
):
    db = fake_db_factory()
    runner = start_runner([db.name], fake_odoo.port, channels="root:2,root.hb:1")
    uuids = [db.add_job(channel="root.hb") for _i in range(3)]
    for uuid in uuids:
        db.wait_state(uuid, "done")
    rows = wait_for(
        lambda: [row for row in _rows(db) if row[5] == 3],
        message="3 dispatches in the heartbeat",
    )
    host, pid, role, leads, channels, dispatched, rescued, reset, dated = rows[0]
    assert (host, pid) == (runner.heartbeat.host, runner.heartbeat.pid)
    assert (role, leads, dispatched, rescued, reset, dated) == (
        "leader",
        True,
        3,
        0,
        0,
        True,
    )
    assert channels["root"]["capacity"] == 2
    assert channels["root.hb"] == {
        "capacity": 1,
        "sequential": False,
        "throttle": 0,
        "paused": False,
    }


def test_standby_runner_records_that_it_stands_by(
    fake_db_factory, fake_odoo, fast_heartbeat
):
    db = fake_db_factory()
    runners = []
    try:
        for pid in (900001, 900002):
            # Both runners live in this process: each gets a pid of its own.
            runner = RunnerUnderTest([db.name], fake_odoo.port)
            runner.heartbeat.pid = pid
            thread = threading.Thread(target=runner.run, daemon=True)
            thread.start()
            runners.append((runner, thread))
            wait_for(
                lambda pid=pid: pid in [row[1] for row in _rows(db)], message="row"
            )
        roles = {row[1]: row[2:5] for row in _rows(db)}
        assert roles[900001][:2] == ("leader", True)
        assert roles[900002] == ("standby", False, None)
    finally:
        for runner, thread in runners:
            runner.stop()
            thread.join(10)


def test_effective_channels_apply_the_database_records():
    manager = ChannelManager()
    manager.simple_configure("root:4,root.a:2")
    manager.set_db_settings("db1", {"root.a": {"capacity": 1, "paused": True}})
    assert effective_channels(manager, "db1")["root.a"] == {
        "capacity": 1,
        "sequential": False,
        "throttle": 0,
        "paused": True,
    }
    assert effective_channels(manager, "db2")["root.a"]["capacity"] == 2
    assert effective_channels(manager, "db2")["root"]["capacity"] == 4


class _Db:
    def __init__(self, conn):
        self.conn = conn


def _served(db_name, role, conn):
    served = ServedDatabase(db_name)
    served.role, served.db = role, _Db(conn)
    return served


def test_rows_are_written_at_most_every_interval(fake_db_factory):
    db = fake_db_factory()
    conn = psycopg2.connect(dbname=db.name)
    conn.autocommit = True
    clock = [100.0]
    beat = RunnerHeartbeat(host="h", pid=4242, clock=lambda: clock[0])
    manager = ChannelManager()
    try:
        beat.count(db.name, "dispatched", 2)
        beat.beat([_served(db.name, LEADER, conn)], manager)
        beat.count(db.name, "dispatched", 5)
        clock[0] += heartbeat_module.HEARTBEAT_INTERVAL / 2
        beat.beat([_served(db.name, LEADER, conn)], manager)
        assert [row[5] for row in _rows(db)] == [2]
        # a change of role is written at once
        beat.beat([_served(db.name, STANDBY, conn)], manager)
        assert [row[2:6] for row in _rows(db)] == [("standby", False, None, 7)]
        clock[0] += heartbeat_module.HEARTBEAT_INTERVAL
        beat.beat([_served(db.name, LEADER, conn)], manager)
        assert [row[2:4] for row in _rows(db)] == [("leader", True)]
    finally:
        conn.close()


def test_leader_folds_the_counter_deltas(fake_db_factory):
    db = fake_db_factory()
    uuid = db.add_job(channel="root.fold", state="started")
    db.execute("UPDATE queue_job SET state = 'done' WHERE uuid = %s", (uuid,))
    db.execute("DELETE FROM queue_job WHERE uuid = %s", (uuid,))
    assert db.execute("SELECT count(*) FROM queue_job_counter_delta")[0][0] == 2
    conn = psycopg2.connect(dbname=db.name)
    conn.autocommit = True
    try:
        beat = RunnerHeartbeat(host="h", pid=4243)
        beat.beat([_served(db.name, STANDBY, conn)], ChannelManager())
        # a standby leaves them to the leader
        assert db.execute("SELECT count(*) FROM queue_job_counter_delta")[0][0] == 2
        beat.beat([_served(db.name, LEADER, conn)], ChannelManager())
    finally:
        conn.close()
    assert db.execute("SELECT count(*) FROM queue_job_counter_delta")[0][0] == 0
    assert db.execute(
        "SELECT done, failed, retried, rescued, done_now FROM queue_job_counter"
        " WHERE channel = 'root.fold'"
    ) == [(1, 0, 0, 0, 0)]
