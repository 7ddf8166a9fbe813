"""Channel settings of the records of one database, in the scheduler (pure).

The precedence (a value set on a record overrides the configuration for
that database only, ``root``'s configured capacity stays the runner's cap)
and the live update of the channel tree: jobs move with their state,
nothing is re-read, running jobs keep running.
"""
import logging

import pytest
from odoo.addons.queue_job.jobrunner.channels import (
    ChannelManager,
    effective_settings,
    record_settings,
)


def configured(config_string):
    manager = ChannelManager()
    manager.simple_configure(config_string)
    return manager


def notify(manager, db, channel, uuid, state="pending", seq=None):
    seq = seq if seq is not None else int("".join(c for c in uuid if c.isdigit()) or 0)
    manager.notify(db, channel, uuid, seq, 100.0, 10, None, state)


def run(manager, now=100):
    return sorted((job.db_name, job.uuid) for job in manager.get_jobs_to_run(now))


def done(manager, db, uuids):
    for uuid in uuids:
        notify(manager, db, "root", uuid, state="done")


# -- precedence ---------------------------------------------------------------


def test_record_settings_leave_unset_values_out():
    assert record_settings() == {}
    assert record_settings(capacity=0, sequential=False, throttle=0.0) == {}
    assert record_settings(capacity=3, throttle=1.5, paused=True) == {
        "capacity": 3,
        "throttle": 1.5,
        "paused": True,
    }


@pytest.mark.parametrize(
    "file_settings, record, expected, sources",
    [
        (
            {"capacity": 2, "sequential": False, "throttle": 0},
            {},
            {"capacity": 2, "sequential": False, "throttle": 0, "paused": False},
            {"capacity": "configuration", "paused": "configuration"},
        ),
        (
            {"capacity": 2, "sequential": False, "throttle": 3},
            {"capacity": 5, "paused": True},
            {"capacity": 5, "sequential": False, "throttle": 3, "paused": True},
            {"capacity": "record", "throttle": "configuration", "paused": "record"},
        ),
        (
            {"capacity": None, "sequential": False, "throttle": 0},
            {"capacity": 1, "sequential": True, "throttle": 2},
            {"capacity": 1, "sequential": True, "throttle": 2, "paused": False},
            {"sequential": "record", "throttle": "record"},
        ),
    ],
)
def test_effective_settings_precedence(file_settings, record, expected, sources):
    result = effective_settings("root.x", file_settings, record)
    for key, value in expected.items():
        assert result[key] == value
    for key, source in sources.items():
        assert result["sources"][key] == source


@pytest.mark.parametrize(
    "file_settings, record, message",
    [
        ({"capacity": 2}, {"sequential": True}, "sequential channel"),
        ({"capacity": 1}, {"capacity": -1}, "invalid capacity"),
        ({"capacity": 1}, {"throttle": -2}, "invalid throttle"),
        ({"capacity": 1}, {"throttle": "x"}, "invalid throttle"),
        ({"capacity": 1}, {"colour": "red"}, "unknown channel setting"),
    ],
)
def test_effective_settings_refuses_what_cannot_apply(file_settings, record, message):
    with pytest.raises(ValueError, match=message):
        effective_settings("root.x", file_settings, record)


# -- the tree, updated live ----------------------------------------------------


def test_without_records_nothing_changes():
    manager = configured("root:4,A:1")
    assert manager.set_db_settings("db1", {}) == ([], [])
    assert manager.set_db_settings("db1", {"root.A": record_settings()}) == ([], [])
    for i in (1, 2):
        notify(manager, "db1", "A", "J%d" % i)
    assert run(manager) == [("db1", "J1")]
    assert [c.fullname for c in manager.iter_channels()] == ["root", "root.A"]


def test_pause_stops_new_starts_keeps_running_and_resume_drains():
    manager = configured("root:4,A:2")
    for i in range(1, 6):
        notify(manager, "db1", "A", "J%d" % i)
    assert run(manager) == [("db1", "J1"), ("db1", "J2")]
    paused = manager.set_db_settings("db1", {"A": {"paused": True}})
    assert paused == (["root.A"], [])
    # the running jobs still count and may finish; nothing new starts
    assert run(manager, 101) == []
    done(manager, "db1", ["J1", "J2"])
    assert run(manager, 102) == []
    # a job requeued or cancelled meanwhile is taken into account
    notify(manager, "db1", "A", "J5", state="cancelled")
    resumed = manager.set_db_settings("db1", {"A": {"paused": False}})
    assert resumed == ([], ["root.A"])
    assert run(manager, 103) == [("db1", "J3"), ("db1", "J4")]


