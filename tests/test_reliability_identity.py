"""Atomic identity keys: one waiting job per identity key, even under races.

Concurrent tests use real transactions (threads, each with its own cursor,
committed), the others Odoo's TransactionCase (rolled back).
"""
import logging
import threading
import uuid as uuid_lib

import pytest
from odoo.addons.queue_job.job import (
    CANCELLED,
    DONE,
    FAILED,
    IDENTITY_KEY_UNIQUE_INDEX,
    PENDING,
    STARTED,
    Job,
)
from odoo.tests import common
from odoo.tools import mute_logger
from psycopg2 import IntegrityError
from reliability_helpers import sql


class TestUniqueIdentityIndex(common.TransactionCase):
    def setUp(self):
        super().setUp()
        self.model = self.env["test.queue.job"]

    def _index_definition(self):
        self.env.cr.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
            (IDENTITY_KEY_UNIQUE_INDEX,),
        )
        row = self.env.cr.fetchone()
        return row[0] if row else None

    def test_index(self):
        definition = self._index_definition()
        self.assertIn("CREATE UNIQUE INDEX", definition)
        self.assertIn("graph_uuid IS NULL", definition)
        for state in ("wait_dependencies", "pending", "enqueued"):
            self.assertIn(state, definition)
        # the non-unique index of the duplicate lookup is still there
        self.env.cr.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
            ("queue_job_identity_key_state_partial_index",),
        )
        self.assertNotIn("UNIQUE", self.env.cr.fetchone()[0])

    def test_direct_store_of_a_duplicate_is_refused(self):
        Job(self.model.testing_method, identity_key="k").store()
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"):
            with self.env.cr.savepoint():
                Job(self.model.testing_method, identity_key="k").store()

    def test_duplicates_allowed_once_not_waiting(self):
        first = Job(self.model.testing_method, identity_key="k")
        first.store()
        for state in (STARTED, DONE, FAILED, CANCELLED):
            first.state = state
            first.store()
            # ORM writes reach the database (and its index) when flushed
            self.env["base"].flush()
            other = Job(self.model.testing_method, identity_key="k")
            other.store()
            self.assertEqual(
                self.env["queue.job"].search_count(
                    [("identity_key", "=", "k"), ("state", "=", PENDING)]
                ),
                1,
                "a waiting duplicate of a %s job is stored" % state,
            )
            other.set_done()
            other.store()
        self.assertEqual(
            self.env["queue.job"].search_count([("identity_key", "=", "k")]), 5
        )

    def test_graph_duplicates_still_stored(self):
        self.model.with_delay(identity_key="graph-key").testing_method(0)
        node = self.model.delayable(identity_key="graph-key").testing_method(1)
        node2 = self.model.delayable(identity_key="new-key").testing_method(2)
        node.on_done(node2)
        node.delay()
        self.assertEqual(
            self.env["queue.job"].search_count([("identity_key", "=", "graph-key")]),
            2,
        )

    def test_requeue_of_a_duplicate_cancels_it(self):
        failed = self.model.with_delay(identity_key="k").testing_method(1)
        failed.set_failed(exc_name="ValueError", exc_message="boom")
        failed.store()
        waiting = self.model.with_delay(identity_key="k").testing_method(2)
        self.assertNotEqual(waiting.uuid, failed.uuid)
        record = failed.db_record()
        record.requeue()
        self.assertEqual(record.state, CANCELLED)
        self.assertEqual(
            record.result,
            "Not queued again: job %s with the same identity key is already waiting"
            % waiting.uuid,
        )
        self.assertEqual(waiting.db_record().state, PENDING)

    def test_retry_of_a_duplicate_cancels_it(self):
        started = self.model.with_delay(identity_key="k").testing_method(1)
        started.set_started()
        started.store()
        waiting = self.model.with_delay(identity_key="k").testing_method(2)
        started.postpone(result="retry later", seconds=5)
        started.set_pending(reset_retry=False)
        started.store()
        self.assertEqual(started.db_record().state, CANCELLED)
        self.assertIn(waiting.uuid, started.db_record().result)

    def test_requeue_without_duplicate(self):
        job_ = self.model.with_delay(identity_key="k").testing_method(1)
        job_.set_failed(exc_name="ValueError")
        job_.store()
        job_.db_record().requeue()
        self.assertEqual(job_.db_record().state, PENDING)
        # a waiting job is not its own duplicate
        job_.db_record().requeue()
        self.assertEqual(job_.db_record().state, PENDING)

    def test_upgrade_with_duplicates_does_not_fail(self):
        self.env.cr.execute("DROP INDEX %s" % IDENTITY_KEY_UNIQUE_INDEX)
        first = Job(self.model.testing_method, identity_key="dup")
        first.store()
        second = Job(self.model.testing_method, identity_key="dup")
        second.store()
        with self.assertLogs("odoo.addons.queue_job.job_table", "WARNING") as logs:
            self.env["queue.job"].init()
        self.assertIn(
            "index %s not created: 1 identity keys have several waiting jobs"
            % IDENTITY_KEY_UNIQUE_INDEX,
            logs.output[0],
        )
        self.assertIsNone(self._index_definition())
        # the transaction goes on
        second.set_done()
        second.store()
        self.env["queue.job"].init()
        self.assertIn("CREATE UNIQUE INDEX", self._index_definition())


