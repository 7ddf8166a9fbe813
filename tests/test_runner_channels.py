"""The job runner's scheduler (jobrunner.channels): pure Python, no database.

Covers the channel configuration grammar (spec §19), the scheduling
algorithm (§20), its five worked examples (§20.7) and the scenarios of
§27.11, with ``now`` passed explicitly everywhere.
"""
import pytest
from odoo.addons.queue_job.exception import ChannelNotFound
from odoo.addons.queue_job.jobrunner.channels import (
    NOT_DONE,
    Channel,
    ChannelJob,
    ChannelManager,
    ChannelQueue,
    PriorityQueue,
    SafeSet,
    split_strip,
)

DB = "db"


def configured(config_string):
    manager = ChannelManager()
    manager.simple_configure(config_string)
    return manager


def notify(manager, channel, uuid, state="pending", priority=10, eta=None, seq=None):
    seq = seq if seq is not None else int("".join(c for c in uuid if c.isdigit()) or 0)
    manager.notify(DB, channel, uuid, seq, 100.0, priority, eta, state)


def run(manager, now):
    return [job.uuid for job in manager.get_jobs_to_run(now)]


# -- grammar (§19) ---------------------------------------------------------


@pytest.mark.parametrize(
    "config_string, expected",
    [
        ("root:4", [{"name": "root", "capacity": 4}]),
        (
            "root:4,root.sub:2:sequential:k=v",
            [
                {"name": "root", "capacity": 4},
                {"name": "root.sub", "capacity": 2, "sequential": True, "k": "v"},
            ],
        ),
        ("root", [{"name": "root", "capacity": 1}]),
        ("sub:2", [{"name": "sub", "capacity": 2}]),
        (
            "foo bar:1: k=va lue",
            [{"name": "foo bar", "capacity": 1, "k": "va lue"}],
        ),
        (
            " root : 4 , sub : 2 : throttle = 3 ",
            [
                {"name": "root", "capacity": 4},
                {"name": "sub", "capacity": 2, "throttle": "3"},
            ],
        ),
        (
            "root:4,\n\n  sub:2,\n,",
            [{"name": "root", "capacity": 4}, {"name": "sub", "capacity": 2}],
        ),
        ("", []),
        (" , ,\n", []),
    ],
)
def test_parse_simple_config(config_string, expected):
    assert ChannelManager.parse_simple_config(config_string) == expected


@pytest.mark.parametrize(
    "config_string, message",
    [
        ("a:x", "Invalid channel config a:x: invalid capacity x"),
        ("root:4,:1", "Invalid channel config :1: missing channel name"),
        ("a:1:k=1=2", "Invalid channel config a:1:k=1=2: incorrect config item k=1=2"),
        ("a:1:k:k", "Invalid channel config a:1:k:k: duplicate key k"),
        ("a:1:capacity=3", "duplicate key capacity"),
        ("a:1:name", "duplicate key name"),
        ("root:", "invalid capacity"),
    ],
)
def test_parse_simple_config_errors(config_string, message):
    with pytest.raises(ValueError) as excinfo:
        ChannelManager.parse_simple_config(config_string)
    assert message in str(excinfo.value)


def test_split_strip():
    assert split_strip(" a : b :c ", ":") == ["a", "b", "c"]
    assert split_strip("a=b=c", "=", 1) == ["a", "b=c"]


def test_simple_configure_creates_and_configures_channels():
    manager = configured("root:4,autosub.sub:2,seq:1:sequential")
    root = manager.get_channel_by_name("root")
    autosub = manager.get_channel_by_name("root.autosub")
    sub = manager.get_channel_by_name("autosub.sub")
    seq = manager.get_channel_by_name("seq")
    assert (root.capacity, autosub.capacity, sub.capacity, seq.capacity) == (
        4,
        None,
        2,
        1,
    )
    assert seq.sequential and not sub.sequential
    assert sub.parent is autosub and autosub.parent is root
    assert seq.fullname == "root.seq"
    assert str(root) == "root(C:4,Q:0,R:0,F:0)"
    assert str(autosub) == "root.autosub(C:∞,Q:0,R:0,F:0)"


