"""The chat simulator: owners and managers talk to their programme's bot in the browser.

It runs the same dialogue engine as Telegram and SMS, on the real database, as a customer of
the current merchant only (the merchant's own bot or number, so no join code crosses tenants).
Each signed-in user has simulated addresses that no real customer can have:

- Telegram: chat id `sim-<user id>` (real chat ids are numbers);
- SMS: +1 202 555 01xx, in the NANP range reserved for fiction, so no carrier ever delivers
  from it. The engine identifies an SMS sender by phone number, so the page still refuses SMS
  if a member not made by the simulator has that number.

Nothing the simulated customer triggers leaves the building: messages queued for it (the
welcome SMS, a link code) are marked skipped and shown on the page instead. The transcript is
kept, bounded, in the Flask session; the conversation state lives in the engine as usual.
"""

from __future__ import annotations

import json
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from loyalty.errors import LoyaltyError
from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    Conversation,
    LoyaltyMember,
    Merchant,
    OutboxMessage,
    OutboxStatus,
)
from loyalty.services import lookup
from loyalty_bot import sms
from loyalty_bot.dialogue import Incoming, Reply, Settings, respond
from wallet.qr import qr_png
from web.backoffice.views import blueprint
from web.extensions import db
from web.tenancy import current_merchant, signed_in_user

CHANNELS = (ChannelKind.TELEGRAM, ChannelKind.SMS)
CUSTOMER_NAME = "Chat simulator"
TRANSCRIPT_KEY = "chat_simulator"
# The session is a signed cookie (4 KB in browsers): the oldest lines go first.
TRANSCRIPT_BYTES = 2500
ENTRY_CHARS = 700
NOT_SENT = "chat simulator: not sent"


def _channel() -> ChannelKind:
    raw = request.values.get("channel", "telegram")
    return ChannelKind.SMS if raw == "sms" else ChannelKind.TELEGRAM


def sms_address(user_id: int) -> str:
    """+1 202 555 0100…0199: reserved for fictional use, valid to libphonenumber."""
    return f"+120255501{user_id % 100:02d}"


def telegram_address(user_id: int) -> str:
    return f"sim-{user_id}"


def _address(channel: ChannelKind) -> str:
    user = signed_in_user()
    assert user is not None  # the blueprint's guard let the request in
    return sms_address(user.id) if channel == ChannelKind.SMS else telegram_address(user.id)


def _bot_key(merchant_id: int) -> str:
    return f"simulator:{merchant_id}"


def _settings() -> Settings:
    return Settings(
        secret_key=str(current_app.config["SECRET_KEY"]).encode(),
        public_base_url=str(current_app.config.get("PUBLIC_BASE_URL", "")).rstrip("/"),
    )


# --- the transcript, in the Flask session ---------------------------------------------------


def _transcript(merchant_id: int, channel: ChannelKind) -> list[dict[str, Any]]:
    kept = session.get(TRANSCRIPT_KEY)
    if not isinstance(kept, dict) or kept.get("for") != [merchant_id, str(channel)]:
        return []
    entries = kept.get("entries")
    return entries if isinstance(entries, list) else []


def _keep(merchant_id: int, channel: ChannelKind, entries: list[dict[str, Any]]) -> None:
    while len(entries) > 1 and len(json.dumps(entries)) > TRANSCRIPT_BYTES:
        entries.pop(0)
    session[TRANSCRIPT_KEY] = {"for": [merchant_id, str(channel)], "entries": entries}


def _bot_entry(reply: Reply, channel: ChannelKind) -> dict[str, Any]:
    if channel == ChannelKind.SMS:
        return {"who": "bot", "text": sms.as_sms_text(reply)[:ENTRY_CHARS]}
    return {
        "who": "bot",
        "text": reply.text[:ENTRY_CHARS],
        "photo": bool(reply.photo),
        "links": [[label, url] for label, url in reply.links],
        "buttons": [[[b.label, b.payload] for b in row] for row in reply.buttons],
        "contact": reply.request_contact,
    }


# --- guards: which address may chat ----------------------------------------------------------


def _real_member_with_number(merchant: Merchant, phone: str) -> LoyaltyMember | None:
    """A member of this merchant, not made here, whom the engine would take the sender for."""
    try:
        member = lookup.by_phone(db.session, merchant=merchant, raw=phone)
    except LoyaltyError:
        return None
    return None if member.customer.name == CUSTOMER_NAME else member