class Delayer(threading.Thread):
    """Delays one job with an identity key in its own committed transaction.

    Waits for ``before_delay`` (if any) before delaying, sets ``stored``
    once delayed, then waits for ``before_commit`` (if any) before committing
    (or rolling back, with ``rollback``).
    """

    def __init__(
        self,
        committed_env,
        key,
        before_delay=None,
        before_commit=None,
        rollback=False,
        api="with_delay",
    ):
        super().__init__(daemon=True)
        self.committed_env = committed_env
        self.key = key
        self.before_delay = before_delay
        self.before_commit = before_commit
        self.rollback = rollback
        self.api = api
        self.stored = threading.Event()
        self.uuid = None
        self.state = None
        self.error = None

    def run(self):
        try:
            with self.committed_env() as env:
                model = env["test.queue.job"]
                # The snapshot of the transaction is taken now.
                model.search_count([])
                if self.before_delay:
                    assert self.before_delay.wait(30)
                if self.api == "with_delay":
                    job = model.with_delay(identity_key=self.key).testing_method()
                else:
                    job = Job.enqueue(model.testing_method, identity_key=self.key)
                self.uuid, self.state = job.uuid, job.state
                self.stored.set()
                if self.before_commit:
                    assert self.before_commit.wait(30)
                if self.rollback:
                    env.cr.rollback()
        except Exception as exc:  # reported by the test
            logging.getLogger(__name__).exception("delayer failed")
            self.error = exc
        finally:
            self.stored.set()


@pytest.fixture
def identity_key(db_name):
    key = "reliability-%s" % uuid_lib.uuid4().hex
    yield key
    sql(db_name, "DELETE FROM queue_job WHERE identity_key LIKE %s", (key + "%",))


def _jobs_of(db_name, key):
    return sql(
        db_name,
        "SELECT uuid, state FROM queue_job WHERE identity_key = %s",
        (key,),
    )


def _race(committed_env, key, rollback_first=False, api="with_delay"):
    """The second transaction delays while the first has stored, uncommitted.

    Its duplicate lookup cannot see the first job; its insert waits for the
    first transaction, which commits (or rolls back) a moment later.
    """
    first_may_commit = threading.Event()
    first = Delayer(
        committed_env,
        key,
        before_commit=first_may_commit,
        rollback=rollback_first,
        api=api,
    )
    first.start()
    assert first.stored.wait(30)
    second = Delayer(committed_env, key, api=api)
    second.start()
    # Let the second one reach its insert, blocked by the first one's row.
    second.join(1.0)
    assert second.is_alive(), "the second insert did not wait for the first one"
    first_may_commit.set()
    first.join(30)
    second.join(30)
    assert first.error is None and second.error is None, (first.error, second.error)
    return first, second


@pytest.mark.timeout(120)
@pytest.mark.parametrize("api", ["with_delay", "enqueue"])
def test_concurrent_delay_returns_the_committed_job(
    db_name, committed_env, identity_key, api
):
    first, second = _race(committed_env, identity_key, api=api)
    assert second.uuid == first.uuid
    assert second.state == PENDING
    assert _jobs_of(db_name, identity_key) == [(first.uuid, PENDING)]


@pytest.mark.timeout(120)
def test_concurrent_delay_after_a_rollback_stores_its_job(
    db_name, committed_env, identity_key
):
    first, second = _race(committed_env, identity_key, rollback_first=True)
    assert second.uuid != first.uuid
    assert _jobs_of(db_name, identity_key) == [(second.uuid, PENDING)]


@pytest.mark.timeout(180)
def test_concurrent_delays_store_one_job_per_key(db_name, committed_env, identity_key):
    """Two connections delay the same 30 keys at the same moments."""
    keys = ["%s-%s" % (identity_key, index) for index in range(30)]
    results = {}
    for key in keys:
        go = threading.Event()
        delayers = [Delayer(committed_env, key, before_delay=go) for _i in range(2)]
        for delayer in delayers:
            delayer.start()
        go.set()
        for delayer in delayers:
            delayer.join(30)
            assert delayer.error is None, delayer.error
        results[key] = {delayer.uuid for delayer in delayers}
    rows = sql(
        db_name,
        "SELECT identity_key, array_agg(uuid) FROM queue_job"
        " WHERE identity_key = ANY(%s) GROUP BY identity_key",
        (keys,),
    )
    assert len(rows) == len(keys)
    for key, uuids in rows:
        assert len(uuids) == 1, key
        assert results[key] == set(uuids)
