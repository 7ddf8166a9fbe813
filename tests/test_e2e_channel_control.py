"""End-to-end: channels paused, resumed and resized from their records while
a real prefork server's runner serves two databases.

What the runner decides is read from ``queue_job`` (it marks a job
``enqueued`` when it dispatches it), so the checks do not depend on how
fast the loaded workers then start the jobs.
"""
import time
import uuid

import pytest
from harness import database
from test_e2e_runner import Jobs

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

CHANNELS = "root:6,e2e_ctl:2,e2e_cap:1"
NOT_STARTED = ("pending", "wait_dependencies")


@pytest.fixture(scope="class")
def second_db(odoo, addons_path):
    """A second database served by the same runner (dropped at the end)."""
    name = database.unique_db_name("qjchan")
    database.create_database(odoo, name, addons_path)
    yield name
    database.drop_database(odoo, name)


@pytest.fixture(scope="class")
def control_server(class_server_factory, db_name, second_db):
    server = class_server_factory(
        workers=5,
        load="web,queue_job",
        env={"ODOO_QUEUE_JOB_CHANNELS": CHANNELS},
        databases=[db_name, second_db],
        name="e2e-channels",
        # /web/login?db= redirects in a loop when two databases are served
        ready_path="/web/static/img/favicon.ico",
    )
    for db in (db_name, second_db):
        server.wait_for_log("queue job runner ready for db %s" % db, timeout=60)
    return server


def channel_record(committed_env, db, name):
    """The channel record ``root.<name>`` of ``db``, created if needed."""
    with committed_env(db=db) as env:
        channels = env["queue.job.channel"]
        channel = channels.search([("complete_name", "=", "root." + name)])
        if not channel:
            root = channels.search([("complete_name", "=", "root")])
            channel = channels.create({"name": name, "parent_id": root.id})
        return channel.id


def write_channel(committed_env, db, channel_id, **values):
    """Write the channel record and commit; return the time of the commit."""
    with committed_env(db=db) as env:
        env["queue.job.channel"].browse(channel_id).write(values)
    return time.time()


def count_states(jobs, uuids):
    counts = {}
    for state in jobs.states(uuids).values():
        counts[state] = counts.get(state, 0) + 1
    return counts


def dispatched(jobs, uuids):
    """Jobs the runner dispatched (whatever the worker did since)."""
    counts = count_states(jobs, uuids)
    return sum(n for state, n in counts.items() if state not in NOT_STARTED)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not %s within %ss" % (what, timeout)
        time.sleep(0.05)


