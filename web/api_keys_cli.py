"""`flask api-keys ...`: the operator's way to give a merchant's system an API key.

Attach with `api_keys_cli.register(app)` (web/commands.py does). Owners normally create keys
themselves in the back-office (API keys page); this is for set-up and support.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from loyalty.errors import LoyaltyError
from loyalty.models import ApiScope, Merchant
from loyalty.services import api_keys
from loyalty.services.actors import Actor
from web.extensions import db

group = AppGroup("api-keys", help="API keys of merchants' own systems (Enterprise).")

OPERATOR = Actor.system("cli")


def _merchant(slug: str) -> Merchant:
    merchant = db.session.scalars(select(Merchant).where(Merchant.slug == slug)).one_or_none()
    if merchant is None:
        raise click.ClickException(
            f"No merchant with the slug '{slug}'. The admin page lists every slug."
        )
    return merchant


@group.command("create")
@click.option("--merchant", "slug", required=True, help="The merchant's slug.")
@click.option(
    "--scope",
    type=click.Choice([scope.value for scope in ApiScope]),
    default=ApiScope.WRITE.value,
    show_default=True,
    help="read: GET only; write: everything.",
)
@click.option("--name", default="", help="What the key is for, e.g. 'Till software'.")
def create_command(slug: str, scope: str, name: str) -> None:
    """Print a new API key for the merchant. It is shown this once: store it now."""
    merchant = _merchant(slug)
    try:
        new = api_keys.create_key(
            db.session, merchant=merchant, actor=OPERATOR, scope=ApiScope(scope), name=name
        )
    except LoyaltyError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(new.secret)
    click.echo(
        f"{scope} key {new.key.prefix}… for {merchant.name}. It is not stored in clear: "
        "copy it now.",
        err=True,
    )


@group.command("list")
@click.option("--merchant", "slug", required=True, help="The merchant's slug.")
def list_command(slug: str) -> None:
    """The merchant's keys: prefix, scope, created, last used, revoked."""
    for key in api_keys.keys_of(db.session, merchant=_merchant(slug)):
        used = key.last_used_at.isoformat(timespec="minutes") if key.last_used_at else "never"
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        click.echo(f"{key.id:>5}  {key.prefix}…  {key.scope.value:<5}  used {used}  {state}")


def register(app: Flask) -> None:
    app.cli.add_command(group)
