"""CSV import of members: upload checks, column mapping, the steps, duplicates and the report."""

from __future__ import annotations

import csv
import io
import resource
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.errors import InvalidInput
from loyalty.identity import luhn_check_digit
from loyalty.models import (
    AuditLog,
    ChannelIdentity,
    Customer,
    ImportStatus,
    LoyaltyMember,
    MemberImport,
    OutboxMessage,
)
from loyalty.services import member_import
from tests import factories


@pytest.fixture
def owner(session: Session, tenant: factories.Tenant):
    return factories.actor_for(factories.make_user(session, tenant))


def _upload(session, tenant, owner, tmp_path: Path, data: bytes, name="members.csv"):
    return member_import.save_upload(
        session,
        merchant=tenant.merchant,
        actor=owner,
        filename=name,
        stream=io.BytesIO(data),
        directory=tmp_path,
    )


def _run(session: Session, job: MemberImport, max_rows: int = 1000) -> MemberImport:
    member_import.set_mapping(session, job=job, chosen=dict(job.mapping["fields"]))
    while job.status != ImportStatus.DONE:
        member_import.run_step(session, job=job, max_rows=max_rows)
    return job


def _report(job: MemberImport) -> list[list[str]]:
    return list(csv.reader(io.StringIO(member_import.report_path(job).read_text())))


def _members(session: Session, tenant: factories.Tenant) -> int:
    return session.scalar(
        select(func.count(LoyaltyMember.id)).where(LoyaltyMember.merchant_id == tenant.merchant.id)
    )


GOOD = (
    "Prénom;Nom;E-mail;Mobile;Date of birth;Newsletter;Lang\n"
    "Éloïse;Muller;Eloise@Example.com;621 123 456;31/05/1990;oui;fr\n"
    "Marc;Weber;;+352 621 654 321;;no;\n"
    "Anna;Schmit;anna@example.com;;1985-02-30;yes;de\n"
    "Bad;Email;not-an-email;;;;\n"
    "Twin;Muller;eloise@example.com;;;;\n"
    "No;Contact;;;;;\n"
).encode()


def test_guess_mapping_reads_common_headers_in_several_languages() -> None:
    header = ["Prénom", "Nom", "E-mail", "Mobile", "Date of birth", "Newsletter", "Lang", "x"]
    assert member_import.guess_mapping(header) == {
        "first_name": 0,
        "name": 1,
        "email": 2,
        "phone": 3,
        "birthday": 4,
        "consent": 5,
        "language": 6,
    }


def test_import_creates_members_and_reports_bad_rows_by_line(
    session, tenant, owner, tmp_path
) -> None:
    job = _upload(session, tenant, owner, tmp_path, GOOD)
    assert job.mapping["delimiter"] == ";"
    fields = dict(job.mapping["fields"])
    fields["last_name"] = fields.pop("name")  # "Nom" is the family name here
    member_import.set_mapping(session, job=job, chosen=fields)
    member_import.run_step(session, job=job)
    assert job.status == ImportStatus.DONE
    assert (job.rows_read, job.rows_imported, job.rows_duplicate, job.rows_failed) == (6, 2, 1, 3)
    customers = {
        c.email or c.phone: c
        for c in session.scalars(select(Customer).where(Customer.merchant_id == tenant.merchant.id))
    }
    eloise = customers["eloise@example.com"]
    assert (eloise.name, eloise.phone, str(eloise.birthday), eloise.language) == (
        "Éloïse Muller",
        "+352621123456",
        "1990-05-31",
        "fr",
    )
    assert eloise.consents["marketing_email"]["granted"] is True
    assert customers["+352621654321"].consents["marketing_sms"]["granted"] is False
    assert [row[0] for row in _report(job)] == ["line", "4", "5", "6", "7"]
    report = {row[0]: row[1] for row in _report(job)[1:]}
    assert "birthday" in report["4"]
    assert "not-an-email" in report["5"]
    assert report["6"].startswith("skipped")
    assert "no e-mail address and no phone number" in report["7"]
    channels = session.scalar(
        select(func.count(ChannelIdentity.id)).where(
            ChannelIdentity.merchant_id == tenant.merchant.id
        )
    )
    assert channels == 3  # Éloïse: e-mail and SMS; Marc: SMS
    assert session.scalar(select(func.count(OutboxMessage.id))) == 0  # no welcome spam
    assert session.scalars(select(AuditLog).where(AuditLog.action == "members.imported")).one()


