"""The deadline around a job (queue_job.job_timeout), on real threads and
real PostgreSQL connections."""
import os
import select
import signal
import threading
import time

import psycopg2
import psycopg2.errors
import pytest
from odoo.addons.queue_job import job_timeout_watchdog as watchdogs
from odoo.addons.queue_job.exception import JobError, JobTimeoutError
from odoo.addons.queue_job.job_timeout import time_limit, timeout_message
from odoo.sql_db import connection_info_for
from odoo.tools import mute_logger

# Longer than any test may take: what lasts that long was not interrupted,
# and fails the test by its timeout.
NEVER = 60
pytestmark = pytest.mark.timeout(NEVER / 3)

quiet = mute_logger("odoo.addons.queue_job.job_timeout", "odoo.sql_db")


@pytest.fixture
def pg_connection(db_name):
    connection = psycopg2.connect(**connection_info_for(db_name)[1])
    yield connection
    connection.close()


@pytest.fixture
def odoo_cursor(odoo, db_name):
    with odoo.registry(db_name).cursor() as cr:
        yield cr


@pytest.fixture
def fast_refire(monkeypatch):
    monkeypatch.setattr(watchdogs, "REFIRE_INTERVAL", 0.05)


@pytest.fixture(autouse=True)
def nothing_left_armed():
    """Every test leaves no limit armed, nor its SIGALRM handler installed
    (that the previous one comes back is checked with a handler of a test's
    own: pytest-timeout resets its own before this teardown)."""
    yield
    assert not watchdogs.current().limits
    assert not watchdogs.current().by_thread
    assert watchdogs.current().main_pending is None
    assert signal.getsignal(signal.SIGALRM) is not watchdogs.on_alarm


def _busy(seconds=NEVER):
    """Pure Python work, never blocking."""
    end = time.monotonic() + seconds
    count = 0
    while time.monotonic() < end:
        count += 1
    return count


def _in_thread(function):
    """Run ``function`` in a new thread; what it returned or raised."""
    outcome = {}

    def target():
        try:
            outcome["result"] = function()
        except Exception as err:  # reported to the test
            outcome["error"] = err

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(NEVER)
    assert not thread.is_alive()
    return outcome


def _aborted(connection):
    """Whether the last statement of ``connection`` failed (was cancelled,
    rather than run to its end)."""
    status = connection.info.transaction_status
    return status == psycopg2.extensions.TRANSACTION_STATUS_INERROR


def _watchdog_threads():
    return [t for t in threading.enumerate() if t.name == "queue_job.job_timeout"]


def test_error_is_a_job_error_named_in_the_exception_module():
    assert issubclass(JobTimeoutError, JobError)
    assert JobTimeoutError.__module__ == "odoo.addons.queue_job.exception"
    from odoo.addons.queue_job.exception import RetryableJobError

    assert not issubclass(JobTimeoutError, RetryableJobError)


def test_message():
    assert timeout_message(30) == "Job exceeded its timeout of 30 s"
    assert timeout_message(30.0) == "Job exceeded its timeout of 30 s"
    assert timeout_message(1.5) == "Job exceeded its timeout of 1.5 s"


@pytest.mark.parametrize("seconds", [None, 0, -1])
def test_no_timeout_arms_nothing(seconds):
    handler = signal.getsignal(signal.SIGALRM)
    with time_limit(seconds):
        assert signal.getsignal(signal.SIGALRM) is handler
        assert not watchdogs.current().limits
        time.sleep(0.05)


def test_block_within_its_timeout_is_untouched(pg_connection):
    with time_limit(NEVER, pg_connection):
        assert watchdogs.current().limits
        assert signal.getsignal(signal.SIGALRM) is watchdogs.on_alarm
        with pg_connection.cursor() as cr:
            cr.execute("SELECT 1")
            result = cr.fetchone()
    assert result == (1,)


# The main thread: interrupted by SIGALRM (jobs run by a script or a test)


@quiet
def test_main_thread_sleep_is_interrupted():
    with pytest.raises(JobTimeoutError) as raised:
        with time_limit(0.1):
            time.sleep(NEVER)
    assert str(raised.value) == "Job exceeded its timeout of 0.1 s"
    assert raised.value.timeout == 0.1


@quiet
def test_main_thread_python_loop_is_interrupted():
    with pytest.raises(JobTimeoutError):
        with time_limit(0.1):
            _busy()


@quiet
def test_main_thread_statement_is_cancelled(pg_connection):
    with pytest.raises(JobTimeoutError) as raised:
        with time_limit(0.2, pg_connection):
            with pg_connection.cursor() as cr:
                cr.execute("SELECT pg_sleep(%s)", (NEVER,))
    assert raised.value.timeout == 0.2
    assert _aborted(pg_connection)
    pg_connection.rollback()
    with pg_connection.cursor() as cr:
        cr.execute("SELECT 1")
        assert cr.fetchone() == (1,)


