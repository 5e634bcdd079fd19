"""`python -m loyalty_bot`: the bot process. Until the bot issue lands it waits and says so."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from dotenv import load_dotenv

log = logging.getLogger("loyalty_bot")


def configure_logging() -> None:
    load_dotenv(Path(__file__).resolve().parent.parent / ".env", override=False)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loyalty_bot", description="The Telegram bot and its console simulator."
    )
    parser.add_argument(
        "--console",
        action="store_true",
        help="chat with the bot in this terminal (arrives with the bot issue)",
    )
    args = parser.parse_args(argv)
    configure_logging()
    if args.console:
        log.error("The console simulator arrives with the bot issue; there is no dialogue yet.")
        return 2

    stopped = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        log.info("%s received: stopping the bot process", signal.Signals(signum).name)
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if os.environ.get("TELEGRAM_BOT_TOKEN"):
        log.info(
            "TELEGRAM_BOT_TOKEN is set, but the Telegram bot arrives with the bot issue: idle."
        )
    else:
        log.info(
            "No TELEGRAM_BOT_TOKEN: idle, waiting for credentials. A local chat simulator, "
            "`python -m loyalty_bot --console`, arrives with the bot issue."
        )
    # Stay up: honcho stops every process as soon as one exits.
    while not stopped.wait(timeout=3600):
        pass
    log.info("bot process stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
