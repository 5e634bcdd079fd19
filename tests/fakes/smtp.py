"""A local SMTP server (aiosmtpd) that keeps every message it receives, for sender tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: set[str] = set()  # recipients answered with 550
        # Replies given, in order, to the next RCPT TO of a recipient or to the DATA of a
        # message to them ("452 4.3.1 Insufficient system storage"), instead of accepting.
        self.rcpt_replies: dict[str, list[str]] = {}
        self.data_replies: dict[str, list[str]] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.refuse:
            return "550 No such user here"
        if self.rcpt_replies.get(address):
            return self.rcpt_replies[address].pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        for address in envelope.rcpt_tos:
            if self.data_replies.get(address):
                return self.data_replies[address].pop(0)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()
