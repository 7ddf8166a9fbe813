# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""A short way through Odoo's HTTP stack for the job runner's requests.

Odoo 15 serves every request with what browsers need: a lookup through the
static directories of every addon, the session file read (twice) from
disk, language negotiation, URLs rebuilt and quoted, ``ir.http`` routing
and authentication hooks. For a runjob request, that costs more CPU than
running a trivial job, and the runner sends one per job.

A runjob GET for a database already loaded by this process is served here
instead, by the same endpoint Odoo would call (the one of the database's
routing map, so controllers overriding ``RunJobController`` apply) through
the same request object: ``odoo.http.request`` is an ``HttpRequest`` bound
to the database, ``request.dispatch()`` keeps Odoo's retries of
concurrency errors, the request's context manager commits or rolls back
its cursor, and errors end as Odoo's would (re-raised to the WSGI server:
an error 500). What is left out: the session store (the request gets a new
session bound to the database, as the runner's session is), static files,
and the hooks of ``ir.http._dispatch()``, which no anonymous route called by
a program needs. The registry is checked with the job's claim (see
:func:`check_claimed_registry`).

Every request to a queue_job route is checked first (see
``request_checks``): a bad one is answered 400 here, whichever way it
would have been served.

Anything else goes through Odoo's dispatch: other methods and paths, a
database this process has not loaded yet (its first request loads it), a
runjob route whose authentication or type was changed by an override, a
database where an addon that is not Odoo's own overrides a hook of
``ir.http``'s dispatch (decided at each request, see
:func:`dispatch_hooks_are_odoo_own`), and every request while the fast
paths are off (``queue_job.fast_paths``).
"""
import functools
import logging
import os
import threading
import time
import weakref

import odoo
from odoo import http
from odoo.modules.module import get_module_path
from odoo.modules.registry import Registry
from werkzeug.exceptions import HTTPException

from .. import fast_paths
from ..controllers import request_checks

RUNJOB_PATH = request_checks.RUNJOB_PATH

# What ir.http's _dispatch() runs for a route of auth="none".
DISPATCH_HOOKS = (
    "_dispatch",
    "_handle_debug",
    "_match",
    "_authenticate",
    "_auth_method_none",
    "_postprocess_args",
    "_handle_exception",
)

# the directory holding the odoo package and Odoo's addons
ODOO_SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(odoo.__file__)))


@functools.lru_cache(maxsize=None)
def _is_odoo_own_module(module_name):
    """Whether the Python module ``module_name`` is Odoo's (its core, or an
    addon shipped in Odoo's source tree) or queue_job's."""
    if not module_name.startswith("odoo.addons."):
        return module_name == "odoo" or module_name.startswith("odoo.")
    addon = module_name.split(".")[2]
    if addon == "queue_job":
        return True
    path = get_module_path(addon, display_warning=False)
    return bool(path) and os.path.abspath(path).startswith(ODOO_SOURCE + os.sep)


def dispatch_hooks_are_odoo_own(registry):
    """Whether every definition of the hooks that Odoo's dispatch would run
    for the request (``DISPATCH_HOOKS``) comes from Odoo or queue_job, in
    the ``ir.http`` class of ``registry`` as it is now."""
    for klass in registry["ir.http"].__mro__:
        for name in DISPATCH_HOOKS:
            func = vars(klass).get(name)
            if func is None:
                continue
            func = getattr(func, "__func__", func)
            if not _is_odoo_own_module(getattr(func, "__module__", "") or ""):
                return False
    return True


# ir.http routing map -> runjob endpoint (None when not served here); a
# routing map is rebuilt when the modules of the database change
_runjob_endpoints = weakref.WeakKeyDictionary()


def is_served_here(routing):
    """Whether a runjob route of these ``routing`` options is served here:
    not if an override made it authenticated, or of another type."""
    return routing.get("type") == "http" and routing.get("auth") == "none"


def runjob_endpoint(registry, environ):
    """The endpoint of ``/queue_job/runjob`` in ``registry``'s routing map,
    or None when this module must not serve it."""
    routing_map = registry["ir.http"].routing_map()
    if routing_map in _runjob_endpoints:
        return _runjob_endpoints[routing_map]
    try:
        rule, _arguments = routing_map.bind_to_environ(environ).match(
            RUNJOB_PATH, method="GET", return_rule=True
        )
    except HTTPException:
        endpoint = None
    else:
        endpoint = rule.endpoint if is_served_here(rule.endpoint.routing) else None
    _runjob_endpoints[routing_map] = endpoint
    return endpoint


# The signaling sequences that Registry.check_signaling() compares with the
# registry's, as columns of a query: the runjob controller reads them with
# the job's claim (see check_claimed_registry).
SIGNALING_COLUMNS = (
    "(SELECT last_value FROM base_registry_signaling),"
    " (SELECT last_value FROM base_cache_signaling)"
)


class RegistryChanged(Exception):
    """Another process changed the registry of a request served here."""


def check_claimed_registry(sequences):
    """Raise RegistryChanged if the registry of the current request,
    served here, is outdated: ``sequences`` are the signaling sequences
    read with the job's claim.

    Odoo checks the registry at the start of each request, which costs a
    transaction on a cursor of its own. A request served here checks it
    with its first statement, the claim of the job, read on the request's
    cursor in the same round trip; the claim is then undone and the request
    goes through Odoo's dispatch, which reloads the registry or clears its
    caches. Requests that Odoo dispatched are not checked again.
    """
    request = http.request
    # (an unbound proxy, outside of a request, is false)
    registry = (
        getattr(request, "_queue_job_registry_to_check", None) if request else None
    )
    if registry is not None and sequences != (
        registry.registry_sequence,
        registry.cache_sequence,
    ):
        raise RegistryChanged()


def serve_runjob(root, environ):
    """The response to the runjob request ``environ``, or None to leave the
    request to Odoo's dispatch."""
    if environ.get("PATH_INFO") != RUNJOB_PATH or environ["REQUEST_METHOD"] != "GET":
        return None
    if not fast_paths.enabled():
        return None
    httprequest = http.HTTPRequest(environ)
    db = httprequest.args.get("db")
    registry = Registry.registries.get(db) if db else None
    if registry is None or not registry.ready:
        return None
    if not dispatch_hooks_are_odoo_own(registry):
        return None
    # what Odoo's dispatch sets for its log lines (see odoo.netsvc.PerfFilter)
    current_thread = threading.current_thread()
    current_thread.url = "%s?%s" % (RUNJOB_PATH, environ.get("QUERY_STRING", ""))
    current_thread.query_count = 0
    current_thread.query_time = 0
    current_thread.perf_t0 = time.time()

    session = root.session_store.new()
    session.db = db
    httprequest.session = session
    root.setup_lang(httprequest)
    request = http.HttpRequest(httprequest)
    with request:
        if registry.cache_invalidated:
            # left over from the server's parent process: Odoo's check clears it
            registry = registry.check_signaling()
        elif not registry.in_test_mode():
            request._queue_job_registry_to_check = registry
        # the routing map is built within a request
        endpoint = runjob_endpoint(registry, environ)
        if endpoint is None:
            return None
        request.set_handler(endpoint, {}, "none")
        outdated = False
        try:
            result = request.dispatch()
        except RegistryChanged:
            # the claim was undone
            outdated = True
        except Exception as exc:
            # prevents the commit; re-raises anything but an HTTP error
            result = request._handle_exception(exc)
    if outdated:
        registry.check_signaling()
        return None
    if isinstance(result, (bytes, str)):
        return http.Response(result, mimetype="text/html")
    return result


def install():
    """Serve runjob requests by :func:`serve_runjob` in this process."""
    if getattr(http.Root.__call__, "_queue_job_runjob", False):
        return
    odoo_call = http.Root.__call__
    logging.getLogger("werkzeug").addFilter(request_checks.AccessLogFilter())

    def __call__(self, environ, start_response):
        # before anything else, whichever way the request is then served
        response = request_checks.refuse_or_none(environ)
        if response is not None:
            return response(environ, start_response)
        response = serve_runjob(self, environ)
        if response is None:
            return odoo_call(self, environ, start_response)
        return response(environ, start_response)

    __call__._queue_job_runjob = True
    http.Root.__call__ = __call__
