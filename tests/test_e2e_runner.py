"""End-to-end: real Odoo 15 servers run delayed jobs through the job runner.

Jobs are delayed through the ORM (``test.runner.job`` of the test addon,
committed so the servers see them); the tests then watch ``queue_job`` and
the execution rows from the outside, with single SQL queries (consistent
snapshots), while the jobs run: in prefork mode (the runner is a worker
process), in threaded mode (a thread), and with the standalone runner next to
a server that has no runner.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness.odoo_runtime import REPO_ROOT
from harness.server import OdooServer
from reliability_helpers import DatabaseJobs

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

CHANNELS = "root:3,e2e_a:1,e2e_b:2,e2e_seq:1:sequential"
FAILED_JOB_ERROR = "odoo.addons.queue_job.exception.FailedJobError"


class Jobs(DatabaseJobs):
    """Delays test jobs and observes them, directly in the database."""

    def delay(self, count=1, duration=0.0, label=None, method="record_run", **options):
        """Delay ``count`` jobs in one transaction; return their uuids."""
        uuids = []
        with self.committed_env() as env:
            model = env["test.runner.job"]
            for i in range(count):
                name = "%s-%s" % (self.prefix, len(self.uuids) + i)
                delayable = model.with_delay(**options)
                if method == "record_run":
                    job = delayable.record_run(name, label=label, duration=duration)
                else:
                    job = getattr(delayable, method)(name, label=label)
                uuids.append(job.uuid)
        self.uuids += uuids
        return uuids

    def states(self, uuids=None):
        rows = self.sql(
            "SELECT uuid, state FROM queue_job WHERE uuid = ANY(%s)",
            (list(uuids or self.uuids),),
        )
        return dict(rows)

    def started_by_channel(self, uuids=None):
        rows = self.sql(
            "SELECT channel, count(*) FROM queue_job"
            " WHERE uuid = ANY(%s) AND state = 'started' GROUP BY channel",
            (list(uuids or self.uuids),),
        )
        return dict(rows)

    def wait_done(self, uuids=None, timeout=60, states=("done",), sample=None):
        """Wait until all jobs reach one of ``states``; ``sample()`` each poll."""
        uuids = list(uuids or self.uuids)
        deadline = time.monotonic() + timeout
        while True:
            if sample:
                sample()
            current = self.states(uuids)
            if all(current.get(uuid) in states for uuid in uuids):
                return current
            ended = {
                u: s
                for u, s in current.items()
                if s in ("done", "failed", "cancelled") and s not in states
            }
            if ended:
                raise AssertionError(
                    "jobs ended %s: %s" % (set(ended.values()), self.failures(ended))
                )
            if time.monotonic() > deadline:
                pending = {u: s for u, s in current.items() if s not in states}
                raise AssertionError(
                    "%s jobs not %s after %ss: %s"
                    % (len(pending), states, timeout, list(pending.items())[:5])
                )
            time.sleep(0.05)

    def failures(self, uuids):
        return self.sql(
            "SELECT uuid, exc_name, exc_message FROM queue_job"
            " WHERE uuid = ANY(%s) LIMIT 3",
            (list(uuids),),
        )

    def executions(self):
        """(name, label, started_at, finished_at) of the executed jobs, in order."""
        return self.sql(
            "SELECT name, label, started_at, finished_at FROM test_runner_job"
            " WHERE name LIKE %s ORDER BY id",
            (self.prefix + "-%",),
        )

    def job_row(self, uuid, *columns):
        return self.sql(
            "SELECT %s FROM queue_job WHERE uuid = %%s" % ", ".join(columns), (uuid,)
        )[0]

    def cleanup(self):
        if self.uuids:
            self.sql("DELETE FROM queue_job WHERE uuid = ANY(%s)", (self.uuids,))
        self.sql(
            "DELETE FROM test_runner_job WHERE name LIKE %s", (self.prefix + "-%",)
        )


class PeakSampler:
    """Highest number of ``started`` jobs seen per channel (and in total)."""

    def __init__(self, jobs, uuids=None):
        self.jobs = jobs
        self.uuids = uuids
        self.peaks = {}
        self.total = 0

    def __call__(self):
        started = self.jobs.started_by_channel(self.uuids)
        for channel, count in started.items():
            self.peaks[channel] = max(self.peaks.get(channel, 0), count)
        self.total = max(self.total, sum(started.values()))


def peak_overlap(intervals):
    """Most intervals ``(start, end)`` overlapping at one time."""
    events = sorted([(s, 1) for s, _e in intervals] + [(e, -1) for _s, e in intervals])
    peak = current = 0
    for _when, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


@pytest.fixture
def jobs(request, db_name, committed_env):
    prefix = "e2e-%s-%s" % (request.node.name[:40], int(time.time() * 1000) % 10**8)
    tracker = Jobs(db_name, committed_env, prefix)
    if "prefork_server" not in request.fixturenames:
        # The servers of other tests are stopped: their runners must be gone,
        # or they would run this test's jobs too.
        wait_no_runner(tracker)
    yield tracker
    tracker.cleanup()


def wait_no_runner(jobs, timeout=20):
    deadline = time.monotonic() + timeout
    while jobs.sql(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = 'queue_job_runner' AND datname = %s",
        (jobs.db_name,),
    )[0][0]:
        assert time.monotonic() < deadline, "another job runner serves the database"
        time.sleep(0.2)


@pytest.fixture(scope="class")
def prefork_server(class_server_factory, db_name):
    """One prefork server with the runner, for the tests of one class.

    Class-scoped so that its runner is gone before the other tests start
    servers of their own: two runners on one database would each apply the
    capacities."""
    server = class_server_factory(
        workers=3,
        load="web,queue_job",
        env={"ODOO_QUEUE_JOB_CHANNELS": CHANNELS},
        name="e2e-prefork",
    )
    server.wait_for_log("queue job runner ready for db %s" % db_name)
    return server


def runner_processes(server):
    """PIDs of the server's processes titled as the job runner worker.

    Odoo titles its workers only when ``setproctitle`` is importable: without
    titles nothing could be found, and checks that no runner runs would pass
    without testing anything, so untitled workers fail the test instead.
    """
    titles = {}
    for pid in server.child_pids():
        try:
            titles[pid] = Path("/proc/%s/cmdline" % pid).read_bytes()
        except FileNotFoundError:
            continue
    assert not titles or any(
        b"WorkerHTTP" in title for title in titles.values()
    ), "Odoo's workers carry no title: is setproctitle installed?"
    return [pid for pid, title in titles.items() if b"WorkerJobRunner" in title]


# -- prefork ---------------------------------------------------------------


class TestPreforkServer:
    """Tests sharing one prefork server (3 workers, channels ``CHANNELS``)."""

    def test_prefork_runs_delayed_jobs(self, prefork_server, jobs, db_name):
        uuids = jobs.delay(3, label="root")
        jobs.wait_done(uuids, timeout=30)
        assert sorted(name for name, *_rest in jobs.executions()) == sorted(
            "%s-%s" % (jobs.prefix, i) for i in range(3)
        )
        date_enqueued, date_started, date_done, worker_pid = jobs.job_row(
            uuids[0], "date_enqueued", "date_started", "date_done", "worker_pid"
        )
        assert date_enqueued <= date_started <= date_done
        assert worker_pid not in runner_processes(prefork_server)
        log = prefork_server.log_text()
        for line in (
            "odoo.addons.queue_job.jobrunner.runner: starting",
            "odoo.addons.queue_job.jobrunner.runner: initializing database connections",
            "odoo.addons.queue_job.jobrunner.runner: queue job runner ready for db %s"
            % db_name,
            "odoo.addons.queue_job.jobrunner.runner: database connections ready",
            "asking Odoo to run job %s on db %s" % (uuids[0], db_name),
        ):
            assert line in log
        assert len(runner_processes(prefork_server)) == 1

    def test_prefork_channel_capacities(self, prefork_server, jobs):
        """Never more than a channel's capacity of its jobs started at once."""
        a = jobs.delay(4, duration=0.6, label="a", channel="root.e2e_a")
        b = jobs.delay(6, duration=0.6, label="b", channel="root.e2e_b")
        c = jobs.delay(3, duration=0.6, label="c", channel="root.e2e_c")
        sampler = PeakSampler(jobs)
        jobs.wait_done(timeout=60, sample=sampler)
        assert sampler.peaks.get("root.e2e_a", 0) <= 1
        assert sampler.peaks.get("root.e2e_b", 0) <= 2
        assert sampler.total <= 3
        intervals = {}
        for _name, label, started_at, finished_at in jobs.executions():
            intervals.setdefault(label, []).append((started_at, finished_at))
        assert {label: len(found) for label, found in intervals.items()} == {
            "a": len(a),
            "b": len(b),
            "c": len(c),
        }
        assert peak_overlap(intervals["a"]) == 1
        assert peak_overlap(intervals["b"]) == 2
        assert peak_overlap(sum(intervals.values(), [])) == 3

    def test_prefork_sequential_channel_keeps_order(self, prefork_server, jobs):
        uuids = jobs.delay(6, duration=0.05, label="seq", channel="root.e2e_seq")
        jobs.wait_done(uuids, timeout=30)
        names = [name for name, *_rest in jobs.executions()]
        assert names == ["%s-%s" % (jobs.prefix, i) for i in range(6)]
        starts = [row[2:] for row in jobs.executions()]
        assert all(prev[1] <= nxt[0] for prev, nxt in zip(starts, starts[1:]))

    def test_prefork_priority_order(self, prefork_server, jobs):
        blocker = jobs.delay(1, duration=1.0, label="blocker", channel="root.e2e_a")
        time.sleep(0.5)  # the blocker holds e2e_a's only slot
        low = jobs.delay(2, label="low", channel="root.e2e_a", priority=30)
        high = jobs.delay(2, label="high", channel="root.e2e_a", priority=1)
        jobs.wait_done(blocker + low + high, timeout=30)
        labels = [label for _name, label, *_rest in jobs.executions()]
        assert labels == ["blocker", "high", "high", "low", "low"]

    def test_prefork_eta_is_honoured(self, prefork_server, jobs):
        """Not started before its eta (that the runner wakes at the eta is
        asserted in test_runner_loop.py)."""
        (uuid,) = jobs.delay(1, label="eta", eta=4)
        jobs.wait_done([uuid], timeout=30)
        eta, date_started = jobs.job_row(uuid, "eta", "date_started")
        assert date_started >= eta

    def test_prefork_retry_pattern(self, prefork_server, jobs, committed_env):
        with committed_env() as env:
            function = env["queue.job.function"].create(
                {
                    "model_id": env.ref("test_queue_job.model_test_runner_job").id,
                    "method": "record_then_retry",
                    "retry_pattern": {1: 1, 2: 3},
                }
            )
        try:
            (uuid,) = jobs.delay(
                1, label="retry", method="record_then_retry", max_retries=3
            )
            jobs.wait_done([uuid], timeout=60, states=("failed",))
            attempts = [row[2] for row in jobs.executions()]
            assert len(attempts) == 3
            # each try waits as long as the pattern says (not less)
            first_gap, second_gap = attempts[1] - attempts[0], attempts[2] - attempts[1]
            assert first_gap >= 1
            assert second_gap >= 3
            retry, exc_name = jobs.job_row(uuid, "retry", "exc_name")
            assert (retry, exc_name) == (3, FAILED_JOB_ERROR)
        finally:
            with committed_env() as env:
                env["queue.job.function"].browse(function.id).unlink()

    def test_prefork_runner_reconnects_after_losing_its_connection(
        self, prefork_server, jobs, db_name
    ):
        terminated = jobs.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'queue_job_runner' AND datname = %s",
            (db_name,),
        )
        assert terminated == [(True,)]
        prefork_server.wait_for_log("lost the connection to db %s" % db_name)
        uuids = jobs.delay(2, label="after reconnection")
        jobs.wait_done(uuids, timeout=30)
        log = prefork_server.log_text()
        assert log.count("queue job runner ready for db %s" % db_name) >= 2
        assert "exception: sleeping" not in log

    def test_prefork_runner_worker_is_respawned(self, prefork_server, jobs, db_name):
        (pid,) = runner_processes(prefork_server)
        ready_before = prefork_server.log_text().count(
            "queue job runner ready for db %s" % db_name
        )
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pids = runner_processes(prefork_server)
            if pids and pids != [pid]:
                break
            time.sleep(0.2)
        assert len(runner_processes(prefork_server)) == 1
        assert runner_processes(prefork_server) != [pid]
        deadline = time.monotonic() + 30
        while (
            prefork_server.log_text().count(
                "queue job runner ready for db %s" % db_name
            )
            == ready_before
        ):
            assert time.monotonic() < deadline, "respawned runner not ready"
            time.sleep(0.2)
        uuids = jobs.delay(2, label="after respawn")
        jobs.wait_done(uuids, timeout=30)


