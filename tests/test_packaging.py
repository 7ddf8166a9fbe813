"""The addon wheel built from ``setup/queue_job`` (setuptools-odoo layout).

The wheel is built the way an integrator builds it (``pip wheel`` in an
isolated build environment), inspected, then installed into a throwaway
virtualenv layered on the Odoo 15.0 environment running the suite: the addon
must be importable from the wheel and Odoo must install it in a database with
an addons path that does not contain this repository.

setuptools-odoo takes the addon's files from git (``git ls-files``): the
wheel holds what is committed, so the expected contents come from git too.
"""
import ast
import email.parser
import os
import re
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from harness import database
from harness.odoo_runtime import BUILD_DIR, REPO_ROOT, TEST_ADDONS_DIR
from packaging.requirements import Requirement

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

SETUP_DIR = REPO_ROOT / "setup" / "queue_job"
ADDON_DIR = REPO_ROOT / "queue_job"
PREFIX = "odoo/addons/queue_job/"


def _run(command, **kwargs):
    result = subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs
    )
    assert result.returncode == 0, "%s failed (exit %s):\n%s" % (
        " ".join(str(c) for c in command),
        result.returncode,
        result.stdout[-6000:],
    )
    return result.stdout


def _manifest():
    return ast.literal_eval((ADDON_DIR / "__manifest__.py").read_text())


