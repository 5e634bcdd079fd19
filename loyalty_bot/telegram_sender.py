"""Sending Telegram messages through python-telegram-bot's Bot: the outbox's Telegram sender,
plugged in by the worker. Beside the bot itself (loyalty_bot/telegram.py), as DESIGN.md places it.
"""

from __future__ import annotations

import asyncio

from loyalty.models import OutboxMessage, OutboxStatus
from loyalty.notify import texts
from loyalty.notify.delivery import Outcome


class TelegramSender:
    """Telegram through python-telegram-bot's Bot, on one event loop kept for the worker's life."""

    def __init__(self, token: str, *, api_base: str = "", timeout: float = 10.0) -> None:
        from telegram import Bot
        from telegram.request import HTTPXRequest

        kwargs = {"base_url": f"{api_base}/bot", "base_file_url": f"{api_base}/file/bot"}
        # A stalled Telegram ends in TimedOut (a retry), never in a worker waiting forever.
        request = HTTPXRequest(connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout)
        self.bot = Bot(token, request=request, **(kwargs if api_base else {}))
        self.loop = asyncio.new_event_loop()

    def send(self, message: OutboxMessage) -> Outcome:
        from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

        try:
            sent = self.loop.run_until_complete(
                self.bot.send_message(
                    chat_id=message.address, text=texts.short_text(message)[:4096]
                )
            )
        except Forbidden as exc:  # the person blocked the bot
            return Outcome(OutboxStatus.SKIPPED, error=f"Telegram: {exc.message}", opt_out=True)
        except RetryAfter as exc:
            return Outcome(OutboxStatus.FAILED, error=f"Telegram flood control: {exc}", retry=True)
        except BadRequest as exc:
            return Outcome(OutboxStatus.FAILED, error=f"Telegram: {exc.message}")
        except TelegramError as exc:  # network errors, timeouts, 5xx
            return Outcome(OutboxStatus.FAILED, error=f"Telegram: {exc!r}", retry=True)
        return Outcome(OutboxStatus.SENT, provider_id=f"{sent.chat_id}:{sent.message_id}")

    def close(self) -> None:
        self.loop.run_until_complete(self.bot.shutdown())
        self.loop.close()
