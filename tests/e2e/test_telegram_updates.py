"""Real-format Telegram updates replayed through python-telegram-bot into the dialogue.

The bot talks to a fake Bot API on 127.0.0.1 (tests/fakes/telegram.py); what it would have
sent to Telegram is read back from the fake.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from telegram import Update

from loyalty.models import ChannelIdentity, ChannelKind, Conversation, Offering
from loyalty_bot.dialogue import Settings
from loyalty_bot.telegram import BotContext, build_application
from tests import factories
from tests.fakes.telegram import BOT_USER, FakeTelegram

TOKEN = "123456:TEST-token"
SETTINGS = Settings(secret_key=b"test-secret-key", public_base_url="https://loyalty.example")
CHAT_ID = 424242
USER = {
    "id": CHAT_ID,
    "is_bot": False,
    "first_name": "Léa",
    "last_name": "Muller",
    "language_code": "fr",
}
PRIVATE = {"id": CHAT_ID, "type": "private", "first_name": "Léa"}
GROUP = {"id": -100200300, "type": "supergroup", "title": "Bakery fans"}
_ids = itertools.count(1)


async def _inline(function, *args):
    return function(*args)


def message(text: str | None = None, *, chat=PRIVATE, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": next(_ids),
        "date": 1767225600,
        "chat": chat,
        "from": USER,
        **extra,
    }
    if text is not None:
        body["text"] = text
        if text.startswith("/"):
            body["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
    return {"update_id": next(_ids), "message": body}


def contact(phone: str, user_id: int = CHAT_ID) -> dict[str, Any]:
    return message(contact={"phone_number": phone, "first_name": "Léa", "user_id": user_id})


def callback(data: str) -> dict[str, Any]:
    return {
        "update_id": next(_ids),
        "callback_query": {
            "id": str(next(_ids)),
            "from": USER,
            "chat_instance": "-1",
            "data": data,
            "message": {
                "message_id": 5,
                "date": 1767225600,
                "chat": PRIVATE,
                "from": BOT_USER,
                "text": "…",
                "reply_markup": {"inline_keyboard": [[{"text": "Oui", "callback_data": "yes"}]]},
            },
        },
    }


def my_chat_member(status: str, chat=PRIVATE) -> dict[str, Any]:
    bot_member = {"user": BOT_USER, "status": status}
    if status == "kicked":
        bot_member["until_date"] = 0
    return {
        "update_id": next(_ids),
        "my_chat_member": {
            "chat": chat,
            "from": USER,
            "date": 1767225600,
            "old_chat_member": {"user": BOT_USER, "status": "member"},
            "new_chat_member": bot_member,
        },
    }


@pytest.fixture
def fake_telegram():
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


@pytest.fixture
def tenant(session):
    tenant = factories.make_tenant(session, offering=Offering.PLUS)
    tenant.program.signup_bonus = 25
    factories.make_reward(session, tenant, cost=20, name="Café offert")
    session.flush()
    return tenant


@pytest.fixture
def bot(session, fake_telegram):
    """Feed updates through a real PTB Application, on the test's database connection."""
    sessions = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")
    context = BotContext(sessions, SETTINGS, "platform", None, run_sync=_inline)

    def feed(*updates: dict[str, Any]) -> list[str]:
        fake_telegram.clear()

        async def go() -> None:
            application = build_application(TOKEN, context, api_base=fake_telegram.url)
            await application.initialize()
            try:
                for update in updates:
                    await application.process_update(Update.de_json(update, application.bot))
            finally:
                await application.shutdown()

        asyncio.run(go())
        return fake_telegram.texts()

    return feed


def identity_of(session) -> ChannelIdentity | None:
    return session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.kind == ChannelKind.TELEGRAM, ChannelIdentity.address == str(CHAT_ID)
        )
    ).first()


