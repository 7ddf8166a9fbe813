"""The job runner's HTTP dispatcher against a tiny local HTTP server.

No Odoo and no database: the server records what it receives and answers as
told (normal answers, errors, dropped connections, slow jobs).
"""
import http.server
import queue
import socket
import threading
import time

import pytest
from odoo.addons.queue_job.jobrunner import dispatcher as dispatcher_module
from odoo.addons.queue_job.jobrunner import worker_pool
from odoo.addons.queue_job.jobrunner.dispatcher import (
    DispatchResult,
    Endpoint,
    HttpDispatcher,
    build_request,
    runjob_path,
    session_cookie,
)
from runner_fakes import FakeOdoo, basic_auth_of


@pytest.fixture
def results():
    return queue.Queue()


@pytest.fixture
def make_dispatcher(results):
    dispatchers = []

    def factory(port, user=None, password=None, **kw):
        dispatcher = HttpDispatcher(
            Endpoint("http", "127.0.0.1", port, user, password), results.put, **kw
        )
        dispatcher.start()
        dispatchers.append(dispatcher)
        return dispatcher

    yield factory
    for dispatcher in dispatchers:
        dispatcher.stop()


def collect(results, count, timeout=10):
    return [results.get(timeout=timeout) for _i in range(count)]


def test_runjob_path_is_url_encoded():
    assert runjob_path("my db", "a&b") == "/queue_job/runjob?db=my%20db&job_uuid=a%26b"


def test_build_request():
    request = build_request(Endpoint("http", "::1", 8069, "u", "p"), "/x").decode()
    assert request.startswith("GET /x HTTP/1.1\r\n")
    assert "Host: [::1]:8069\r\n" in request
    assert "Authorization: Basic dTpw\r\n" in request
    assert request.endswith("\r\n\r\n")


def test_dispatch_sends_runjob_requests(make_dispatcher, results):
    with FakeOdoo() as server:
        server.behaviour = "error"
        server.error_status = 200
        dispatcher = make_dispatcher(server.port, user="admin", password="s3cret")
        dispatcher.dispatch("db1", "uuid-1")
        assert collect(results, 1) == [DispatchResult("db1", "uuid-1", None)]
        ((db, uuid, headers),) = server.requests
        assert (db, uuid) == ("db1", "uuid-1")
        assert basic_auth_of(headers) == "admin:s3cret"
        assert headers["Host"] == "127.0.0.1:%s" % server.port


@pytest.fixture
def name_lookups(monkeypatch):
    """The names the dispatcher resolved through socket.getaddrinfo."""
    names = []
    getaddrinfo = socket.getaddrinfo

    def counting_getaddrinfo(host, *args, **kwargs):
        names.append(host)
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting_getaddrinfo)
    return names


def localhost_dispatcher(server, results):
    """A dispatcher to ``server`` by the name localhost; it answers 200."""
    server.behaviour = "error"
    server.error_status = 200
    dispatcher = HttpDispatcher(
        Endpoint("http", "localhost", server.port, None, None),
        results.put,
        # no session request connecting at the same time as the first job's
        sessions=False,
    )
    dispatcher.start()
    return dispatcher


def dispatch_one_by_one(dispatcher, results, count):
    """Dispatch ``count`` jobs, each once the previous one is answered; stop."""
    try:
        for index in range(count):
            dispatcher.dispatch("db", "u%d" % index)
            assert collect(results, 1)[0].error is None
    finally:
        dispatcher.stop()


def test_host_name_resolved_once(results, name_lookups):
    with FakeOdoo() as server:
        dispatcher = localhost_dispatcher(server, results)
        dispatch_one_by_one(dispatcher, results, 5)
        assert len(server.requests) == 5
        # the Host header keeps the name
        assert server.requests[0][2]["Host"] == "localhost:%s" % server.port
    assert name_lookups.count("localhost") == 1
    assert "127.0.0.1" in dispatcher._address[0]