@quiet
def test_odoo_cursor_statement_is_cancelled(odoo_cursor):
    with pytest.raises(JobTimeoutError):
        with time_limit(0.2, odoo_cursor):
            odoo_cursor.execute("SELECT pg_sleep(%s)", (NEVER,))
    assert _aborted(odoo_cursor._cnx)
    odoo_cursor.rollback()
    odoo_cursor.execute("SELECT 1")
    assert odoo_cursor.fetchone() == (1,)


@quiet
def test_statement_waiting_for_a_lock_is_cancelled(db_name, pg_connection):
    """(Bounded by a lock timeout: a wait no signal handler interrupts would
    otherwise hang the suite.)"""
    holder = psycopg2.connect(**connection_info_for(db_name)[1])
    try:
        with holder.cursor() as cr:
            cr.execute("SELECT pg_advisory_lock(424242)")
        with pytest.raises(JobTimeoutError):
            with time_limit(0.2, pg_connection):
                with pg_connection.cursor() as cr:
                    cr.execute("SET LOCAL lock_timeout = %s", (NEVER * 1000,))
                    cr.execute("SELECT pg_advisory_lock(424242)")
        assert _aborted(pg_connection)
    finally:
        holder.close()


@quiet
def test_query_canceled_turned_into_the_timeout(pg_connection):
    """The cancellation may surface as QueryCanceled before the signal's
    error: the block ends with the timeout, caused by it."""
    with pytest.raises(JobTimeoutError) as raised:
        with time_limit(0.2, pg_connection):
            try:
                with pg_connection.cursor() as cr:
                    cr.execute("SELECT pg_sleep(%s)", (NEVER,))
            except JobTimeoutError:
                raise psycopg2.errors.QueryCanceled("canceled") from None
    assert isinstance(raised.value.__cause__, psycopg2.errors.QueryCanceled)


def test_query_canceled_of_the_job_itself_is_left_alone(pg_connection):
    with pytest.raises(psycopg2.errors.QueryCanceled):
        with time_limit(NEVER, pg_connection):
            with pg_connection.cursor() as cr:
                cr.execute("SET LOCAL statement_timeout = 50")
                cr.execute("SELECT pg_sleep(%s)", (NEVER,))
    pg_connection.rollback()


@quiet
def test_job_swallowing_the_interruption_is_interrupted_again(fast_refire):
    interruptions = []
    with pytest.raises(JobTimeoutError):
        with time_limit(0.05):
            while len(interruptions) < 3:
                try:
                    _busy()
                except JobTimeoutError as err:
                    interruptions.append(err)
            _busy()
    assert len(interruptions) == 3


@quiet
def test_block_returning_after_its_deadline_ends_with_the_timeout():
    with pytest.raises(JobTimeoutError) as raised:
        with time_limit(0.05):
            try:
                _busy()
            except JobTimeoutError:
                pass
    assert raised.value.timeout == 0.05


@quiet
def test_other_error_after_the_deadline_becomes_the_timeout():
    with pytest.raises(JobTimeoutError) as raised:
        with time_limit(0.05):
            try:
                _busy()
            except JobTimeoutError as err:
                raise ValueError("wrapped by the job") from err
    assert isinstance(raised.value.__cause__, ValueError)


def test_error_before_the_deadline_passes_through():
    with pytest.raises(ValueError):
        with time_limit(NEVER):
            raise ValueError("not a timeout")


@quiet
def test_nested_inner_deadline_first():
    with pytest.raises(JobTimeoutError) as raised:
        with time_limit(NEVER):
            with time_limit(0.05):
                _busy()
    assert raised.value.timeout == 0.05


@quiet
def test_nested_outer_deadline_first():
    with pytest.raises(JobTimeoutError) as raised:
        with time_limit(0.05):
            with time_limit(NEVER):
                _busy()
    assert raised.value.timeout == 0.05


@quiet
def test_nested_outer_still_armed_after_inner_block():
    with pytest.raises(JobTimeoutError) as raised:
        with time_limit(0.2):
            with time_limit(NEVER):
                pass
            assert signal.getsignal(signal.SIGALRM) is watchdogs.on_alarm
            _busy()
    assert raised.value.timeout == 0.2


@quiet
def test_sequential_blocks_share_one_watchdog_thread():
    for _index in range(20):
        with time_limit(NEVER):
            pass
    for _index in range(3):
        with pytest.raises(JobTimeoutError):
            with time_limit(0.02):
                _busy()
    assert len(_watchdog_threads()) == 1


@quiet
def test_foreign_alarm_reaches_its_handler_and_both_come_back():
    """A SIGALRM handler and interval timer set before the block are kept:
    their alarm during the block reaches that handler, not the job."""
    saved_handler = signal.getsignal(signal.SIGALRM)
    saved_timer = signal.getitimer(signal.ITIMER_REAL)
    alarms = []

    def foreign(signum, frame):
        alarms.append(signum)

    try:
        signal.signal(signal.SIGALRM, foreign)
        with time_limit(NEVER):
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            while not alarms:
                time.sleep(0.01)
        assert signal.getsignal(signal.SIGALRM) is foreign
        signal.setitimer(signal.ITIMER_REAL, 30)
        with pytest.raises(JobTimeoutError):
            with time_limit(0.05):
                _busy()
        assert signal.getsignal(signal.SIGALRM) is foreign
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 30
        assert alarms == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, *saved_timer)
        signal.signal(signal.SIGALRM, saved_handler)


