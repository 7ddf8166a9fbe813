# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""Every hook of queue_job into Odoo's own code, installed in one place.

Odoo 15 has no public hook for either of them. Installed once, by the
manifest's ``post_load`` (Odoo calls it when it loads the addon: as a
server-wide module before the server is built, or with a registry), never
as a side effect of an import:

* ``fast_paths.runjob_dispatch.install()``: Odoo's WSGI entry
  (``http.Root.__call__``) checks the requests to queue_job's routes first,
  and serves runjob requests on a short way when that is Odoo's path (see
  that module);
* ``jobrunner.patch_odoo_servers()``: the prefork server spawns and
  replaces the runner worker, the threaded server starts the runner thread
  and stops it through its ``on_stop`` hook.
"""


def post_load():
    from .fast_paths import runjob_dispatch
    from .jobrunner import patch_odoo_servers

    runjob_dispatch.install()
    patch_odoo_servers()
