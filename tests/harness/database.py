"""Create and drop the scratch databases the suite runs on.

Databases are created with Odoo's own command line (``-i ... --stop-after-init``)
so that installing the addon is exercised exactly as an administrator does it.
"""
import os
import subprocess
import time
from contextlib import closing, contextmanager
from pathlib import Path

from .odoo_runtime import BUILD_DIR, ODOO_COMMAND, postgres_connect_kwargs

# the test suite's database; the benchmark's has no override of runjob
BENCHMARK_MODULES = ("queue_job", "test_queue_job")
DEFAULT_MODULES = BENCHMARK_MODULES + ("test_queue_job_runjob",)


def unique_db_name(prefix="qjt"):
    return "%s_%s_%s" % (prefix, os.getpid(), int(time.time() * 1000) % 10**8)


def _admin_connection(odoo):
    import psycopg2

    conn = psycopg2.connect(**postgres_connect_kwargs(odoo, "postgres"))
    conn.autocommit = True
    return conn


def database_exists(odoo, name):
    with closing(_admin_connection(odoo)) as conn, conn.cursor() as cr:
        cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return bool(cr.fetchone())


def install_modules(
    odoo, name, addons_path, modules=DEFAULT_MODULES, update=False, extra_args=()
):
    """Install (or update) ``modules`` in database ``name`` with Odoo's CLI
    (``extra_args``: more options, e.g. ``--db_port`` of another cluster)."""
    log_dir = Path(BUILD_DIR) / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / ("%s-install.log" % name)
    command = (
        ODOO_COMMAND
        + [
            "server",
            "--addons-path=%s" % ",".join(addons_path),
            "--database=%s" % name,
            "--db-filter=^%s$" % name,
            "--%s=%s" % ("update" if update else "init", ",".join(modules)),
            "--without-demo=all",
            "--stop-after-init",
            "--http-port=0",
            "--max-cron-threads=0",
            "--workers=0",
            "--log-level=warn",
            "--logfile=%s" % log_path,
        ]
        + list(extra_args)
    )
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    if result.returncode != 0 or " ERROR " in log or " CRITICAL " in log:
        raise RuntimeError(
            "Installing %s in database %s failed (exit %s); log %s:\n%s\n%s"
            % (
                ",".join(modules),
                name,
                result.returncode,
                log_path,
                log[-6000:],
                result.stdout.decode(errors="replace")[-2000:],
            )
        )


def create_database(odoo, name, addons_path, modules=DEFAULT_MODULES):
    install_modules(odoo, name, addons_path, modules)
    return name


def terminate_connections(odoo, name):
    with closing(_admin_connection(odoo)) as conn, conn.cursor() as cr:
        cr.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


def drop_database(odoo, name):
    """Drop ``name``, closing this process's and other clients' connections."""
    import odoo.sql_db

    odoo.sql_db.close_db(name)
    if odoo.modules.registry.Registry.registries.get(name) is not None:
        odoo.modules.registry.Registry.delete(name)
    for _attempt in range(20):
        terminate_connections(odoo, name)
        try:
            with closing(_admin_connection(odoo)) as conn, conn.cursor() as cr:
                cr.execute('DROP DATABASE IF EXISTS "%s"' % name)
            return
        except Exception:  # still in use by a backend that is exiting
            time.sleep(0.5)
    raise RuntimeError("Could not drop database %s" % name)


@contextmanager
def committed_env(odoo, db, uid=None, context=None):
    """An environment on a fresh cursor of ``db``, committed on success.

    For end-to-end tests: what is written here is visible to other processes
    (Odoo servers, job runners) once the block exits.
    """
    registry = odoo.registry(db)
    with registry.cursor() as cr:
        yield odoo.api.Environment(cr, uid or odoo.SUPERUSER_ID, context or {})
