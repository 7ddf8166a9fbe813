"""Locate the Odoo 15.0 runtime and PostgreSQL the test suite runs against.

The project only *requires* an Odoo 15.0: the suite uses whatever ``odoo``
package the running Python imports, and fails loudly (never skips) when there
is none, or when PostgreSQL cannot be reached.
"""
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_ADDONS_DIR = REPO_ROOT / "tests" / "addons"
BUILD_DIR = Path(os.environ.get("QUEUE_JOB_BUILD_DIR", REPO_ROOT / "build"))

# Odoo's command line entry point, independent of how Odoo was installed
# (pip, editable checkout, or a bare source tree on PYTHONPATH).
ODOO_COMMAND = [
    sys.executable,
    str(Path(__file__).resolve().parent / "odoo_launcher.py"),
]


class RuntimeMissing(Exception):
    """Odoo 15.0 or PostgreSQL is not usable from this Python."""


def import_odoo():
    try:
        import odoo  # noqa: F401
        import odoo.release
    except ImportError as exc:
        raise RuntimeMissing(
            "Odoo 15.0 is not importable from %s (%s). Run the suite with the "
            "Python of an Odoo 15.0 installation (e.g. a virtualenv where "
            "`pip install -e <odoo-15.0-source>` was run), or put the Odoo "
            "source tree on PYTHONPATH." % (sys.executable, exc)
        ) from exc
    if odoo.release.version_info[0] != 15:
        raise RuntimeMissing(
            "Odoo %s found at %s, but queue_job targets Odoo 15.0."
            % (odoo.release.version, odoo.__file__)
        )
    return odoo


def odoo_addons_paths(odoo):
    """Addons directories: Odoo's own, then this repository's.

    ``ODOO_ADDONS_PATH`` (comma separated) replaces the autodetected Odoo part,
    for installations where the standard addons live elsewhere.
    """
    configured = os.environ.get("ODOO_ADDONS_PATH")
    if configured:
        paths = [p.strip() for p in configured.split(",") if p.strip()]
    else:
        odoo_dir = Path(odoo.__file__).resolve().parent
        paths = [str(odoo_dir / "addons")]
        community = odoo_dir.parent / "addons"
        if (community / "mail").is_dir():
            paths.append(str(community))
    for path in paths:
        if not Path(path).is_dir():
            raise RuntimeMissing("Addons path %s does not exist" % path)
    if not any((Path(p) / "mail").is_dir() for p in paths):
        raise RuntimeMissing(
            "The Odoo addon 'mail' is not on the addons path %s; set "
            "ODOO_ADDONS_PATH to Odoo's addons directories." % ",".join(paths)
        )
    return paths + [str(REPO_ROOT), str(TEST_ADDONS_DIR)]


def check_postgresql(odoo):
    import psycopg2

    try:
        conn = psycopg2.connect(**postgres_connect_kwargs(odoo, "postgres"))
    except psycopg2.OperationalError as exc:
        raise RuntimeMissing(
            "PostgreSQL is not reachable (%s). Start it (e.g. `pg_ctlcluster "
            "15 main start`) and make sure the current OS user has a "
            "superuser role (`createuser -s $USER` as postgres)." % exc
        ) from exc
    conn.close()


def postgres_connect_kwargs(odoo, dbname):
    config = odoo.tools.config
    kwargs = {"dbname": dbname}
    for key, option in (
        ("host", "db_host"),
        ("port", "db_port"),
        ("user", "db_user"),
        ("password", "db_password"),
    ):
        if config.get(option):
            kwargs[key] = config[option]
    return kwargs
