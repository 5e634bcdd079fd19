"""One bot process, several bots: the platform's and an Enterprise merchant's own (white-label).

Both are built the way `python -m loyalty_bot` builds them (`build_bots`) and talk to the fake
Bot API on 127.0.0.1, which tells the bots apart by the token in the URL. Also here: the pace
the adapter keeps per private chat.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiolimiter import AsyncLimiter
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from telegram import Update

from loyalty.models import Conversation, Offering
from loyalty_bot import telegram as telegram_adapter
from loyalty_bot.config import BotConfig
from loyalty_bot.telegram import CHAT_BURST, BotContext, build_application, build_bots
from tests import factories
from tests.e2e.test_telegram_updates import SETTINGS, TOKEN, _inline, callback, message
from tests.fakes.telegram import FakeTelegram

OWN_TOKEN = "987654:merchant-own-token"
DOWNGRADED_TOKEN = "555555:downgraded-token"


@pytest.fixture
def fake_telegram():
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


def bot_config(api_base: str) -> BotConfig:
    return BotConfig(
        database_url="unused: the test passes its own sessions",
        secret_key=SETTINGS.secret_key,
        public_base_url=SETTINGS.public_base_url,
        telegram_token=TOKEN,
        telegram_webhook_url="",
        telegram_webhook_secret="",
        telegram_listen="127.0.0.1",
        telegram_port=0,
        telegram_api_base=api_base,
        twilio_account_sid="",
        twilio_auth_token="",
        twilio_api_base="",
        twilio_public_url="",
    )


@pytest.fixture
def merchants(session):
    own = factories.make_tenant(session, name="Supermarché Own Bot", offering=Offering.ENTERPRISE)
    own.program.settings = {**(own.program.settings or {}), "telegram_bot_token": OWN_TOKEN}
    shared = factories.make_tenant(session, name="Café Shared Bot", offering=Offering.PLUS)
    # A token left behind by a merchant no longer on Enterprise serves nothing.
    shared.program.settings = {
        **(shared.program.settings or {}),
        "telegram_bot_token": DOWNGRADED_TOKEN,
    }
    session.flush()
    return own, shared


def test_one_process_builds_platform_and_own_bots_and_routes_each_to_its_merchant(
    session, merchants, fake_telegram
):
    own, shared = merchants
    sessions = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")
    applications = build_bots(bot_config(fake_telegram.url), sessions, run_sync=_inline)
    assert [app.bot.token for app in applications] == [TOKEN, OWN_TOKEN]

    async def go() -> None:
        for application in applications:
            await application.initialize()
        try:
            platform, own_bot = applications
            # The same Telegram user writes to both bots.
            await platform.process_update(
                Update.de_json(message(f"/start join_{shared.program.join_code}"), platform.bot)
            )
            await own_bot.process_update(Update.de_json(message("/start"), own_bot.bot))
            await own_bot.process_update(Update.de_json(callback("yes"), own_bot.bot))
        finally:
            for application in applications:
                await application.shutdown()

    asyncio.run(go())

    by_token: dict[str, list[str]] = {}
    for call in fake_telegram.sent():
        by_token.setdefault(call.token, []).append(str(call.params.get("text")))
    # The platform bot joined the café through its deep link; the own bot needs no code.
    assert "Café Shared Bot" in by_token[TOKEN][0]
    assert "Supermarché Own Bot" in by_token[OWN_TOKEN][0]
    assert all("Café" not in text for text in by_token[OWN_TOKEN])
    assert DOWNGRADED_TOKEN not in {call.token for call in fake_telegram.calls}

    rows = {
        c.bot: c.merchant_id
        for c in session.scalars(select(Conversation).where(Conversation.address == "424242"))
    }
    assert rows == {"platform": shared.merchant.id, f"merchant:{own.merchant.id}": own.merchant.id}
    own_chat = session.scalars(
        select(Conversation).where(Conversation.bot == f"merchant:{own.merchant.id}")
    ).one()
    assert own_chat.state == "join_contact"  # terms accepted on the merchant's own bot


def test_own_bot_refuses_another_merchants_join_code(session, merchants, fake_telegram):
    _own, shared = merchants
    sessions = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")
    own_bot = build_bots(bot_config(fake_telegram.url), sessions, run_sync=_inline)[1]

    async def go() -> None:
        await own_bot.initialize()
        try:
            update = message(f"/start join_{shared.program.join_code}")
            await own_bot.process_update(Update.de_json(update, own_bot.bot))
        finally:
            await own_bot.shutdown()

    asyncio.run(go())
    texts = fake_telegram.texts()
    assert texts
    assert shared.program.join_code.upper() in texts[0]  # "unknown code": not the café's terms
    assert "Café Shared Bot" not in texts[0]


class CountingLimiter(AsyncLimiter):
    """A chat's limiter that counts the sends it made wait (no capacity when they asked)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waited = 0

    async def acquire(self, amount: float = 1) -> None:
        if not self.has_capacity(amount):
            self.waited += 1
        await super().acquire(amount)


def test_one_private_chat_is_paced_while_other_chats_are_not(session, fake_telegram, monkeypatch):
    # Asserted on the limiter's decisions, not on wall-clock durations: a loaded machine slows
    # every request, but it does not change which sends had to wait for their chat's pace.
    monkeypatch.setattr(telegram_adapter, "AsyncLimiter", CountingLimiter)
    sessions = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")
    context = BotContext(sessions, SETTINGS, "platform", None, run_sync=_inline)
    extra = 2  # messages beyond the burst Telegram tolerates in one chat
    paced, others = 4242, list(range(1, CHAT_BURST + extra + 1))

    async def send_all() -> dict[int, int]:
        application = build_application(TOKEN, context, api_base=fake_telegram.url)
        await application.initialize()
        try:
            chat_ids = [paced] * (CHAT_BURST + extra) + others
            await asyncio.gather(
                *(application.bot.send_message(chat_id, "hello") for chat_id in chat_ids)
            )
            limiters = application.bot.rate_limiter._chat_limiters
            return {chat_id: limiter.waited for chat_id, limiter in limiters.items()}
        finally:
            await application.shutdown()

    waited = asyncio.run(send_all())
    sent = [call.params["chat_id"] for call in fake_telegram.sent("sendMessage")]
    assert sorted(sent) == sorted([paced] * (CHAT_BURST + extra) + others)
    assert waited[paced] == extra  # the burst went at once, every message beyond it waited
    assert {chat_id: waited[chat_id] for chat_id in others} == dict.fromkeys(others, 0)
