"""Stand-ins for the job runner's tests: a tiny HTTP server playing Odoo, and
PostgreSQL databases with just the part of queue_job the runner uses.

The fake databases hold the real ``queue_job_notify`` trigger (read from the
addon's SQL file) on a ``queue_job`` table with the columns the runner reads
and writes, so the runner's SQL, LISTEN and NOTIFY run for real, in a
fraction of the time an Odoo installation takes.
"""
import base64
import http.server
import json
import socketserver
import threading
import time
import uuid as uuid_module
from contextlib import closing
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg2
from odoo.addons.queue_job.lease import acquire_job_lease, release_job_lease
from reliability_helpers import sql

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTIFY_TRIGGER_SQL = REPO_ROOT / "queue_job" / "sql" / "queue_job_notify.sql"
# The runner's heartbeat table and the job counters.
OBSERVABILITY_SQL = REPO_ROOT / "queue_job" / "sql" / "queue_job_observability.sql"

FAKE_SCHEMA = """
CREATE TABLE ir_module_module (name varchar, state varchar);
INSERT INTO ir_module_module VALUES ('base', 'installed'), ('queue_job', 'installed');
CREATE TABLE queue_job (
    id serial PRIMARY KEY,
    uuid varchar NOT NULL,
    state varchar NOT NULL,
    channel varchar,
    priority integer,
    eta timestamp,
    date_created timestamp,
    date_enqueued timestamp,
    date_started timestamp,
    date_done timestamp,
    date_cancelled timestamp,
    retry integer DEFAULT 0,
    max_retries integer DEFAULT 5,
    identity_key varchar,
    graph_uuid varchar,
    worker_pid integer,
    exc_name varchar,
    exc_message varchar,
    exc_info text,
    result text
);
CREATE INDEX queue_job_uuid_index ON queue_job (uuid);
CREATE INDEX queue_job_state_index ON queue_job (state);
"""


def admin_connection():
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    return conn


def create_fake_database(name, with_queue_job=True, with_trigger=True):
    with closing(admin_connection()) as conn, conn.cursor() as cr:
        cr.execute('CREATE DATABASE "%s"' % name)
    if with_queue_job:
        with closing(psycopg2.connect(dbname=name)) as conn, conn.cursor() as cr:
            cr.execute(FAKE_SCHEMA)
            cr.execute(OBSERVABILITY_SQL.read_text())
            if with_trigger:
                cr.execute(NOTIFY_TRIGGER_SQL.read_text())
            conn.commit()
    return name


def install_trigger(name):
    with closing(psycopg2.connect(dbname=name)) as conn, conn.cursor() as cr:
        cr.execute(NOTIFY_TRIGGER_SQL.read_text())
        conn.commit()


def drop_database(name):
    for _attempt in range(40):
        with closing(admin_connection()) as conn, conn.cursor() as cr:
            cr.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            try:
                cr.execute('DROP DATABASE IF EXISTS "%s"' % name)
                return
            except psycopg2.errors.ObjectInUse:
                time.sleep(0.25)
    raise RuntimeError("could not drop %s" % name)


class FakeQueueJobDatabase:
    """Client side of a fake database: insert and inspect jobs."""

    def __init__(self, name):
        self.name = name

    def execute(self, query, args=None):
        return sql(self.name, query, args)

    def add_job(self, channel="root", priority=10, eta_in=None, state="pending"):
        uuid = str(uuid_module.uuid4())
        eta = (
            "now() at time zone 'utc' + interval '%s seconds'" % float(eta_in)
            if eta_in is not None
            else "NULL"
        )
        self.execute(
            "INSERT INTO queue_job (uuid, state, channel, priority, eta, date_created)"
            " VALUES (%%s, %%s, %%s, %%s, %s, now() at time zone 'utc')" % eta,
            (uuid, state, channel, priority),
        )
        return uuid

    def job(self, uuid):
        rows = self.execute(
            "SELECT state, date_enqueued, date_started, date_done"
            " FROM queue_job WHERE uuid = %s",
            (uuid,),
        )
        if not rows:
            return None
        keys = ("state", "date_enqueued", "date_started", "date_done")
        return dict(zip(keys, rows[0]))

    def state(self, uuid):
        job = self.job(uuid)
        return job and job["state"]

    def wait_state(self, uuid, states, timeout=10):
        states = (states,) if isinstance(states, str) else states
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state(uuid)
            if state in states:
                return state
            time.sleep(0.02)
        raise AssertionError(
            "job %s still %s after %ss, expected %s" % (uuid, state, timeout, states)
        )