def test_deep_link_join_with_contact_and_card_photo(session, tenant, bot, fake_telegram):
    texts = bot(message(f"/start join_{tenant.program.join_code}"))
    assert "Répondez OUI ou NON" in texts[0]  # the user's Telegram language is French
    keyboard = fake_telegram.sent()[0].params["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for b in keyboard[0]] == ["yes", "no"]

    texts = bot(callback("yes"))
    assert fake_telegram.sent("answerCallbackQuery")
    assert fake_telegram.sent("editMessageReplyMarkup")  # the pressed keyboard goes away
    markup = fake_telegram.sent()[0].params["reply_markup"]
    assert markup["keyboard"][0][0]["request_contact"] is True

    texts = bot(contact("+352 621 123 456"))
    assert "Bienvenue" in texts[0]
    assert "25 points" in texts[0]
    photo = fake_telegram.sent("sendPhoto")[0]
    assert photo.files["photo"].startswith(b"\x89PNG")
    urls = [row[0]["url"] for row in photo.params["reply_markup"]["inline_keyboard"]]
    assert urls[0].startswith("https://loyalty.example/wallet/pass/")
    assert urls[1].startswith("https://loyalty.example/wallet/google/")
    member = identity_of(session).member
    assert member.points_balance == 25


def test_commands_and_callback_redeem(session, tenant, bot, fake_telegram):
    bot(
        message(f"/start join_{tenant.program.join_code}"),
        callback("yes"),
        contact("+352621123456"),
    )
    assert "25 points" in bot(message("/balance"))[0]
    texts = bot(message("/rewards"))
    buttons = fake_telegram.sent()[0].params["reply_markup"]["inline_keyboard"]
    assert "Café offert" in texts[0]
    redeem = buttons[0][0]["callback_data"]
    assert "OUI ou NON" in bot(callback(redeem))[0]
    assert "Votre bon pour Café offert" in bot(callback("yes"))[0]
    assert identity_of(session).member.points_balance == 5


def test_contact_of_someone_else_is_refused(session, tenant, bot):
    bot(message(f"/start join_{tenant.program.join_code}"), callback("yes"))
    assert "propre numéro" in bot(contact("+352621999999", user_id=999))[0]
    assert identity_of(session) is None


def test_edited_message_sticker_and_group_are_handled_quietly(session, tenant, bot):
    edited = message("/balance")
    edited["edited_message"] = edited.pop("message")
    edited["edited_message"]["edit_date"] = 1767225700
    assert bot(edited) == []
    sticker = message(
        sticker={
            "file_id": "s",
            "file_unique_id": "s",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
    )
    assert "que du texte" in bot(sticker)[0]
    assert "en privé" in bot(message("/balance", chat=GROUP))[0]
    assert bot(message("hello all", chat=GROUP)) == []  # group chatter is not answered


def test_added_to_a_group_says_why_and_leaves(bot, fake_telegram):
    assert "en privé" in bot(my_chat_member("member", chat=GROUP))[0]
    assert fake_telegram.sent("leaveChat")


def test_blocking_the_bot_opts_the_chat_out(session, tenant, bot):
    bot(
        message(f"/start join_{tenant.program.join_code}"),
        callback("yes"),
        contact("+352621123456"),
    )
    assert bot(my_chat_member("kicked")) == []
    assert identity_of(session).opted_out_at is not None
    bot(message("/start"))
    assert identity_of(session).opted_out_at is None


def test_forbidden_on_reply_marks_chat_opted_out(session, tenant, bot, fake_telegram):
    bot(
        message(f"/start join_{tenant.program.join_code}"),
        callback("yes"),
        contact("+352621123456"),
    )
    fake_telegram.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    bot(message("/balance"))
    assert identity_of(session).opted_out_at is not None
    conversation = session.scalars(select(Conversation)).one()
    assert conversation.opted_out_at is not None


def test_retry_after_is_obeyed_and_the_message_still_goes(tenant, bot, fake_telegram):
    fake_telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    texts = bot(message("/help"))
    sends = fake_telegram.sent("sendMessage")
    assert len(sends) == 2  # refused once, sent after waiting
    assert texts[0] == texts[1]


def test_unknown_text_gets_help_never_silence(tenant, bot):
    texts = bot(message("¿¿¿ 🤷"))
    assert texts
    assert "JOIN" in texts[0]


# --- the webhook server: PTB's own, with the secret token -------------------------------------


def test_webhook_refuses_wrong_secret_and_serves_right_one(session, tenant, fake_telegram):
    sessions = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")
    context = BotContext(sessions, SETTINGS, "platform", None, run_sync=_inline)
    update = message("/help")

    async def go() -> tuple[int, int, int, list[str]]:
        application = build_application(TOKEN, context, api_base=fake_telegram.url)
        await application.initialize()
        await application.start()
        assert application.updater is not None
        await application.updater.start_webhook(
            listen="127.0.0.1",
            port=0,
            url_path="telegram",
            webhook_url="https://bot.loyalty.example/telegram",
            secret_token="s3cret-token",
        )
        port = application.updater._httpd._http_server._sockets[  # type: ignore[union-attr]
            next(iter(application.updater._httpd._http_server._sockets))
        ].getsockname()[1]
        url = f"http://127.0.0.1:{port}/telegram"
        try:
            async with httpx.AsyncClient() as client:
                missing = await client.post(url, json=update)
                wrong = await client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
                )
                right = await client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
                )
            for _ in range(100):
                if fake_telegram.sent():
                    break
                await asyncio.sleep(0.05)
        finally:
            await application.updater.stop()
            await application.stop()
            await application.shutdown()
        return missing.status_code, wrong.status_code, right.status_code, fake_telegram.texts()

    missing, wrong, right, texts = asyncio.run(go())
    assert (missing, wrong, right) == (403, 403, 200)
    set_webhook = fake_telegram.sent("setWebhook")[0]
    assert set_webhook.params["secret_token"] == "s3cret-token"
    assert len(texts) == 1  # only the signed update reached the dialogue
