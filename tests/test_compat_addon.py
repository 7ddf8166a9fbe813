"""A third-party addon extending queue_job as public addons extend the
original Job Queue (``tests/addons/test_queue_job_compat``) keeps working.

The addon patches ``Job`` for the whole process, so it is never imported
here: it is installed by Odoo's command line in a database of its own, its
Odoo tests run in an Odoo process, and the end-to-end checks drive a prefork
server with the job runner over XML-RPC and read the outcome in SQL.
"""
import ast
import json
import os
import re
import signal
import subprocess
import threading
import time
import xmlrpc.client
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest
from harness import database
from harness.odoo_runtime import (
    BUILD_DIR,
    ODOO_COMMAND,
    TEST_ADDONS_DIR,
    postgres_connect_kwargs,
)
from harness.server import OdooServer, free_port
from job_cases import QueueJobCase

pytestmark = pytest.mark.slow

COMPAT_ADDON = "test_queue_job_compat"
MODULES = ("queue_job", "test_queue_job", "base_automation", COMPAT_ADDON)
ADDON_TESTS_DIR = TEST_ADDONS_DIR / COMPAT_ADDON / "tests"
RESULT_LINE = re.compile(
    r"(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database"
)
JOB_USER = "compat_job_user"
FINAL_STATES = ("done", "failed", "cancelled")


@pytest.fixture(scope="module")
def compat_db(odoo, addons_path):
    """A database with the compat addon, installed by Odoo's CLI."""
    name = database.unique_db_name("qjcompat")
    try:
        database.create_database(odoo, name, addons_path, MODULES)
        yield name
    finally:
        database.drop_database(odoo, name)


def _addon_test_names():
    names = []
    for path in sorted(ADDON_TESTS_DIR.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                names += [
                    "%s.%s" % (node.name, item.name)
                    for item in node.body
                    if isinstance(item, ast.FunctionDef)
                    and item.name.startswith("test_")
                ]
    return names


def _problems(log):
    keep = (" ERROR ", " CRITICAL ", "FAIL:", "ERROR:", "Error", "assert")
    return "\n".join(line for line in log.splitlines() if any(k in line for k in keep))[
        -10000:
    ]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("fast_paths", ["on", "off"])
def test_addon_odoo_tests_pass(compat_db, addons_path, fast_paths):
    """The addon's own Odoo tests (views, store hooks, Job subclass, failure
    message, related action, savepoints) pass, with the fast paths on and
    off."""
    expected = _addon_test_names()
    assert len(expected) >= 12, expected
    log_dir = Path(BUILD_DIR) / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / ("%s-addon-tests-%s.log" % (compat_db, fast_paths))
    command = ODOO_COMMAND + [
        "server",
        "--addons-path=%s" % ",".join(addons_path),
        "--database=%s" % compat_db,
        "--db-filter=^%s$" % compat_db,
        "--update=%s" % COMPAT_ADDON,
        "--test-enable",
        "--test-tags=/%s" % COMPAT_ADDON,
        "--stop-after-init",
        "--without-demo=all",
        "--http-interface=127.0.0.1",
        "--http-port=%s" % free_port(),
        "--longpolling-port=%s" % free_port(),
        "--workers=0",
        "--max-cron-threads=0",
        "--log-level=info",
        "--logfile=%s" % log_path,
    ]
    env = dict(os.environ)
    if fast_paths == "off":
        env["ODOO_QUEUE_JOB_FAST_PATHS"] = "0"
    else:
        env.pop("ODOO_QUEUE_JOB_FAST_PATHS", None)
    result = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=850,
        env=env,
    )
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    output = result.stdout.decode(errors="replace")
    outcome = RESULT_LINE.findall(log)
    assert outcome, "No test summary in %s (exit %s):\n%s\n%s" % (
        log_path,
        result.returncode,
        _problems(log) or log[-4000:],
        output[-2000:],
    )
    failed, errors, ran = (int(n) for n in outcome[-1])
    assert (failed, errors) == (0, 0), "%s failed, %s errors (log %s):\n%s" % (
        failed,
        errors,
        log_path,
        _problems(log),
    )
    assert ran == len(expected), "%s tests ran, expected %s: %s\n%s" % (
        ran,
        len(expected),
        expected,
        _problems(log),
    )
    for name in expected:
        assert "Starting %s" % name in log, "%s did not run" % name
    assert result.returncode == 0, _problems(log)


