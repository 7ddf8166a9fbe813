# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The channel settings a database's channel records set, in the scheduler.

A part of ``ChannelManager`` (a mixin sharing its state): a database whose
records set something on a channel gets copies of that channel's subtree of
its own, so that the other databases keep the configuration's settings.
"""
import logging

from .channel import Channel
from .channel_config import effective_settings
from .job_states import ENQUEUED, FAILED, PENDING

_logger = logging.getLogger(__name__.rsplit(".", 1)[0] + ".channels")


class DbChannelSettingsMixin:
    """Applying the channel records of each database (``set_db_settings``)."""

    def _file_settings(self, fullname):
        """The configuration's settings of a channel (unlimited if none)."""
        channel = self._channels_by_name.get(fullname)
        if channel is None:
            return {"capacity": None, "sequential": False, "throttle": 0}
        return {
            "capacity": channel.capacity,
            "sequential": channel.sequential,
            "throttle": channel.throttle,
        }

    def _full_name(self, name):
        root = self._root_channel.name
        if name == root or name.startswith(root + "."):
            return name
        return root + "." + name

    def db_settings(self, db_name):
        """``{channel full name: record settings}`` applied for a database."""
        return dict(self._db_settings.get(db_name, {}))

    def set_db_settings(self, db_name, settings):
        """Apply the channel records of a database: ``{name: record settings}``
        (see ``record_settings``), replacing what was applied before.

        Its jobs are moved, with their state, to the channels that now apply
        to them: nothing is re-read, a running job keeps running (and
        counting) where it now belongs, so lowering a capacity never
        interrupts one. A record that cannot apply is logged once and the
        configuration's settings stay in force for that channel. Returns
        ``(paused, resumed)``: the channels whose pause changed.
        """
        applied = {}
        for name, record in settings.items():
            fullname = self._full_name(name)
            record = {key: value for key, value in record.items() if value}
            if not record:
                continue
            try:
                effective_settings(fullname, self._file_settings(fullname), record)
            except ValueError as exc:
                if self._refused.get((db_name, fullname)) != record:
                    self._refused[(db_name, fullname)] = record
                    _logger.error(
                        "channel %s on db %s: cannot apply %s (%s), the"
                        " configuration's settings stay in force",
                        fullname,
                        db_name,
                        record,
                        exc,
                    )
                continue
            self._refused.pop((db_name, fullname), None)
            applied[fullname] = record
        previous = self._db_settings.get(db_name, {})
        was_paused = {name for name, rec in previous.items() if rec.get("paused")}
        is_paused = {name for name, rec in applied.items() if rec.get("paused")}
        if applied != previous:
            self._replace_db_settings(db_name, applied)
        return sorted(is_paused - was_paused), sorted(was_paused - is_paused)

    def _replace_db_settings(self, db_name, applied):
        moved = []
        for (job_db, _uuid), job in list(self._jobs_by_key.items()):
            if job_db != db_name:
                continue
            state = self._job_state(job)
            if state is not None:
                moved.append((job, state))
            self._remove(job)
        self._drop_db_channels(db_name)
        if applied:
            self._db_settings[db_name] = applied
        else:
            self._db_settings.pop(db_name, None)
        for job, state in moved:
            self.notify(
                db_name,
                job.channel.fullname,
                job.uuid,
                job.seq,
                job.date_created,
                job.priority,
                job.eta,
                state,
            )

    def _job_state(self, job):
        """The state a known job has for the scheduler, or None (waiting for
        its dependencies: not in any channel)."""
        if job in job.channel._failed:
            return FAILED
        if job in self._root_channel._running:
            # dispatched
            return ENQUEUED
        if job in job.channel._queue or job in job.channel._running:
            return PENDING
        return None

    def _drop_db_channels(self, db_name):
        for channel in self._db_channels.pop(db_name, {}).values():
            if channel.parent is not None:
                channel.parent.children.pop(channel.key, None)

    def _channel_for_db(self, db_name, channel):
        """The channel that schedules a job of ``db_name`` in ``channel``.

        ``channel`` itself, unless the database sets something on it or on
        one of its ancestors: then the database's own copy, below the
        topmost such ancestor's copy (which sits next to that ancestor, or
        under the global root when it is the root).
        """
        applied = self._db_settings.get(db_name)
        if not applied:
            return channel
        path = []
        node = channel
        while node is not None:
            path.append(node)
            node = node.parent
        path.reverse()
        index = next(
            (i for i, node in enumerate(path) if node.fullname in applied), None
        )
        if index is None:
            return channel
        copies = self._db_channels.setdefault(db_name, {})
        parent = path[index].parent or self._root_channel
        for node in path[index:]:
            copy = copies.get(node.fullname)
            if copy is None:
                copy = self._copy_channel(db_name, node, parent, applied)
                copies[node.fullname] = copy
            parent = copy
        return parent

    def _copy_channel(self, db_name, channel, parent, applied):
        settings = effective_settings(
            channel.fullname,
            self._file_settings(channel.fullname),
            applied.get(channel.fullname, {}),
        )
        copy = Channel(
            channel.name,
            parent,
            capacity=settings["capacity"],
            sequential=settings["sequential"],
            throttle=settings["throttle"],
            db_name=db_name,
        )
        copy._fullname = channel.fullname
        copy.paused = settings["paused"]
        return copy