@pytest.mark.usefixtures("control_server")
class TestChannelControl:
    def test_pause_stops_new_starts_resume_drains_other_db_unaffected(
        self, control_server, db_name, second_db, committed_env, request
    ):
        prefix = "ctl-%s" % (int(time.time() * 1000) % 10**8)
        jobs = Jobs(db_name, committed_env, prefix)
        other = Jobs(second_db, lambda: committed_env(db=second_db), prefix + "-2")
        channel_id = channel_record(committed_env, db_name, "e2e_ctl")
        other_channel_id = channel_record(committed_env, second_db, "e2e_ctl")
        request.addfinalizer(jobs.cleanup)
        request.addfinalizer(other.cleanup)
        request.addfinalizer(
            lambda: write_channel(committed_env, db_name, channel_id, paused=False)
        )
        uuids = jobs.delay(200, duration=0.05, channel="root.e2e_ctl")
        wait_for(lambda: dispatched(jobs, uuids) >= 10, 60, "10 jobs dispatched")

        paused_at = write_channel(committed_env, db_name, channel_id, paused=True)
        control_server.wait_for_log(
            "channel root.e2e_ctl paused on db %s" % db_name, timeout=10
        )
        time.sleep(max(0.0, paused_at + 1.0 - time.time()))
        at_pause = dispatched(jobs, uuids)
        # the running jobs finish
        wait_for(
            lambda: not {"enqueued", "started"} & set(jobs.states(uuids).values()),
            60,
            "running jobs finished",
        )
        assert at_pause < len(uuids), "every job ran before the pause applied"

        # another database's channel of the same name keeps running
        other_uuids = other.delay(20, duration=0.0, channel="root.e2e_ctl")
        other.wait_done(other_uuids, timeout=90)
        with committed_env(db=second_db) as env:
            assert not env["queue.job.channel"].browse(other_channel_id).paused

        # paused jobs can still be cancelled (and delayed)
        waiting = [u for u, s in jobs.states(uuids).items() if s == "pending"]
        with committed_env() as env:
            env["queue.job"].search([("uuid", "=", waiting[0])]).button_cancelled()
        uuids += jobs.delay(1, duration=0.0, channel="root.e2e_ctl")
        time.sleep(1.0)
        # none dispatched after the pause's commit + 1 s
        assert dispatched(jobs, uuids) - 1 == at_pause  # minus the cancelled one
        assert count_states(jobs, uuids)["pending"] == len(uuids) - at_pause - 1

        write_channel(committed_env, db_name, channel_id, paused=False)
        control_server.wait_for_log(
            "channel root.e2e_ctl resumed on db %s" % db_name, timeout=10
        )
        jobs.wait_done(uuids, timeout=240, states=("done", "cancelled"))

    def test_capacity_raised_from_1_to_4(
        self, control_server, db_name, committed_env, request
    ):
        prefix = "cap-%s" % (int(time.time() * 1000) % 10**8)
        jobs = Jobs(db_name, committed_env, prefix)
        channel_id = channel_record(committed_env, db_name, "e2e_cap")
        request.addfinalizer(jobs.cleanup)
        request.addfinalizer(
            lambda: write_channel(committed_env, db_name, channel_id, capacity=0)
        )
        uuids = jobs.delay(10, duration=4.0, channel="root.e2e_cap")
        wait_for(lambda: dispatched(jobs, uuids) >= 1, 60, "a job dispatched")
        time.sleep(0.5)
        assert dispatched(jobs, uuids) == 1  # the configuration's capacity

        changed_at = write_channel(committed_env, db_name, channel_id, capacity=4)
        peak = 0
        seen_four_after = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            running = count_states(jobs, uuids)
            in_progress = running.get("enqueued", 0) + running.get("started", 0)
            peak = max(peak, in_progress)
            if in_progress >= 4 and seen_four_after is None:
                seen_four_after = time.time() - changed_at
            if running.get("started", 0) >= 4:
                break
            time.sleep(0.05)
        assert seen_four_after is not None, "never 4 running jobs"
        assert seen_four_after < 1.0 + 0.5, (
            "4 jobs running %.2fs after the commit (polling adds up to a few"
            " tenths of a second on a loaded machine)" % seen_four_after
        )
        assert count_states(jobs, uuids).get("started", 0) == 4
        assert peak <= 4
        jobs.wait_done(uuids, timeout=120)

    def test_copied_database_starts_with_root_paused(
        self, control_server, second_db, committed_env, request
    ):
        """A new database.uuid (what Odoo's duplicate gives a copy) is found
        when the runner opens the database: here, after its connection was
        cut."""
        prefix = "copy-%s" % (int(time.time() * 1000) % 10**8)
        jobs = Jobs(second_db, lambda: committed_env(db=second_db), prefix)
        request.addfinalizer(jobs.cleanup)
        with committed_env(db=second_db) as env:
            params = env["ir.config_parameter"].sudo()
            params.set_param("database.uuid", str(uuid.uuid4()))
        jobs.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'queue_job_runner' AND datname = %s",
            (second_db,),
        )
        control_server.wait_for_log(
            "db %s is a copy of another database" % second_db, timeout=60
        )
        control_server.wait_for_log(
            "channel root paused on db %s" % second_db, timeout=10
        )
        uuids = jobs.delay(3, duration=0.0)
        with committed_env(db=second_db) as env:
            root = env.ref("queue_job.channel_root")
            assert root.paused
            assert "copy of another one" in root.effective_state
        time.sleep(2.0)
        assert set(jobs.states(uuids).values()) == {"pending"}
        with committed_env(db=second_db) as env:
            env.ref("queue_job.channel_root").action_resume()
        control_server.wait_for_log(
            "channel root resumed on db %s" % second_db, timeout=10
        )
        jobs.wait_done(uuids, timeout=60)
