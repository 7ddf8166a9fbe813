"""queue_job hooks into Odoo only through its manifest's ``post_load``
(``queue_job.odoo_hooks``): importing the addon patches nothing."""
import subprocess
import sys
import textwrap

from harness.odoo_runtime import REPO_ROOT

PROBE = textwrap.dedent(
    """
    import sys
    import odoo
    from odoo import http
    from odoo.service import server

    odoo.tools.config.parse_config(["--addons-path=%s"])
    odoo.modules.module.initialize_sys_path()

    def patched():
        return (
            bool(getattr(http.Root.__call__, "_queue_job_runjob", False)),
            bool(getattr(server.PreforkServer, "_queue_job_patched", False)),
        )

    import odoo.addons.queue_job  # noqa: F401
    import odoo.addons.queue_job.jobrunner  # noqa: F401
    after_import = patched()
    odoo.modules.module.load_openerp_module("queue_job")
    after_load = patched()
    threaded_stop = server.ThreadedServer.stop.__module__
    print(after_import, after_load, threaded_stop)
    """
)


def test_import_patches_nothing_post_load_installs_the_hooks(addons_path):
    result = subprocess.run(
        [sys.executable, "-c", PROBE % ",".join(addons_path)],
        cwd=str(REPO_ROOT),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    line = result.stdout.decode().strip().splitlines()[-1]
    # the threaded server's stop is Odoo's: the runner thread stops through
    # its on_stop hook
    assert line == "(False, False) (True, True) odoo.service.server", line
