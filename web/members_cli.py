"""`flask members import FILE --merchant SLUG`: the back-office's CSV import, from a shell.

Attach with `members_cli.register(app)` (web/commands.py does). The file is copied next to the
web uploads and imported by the same steps, committed one by one, so a large file runs in
constant memory and an interrupted run can be finished from the back-office import page.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from loyalty.errors import LoyaltyError
from loyalty.models import ImportStatus, Merchant
from loyalty.services import member_import
from loyalty.services.actors import Actor
from web.extensions import db

members = AppGroup("members", help="Members of one merchant: CSV import.")

OPERATOR = Actor.system("cli")


def _directory() -> Path:
    return Path(current_app.config["MEMBER_IMPORT_DIR"])


@members.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--merchant", "merchant_slug", required=True, help="The merchant's slug.")
@click.option(
    "--column",
    "columns",
    multiple=True,
    metavar="FIELD=HEADER",
    help="Say which header holds a field when the guess is wrong, e.g. --column email=Mail. "
    f"Fields: {', '.join(member_import.FIELDS)}.",
)
def import_command(file: Path, merchant_slug: str, columns: tuple[str, ...]) -> None:
    """Import the members in FILE (UTF-8 CSV with a header row) into MERCHANT's programme."""
    merchant = db.session.scalars(
        select(Merchant).where(Merchant.slug == merchant_slug)
    ).one_or_none()
    if merchant is None:
        raise click.ClickException(f"No merchant with the slug '{merchant_slug}'.")
    try:
        with open(file, "rb") as stream:
            job = member_import.save_upload(
                db.session,
                merchant=merchant,
                actor=OPERATOR,
                filename=file.name,
                stream=stream,
                directory=_directory(),
            )
        chosen: dict[str, int | None] = dict(job.mapping.get("fields", {}))
        for pair in columns:
            field, _, header = pair.partition("=")
            if field not in member_import.FIELDS or header not in job.header:
                raise click.ClickException(
                    f"--column {pair}: use FIELD=HEADER with a field of "
                    f"{', '.join(member_import.FIELDS)} and a header of {', '.join(job.header)}."
                )
            chosen[field] = job.header.index(header)
        member_import.set_mapping(db.session, job=job, chosen=chosen)
        db.session.commit()
        click.echo(
            "Columns: "
            + ", ".join(f"{f} = {job.header[p]}" for f, p in job.mapping["fields"].items())
        )
        for step in member_import.run_to_end(db.session, job=job, commit=db.session.commit):
            click.echo(f"  {step.rows_read:,} rows read, {step.rows_imported:,} imported", err=True)
    except LoyaltyError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    if job.status == ImportStatus.FAILED:
        raise click.ClickException(job.error or "The import stopped.")
    click.echo(
        f"Imported {job.rows_imported:,} members; {job.rows_duplicate:,} skipped as already "
        f"members; {job.rows_failed:,} line{'' if job.rows_failed == 1 else 's'} refused."
    )
    if job.rows_failed or job.rows_duplicate:
        click.echo(f"Problem report: {member_import.report_path(job)}")


def register(app: Flask) -> None:
    app.cli.add_command(members)
