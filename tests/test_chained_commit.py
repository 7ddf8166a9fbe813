"""The commit sent with the UPDATE that stores a job started."""
import functools
import threading
from contextlib import contextmanager

import psycopg2.errors
import psycopg2.extensions
import pytest
from odoo.addons.queue_job.fast_paths import chained_commit
from odoo.addons.queue_job.fast_paths.chained_commit import commit_with_last_statement
from odoo.addons.queue_job.job import ENQUEUED, STARTED, Job
from odoo.tools import mute_logger
from query_helpers import RecordJobUpdates, RecordStatements


@pytest.fixture
def stored_job(committed_env):
    """An enqueued job of ``test.queue.job``, committed, deleted afterwards;
    ``stored_job()`` gives its uuid."""
    with committed_env() as env:
        job_ = Job(env["test.queue.job"].testing_method)
        job_.set_enqueued()
        job_.store()
    yield job_.uuid
    with committed_env() as env:
        env["queue.job"].search([("uuid", "=", job_.uuid)]).unlink()


def _committed_state(committed_env, uuid):
    with committed_env() as env:
        env.cr.execute("SELECT state FROM queue_job WHERE uuid = %s", (uuid,))
        return env.cr.fetchone()[0]


@contextmanager
def _locked_job(committed_env, uuid):
    """The job ``uuid`` loaded in a committed environment, its row locked as
    the runjob claim locks it."""
    with committed_env() as env:
        env.cr.execute("SELECT id FROM queue_job WHERE uuid = %s FOR UPDATE", (uuid,))
        yield env, Job.load(env, uuid)


def _recorded_hooks(cr, *kinds):
    """The list where the hooks of ``cr`` named ``kinds`` (``"postcommit"``,
    ...) each append their name when they run."""
    ran = []
    for kind in kinds:
        getattr(cr, kind).add(functools.partial(ran.append, kind))
    return ran


def test_started_store_commits_and_begins_the_next_transaction(
    committed_env, stored_job
):
    with _locked_job(committed_env, stored_job) as (env, job_):
        cr = env.cr
        hooks = _recorded_hooks(cr, "postcommit", "prerollback")
        job_.set_started()
        with RecordJobUpdates(cr) as updates, commit_with_last_statement(cr):
            job_.store()
        assert updates.count == 1
        assert updates.statements[0].endswith(
            "; COMMIT; BEGIN ISOLATION LEVEL REPEATABLE READ"
        )
        assert hooks == ["postcommit"]
        assert _committed_state(committed_env, stored_job) == STARTED
        # psycopg2's transaction is the next one, as psycopg2 would begin it
        assert cr._cnx.status == psycopg2.extensions.STATUS_BEGIN
        cr.execute("SHOW transaction_isolation")
        assert cr.fetchone()[0] == "repeatable read"
        cr.execute("SELECT txid_current_if_assigned()")
        assert cr.fetchone()[0] is None
        cr.rollback()
        # the rollback hook of the committed transaction was dropped
        assert hooks == ["postcommit"]
        assert _committed_state(committed_env, stored_job) == STARTED
        assert Job.load(env, stored_job).state == STARTED


def test_nothing_is_committed_when_the_block_raises_first(committed_env, stored_job):
    with _locked_job(committed_env, stored_job) as (env, job_):
        job_.set_started()
        with pytest.raises(ZeroDivisionError):
            with commit_with_last_statement(env.cr):
                1 / 0  # noqa: B018 (raises before the store)
                job_.store()
        env.cr.rollback()
    assert _committed_state(committed_env, stored_job) == ENQUEUED


def test_commit_done_when_the_block_raises_after_the_statement(
    committed_env, stored_job
):
    with _locked_job(committed_env, stored_job) as (env, job_):
        hooks = _recorded_hooks(env.cr, "postcommit")
        job_.set_started()
        with pytest.raises(ZeroDivisionError):
            with commit_with_last_statement(env.cr):
                job_.store()
                1 / 0  # noqa: B018
        assert hooks == ["postcommit"]
        env.cr.rollback()
    assert _committed_state(committed_env, stored_job) == STARTED


def test_guarded_update_is_committed_after_it(committed_env, stored_job):
    """A change of a tracked field goes through write(), which the commit
    after the block covers."""
    with _locked_job(committed_env, stored_job) as (env, job_):
        job_.set_started()
        job_.exc_message = "tracked"
        with RecordJobUpdates(env.cr) as updates, commit_with_last_statement(env.cr):
            job_.store()
        assert updates.count >= 1
        assert not any("COMMIT" in statement for statement in updates.statements)
        assert env.cr._cnx.status == psycopg2.extensions.STATUS_READY
    assert _committed_state(committed_env, stored_job) == STARTED


def test_only_the_first_statement_carries_the_commit(committed_env):
    with committed_env() as env:
        env.cr.execute("SELECT 1")
        with RecordStatements(env.cr, "SELECT") as statements:
            with commit_with_last_statement(env.cr):
                assert chained_commit.execute(env.cr, "SELECT %s", (1,))
                assert not chained_commit.execute(env.cr, "SELECT %s", (2,))
            assert not chained_commit.execute(env.cr, "SELECT %s", (3,))
        assert statements.statements == [
            "SELECT %s; COMMIT; BEGIN ISOLATION LEVEL REPEATABLE READ",
            "SELECT %s",
            "SELECT %s",
        ]


def test_failed_statement_commits_nothing(committed_env, stored_job):
    """PostgreSQL runs nothing after a failed statement of the string: the
    transaction is to be rolled back, its hooks are not the commit's."""
    with _locked_job(committed_env, stored_job) as (env, job_):
        cr = env.cr
        hooks = _recorded_hooks(cr, "postcommit", "postrollback")
        job_.set_started()
        job_.store()
        with pytest.raises(psycopg2.errors.DivisionByZero):
            with mute_logger("odoo.sql_db"), commit_with_last_statement(cr):
                chained_commit.execute(cr, "SELECT 1 / 0", ())
        assert hooks == []
        cr.rollback()
        assert hooks == ["postrollback"]
    assert _committed_state(committed_env, stored_job) == ENQUEUED


def test_no_commit_in_the_statement_outside_a_transaction_or_in_tests(
    odoo, committed_env
):
    with committed_env() as env:
        # no transaction open yet: psycopg2 sends its own BEGIN first
        assert chained_commit._suffix(env.cr) is None
        env.cr.execute("SELECT 1")
        assert chained_commit._suffix(env.cr) is not None
        test_cr = odoo.sql_db.TestCursor(env.cr, threading.RLock())
        try:
            # a test cursor's commit is a savepoint
            assert chained_commit._suffix(test_cr) is None
        finally:
            test_cr.close()
        env.cr.rollback()
        env.cr._cnx.autocommit = True
        try:
            assert chained_commit._suffix(env.cr) is None
        finally:
            env.cr._cnx.autocommit = False


def test_no_commit_in_the_statement_with_the_fast_paths_off(committed_env, monkeypatch):
    with committed_env() as env:
        env.cr.execute("SELECT 1")
        assert chained_commit._suffix(env.cr) is not None
        monkeypatch.setenv("ODOO_QUEUE_JOB_FAST_PATHS", "off")
        assert chained_commit._suffix(env.cr) is None