def test_card_numbers_follow_the_identity_rules(session, tenant, owner, tmp_path) -> None:
    data = "email\n" + "".join(f"p{n}@example.com\n" for n in range(50))
    _run(session, _upload(session, tenant, owner, tmp_path, data.encode()))
    cards = session.scalars(
        select(LoyaltyMember.card_number).where(LoyaltyMember.merchant_id == tenant.merchant.id)
    ).all()
    assert len(cards) == len(set(cards)) == 50
    assert all(len(c) == 12 and luhn_check_digit(c[:-1]) == c[-1] for c in cards)


def test_existing_members_are_skipped_not_changed(session, tenant, owner, tmp_path) -> None:
    factories.make_member(session, tenant, name="Kept Name", email="kept@example.com")
    job = _run(
        session,
        _upload(session, tenant, owner, tmp_path, b"name,email\nNew Name,KEPT@example.com\n"),
    )
    assert (job.rows_imported, job.rows_duplicate) == (0, 1)
    assert "kept@example.com is already a member" in _report(job)[1][1]
    names = session.scalars(select(Customer.name).where(Customer.email == "kept@example.com"))
    assert list(names) == ["Kept Name"]


def test_small_steps_resume_where_the_last_one_stopped(session, tenant, owner, tmp_path) -> None:
    rows = "".join(f'"Person, {n}",p{n}@example.com\n' for n in range(23))
    data = ("name,email\n" + rows + "broken,\n").encode()
    job = _run(session, _upload(session, tenant, owner, tmp_path, data), max_rows=5)
    assert (job.rows_read, job.rows_imported, job.rows_failed) == (24, 23, 1)
    assert _report(job)[1][0] == "25"
    assert _members(session, tenant) == 23


def test_a_quoted_field_over_several_lines_keeps_line_numbers_right(
    session, tenant, owner, tmp_path
) -> None:
    data = b'name,email\n"Two\nLines",two@example.com\nX,bad\n'
    job = _run(session, _upload(session, tenant, owner, tmp_path, data))
    assert job.rows_imported == 1
    assert _report(job)[1][0] == "4"