class TestSavepointOfTheSuiteDatabase(QueueJobCase):
    """The addon's savepoint tests run where its create()/write() overrides
    keep Job.store() on the ORM; the same checks here, in the suite's
    database (no override), cover queue_job's own storing of new jobs."""

    def delay_around_failed_savepoint(self, flush):
        """Delay a job before, in and after a savepoint rolled back; return
        the uuids of the jobs whose row exists, in before/within/after."""
        before = self.test_model.with_delay().testing_method(1)
        with self.assertRaises(ValueError):
            with self.env.cr.savepoint(flush=flush):
                within = self.test_model.with_delay().testing_method(2)
                raise ValueError("rolled back")
        after = self.test_model.with_delay().testing_method(3)
        self.env.cr.flush()
        self.env.cr.execute(
            "SELECT uuid FROM queue_job WHERE uuid IN %s",
            ((before.uuid, within.uuid, after.uuid),),
        )
        stored = {row[0] for row in self.env.cr.fetchall()}
        return [job.uuid in stored for job in (before, within, after)]

    def test_rolled_back_savepoint_without_flush(self):
        self.assertEqual(
            self.delay_around_failed_savepoint(flush=False), [True, False, True]
        )

    def test_rolled_back_savepoint_with_flush(self):
        self.assertEqual(
            self.delay_around_failed_savepoint(flush=True), [True, False, True]
        )