# -- process integration variants -------------------------------------------


def test_threaded_server_runs_jobs_with_capacities(odoo_server_factory, jobs, db_name):
    server = odoo_server_factory(
        workers=0,
        env={"ODOO_QUEUE_JOB_CHANNELS": "root:2,e2e_t:1"},
        name="e2e-threaded",
    )
    server.wait_for_log("starting jobrunner thread (in threaded server)")
    server.wait_for_log("queue job runner ready for db %s" % db_name, timeout=30)
    a = jobs.delay(3, duration=0.4, label="t", channel="root.e2e_t")
    b = jobs.delay(3, duration=0.4, label="u", channel="root.e2e_u")
    sampler = PeakSampler(jobs)
    jobs.wait_done(a + b, timeout=60, sample=sampler)
    assert sampler.peaks.get("root.e2e_t", 0) <= 1
    assert sampler.total <= 2
    intervals = [(row[2], row[3]) for row in jobs.executions() if row[1] == "t"]
    assert len(intervals) == 3 and peak_overlap(intervals) == 1
    server.stop()
    assert "odoo.addons.queue_job.jobrunner.runner: stopped" in server.log_text()


@pytest.mark.parametrize("workers", [0, 2], ids=["threaded", "prefork"])
def test_root_capacity_zero_disables_the_runner(
    odoo_server_factory, jobs, workers, db_name
):
    server = odoo_server_factory(
        workers=workers, env={"ODOO_QUEUE_JOB_CHANNELS": "root:0"}, name="e2e-root0"
    )
    (uuid,) = jobs.delay(1, label="never")
    time.sleep(7 if workers == 0 else 3)  # past the thread's start delay
    assert jobs.states([uuid])[uuid] == "pending"
    log = server.log_text()
    assert "queue job runner ready" not in log
    assert runner_processes(server) == []
    if workers == 0:
        assert (
            "jobrunner thread (in threaded server) NOT started, because the root "
            "channel's capacity is set to 0" in log
        )