class FakeOdoo(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Answers ``/queue_job/runjob`` like Odoo's controller, or misbehaves.

    ``behaviour`` (settable per test): ``"run"`` runs the job (enqueued ->
    started -> done, after ``job_duration`` seconds) and answers 200;
    ``pickup_delay`` seconds pass before a request is handled (a request
    waiting in the server's backlog);
    ``"error"`` answers ``error_status`` without touching the job; ``"drop"``
    closes the connection without answering. Executions are recorded in
    ``executions`` (see ``peak_concurrency``). Every request is recorded in
    ``requests`` as ``(db, uuid, headers)`` (but the ``/queue_job/session``
    ones: in ``sessions``, see ``_Handler._session``); ``connections`` counts accepted
    connections. ``keep_alive`` selects HTTP/1.1 keep-alive answers (as a
    proxy gives) rather than HTTP/1.0 ones (as Odoo 15 gives).
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, keep_alive=False):
        handler = _KeepAliveHandler if keep_alive else _Handler
        super().__init__(("127.0.0.1", 0), handler)
        self.behaviour = "run"
        self.error_status = 500
        self.job_duration = 0.0
        self.pickup_delay = 0.0
        self.requests = []
        # /queue_job/session: status to answer, and the requests as
        # (db, session cookie sent or None); not in ``requests``
        self.session_status = 200
        self.sessions = []
        self.executions = []  # (start, end) monotonic times of run jobs
        self.connections = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self):
        return self.server_address[1]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()

    def get_request(self):
        with self.lock:
            self.connections += 1
        return super().get_request()

    def uuids(self):
        with self.lock:
            return [uuid for _db, uuid, _headers in self.requests]

    def wait_requests(self, count, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.01)
        raise AssertionError(
            "%s requests after %ss, expected %s" % (len(self.requests), timeout, count)
        )

    def run_job(self, db, uuid):
        """Run the job as the controller does: started with its lease held."""
        with closing(psycopg2.connect(dbname=db)) as conn:
            with conn.cursor() as cr:
                cr.execute(
                    "UPDATE queue_job SET state = 'started',"
                    " date_started = now() at time zone 'utc'"
                    " WHERE uuid = %s AND state = 'enqueued' RETURNING id",
                    (uuid,),
                )
                rows = cr.fetchall()
                if not rows or not acquire_job_lease(cr, rows[0][0]):
                    conn.rollback()
                    return
                conn.commit()
                started = time.monotonic()
                if self.job_duration:
                    time.sleep(self.job_duration)
                with self.lock:
                    self.executions.append((started, time.monotonic()))
                cr.execute(
                    "UPDATE queue_job SET state = 'done',"
                    " date_done = now() at time zone 'utc' WHERE uuid = %s",
                    (uuid,),
                )
                conn.commit()
                release_job_lease(cr, rows[0][0])

    def peak_concurrency(self):
        """Most job executions that overlapped in time."""
        with self.lock:
            events = sorted(
                [(start, 1) for start, _end in self.executions]
                + [(end, -1) for _start, end in self.executions]
            )
        peak = current = 0
        for _when, delta in events:
            current += delta
            peak = max(peak, current)
        return peak


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        server = self.server
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        db = query.get("db", [None])[0]
        uuid = query.get("job_uuid", [None])[0]
        if url.path == "/queue_job/session":
            self._session(db)
            return
        if server.pickup_delay:
            time.sleep(server.pickup_delay)
        with server.lock:
            server.requests.append((db, uuid, dict(self.headers)))
        behaviour = server.behaviour
        if behaviour == "drop":
            self.close_connection = True
            return
        if behaviour == "error":
            self._answer(server.error_status, b"error page")
            return
        if url.path == "/queue_job/runjob" and db and uuid:
            server.run_job(db, uuid)
        self._answer(200, b"")

    def _session(self, db):
        """Like Odoo's route: the session id (the same one when sent)."""
        server = self.server
        sent = self.headers.get("Cookie")
        with server.lock:
            server.sessions.append((db, sent))
        if server.session_status != 200:
            self._answer(server.session_status, b"not found")
            return
        session_id = sent.split("=", 1)[1] if sent else "sid-%s" % db
        self._answer(200, b"", cookie="session_id=%s; Path=/; HttpOnly" % session_id)

    def _answer(self, status, body, cookie=None):
        self.send_response(status)
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"


def basic_auth_of(headers):
    value = headers.get("Authorization", "")
    if not value.startswith("Basic "):
        return None
    return base64.b64decode(value[6:]).decode()


def notification_payload(db_name, uuid):
    """The JSON payload the trigger would send for the current row."""
    fake = FakeQueueJobDatabase(db_name)
    rows = fake.execute(
        "SELECT json_build_object('uuid', uuid, 'id', id, 'state', state,"
        " 'channel', channel, 'priority', priority,"
        " 'eta', EXTRACT(EPOCH FROM eta),"
        " 'date_created', EXTRACT(EPOCH FROM date_created))::text"
        " FROM queue_job WHERE uuid = %s",
        (uuid,),
    )
    return json.loads(rows[0][0])
