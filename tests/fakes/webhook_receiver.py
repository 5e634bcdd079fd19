"""A merchant's webhook receiver on 127.0.0.1: records every request, answers as scripted.

`answer_next(status, ...)` queues answers; once they run out it answers 200.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.http import LocalHttpFake


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes  # the raw bytes, as a receiver must check them


class FakeWebhookReceiver(LocalHttpFake):
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with fake._lock:
                    fake.received.append(Received(self.path, dict(self.headers.items()), body))
                    status, headers, answer = (
                        fake.answers.pop(0) if fake.answers else (200, {}, b"ok")
                    )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST  # a followed redirect would show up as a GET

        self.serve(Handler)

    def answer_next(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        with self._lock:
            self.answers += [(status, headers or {}, body)] * times

    def hook_url(self, path: str = "/hooks") -> str:
        return self.url + path
