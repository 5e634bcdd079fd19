"""HTTP/1.1 requests over kept-alive connections, one per sending thread and origin.

The transport under a provider's REST client when the delivery loop sends hundreds of messages
a second from a pool of threads (loyalty_bot/sms_sender.py). It is `http.client` itself: a
connection pool shared by the threads (urllib3) cost twice the CPU per request here (470 µs
against 220 µs, the fake Twilio on 127.0.0.1), and on a small machine that CPU is what bounds
the send rate. A thread keeps its own connection to each origin, so nothing is locked.

A connection is reused only while the server keeps it open: before each request it is polled,
and one the server closed (readable: end of file) is replaced, so a request is never written
into a dead socket. Nothing is retried here: a POST that may have reached the provider is the
delivery loop's to retry, with its backoff. Redirects are not followed.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from base64 import b64encode
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

import certifi

Origin = tuple[str, str, int | None]  # scheme, host, port


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: Message


class KeptAliveConnections:
    """Thread-safe: each thread uses its own connections."""

    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self._tls = ssl.create_default_context(cafile=certifi.where())
        self._local = threading.local()

    def request(
        self,
        method: str,
        url: str,
        *,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Answer:
        """Raises OSError (refused, reset, timed out, TLS) or http.client.HTTPException (a
        malformed answer); the connection is closed then, and the next request opens another."""
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = self._connection((parts.scheme, parts.hostname or "", parts.port))
        connection.timeout = timeout or self.timeout
        if connection.sock is not None:
            connection.sock.settimeout(connection.timeout)
        try:
            connection.request(method, target, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            raise
        return Answer(response.status, data, response.headers)

    def _connection(self, origin: Origin) -> http.client.HTTPConnection:
        connections: dict[Origin, http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "connections", {}
        )
        connection = connections.get(origin)
        if connection is None:
            scheme, host, port = origin
            if scheme == "https":
                connection = http.client.HTTPSConnection(host, port, context=self._tls)
            elif scheme == "http":
                connection = http.client.HTTPConnection(host, port)
            else:
                raise ValueError(f"not an http(s) URL: {scheme}://{host}")
            connections[origin] = connection
        elif connection.sock is not None and _closed_by_server(connection.sock):
            connection.close()  # the next request connects again
        return connection


def basic_authorization(user: str, password: str) -> str:
    """The Authorization header's value for HTTP basic authentication."""
    return "Basic " + b64encode(f"{user}:{password}".encode()).decode()


def _closed_by_server(sock: socket.socket) -> bool:
    """An idle kept-alive connection has nothing to read: if it is readable, the server closed
    it (or sent what no request asked for), and it must not carry another request."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