def test_pausing_root_pauses_every_job_of_the_database_only():
    manager = configured("root:4,A:2")
    for db in ("db1", "db2"):
        notify(manager, db, "A", "J1")
        notify(manager, db, "root", "J2")
    manager.set_db_settings("db1", {"root": {"paused": True}})
    assert run(manager) == [("db2", "J1"), ("db2", "J2")]
    manager.set_db_settings("db1", {})
    assert run(manager, 101) == [("db1", "J1"), ("db1", "J2")]


def test_capacity_raised_then_lowered_without_interrupting():
    manager = configured("root:8,A:1")
    for i in range(1, 9):
        notify(manager, "db1", "A", "J%d" % i)
    assert run(manager) == [("db1", "J1")]
    manager.set_db_settings("db1", {"root.A": {"capacity": 4}})
    assert len(run(manager, 101)) == 3  # J1 still runs and counts
    manager.set_db_settings("db1", {"root.A": {"capacity": 2}})
    assert run(manager, 102) == []  # four running jobs are not interrupted
    done(manager, "db1", ["J1", "J2"])
    assert run(manager, 103) == []
    done(manager, "db1", ["J3"])
    assert len(run(manager, 104)) == 1


def test_root_configured_capacity_caps_every_database():
    manager = configured("root:3,A:1")
    for i in range(1, 6):
        notify(manager, "db1", "A", "J%d" % i)
        notify(manager, "db2", "A", "K%d" % i)
    manager.set_db_settings("db1", {"root": {"capacity": 10}, "A": {"capacity": 10}})
    assert len(run(manager)) == 3
    assert run(manager, 101) == []


def test_databases_setting_the_same_channel_differently():
    manager = configured("root:10,A:1")
    for i in range(1, 5):
        notify(manager, "db1", "A", "J%d" % i)
        notify(manager, "db2", "A", "K%d" % i)
        notify(manager, "db3", "A", "L%d" % i)
    manager.set_db_settings("db1", {"A": {"capacity": 3}})
    manager.set_db_settings("db2", {"A": {"capacity": 2}})
    started = run(manager)
    by_db = {}
    for db, _uuid in started:
        by_db[db] = by_db.get(db, 0) + 1
    # db3 keeps the configuration's capacity
    assert by_db == {"db1": 3, "db2": 2, "db3": 1}


def test_sub_channels_follow_their_paused_ancestor():
    manager = configured("root:4,A:2,A.B:1")
    notify(manager, "db1", "A.B", "J1")
    notify(manager, "db1", "A.B.C", "J2")
    manager.set_db_settings("db1", {"A": {"paused": True}})
    assert run(manager) == []
    manager.set_db_settings("db1", {"A": {}})
    assert run(manager, 101) == [("db1", "J1")]


def test_failed_jobs_keep_blocking_a_sequential_record():
    manager = configured("root:4,S:1")
    notify(manager, "db1", "S", "J1", state="failed")
    notify(manager, "db1", "S", "J2")
    manager.set_db_settings("db1", {"S": {"sequential": True, "capacity": 1}})
    assert run(manager) == []
    manager.set_db_settings("db1", {})
    assert run(manager, 101) == [("db1", "J2")]


def test_a_record_that_cannot_apply_is_logged_once_and_ignored(caplog):
    manager = configured("root:4,A:2")
    for i in range(1, 4):
        notify(manager, "db1", "A", "J%d" % i)
    bad = {"A": {"sequential": True}}  # over the configuration's capacity 2
    with caplog.at_level(logging.ERROR):
        manager.set_db_settings("db1", bad)
        manager.set_db_settings("db1", bad)
    refusals = [r for r in caplog.records if "cannot apply" in r.getMessage()]
    assert len(refusals) == 1
    assert "root.A on db db1" in refusals[0].getMessage()
    assert run(manager) == [("db1", "J1"), ("db1", "J2")]


def test_jobs_arriving_after_the_settings_use_them():
    manager = configured("root:4")
    manager.set_db_settings("db1", {"root.new": {"paused": True}})
    notify(manager, "db1", "root.new", "J1")
    notify(manager, "db1", "root", "J2")
    assert run(manager) == [("db1", "J2")]


def test_remove_db_forgets_its_settings():
    manager = configured("root:4")
    manager.set_db_settings("db1", {"root": {"paused": True}})
    manager.remove_db("db1")
    assert manager.db_settings("db1") == {}
    notify(manager, "db1", "root", "J1")
    assert run(manager) == [("db1", "J1")]


def test_throttle_from_a_record():
    manager = configured("root:4,T:2")
    for i in range(1, 4):
        notify(manager, "db1", "T", "J%d" % i)
    manager.set_db_settings("db1", {"T": {"throttle": 10}})
    assert len(run(manager, 100)) == 1
    assert run(manager, 105) == []
    assert len(run(manager, 110)) == 1