@pytest.mark.parametrize(
    "channels, bad_entry",
    [
        ("root:x", "root:x"),
        ("root:2,:1", ":1"),
        ("root:2,a:1:k=1=2", "a:1:k=1=2"),
        ("root:2,q:2:sequential", "q:2:sequential"),
        ("root:-1", "root:-1"),
        ("root:2,a:1:sequentail", "a:1:sequentail"),
    ],
)
def test_bad_channel_configuration_stops_the_runner_not_odoo(
    odoo_server_factory, channels, bad_entry
):
    server = odoo_server_factory(
        workers=2, env={"ODOO_QUEUE_JOB_CHANNELS": channels}, name="e2e-badconf"
    )
    server.wait_for_log("jobrunner worker (in prefork server) NOT started")
    log = server.log_text()
    error_lines = [line for line in log.splitlines() if "NOT started" in line]
    assert " ERROR " in error_lines[0]
    assert repr(bad_entry) in error_lines[0]
    time.sleep(1)
    assert runner_processes(server) == []
    assert server.get("/web/login")[0] == 200
    # Logged once, not at every beat of the master.
    assert server.log_text().count("NOT started") == 1


def test_dispatch_to_a_closed_port_keeps_the_job(odoo_server_factory, jobs, db_name):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    server = odoo_server_factory(
        workers=2,
        env={
            "ODOO_QUEUE_JOB_CHANNELS": "root:1",
            "ODOO_QUEUE_JOB_PORT": str(closed_port),
        },
        name="e2e-closedport",
    )
    server.wait_for_log("queue job runner ready for db %s" % db_name)
    (uuid,) = jobs.delay(1, label="undeliverable")
    server.wait_for_log("state of job %s was reset from enqueued to pending" % uuid)
    state, date_enqueued, date_started = jobs.job_row(
        uuid, "state", "date_enqueued", "date_started"
    )
    assert state in ("pending", "enqueued")
    if state == "pending":
        assert (date_enqueued, date_started) == (None, None)
    assert "WARNING" in next(
        line
        for line in server.log_text().splitlines()
        if "was reset from enqueued to pending" in line
    )


