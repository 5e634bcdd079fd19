"""A fake Google: the OAuth token endpoint and the Wallet REST API's loyaltyObject, on 127.0.0.1.

The token endpoint checks the service account's signed assertion with its public certificate,
so an update only gets through with a correctly signed JWT, as with Google.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.auth import jwt as google_jwt

ACCESS_TOKEN = "fake-access-token"


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any


@dataclass
class FakeGoogleWallet:
    certificate_pem: bytes  # the service account's public certificate
    calls: list[Call] = field(default_factory=list)
    known_objects: set[str] | None = None  # None: every object exists
    token_requests: int = 0

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                raw = self._body()
                if self.path == "/token":
                    form = urllib.parse.parse_qs(raw.decode())
                    try:
                        claims = google_jwt.decode(
                            form["assertion"][0], certs=fake.certificate_pem,
                            # google-auth always names Google's endpoint as the audience.
                            audience="https://oauth2.googleapis.com/token",
                        )  # fmt: skip
                    except (KeyError, ValueError) as exc:
                        self._send(400, {"error": "invalid_grant", "detail": str(exc)})
                        return
                    fake.token_requests += 1
                    fake.last_token_claims = claims
                    self._send(200, {"access_token": ACCESS_TOKEN, "expires_in": 3600,
                                     "token_type": "Bearer"})  # fmt: skip
                    return
                self._send(404, {"error": {"code": 404}})

            def do_PATCH(self) -> None:
                body = json.loads(self._body() or b"null")
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.calls.append(Call("PATCH", self.path, headers, body))
                if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
                    self._send(401, {"error": {"code": 401}})
                    return
                object_id = urllib.parse.unquote(self.path.rsplit("/", 1)[-1])
                if fake.known_objects is not None and object_id not in fake.known_objects:
                    self._send(404, {"error": {"code": 404, "message": "not found"}})
                    return
                self._send(200, {"id": object_id, **(body or {})})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.last_token_claims: dict[str, Any] = {}
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/walletobjects/v1"

    @property
    def token_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def start(self) -> FakeGoogleWallet:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def patches(self) -> list[Call]:
        return [c for c in self.calls if c.method == "PATCH"]
