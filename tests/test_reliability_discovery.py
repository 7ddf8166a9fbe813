"""Databases created and dropped while the job runner runs.

The server runs without ``--database``: like a production server, its runner
serves every database its PostgreSQL user owns (``list_dbs``). That user is
a role created for the test, owning only the test's databases, so the
runner never sees the databases of other test sessions. A database created
while it runs, on which queue_job is then installed, is served within 30
seconds; a dropped one is forgotten; the others are not disturbed.
"""
import time
import uuid as uuid_lib
from contextlib import closing

import psycopg2
import pytest
from harness import database
from reliability_helpers import ReliabilityJobs

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

ROOT_2 = {"ODOO_QUEUE_JOB_CHANNELS": "root:2"}
DISCOVERY_TARGET = 30  # seconds


def admin_sql(query):
    with closing(psycopg2.connect(dbname="postgres")) as conn:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute(query)


@pytest.fixture
def db_owner(odoo):
    """A superuser role with a password (the server connects over TCP), and
    the databases it owns (created empty), all dropped at teardown."""
    role = "qjdisc_%s" % uuid_lib.uuid4().hex[:12]
    password = uuid_lib.uuid4().hex
    admin_sql("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'" % (role, password))
    owned = []

    def create_database(suffix):
        name = "%s_%s" % (role, suffix)
        admin_sql('CREATE DATABASE "%s" OWNER %s' % (name, role))
        owned.append(name)
        return name

    try:
        yield role, password, create_database
    finally:
        for name in owned:
            database.drop_database(odoo, name)
        admin_sql("DROP ROLE IF EXISTS %s" % role)


@pytest.mark.timeout(600)
def test_database_created_and_dropped_while_running(
    odoo, addons_path, db_owner, odoo_server_factory, committed_env
):
    # db_owner first: its databases and role are dropped after the server stops
    role, password, create_database = db_owner
    served = create_database("served")
    database.install_modules(odoo, served, addons_path)
    server = odoo_server_factory(
        db=served,
        name="discovery",
        env=ROOT_2,
        pass_database=False,
        db_filter="^%s_" % role,
        extra_args=[
            "--db_host=127.0.0.1",
            "--db_user=%s" % role,
            "--db_password=%s" % password,
        ],
    )
    server.wait_for_log("queue job runner ready for db %s" % served, timeout=60)
    served_jobs = ReliabilityJobs(served, committed_env, "served")
    served_jobs.delay(count=3)
    served_jobs.wait_states({"done"}, timeout=60)

    # A new database (owned by the server's user), then queue_job in it.
    new = create_database("new")
    database.install_modules(odoo, new, addons_path)
    installed = time.monotonic()
    server.wait_for_log(
        "queue job runner ready for db %s" % new, timeout=DISCOVERY_TARGET
    )
    print(
        "new database served %.1fs after the installation"
        % (time.monotonic() - installed)
    )
    new_jobs = ReliabilityJobs(new, committed_env, "new")
    new_jobs.delay(count=3)
    new_jobs.wait_states({"done"}, timeout=60)
    assert len(new_jobs.executions()) == 3

    # Dropped: forgotten, and the other database is still served.
    database.drop_database(odoo, new)
    server.wait_for_log(
        "db %s is no longer listed, forgetting it" % new, timeout=DISCOVERY_TARGET
    )
    served_jobs.delay(count=3)
    served_jobs.wait_states({"done"}, timeout=60)
    assert set(served_jobs.executions().values()) == {1}
    assert len(served_jobs.executions()) == 6