class Client:
    """XML-RPC as admin, SQL as the database owner."""

    def __init__(self, server, db, odoo):
        self.server = server
        self.db = db
        self.connect_kwargs = postgres_connect_kwargs(odoo, db)
        common = xmlrpc.client.ServerProxy(server.url + "/xmlrpc/2/common")
        self.uid = common.authenticate(db, "admin", "admin", {})
        assert self.uid, "admin/admin cannot log in on %s" % db

    def call(self, model, method, *args, **kwargs):
        proxy = xmlrpc.client.ServerProxy(
            self.server.url + "/xmlrpc/2/object", allow_none=True
        )
        return proxy.execute_kw(
            self.db, self.uid, "admin", model, method, list(args), kwargs
        )

    def delay(self, method_name, args=(), kwargs=None, options=None, login=JOB_USER):
        return self.call(
            "test.queue.job.compat",
            "compat_delay",
            method_name,
            list(args),
            kwargs or {},
            options or {},
            login,
        )

    def query(self, sql, params=()):
        with closing(psycopg2.connect(**self.connect_kwargs)) as conn:
            conn.autocommit = True
            with conn.cursor() as cr:
                cr.execute(sql, params)
                columns = [c.name for c in cr.description]
                return [dict(zip(columns, row)) for row in cr.fetchall()]

    def job(self, job_uuid):
        rows = self.query(
            "SELECT id, state, retry, max_retries, worker_pid, user_id, result,"
            " exc_name, additional_info, loaded_additional_info"
            " FROM queue_job WHERE uuid = %s",
            (job_uuid,),
        )
        return rows[0] if rows else None

    def logs(self, job_uuid, kind):
        return self.query(
            "SELECT state, info FROM test_queue_job_compat_log"
            " WHERE job_uuid = %s AND kind = %s ORDER BY id",
            (job_uuid, kind),
        )

    def states_logged(self, job_uuid, kind):
        return [row["state"] for row in self.logs(job_uuid, kind)]

    def wait_for(self, what, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(
            "%s not seen within %ss; server log:\n%s"
            % (what, timeout, self.server.log_tail(60))
        )

    def wait_state(self, job_uuid, states=FINAL_STATES, timeout=60):
        self.wait_for(
            "job %s in %s" % (job_uuid, states),
            lambda: (self.job(job_uuid) or {}).get("state") in states,
            timeout,
        )
        return self.job(job_uuid)

    def failure_messages(self, job_id):
        return self.query(
            "SELECT m.author_id FROM mail_message m"
            " JOIN ir_model_data d ON d.model = 'mail.message.subtype'"
            "  AND d.res_id = m.subtype_id"
            "  AND d.module = 'queue_job' AND d.name = 'mt_job_failed'"
            " WHERE m.model = 'queue.job' AND m.res_id = %s",
            (job_id,),
        )

    def follower_partners(self, job_id):
        rows = self.query(
            "SELECT partner_id FROM mail_followers"
            " WHERE res_model = 'queue.job' AND res_id = %s",
            (job_id,),
        )
        return {row["partner_id"] for row in rows}


class AutomationRule:
    """A ``base.automation`` rule on ``queue.job`` writing a log row per
    job, created and changed while the server runs."""

    CODE = (
        "for rec in records:\n"
        "    env['test.queue.job.compat.log'].sudo().create("
        "{'kind': 'automation', 'job_uuid': rec.uuid, 'state': rec.state})\n"
    )

    def __init__(self, client):
        self.client = client
        self.rule_id = None
        self.trigger = None

    def create_on_create(self):
        model_id = self.client.call(
            "ir.model", "search", [("model", "=", "queue.job")]
        )[0]
        self.rule_id = self.client.call(
            "base.automation",
            "create",
            {
                "name": "compat: log queue jobs",
                "model_id": model_id,
                "trigger": "on_create",
                "state": "code",
                "code": self.CODE,
            },
        )
        self.trigger = "on_create"

    def switch_to_on_write(self):
        state_field = self.client.call(
            "ir.model.fields",
            "search",
            [("model", "=", "queue.job"), ("name", "=", "state")],
        )
        self.client.call(
            "base.automation",
            "write",
            [self.rule_id],
            {"trigger": "on_write", "trigger_field_ids": [(6, 0, state_field)]},
        )
        self.trigger = "on_write"

    def ensure_on_write(self):
        if self.rule_id is None:
            self.create_on_create()
        if self.trigger != "on_write":
            self.switch_to_on_write()

    def remove(self):
        if self.rule_id is not None:
            self.client.call("base.automation", "unlink", [self.rule_id])


@pytest.fixture(scope="class", params=["fast_paths_on", "fast_paths_off"])
def compat_server(request, compat_db, addons_path):
    env = {"ODOO_QUEUE_JOB_FAST_PATHS": "0"} if request.param.endswith("off") else {}
    server = OdooServer(
        db=compat_db,
        addons_path=addons_path,
        workers=2,
        load="web,queue_job",
        env=env,
        name="compat-%s" % request.param,
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="class")
def client(compat_server, compat_db, odoo):
    return Client(compat_server, compat_db, odoo)


@pytest.fixture(scope="class")
def job_user(client):
    return client.call("test.queue.job.compat", "compat_ensure_user", JOB_USER)


@pytest.fixture(scope="class")
def automation(client):
    rule = AutomationRule(client)
    yield rule
    rule.remove()


@pytest.mark.timeout(900)
class TestCompatEndToEnd:
    def test_store_hooks_see_python_values_and_all_stored_values(
        self, client, job_user
    ):
        job_uuid = client.delay("do_work", [4], {"factor": 3}, {"priority": 6})
        row = client.wait_state(job_uuid)
        assert row["state"] == "done", (row, client.server.log_tail(60))
        assert row["result"] == "worked 12"
        assert row["user_id"] == job_user["id"]
        (created,) = client.logs(job_uuid, "create")
        info = json.loads(created["info"])
        assert (info["records"], info["args"], info["kwargs"]) == (
            "recordset",
            "tuple",
            "dict",
        ), info
        writes = client.logs(job_uuid, "write")
        assert [w["state"] for w in writes][-2:] == ["started", "done"], writes
        assert all(json.loads(w["info"]) == {"priority": 6} for w in writes), writes
        # the column filled by _job_store_values, read back by the patched
        # Job._load_from_db_record when runjob loaded the job
        assert row["additional_info"] == "compat:do_work"
        assert row["loaded_additional_info"] == "compat:do_work"
        (worked,) = client.logs(job_uuid, "do_work")
        assert json.loads(worked["info"]) == [4, 3, job_user["id"]]

    def test_failed_job_message_by_the_job_user(self, client, job_user):
        job_uuid = client.delay("fail_work", ["compat failure"])
        row = client.wait_state(job_uuid)
        assert row["state"] == "failed", (row, client.server.log_tail(60))
        assert client.states_logged(job_uuid, "write")[-1] == "failed"
        assert len(client.logs(job_uuid, "message_post_on_failure")) == 1
        messages = client.failure_messages(row["id"])
        assert [m["author_id"] for m in messages] == [job_user["partner_id"]]
        assert job_user["partner_id"] in client.follower_partners(row["id"])

    def test_automation_rule_changed_while_the_server_runs(self, client, automation):
        # jobs stored before the rule exists
        warm = client.delay("do_work", [1])
        assert client.wait_state(warm)["state"] == "done"
        assert client.logs(warm, "automation") == []

        automation.create_on_create()
        first = client.delay("do_work", [2])
        assert client.wait_state(first)["state"] == "done"
        assert client.states_logged(first, "automation") == ["pending"]

        automation.switch_to_on_write()
        later = client.delay("do_work", [3])
        assert client.wait_state(later)["state"] == "done"
        states = client.states_logged(later, "automation")
        assert "pending" not in states, states  # no more on creation
        assert states[-2:] == ["started", "done"], states

    def _run_and_kill(self, client, job_uuid):
        row = client.wait_for(
            "job %s started with its sleep mark" % job_uuid,
            lambda: client.logs(job_uuid, "sleep")
            and (client.job(job_uuid) or {}).get("state") == "started"
            and client.job(job_uuid),
        )
        pid = row["worker_pid"]
        assert pid in client.server.child_pids(), (pid, client.server.child_pids())
        os.kill(pid, signal.SIGKILL)
        return row

    def test_killed_worker_requeue_and_failure_seen_by_overrides(
        self, client, job_user, automation
    ):
        automation.ensure_on_write()
        # retries left: requeued, then done on the second try
        retried = client.delay("sleep_once", [120], options={"max_retries": 3})
        self._run_and_kill(client, retried)
        client.wait_for(
            "job %s requeued" % retried,
            lambda: (client.job(retried) or {}).get("retry", 0) >= 1
            and client.job(retried)["state"] != "started",
        )
        row = client.wait_state(retried)
        assert row["state"] == "done", (row, client.server.log_tail(60))
        assert row["result"] == "woke"
        assert "pending" in client.states_logged(retried, "write")
        assert "pending" in client.states_logged(retried, "automation")

        # no retry left: failed, with the failure message and followers
        failed = client.delay("sleep_once", [120], options={"max_retries": 1})
        self._run_and_kill(client, failed)
        row = client.wait_state(failed)
        assert row["state"] == "failed", (row, client.server.log_tail(60))
        assert client.states_logged(failed, "write")[-1] == "failed"
        assert client.states_logged(failed, "automation")[-1] == "failed"
        assert len(client.logs(failed, "message_post_on_failure")) == 1
        messages = client.failure_messages(row["id"])
        assert [m["author_id"] for m in messages] == [job_user["partner_id"]]
        assert job_user["partner_id"] in client.follower_partners(row["id"])

    def test_job_started_outside_runjob_is_not_requeued(self, client, job_user):
        seconds = 8
        # an eta keeps the runner from running it itself
        job_uuid = client.delay(
            "commit_while_running", [seconds], options={"eta": 3600}
        )
        outcome = {}

        def run_like_cron():
            try:
                outcome["result"] = client.call(
                    "test.queue.job.compat", "compat_run_like_cron", job_uuid
                )
            except xmlrpc.client.Fault as exc:  # reported by the assertion below
                outcome["error"] = exc.faultString[-3000:]

        thread = threading.Thread(target=run_like_cron, daemon=True)
        thread.start()
        seen = []
        deadline = time.monotonic() + 90
        while thread.is_alive() and time.monotonic() < deadline:
            state = client.job(job_uuid)["state"]
            if not seen or seen[-1] != state:
                seen.append(state)
            time.sleep(0.2)
        thread.join(5)
        assert not thread.is_alive(), "the cron-like run did not end"
        assert outcome.get("result") is True, (outcome, client.server.log_tail(60))
        row = client.job(job_uuid)
        seen.append(row["state"])
        started_at = seen.index("started") if "started" in seen else 0
        after_start = set(seen[started_at:])
        assert after_start <= {"started", "done"}, seen
        assert row["state"] == "done"
        assert row["retry"] == 1, row
        assert len(client.logs(job_uuid, "tick")) == seconds
        assert "pending" not in client.states_logged(job_uuid, "write")
