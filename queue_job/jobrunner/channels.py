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
import difflib
import heapq
import logging
import math
from functools import total_ordering
from weakref import WeakValueDictionary

from ..exception import ChannelNotFound

_logger = logging.getLogger(__name__)

# Values of queue_job.state, as stored in the database and carried by the
# NOTIFY payloads (kept here so that the scheduler needs no Odoo import).
WAIT_DEPENDENCIES = "wait_dependencies"
PENDING = "pending"
ENQUEUED = "enqueued"
STARTED = "started"
DONE = "done"
CANCELLED = "cancelled"
FAILED = "failed"

NOT_DONE = (WAIT_DEPENDENCIES, PENDING, ENQUEUED, STARTED, FAILED)

# The options a channel configuration entry may carry after its capacity.
CHANNEL_OPTIONS = ("sequential", "throttle")


def _unknown_option_message(key):
    message = "unknown option %r" % key
    close = difflib.get_close_matches(key, CHANNEL_OPTIONS, n=1, cutoff=0.6)
    if close:
        message += " (did you mean %r?)" % close[0]
    return message + "; known options: %s" % ", ".join(CHANNEL_OPTIONS)


def _parse_throttle(value):
    """Seconds between two starts; a bare ``throttle`` means one second."""
    if value is True:
        return 1
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            "invalid throttle %r: a number of seconds is expected" % value
        ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            "invalid throttle %r: it must be a positive number of seconds" % value
        )
    return int(seconds) if seconds.is_integer() else seconds


def validate_channel_config(config):
    """Check one parsed entry (see ``parse_simple_config``); return it typed.

    Everything is checked here rather than when jobs arrive: a negative
    capacity or a misspelled option would otherwise be accepted and leave
    a channel that never starts a job, or not the way it was meant to.
    """
    unknown = sorted(set(config) - {"name", "capacity"} - set(CHANNEL_OPTIONS))
    if unknown:
        raise ValueError(_unknown_option_message(unknown[0]))
    capacity = config.get("capacity")
    if capacity is not None and (
        isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0
    ):
        raise ValueError(
            "invalid capacity %r: it must be an integer, 0 or more" % (capacity,)
        )
    sequential = bool(config.get("sequential", False))
    if sequential and capacity != 1:
        raise ValueError("A sequential channel must have a capacity of 1")
    throttle = _parse_throttle(config["throttle"]) if "throttle" in config else 0
    return dict(config, capacity=capacity, sequential=sequential, throttle=throttle)


# The settings a channel record may set, and what "not set" is for each: the
# configuration's value then applies.
RECORD_SETTINGS = ("capacity", "sequential", "throttle", "paused")


def record_settings(capacity=None, sequential=False, throttle=None, paused=False):
    """The settings a channel record sets, without those it leaves unset.

    A capacity or throttle of 0 (or empty) and an unticked ``sequential``
    are "not set": the configuration's value applies; ``paused`` has no
    counterpart in the configuration.
    """
    settings = {}
    if capacity:
        settings["capacity"] = capacity
    if sequential:
        settings["sequential"] = True
    if throttle:
        settings["throttle"] = throttle
    if paused:
        settings["paused"] = True
    return settings


def effective_settings(name, file_settings, record):
    """Merge a channel's configuration with what its record sets.

    ``file_settings`` is ``{capacity, sequential, throttle}`` of the
    configuration (or of an unconfigured channel), ``record`` the output of
    ``record_settings``. Returns the typed settings plus ``paused`` and
    ``sources`` (setting -> ``"record"`` or ``"configuration"``); raises
    ``ValueError`` when the record's values cannot apply (e.g. sequential
    over a capacity other than 1).
    """
    unknown = sorted(set(record) - set(RECORD_SETTINGS))
    if unknown:
        raise ValueError("unknown channel setting %r" % unknown[0])
    merged = {
        "name": name,
        "capacity": file_settings.get("capacity"),
        "sequential": bool(file_settings.get("sequential")),
        "throttle": file_settings.get("throttle") or 0,
    }
    merged.update((key, record[key]) for key in merged if key in record)
    if not merged["throttle"]:
        del merged["throttle"]
    result = validate_channel_config(merged)
    result["paused"] = bool(record.get("paused"))
    result["sources"] = {
        key: "record" if key in record else "configuration" for key in RECORD_SETTINGS
    }
    return result


