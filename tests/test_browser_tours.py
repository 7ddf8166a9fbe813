"""Browser tours of the Job Queue screens, run by Odoo's own test runner.

Odoo's ``HttpCase`` needs Odoo's HTTP server in the same process as the test,
which the in-process harness does not start; so Odoo itself runs the tours of
the addon ``test_queue_job_ui`` (``--test-enable --test-tags``) on a scratch
database, driving headless Chromium, and this test reads the outcome from its
log. Screenshots of the main screens are left in ``build/screenshots``.
"""
import ast
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from harness import database
from harness.odoo_runtime import BUILD_DIR, ODOO_COMMAND, TEST_ADDONS_DIR
from harness.server import free_port

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

UI_ADDON = "test_queue_job_ui"
TOURS_MODULE = TEST_ADDONS_DIR / UI_ADDON / "tests" / "test_tours.py"
SCREENSHOTS = (
    "jobs_list",
    "job_form",
    "job_graph",
    "job_graph_large",
    "wizard_requeue",
    "channels",
    "channel_form",
    "channels_paused",
    "channel_form_paused",
    "jobs_list_paused",
    "job_functions",
    "job_function_form",
    "overview",
    "overview_runner_down",
)
RESULT_LINE = re.compile(
    r"(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database"
)


def _tour_test_names():
    tree = ast.parse(TOURS_MODULE.read_text())
    return [
        "%s.%s" % (node.name, item.name)
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, ast.FunctionDef) and item.name.startswith("test_")
    ]


def _problems(log):
    return "\n".join(
        line
        for line in log.splitlines()
        if " ERROR " in line or " CRITICAL " in line or "FAIL:" in line
    )[-8000:]


@pytest.mark.timeout(1800)
def test_browser_tours_pass_in_chromium(odoo, addons_path):
    expected = _tour_test_names()
    assert len(expected) >= 5, expected
    db_name = database.unique_db_name("qjtour")
    log_dir = Path(BUILD_DIR) / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / ("%s-tours.log" % db_name)
    screenshots = Path(BUILD_DIR) / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    started = time.time()
    command = ODOO_COMMAND + [
        "server",
        "--addons-path=%s" % ",".join(addons_path),
        "--database=%s" % db_name,
        "--db-filter=^%s$" % db_name,
        "--init=%s" % UI_ADDON,
        "--without-demo=all",
        "--test-enable",
        "--test-tags=/%s" % UI_ADDON,
        "--stop-after-init",
        "--http-interface=127.0.0.1",
        "--http-port=%s" % free_port(),
        "--longpolling-port=%s" % free_port(),
        "--workers=0",
        "--max-cron-threads=0",
        "--screenshots=%s" % screenshots,
        "--log-level=info",
        "--logfile=%s" % log_path,
    ]
    try:
        result = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=1700,
        )
    finally:
        database.drop_database(odoo, db_name)
        # Odoo's browser helper makes <screenshots>/<db>/screenshots even
        # when nothing failed: keep only the folders holding pictures.
        odoo_shots = screenshots / db_name
        if odoo_shots.is_dir() and not any(odoo_shots.rglob("*.png")):
            shutil.rmtree(str(odoo_shots), ignore_errors=True)
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    output = result.stdout.decode(errors="replace")
    assert result.returncode == 0, "Odoo exited with %s (log %s):\n%s\n%s" % (
        result.returncode,
        log_path,
        _problems(log),
        output[-3000:],
    )
    outcome = RESULT_LINE.findall(log)
    assert outcome, "No test result in the log %s:\n%s" % (log_path, log[-4000:])
    failed, errors, ran = (int(n) for n in outcome[-1])
    assert (failed, errors) == (0, 0), "Tours failed (log %s):\n%s" % (
        log_path,
        _problems(log),
    )
    assert ran == len(expected), "%s tests ran, expected %s: %s" % (
        ran,
        len(expected),
        expected,
    )
    for name in expected:
        assert "Starting %s" % name in log, "%s did not run" % name
    skipped = [
        line
        for line in log.splitlines()
        if "odoo.tests" in line and " skipped " in line
    ]
    assert not skipped, skipped
    assert " ERROR " not in log, _problems(log)
    for name in SCREENSHOTS:
        picture = screenshots / ("%s.png" % name)
        assert picture.is_file(), "screenshot %s not taken" % name
        assert picture.stat().st_mtime >= started, "screenshot %s is stale" % name
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