def test_address_that_stops_answering_is_resolved_again(results, name_lookups):
    with FakeOdoo() as server:
        dispatcher = localhost_dispatcher(server, results)
        try:
            # nothing listens on 127.0.0.3: as if the name had moved
            dispatcher._address = ("127.0.0.3", time.monotonic() + 60)
            dispatcher.dispatch("db", "u")
            assert collect(results, 1)[0].error is None
        finally:
            dispatcher.stop()
        assert len(server.requests) == 1
    assert name_lookups.count("localhost") == 1
    assert dispatcher._address[0] == "127.0.0.1"


def test_address_reused_for_a_while_only(results, name_lookups, monkeypatch):
    monkeypatch.setattr(dispatcher_module, "ADDRESS_TTL", 0)
    with FakeOdoo() as server:
        dispatch_one_by_one(localhost_dispatcher(server, results), results, 3)
    assert name_lookups.count("localhost") == 3


def test_no_authorization_header_without_user(make_dispatcher, results):
    with FakeOdoo() as server:
        server.behaviour = "error"
        server.error_status = 204
        make_dispatcher(server.port).dispatch("db", "u")
        assert collect(results, 1)[0].error is None
        assert "Authorization" not in server.requests[0][2]


@pytest.mark.parametrize("status", [500, 404, 401, 302])
def test_non_2xx_status_is_a_failure(make_dispatcher, results, status):
    with FakeOdoo() as server:
        server.behaviour = "error"
        server.error_status = status
        make_dispatcher(server.port).dispatch("db", "u")
        (result,) = collect(results, 1)
        assert result.error == "HTTP status %s" % status


def test_connection_refused_is_a_failure(make_dispatcher, results):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    make_dispatcher(port).dispatch("db", "u")
    (result,) = collect(results, 1)
    assert result.uuid == "u" and "ConnectionRefusedError" in result.error


def test_connection_dropped_without_answer_is_a_failure(make_dispatcher, results):
    with FakeOdoo() as server:
        server.behaviour = "drop"
        make_dispatcher(server.port).dispatch("db", "u")
        (result,) = collect(results, 1)
        assert "without a response" in result.error


def test_connect_timeout_is_a_failure(make_dispatcher, results):
    # A listening socket whose backlog is full never completes new
    # handshakes; a non-routable address is the portable equivalent.
    dispatcher = HttpDispatcher(
        Endpoint("http", "10.255.255.1", 9, None, None),
        results.put,
        connect_timeout=0.3,
    )
    dispatcher.start()
    try:
        dispatcher.dispatch("db", "u")
        # reported within collect()'s wait: the connect timeout applied
        (result,) = collect(results, 1, timeout=5)
        assert result.error
    finally:
        dispatcher.stop()


def dispatcher_threads():
    return [t for t in threading.enumerate() if t.name == "queue_job.dispatcher"]


def test_slow_job_is_waited_for_and_dispatch_never_blocks(make_dispatcher, results):
    """No short read timeout: a request held by the server is no failure,
    and held requests do not block the next dispatches (a thread each)."""
    release = threading.Event()
    arrived = threading.Semaphore(0)

    class HeldHandler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            arrived.release()
            release.wait(30)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HeldHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dispatcher = make_dispatcher(server.server_address[1], sessions=False)
        for i in range(20):
            dispatcher.dispatch("db", "u%d" % i)
        # every request reached the server while none was answered
        assert all(arrived.acquire(timeout=10) for _i in range(20))
        assert results.empty() and dispatcher.in_flight == 20
        assert len(dispatcher_threads()) == 20
        release.set()
        found = collect(results, 20)
        assert all(result.error is None for result in found)
        pool = set(dispatcher_threads())
        assert len(pool) == 20
        # and no thread per job: the next requests reuse them
        for i in range(20, 40):
            dispatcher.dispatch("db", "u%d" % i)
        assert all(result.error is None for result in collect(results, 20))
        assert set(dispatcher_threads()) == pool
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_idle_threads_exit(make_dispatcher, results, monkeypatch):
    monkeypatch.setattr(worker_pool, "IDLE_THREAD_TTL", 0.3)
    with FakeOdoo() as server:
        answer_200(server)
        dispatcher = make_dispatcher(server.port, sessions=False)
        dispatcher.dispatch("db", "u1")
        assert collect(results, 1)[0].error is None
        assert len(dispatcher_threads()) == 1
        deadline = time.monotonic() + 5
        while dispatcher_threads():
            assert time.monotonic() < deadline, "the idle thread did not exit"
            time.sleep(0.05)
        # a new request gets a new thread
        dispatcher.dispatch("db", "u2")
        assert collect(results, 1)[0].error is None
        assert server.uuids() == ["u1", "u2"]


