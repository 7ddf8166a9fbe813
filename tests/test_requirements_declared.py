"""Every package the tests and their harness import is declared: Odoo's own
requirements (``.ci/odoo15-requirements.txt``, what ``.ci/install-odoo``
installs), the addon's (``requirements.txt``) or the tests'
(``tests/requirements.txt``). A package installed by hand on a developer's
machine would otherwise pass here and fail on a fresh one."""
import ast
import importlib.metadata
import re
import sys

from harness.odoo_runtime import REPO_ROOT

TESTS = REPO_ROOT / "tests"
REQUIREMENT_FILES = (
    REPO_ROOT / ".ci" / "odoo15-requirements.txt",
    REPO_ROOT / "requirements.txt",
    TESTS / "requirements.txt",
)
# psycopg2 is installed by .ci/install-odoo itself (from source, or the
# binary wheel), not from the pins
INSTALLED_BY_THE_SCRIPT = {"psycopg2", "psycopg2-binary"}


def _normalized(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(text):
    return _normalized(re.split(r"[<>=!~;\[ (]", text.strip(), maxsplit=1)[0])


def declared_distributions(files=REQUIREMENT_FILES):
    """The distributions the requirement ``files`` name, and what they
    require (pip installs those with them)."""
    names = set(INSTALLED_BY_THE_SCRIPT)
    for path in files:
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                names.add(_requirement_name(line))
    todo = list(names)
    while todo:
        try:
            requires = importlib.metadata.requires(todo.pop()) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            name = _requirement_name(requirement)
            if name not in names:
                names.add(name)
                todo.append(name)
    return names


def owners_of(module):
    """The installed distributions providing the top-level ``module``."""
    owners = importlib.metadata.packages_distributions().get(module)
    if owners:
        return {_normalized(name) for name in owners}
    return {
        _normalized(dist.metadata["Name"])
        for dist in importlib.metadata.distributions()
        if any(
            str(f) in ("%s/__init__.py" % module, "%s.py" % module)
            for f in dist.files or ()
        )
    }


def imported_top_level_modules():
    """``{module: file}`` of the absolute imports of the test suite (the test
    addons excluded: Odoo loads them, they import odoo and the addon)."""
    modules = {}
    for path in TESTS.rglob("*.py"):
        if "addons" in path.relative_to(TESTS).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                modules.setdefault(name.split(".")[0], path.name)
    return modules


def local_modules():
    """The suite's own modules, imported by name (pytest's rootdir)."""
    return {path.stem for path in TESTS.glob("*.py")} | {"harness"}


def test_every_import_of_the_tests_is_declared():
    declared = declared_distributions()
    undeclared = {}
    for module, where in sorted(imported_top_level_modules().items()):
        if module in sys.stdlib_module_names or module in local_modules():
            continue
        if module == "odoo":
            continue
        owners = owners_of(module)
        assert owners, "%s (imported by %s) is not installed" % (module, where)
        if not owners & declared:
            undeclared[module] = (sorted(owners), where)
    assert not undeclared, "imported by the tests but declared nowhere: %s" % (
        undeclared
    )


def test_the_check_sees_the_suite_imports():
    modules = imported_top_level_modules()
    for module in ("pytest", "psycopg2", "lxml", "odoo"):
        assert module in modules
    assert "setproctitle" in declared_distributions()
    # without the tests' own requirements, pytest is declared nowhere
    assert owners_of("pytest") & declared_distributions()
    assert not owners_of("pytest") & declared_distributions(REQUIREMENT_FILES[:2])