# -- standalone runner --------------------------------------------------------


def standalone_pythonpath(tmp_path, addons_path):
    """Directories making every addon importable as ``odoo.addons.<name>``
    before Odoo reads its configuration, as when Odoo and the addons are
    pip-installed: ``python -m odoo.addons.queue_job.jobrunner`` imports the
    addon (and what it imports) before it can parse ``-c``."""
    entries = []
    for index, path in enumerate(addons_path):
        site = tmp_path / ("site%s" % index)
        (site / "odoo").mkdir(parents=True)
        (site / "odoo" / "addons").symlink_to(path)
        entries.append(str(site))
    return entries


def start_standalone_runner(tmp_path, server, addons_path, db_name, conf, env=None):
    conf_path = tmp_path / "runner.conf"
    conf_path.write_text(conf)
    log_path = tmp_path / "standalone-runner.log"
    environ = dict(os.environ)
    environ["PYTHONPATH"] = os.pathsep.join(
        standalone_pythonpath(tmp_path, addons_path)
        + ([environ["PYTHONPATH"]] if environ.get("PYTHONPATH") else [])
    )
    environ.update(env or {})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "odoo.addons.queue_job.jobrunner",
            "-c",
            str(conf_path),
            "--addons-path=%s" % ",".join(addons_path),
            "--database=%s" % db_name,
            "--http-interface=127.0.0.1",
            "--http-port=%s" % server.port,
            "--logfile=%s" % log_path,
            "--log-level=info",
        ],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    return process, log_path