@pytest.mark.parametrize("config_string", ["q:2:sequential", "q:0:sequential=0"])
def test_sequential_channel_needs_capacity_one(config_string):
    with pytest.raises(
        ValueError, match="A sequential channel must have a capacity of 1"
    ):
        configured(config_string)


@pytest.mark.parametrize(
    "option, throttle",
    [("throttle", 1), ("throttle=5", 5), ("throttle=0.5", 0.5), (None, 0)],
)
def test_throttle_option(option, throttle):
    entry = "t:1:%s" % option if option else "t:1"
    assert configured(entry).get_channel_by_name("t").throttle == throttle


def test_unknown_options_are_refused():
    with pytest.raises(ValueError, match="unknown option 'color'"):
        configured("x:3:color=blue")


@pytest.mark.parametrize(
    "config_string, message",
    [
        ("root:-1", "invalid capacity -1"),
        ("a:-3", "invalid capacity -3"),
        ("t:1:throttle=-5", "invalid throttle '-5'"),
        ("t:1:throttle=0", "invalid throttle '0'"),
        ("t:1:throttle=later", "invalid throttle 'later'"),
        ("a:1:bogus", "unknown option 'bogus'"),
        ("a:1:sequentail", r"did you mean 'sequential'\?"),
    ],
)
def test_bad_values_are_refused_by_the_channel(config_string, message):
    with pytest.raises(ValueError, match=message):
        configured(config_string)


def test_a_refused_entry_leaves_the_channel_as_it_was():
    manager = configured("root:4,a:2")
    with pytest.raises(ValueError):
        manager.simple_configure("a:-1")
    assert manager.get_channel_by_name("a").capacity == 2


def test_default_root_capacity_is_one():
    assert ChannelManager().get_channel_by_name(None).capacity == 1


# -- channel lookup (§20.6, §27.11 #94) -------------------------------------


def test_get_channel_by_name():
    manager = configured("root:4,sub:2")
    root = manager.get_channel_by_name("root")
    assert manager.get_channel_by_name(None) is root
    assert manager.get_channel_by_name("") is root
    assert manager.get_channel_by_name("sub") is manager.get_channel_by_name("root.sub")
    with pytest.raises(ChannelNotFound, match="Channel root.unknown not found"):
        manager.get_channel_by_name("unknown")


def test_get_channel_by_name_autocreate():
    manager = configured("root:4")
    channel = manager.get_channel_by_name("a.b", autocreate=True)
    assert channel.fullname == "root.a.b"
    assert channel.capacity is None
    assert manager.get_channel_by_name("root.a").get_subchannel_by_name("b") is channel


def test_get_channel_by_name_parent_fallback_quirk():
    manager = configured("root:4,sub:2")
    channel = manager.get_channel_by_name(
        "root.sub.not.configured", parent_fallback=True
    )
    # The whole path is re-created below the nearest configured ancestor.
    assert channel.fullname == "root.sub.sub.not.configured"
    assert channel.parent.parent.parent is manager.get_channel_by_name("sub")
    unrelated = manager.get_channel_by_name("other", parent_fallback=True)
    assert unrelated.fullname == "root.other"


# -- PriorityQueue, SafeSet, ChannelJob, ChannelQueue -------------------------


def test_priority_queue():
    q = PriorityQueue()
    assert q.pop() is None and len(q) == 0
    with pytest.raises(IndexError):
        q[0]
    with pytest.raises(ValueError):
        q.add(None)
    with pytest.raises(ValueError):
        q.remove(None)
    for value in (3, 1, 2):
        q.add(value)
    q.add(1)  # already there: no-op
    assert len(q) == 3 and 1 in q
    q.remove(1)
    q.remove(42)  # unknown: no-op
    assert len(q) == 2 and 1 not in q
    assert q[0] == 2
    with pytest.raises(IndexError):
        q[1]
    q.add(1)  # re-activated while still in the heap
    assert len(q) == 3 and q.pop() == 1
    assert [q.pop(), q.pop(), q.pop()] == [2, 3, None]


