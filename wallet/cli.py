"""`flask wallet ...`: development certificates, a member's pass to a file, the Google link, pushes.

Attach with `wallet.cli.register(app)` (web/commands.py does).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from loyalty.errors import LoyaltyError
from loyalty.identity import parse_card_number
from loyalty.models import LoyaltyMember, Merchant, OutboxChannel, WalletPlatform
from wallet import apple, google
from wallet import passes as wallet_passes
from wallet.certs import create_dev_certificates, load_signer
from wallet.config import DEV_DIR, settings
from wallet.content import card_content
from wallet.delivery import deliver_queued
from wallet.google import GoogleWalletSender
from wallet.push import ApnsSender, queue_pass_updates

wallet = AppGroup("wallet", help="Apple Wallet and Google Wallet passes.")


def _db():
    from web.extensions import db  # the CLI runs inside the Flask app

    return db


def _member(card: str, merchant_slug: str | None) -> LoyaltyMember:
    try:
        number = parse_card_number(card)
    except LoyaltyError as exc:
        raise click.BadParameter(str(exc), param_hint="CARD_NUMBER") from None
    query = select(LoyaltyMember).where(LoyaltyMember.card_number == number)
    if merchant_slug:
        query = query.join(Merchant, Merchant.id == LoyaltyMember.merchant_id).where(
            Merchant.slug == merchant_slug
        )
    found = _db().session.scalars(query).all()
    if not found:
        raise click.ClickException(f"No member has card {card}" + (
            f" in {merchant_slug}." if merchant_slug else "."
        ))  # fmt: skip
    if len(found) > 1:
        raise click.ClickException(
            f"Card {card} exists in {len(found)} programmes: say which with --merchant SLUG."
        )
    return found[0]


def _secret_key() -> bytes:
    return current_app.config["SECRET_KEY"].encode()


@wallet.command("dev-certs")
@click.option("--force", is_flag=True, help="Replace existing development certificates.")
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEV_DIR,
    show_default=True,
)
def dev_certs(force: bool, directory: Path) -> None:
    """Create a local CA (standing in for Apple's WWDR), a pass certificate and a Google key."""
    cfg = settings(current_app.config)
    files, created = create_dev_certificates(
        directory, pass_type_id=cfg.pass_type_id, team_id=cfg.team_id, force=force
    )
    verb = "Created" if created else "Kept the existing (use --force to replace)"
    click.echo(f"{verb} development wallet certificates in {files.directory}:")
    for label, path in (
        ("CA (as Apple WWDR)", files.ca_certificate),
        ("pass certificate", files.pass_certificate),
        ("pass key", files.pass_key),
        ("Google service account", files.google_service_account),
        ("Google public certificate", files.google_certificate),
    ):
        click.echo(f"  {label:<26} {path}")
    click.echo(f"Pass type {cfg.pass_type_id}, team {cfg.team_id}. Not for production.")


@wallet.command("pass")
@click.argument("card_number")
@click.option(
    "--platform", type=click.Choice(["apple", "google"]), default="apple", show_default=True
)
@click.option("--merchant", "merchant_slug", help="Merchant slug, when the card number is shared.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
    help="Apple: the .pkpass file. Google: the LoyaltyObject and LoyaltyClass as JSON.",
)  # fmt: skip
def write_pass(card_number: str, platform: str, merchant_slug: str | None, output: Path) -> None:
    """Write a member's current pass to a file."""
    member = _member(card_number, merchant_slug)
    cfg = settings(current_app.config)
    wallet_pass = wallet_passes.pass_for(_db().session, member, WalletPlatform(platform))
    _db().session.commit()
    content = card_content(wallet_pass, settings=cfg, secret_key=_secret_key())
    try:
        if platform == "apple":
            output.write_bytes(apple.build(content, cfg, load_signer(cfg)))
        else:
            slug = member.program.slug
            document = {
                "loyaltyClass": google.loyalty_class(content, cfg, program_slug=slug),
                "loyaltyObject": google.loyalty_object(content, cfg, program_slug=slug),
            }
            output.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    except LoyaltyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Wrote {output} (serial {wallet_pass.serial_number}).")


@wallet.command("google-link")
@click.argument("card_number")
@click.option("--merchant", "merchant_slug", help="Merchant slug, when the card number is shared.")
def google_link(card_number: str, merchant_slug: str | None) -> None:
    """Print the member's "Add to Google Wallet" link."""
    member = _member(card_number, merchant_slug)
    cfg = settings(current_app.config)
    wallet_pass = wallet_passes.pass_for(_db().session, member, WalletPlatform.GOOGLE)
    _db().session.commit()
    try:
        click.echo(google.save_url(wallet_pass, settings=cfg, secret_key=_secret_key()))
    except LoyaltyError as exc:
        raise click.ClickException(str(exc)) from None


@wallet.command("push")
def push() -> None:
    """Queue updates for changed passes and deliver them now (the worker does this on schedule)."""
    cfg = settings(current_app.config)
    session = _db().session
    queued = queue_pass_updates(session)
    session.commit()
    apns = ApnsSender(session, cfg)
    senders = {
        OutboxChannel.APPLE: apns,
        OutboxChannel.GOOGLE: GoogleWalletSender(session, cfg, secret_key=_secret_key()),
    }
    try:
        counts = deliver_queued(session, senders)
    finally:
        apns.close()
    session.commit()
    click.echo(
        f"{queued['passes']} changed passes: {queued['apple']} APNs pushes and "
        f"{queued['google']} Google updates queued; delivered: "
        + (", ".join(f"{status} {n}" for status, n in counts.items()) or "nothing due")
    )


def register(app: Flask) -> None:
    app.cli.add_command(wallet)