def wait_file_text(path, needle, process, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if needle in text:
            return text
        if process.poll() is not None:
            break
        time.sleep(0.1)
    stderr = process.stderr.read().decode() if process.poll() is not None else ""
    raise AssertionError("%r not logged; log:\n%s\n%s" % (needle, text[-3000:], stderr))


def test_standalone_runner_honours_the_config_file(
    odoo_server_factory, jobs, db_name, addons_path, tmp_path
):
    server = odoo_server_factory(workers=2, load="web", name="e2e-norunner")
    process, log_path = start_standalone_runner(
        tmp_path,
        server,
        addons_path,
        db_name,
        "[options]\n[queue_job]\nchannels = root:2,e2e_solo:1\n",
    )
    try:
        wait_file_text(log_path, "queue job runner ready for db %s" % db_name, process)
        log = log_path.read_text()
        assert "Configured channel: root.e2e_solo(C:1" in log
        a = jobs.delay(3, duration=0.4, label="solo", channel="root.e2e_solo")
        b = jobs.delay(2, label="other")
        sampler = PeakSampler(jobs)
        jobs.wait_done(a + b, timeout=60, sample=sampler)
        assert sampler.peaks.get("root.e2e_solo", 0) <= 1
        intervals = [(r[2], r[3]) for r in jobs.executions() if r[1] == "solo"]
        assert peak_overlap(intervals) == 1
        assert "queue job runner ready" not in server.log_text()
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=20)
        assert returncode == 0, process.stderr.read().decode()[-3000:]
    assert "odoo.addons.queue_job.jobrunner.runner: stopped" in log_path.read_text()


def test_standalone_runner_refuses_a_bad_configuration(db_name, addons_path, tmp_path):
    server = OdooServer(db=db_name, addons_path=addons_path, name="unused")
    process, log_path = start_standalone_runner(
        tmp_path,
        server,
        addons_path,
        db_name,
        "[options]\n[queue_job]\nchannels = root:2,seq:2:sequential\n",
    )
    try:
        assert process.wait(timeout=60) == 2
    finally:
        if process.poll() is None:
            process.kill()
    log = log_path.read_text()
    assert "jobrunner NOT started" in log and "'seq:2:sequential'" in log


# -- the README's command, and 200 jobs over three channels --------------------


EXAMPLE_CONFIG = REPO_ROOT / "queue_job.conf.example"


def example_addons_path_exists():
    for line in EXAMPLE_CONFIG.read_text().splitlines():
        if line.startswith("addons_path"):
            paths = line.split("=", 1)[1].split(",")
            return all((REPO_ROOT / p.strip()).is_dir() for p in paths)
    return False


