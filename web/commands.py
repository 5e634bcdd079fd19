"""Command-line entry points: `flask demo seed`, and later `flask wallet dev-certs`, imports."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Attach every CLI group to the app (called by create_app)."""