def test_keep_alive_connections_are_reused(make_dispatcher, results):
    with FakeOdoo(keep_alive=True) as server:
        server.behaviour = "error"
        server.error_status = 200
        dispatcher = make_dispatcher(server.port, sessions=False)
        for i in range(5):
            dispatcher.dispatch("db", "u%d" % i)
            assert collect(results, 1)[0].error is None
        assert server.connections == 1
        assert len(server.requests) == 5


def test_connections_closed_by_http10_server_are_not_reused(make_dispatcher, results):
    with FakeOdoo(keep_alive=False) as server:
        server.behaviour = "error"
        server.error_status = 200
        dispatcher = make_dispatcher(server.port, sessions=False)
        for i in range(3):
            dispatcher.dispatch("db", "u%d" % i)
            assert collect(results, 1)[0].error is None
        assert server.connections == 3


class _IdleClosingHandler(http.server.BaseHTTPRequestHandler):
    """Announces keep-alive, then closes the connection once idle."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.served += 1
        body = b"ok"
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        self.wfile.flush()
        self.close_connection = True


def test_stale_keep_alive_connection_is_retried_on_a_new_one(make_dispatcher, results):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _IdleClosingHandler)
    server.served = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dispatcher = make_dispatcher(server.server_address[1], sessions=False)
        for i in range(3):
            dispatcher.dispatch("db", "u%d" % i)
            assert collect(results, 1)[0].error is None
            time.sleep(0.1)  # let the server close the idle connection
        assert server.served == 3
    finally:
        server.shutdown()
        server.server_close()


def test_stop_abandons_requests_in_flight(results):
    class HangingHandler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            time.sleep(3)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HangingHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dispatcher = HttpDispatcher(
            Endpoint("http", "127.0.0.1", server.server_address[1], None, None),
            results.put,
        )
        dispatcher.start()
        dispatcher.dispatch("db", "u")
        time.sleep(0.3)
        assert dispatcher.in_flight == 1
        started = time.monotonic()
        dispatcher.stop()
        assert time.monotonic() - started < 2
        assert results.empty()
    finally:
        server.shutdown()
        server.server_close()


class _OneRequestPerConnectionHandler(http.server.BaseHTTPRequestHandler):
    """Announces keep-alive but drops the second request of a connection,
    unanswered: what a client sees when the server closed an idle connection
    just as the client reused it."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle(self):
        self.requests_here = 0
        super().handle()

    def do_GET(self):
        self.requests_here += 1
        if self.requests_here > 1:
            self.server.dropped += 1
            self.close_connection = True
            return
        self.server.served += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_reused_connection_closed_unanswered_is_retried(make_dispatcher, results):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), _OneRequestPerConnectionHandler
    )
    server.served = server.dropped = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dispatcher = make_dispatcher(server.server_address[1], sessions=False)
        for i in range(3):
            dispatcher.dispatch("db", "u%d" % i)
            assert collect(results, 1)[0].error is None
        assert server.served == 3
        assert server.dropped == 2
    finally:
        server.shutdown()
        server.server_close()


def test_build_request_with_session():
    request = build_request(Endpoint("http", "h", 80, None, None), "/x", "abc")
    assert "Cookie: session_id=abc\r\n" in request.decode()


def test_session_cookie():
    assert session_cookie(["a=1", "session_id=xyz; Path=/; HttpOnly"]) == "xyz"
    assert session_cookie(["frontend_lang=en_US; Path=/"]) is None
    assert session_cookie([]) is None