@pytest.fixture(scope="module")
def wheel_path(tmp_path_factory):
    # setuptools reuses build/ between builds: stale files would end up in
    # the wheel, so every build starts clean.
    for leftover in [SETUP_DIR / "build"] + list(SETUP_DIR.glob("*.egg-info")):
        shutil.rmtree(str(leftover), ignore_errors=True)
    out_dir = tmp_path_factory.mktemp("wheel")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out_dir)]
        + [str(SETUP_DIR)],
        cwd=str(REPO_ROOT),
    )
    for leftover in [SETUP_DIR / "build"] + list(SETUP_DIR.glob("*.egg-info")):
        shutil.rmtree(str(leftover), ignore_errors=True)
    wheels = sorted(out_dir.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel_names(wheel_path):
    with zipfile.ZipFile(str(wheel_path)) as archive:
        return set(archive.namelist())


@pytest.fixture(scope="module")
def wheel_metadata(wheel_path):
    with zipfile.ZipFile(str(wheel_path)) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(archive.read(name).decode())


def _git_files(path):
    try:
        out = subprocess.run(
            ["git", "ls-files", "--", str(path)],
            cwd=str(REPO_ROOT),
            stdout=subprocess.PIPE,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(
            "The wheel is built from a git checkout (setuptools-odoo lists the "
            "addon's files with git) and this is not one: %s" % exc
        )
    return [Path(line).relative_to("queue_job").as_posix() for line in out.split()]


def test_wheel_is_named_after_the_addon_and_its_version(wheel_path):
    version = _manifest()["version"]
    assert wheel_path.name.startswith("odoo_addon_queue_job-15.0."), wheel_path.name
    assert wheel_path.name.endswith("-py3-none-any.whl"), wheel_path.name
    wheel_version = wheel_path.name.split("-")[1]
    # When the addon changed after the last bump of the manifest version,
    # setuptools-odoo appends the number of those commits (.N for 15.0).
    assert re.match(r"^%s(\.\d+)?$" % re.escape(version), wheel_version), (
        wheel_version,
        version,
    )


def test_wheel_requires_odoo_15_and_the_external_dependencies(wheel_metadata):
    assert wheel_metadata["Name"].replace("_", "-") == "odoo-addon-queue-job"
    requirements = {}
    for line in wheel_metadata.get_all("Requires-Dist"):
        requirement = Requirement(line)
        requirements[requirement.name.lower()] = requirement
    assert set(requirements) == {"odoo", "requests"}
    odoo_range = requirements["odoo"].specifier
    for accepted in ("15.0", "15.0.0", "15.0.20231010"):
        assert odoo_range.contains(accepted, prereleases=True), accepted
    for refused in ("14.0", "15.1", "16.0"):
        assert not odoo_range.contains(refused, prereleases=True), refused
    assert "Framework :: Odoo :: 15.0" in wheel_metadata.get_all("Classifier")


def test_wheel_holds_every_committed_file_of_the_addon(wheel_names):
    committed = _git_files(ADDON_DIR)
    missing = [f for f in committed if PREFIX + f not in wheel_names]
    assert not missing, "committed files missing from the wheel: %s" % missing
    manifest = _manifest()
    needed = list(manifest["data"]) + ["__init__.py", "__manifest__.py"]
    for bundle_files in manifest.get("assets", {}).values():
        needed.extend(path.split("/queue_job/", 1)[1] for path in bundle_files)
    absent = [f for f in needed if PREFIX + f not in wheel_names]
    assert not absent, "data files or assets missing from the wheel: %s" % absent
    python_files = [n for n in wheel_names if n.endswith(".py")]
    assert len(python_files) >= 10, python_files


def test_wheel_holds_nothing_but_the_addon(wheel_names):
    stray = [
        name
        for name in wheel_names
        if not name.startswith(PREFIX) and ".dist-info/" not in name
    ]
    assert not stray, stray
    assert not [n for n in wheel_names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in wheel_names if "test_queue_job" in n]


@pytest.fixture(scope="module")
def wheel_venv(wheel_path, tmp_path_factory):
    """A virtualenv seeing the running Odoo environment, with the wheel installed.

    ``venv --system-site-packages`` exposes the *base* interpreter's
    site-packages, not those of a virtualenv Odoo may live in, so the Odoo
    environment is layered in with ``site.addsitedir`` (which also runs its
    ``.pth`` files, e.g. an editable Odoo install).
    """
    root = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(str(root))
    python = root / "bin" / "python"
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    ).strip()
    odoo_sites = [p for p in site.getsitepackages() if os.path.isdir(p)]
    Path(purelib, "odoo_environment.pth").write_text(
        "import site; list(map(site.addsitedir, %r))\n" % odoo_sites
    )
    # --no-index: the wheel's requirements must be met by the Odoo
    # environment itself, nothing is downloaded.
    output = _run(
        [str(python), "-m", "pip", "install", "--no-index", str(wheel_path)],
        cwd=str(root),
    )
    installed = [
        line.split()[2:]
        for line in output.splitlines()
        if line.startswith("Successfully installed")
    ]
    assert len(installed) == 1 and len(installed[0]) == 1, output
    assert installed[0][0].replace("_", "-").startswith("odoo-addon-queue-job-15.0.")
    return root, Path(purelib)


def _clean_env():
    env = dict(os.environ)
    # Nothing of this repository must leak in through the environment.
    env.pop("PYTHONPATH", None)
    return env


def _odoo_only_addons_path(addons_path):
    """Odoo's own addons directories: none of this repository's."""
    return [
        p for p in addons_path if Path(p).resolve() not in (REPO_ROOT, TEST_ADDONS_DIR)
    ]


def test_addon_is_importable_from_the_installed_wheel(wheel_venv, addons_path):
    root, purelib = wheel_venv
    # Odoo's standard addons (mail, base_sparse_field, ...) may live outside
    # the odoo package (source checkouts): Odoo finds them, and the wheel's
    # addon, once its addons path is configured.
    script = (
        "import sys, odoo, odoo.release; from odoo.modules import module;"
        "odoo.tools.config.parse_config(sys.argv[1:]);"
        "module.initialize_sys_path();"
        "import odoo.addons.queue_job as addon;"
        "print(module.get_module_path('queue_job'));"
        "print(addon.__file__); print(odoo.release.version_info[0])"
    )
    output = _run(
        [str(root / "bin" / "python"), "-c", script]
        + ["--addons-path=%s" % ",".join(_odoo_only_addons_path(addons_path))],
        cwd=str(root),
        env=_clean_env(),
    )
    module_path, addon_file, odoo_major = output.split()[-3:]
    installed = purelib / "odoo" / "addons" / "queue_job"
    assert Path(module_path).resolve() == installed.resolve()
    assert Path(addon_file).resolve() == (installed / "__init__.py").resolve()
    assert odoo_major == "15"


def test_odoo_installs_the_addon_from_the_wheel(wheel_venv, odoo, addons_path):
    root, purelib = wheel_venv
    odoo_paths = _odoo_only_addons_path(addons_path)
    db_name = database.unique_db_name("qjwheel")
    log_dir = Path(BUILD_DIR) / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / ("%s-install.log" % db_name)
    python = str(root / "bin" / "python")
    options = [
        "--addons-path=%s" % ",".join(odoo_paths),
        "--database=%s" % db_name,
        "--db-filter=^%s$" % db_name,
    ]
    try:
        _run(
            [python, "-c", "import odoo.cli; odoo.cli.main()", "server"]
            + options
            + [
                "--init=queue_job",
                "--without-demo=all",
                "--stop-after-init",
                "--http-port=0",
                "--max-cron-threads=0",
                "--workers=0",
                "--log-level=warn",
                "--logfile=%s" % log_path,
            ],
            cwd=str(root),
            env=_clean_env(),
        )
        log = log_path.read_text(errors="replace")
        assert " ERROR " not in log and " CRITICAL " not in log, log[-4000:]
        with database.committed_env(odoo, db_name) as env:
            module = env["ir.module.module"].search([("name", "=", "queue_job")])
            assert module.state == "installed"
            env.cr.execute("SELECT count(*) FROM queue_job")
            assert env.cr.fetchone() == (0,)
            # The install hook ran from the wheel (its SQL file is packaged).
            env.cr.execute(
                "SELECT count(*) FROM information_schema.triggers"
                " WHERE trigger_name = 'queue_job_notify'"
            )
            assert env.cr.fetchone()[0] >= 1
    finally:
        database.drop_database(odoo, db_name)


def test_root_project_installs_the_addons_python_requirements(tmp_path):
    """``pip install .`` at the root brings every external Python dependency
    declared by the addons' manifests (requirements.txt kept in sync)."""
    out_dir = tmp_path / "root-wheel"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out_dir)]
        + [str(REPO_ROOT)],
        cwd=str(tmp_path),
    )
    (wheel,) = out_dir.glob("*.whl")
    with zipfile.ZipFile(str(wheel)) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(name).decode())
    required = {
        Requirement(line).name.lower()
        for line in metadata.get_all("Requires-Dist")
        if "extra ==" not in line
    }
    declared = {
        dependency.lower()
        for dependency in _manifest()["external_dependencies"]["python"]
    }
    assert declared and declared <= required, (declared, required)