def test_safe_set():
    s = SafeSet([1])
    s.remove(2)
    s.remove(1)
    assert not s


def test_channel_job_ordering_and_identity():
    channel = Channel("root", None)
    job = ChannelJob(DB, channel, "u1", 1, 100, 10, None)
    same = ChannelJob(DB, channel, "u1", 1, 100, 10, None)
    assert job != same and len({job, same}) == 2
    assert repr(job) == "<ChannelJob u1>"
    with_eta = ChannelJob(DB, channel, "u2", 2, 100, 50, 500)
    better_priority = ChannelJob(DB, channel, "u3", 3, 100, 5, None)
    older = ChannelJob(DB, channel, "u4", 4, 90, 10, None)
    lower_seq = ChannelJob(DB, channel, "u0", 0, 100, 10, None)
    assert with_eta < job and not job < with_eta
    assert sorted([job, older, better_priority, lower_seq, with_eta]) == [
        with_eta,
        better_priority,
        older,
        lower_seq,
        job,
    ]
    assert with_eta.sorting_key() == (500, 50, 100, 2)
    assert with_eta.sorting_key_ignoring_eta() == (50, 100, 2)


def test_channel_queue_eta_jobs_compete_by_priority_once_due():
    channel = Channel("root", None)
    queue = ChannelQueue()
    late = ChannelJob(DB, channel, "late", 1, 100, 20, 105)
    urgent = ChannelJob(DB, channel, "urgent", 2, 100, 5, None)
    queue.add(late)
    queue.add(urgent)
    assert len(queue) == 2 and late in queue
    assert queue.get_wakeup_time() == 105
    assert queue.get_wakeup_time(103) == 103
    assert queue.pop(104) is urgent
    assert queue.pop(104) is None
    queue.add(urgent)
    # Due now: moved to the ready queue, without jumping ahead of priority 5.
    assert queue.pop(106) is urgent
    assert late.eta is None
    assert queue.pop(106) is late
    assert queue.get_wakeup_time(7) == 7


# -- the worked examples (§20.7, §27.11 #95) ----------------------------------


def test_worked_example_1_capacities():
    manager = configured("root:4,A:4,B:1")
    for i in range(1, 7):
        notify(manager, "A", "A%d" % i, seq=i)
    for i in range(1, 3):
        notify(manager, "B", "B%d" % i, priority=5, seq=10 + i)
    assert run(manager, 100) == ["B1", "A1", "A2", "A3"]
    notify(manager, "A", "A2", state="done", seq=2)
    assert run(manager, 100) == ["A4"]
    notify(manager, "B", "B1", state="done", priority=5, seq=11)
    assert run(manager, 100) == ["B2"]
    notify(manager, "A", "A1", state="done", seq=1)
    notify(manager, "A", "A6", priority=5, seq=6)
    assert run(manager, 100) == ["A6"]


def test_worked_example_2_throttle():
    manager = configured("root:4,A:4:throttle=2")
    notify(manager, "A", "A1")
    notify(manager, "A", "A2")
    assert run(manager, 100) == ["A1"]
    assert manager.get_wakeup_time() == 102
    assert run(manager, 101) == []
    assert run(manager, 102) == ["A2"]
    assert manager.get_wakeup_time() == 104


def test_worked_example_3_throttle_and_capacity():
    manager = configured("root:4,T:2:throttle=2")
    for i in range(1, 4):
        notify(manager, "T", "T%d" % i)
    assert run(manager, 100) == ["T1"]
    assert run(manager, 102) == ["T2"]
    assert run(manager, 103) == []
    assert manager.get_wakeup_time() == 0
    assert run(manager, 104) == []
    assert manager.get_wakeup_time() == 0
    notify(manager, "T", "T1", state="done")
    assert run(manager, 105) == ["T3"]
    assert manager.get_wakeup_time() == 0
    notify(manager, "T", "T2", state="done")
    assert manager.get_wakeup_time() == 107


