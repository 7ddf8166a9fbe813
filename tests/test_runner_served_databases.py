"""Which databases the runner serves (Odoo's db-filter), and the pause of
``root`` on a database copied from another one (real SQL on the suite's
database: its recorded uuid is made to differ, as on a copy)."""
import logging
from contextlib import closing
from types import SimpleNamespace

import psycopg2
import pytest
from odoo.addons.queue_job.jobrunner.database import (
    COPIED_DATABASE_REASON,
    DATABASE_UUID_PARAM,
)
from odoo.addons.queue_job.jobrunner.runner import Database, QueueJobRunner


def filter_names(names, dbfilter, state=None):
    state = state or SimpleNamespace(_dbfilter_logged=False)
    return QueueJobRunner._filter_db_names(state, names, dbfilter)


@pytest.mark.parametrize(
    "dbfilter, expected",
    [
        ("", ["prod", "prod_copy", "test"]),
        ("^prod$", ["prod"]),
        ("prod", ["prod", "prod_copy"]),
        ("^(prod|test)$", ["prod", "test"]),
    ],
)
def test_plain_db_filter_applies(dbfilter, expected):
    assert filter_names(["prod", "prod_copy", "test"], dbfilter) == expected


def test_host_dependent_db_filter_is_not_applied_and_said_once(caplog):
    state = SimpleNamespace(_dbfilter_logged=False)
    with caplog.at_level(logging.INFO, logger="odoo.addons.queue_job.jobrunner"):
        for _i in range(3):
            assert filter_names(["a", "b"], "^%h$", state) == ["a", "b"]
        assert filter_names(["a", "b"], "^%d_", state) == ["a", "b"]
    said = [r for r in caplog.records if "depends on the host name" in r.message]
    assert len(said) == 1


def sql(db_name, query, args=None):
    with closing(psycopg2.connect(dbname=db_name)) as conn:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute(query, args)
            return cr.fetchall() if cr.description else None


def root_state(db_name):
    return sql(
        db_name,
        "SELECT paused, pause_reason FROM queue_job_channel"
        " WHERE name = 'root' AND parent_id IS NULL",
    )[0]


def test_copied_database_starts_with_root_paused(db_name):
    recorded = sql(
        db_name,
        "SELECT value FROM ir_config_parameter WHERE key = %s",
        (DATABASE_UUID_PARAM,),
    )
    current = sql(
        db_name, "SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'"
    )
    assert recorded == current, "the install records the database's uuid"
    db = Database(db_name)
    try:
        assert not db.pause_root_if_copied()
        assert not any(root_state(db_name))
        sql(
            db_name,
            "UPDATE ir_config_parameter SET value = 'the-original'" " WHERE key = %s",
            (DATABASE_UUID_PARAM,),
        )
        assert db.pause_root_if_copied()
        assert root_state(db_name) == (True, COPIED_DATABASE_REASON)
        assert db.channel_settings()["root"] == {"paused": True}
        # once: a manager resumes it, it stays resumed
        sql(db_name, "UPDATE queue_job_channel SET paused = FALSE WHERE name = 'root'")
        assert not db.pause_root_if_copied()
    finally:
        db.close()
        sql(
            db_name,
            "UPDATE queue_job_channel SET paused = FALSE, pause_reason = NULL"
            " WHERE name = 'root'",
        )
        sql(
            db_name,
            "UPDATE ir_config_parameter SET value = %s WHERE key = %s",
            (current[0][0], DATABASE_UUID_PARAM),
        )
