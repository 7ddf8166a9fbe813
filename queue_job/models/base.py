# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""``with_delay()``, ``delayable()`` and the job hooks, on every model."""
import functools

from odoo import api, models

# DelayableRecordset is looked up in this module at call time by
# with_delay(): the test helper mock_with_delay() replaces it here. The class
# itself, not the compatibility alias of queue_job.job, which logs each call.
from ..delay import NO_DELAY_CONTEXT_KEYS, Delayable, DelayableRecordset


class Base(models.AbstractModel):
    _inherit = "base"

    def with_delay(
        self,
        priority=None,
        eta=None,
        max_retries=None,
        description=None,
        channel=None,
        identity_key=None,
        timeout=None,
    ):
        """Return a proxy on which calling a method delays it as a job.

        ``records.with_delay(priority=30).action_done()`` stores a job that
        runs ``records.action_done()`` later, in its own transaction; the
        call returns the ``Job``. Options are those of :meth:`delayable`.
        """
        # given only when set: what mock_with_delay() records (as the
        # original does) stays the same for jobs without timeout
        options = {} if timeout is None else {"timeout": timeout}
        return DelayableRecordset(
            self,
            priority=priority,
            eta=eta,
            max_retries=max_retries,
            description=description,
            channel=channel,
            identity_key=identity_key,
            **options,
        )

    def delayable(
        self,
        priority=None,
        eta=None,
        max_retries=None,
        description=None,
        channel=None,
        identity_key=None,
        timeout=None,
    ):
        """Return a :class:`~odoo.addons.queue_job.delay.Delayable`.

        Unlike :meth:`with_delay`, nothing is stored until ``delay()`` is
        called, so jobs can first be linked into a graph with ``on_done()``,
        ``chain()`` and ``group()``; ``delay()`` must be called on the
        top-most object of the graph (what it depends on is not delayed).

        :param priority: lower runs earlier (default 10)
        :param eta: ``datetime``, ``timedelta`` or seconds from now: the job
                    does not run before
        :param max_retries: tries before the job fails (default 5, 0 means
                            retry forever)
        :param description: label of the job (default: first line of the
                            method's docstring)
        :param channel: complete channel name, overrides the job function's
        :param identity_key: string, or function of the job returning one
                             (e.g. ``identity_exact``): no new job is stored
                             while one with the same key waits to run
        :param timeout: seconds the job may run before it is interrupted
                        inside its worker, overrides the job function's
        """
        return Delayable(
            self,
            priority=priority,
            eta=eta,
            max_retries=max_retries,
            description=description,
            channel=channel,
            identity_key=identity_key,
            timeout=timeout,
        )

    def _patch_job_auto_delay(self, method_name, context_key=None):
        """Return a replacement of ``method_name`` that delays it as a job.

        Install it from ``_register_hook`` with
        ``self._patch_method(name, self._patch_job_auto_delay(name))``, so
        that code we do not control calling the method enqueues a job instead
        of running it. With ``context_key``, calls are delayed only when that
        context key is truthy (safer: callers expecting the method's result
        keep getting it). ``<method_name>_job_options(*args, **kwargs)``, when
        defined, returns the ``with_delay()`` options. The original method
        runs synchronously inside the job itself, with ``_job_force_sync``
        or with a no-delay context key.
        """

        def auto_delay_wrapper(self, *args, **kwargs):
            # without context_key every call is delayed
            context = self.env.context
            context_delay = context.get(context_key) if context_key else True
            if (
                context.get("job_uuid")
                or not context_delay
                or context.get("_job_force_sync")
                or any(context.get(key) for key in NO_DELAY_CONTEXT_KEYS)
            ):
                return auto_delay_wrapper.origin(self, *args, **kwargs)
            else:
                job_options_method = getattr(self, f"{method_name}_job_options", None)
                job_options = {}
                if job_options_method:
                    job_options.update(job_options_method(*args, **kwargs))
                delayed = self.with_delay(**job_options)
                return getattr(delayed, method_name)(*args, **kwargs)

        # the class' function: a bound method would keep an environment alive
        origin = getattr(type(self), method_name)
        return functools.update_wrapper(auto_delay_wrapper, origin)

    @api.model
    def _job_store_values(self, job):
        """Extra values of the ``queue.job`` record of ``job`` (custom fields).

        A method ``_job_store_values_for_<method_name>(job)`` may add values
        for one job method; they are merged on top of these. Core fields of
        the job cannot be changed this way.
        """
        return {}

    @api.model
    def _job_prepare_context_before_enqueue_keys(self):
        """Keys of the context to keep in the job (``("tz", "lang")`` e.g.).

        By default, no context is stored with a job: the job runs with the
        stored user and superuser flag only. Values of the listed keys must
        be JSON serializable.
        """
        return ()

    def _job_prepare_context_before_enqueue(self):
        """The part of the context that jobs of this recordset run with."""
        return {
            key: value
            for key, value in self.env.context.items()
            if key in self._job_prepare_context_before_enqueue_keys()
        }
