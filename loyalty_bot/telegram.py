"""The Telegram adapter: python-telegram-bot's Application around the dialogue.

Handlers translate an Update into `dialogue.Incoming`, run the dialogue in a worker thread
(SQLAlchemy is synchronous; the event loop keeps serving other chats), commit, and send the
replies back as messages, photos and inline keyboards. State is in the database, not in PTB's
memory, so a restart or a second process loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiolimiter import AsyncLimiter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from telegram import (
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import ChatType
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from loyalty.db import session_factory, utcnow
from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    Conversation,
    LoyaltyProgram,
    Merchant,
    Offering,
)
from loyalty_bot.config import BotConfig
from loyalty_bot.dialogue import Incoming, Reply, Settings, respond
from loyalty_bot.messages import LANGUAGES, text

log = logging.getLogger(__name__)

# Telegram: about 30 messages a second overall, 20 a minute in a group, about one a second in
# a private chat (short bursts tolerated: a join answers with a summary and the card photo);
# RetryAfter is obeyed.
OVERALL_RATE = 30
GROUP_RATE_PER_MINUTE = 20
CHAT_BURST = 3  # messages per CHAT_BURST seconds: one a second on average
RETRIES_AFTER_FLOOD = 3
KEPT_CHAT_LIMITERS = 1024


class PacedRateLimiter(AIORateLimiter):
    """PTB's limiter (overall, groups, RetryAfter) plus a pace per private chat.

    AIORateLimiter limits groups only; a customer tapping buttons fast (each tap can answer
    with several messages) would otherwise push one chat past ~1 message a second and earn 429s.
    """

    def __init__(self, *, chat_burst: int = CHAT_BURST, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._chat_burst = chat_burst
        self._chat_limiters: dict[int, AsyncLimiter] = {}

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        if len(self._chat_limiters) > KEPT_CHAT_LIMITERS:
            for key, limiter in list(self._chat_limiters.items()):
                if key != chat_id and limiter.has_capacity(limiter.max_rate):
                    del self._chat_limiters[key]  # idle long enough to have forgotten it
        limiter = self._chat_limiters.get(chat_id)
        if limiter is None:
            limiter = self._chat_limiters[chat_id] = AsyncLimiter(
                max_rate=self._chat_burst, time_period=self._chat_burst
            )
        return limiter

    async def process_request(  # type: ignore[override]
        self,
        callback: Any,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        chat_id = data.get("chat_id")
        try:
            private = int(chat_id) if chat_id is not None else None  # type: ignore[arg-type]
        except (TypeError, ValueError):
            private = None  # "@channel" names are groups and channels: PTB's limits
        if private is None or private < 0:  # negative ids are groups and channels
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        async with self._chat_limiter(private):
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )


@dataclass(frozen=True)
class BotContext:
    """What every handler of one bot needs: where the database is and whose bot it is."""

    sessions: sessionmaker[Session]
    settings: Settings
    bot_key: str  # "platform" or "merchant:<id>": a Conversation.bot value
    merchant_id: int | None  # a white-label bot's merchant
    # How the synchronous dialogue runs: in a worker thread, or inline (tests, one connection).
    run_sync: Callable[..., Awaitable[Any]] = asyncio.to_thread


def _language(update: Update) -> str:
    code = ((update.effective_user and update.effective_user.language_code) or "")[:2]
    return code if code in LANGUAGES else "en"


def _markup(reply: Reply) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    if reply.request_contact:
        return ReplyKeyboardMarkup(
            [[KeyboardButton(reply.request_contact, request_contact=True)]],
            one_time_keyboard=True,
            resize_keyboard=True,
        )
    rows = [[InlineKeyboardButton(label, url=url)] for label, url in reply.links]
    rows += [
        [InlineKeyboardButton(button.label, callback_data=button.payload[:64]) for button in row]
        for row in reply.buttons
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def _public_links(reply: Reply) -> Reply:
    """Telegram refuses URL buttons to 127.0.0.1 and plain http: show such links as text."""
    if all(url.startswith("https://") for _, url in reply.links):
        return reply
    lines = [reply.text, *(f"{label}: {url}" for label, url in reply.links)]
    return Reply("\n".join(lines), reply.buttons, reply.photo, [], reply.request_contact)


async def send_replies(bot, chat_id: int | str, replies: list[Reply]) -> None:
    for reply in replies:
        reply = _public_links(reply)
        markup = _markup(reply)
        if reply.photo:
            caption_fits = len(reply.text) <= 1024
            await bot.send_photo(
                chat_id,
                photo=reply.photo,
                caption=reply.text if caption_fits else None,
                reply_markup=markup,
            )
            if not caption_fits:
                await bot.send_message(chat_id, reply.text)
        else:
            await bot.send_message(chat_id, reply.text[:4096], reply_markup=markup)


def _mark_blocked(sessions: sessionmaker[Session], bot_key: str, chat_id: str) -> None:
    """The user blocked the bot: no campaign may write to this chat until they /start again."""
    now = utcnow()
    with sessions() as session:
        for identity in session.scalars(
            select(ChannelIdentity).where(
                ChannelIdentity.kind == ChannelKind.TELEGRAM, ChannelIdentity.address == chat_id
            )
        ):
            identity.opted_out_at = now
        for conversation in session.scalars(
            select(Conversation).where(
                Conversation.channel == ChannelKind.TELEGRAM,
                Conversation.bot == bot_key,
                Conversation.address == chat_id,
            )
        ):
            conversation.opted_out_at = now
        session.commit()


def _run_dialogue(context: BotContext, incoming: Incoming) -> list[Reply]:
    with context.sessions() as session:
        replies = respond(session, incoming, context.settings)
        session.commit()
        return replies


class Handlers:
    """The bot's handlers, bound to one BotContext."""

    def __init__(self, context: BotContext) -> None:
        self.context = context

    def _incoming(self, update: Update, **fields: object) -> Incoming:
        chat = update.effective_chat
        user = update.effective_user
        assert chat is not None
        return Incoming(
            channel=ChannelKind.TELEGRAM,
            address=str(chat.id),
            bot=self.context.bot_key,
            merchant_id=self.context.merchant_id,
            name=(user.full_name if user else "")[:120],
            language_hint=_language(update),
            **fields,  # type: ignore[arg-type]
        )

    async def _answer(self, update: Update, bot, incoming: Incoming) -> None:
        replies = await self.context.run_sync(_run_dialogue, self.context, incoming)
        assert update.effective_chat is not None
        try:
            await send_replies(bot, update.effective_chat.id, replies)
        except Forbidden:
            await self.context.run_sync(
                _mark_blocked, self.context.sessions, self.context.bot_key, incoming.address
            )

    async def message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        assert message is not None
        await self._answer(update, context.bot, self._incoming(update, text=message.text or ""))

    async def contact(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        assert message is not None
        assert message.contact is not None
        contact = message.contact
        own = bool(
            update.effective_user
            and contact.user_id is not None
            and contact.user_id == update.effective_user.id
        )
        incoming = self._incoming(
            update, contact_phone=contact.phone_number or "", contact_is_own=own
        )
        await self._answer(update, context.bot, incoming)

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        if query.message is not None and getattr(query.message, "reply_markup", None):
            # One press per keyboard: a second tap on "Yes" must not confirm twice.
            try:
                await query.edit_message_reply_markup(reply_markup=None)
            except TelegramError:
                log.debug("keyboard already gone", exc_info=True)
        if update.effective_chat is None or update.effective_chat.type != ChatType.PRIVATE:
            return
        await self._answer(update, context.bot, self._incoming(update, payload=query.data or ""))

    async def other_media(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(
            update.effective_chat.id, text("media_refused", _language(update))
        )

    async def group(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Commands in a group get one polite pointer to a private chat; the rest is ignored."""
        message = update.effective_message
        if message is None or not (message.text or "").startswith("/"):
            return
        assert update.effective_chat is not None
        await context.bot.send_message(
            update.effective_chat.id, text("group_refused", _language(update))
        )

    async def edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # The original was answered already; acting on the edit could confirm twice.
        log.info(
            "edited message ignored in chat %s", update.effective_chat and update.effective_chat.id
        )

    async def membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        change = update.my_chat_member
        assert change is not None
        chat = change.chat
        status = change.new_chat_member.status
        if chat.type == ChatType.PRIVATE:
            if status in (ChatMember.BANNED, ChatMember.LEFT):
                await self.context.run_sync(
                    _mark_blocked, self.context.sessions, self.context.bot_key, str(chat.id)
                )
            return
        if status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR):
            # Added to a group: say why not, and leave. Members' data stays out of groups.
            try:
                await context.bot.send_message(chat.id, text("group_refused", _language(update)))
                await context.bot.leave_chat(chat.id)
            except TelegramError:
                log.info("could not leave group %s", chat.id, exc_info=True)

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram handler failed", exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            try:
                await context.bot.send_message(
                    update.effective_chat.id, text("apology", _language(update))
                )
            except TelegramError:
                log.info("could not apologise", exc_info=True)


def add_handlers(application: Application, context: BotContext) -> None:
    handlers = Handlers(context)
    private = filters.ChatType.PRIVATE
    new_message = filters.UpdateType.MESSAGE
    application.add_handler(
        ChatMemberHandler(handlers.membership, ChatMemberHandler.MY_CHAT_MEMBER)
    )
    application.add_handler(MessageHandler(filters.UpdateType.EDITED, handlers.edited))
    application.add_handler(CallbackQueryHandler(handlers.button))
    application.add_handler(MessageHandler(filters.ChatType.GROUPS, handlers.group))
    application.add_handler(
        MessageHandler(private & new_message & filters.CONTACT, handlers.contact)
    )
    application.add_handler(MessageHandler(private & new_message & filters.TEXT, handlers.message))
    application.add_handler(MessageHandler(private & new_message, handlers.other_media))
    application.add_error_handler(handlers.error)


def build_application(
    token: str,
    context: BotContext,
    *,
    api_base: str = "",
    rate_limited: bool = True,
    builder_hook: Callable[[ApplicationBuilder], ApplicationBuilder] | None = None,
) -> Application:
    builder = ApplicationBuilder().token(token)
    if api_base:
        builder = builder.base_url(f"{api_base}/bot").base_file_url(f"{api_base}/file/bot")
    if rate_limited:
        builder = builder.rate_limiter(
            PacedRateLimiter(
                overall_max_rate=OVERALL_RATE,
                overall_time_period=1,
                group_max_rate=GROUP_RATE_PER_MINUTE,
                group_time_period=60,
                max_retries=RETRIES_AFTER_FLOOD,
            )
        )
    if builder_hook is not None:
        builder = builder_hook(builder)
    application = builder.build()
    add_handlers(application, context)
    return application


def white_label_bots(sessions: sessionmaker[Session]) -> list[tuple[int, str]]:
    """(merchant id, token) of Enterprise merchants who configured a bot of their own."""
    with sessions() as session:
        rows = session.execute(
            select(LoyaltyProgram.merchant_id, LoyaltyProgram.settings)
            .join(Merchant, Merchant.id == LoyaltyProgram.merchant_id)
            .where(Merchant.offering == Offering.ENTERPRISE)
        ).all()
    return [
        (merchant_id, str(settings["telegram_bot_token"]))
        for merchant_id, settings in rows
        if isinstance(settings, dict) and settings.get("telegram_bot_token")
    ]


def build_bots(
    config: BotConfig,
    sessions: sessionmaker[Session],
    *,
    run_sync: Callable[..., Awaitable[Any]] = asyncio.to_thread,
) -> list[Application]:
    """The platform bot first, then one per white-label token, each bound to its merchant."""
    settings = config.dialogue_settings()
    platform = build_application(
        config.telegram_token,
        BotContext(sessions, settings, "platform", None, run_sync=run_sync),
        api_base=config.telegram_api_base,
    )
    others = [
        build_application(
            token,
            BotContext(sessions, settings, f"merchant:{merchant_id}", merchant_id, run_sync),
            api_base=config.telegram_api_base,
        )
        for merchant_id, token in white_label_bots(sessions)
        if token != config.telegram_token
    ]
    return [platform, *others]


def refuse_malformed_updates() -> None:
    """Make the webhook answer 400, not 500, to a body that is not JSON.

    python-telegram-bot's webhook handler (22.x) decodes and parses the body before its own
    error handling, so non-UTF-8, broken or deeply nested JSON escaped as a 500 with a traceback
    in the log. The handler class is looked up by name when the webhook app is built, so a
    subclass put in its place checks the body first (after the secret token: strangers still
    get 403 and learn nothing).
    """
    import json

    import tornado.web
    from telegram.ext._utils import webhookhandler

    base = webhookhandler.TelegramHandler
    if getattr(base, "refuses_malformed", False):
        return

    class StrictTelegramHandler(base):  # type: ignore[misc, valid-type]
        refuses_malformed = True

        async def post(self) -> None:
            self._validate_post()
            try:
                json.loads(self.request.body.decode())
            except (UnicodeDecodeError, ValueError, RecursionError):
                log.warning("Telegram webhook: a body that is not JSON was refused")
                raise tornado.web.HTTPError(400, reason="The body is not JSON") from None
            await super().post()

    webhookhandler.TelegramHandler = StrictTelegramHandler  # type: ignore[misc]


def run(config: BotConfig) -> None:
    """Serve the platform bot (webhook with secret token, or polling) plus white-label bots."""
    refuse_malformed_updates()
    sessions = session_factory(config.database_url)
    platform, *others = build_bots(config, sessions)
    if not others:
        if config.telegram_webhook_url:
            log.info("Telegram webhook at %s", config.telegram_webhook_url)
            platform.run_webhook(
                listen=config.telegram_listen,
                port=config.telegram_port,
                url_path="telegram",
                webhook_url=config.telegram_webhook_url,
                secret_token=config.telegram_webhook_secret,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            log.info("Telegram: long polling (no TELEGRAM_WEBHOOK_URL)")
            platform.run_polling(allowed_updates=Update.ALL_TYPES)
        return
    asyncio.run(_run_many(config, [platform, *others]))


async def _run_many(config: BotConfig, applications: list[Application]) -> None:
    """Several bots in one process: each polls, or listens on the next port with its own path."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    for offset, application in enumerate(applications):
        await application.initialize()
        await application.start()
        assert application.updater is not None
        if config.telegram_webhook_url:
            path = "telegram" if offset == 0 else f"telegram-{offset}"
            base = config.telegram_webhook_url.rsplit("/", 1)[0]
            await application.updater.start_webhook(
                listen=config.telegram_listen,
                port=config.telegram_port + offset,
                url_path=path,
                webhook_url=config.telegram_webhook_url if offset == 0 else f"{base}/{path}",
                secret_token=config.telegram_webhook_secret,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
    log.info("serving %d Telegram bots", len(applications))
    await stop.wait()
    for application in applications:
        assert application.updater is not None
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
