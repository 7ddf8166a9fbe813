"""The Odoo 15 internals that queue_job's fast paths and hooks rely on
(``queue_job.fast_paths.ODOO_INTERNALS``) are those of the installed Odoo:
an Odoo update that changes one of them fails here, by name, rather than
somewhere in a job's run."""
import inspect
import re

import psycopg2
import pytest
from odoo import http
from odoo.addons.queue_job.fast_paths import ODOO_INTERNALS
from odoo.addons.queue_job.fast_paths.runjob_dispatch import DISPATCH_HOOKS
from odoo.service import server


def _has(obj, *names):
    missing = [name for name in names if not hasattr(obj, name)]
    assert not missing, "%r has no %s" % (obj, ", ".join(missing))


def _cursor(env):
    cr = env.cr
    assert isinstance(cr._cnx, psycopg2.extensions.connection)
    assert "_obj" in vars(cr)
    for callbacks in (cr.precommit, cr.postcommit, cr.prerollback, cr.postrollback):
        _has(callbacks, "add", "data", "run", "clear")


def _environment(env):
    assert isinstance(env.all.towrite, dict)
    _has(env.cache, "set", "get", "invalidate")


def _registry(env):
    registry = env.registry
    _has(registry, "field_triggers", "field_inverses", "registry_sequence")
    _has(registry, "cache_sequence", "check_signaling", "in_test_mode")
    _has(registry, "cache_invalidated", "ready")


def _model(env):
    model = env["queue.job"]
    _has(model, "_constraint_methods", "_sequence", "_check_company_auto")
    _has(model, "_parent_store")
    _has(model._fields["state"], "column_format")


def _auto_subscription(env):
    result = env["mail.message.subtype"]._get_auto_subscription_subtypes("queue.job")
    assert len(result) == 5 and isinstance(result[4], dict)


def _tracked(env):
    assert isinstance(env["queue.job"]._get_tracked_fields(), (set, frozenset))


def _root(env):
    _has(http.Root, "__call__", "session_store", "setup_lang")


def _request(env):
    _has(http.HttpRequest, "set_handler", "dispatch", "_handle_exception")
    _has(http.request, "_get_current_object")


def _dispatch_hooks(env):
    from odoo.addons.base.models.ir_http import IrHttp

    _has(env.registry["ir.http"], *DISPATCH_HOOKS)
    # every hook Odoo's own _dispatch() calls is one the short way checks
    called = set(re.findall(r"cls\.(_\w+)\(", inspect.getsource(IrHttp._dispatch)))
    assert called and called <= set(DISPATCH_HOOKS), called - set(DISPATCH_HOOKS)


def _prefork(env):
    _has(server.PreforkServer, "__init__", "process_spawn", "worker_pop")
    _has(server.PreforkServer, "worker_spawn")


def _threaded(env):
    _has(server.ThreadedServer, "start")
    assert "_on_stop_funcs" in inspect.getsource(server.CommonServer.stop)


CHECKS = {
    "Cursor._cnx": _cursor,
    "Cursor._obj": _cursor,
    "Cursor.precommit/postcommit/prerollback/postrollback": _cursor,
    "Environment.all.towrite": _environment,
    "Environment.cache.set/get/invalidate": _environment,
    "Registry.field_triggers/field_inverses": _registry,
    "Registry.registry_sequence/cache_sequence/check_signaling/in_test_mode/"
    "cache_invalidated/ready": _registry,
    "BaseModel._constraint_methods/_sequence/_check_company_auto/_parent_store": (
        _model
    ),
    "Field.column_format": _model,
    "mail.message.subtype._get_auto_subscription_subtypes": _auto_subscription,
    "mail.thread._get_tracked_fields": _tracked,
    "http.Root.__call__/session_store/setup_lang": _root,
    "http.HttpRequest.set_handler/dispatch/_handle_exception": _request,
    "http.request._get_current_object": _request,
    "ir.http dispatch hooks": _dispatch_hooks,
    "service.server.PreforkServer.__init__/process_spawn/worker_pop/worker_spawn": (
        _prefork
    ),
    "service.server.ThreadedServer.start/on_stop": _threaded,
}


def test_every_listed_internal_is_checked():
    assert set(CHECKS) == set(ODOO_INTERNALS)


@pytest.mark.parametrize("name", sorted(ODOO_INTERNALS))
def test_internal_is_there(name, committed_env):
    with committed_env() as env:
        CHECKS[name](env)
