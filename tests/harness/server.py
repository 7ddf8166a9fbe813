"""Start real Odoo servers (prefork or threaded) for end-to-end tests.

Each server gets its own free ports, its own log file under ``build/`` and its
own process group, so that a test can kill it (or a single worker) and the
fixture can always clean up every process it started.
"""
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .odoo_runtime import BUILD_DIR, ODOO_COMMAND


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OdooServer:
    """One ``odoo`` server process bound to 127.0.0.1 on a free port.

    ``workers=0`` runs the threaded server; ``workers>0`` the prefork server.
    ``load`` is the server-wide module list (``--load``); pass ``"web"`` for a
    server without the job runner. ``env`` entries are added to the process
    environment (e.g. ``ODOO_QUEUE_JOB_CHANNELS``). The database list of the
    server is restricted to ``db`` (``-d``/``--db-filter``) so that its runner
    never touches the databases of other test sessions.

    To test how Odoo finds databases by itself, ``pass_database=False``
    leaves ``--database`` out (Odoo then lists the databases its database
    user owns: pass a dedicated user in ``extra_args``), ``db_filter``
    replaces the filter, and ``ready_path`` the page probed for readiness.
    """

    def __init__(
        self,
        db,
        addons_path,
        workers=2,
        load="web,queue_job",
        env=None,
        extra_args=(),
        name="server",
        port=None,
        databases=None,
        db_filter=None,
        pass_database=True,
        ready_path=None,
    ):
        self.db = db
        self.addons_path = addons_path
        self.workers = workers
        self.load = load
        self.env = dict(env or {})
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.longpolling_port = free_port()
        self.databases = databases or [db]
        self.db_filter = db_filter or "^(%s)$" % "|".join(self.databases)
        self.pass_database = pass_database
        self.ready_path = ready_path or "/web/login?db=%s" % db
        log_dir = Path(BUILD_DIR) / "test-logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%H%M%S")
        self.log_path = log_dir / ("%s-%s-%s-%s.log" % (db, name, stamp, self.port))
        self.process = None

    @property
    def url(self):
        return "http://127.0.0.1:%s" % self.port

    def command(self):
        args = ODOO_COMMAND + [
            "server",
            "--addons-path=%s" % ",".join(self.addons_path),
        ]
        if self.pass_database:
            args.append("--database=%s" % ",".join(self.databases))
        args += [
            "--db-filter=%s" % self.db_filter,
            "--http-interface=127.0.0.1",
            "--http-port=%s" % self.port,
            "--longpolling-port=%s" % self.longpolling_port,
            "--workers=%s" % self.workers,
            "--max-cron-threads=0",
            "--load=%s" % self.load,
            "--logfile=%s" % self.log_path,
            "--log-level=info",
            "--without-demo=all",
            "--limit-time-real=120",
            "--limit-time-cpu=60",
            "--no-database-list",
        ]
        return args + self.extra_args

    def start(self, wait=True, timeout=90):
        env = dict(os.environ)
        env.update(self.env)
        self.process = subprocess.Popen(
            self.command(),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(str(self.log_path) + ".stderr", "wb"),
            start_new_session=True,
        )
        if wait:
            self.wait_ready(timeout=timeout)
        return self

    def wait_ready(self, timeout=90):
        """Wait until the database's registry answers HTTP requests."""
        deadline = time.monotonic() + timeout
        url = self.url + self.ready_path
        last_error = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "Odoo server exited with %s, see %s:\n%s"
                    % (self.process.returncode, self.log_path, self.log_tail())
                )
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last_error = exc
            time.sleep(0.2)
        raise RuntimeError(
            "Odoo server not ready after %ss (%s), see %s:\n%s"
            % (timeout, last_error, self.log_path, self.log_tail())
        )

    def get(self, path, timeout=30, headers=None):
        """GET ``path``; return ``(status, body text)`` whatever the status."""
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def log_text(self):
        try:
            return Path(self.log_path).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        text = self.log_text()
        stderr = Path(str(self.log_path) + ".stderr")
        if stderr.exists():
            text += stderr.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_for_log(self, needle, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_text():
                return True
            time.sleep(0.1)
        raise AssertionError(
            "%r not logged within %ss; log tail:\n%s"
            % (needle, timeout, self.log_tail())
        )

    def child_pids(self):
        """PIDs of the processes of the server's process group but the master."""
        if not self.process:
            return []
        pgid = self.process.pid
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.getpgid(int(entry)) == pgid and int(entry) != pgid:
                    pids.append(int(entry))
            except ProcessLookupError:
                continue
        return pids

    def kill(self, sig=signal.SIGKILL):
        """Signal the whole process group (master, workers, runner)."""
        if self.process and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout=20):
        if not self.process:
            return
        if self.process.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # Workers may outlive a killed master: clean the group in any case.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
