"""Start-up shared by the processes that run without Flask (worker, bot): `.env`, then logging."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent.parent


def configure(quiet: Iterable[str] = ()) -> None:
    """Read `.env` (real environment variables win) and log lines to stdout for honcho.

    `quiet` names chatty libraries whose INFO lines would drown the process's own.
    """
    load_dotenv(ROOT / ".env", override=False)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    for name in ("alembic", *quiet):  # alembic comes in with the app's configuration
        logging.getLogger(name).setLevel(logging.WARNING)
