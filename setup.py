"""Python requirements of the addons of this repository, as an installable project.

``pip install .`` (or ``pip install -e .``) at the root of a checkout installs
what the addons need at run time on top of Odoo 15.0 (``requirements.txt``);
``pip install .[test]`` adds what the test suite needs. The addons themselves
are installed from their own wheels, built from ``setup/<addon>`` (the
setuptools-odoo layout), or found by Odoo through its ``--addons-path``.
"""
import ast
from pathlib import Path

import setuptools

HERE = Path(__file__).resolve().parent


def read_requirements(path):
    lines = (HERE / path).read_text().splitlines()
    return [
        line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()
    ]


def addon_version(addon):
    manifest = ast.literal_eval((HERE / addon / "__manifest__.py").read_text())
    return manifest["version"]


setuptools.setup(
    name="queue-job-odoo15-requirements",
    version=addon_version("queue_job"),
    description="Run-time Python requirements of the queue_job Odoo 15.0 addon",
    long_description=(HERE / "README.rst").read_text(),
    long_description_content_type="text/x-rst",
    license="LGPL-3",
    python_requires=">=3.8",
    packages=[],
    install_requires=read_requirements("requirements.txt"),
    extras_require={"test": read_requirements("tests/requirements.txt")},
    classifiers=[
        "Framework :: Odoo",
        "Framework :: Odoo :: 15.0",
        "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)",
        "Programming Language :: Python :: 3",
    ],
)