@quiet
def test_forked_child_runs_its_own_watchdog():
    with time_limit(NEVER):
        pass
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with time_limit(0.05):
                time.sleep(NEVER)
        except JobTimeoutError:
            code = 0 if len(_watchdog_threads()) == 1 else 2
        finally:
            os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# Other threads: interrupted through PyThreadState_SetAsyncExc (Odoo's
# requests, in both servers)


@quiet
def test_thread_python_loop_is_interrupted():
    def job():
        with time_limit(0.1):
            _busy()

    error = _in_thread(job).get("error")
    assert isinstance(error, JobTimeoutError)
    assert str(error) == "Job exceeded its timeout of 0.1 s"
    assert error.timeout == 0.1


@quiet
def test_thread_statement_is_cancelled(db_name):
    def job():
        connection = psycopg2.connect(**connection_info_for(db_name)[1])
        try:
            with time_limit(0.2, connection):
                with connection.cursor() as cr:
                    cr.execute("SELECT pg_sleep(%s)", (NEVER,))
        finally:
            aborted.append(_aborted(connection))
            connection.close()

    aborted = []
    error = _in_thread(job).get("error")
    assert isinstance(error, JobTimeoutError)
    assert aborted == [True]


@quiet
def test_thread_short_sleeps_are_interrupted():
    def job():
        with time_limit(0.1):
            for _index in range(NEVER * 10):
                time.sleep(0.1)

    assert isinstance(_in_thread(job).get("error"), JobTimeoutError)


@quiet
def test_thread_sleep_is_interrupted():
    def job():
        with time_limit(0.1):
            time.sleep(NEVER)

    error = _in_thread(job).get("error")
    assert isinstance(error, JobTimeoutError)
    assert error.timeout == 0.1


@quiet
def test_sleep_of_other_threads_untouched():
    """time.sleep() replaced for the threads of limits stays the original
    for the others, and for a thread whose limit passed once it is over."""

    def job():
        with pytest.raises(JobTimeoutError):
            with time_limit(0.05):
                time.sleep(NEVER)
        started = time.monotonic()
        time.sleep(0.2)
        return time.monotonic() - started

    sleeper = _in_thread(lambda: _in_thread(job))
    assert time.sleep is watchdogs.interruptible_sleep
    assert sleeper["result"]["result"] >= 0.2
    started = time.monotonic()
    time.sleep(0.1)
    assert time.monotonic() - started >= 0.1


@quiet
def test_thread_blocking_call_interrupted_when_it_returns():
    """The documented limit of threads: a call blocking in C (other than
    time.sleep()) ends first."""
    returned = []

    def job():
        with time_limit(0.05):
            select.select([], [], [], 0.3)
            returned.append(True)

    assert isinstance(_in_thread(job).get("error"), JobTimeoutError)
    assert not returned


@quiet
def test_thread_runs_on_untouched_after_its_block(fast_refire):
    """No interruption is left pending nor sent once the block is over."""

    def job():
        with pytest.raises(JobTimeoutError):
            with time_limit(0.02):
                _busy()
        return _busy(0.5)

    outcome = _in_thread(job)
    assert "error" not in outcome
    assert outcome["result"] > 0


@quiet
def test_threads_have_their_own_deadlines(db_name):
    started = threading.Barrier(3)

    def job(seconds, work):
        def run():
            with time_limit(seconds):
                started.wait()
                return work()

        return run

    outcomes = {}

    def record(name, function):
        outcomes[name] = _in_thread(function)

    short = threading.Thread(target=record, args=("short", job(0.1, _busy)))
    long_ = threading.Thread(
        target=record, args=("long", job(NEVER, lambda: _busy(0.3)))
    )
    short.start()
    long_.start()
    started.wait()
    short.join(NEVER)
    long_.join(NEVER)
    assert isinstance(outcomes["short"].get("error"), JobTimeoutError)
    assert "error" not in outcomes["long"]
    assert len(_watchdog_threads()) == 1


def test_translated_message(odoo, odoo_cursor):
    env = odoo.api.Environment(odoo_cursor, odoo.SUPERUSER_ID, {})
    env["res.lang"]._activate_lang("fr_FR")
    env["ir.translation"].create(
        {
            "name": "addons/queue_job/job_timeout.py",
            "type": "code",
            "lang": "fr_FR",
            "module": "queue_job",
            "src": "Job exceeded its timeout of %s s",
            "value": "Tâche arrêtée après son délai de %s s",
            "state": "translated",
        }
    )
    env["ir.translation"].clear_caches()
    try:
        french = env(context={"lang": "fr_FR"})
        assert timeout_message(30, french) == "Tâche arrêtée après son délai de 30 s"
        assert timeout_message(30, env) == "Job exceeded its timeout of 30 s"
    finally:
        odoo_cursor.rollback()
        env["ir.translation"].clear_caches()