class PriorityQueue:
    """A heap that also supports removing arbitrary items.

    Removal is lazy (the item stays in the heap, marked removed, until it
    reaches the top), which keeps ``remove`` O(1) and ``pop`` amortised
    O(log n). Items must be hashable and ordered.
    """

    def __init__(self):
        self._heap = []
        self._known = set()  # items physically in the heap
        self._removed = set()  # subset of _known that is logically gone

    def __len__(self):
        return len(self._known) - len(self._removed)

    def __contains__(self, o):
        return o in self._known and o not in self._removed

    def add(self, o):
        if o is None:
            raise ValueError("cannot add None to a PriorityQueue")
        if o in self._removed:
            self._removed.remove(o)
            return
        if o in self._known:
            return
        self._known.add(o)
        heapq.heappush(self._heap, o)

    def remove(self, o):
        if o is None:
            raise ValueError("cannot remove None from a PriorityQueue")
        if o in self._known:
            self._removed.add(o)

    def _discard_removed_top(self):
        while self._heap and self._heap[0] in self._removed:
            o = heapq.heappop(self._heap)
            self._known.remove(o)
            self._removed.remove(o)

    def __getitem__(self, i):
        if i != 0:
            raise IndexError("a PriorityQueue only gives access to its item 0")
        self._discard_removed_top()
        if not self._heap:
            raise IndexError("empty PriorityQueue")
        return self._heap[0]

    def pop(self):
        self._discard_removed_top()
        if not self._heap:
            return None
        o = heapq.heappop(self._heap)
        self._known.remove(o)
        return o


class SafeSet(set):
    """A set whose ``remove`` ignores missing items."""

    def remove(self, o):
        self.discard(o)


@total_ordering
class ChannelJob:
    """What the scheduler knows about one job.

    ``seq`` is the job row id (tie breaker), ``date_created`` and ``eta`` are
    epoch seconds (``eta`` None when the job may start at once). Equality and
    hash are identity based: a changed job is replaced by a new instance, so
    that heaps never hold an item whose sort key changed under them.
    """

    def __init__(self, db_name, channel, uuid, seq, date_created, priority, eta):
        self.db_name = db_name
        self.channel = channel
        self.uuid = uuid
        self.seq = seq
        self.date_created = date_created
        self.priority = priority
        self.eta = eta

    def __repr__(self):
        return "<ChannelJob %s>" % self.uuid

    # object's own __eq__ and __hash__: identity, in C (heaps and sets of
    # jobs compare and hash them several times per dispatch)
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def sorting_key(self):
        return self.eta, self.priority, self.date_created, self.seq

    def sorting_key_ignoring_eta(self):
        return self.priority, self.date_created, self.seq

    def __lt__(self, other):
        """Jobs with an eta first, then by ``sorting_key()``."""
        if self.eta:
            return not other.eta or self.sorting_key() < other.sorting_key()
        return (
            not other.eta
            and self.sorting_key_ignoring_eta() < other.sorting_key_ignoring_eta()
        )


class ChannelQueue:
    """The queued jobs of one channel: a ready heap and an eta heap."""

    def __init__(self, sequential=False):
        self._queue = PriorityQueue()
        self._eta_queue = PriorityQueue()
        self.sequential = sequential

    def __len__(self):
        return len(self._eta_queue) + len(self._queue)

    def __contains__(self, o):
        return o in self._eta_queue or o in self._queue

    def add(self, job):
        if job.eta:
            self._eta_queue.add(job)
        else:
            self._queue.add(job)

    def remove(self, job):
        self._eta_queue.remove(job)
        self._queue.remove(job)

    def pop(self, now):
        while self._eta_queue and self._eta_queue[0].eta <= now:
            eta_job = self._eta_queue.pop()
            # From now on it competes with ready jobs by priority only.
            eta_job.eta = None
            self._queue.add(eta_job)
        if self.sequential and self._eta_queue and self._queue:
            eta_job = self._eta_queue[0]
            job = self._queue[0]
            if eta_job.sorting_key_ignoring_eta() < job.sorting_key_ignoring_eta():
                # A sequential channel waits for the earlier job rather than
                # letting a later one overtake it.
                return None
        return self._queue.pop()

    def get_wakeup_time(self, wakeup_time=0):
        if self._eta_queue:
            if not wakeup_time:
                wakeup_time = self._eta_queue[0].eta
            else:
                wakeup_time = min(wakeup_time, self._eta_queue[0].eta)
        return wakeup_time


