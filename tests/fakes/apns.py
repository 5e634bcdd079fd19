"""A fake APNs: HTTP/2 over TLS on 127.0.0.1 that demands a client certificate, as Apple's does.

Records every push (path, headers, body, the client certificate's subject) and answers 200, or
410 Unregistered for device tokens listed in `unregistered`.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.events


@dataclass
class Push:
    path: str
    headers: dict[str, str]
    body: bytes
    client_subject: str


@dataclass
class FakeApns:
    certificate: Path
    key: Path
    client_ca: Path
    pushes: list[Push] = field(default_factory=list)
    unregistered: set[str] = field(default_factory=set)
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(str(self.certificate), str(self.key))
        self._context.load_verify_locations(cafile=str(self.client_ca))
        self._context.verify_mode = ssl.CERT_REQUIRED
        self._context.set_alpn_protocols(["h2"])
        self._socket = socket.create_server((self.host, 0))
        self.port = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> FakeApns:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(raw,), daemon=True).start()

    def _connection(self, raw: socket.socket) -> None:
        try:
            tls = self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        subject = ",".join(
            f"{k}={v}" for rdn in (tls.getpeercert() or {}).get("subject", ()) for k, v in rdn
        )
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        connection.initiate_connection()
        tls.sendall(connection.data_to_send())
        streams: dict[int, dict] = {}
        with tls:
            while True:
                try:
                    data = tls.recv(65535)
                except (ssl.SSLError, OSError):
                    return
                if not data:
                    return
                for event in connection.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        headers = {
                            (k.decode() if isinstance(k, bytes) else k): (
                                v.decode() if isinstance(v, bytes) else v
                            )
                            for k, v in event.headers
                        }
                        streams[event.stream_id] = {"headers": headers, "body": b""}
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id]["body"] += event.data
                        connection.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        request = streams.pop(event.stream_id)
                        self._answer(connection, event.stream_id, request, subject)
                tls.sendall(connection.data_to_send())

    def _answer(self, connection, stream_id: int, request: dict, subject: str) -> None:
        headers = request["headers"]
        path = headers.get(":path", "")
        self.pushes.append(Push(path, headers, request["body"], subject))
        token = path.rsplit("/", 1)[-1]
        apns_id = str(uuid.uuid4()).upper()
        if token in self.unregistered:
            body = b'{"reason":"Unregistered","timestamp":1700000000000}'
            status = "410"
        else:
            body, status = b"", "200"
        response_headers = [(":status", status), ("apns-id", apns_id)]
        if body:
            response_headers.append(("content-type", "application/json"))
        connection.send_headers(stream_id, response_headers, end_stream=not body)
        if body:
            connection.send_data(stream_id, body, end_stream=True)
