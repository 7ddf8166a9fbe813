"""A private PostgreSQL cluster that a test may stop and restart at will.

Never the machine's main cluster: a new one is created (``initdb``) in a
temporary directory, listens only on a Unix socket of that directory, on a
free port number, and is removed at the end. Its server runs as the
``postgres`` system user (PostgreSQL refuses root); the current user gets a
superuser role of its name, so that ``psycopg2.connect(**cluster.params())``
works as with the main cluster (trust authentication, local socket only).
"""
import getpass
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from contextlib import closing

from .server import free_port

PG_BIN = os.environ.get("QUEUE_JOB_TEST_PG_BIN", "/usr/lib/postgresql/15/bin")
SERVER_USER = "postgres"


class PrivateCluster:
    def __init__(self, prefix="qjhard_pg_"):
        self.base = tempfile.mkdtemp(prefix=prefix)
        self.data = os.path.join(self.base, "data")
        self.socket_dir = self.base
        self.log_path = os.path.join(self.base, "postgresql.log")
        self.port = free_port()
        self.user = getpass.getuser()

    def _as_server_user(self, *args, check=True):
        command = [os.path.join(PG_BIN, args[0])] + list(args[1:])
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--"] + command
        return subprocess.run(
            command,
            check=check,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
        )

    def params(self, dbname="postgres"):
        """psycopg2 connection parameters (as the current user)."""
        return {
            "host": self.socket_dir,
            "port": self.port,
            "user": self.user,
            "dbname": dbname,
        }

    def odoo_args(self):
        """Odoo command line options pointing a server at this cluster."""
        return [
            "--db_host=%s" % self.socket_dir,
            "--db_port=%s" % self.port,
            "--db_user=%s" % self.user,
        ]

    def create(self):
        if os.geteuid() == 0:
            server_user = pwd.getpwnam(SERVER_USER)
            os.chown(self.base, server_user.pw_uid, server_user.pw_gid)
        self._as_server_user(
            "initdb",
            "-D",
            self.data,
            "-U",
            SERVER_USER,
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        self.start()
        if self.user != SERVER_USER:
            import psycopg2

            params = dict(self.params(), user=SERVER_USER)
            with closing(psycopg2.connect(**params)) as conn:
                conn.autocommit = True
                with conn.cursor() as cr:
                    cr.execute('CREATE ROLE "%s" SUPERUSER LOGIN' % self.user)
        return self

    def start(self, wait=True):
        options = (
            "-p %d -k %s -c listen_addresses='' -c fsync=off"
            " -c full_page_writes=off -c max_connections=100"
            % (self.port, self.socket_dir)
        )
        self._as_server_user(
            "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.log_path,
            "-o",
            options,
            "-w" if wait else "-W",
            "start",
        )

    def stop(self, mode="fast"):
        """Stop the server (``fast``: sessions are cut, as a restart does)."""
        self._as_server_user("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def accepts_connections(self):
        import psycopg2

        try:
            psycopg2.connect(connect_timeout=2, **self.params()).close()
        except psycopg2.OperationalError:
            return False
        return True

    def wait_accepting(self, timeout=60):
        """Wait until a connection succeeds; return ``time.time()`` then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.accepts_connections():
                return time.time()
            time.sleep(0.02)
        raise RuntimeError("private cluster not accepting connections")

    def destroy(self):
        self._as_server_user(
            "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False
        )
        shutil.rmtree(self.base, ignore_errors=True)
