"""End-to-end: the metrics and the health check served by a real prefork Odoo
server whose job runner runs jobs, is killed, and is frozen."""
import os
import signal

import pytest
import requests
from harness import database
from odoo.addons.queue_job.job import STATES
from prometheus_client.parser import text_string_to_metric_families
from reliability_helpers import wait_until
from test_e2e_runner import Jobs, runner_processes, wait_no_runner

# real Odoo servers, clusters or browsers: left out by pytest -m "not slow"
pytestmark = pytest.mark.slow

TOKEN = "qjobs-e2e-metrics-token"
CHANNELS = "root:4,obs_busy:1,obs_paused:2"
BUSY = "root.obs_busy"
PAUSED = "root.obs_paused"
STATE_NAMES = [state for state, _label in STATES]
PASSWORD = "qjobs-obs-password"


@pytest.fixture(scope="module")
def users(odoo, db_name):
    with odoo.registry(db_name).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        logins = {}
        for login, groups in (
            ("qjobs_obs_manager", "base.group_user,queue_job.group_queue_job_manager"),
            ("qjobs_obs_user", "base.group_user"),
        ):
            user = env["res.users"].search([("login", "=", login)])
            if not user:
                user = env["res.users"].create(
                    {
                        "name": login,
                        "login": login,
                        "password": PASSWORD,
                        "groups_id": [
                            (6, 0, [env.ref(xmlid).id for xmlid in groups.split(",")])
                        ],
                    }
                )
            logins[login] = user.id
    return logins


@pytest.fixture(scope="module")
def server(module_server_factory, odoo, db_name):
    def committed_env():
        return database.committed_env(odoo, db_name)

    wait_no_runner(Jobs(db_name, committed_env, "obs"))
    with committed_env() as env:
        root = env.ref("queue_job.channel_root")
        channel = env["queue.job.channel"].search([("complete_name", "=", PAUSED)])
        if not channel:
            channel = channel.create({"name": "obs_paused", "parent_id": root.id})
        channel.paused = True
    server = module_server_factory(
        workers=2,
        env={
            "ODOO_QUEUE_JOB_CHANNELS": CHANNELS,
            "ODOO_QUEUE_JOB_METRICS_TOKEN": TOKEN,
        },
        name="e2e-observability",
    )
    server.wait_for_log("queue job runner ready for db %s" % db_name)
    yield server
    with committed_env() as env:
        env["queue.job.channel"].search([("complete_name", "=", PAUSED)]).unlink()


@pytest.fixture
def jobs(request, db_name, committed_env):
    tracker = Jobs(db_name, committed_env, "obs-%s" % request.node.name[:30])
    yield tracker
    tracker.cleanup()


def scrape(server, db_name, token=TOKEN):
    status, text = server.get(
        "/queue_job/metrics?db=%s" % db_name,
        headers={"Authorization": "Bearer %s" % token},
    )
    assert status == 200, text
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families, name, **labels):
    found = [
        sample.value
        for sample in families[name].samples
        if all(sample.labels.get(key) == val for key, val in labels.items())
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def health(server, db_name):
    status, body = server.get("/queue_job/health?db=%s" % db_name, timeout=10)
    return status, body


def login(server, db_name, login):
    session = requests.Session()
    response = session.post(
        server.url + "/web/session/authenticate",
        json={"params": {"db": db_name, "login": login, "password": PASSWORD}},
        timeout=30,
    )
    assert response.json()["result"]["uid"], response.text
    return session


def test_unauthorised_requests_get_no_data(server, db_name, users):
    url = server.url + "/queue_job/metrics?db=%s" % db_name
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = requests.get(url, headers=headers, timeout=30)
        assert response.status_code == 401, headers
        assert "queue_job_" not in response.text
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    response = login(server, db_name, "qjobs_obs_user").get(url, timeout=30)
    assert response.status_code == 403
    assert "queue_job_" not in response.text
    response = login(server, db_name, "qjobs_obs_manager").get(url, timeout=30)
    assert response.status_code == 200
    assert "queue_job_runner_up{" in response.text
    response = requests.get(
        url, headers={"Authorization": "Bearer " + TOKEN}, timeout=30
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")


def test_busy_and_paused_channels_show(server, db_name, jobs):
    busy = jobs.delay(3, duration=20.0, channel=BUSY)
    paused = jobs.delay(2, channel=PAUSED)

    def busy_started():
        states = jobs.states(busy)
        return list(states.values()).count("started") == 1 and states

    wait_until(busy_started, 30, "one busy job started")
    families = scrape(server, db_name)
    assert value(families, "queue_job_channel_running", channel=BUSY) == 1
    assert value(families, "queue_job_channel_capacity", channel=BUSY) == 1
    assert value(families, "queue_job_jobs", channel=BUSY, state="pending") == 2
    assert value(families, "queue_job_oldest_pending_age_seconds", channel=BUSY) > 0
    assert value(families, "queue_job_channel_paused", channel=PAUSED) == 1
    assert value(families, "queue_job_jobs", channel=PAUSED, state="pending") == 2
    assert value(families, "queue_job_channel_running", channel=PAUSED) == 0
    assert value(families, "queue_job_runner_up", db=db_name) == 1
    assert jobs.states(paused) == dict.fromkeys(paused, "pending")


def test_metric_values_match_the_database(server, db_name, jobs):
    before = scrape(server, db_name)
    done_before = value(before, "queue_job_jobs_done", channel="root")
    uuids = jobs.delay(5)
    jobs.wait_done(uuids, timeout=60)
    quiet = "SELECT count(*) FROM queue_job WHERE state IN ('enqueued', 'started')"
    wait_until(lambda: jobs.sql(quiet)[0][0] == 0, 60, "no job running")
    families = scrape(server, db_name)
    rows = jobs.sql(
        "SELECT COALESCE(channel, 'root'), state, count(*) FROM queue_job GROUP BY 1, 2"
    )
    counts = {(channel, state): count for channel, state, count in rows}
    channels = {channel for channel, _state in counts}
    for channel in channels:
        for state in STATE_NAMES:
            assert value(
                families, "queue_job_jobs", channel=channel, state=state
            ) == counts.get((channel, state), 0), (channel, state)
    assert value(families, "queue_job_jobs_done", channel="root") == (done_before + 5)
    (pid,) = runner_processes(server)
    assert value(families, "queue_job_runner_info", role="leader")
    # the runner's own counters come with its next heartbeat
    wait_until(
        lambda: value(
            scrape(server, db_name), "queue_job_runner_dispatched", pid=str(pid)
        )
        >= 5,
        30,
        "the runner's dispatches in the metrics",
    )


def test_health_follows_the_runner_killed_and_frozen(server, db_name):
    def status_is(expected):
        return lambda: health(server, db_name)[0] == expected

    wait_until(status_is(200), 60, "health 200 with a leading runner")
    status, body = health(server, db_name)
    assert '"runner_up": true' in body and "queue_job_" not in body
    (pid,) = runner_processes(server)
    # Keep the master from respawning the runner while its death is seen.
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        os.kill(pid, signal.SIGKILL)
        wait_until(status_is(503), 30, "health 503 once the runner is killed")
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    wait_until(status_is(200), 60, "health 200 once Odoo respawned the runner")
    (pid,) = runner_processes(server)
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(status_is(503), 45, "health 503 while the runner is frozen")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(status_is(200), 15, "health 200 once the runner runs again")


def test_health_of_an_unknown_database_is_404(server):
    status, body = health(server, "qjobs_no_such_db")
    assert status == 404 and '"status"' in body