class _HeldOutgoing:
    """Catches every outbox message a simulated turn queues, and keeps it from going out.

    Listening to the session (not querying by time) holds exactly this turn's messages: a
    cashier's receipt queued meanwhile for a real member goes out as usual.
    """

    def __init__(self, sess: Session) -> None:
        self.session = sess
        self.messages: list[OutboxMessage] = []

    def __enter__(self) -> _HeldOutgoing:
        event.listen(self.session, "transient_to_pending", self._added)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.session, "transient_to_pending", self._added)

    def _added(self, _session: Session, instance: object) -> None:
        if isinstance(instance, OutboxMessage):
            self.messages.append(instance)

    def hold(self) -> list[str]:
        held = []
        for message in self.messages:
            if message.status == OutboxStatus.QUEUED:
                message.status = OutboxStatus.SKIPPED
                message.last_error = NOT_SENT
                held.append(f"{message.template} ({message.channel}) to {message.address or '—'}")
        return held


# --- pages ----------------------------------------------------------------------------------


@blueprint.get("/simulator")
def simulator() -> str:
    merchant = current_merchant()
    assert merchant is not None
    channel = _channel()
    address = _address(channel)
    entries = _transcript(merchant.id, channel)
    blocked = _real_member_with_number(merchant, address) if channel == ChannelKind.SMS else None
    return render_template(
        "backoffice/simulator.html",
        merchant=merchant,
        channel=str(channel),
        channels=[str(c) for c in CHANNELS],
        address=address,
        phone=sms_address(signed_in_user().id),  # type: ignore[union-attr]
        entries=entries,
        blocked=blocked is not None,
    )


@blueprint.post("/simulator/send")
def simulator_send() -> ResponseReturnValue:
    merchant = current_merchant()
    assert merchant is not None
    channel = _channel()
    address = _address(channel)
    back = redirect(url_for("backoffice.simulator", channel=str(channel), _anchor="latest"))
    if channel == ChannelKind.SMS and _real_member_with_number(merchant, address):
        flash("A member of this business has the simulator's test number: use Telegram.", "danger")
        return back

    text = (request.form.get("text") or "").strip()[:1600]
    payload = (request.form.get("payload") or "").strip()[:64]
    share_contact = request.form.get("contact") == "1" and channel == ChannelKind.TELEGRAM
    if not (text or payload or share_contact):
        flash("Type a message, or press one of the bot's buttons.", "warning")
        return back
    incoming = Incoming(
        channel=channel,
        address=address,
        text=text,
        payload=payload,
        bot=_bot_key(merchant.id),
        merchant_id=merchant.id,
        name=CUSTOMER_NAME,
        language_hint=request.accept_languages.best_match(["en", "fr", "de"]) or "en",
        contact_phone=sms_address(signed_in_user().id) if share_contact else "",  # type: ignore[union-attr]
        contact_is_own=share_contact,
    )
    with _HeldOutgoing(db.session()) as outgoing:
        replies = respond(db.session, incoming, _settings())
    held = outgoing.hold()
    db.session.commit()

    entries = _transcript(merchant.id, channel)
    said = (
        text or _pressed_label(entries, payload) or f"Shared phone number {incoming.contact_phone}"
    )
    # Like Telegram after a press, only the latest answer's buttons can still be pressed.
    entries = [{k: v for k, v in e.items() if k not in ("buttons", "contact")} for e in entries]
    entries.append({"who": "you", "text": said[:ENTRY_CHARS]})
    entries.extend(_bot_entry(reply, channel) for reply in replies)
    if held:
        entries.append({"who": "note", "text": "Not sent (simulated customer): " + "; ".join(held)})
    _keep(merchant.id, channel, entries)
    return back


def _pressed_label(entries: list[dict[str, Any]], payload: str) -> str:
    for entry in reversed(entries):
        for row in entry.get("buttons") or []:
            for label, pressed in row:
                if pressed == payload:
                    return f"[{label}]"
    return f"[{payload}]" if payload else ""


@blueprint.post("/simulator/reset")
def simulator_reset() -> ResponseReturnValue:
    merchant = current_merchant()
    assert merchant is not None
    channel = _channel()
    # The engine forgets what it was waiting for; the simulated member, if any, stays.
    db.session.execute(
        delete(Conversation).where(
            Conversation.channel == channel,
            Conversation.bot == _bot_key(merchant.id),
            Conversation.address == _address(channel),
        )
    )
    db.session.commit()
    session.pop(TRANSCRIPT_KEY, None)
    flash("Conversation reset. The simulated customer's card, if any, is kept.", "info")
    return redirect(url_for("backoffice.simulator", channel=str(channel)))


@blueprint.get("/simulator/card.png")
def simulator_card() -> ResponseReturnValue:
    """The QR code the bot sends as a photo on Telegram, for the simulated customer's card."""
    merchant = current_merchant()
    assert merchant is not None
    identity = db.session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.merchant_id == merchant.id,
            ChannelIdentity.kind == ChannelKind.TELEGRAM,
            ChannelIdentity.address == _address(ChannelKind.TELEGRAM),
        )
    ).first()
    if identity is None:
        abort(404)
    png = qr_png(lookup.qr_token(identity.member, _settings().secret_key))
    return png, 200, {"Content-Type": "image/png", "Cache-Control": "no-store"}
