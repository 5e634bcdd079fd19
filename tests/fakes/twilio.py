"""A fake Twilio REST API on 127.0.0.1: accepts Messages.json posts, records them with their time.

Point twilio's client at it with `client.api.base_url = fake.url` (TWILIO_API_BASE).
`fail_next(status, code)` answers the next send with a Twilio error; `script(to, ...)` answers
the next sends to one number with errors or stalls (a Twilio that does not answer in time).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.http import LocalHttpFake, send_json


@dataclass
class Sms:
    to: str
    sender: str
    body: str
    at: float  # time.monotonic() when the request arrived
    sid: str


class FakeTwilio(LocalHttpFake):
    def __init__(self) -> None:
        self.messages: list[Sms] = []
        self.failures: list[tuple[int, int]] = []
        # Per recipient, in order: (status, code) answers with that error; a float stalls that
        # many seconds, then answers 503 (the client has given up by then) and sends nothing.
        self.scripted: dict[str, list[tuple[int, int] | float]] = {}
        self.delay = 0.0  # seconds each answer takes, like a real provider's round trip
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, like Twilio: no thread and connection per request, so the arrival
            # stamps (the rate-limit tests measure them) are not delayed by their setup.
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: without this, Nagle's algorithm holds the
            # body for the client's delayed ACK (40 ms) on a kept-alive connection.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the client died mid-request: Twilio takes nothing
                    self.close_connection = True
                    return
                if fake.delay:
                    time.sleep(fake.delay)
                form = dict(parse_qsl(body.decode()))
                stall = fake._stall(form.get("To", ""))
                if stall:
                    time.sleep(stall)
                    send_json(self, 503, {"code": 20503, "message": "stalled", "status": 503})
                    return
                status, answer = fake._answer(self.path, form, arrived)
                send_json(self, status, answer)

        self.serve(Handler)

    def fail_next(self, status: int, code: int, message: str = "error") -> None:
        self.failures.append((status, code))

    def script(self, to: str, *answers: tuple[int, int] | float) -> None:
        self.scripted.setdefault(to, []).extend(answers)

    def _stall(self, to: str) -> float:
        with self._lock:
            queued = self.scripted.get(to)
            if queued and isinstance(queued[0], float):
                return queued.pop(0)  # type: ignore[return-value]
        return 0.0

    def _answer(self, path: str, form: dict[str, str], arrived: float) -> tuple[int, dict]:
        with self._lock:
            if not path.endswith("/Messages.json"):
                return 404, {"code": 20404, "message": "not found", "status": 404}
            queued = self.scripted.get(form.get("To", ""))
            if queued:
                status, code = queued.pop(0)  # type: ignore[misc]
                return status, {"code": code, "message": f"fake error {code}", "status": status}
            if self.failures:
                status, code = self.failures.pop(0)
                return status, {"code": code, "message": f"fake error {code}", "status": status}
            sid = f"SM{len(self.messages) + 1:032d}"
            sender = form.get("From") or form.get("MessagingServiceSid", "")
            self.messages.append(
                Sms(form.get("To", ""), sender, form.get("Body", ""), arrived, sid)
            )
            return 201, {
                "sid": sid,
                "status": "queued",
                "to": form.get("To"),
                "from": sender,
                "body": form.get("Body"),
                "num_segments": "1",
            }
