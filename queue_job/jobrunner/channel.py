# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""A node of the scheduler's channel tree (see ``channels``).

Pure Python; time-dependent calls receive ``now`` (epoch seconds, UTC).
"""
from .channel_config import validate_channel_config
from .channel_queue import ChannelQueue, SafeSet


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
