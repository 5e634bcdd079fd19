"""Command-line entry points: `flask demo seed`, `flask wallet ...`, `flask members import`."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from loyalty import demo as demo_data
from wallet import cli as wallet_cli
from web import api_keys_cli, members_cli, merchant_cli
from web.extensions import db

demo = AppGroup("demo", help="Demo merchants, staff and members for trying the platform locally.")


@demo.command("seed")
@click.option(
    "--if-empty",
    is_flag=True,
    help="Do nothing when the database already holds any merchant (what `make run` uses).",
)
@click.option(
    "--members",
    type=click.IntRange(min=3),
    default=demo_data.DEFAULT_MEMBERS,
    show_default=True,
    help="Members in total, shared out between the three demo merchants.",
)
def seed_command(if_empty: bool, members: int) -> None:
    """Create the demo merchants with six months of history; running it again adds nothing."""
    if current_app.config.get("LOYALTY_ENV") == "production":
        raise click.ClickException(
            "Refusing to seed demo data in production: every demo account shares a published "
            "password. Seed a development or staging database instead."
        )
    report = demo_data.seed(db.session, members=members, if_empty=if_empty)
    db.session.commit()
    if report.created and db.engine.dialect.name == "postgresql":
        # Fresh statistics: before autovacuum gets to the new rows, PostgreSQL plans the
        # dashboard's joins for one-row tables (a nested loop that took 10 s instead of 70 ms).
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    if report.skipped_because_not_empty:
        click.echo("Demo data not seeded: the database already has merchants (--if-empty).")
        return
    if report.created:
        click.echo(
            f"Seeded {', '.join(report.created)}: {report.members} members, "
            f"{report.transactions} ledger rows, {report.vouchers} vouchers "
            f"in {report.seconds:.1f} s."
        )
    if report.skipped:
        click.echo(f"Already there, left as they are: {', '.join(report.skipped)}.")
    click.echo(f"Demo logins (password: {demo_data.DEMO_PASSWORD}):")
    for login in demo_data.demo_logins():
        click.echo(f"  {login.email:<45} {login.role:<30} {login.merchant}")


def register(app: Flask) -> None:
    """Attach every CLI group to the app (called by create_app)."""
    app.cli.add_command(demo)
    wallet_cli.register(app)
    merchant_cli.register(app)
    api_keys_cli.register(app)
    members_cli.register(app)
