# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0.html)
"""The queues of the scheduler: a heap with removal, and a channel's jobs.

Pure Python; time-dependent calls receive ``now`` (epoch seconds, UTC).
"""
import heapq
from functools import total_ordering


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