def wait_sessions(server, count, timeout=10):
    deadline = time.monotonic() + timeout
    while len(server.sessions) < count:
        assert time.monotonic() < deadline, server.sessions
        time.sleep(0.01)
    time.sleep(0.05)  # the answer is being read
    return list(server.sessions)


def wait_session_held(dispatcher, db_name, timeout=10):
    """Wait until the dispatcher has read the session Odoo gave for ``db_name``
    (the fake server's log only says it was asked)."""
    deadline = time.monotonic() + timeout
    while True:
        session = dispatcher._sessions.get(db_name)
        if session is not None and session.session_id:
            return session.session_id
        assert time.monotonic() < deadline, "no session for %s" % db_name
        time.sleep(0.01)


def answer_200(server):
    """runjob answered without running anything (no database here)."""
    server.behaviour = "error"
    server.error_status = 200


def session_sent(request):
    return request[2].get("Cookie")


def test_session_asked_once_per_database_and_sent(make_dispatcher, results):
    with FakeOdoo() as server:
        answer_200(server)
        dispatcher = make_dispatcher(server.port)
        dispatcher.dispatch("db1", "u1")
        collect(results, 1)
        assert wait_sessions(server, 1) == [("db1", None)]
        assert wait_session_held(dispatcher, "db1") == "sid-db1"
        for uuid in ("u2", "u3"):
            dispatcher.dispatch("db1", uuid)
        dispatcher.dispatch("db2", "u4")
        collect(results, 3)
        # by uuid: the fake server's threads may record them in any order
        sent = {
            request[1]: session_sent(request) for request in server.wait_requests(4)
        }
        # the first request of a database does not wait for its session
        assert sent == {
            "u1": None,
            "u2": "session_id=sid-db1",
            "u3": "session_id=sid-db1",
            "u4": None,
        }
        assert wait_sessions(server, 2) == [("db1", None), ("db2", None)]
        assert wait_session_held(dispatcher, "db2") == "sid-db2"
        dispatcher.dispatch("db2", "u5")
        collect(results, 1)
        assert session_sent(server.wait_requests(5)[4]) == "session_id=sid-db2"


def test_session_renewed_with_its_cookie(make_dispatcher, results, monkeypatch):
    monkeypatch.setattr(dispatcher_module, "SESSION_TTL", 0.2)
    with FakeOdoo() as server:
        answer_200(server)
        dispatcher = make_dispatcher(server.port)
        dispatcher.dispatch("db", "u1")
        collect(results, 1)
        wait_sessions(server, 1)
        wait_session_held(dispatcher, "db")
        time.sleep(0.3)
        dispatcher.dispatch("db", "u2")
        collect(results, 1)
        assert wait_sessions(server, 2) == [
            ("db", None),
            ("db", "session_id=sid-db"),
        ]


def test_no_session_from_odoo(make_dispatcher, results, monkeypatch):
    """Refused (e.g. a database filter rejecting it): runjob goes without."""
    monkeypatch.setattr(dispatcher_module, "SESSION_RETRY", 0.3)
    with FakeOdoo() as server:
        answer_200(server)
        server.session_status = 404
        dispatcher = make_dispatcher(server.port)
        dispatcher.dispatch("db", "u1")
        assert collect(results, 1)[0].error is None
        wait_sessions(server, 1)
        dispatcher.dispatch("db", "u2")
        assert collect(results, 1)[0].error is None
        assert [session_sent(r) for r in server.wait_requests(2)] == [None, None]
        assert len(server.sessions) == 1
        # asked again later
        server.session_status = 200
        time.sleep(0.4)
        dispatcher.dispatch("db", "u3")
        collect(results, 1)
        assert wait_sessions(server, 2)[1] == ("db", None)
        wait_session_held(dispatcher, "db")
        dispatcher.dispatch("db", "u4")
        collect(results, 1)
        assert session_sent(server.wait_requests(4)[3]) == "session_id=sid-db"