def test_worked_example_4_eta():
    manager = configured("root:4,E:1")
    for i in range(1, 4):
        notify(manager, "E", "E%d" % i)
    assert run(manager, 100) == ["E1"]
    assert run(manager, 101) == []
    notify(manager, "E", "E1", eta=105)
    assert manager.get_wakeup_time() == 105
    assert run(manager, 102) == ["E2"]
    assert run(manager, 106) == []
    assert manager.get_wakeup_time() == 0
    notify(manager, "E", "E2", state="done")
    assert manager.get_wakeup_time() == 105
    assert run(manager, 107) == ["E1"]
    assert manager.get_wakeup_time() == 0


def test_worked_example_5_sequential():
    manager = configured("root:4,S:1:sequential")
    for i in range(1, 4):
        notify(manager, "S", "S%d" % i)
    assert run(manager, 100) == ["S1"]
    notify(manager, "S", "S1", state="failed")
    assert run(manager, 101) == []
    notify(manager, "S", "S2", eta=105)
    assert run(manager, 102) == []
    assert manager.get_wakeup_time() == 0
    notify(manager, "S", "S1")
    assert manager.get_wakeup_time() == 105
    assert run(manager, 102) == ["S1"]
    assert run(manager, 103) == []
    notify(manager, "S", "S1", state="done")
    assert run(manager, 103) == []
    assert run(manager, 105) == ["S2"]
    notify(manager, "S", "S2", state="done", eta=105)
    assert run(manager, 105) == ["S3"]
    notify(manager, "S", "S3", state="done")
    assert run(manager, 106) == []


# -- further scenarios (§27.11 #96-98) and edge cases --------------------------


def test_capacity_zero_sub_channel_is_unlimited_below_root():
    manager = configured("root:2,sub:0")
    for i in range(1, 6):
        notify(manager, "sub", "J%d" % i)
    assert run(manager, 100) == ["J1", "J2"]
    assert run(manager, 101) == []


def test_wait_dependencies_job_is_not_scheduled():
    manager = configured("root:2")
    notify(manager, "root", "J1", state="wait_dependencies")
    assert run(manager, 100) == []
    assert manager.get_wakeup_time() == 0
    notify(manager, "root", "J1", state="pending")
    assert run(manager, 100) == ["J1"]


def test_priority_change_reschedules_pending_job():
    manager = configured("root:1")
    notify(manager, "root", "J1", priority=10)
    notify(manager, "root", "J2", priority=10)
    notify(manager, "root", "J2", priority=1)
    assert run(manager, 100) == ["J2"]
    notify(manager, "root", "J2", state="done", priority=1)
    assert run(manager, 100) == ["J1"]


def test_channel_change_moves_the_job():
    manager = configured("root:4,A:1,B:1")
    notify(manager, "A", "J1")
    notify(manager, "A", "J2")
    assert run(manager, 100) == ["J1"]
    notify(manager, "B", "J2")
    assert run(manager, 100) == ["J2"]
    assert len(manager.get_channel_by_name("A")._queue) == 0


def test_running_jobs_consume_capacity_until_done():
    manager = configured("root:2")
    notify(manager, "root", "J1", state="started")
    notify(manager, "root", "J2", state="enqueued")
    notify(manager, "root", "J3")
    assert run(manager, 100) == []
    notify(manager, "root", "J1", state="done")
    assert run(manager, 100) == ["J3"]


def test_failed_job_frees_capacity_and_is_not_rerun():
    manager = configured("root:1")
    notify(manager, "root", "J1")
    notify(manager, "root", "J2")
    assert run(manager, 100) == ["J1"]
    notify(manager, "root", "J1", state="failed")
    assert run(manager, 100) == ["J2"]
    root = manager.get_channel_by_name("root")
    assert str(root) == "root(C:1,Q:0,R:1,F:1)"


