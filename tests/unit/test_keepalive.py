"""The senders' HTTP transport: one kept-alive connection per thread, never a dead one reused."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from loyalty.notify.keepalive import KeptAliveConnections
from tests.fakes.http import LocalHttpFake


class Echo(LocalHttpFake):
    """Answers each POST with its body; records the client port (one per connection)."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.close_after_answer = False  # close the connection without saying so (idle timeout)
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                fake.ports.append(self.client_address[1])
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(fake.delay)
                self.send_response(201)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = fake.close_after_answer

        self.serve(Handler)


@pytest.fixture
def echo():
    fake = Echo().start()
    yield fake
    fake.stop()


def test_a_thread_sends_its_requests_over_one_connection(echo) -> None:
    connections = KeptAliveConnections(timeout=5)
    answers = [connections.request("POST", f"{echo.url}/m", body=f"n={i}") for i in range(5)]
    assert [(a.status, a.body) for a in answers] == [(201, f"n={i}".encode()) for i in range(5)]
    assert len(set(echo.ports)) == 1


def test_each_thread_has_its_own_connection(echo) -> None:
    connections = KeptAliveConnections(timeout=5)
    threads = [
        threading.Thread(
            target=lambda: [
                connections.request("POST", f"{echo.url}/m", body="x") for _ in range(3)
            ]
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(echo.ports) == 12
    assert len(set(echo.ports)) == 4


def test_a_connection_the_server_closed_is_replaced_before_the_next_request(echo) -> None:
    connections = KeptAliveConnections(timeout=5)
    echo.close_after_answer = True  # the server hangs up after each answer, unannounced
    for i in range(3):
        time.sleep(0.05)  # the close has arrived
        assert connections.request("POST", f"{echo.url}/m", body=f"n={i}").body == f"n={i}".encode()
    assert len(set(echo.ports)) == 3


def test_a_timeout_raises_and_the_next_request_opens_a_fresh_connection(echo) -> None:
    connections = KeptAliveConnections(timeout=5)
    connections.request("POST", f"{echo.url}/m", body="first")
    echo.delay = 0.5
    with pytest.raises(TimeoutError):
        connections.request("POST", f"{echo.url}/m", body="slow", timeout=0.1)
    echo.delay = 0.0
    assert connections.request("POST", f"{echo.url}/m", body="again").body == b"again"
    assert len(set(echo.ports)) == 2


def test_a_refused_connection_raises() -> None:
    connections = KeptAliveConnections(timeout=1)
    with pytest.raises(ConnectionRefusedError):
        connections.request("POST", "http://127.0.0.1:9/m", body="x")


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="not an http"):
        KeptAliveConnections(timeout=1).request("POST", "ftp://127.0.0.1/m")
