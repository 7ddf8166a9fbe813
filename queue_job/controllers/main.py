# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""HTTP entry points: ``/queue_job/runjob`` executes one job for the runner.

The run itself (claim, load, start, perform, end) is ``queue_job.job_run``'s;
the methods of :class:`RunJobController` that addons override are its
steps, called by it.
"""
import logging
import random

import odoo
from odoo import SUPERUSER_ID, _, api, http
from werkzeug.exceptions import BadRequest, Forbidden, NotFound

from ..delay import chain, group
from ..job_run import (  # noqa: F401 (public names of this module)
    DEPENDS_MAX_TRIES_ON_CONCURRENCY_FAILURE,
    PG_RETRY,
    JobRun,
    enqueue_dependent_jobs,
    failure_values,
    perform_job,
)
from .request_checks import (
    CHECKED_ENVIRON_KEY,
    RUNJOB_PATH,
    SESSION_PATH,
    refuse_params_or_none,
)

_logger = logging.getLogger(__name__)


class RunJobController(http.Controller):
    TEST_GRAPH_MAX_PER_GROUP = 5

    @http.route("/queue_job/runjob", type="http", auth="none", save_session=False)
    def runjob(self, db=None, job_uuid=None, **kw):
        """Run the enqueued job ``job_uuid`` of database ``db``.

        Anonymous on purpose (the runner has no session): it only ever runs a
        job that is currently enqueued, which only the runner does. Answers
        an empty body in all handled cases, including bad requests, which are
        logged and run nothing; a job that fails answers an error.
        """
        refused = self._refuse_params(RUNJOB_PATH, dict(kw, db=db, job_uuid=job_uuid))
        if refused is not None:
            return refused
        env = self._database_env(db, job_uuid)
        if env is None:
            return ""
        JobRun(self, env, job_uuid).execute()
        return ""

    def _try_perform_job(self, env, job):
        """Start ``job``, run it and store it done, each step in its own
        transaction (see ``job_run.perform_job``); what it raises is the
        run's failure. Addons override it to run code around a job."""
        perform_job(env, job)

    def _enqueue_dependent_jobs(self, env, job):
        """Release the jobs waiting on ``job``, now done (see
        ``job_run.enqueue_dependent_jobs``)."""
        enqueue_dependent_jobs(env, job)

    def _get_failure_values(self, job, traceback_txt, orig_exception):
        """The ``exc_info``, ``exc_name`` and ``exc_message`` stored on a job
        that failed with ``orig_exception`` (``job`` is None when it could
        not be loaded)."""
        return failure_values(traceback_txt, orig_exception)

    @http.route("/queue_job/session", type="http", auth="none", methods=["GET"])
    def session(self, db=None, **kw):
        """Give the job runner an HTTP session bound to database ``db``.

        The runner asks it once per database (and again from time to time, to
        keep the session alive) and sends its cookie with each runjob
        request. A request whose session names a database is bound to it at
        once, whereas for a request without session, Odoo looks for its
        database by listing the databases, on a new connection to the
        ``postgres`` database that its pool does not keep: a connection per
        job. The session has no user, like the one ``/web/login?db=`` gives
        anyone.

        Answers 404 when ``db`` does not exist, or when Odoo's database
        filter rejects it for this request (Odoo would log the session out at
        every request): the runner then sends its requests without session.
        """
        refused = self._refuse_params(SESSION_PATH, dict(kw, db=db))
        if refused is not None:
            return refused
        if not db or not self._database_exists(db) or not http.db_filter([db]):
            raise NotFound()
        # (re)saved with a new modification time, which is what keeps Odoo's
        # session garbage collection away from it
        http.request.session.db = db
        return ""

    def _refuse_params(self, path, params):
        """The 400 answer when ``params`` are unfit, else None: for a request
        that did not go through the check of the WSGI entry (one Odoo
        dispatched before queue_job's hooks were installed)."""
        request = http.request
        # (an unbound proxy, outside of a request, is false)
        if request and request.httprequest.environ.get(CHECKED_ENVIRON_KEY):
            return None
        return refuse_params_or_none(
            path, {name: value for name, value in params.items() if value is not None}
        )

    def _database_exists(self, db):
        return (
            db in odoo.modules.registry.Registry.registries
            or odoo.service.db.exp_db_exist(db)
        )

    def _database_env(self, db, job_uuid):
        """A superuser environment on database ``db``, or None (logged) if unusable.

        When Odoo could not bind the request to a database by itself (several
        databases, no session), it is bound to ``db``, like the runner asks.
        """
        if not db or not job_uuid:
            _logger.warning(
                "runjob called without database or job uuid (db=%r, job_uuid=%r):"
                " nothing to run",
                db,
                job_uuid,
            )
            return None
        request = http.request._get_current_object()
        if request.db and request.db != db:
            _logger.warning(
                "runjob asked to run job %s of database %r on a request bound to"
                " database %r: nothing to run",
                job_uuid,
                db,
                request.db,
            )
            return None
        if not request.db:
            # No db filter here: like the runner, a filter such as ^%d$ is
            # meant for browsers, which do not call this route.
            if not self._database_exists(db):
                _logger.warning(
                    "runjob asked to run job %s of unknown database %r: nothing to run",
                    job_uuid,
                    db,
                )
                return None
            request.session.db = db
        # (what request.env(user=SUPERUSER_ID) gives, without request.env)
        env = api.Environment(request.cr, SUPERUSER_ID, request.context)
        if "queue.job" not in env.registry:
            _logger.warning(
                "runjob asked to run job %s of database %r, where queue_job is not"
                " installed: nothing to run",
                job_uuid,
                db,
            )
            return None
        return env

    @http.route("/queue_job/create_test_job", type="http", auth="user")
    def create_test_job(
        self,
        priority=None,
        max_retries=None,
        channel=None,
        description="Test job",
        size=1,
        failure_rate=0,
    ):
        """Create test jobs (a graph when ``size`` > 1), for system managers."""
        if not http.request.env.user.has_group("base.group_erp_manager"):
            raise Forbidden(_("Access Denied"))

        failure_rate = _to_number(float, failure_rate, 0)
        if not (0 <= failure_rate <= 1):
            raise BadRequest("failure_rate must be between 0 and 1")
        size = _to_number(int, size, 1)
        priority = _to_number(int, priority, None)
        max_retries = _to_number(int, max_retries, None)

        if size == 1:
            return self._create_single_test_job(
                priority=priority,
                max_retries=max_retries,
                channel=channel,
                description=description,
                failure_rate=failure_rate,
            )
        if size > 1:
            return self._create_graph_test_jobs(
                size,
                priority=priority,
                max_retries=max_retries,
                channel=channel,
                description=description,
                failure_rate=failure_rate,
            )
        return ""

    def _create_single_test_job(
        self,
        priority=None,
        max_retries=None,
        channel=None,
        description="Test job",
        size=1,
        failure_rate=0,
    ):
        delayed = (
            http.request.env["queue.job"]
            .with_delay(
                priority=priority,
                max_retries=max_retries,
                channel=channel,
                description=description,
            )
            ._test_job(failure_rate=failure_rate)
        )
        return "job uuid: %s" % (delayed.uuid,)

    def _create_graph_test_jobs(
        self,
        size,
        priority=None,
        max_retries=None,
        channel=None,
        description="Test job",
        failure_rate=0,
    ):
        """Delay a random graph of ``size`` test jobs: chains and groups
        of up to TEST_GRAPH_MAX_PER_GROUP jobs, each attached to a random
        batch created before it."""
        model = http.request.env["queue.job"]
        delayables = []
        batches = []
        while len(delayables) < size:
            batch_size = min(
                size - len(delayables),
                random.randint(1, self.TEST_GRAPH_MAX_PER_GROUP),
            )
            batch_delayables = []
            for _index in range(batch_size):
                delayable = model.delayable(
                    priority=priority,
                    max_retries=max_retries,
                    channel=channel,
                    description="%s #%d" % (description, len(delayables) + 1),
                )._test_job(failure_rate=failure_rate)
                delayables.append(delayable)
                batch_delayables.append(delayable)
            batch = random.choice((chain, group))(*batch_delayables)
            if batches:
                random.choice(batches).on_done(batch)
            batches.append(batch)
        batches[0].delay()
        return "graph uuid: %s" % (delayables[0]._generated_job.graph_uuid,)


def _to_number(type_, value, default):
    """``value`` converted by ``type_``, or ``default`` when it cannot be."""
    try:
        return type_(value)
    except (TypeError, ValueError):
        return default