class Channel:
    """A node of the channel tree, with its capacity and its jobs.

    Each state transition method is idempotent, so that replaying a
    notification is harmless.
    """

    def __init__(
        self, name, parent, capacity=None, sequential=False, throttle=0, db_name=None
    ):
        self.name = name
        self.parent = parent
        # Set on the copies that carry one database's own settings (see
        # ChannelManager.set_db_settings); they keep the original's full
        # name and sit next to it, under a key of their own.
        self.db_name = db_name
        self._fullname = None
        self.key = name if db_name is None else "%s@%s" % (name, db_name)
        if self.parent:
            self.parent.children[self.key] = self
        self.children = {}
        self.paused = False
        self._queue = ChannelQueue()
        self._running = SafeSet()
        self._failed = SafeSet()
        self._pause_until = 0  # epoch seconds, 0 = not paused (throttle)
        self.capacity = capacity
        self.throttle = throttle
        self.sequential = sequential

    @property
    def sequential(self):
        return self._queue.sequential

    @sequential.setter
    def sequential(self, value):
        self._queue.sequential = value

    def configure(self, config):
        """Apply one parsed configuration entry (see ``parse_simple_config``)."""
        assert self.fullname.endswith(config["name"])
        config = validate_channel_config(config)
        self.capacity = config["capacity"]
        self.sequential = config["sequential"]
        self.throttle = config["throttle"]

    @property
    def fullname(self):
        if self._fullname:
            return self._fullname
        if self.parent:
            return self.parent.fullname + "." + self.name
        return self.name

    def get_subchannel_by_name(self, subchannel_name):
        return self.children.get(subchannel_name)

    def __str__(self):
        capacity = "∞" if not self.capacity else str(self.capacity)
        return "%s%s(C:%s%s,Q:%d,R:%d,F:%d)" % (
            self.fullname,
            "" if self.db_name is None else "@" + self.db_name,
            capacity,
            ",paused" if self.paused else "",
            len(self._queue),
            len(self._running),
            len(self._failed),
        )

    def remove(self, job):
        """Forget the job here and in every ancestor."""
        self._queue.remove(job)
        self._running.remove(job)
        self._failed.remove(job)
        if self.parent:
            self.parent.remove(job)

    def set_done(self, job):
        self.remove(job)

    def set_pending(self, job):
        if job not in self._queue:
            self._queue.add(job)
            self._running.remove(job)
            self._failed.remove(job)
            if self.parent:
                self.parent.remove(job)

    def set_running(self, job):
        if job not in self._running:
            self._queue.remove(job)
            self._running.add(job)
            self._failed.remove(job)
            if self.parent:
                self.parent.set_running(job)

    def set_failed(self, job):
        if job not in self._failed:
            self._queue.remove(job)
            self._running.remove(job)
            self._failed.add(job)
            if self.parent:
                self.parent.remove(job)

    def has_capacity(self):
        if self.paused:
            # Its queued jobs wait; its running ones go on.
            return False
        if self.sequential and self._failed:
            # A sequential channel stops at its first failed job.
            return False
        if not self.capacity:
            return True
        return len(self._running) < self.capacity

    def get_jobs_to_run(self, now):
        """Yield the jobs this channel hands to its parent now.

        Each yielded job is already counted as running here.
        """
        for child in self.children.values():
            for job in child.get_jobs_to_run(now):
                self._queue.add(job)
        if self.throttle and self._pause_until:
            if now < self._pause_until:
                return
            self._pause_until = 0
        while self.has_capacity():
            job = self._queue.pop(now)
            if not job:
                return
            self._running.add(job)
            yield job
            if self.throttle:
                self._pause_until = now + self.throttle
                return

    def get_wakeup_time(self, wakeup_time=0):
        """Earliest time something may become runnable here (0 = no need)."""
        if not self.has_capacity():
            # A finishing job will produce a notification anyway.
            return wakeup_time
        if self.throttle and self._pause_until:
            if not wakeup_time:
                return self._pause_until
            return min(wakeup_time, self._pause_until)
        wakeup_time = self._queue.get_wakeup_time(wakeup_time)
        for child in self.children.values():
            wakeup_time = child.get_wakeup_time(wakeup_time)
        return wakeup_time


def split_strip(s, sep, maxsplit=-1):
    """``str.split`` then ``strip`` of every part."""
    return [x.strip() for x in s.split(sep, maxsplit)]


class ChannelManager:
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
        """Parse a channel configuration string into a list of dicts.

        Each error names the offending entry, e.g. ``root:x`` gives
        ``Invalid channel config root:x: invalid capacity x``.
        """
        res = []
        for entry in split_strip(config_string.replace("\n", ","), ","):
            if not entry:
                continue
            res.append(cls._parse_config_entry(entry))
        return res

    @staticmethod
    def _parse_config_entry(entry):
        items = split_strip(entry, ":")
        name = items[0]
        if not name:
            raise ValueError("Invalid channel config %s: missing channel name" % entry)
        config = {"name": name}
        if len(items) == 1:
            config["capacity"] = 1
            return config
        try:
            config["capacity"] = int(items[1])
        except ValueError:
            raise ValueError(
                "Invalid channel config %s: invalid capacity %s" % (entry, items[1])
            ) from None
        for item in items[2:]:
            key_value = split_strip(item, "=")
            if len(key_value) == 1:
                key, value = key_value[0], True
            elif len(key_value) == 2:
                key, value = key_value
            else:
                raise ValueError(
                    "Invalid channel config %s: incorrect config item %s"
                    % (entry, item)
                )
            if key in config:
                raise ValueError(
                    "Invalid channel config %s: duplicate key %s" % (entry, key)
                )
            config[key] = value
        return config

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

    # -- settings of the channel records of one database -------------------

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