def test_failed_job_is_counted_in_its_channel():
    manager = configured("root:2,A:1")
    notify(manager, "A", "J1")
    run(manager, 100)
    notify(manager, "A", "J1", state="failed")
    assert str(manager.get_channel_by_name("A")) == "root.A(C:1,Q:0,R:0,F:1)"


@pytest.mark.parametrize("state", ["done", "cancelled", None])
def test_finished_or_deleted_jobs_are_forgotten(state):
    manager = configured("root:1")
    notify(manager, "root", "J1")
    notify(manager, "root", "J1", state=state)
    assert manager.get_job("J1", DB) is None
    assert run(manager, 100) == []


def test_unknown_state_is_logged_and_ignored(caplog):
    manager = configured("root:1")
    notify(manager, "root", "J1", state="bogus")
    assert "unexpected state 'bogus'" in caplog.text
    assert run(manager, 100) == []


def test_notify_is_idempotent():
    manager = configured("root:2")
    for _i in range(3):
        notify(manager, "root", "J1")
    assert run(manager, 100) == ["J1"]
    for _i in range(3):
        notify(manager, "root", "J1", state="started")
    notify(manager, "root", "J2")
    assert run(manager, 100) == ["J2"]


def test_eta_job_waits_for_its_time():
    manager = configured("root:2")
    notify(manager, "root", "J1", eta=130)
    assert run(manager, 100) == []
    assert manager.get_wakeup_time() == 130
    assert run(manager, 129.9) == []
    assert run(manager, 130) == ["J1"]


def test_unconfigured_channel_falls_back_to_configured_ancestor():
    manager = configured("root:4,sub:1")
    notify(manager, "root.sub.child", "J1")
    notify(manager, "root.sub.child", "J2")
    assert run(manager, 100) == ["J1"]


def test_jobs_of_several_databases_share_capacity():
    manager = configured("root:2")
    for db in ("db1", "db2"):
        for i in (1, 2):
            manager.notify(db, "root", "J%d" % i, i, 100.0, 10, None, "pending")
    jobs = list(manager.get_jobs_to_run(100))
    assert len(jobs) == 2
    manager.remove_db(jobs[0].db_name)
    assert manager.get_job("J1", jobs[0].db_name) is None


def test_same_uuid_in_two_databases():
    """A copied database carries the same uuids: both jobs are kept apart."""
    manager = configured("root:4")
    manager.notify("db1", "root", "J1", 1, 100.0, 10, None, "pending")
    manager.notify("db2", "root", "J1", 1, 100.0, 10, None, "pending")
    assert sorted(job.db_name for job in manager.get_jobs_to_run(100)) == [
        "db1",
        "db2",
    ]
    manager.remove_job("J1", "db1")
    assert manager.get_job("J1", "db1") is None
    assert manager.get_job("J1", "db2") is not None
    manager.remove_job("J1")
    assert manager.get_job("J1") is None


def test_remove_job_frees_capacity():
    manager = configured("root:1")
    notify(manager, "root", "J1")
    notify(manager, "root", "J2")
    assert run(manager, 100) == ["J1"]
    manager.remove_job("J1", DB)
    assert run(manager, 100) == ["J2"]


def test_sequential_channel_keeps_order_with_equal_priority():
    manager = configured("root:4,S:1:sequential")
    for i in range(1, 6):
        notify(manager, "S", "S%d" % i)
    order = []
    for now in range(100, 106):
        started = run(manager, now)
        order += started
        for uuid in started:
            notify(manager, "S", uuid, state="done")
    assert order == ["S1", "S2", "S3", "S4", "S5"]


def test_iter_channels_lists_parents_first():
    manager = configured("root:4,b:1,a:1,a.x:1")
    assert [c.fullname for c in manager.iter_channels()] == [
        "root",
        "root.a",
        "root.a.x",
        "root.b",
    ]


def test_not_done_states():
    assert NOT_DONE == ("wait_dependencies", "pending", "enqueued", "started", "failed")
