"""The chat simulator: talk to the dialogue as a customer would, in a terminal, on the real database.

Buttons are numbered: type the number to press one. `/contact +352621123456` shares a phone
number as Telegram's button would. Photos (the card's QR code) are written to a file.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from loyalty.models import ChannelKind, Merchant
from loyalty_bot.dialogue import Button, Incoming, Reply, Settings, respond

# In the NANP range reserved for fiction (555-01xx): no real member can hold it.
CONSOLE_PHONE = "+12025550199"


def render(replies: Iterable[Reply], photo_dir: Path) -> tuple[str, list[Button]]:
    """The replies as terminal text, and the buttons in the order they are numbered."""
    lines: list[str] = []
    buttons: list[Button] = []
    for reply in replies:
        lines.extend(f"bot> {line}" for line in reply.text.splitlines() or [""])
        if reply.photo:
            path = photo_dir / f"card-{len(reply.photo)}.png"
            path.write_bytes(reply.photo)
            lines.append(f"     [photo: {path}]")
        lines.extend(f"     [{label}] {url}" for label, url in reply.links)
        if reply.request_contact:
            lines.append(f"     [{reply.request_contact}: type /contact +352...]")
        row_texts = []
        for row in reply.buttons:
            for button in row:
                buttons.append(button)
                row_texts.append(f"({len(buttons)}) {button.label}")
        if row_texts:
            lines.append("     " + "  ".join(row_texts))
    return "\n".join(lines), buttons


def incoming_for(
    line: str, buttons: list[Button], *, channel: ChannelKind, address: str, merchant_id: int | None
) -> Incoming:
    base = {
        "channel": channel,
        "address": address,
        "bot": "console",
        "merchant_id": merchant_id,
        "name": "Console Customer",
    }
    stripped = line.strip()
    if stripped.isdigit() and 0 < int(stripped) <= len(buttons):
        return Incoming(payload=buttons[int(stripped) - 1].payload, **base)
    if stripped.startswith("/contact"):
        phone = stripped.removeprefix("/contact").strip()
        return Incoming(contact_phone=phone, contact_is_own=True, **base)
    return Incoming(text=line, **base)


def run(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    merchant_slug: str | None,
    channel: ChannelKind,
    address: str | None = None,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> int:
    merchant_id = None
    with sessions() as session:
        if merchant_slug:
            merchant_id = session.scalar(select(Merchant.id).where(Merchant.slug == merchant_slug))
            if merchant_id is None:
                slugs = ", ".join(session.scalars(select(Merchant.slug).order_by(Merchant.slug)))
                print(
                    f"No merchant '{merchant_slug}'. Known: {slugs or 'none (flask demo seed)'}.",
                    file=stdout,
                )
                return 2
    address = address or (CONSOLE_PHONE if channel == ChannelKind.SMS else "console")
    photo_dir = Path(tempfile.mkdtemp(prefix="loyalty-bot-"))
    print(
        f"Chatting as {address} over {channel}"
        + (f" with {merchant_slug}" if merchant_slug else "")
        + ". Type HELP; Ctrl-D to quit.",
        file=stdout,
    )
    buttons: list[Button] = []
    for line in stdin:
        if not line.strip():
            continue
        incoming = incoming_for(
            line, buttons, channel=channel, address=address, merchant_id=merchant_id
        )
        with sessions() as session:
            replies = respond(session, incoming, settings)
            session.commit()
        shown, buttons = render(replies, photo_dir)
        print(shown, file=stdout, flush=True)
    return 0
