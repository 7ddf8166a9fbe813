"""Session set-up of the queue_job test suite: real Odoo 15.0, real PostgreSQL.

The suite refuses to run (it never skips) when Odoo 15.0 or PostgreSQL is not
available. It creates a scratch database with ``queue_job`` and the test addon
``test_queue_job`` installed, configures Odoo in-process for it (so Odoo's own
``TransactionCase`` classes run under pytest), and drops it at the end.

Environment variables:

* ``QUEUE_JOB_TEST_DB``: reuse (or create, and keep) this database instead of
  a fresh one; the modules are updated at start. Handy while developing.
* ``ODOO_ADDONS_PATH``: Odoo's addons directories, when not next to the
  ``odoo`` package.
"""
import os
import threading
import time
import uuid
from contextlib import contextmanager

import pytest
from harness import database, odoo_runtime
from harness.server import OdooServer

_state = {}


def pytest_configure(config):
    try:
        odoo = odoo_runtime.import_odoo()
        addons_path = odoo_runtime.odoo_addons_paths(odoo)
    except odoo_runtime.RuntimeMissing as exc:
        pytest.exit("queue_job tests cannot run: %s" % exc, returncode=3)
    reuse = os.environ.get("QUEUE_JOB_TEST_DB")
    db_name = reuse or database.unique_db_name()
    odoo.tools.config.parse_config(
        [
            "--addons-path=%s" % ",".join(addons_path),
            "--database=%s" % db_name,
            "--db-filter=^%s$" % db_name,
            "--log-level=warn",
            "--without-demo=all",
            "--max-cron-threads=0",
        ]
    )
    try:
        odoo_runtime.check_postgresql(odoo)
    except odoo_runtime.RuntimeMissing as exc:
        pytest.exit("queue_job tests cannot run: %s" % exc, returncode=3)
    _state.update(odoo=odoo, addons_path=addons_path, db=db_name, reuse=reuse)


def pytest_sessionstart(session):
    odoo, db = _state["odoo"], _state["db"]
    exists = database.database_exists(odoo, db)
    try:
        database.install_modules(odoo, db, _state["addons_path"], update=exists)
    except RuntimeError as exc:
        # pytest.exit() here skips pytest_sessionfinish: drop it now (the
        # install log stays in build/test-logs)
        if not _state["reuse"]:
            database.drop_database(odoo, db)
        pytest.exit("queue_job tests cannot run: %s" % exc, returncode=3)
    # As a server with queue_job among its server-wide modules: the addon's
    # post_load installs its hooks (queue_job.odoo_hooks) before any request.
    odoo.modules.module.load_openerp_module("queue_job")
    # What Odoo's own test runner sets: mails are not really sent, etc.
    threading.current_thread().testing = True


def pytest_sessionfinish(session, exitstatus):
    if _state.get("db") and not _state.get("reuse"):
        database.drop_database(_state["odoo"], _state["db"])


@pytest.fixture(scope="session")
def odoo():
    return _state["odoo"]


@pytest.fixture(scope="session")
def db_name():
    return _state["db"]


@pytest.fixture(scope="session")
def addons_path():
    return _state["addons_path"]


@pytest.fixture
def committed_env(odoo, db_name):
    """Factory of committed environments on the test database (see harness)."""

    def factory(uid=None, context=None, db=None):
        return database.committed_env(odoo, db or db_name, uid=uid, context=context)

    return factory


@contextmanager
def _server_factory(db_name, addons_path):
    """Start real Odoo servers (on the test database by default); all of them
    are stopped when the block exits."""
    servers = []

    def factory(**kwargs):
        kwargs.setdefault("db", db_name)
        kwargs.setdefault("addons_path", addons_path)
        server = OdooServer(**kwargs)
        servers.append(server)
        return server.start()

    try:
        yield factory
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def odoo_server_factory(db_name, addons_path):
    """Start real Odoo servers; all of them are stopped at the test's end."""
    with _server_factory(db_name, addons_path) as factory:
        yield factory


@pytest.fixture(scope="class")
def class_server_factory(db_name, addons_path):
    """Servers shared by the tests of a class, stopped after its last test."""
    with _server_factory(db_name, addons_path) as factory:
        yield factory


@pytest.fixture(scope="module")
def module_server_factory(db_name, addons_path):
    """Servers shared by the tests of a module, stopped after its last test."""
    with _server_factory(db_name, addons_path) as factory:
        yield factory


@pytest.fixture
def scratch_database(odoo, addons_path):
    """Factory of extra databases, dropped at teardown."""
    created = []

    def factory(modules=database.DEFAULT_MODULES, prefix="qjx"):
        name = database.unique_db_name(prefix)
        created.append(name)
        return database.create_database(odoo, name, addons_path, modules)

    yield factory
    for name in created:
        database.drop_database(odoo, name)


@pytest.fixture
def fake_db_factory():
    """Factory of stand-in queue_job databases (runner_fakes), dropped at teardown.

    For the runner's own tests: a ``queue_job`` table with the real trigger,
    without Odoo.
    """
    import runner_fakes  # imports the addon: only once Odoo is configured

    names = []

    def factory(**kw):
        name = "qjf_%s_%s" % (int(time.time() * 1000) % 10**9, len(names))
        names.append(name)
        runner_fakes.create_fake_database(name, **kw)
        return runner_fakes.FakeQueueJobDatabase(name)

    yield factory
    for name in names:
        runner_fakes.drop_database(name)


@pytest.fixture
def fake_odoo():
    """A stand-in Odoo HTTP server answering the runner's requests."""
    import runner_fakes

    with runner_fakes.FakeOdoo() as server:
        yield server


@pytest.fixture
def start_runner():
    """Start job runners in threads; stop them (and check they stop) at teardown."""
    from test_runner_loop import RunnerUnderTest

    started = []

    def start(db_names, port, channels="root:4"):
        runner = RunnerUnderTest(db_names, port, channels=channels)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        started.append((runner, thread))
        return runner

    yield start
    for runner, thread in started:
        runner.stop()
        thread.join(10)
        assert not thread.is_alive()


@pytest.fixture
def jobs(request, db_name, committed_env):
    """``test.reliability.job`` jobs of the test (``ReliabilityJobs``), named
    after its module (test_reliability_<name>), deleted at teardown.

    Test modules with other jobs to track define their own ``jobs``.
    """
    from reliability_helpers import ReliabilityJobs  # imports the addon

    kind = request.module.__name__.rsplit("_", 1)[-1]
    tracker = ReliabilityJobs(
        db_name, committed_env, "%s-%s" % (kind, uuid.uuid4().hex)
    )
    yield tracker
    tracker.cleanup()


@pytest.fixture
def enqueued_jobs(committed_env):
    """Store committed, enqueued jobs of ``test.queue.job``:
    ``enqueued_jobs(method_name, *args, record_name=None)`` returns the
    job's uuid; with ``record_name``, the job is on a new record of that
    name. Jobs and records are deleted at teardown."""
    from odoo.addons.queue_job.job import Job  # imports Odoo

    uuids = []
    record_ids = []

    def factory(method_name, *args, record_name=None):
        with committed_env() as env:
            records = env["test.queue.job"]
            if record_name:
                records = records.create({"name": record_name})
                record_ids.append(records.id)
            job = Job(getattr(records, method_name), args=args)
            job.set_enqueued()
            job.store()
        uuids.append(job.uuid)
        return job.uuid

    yield factory
    with committed_env() as env:
        env["queue.job"].search([("uuid", "in", uuids)]).unlink()
        env["test.queue.job"].browse(record_ids).unlink()
