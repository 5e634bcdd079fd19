"""A fake Telegram Bot API on 127.0.0.1: records every method call and answers like Telegram.

Point python-telegram-bot at it with `ApplicationBuilder().base_url(f"{fake.url}/bot")`
(TELEGRAM_API_BASE in the bot's config). `fail_next(method, code, description, **params)`
makes the next call of a method fail the way Telegram does (403 blocked, 429 retry_after, 5xx);
`stall_next(method, seconds)` makes it answer only after that long (a Telegram that times out).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.http import LocalHttpFake, send_json

BOT_USER = {
    "id": 777000111,
    "is_bot": True,
    "first_name": "Loyalty",
    "username": "LoyaltyTestBot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass
class Call:
    token: str
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    if not body:
        return {}, {}
    if content_type.startswith("application/json"):
        return json.loads(body), {}
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename():
                files[name] = payload
            else:
                params[name] = _decode(payload.decode())
        return params, files
    return {k: _decode(v) for k, v in parse_qsl(body.decode())}, {}


class FakeTelegram(LocalHttpFake):
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._failures: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
        self._stalls: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._message_id = 1000
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                params, files = _parse_body(self.headers.get("Content-Type", ""), body)
                parts = self.path.strip("/").split("/")
                token = parts[0].removeprefix("bot") if parts else ""
                method = parts[-1] if len(parts) > 1 else ""
                with fake._lock:
                    stalls = fake._stalls.get(method)
                    stall = stalls.pop(0) if stalls else 0.0
                if stall:  # the client has given up by the time this answer comes
                    time.sleep(stall)
                    send_json(self, 504, {"ok": False, "error_code": 504, "description": "stalled"})
                    return
                status, answer = fake._answer(Call(token, method, params, files))
                send_json(self, status, answer)

            do_GET = do_POST

        self.serve(Handler)

    def fail_next(self, method: str, code: int, description: str, **parameters: Any) -> None:
        self._failures.setdefault(method, []).append((code, description, parameters))

    def stall_next(self, method: str, seconds: float) -> None:
        self._stalls.setdefault(method, []).append(seconds)

    def sent(self, *methods: str) -> list[Call]:
        methods = methods or ("sendMessage", "sendPhoto")
        return [c for c in self.calls if c.method in methods]

    def texts(self) -> list[str]:
        return [str(c.params.get("text") or c.params.get("caption") or "") for c in self.sent()]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def _answer(self, call: Call) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(call)
            failures = self._failures.get(call.method)
            if failures:
                code, description, parameters = failures.pop(0)
                answer: dict[str, Any] = {
                    "ok": False,
                    "error_code": code,
                    "description": description,
                }
                if parameters:
                    answer["parameters"] = parameters
                return code, answer
            self._message_id += 1
            message_id = self._message_id
        return 200, {"ok": True, "result": self._result(call, message_id)}

    def _result(self, call: Call, message_id: int) -> Any:
        if call.method == "getMe":
            return BOT_USER
        if call.method in ("sendMessage", "sendPhoto", "editMessageReplyMarkup"):
            chat_id = call.params.get("chat_id", 0)
            message: dict[str, Any] = {
                "message_id": message_id,
                "date": 1767225600,
                "chat": {
                    "id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else 0,
                    "type": "private",
                },
                "from": BOT_USER,
            }
            if call.method == "sendPhoto":
                message["photo"] = [
                    {"file_id": "p1", "file_unique_id": "u1", "width": 330, "height": 330}
                ]
                message["caption"] = call.params.get("caption", "")
            else:
                message["text"] = call.params.get("text", "")
            return message
        if call.method == "getUpdates":
            return []
        if call.method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        return True
