"""`python -m loyalty_bot`: the Telegram bot process, or with `console` the chat simulator.

With TELEGRAM_BOT_TOKEN: serves python-telegram-bot's own webhook when TELEGRAM_WEBHOOK_URL
is set, else long-polls. Without it the process stays up idle and says what it waits for, as
honcho stops every process when one exits.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from loyalty import process

log = logging.getLogger("loyalty_bot")


def idle() -> int:
    stopped = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        log.info("%s received: stopping the bot process", signal.Signals(signum).name)
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "No TELEGRAM_BOT_TOKEN: idle, waiting for credentials (set it in .env and restart). "
        "Chat locally meanwhile: python -m loyalty_bot console --merchant <slug>"
    )
    while not stopped.wait(timeout=3600):
        pass
    log.info("bot process stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loyalty_bot", description="The Telegram bot and its console simulator."
    )
    parser.add_argument("mode", nargs="?", choices=["bot", "console"], default="bot")
    parser.add_argument("--console", action="store_true", help="same as the `console` mode")
    parser.add_argument("--merchant", help="console: the merchant's slug (its own bot/number)")
    parser.add_argument("--channel", choices=["telegram", "sms"], default="telegram")
    parser.add_argument("--address", help="console: chat id, or phone number for --channel sms")
    args = parser.parse_args(argv)
    process.configure(quiet=["httpx"])  # one line per poll otherwise

    from loyalty.db import session_factory
    from loyalty.models import ChannelKind
    from loyalty_bot import config

    settings = config.load()
    if args.console or args.mode == "console":
        from loyalty_bot import console

        return console.run(
            session_factory(settings.database_url),
            settings.dialogue_settings(),
            merchant_slug=args.merchant,
            channel=ChannelKind(args.channel),
            address=args.address,
        )
    if not settings.telegram_token:
        return idle()
    from loyalty_bot import telegram

    telegram.run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