class ExampleConfigServer(OdooServer):
    """``odoo -c queue_job.conf.example -d <db> -i queue_job`` (README), plus
    what a test needs: a free port, its own log file, the test db filter.

    Run from the repository root, as the README says. On a machine where Odoo
    is not where the example expects it, its addons path is overridden.
    """

    def command(self):
        from harness.odoo_runtime import ODOO_COMMAND

        command = ODOO_COMMAND + [
            "-c",
            str(EXAMPLE_CONFIG),
            "-d",
            self.db,
            "-i",
            "queue_job",
            "--db-filter=^%s$" % self.db,
            "--http-port=%s" % self.port,
            "--longpolling-port=%s" % self.longpolling_port,
            "--logfile=%s" % self.log_path,
        ]
        if not example_addons_path_exists():
            command.append("--addons-path=%s" % ",".join(self.addons_path))
        return command


def test_readme_command_runs_200_jobs_over_three_channels(
    odoo, addons_path, committed_env, record_property, monkeypatch
):
    """The README's quick start on a database it creates, then 200 jobs."""
    from harness import database

    monkeypatch.chdir(REPO_ROOT)
    db = database.unique_db_name("qjreadme")
    server = ExampleConfigServer(db=db, addons_path=addons_path, name="readme")
    try:
        server.start(timeout=600)
        server.wait_for_log("queue job runner ready for db %s" % db, timeout=60)
        log = server.log_text()
        assert "Configured channel: root(C:2" in log
        assert "HTTP service (werkzeug) running on 127.0.0.1:%s" % server.port in log
        jobs = Jobs(db, committed_env, "readme")
        spread = {"root.export": 70, "root.mail": 70, "root.import": 60}
        with committed_env(db=db) as env:
            for channel, count in spread.items():
                for _i in range(count):
                    jobs.uuids.append(
                        env["queue.job"].with_delay(channel=channel)._test_job().uuid
                    )
        started = time.monotonic()  # from the commit of the jobs
        sampler = PeakSampler(jobs)
        jobs.wait_done(timeout=300, sample=sampler)
        rate = len(jobs.uuids) / (time.monotonic() - started)
        assert sampler.total <= 2
        channels = jobs.sql(
            "SELECT channel, count(*) FROM queue_job WHERE uuid = ANY(%s)"
            " GROUP BY channel",
            (jobs.uuids,),
        )
        assert dict(channels) == spread
        record_property("jobs_per_second", round(rate, 1))
        print("\nREADME command: 200 jobs over 3 channels, %.1f jobs/s" % rate)
    finally:
        server.stop()
        database.drop_database(odoo, db)


def test_200_jobs_over_three_channels_with_capacities(
    odoo_server_factory, jobs, db_name, record_property
):
    server = odoo_server_factory(
        workers=3,
        env={"ODOO_QUEUE_JOB_CHANNELS": "root:3,e2e_x:1,e2e_y:2"},
        name="e2e-200",
    )
    server.wait_for_log("queue job runner ready for db %s" % db_name)
    uuids = []
    for channel, count in (("root.e2e_x", 60), ("root.e2e_y", 70), ("root.e2e_z", 70)):
        uuids += jobs.delay(count, duration=0.02, label=channel, channel=channel)
    started = time.monotonic()  # from the commit of the last jobs
    sampler = PeakSampler(jobs, uuids)
    jobs.wait_done(uuids, timeout=300, sample=sampler)
    rate = len(uuids) / (time.monotonic() - started)
    assert sampler.peaks.get("root.e2e_x", 0) <= 1
    assert sampler.peaks.get("root.e2e_y", 0) <= 2
    assert sampler.total <= 3
    intervals = {}
    for _name, label, started_at, finished_at in jobs.executions():
        intervals.setdefault(label, []).append((started_at, finished_at))
    assert sum(len(found) for found in intervals.values()) == 200
    assert peak_overlap(intervals["root.e2e_x"]) == 1
    assert peak_overlap(intervals["root.e2e_y"]) <= 2
    assert peak_overlap(sum(intervals.values(), [])) <= 3
    record_property("jobs_per_second", round(rate, 1))
    print("\n200 jobs of 20 ms over 3 channels (root:3): %.1f jobs/s" % rate)
