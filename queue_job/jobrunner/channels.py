# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The job runner's scheduler: a tree of channels with capacities.

Pure Python on purpose: nothing here talks to PostgreSQL, HTTP or Odoo, and
every time-dependent call receives ``now`` (epoch seconds, UTC) as an
argument, so the whole scheduling algorithm is deterministic and tested with
plain tables of inputs and expected outputs.

Vocabulary: a job is *queued* in a channel while it waits for capacity there,
and *running* from a channel's point of view once the channel handed it to its
parent (where it may still wait). Only the jobs handed out by the root channel
are dispatched. Capacities are global across all databases the runner serves.

A database may override the settings of its channels with its
``queue.job.channel`` records (``capacity``, ``sequential``, ``throttle``,
``paused``), see ``ChannelManager.set_db_settings``: its jobs then go through
a copy of the channel's subtree of its own, so that other databases keep the
configuration's settings, and the global ``root`` (the configuration's
capacity) still caps what the runner starts in total.

Configuration string (``ODOO_QUEUE_JOB_CHANNELS`` / ``[queue_job] channels``),
e.g. ``root:4,export:2,export.big:1:sequential,mail:1:throttle=2``: comma (or
newline) separated entries ``name[:capacity[:option[=value]]...]``; ``root.``
is optional in names; options are ``sequential`` (capacity must be 1) and
``throttle=<seconds>`` (minimum delay between two starts in that channel).
Anything else (a negative capacity, a throttle that is not a positive number,
an unknown option) is refused by ``validate_channel_config``.
"""
import logging
from weakref import WeakValueDictionary

from ..exception import ChannelNotFound
from .channel import Channel
from .channel_config import (  # noqa: F401 (public names of this module)
    CHANNEL_OPTIONS,
    RECORD_SETTINGS,
    effective_settings,
    parse_config_string,
    record_settings,
    split_strip,
    validate_channel_config,
)
from .channel_db_settings import DbChannelSettingsMixin
from .channel_queue import ChannelJob, ChannelQueue, PriorityQueue, SafeSet  # noqa
from .job_states import (  # noqa: F401 (public names of this module)
    CANCELLED,
    DONE,
    ENQUEUED,
    FAILED,
    NOT_DONE,
    PENDING,
    STARTED,
    WAIT_DEPENDENCIES,
)

_logger = logging.getLogger(__name__)


class ChannelManager(DbChannelSettingsMixin):
    """The channel tree plus the registry of known jobs.

    Jobs are registered by ``(db_name, uuid)``: a copied database carries the
    same job uuids as its original, and both may be served by one runner.
    The registry holds weak references: a job no channel refers to any more
    (done, or waiting for dependencies) disappears from it by itself.
    """

    def __init__(self):
        self._jobs_by_key = WeakValueDictionary()
        self._root_channel = Channel(name="root", parent=None, capacity=1)
        self._channels_by_name = WeakValueDictionary(root=self._root_channel)
        # db name -> {channel full name: record settings applied}
        self._db_settings = {}
        # db name -> {channel full name: that database's copy of the channel}
        self._db_channels = {}
        # (db name, channel full name) -> record settings refused, so that
        # a refusal is logged once
        self._refused = {}

    @classmethod
    def parse_simple_config(cls, config_string):
        """Parse a channel configuration string into a list of dicts
        (see ``channel_config.parse_config_string``)."""
        return parse_config_string(config_string)

    def simple_configure(self, config_string):
        """Configure (creating them if needed) the channels of a config string."""
        for config in self.parse_simple_config(config_string):
            self.get_channel_from_config(config)

    def get_channel_from_config(self, config):
        channel = self.get_channel_by_name(config["name"], autocreate=True)
        channel.configure(config)
        _logger.info("Configured channel: %s", channel)
        return channel

    def get_channel_by_name(
        self, channel_name, autocreate=False, parent_fallback=False
    ):
        """Find a channel by (full or ``root.``-less) name.

        With ``autocreate``, missing channels are created with unlimited
        capacity. With ``parent_fallback``, the nearest configured ancestor is
        looked up first and the whole dotted path is then re-created below it
        (so ``root.sub.not.configured`` with only ``root.sub`` configured
        becomes ``root.sub.sub.not.configured``): auto-created channels are
        unlimited, so the effective limit is that ancestor's capacity.
        """
        if not channel_name or channel_name == self._root_channel.name:
            return self._root_channel
        if not channel_name.startswith(self._root_channel.name + "."):
            channel_name = self._root_channel.name + "." + channel_name
        if channel_name in self._channels_by_name:
            return self._channels_by_name[channel_name]
        if not autocreate and not parent_fallback:
            raise ChannelNotFound("Channel %s not found" % channel_name)
        parent = self._root_channel
        if parent_fallback:
            parent_name = channel_name
            while True:
                parent_name = parent_name.rsplit(".", 1)[0]
                if parent_name == self._root_channel.name:
                    break
                if parent_name in self._channels_by_name:
                    parent = self._channels_by_name[parent_name]
                    _logger.debug(
                        "%s has no specific configuration, using %s",
                        channel_name,
                        parent_name,
                    )
                    break
        for subchannel_name in channel_name.split(".")[1:]:
            subchannel = parent.get_subchannel_by_name(subchannel_name)
            if not subchannel:
                subchannel = Channel(subchannel_name, parent, capacity=None)
                self._channels_by_name[subchannel.fullname] = subchannel
            parent = subchannel
        return parent

    # -- jobs --------------------------------------------------------------

    def notify(
        self, db_name, channel_name, uuid, seq, date_created, priority, eta, state
    ):
        """Apply the current state of one job (a row or a NOTIFY payload)."""
        channel = self.get_channel_by_name(channel_name, parent_fallback=True)
        channel = self._channel_for_db(db_name, channel)
        key = (db_name, uuid)
        job = self._jobs_by_key.get(key)
        if job is not None and (
            job.channel is not channel
            or job.seq != seq
            or job.priority != priority
            or job.eta != eta
            or job.date_created != date_created
        ):
            # Its sort key changed: replace it rather than mutate it in heaps.
            _logger.debug("job %s properties changed, rescheduling it", uuid)
            self._remove(job)
            job = None
        if job is None:
            job = ChannelJob(db_name, channel, uuid, seq, date_created, priority, eta)
            self._jobs_by_key[key] = job
        if not state or state in (DONE, CANCELLED):
            # set_done, and forget it now rather than when the heaps that
            # lazily still hold it pop it
            self._remove(job)
        elif state == PENDING:
            job.channel.set_pending(job)
        elif state in (ENQUEUED, STARTED):
            job.channel.set_running(job)
        elif state == FAILED:
            job.channel.set_failed(job)
        elif state == WAIT_DEPENDENCIES:
            # Not schedulable until its parents are done; a notification
            # will tell when it becomes pending.
            pass
        else:
            _logger.error(
                "unexpected state %r for job %s on db %s", state, uuid, db_name
            )

    def _remove(self, job):
        job.channel.remove(job)
        self._jobs_by_key.pop((job.db_name, job.uuid), None)

    def get_job(self, uuid, db_name=None):
        """The scheduler's record of a job, or None."""
        if db_name is not None:
            return self._jobs_by_key.get((db_name, uuid))
        for key, job in list(self._jobs_by_key.items()):
            if key[1] == uuid:
                return job
        return None

    def remove_job(self, uuid, db_name=None):
        """Forget a job (of any database when ``db_name`` is not given)."""
        if db_name is not None:
            job = self._jobs_by_key.get((db_name, uuid))
            jobs = [job] if job is not None else []
        else:
            jobs = [
                job for key, job in list(self._jobs_by_key.items()) if key[1] == uuid
            ]
        for job in jobs:
            self._remove(job)

    def remove_db(self, db_name):
        """Forget every job of a database, and the settings of its records."""
        for key, job in list(self._jobs_by_key.items()):
            if key[0] == db_name:
                self._remove(job)
        self._drop_db_channels(db_name)
        self._db_settings.pop(db_name, None)
        for key in [key for key in self._refused if key[0] == db_name]:
            del self._refused[key]

    def get_jobs_to_run(self, now):
        return self._root_channel.get_jobs_to_run(now)

    def get_wakeup_time(self):
        return self._root_channel.get_wakeup_time()

    def iter_channels(self):
        """All channels, parents before children (for status logging)."""
        stack = [self._root_channel]
        while stack:
            channel = stack.pop()
            yield channel
            stack.extend(
                channel.children[name]
                for name in sorted(channel.children, reverse=True)
            )
