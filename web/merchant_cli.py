"""`flask merchants ...`: operator chores on one merchant, first of them its own web address.

Attach with `merchant_cli.register(app)` (web/commands.py does).
"""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from loyalty.errors import LoyaltyError
from loyalty.models import Merchant
from loyalty.services.actors import Actor
from loyalty.services.merchants import set_custom_domain
from web.extensions import db

merchants = AppGroup("merchants", help="Operator chores on one merchant.")

OPERATOR = Actor.system("cli")


@merchants.command("set-domain")
@click.argument("merchant_slug")
@click.argument("domain")
def set_domain_command(merchant_slug: str, domain: str) -> None:
    """Serve MERCHANT_SLUG's customer pages on DOMAIN (Enterprise); `-` stops using one.

    Point the domain's DNS at the platform (CNAME) and give the proxy a certificate for it
    first: see docs/operations.md, "Custom domains".
    """
    merchant = db.session.scalars(
        select(Merchant).where(Merchant.slug == merchant_slug)
    ).one_or_none()
    if merchant is None:
        raise click.ClickException(
            f"No merchant with the slug '{merchant_slug}'. The admin page lists every slug."
        )
    try:
        set_custom_domain(
            db.session,
            merchant=merchant,
            domain=None if domain.strip() == "-" else domain,
            actor=OPERATOR,
            platform_url=current_app.config["PUBLIC_BASE_URL"],
        )
    except LoyaltyError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    if merchant.custom_domain:
        click.echo(f"{merchant.name} is served on https://{merchant.custom_domain}/.")
    else:
        click.echo(f"{merchant.name} has no custom domain now.")


def register(app: Flask) -> None:
    app.cli.add_command(merchants)