def test_an_over_long_line_is_reported_and_the_rest_imported(
    session, tenant, owner, tmp_path
) -> None:
    huge = "x" * (member_import.MAX_LINE_BYTES * 3)
    data = f"name,email\n{huge},a@example.com\nBea,bea@example.com\n".encode()
    job = _run(session, _upload(session, tenant, owner, tmp_path, data))
    assert (job.rows_imported, job.rows_failed) == (1, 1)
    assert _report(job)[1][0] == "2"
    assert "longer than" in _report(job)[1][1]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        ("name,email\nJosé,jose@example.com\n".encode("latin-1"), "not UTF-8"),
        (b"name,email\n", "no customers"),
        (b"x" * (member_import.MAX_LINE_BYTES + 10) + b"\nrow\n", "first line is longer"),
        (b"name,email\nA,\x00b\n", "binary"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message_and_leave_nothing(
    session, tenant, owner, tmp_path, data, message
) -> None:
    with pytest.raises(InvalidInput, match=message):
        _upload(session, tenant, owner, tmp_path, data)
    assert list(tmp_path.iterdir()) == []
    assert session.scalar(select(func.count(MemberImport.id))) == 0


def test_an_oversized_file_is_refused(session, tenant, owner, tmp_path) -> None:
    with pytest.raises(InvalidInput, match="larger than"):
        member_import.save_upload(
            session,
            merchant=tenant.merchant,
            actor=owner,
            filename="big.csv",
            stream=io.BytesIO(b"email\n" + b"a@example.com\n" * 200_000),
            directory=tmp_path,
            max_bytes=1024 * 1024,
        )
    assert list(tmp_path.iterdir()) == []


def test_mapping_needs_an_email_or_phone_column_and_each_column_once(
    session, tenant, owner, tmp_path
) -> None:
    job = _upload(session, tenant, owner, tmp_path, b"who,where\nAnna,Lux\n")
    assert job.mapping["fields"] == {}
    with pytest.raises(InvalidInput, match="e-mail address or the phone number"):
        member_import.set_mapping(session, job=job, chosen={"name": 0})
    with pytest.raises(InvalidInput, match="chosen for both"):
        member_import.set_mapping(session, job=job, chosen={"name": 0, "email": 0})
    with pytest.raises(InvalidInput, match="Choose which column"):
        member_import.run_step(session, job=job)
    assert _members(session, tenant) == 0


def test_preview_shows_the_first_rows_with_their_problems(session, tenant, owner, tmp_path) -> None:
    job = _upload(session, tenant, owner, tmp_path, GOOD)
    rows = member_import.preview(job, country="LU", rows=4)
    assert [r.line for r in rows] == [2, 3, 4, 5]
    assert rows[0].error is None
    assert rows[0].values["email"] == "Eloise@Example.com"
    assert "birthday" in rows[2].error


def _write_members_csv(path: Path, rows: int, bad_every: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write("first name,last name,email,phone,consent\n")
        for n in range(rows):
            email = "broken" if n % bad_every == 0 else f"member{n}@example.com"
            file.write(f"Member,{n},{email},,yes\n")


@pytest.mark.slow
@pytest.mark.postgres_only
def test_a_100k_row_import_runs_in_constant_memory_and_reports_bad_lines(
    session, tenant, owner, tmp_path, database
) -> None:
    source = tmp_path / "source" / "big.csv"
    source.parent.mkdir()
    _write_members_csv(source, 100_000, bad_every=10_000)
    with open(source, "rb") as stream:
        job = member_import.save_upload(
            session,
            merchant=tenant.merchant,
            actor=owner,
            filename="big.csv",
            stream=stream,
            directory=tmp_path / "imports",
        )
    member_import.set_mapping(session, job=job, chosen=dict(job.mapping["fields"]))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    peaks = []
    while job.status != ImportStatus.DONE:
        member_import.run_step(session, job=job)
        session.expunge_all()  # what a commit per step does to the identity map
        job = session.get(MemberImport, job.id)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.reset_peak()
    tracemalloc.stop()
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert (job.rows_read, job.rows_imported, job.rows_failed) == (100_000, 99_990, 10)
    assert [row[0] for row in _report(job)[1:]] == [str(2 + n * 10_000) for n in range(10)]
    # Ten steps of 10,000 rows (and an empty last one that finds the end of the file): each
    # step's peak is the same size, whatever the file's length.
    full = peaks[:10]
    assert max(peaks) < 64 * 1024 * 1024, peaks
    assert max(full) < 1.5 * min(full), peaks
    assert rss_growth_mb < 150, rss_growth_mb
    assert _members(session, tenant) == 99_990


def test_a_vanished_upload_stops_the_import_with_a_message(
    session, tenant, owner, tmp_path
) -> None:
    job = _upload(session, tenant, owner, tmp_path, b"email\na@example.com\n")
    member_import.set_mapping(session, job=job, chosen={"email": 0})
    Path(job.path).unlink()
    assert member_import.preview(job, country="LU") == []
    member_import.run_step(session, job=job)
    assert job.status == ImportStatus.FAILED
    assert "Upload it again" in job.error
    assert _members(session, tenant) == 0
